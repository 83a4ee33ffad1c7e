"""flowmod.optimizer (``mx.optimizer``, ``mx.opt``): optimizers, their registry and the
Updater that applies them by parameter index."""
from .optimizer import (NAG, SGD, AdaDelta, AdaGrad, Adam, Adamax, Ftrl, Nadam, Optimizer,
                        RMSProp, Signum, Updater, create, get_updater, register)

__all__ = ["Optimizer", "SGD", "NAG", "Adam", "AdaGrad", "AdaDelta", "RMSProp", "Signum",
           "Ftrl", "Adamax", "Nadam", "Updater", "create", "get_updater", "register"]
