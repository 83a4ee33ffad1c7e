"""flowmod.io: data iterators for the Module API (``mxnet.io``)."""
from .file_iters import CSVIter, MNISTIter
from .image_record_iter import ImageRecordIter, ImageRecordUInt8Iter
from .io import DataBatch, DataDesc, DataIter, NDArrayIter, PrefetchingIter, ResizeIter
from .libsvm_iter import LibSVMIter
from .prefetch import Prefetcher, prefetch

__all__ = ["DataDesc", "DataBatch", "DataIter", "NDArrayIter", "MNISTIter", "CSVIter",
           "ImageRecordIter", "ImageRecordUInt8Iter", "LibSVMIter", "ResizeIter", "PrefetchingIter",
           "prefetch", "Prefetcher"]
