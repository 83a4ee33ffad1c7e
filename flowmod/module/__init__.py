"""flowmod.module (``mx.mod``): modules, MXNet 1.9's intermediate and high-level training
interface over Symbols."""
from .base_module import BaseModule
from .bucketing_module import BucketingModule
from .executor_group import DataParallelExecutorGroup
from .module import Module

__all__ = ["BaseModule", "Module", "BucketingModule", "DataParallelExecutorGroup"]
