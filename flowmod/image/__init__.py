"""flowmod.image: image decoding, augmentation and ``ImageIter`` (``mxnet.image``)."""
from .augmenters import *  # noqa: F401,F403
from .augmenters import __all__ as _aug_all
from .image import *  # noqa: F401,F403
from .image import __all__ as _image_all
from .image_iter import ImageIter

__all__ = list(_image_all) + list(_aug_all) + ["ImageIter"]
