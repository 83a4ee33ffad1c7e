"""flowmod.io: data iterators for the Module API (``mxnet.io``)."""
from .file_iters import CSVIter, MNISTIter
from .io import DataBatch, DataDesc, DataIter, NDArrayIter, PrefetchingIter, ResizeIter
from .prefetch import Prefetcher, prefetch

__all__ = ["DataDesc", "DataBatch", "DataIter", "NDArrayIter", "MNISTIter", "CSVIter",
           "ResizeIter", "PrefetchingIter", "prefetch", "Prefetcher"]
