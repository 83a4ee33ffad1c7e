"""The runs whose loss curves tests/test_sparse_examples.py compares with MXNet 1.9.1's
(recorded by tests/data/make_mxnet_sparse_example_curves.py): each takes the framework module
and a scratch directory and returns the per-batch losses."""
import os

import factorization_machine
import linear_classification
import matrix_factorization
import wide_deep
from synthetic import census_like, ratings, write_libsvm

FEATURES = 500


def fm(mx, tmp):
    path = write_libsvm(os.path.join(tmp, "fm.libsvm"), 600, FEATURES, nnz=8, seed=10)
    return factorization_machine.train(mx, path, FEATURES, factor_size=4, batch_size=50,
                                       epochs=2)


def linear(mx, tmp):
    path = write_libsvm(os.path.join(tmp, "linear.libsvm"), 600, FEATURES, nnz=8, seed=11)
    return linear_classification.train(mx, path, FEATURES, batch_size=50, epochs=2)


def mf(mx, tmp):
    users, items, scores = ratings(600, 200, 150, seed=12)
    return matrix_factorization.train(mx, users, items, scores, 200, 150, factor_size=8,
                                      num_hidden=16, batch_size=50, epochs=2)


def wd(mx, tmp):
    dims, num_cont = (10, 20, 8), 4
    csr, dense, label = census_like(400, 300, dims, num_cont, seed=13)
    return wide_deep.train(mx, csr, dense, label, 300, dims, num_cont, batch_size=50,
                           epochs=2)


CASES = {"factorization_machine": fm, "linear_classification": linear,
         "matrix_factorization": mf, "wide_deep": wd}
