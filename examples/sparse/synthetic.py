"""Small synthetic data sets for the sparse examples, written as MXNet's examples read them:
libsvm text files (label index:value ...) for the factorization machine and the linear
classifier, and (user, item, score) arrays for matrix factorization. Deterministic for a
seed, so two frameworks train on the same bytes."""
from __future__ import annotations

import numpy as np


def write_libsvm(path: str, num_samples: int, num_features: int, nnz: int, seed: int = 0,
                 num_classes: int = 2) -> str:
    """Writes ``num_samples`` lines of ``nnz`` features each (sorted indices, values in
    [0, 1)), labelled by a hidden linear model; returns ``path``."""
    rng = np.random.default_rng(seed)
    hidden = rng.standard_normal((num_features, num_classes))
    lines = []
    for _ in range(num_samples):
        cols = np.sort(rng.choice(num_features, size=nnz, replace=False))
        vals = np.round(rng.random(nnz), 4)
        label = int(np.argmax(vals @ hidden[cols]))
        lines.append(f"{label} " + " ".join(f"{c}:{v:.4f}" for c, v in zip(cols, vals)))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def ratings(num_samples: int, num_users: int, num_items: int, seed: int = 0):
    """(users, items, scores) float32 arrays: scores from hidden user and item factors."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, num_users, num_samples)
    items = rng.integers(0, num_items, num_samples)
    pu = rng.standard_normal((num_users, 4))
    qi = rng.standard_normal((num_items, 4))
    scores = (pu[users] * qi[items]).sum(1) + 3.0
    return (users.astype(np.float32), items.astype(np.float32),
            np.round(scores, 3).astype(np.float32))
