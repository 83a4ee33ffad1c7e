"""flowmod.module (``mx.mod``): modules, MXNet 1.9's intermediate and high-level training
interface over Symbols.

Where things live: ``base_module.py`` holds what every module shares (the public ``fit``,
``score``, ``predict``, ``iter_predict`` and their ``*_async`` twins, made from one signature
each, and the parameter helpers); ``loops.py`` the loops behind them, written once as
generators, and the two drivers that run them (blocking, awaiting). Each module class has its
own file (``module.py``, ``bucketing_module.py``, ``sequential_module.py``,
``python_module.py``); ``executor_group.py`` splits a Module's batches over its devices."""
from .base_module import BaseModule
from .bucketing_module import BucketingModule
from .executor_group import DataParallelExecutorGroup
from .module import Module
from .python_module import PythonLossModule, PythonModule
from .sequential_module import SequentialModule

__all__ = ["BaseModule", "Module", "BucketingModule", "SequentialModule", "PythonModule",
           "PythonLossModule", "DataParallelExecutorGroup"]
