"""Wide and deep classification, the pattern of MXNet's example/sparse/wide_deep: a wide
linear part, dot(csr features, row_sparse weight) + bias, plus a deep part, SparseEmbeddings
of the categorical columns concatenated with the continuous columns through two
FullyConnected+ReLU layers; the two sums go to a 2-class softmax, trained with Adam (the
example's default optimizer) and ``rescale_grad = 1 / batch_size``.

    python examples/sparse/wide_deep.py [--num-samples 2000] [--epochs 2]

``train`` takes the framework module and returns the cross-entropy of every batch.
"""
from __future__ import annotations

import argparse

import numpy as np


def wide_deep_model(mx, num_linear: int, num_embed: int, num_cont: int, input_dims,
                    hidden_units):
    """The network of MXNet's example (model.py), with its layers named."""
    csr_data = mx.symbol.Variable("csr_data", stype="csr")
    label = mx.symbol.Variable("softmax_label")
    weight = mx.symbol.Variable("linear_weight", shape=(num_linear, 2), stype="row_sparse")
    bias = mx.symbol.Variable("linear_bias", shape=(2,))
    linear_out = mx.symbol.broadcast_add(mx.symbol.sparse.dot(csr_data, weight), bias)
    dns_data = mx.symbol.Variable("dns_data")
    x = mx.symbol.slice(data=dns_data, begin=(0, 0), end=(None, num_embed))
    embeds = mx.symbol.split(data=x, num_outputs=num_embed, squeeze_axis=1)
    features = [mx.symbol.slice(data=dns_data, begin=(0, num_embed),
                                end=(None, num_embed + num_cont))]
    for i, embed in enumerate(embeds):
        embed_weight = mx.symbol.Variable("embed_%d_weight" % i, stype="row_sparse")
        features.append(mx.symbol.contrib.SparseEmbedding(
            data=embed, weight=embed_weight, input_dim=input_dims[i],
            output_dim=hidden_units[0]))
    hidden = mx.symbol.concat(*features, dim=1)
    hidden = mx.symbol.FullyConnected(data=hidden, num_hidden=hidden_units[1], name="fc1")
    hidden = mx.symbol.Activation(data=hidden, act_type="relu")
    hidden = mx.symbol.FullyConnected(data=hidden, num_hidden=hidden_units[2], name="fc2")
    hidden = mx.symbol.Activation(data=hidden, act_type="relu")
    deep_out = mx.symbol.FullyConnected(data=hidden, num_hidden=2, name="fc3")
    return mx.symbol.SoftmaxOutput(linear_out + deep_out, label, name="model")


def initial_params(num_linear, num_cont, input_dims, hidden_units, seed: int = 4) -> dict:
    rng = np.random.default_rng(seed)

    def normal(*shape, scale):
        return (rng.standard_normal(shape) * scale).astype(np.float32)
    params = {"linear_weight": normal(num_linear, 2, scale=0.01),
              "linear_bias": np.zeros((2,), np.float32)}
    for i, d in enumerate(input_dims):
        params["embed_%d_weight" % i] = normal(d, hidden_units[0], scale=0.1)
    width = num_cont + len(input_dims) * hidden_units[0]
    for name, (rows, cols) in (("fc1", (hidden_units[1], width)),
                               ("fc2", (hidden_units[2], hidden_units[1])),
                               ("fc3", (2, hidden_units[2]))):
        params[name + "_weight"] = normal(rows, cols, scale=(2.0 / cols) ** 0.5)
        params[name + "_bias"] = np.zeros((rows,), np.float32)
    return params


def cross_entropy(prob: np.ndarray, label: np.ndarray) -> float:
    picked = prob[np.arange(prob.shape[0]), label.astype(np.int64).reshape(-1)]
    return float(-np.mean(np.log(np.clip(picked.astype(np.float64), 1e-12, None))))


def train(mx, csr, dense, label, num_linear: int, input_dims, num_cont: int,
          hidden_units=(8, 32, 16), batch_size: int = 50, epochs: int = 2,
          optimizer: str = "adam", learning_rate: float = 0.01) -> list:
    """Trains on (csr (data, indices, indptr), dense, label); returns each batch's
    cross-entropy."""
    csr_nd = mx.nd.sparse.csr_matrix(csr, shape=(dense.shape[0], num_linear))
    data = mx.io.NDArrayIter({"csr_data": csr_nd, "dns_data": mx.nd.array(dense)},
                             {"softmax_label": mx.nd.array(label)}, batch_size,
                             last_batch_handle="discard")
    mod = mx.mod.Module(wide_deep_model(mx, num_linear, len(input_dims), num_cont,
                                        input_dims, hidden_units),
                        data_names=["csr_data", "dns_data"], label_names=["softmax_label"])
    mod.bind(data_shapes=data.provide_data, label_shapes=data.provide_label)
    mod.init_params(arg_params={k: mx.nd.array(v) for k, v in initial_params(
        num_linear, num_cont, input_dims, hidden_units).items()})
    mod.init_optimizer(optimizer=mx.optimizer.create(
        optimizer, learning_rate=learning_rate, rescale_grad=1.0 / batch_size))
    losses = []
    for _ in range(epochs):
        data.reset()
        for batch in data:
            mod.forward_backward(batch)
            mod.update()
            losses.append(cross_entropy(mod.get_outputs()[0].asnumpy(),
                                        batch.label[0].asnumpy()))
    return losses


def main() -> None:
    import flowmod as mx
    from synthetic import census_like
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=2000)
    parser.add_argument("--num-linear", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--optimizer", default="adam", choices=["adam", "ftrl", "sgd"])
    args = parser.parse_args()
    dims, num_cont = (10, 20, 8), 4
    csr, dense, label = census_like(args.num_samples, args.num_linear, dims, num_cont)
    losses = train(mx, csr, dense, label, args.num_linear, dims, num_cont,
                   epochs=args.epochs, optimizer=args.optimizer)
    for i in range(0, len(losses), 10):
        print(f"batch {i:4d}: cross-entropy {losses[i]:.5f}")
    print(f"last batch: cross-entropy {losses[-1]:.5f}")


if __name__ == "__main__":
    main()
