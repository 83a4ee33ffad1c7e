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


def census_like(num_samples: int, num_linear: int, embed_dims, num_cont: int, nnz: int = 6,
                seed: int = 0):
    """The layout of MXNet's wide_deep census data (data.py): a csr matrix of one-hot wide
    features (``nnz`` ones a row, as (data, indices, indptr)), a dense matrix whose first
    columns are category ids (one column per entry of ``embed_dims``) followed by ``num_cont``
    continuous columns, and 0/1 labels from a hidden model over both."""
    rng = np.random.default_rng(seed)
    indices = np.sort(np.stack([rng.choice(num_linear, nnz, replace=False)
                                for _ in range(num_samples)]), axis=1)
    indptr = np.arange(0, num_samples * nnz + 1, nnz, dtype=np.int64)
    values = np.ones(num_samples * nnz, np.float32)
    cats = np.stack([rng.integers(0, d, num_samples) for d in embed_dims], axis=1)
    cont = np.round(rng.standard_normal((num_samples, num_cont)), 3)
    hidden_wide = rng.standard_normal(num_linear)
    score = hidden_wide[indices].sum(1) + cont @ rng.standard_normal(num_cont)
    for c, d in enumerate(embed_dims):
        score += rng.standard_normal(d)[cats[:, c]]
    label = (score > np.median(score)).astype(np.float32)
    dense = np.concatenate([cats, cont], axis=1).astype(np.float32)
    return (values, indices.reshape(-1).astype(np.int64), indptr), dense, label
