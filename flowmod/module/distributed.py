"""What a Module does differently with a distributed store (``kvstore='dist_sync'`` and the
other ``dist`` types): every check here is behind ``is_distributed(store)``, so a module on
one machine runs none of it."""
from __future__ import annotations

import numpy as np


def is_distributed(store) -> bool:
    """Whether ``store`` is one of flowmod's distributed stores."""
    return getattr(store, "is_distributed", False)


def push_pull(store, names, grads, weights, update_on_kvstore: bool) -> None:
    """One update's exchange: every gradient pushed in one call, last parameter first (the
    order backward writes them, so the first buckets' allreduces start while backward still
    runs), then the results pulled into the weights (or, updating locally, the gradients)."""
    order = list(range(len(names)))[::-1]
    store.push([names[i] for i in order], [grads[i] for i in order])
    outs = weights if update_on_kvstore else grads
    store.pull(list(names), out=list(outs))


def batch_size_for_rescale(store, batch_size: int) -> int:
    """MXNet's rule: with a synchronous distributed store the gradient is summed over every
    worker's batch, so ``rescale_grad`` is 1 / (batch size x workers)."""
    if is_distributed(store) and "_async" not in store.type:
        return batch_size * store.num_workers
    return batch_size


def reduce_name_values(module, name_values):
    """The metric values of ``name_values`` averaged over the workers, for the epoch's log
    (every worker sees the same figures); unchanged on one machine."""
    store = getattr(module, "_kvstore", None)
    if store is None:
        store = getattr(getattr(module, "_curr_module", None), "_kvstore", None)
    if not is_distributed(store) or not name_values:
        return name_values
    values = np.array([float(v) for _, v in name_values], dtype=np.float64)

    def run(w):
        w.allreduce_inplace(values, "metric reduction")
    store._world.call("metric reduction", run)
    values /= store.num_workers
    return [(n, float(v)) for (n, _), v in zip(name_values, values)]
