"""MXNet's example/numpy-ops custom operators and the small runs made with them, written
against an ``mx`` module handed in: tests/data/make_mxnet_custom_op_refs.py runs them under
MXNet 1.9.1 and records the results, tests/test_custom_op_examples.py runs them under flowmod
and compares. The operator classes are MXNet's examples as they are, except ``np.int``, which
numpy 2 removed (``int`` is what it meant)."""
import numpy as np


def register_example_ops(mx):
    """custom_softmax.py's Softmax and weighted_logistic_regression.py's operator."""

    class Softmax(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            x = in_data[0].asnumpy()
            y = np.exp(x - x.max(axis=1).reshape((x.shape[0], 1)))
            y /= y.sum(axis=1).reshape((x.shape[0], 1))
            self.assign(out_data[0], req[0], mx.nd.array(y))

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            l = in_data[1].asnumpy().ravel().astype(int)
            y = out_data[0].asnumpy()
            y[np.arange(l.shape[0]), l] -= 1.0
            self.assign(in_grad[0], req[0], mx.nd.array(y))

    @mx.operator.register("softmax")
    class SoftmaxProp(mx.operator.CustomOpProp):
        def __init__(self):
            super(SoftmaxProp, self).__init__(need_top_grad=False)

        def list_arguments(self):
            return ['data', 'label']

        def list_outputs(self):
            return ['output']

        def infer_shape(self, in_shape):
            data_shape = in_shape[0]
            label_shape = (in_shape[0][0],)
            output_shape = in_shape[0]
            return [data_shape, label_shape], [output_shape], []

        def infer_type(self, in_type):
            return in_type, [in_type[0]], []

        def create_operator(self, ctx, shapes, dtypes):
            return Softmax()

    class WeightedLogisticRegression(mx.operator.CustomOp):
        def __init__(self, pos_grad_scale, neg_grad_scale):
            self.pos_grad_scale = float(pos_grad_scale)
            self.neg_grad_scale = float(neg_grad_scale)

        def forward(self, is_train, req, in_data, out_data, aux):
            self.assign(out_data[0], req[0], mx.nd.divide(1, (1 + mx.nd.exp(- in_data[0]))))

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            in_grad[0][:] = ((out_data[0] - 1) * in_data[1] * self.pos_grad_scale
                             + out_data[0] * (1 - in_data[1]) * self.neg_grad_scale) / out_data[0].shape[1]

    @mx.operator.register("weighted_logistic_regression")
    class WeightedLogisticRegressionProp(mx.operator.CustomOpProp):
        def __init__(self, pos_grad_scale, neg_grad_scale):
            self.pos_grad_scale = pos_grad_scale
            self.neg_grad_scale = neg_grad_scale
            super(WeightedLogisticRegressionProp, self).__init__(False)

        def list_arguments(self):
            return ['data', 'label']

        def list_outputs(self):
            return ['output']

        def infer_shape(self, in_shape):
            shape = in_shape[0]
            return [shape, shape], [shape]

        def create_operator(self, ctx, shapes, dtypes):
            return WeightedLogisticRegression(self.pos_grad_scale, self.neg_grad_scale)


# --- custom_softmax.py's MLP on small synthetic data ----------------------------------------
N_FEATURES, N_CLASSES, BATCH = 20, 4, 50


def blobs(seed=0, n=600):
    rng = np.random.RandomState(seed)
    centers = rng.normal(0, 0.35, (N_CLASSES, N_FEATURES))
    y = rng.randint(0, N_CLASSES, n)
    x = centers[y] + rng.normal(0, 1.0, (n, N_FEATURES))
    return x.astype(np.float32), y.astype(np.float32)


def mlp(mx, head="custom"):
    data = mx.symbol.Variable('data')
    fc1 = mx.symbol.FullyConnected(data=data, name='fc1', num_hidden=32)
    act1 = mx.symbol.Activation(data=fc1, name='relu1', act_type="relu")
    fc2 = mx.symbol.FullyConnected(data=act1, name='fc2', num_hidden=16)
    act2 = mx.symbol.Activation(data=fc2, name='relu2', act_type="relu")
    fc3 = mx.symbol.FullyConnected(data=act2, name='fc3', num_hidden=N_CLASSES)
    if head == "custom":
        return mx.symbol.Custom(data=fc3, name='softmax', op_type='softmax')
    return mx.symbol.SoftmaxOutput(data=fc3, name='softmax')


def initial_params(mx, seed=1):
    rng = np.random.RandomState(seed)
    shapes = {"fc1_weight": (32, N_FEATURES), "fc1_bias": (32,), "fc2_weight": (16, 32),
              "fc2_bias": (16,), "fc3_weight": (N_CLASSES, 16), "fc3_bias": (N_CLASSES,)}
    return {k: mx.nd.array(rng.uniform(-0.3, 0.3, s).astype(np.float32))
            for k, s in sorted(shapes.items())}


def train_softmax_mlp(mx, context, head="custom", num_epoch=4):
    """Module.fit as custom_softmax.py calls it (sgd, lr 0.1, momentum 0.9, wd 1e-5) from fixed
    initial parameters, then score and predict on held-out data. Returns what is recorded."""
    x, y = blobs()
    train = mx.io.NDArrayIter(x[:500], y[:500], batch_size=BATCH, label_name='softmax_label')
    val = mx.io.NDArrayIter(x[500:], y[500:], batch_size=BATCH, label_name='softmax_label')
    mod = mx.mod.Module(mlp(mx, head), context=context)
    mod.fit(train_data=train, eval_data=val, optimizer='sgd',
            optimizer_params={'learning_rate': 0.1, 'momentum': 0.9, 'wd': 0.00001},
            num_epoch=num_epoch, arg_params=initial_params(mx))
    scores = dict(mod.score(val, ['acc', 'ce']))
    train_scores = dict(mod.score(train, ['acc', 'ce']))
    predicted = mod.predict(val).asnumpy()
    args, _ = mod.get_params()
    return {"val_acc": float(scores["accuracy"]), "val_ce": float(scores["cross-entropy"]),
            "train_acc": float(train_scores["accuracy"]),
            "train_ce": float(train_scores["cross-entropy"]),
            "predicted": predicted.tolist(),
            "fc3_weight": args["fc3_weight"].asnumpy().tolist()}


def weighted_logistic_regression(mx):
    """weighted_logistic_regression.py's __main__: outputs and gradients of the custom
    operator and of LogisticRegressionOutput on the same data."""
    m, n = 2, 5
    pos, neg = 1, 0.1
    data = mx.sym.Variable('data')
    wlr = mx.sym.Custom(data, pos_grad_scale=pos, neg_grad_scale=neg, name='wlr',
                        op_type='weighted_logistic_regression')
    lr = mx.sym.LogisticRegressionOutput(data, name='lr')
    context = mx.cpu()
    exe1 = wlr.simple_bind(ctx=context, data=(2 * m, n))
    exe2 = lr.simple_bind(ctx=context, data=(2 * m, n))
    exe1.arg_dict['data'][:] = np.ones([2 * m, n])
    exe2.arg_dict['data'][:] = np.ones([2 * m, n])
    exe1.arg_dict['wlr_label'][:] = np.vstack([np.ones([m, n]), np.zeros([m, n])])
    exe2.arg_dict['lr_label'][:] = np.vstack([np.ones([m, n]), np.zeros([m, n])])
    exe1.forward(is_train=True)
    exe2.forward(is_train=True)
    out1, out2 = exe1.outputs[0].asnumpy(), exe2.outputs[0].asnumpy()
    exe1.backward()
    exe2.backward()
    return {"wlr_output": out1.tolist(), "lr_output": out2.tolist(),
            "wlr_grad": exe1.grad_dict['data'].asnumpy().tolist(),
            "lr_grad": exe2.grad_dict['data'].asnumpy().tolist()}
