"""Matrix factorization with row_sparse embedding gradients, as MXNet's
example/sparse/matrix_factorization builds it: user and item Embeddings with
``sparse_grad=True`` over row_sparse weights, a ReLU and a FullyConnected layer each, their
inner product regressed on the score; SGD with momentum and lazy updates of the rows of the
users and items in each batch.

    python examples/sparse/matrix_factorization.py [--num-users 500] [--epochs 2]

``train`` takes the framework module and returns the mean squared error of every batch.
"""
from __future__ import annotations

import argparse

import numpy as np


def matrix_fact_net(mx, factor_size: int, num_hidden: int, max_user: int, max_item: int):
    """The network of MXNet's example (model.py), sparse."""
    user = mx.sym.Variable("user")
    item = mx.sym.Variable("item")
    score = mx.sym.Variable("score")
    user_weight = mx.sym.Variable("user_weight", stype="row_sparse")
    item_weight = mx.sym.Variable("item_weight", stype="row_sparse")
    user = mx.sym.Embedding(data=user, weight=user_weight, sparse_grad=True,
                            input_dim=max_user, output_dim=factor_size)
    item = mx.sym.Embedding(data=item, weight=item_weight, sparse_grad=True,
                            input_dim=max_item, output_dim=factor_size)
    user_act = mx.sym.FullyConnected(data=mx.sym.Activation(user, act_type="relu"),
                                     num_hidden=num_hidden, name="user_fc")
    item_act = mx.sym.FullyConnected(data=mx.sym.Activation(item, act_type="relu"),
                                     num_hidden=num_hidden, name="item_fc")
    pred = mx.sym.Flatten(mx.sym.sum(data=user_act * item_act, axis=1))
    return mx.sym.LinearRegressionOutput(data=pred, label=score)


def initial_params(factor_size, num_hidden, max_user, max_item, seed: int = 3) -> dict:
    rng = np.random.default_rng(seed)

    def normal(*shape, scale=0.1):
        return (rng.standard_normal(shape) * scale).astype(np.float32)
    return {"user_weight": normal(max_user, factor_size),
            "item_weight": normal(max_item, factor_size),
            "user_fc_weight": normal(num_hidden, factor_size),
            "user_fc_bias": np.zeros((num_hidden,), np.float32),
            "item_fc_weight": normal(num_hidden, factor_size),
            "item_fc_bias": np.zeros((num_hidden,), np.float32)}


def train(mx, users, items, scores, max_user: int, max_item: int, factor_size: int = 16,
          num_hidden: int = 32, batch_size: int = 100, epochs: int = 2,
          learning_rate: float = 0.02) -> list:
    """Trains on the (users, items, scores) arrays; returns each batch's squared error."""
    data = mx.io.NDArrayIter(data={"user": users, "item": items}, label={"score": scores},
                             batch_size=batch_size)
    mod = mx.mod.Module(matrix_fact_net(mx, factor_size, num_hidden, max_user, max_item),
                        data_names=["user", "item"], label_names=["score"])
    mod.bind(data_shapes=data.provide_data, label_shapes=data.provide_label)
    mod.init_params(arg_params={k: mx.nd.array(v) for k, v in initial_params(
        factor_size, num_hidden, max_user, max_item).items()})
    mod.init_optimizer(optimizer="sgd", optimizer_params={
        "learning_rate": learning_rate, "momentum": 0.9, "wd": 1e-4,
        "rescale_grad": 1.0 / batch_size})
    losses = []
    for _ in range(epochs):
        data.reset()
        for batch in data:
            mod.forward_backward(batch)
            mod.update()
            pred = mod.get_outputs()[0].asnumpy().reshape(-1)
            label = batch.label[0].asnumpy().reshape(-1)
            losses.append(float(np.mean((pred.astype(np.float64) - label) ** 2)))
    return losses


def main() -> None:
    import flowmod as mx
    from synthetic import ratings
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-users", type=int, default=500)
    parser.add_argument("--num-items", type=int, default=300)
    parser.add_argument("--num-samples", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    users, items, scores = ratings(args.num_samples, args.num_users, args.num_items)
    losses = train(mx, users, items, scores, args.num_users, args.num_items,
                   epochs=args.epochs)
    for i in range(0, len(losses), 10):
        print(f"batch {i:4d}: squared error {losses[i]:.5f}")
    print(f"last batch: squared error {losses[-1]:.5f}")


if __name__ == "__main__":
    main()
