"""flowmod.optimizer (``mx.optimizer``, ``mx.opt``): optimizers, their registry and the
Updater that applies them by parameter index."""
from .optimizer import (NAG, SGD, AdaDelta, AdaGrad, Adam, Adamax, Ftrl, Nadam, Optimizer,
                        RMSProp, Signum, Updater, create, get_updater, register)
from .dcasgd import DCASGD
from .ftml import FTML
from .lamb import LAMB
from .lars import LARS
from .lbsgd import LBSGD
from .sgld import SGLD

__all__ = ["Optimizer", "SGD", "NAG", "Adam", "AdaGrad", "AdaDelta", "RMSProp", "Signum",
           "Ftrl", "Adamax", "Nadam", "FTML", "LAMB", "LARS", "LBSGD", "DCASGD", "SGLD", "Updater",
           "create", "get_updater", "register"]
