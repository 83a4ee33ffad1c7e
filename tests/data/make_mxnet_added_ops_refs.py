"""Writes mxnet_added_ops_refs.npz, which tests/test_ops_correlation_mask.py,
tests/test_ops_multi_array.py and tests/test_optimizer_lbsgd.py read: MXNet 1.9.1's outputs
and gradients (under a random head gradient) of Correlation and contrib.boolean_mask, the
outputs of multi_sum_sq, multi_all_finite, amp_multicast and reset_arrays, and the weights
after LBSGD steps. MXNet runs contrib.fft and contrib.ifft on GPUs only, so they have no
recording (their tests compare with numpy.fft).

    /work/main/.peers/mxnet/bin/python tests/data/make_mxnet_added_ops_refs.py tests/data
"""
import json
import os
import sys

import mxnet as mx
import numpy as np

rng = np.random.RandomState(11)

CORRELATION = {
    "default": ((2, 3, 6, 7), {}),
    "k3_d2_pad": ((1, 2, 9, 8), {"kernel_size": 3, "max_displacement": 2, "pad_size": 2}),
    "strides": ((2, 2, 11, 10), {"kernel_size": 1, "max_displacement": 4, "stride1": 2, "stride2": 2, "pad_size": 1}),
    "subtract": ((1, 3, 7, 7), {"kernel_size": 3, "max_displacement": 1, "pad_size": 1, "is_multiply": False}),
}


def with_grad(fn, arrays, head):
    xs = [mx.nd.array(a, dtype=a.dtype) for a in arrays]
    for x in xs:
        x.attach_grad()
    with mx.autograd.record():
        y = fn(*xs)
    y.backward(mx.nd.array(head, dtype=head.dtype))
    return y.asnumpy(), [x.grad.asnumpy() for x in xs]


def record_correlation(record, meta):
    for name, (shape, attrs) in CORRELATION.items():
        d1, d2 = rng.standard_normal(shape), rng.standard_normal(shape)
        out_shape = mx.nd.Correlation(mx.nd.array(d1), mx.nd.array(d2), **attrs).shape
        head = rng.standard_normal(out_shape)
        y, (g1, g2) = with_grad(lambda a, b: mx.nd.Correlation(a, b, **attrs), [d1, d2], head)
        key = f"correlation/{name}"
        record.update({f"{key}/data1": d1, f"{key}/data2": d2, f"{key}/head": head, f"{key}/out": y,
                       f"{key}/grad1": g1, f"{key}/grad2": g2})
        meta[key] = attrs


def record_boolean_mask(record):
    data = rng.standard_normal((6, 3, 2))
    index = np.array([0, 1, 1, 0, 1, 0], dtype=np.float32)
    head = rng.standard_normal((3, 3, 2))
    y, grads = with_grad(lambda d, i: mx.nd.contrib.boolean_mask(d, i), [data, index], head)
    record.update({"boolean_mask/data": data, "boolean_mask/index": index, "boolean_mask/head": head,
                   "boolean_mask/out": y, "boolean_mask/grad": grads[0]})


def record_multi(record):
    arrays = [rng.standard_normal(s).astype(np.float32) for s in ((5,), (3, 4), (2, 2, 2))]
    record["multi/arrays"] = np.concatenate([a.ravel() for a in arrays])
    record["multi/sum_sq"] = mx.nd.multi_sum_sq(*[mx.nd.array(a) for a in arrays], num_arrays=3).asnumpy()
    bad = [a.copy() for a in arrays]
    bad[1][2, 1] = np.inf
    record["multi/all_finite_ok"] = mx.nd.multi_all_finite(*[mx.nd.array(a) for a in arrays], num_arrays=3).asnumpy()
    record["multi/all_finite_bad"] = mx.nd.multi_all_finite(*[mx.nd.array(a) for a in bad], num_arrays=3).asnumpy()
    f16, f32 = mx.nd.array(arrays[0], dtype="float16"), mx.nd.array(arrays[1], dtype="float32")
    wide = mx.nd.amp_multicast(f16, f32, num_outputs=2)
    narrow = mx.nd.amp_multicast(f16, f32, num_outputs=2, cast_narrow=True)
    record["multi/multicast_types"] = np.array(json.dumps([[str(o.dtype) for o in wide], [str(o.dtype) for o in narrow]]))
    record["multi/multicast_wide1"] = wide[1].asnumpy()
    record["multi/multicast_narrow1"] = narrow[1].asnumpy().astype(np.float32)
    zs = [mx.nd.array(a) for a in arrays]
    result = mx.nd.reset_arrays(*zs, num_arrays=3)
    record["multi/reset_result"] = np.array(json.dumps(repr(result)))
    record["multi/reset_sums"] = np.array([float(np.abs(z.asnumpy()).sum()) for z in zs])


LBSGD = {
    "momentum_linear": {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01, "batch_scale": 1, "warmup_epochs": 1,
                        "updates_per_epoch": 4},
    "scale2_sqrt": {"learning_rate": 0.05, "momentum": 0.5, "batch_scale": 2, "warmup_strategy": "sqrt",
                    "warmup_epochs": 2, "updates_per_epoch": 2, "rescale_grad": 0.5},
    "lars_plain": {"learning_rate": 0.1, "warmup_strategy": "lars", "wd": 0.001, "clip_gradient": 0.5},
    "power2_begin": {"learning_rate": 0.1, "momentum": 0.9, "batch_scale": 4, "warmup_strategy": "power2",
                     "warmup_epochs": 2, "updates_per_epoch": 3, "begin_epoch": 1},
}


def record_lbsgd(record, meta):
    weight0 = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(6)]
    record["lbsgd/weight0"], record["lbsgd/grads"] = weight0, np.stack(grads)
    for name, kwargs in LBSGD.items():
        opt = mx.optimizer.create("lbsgd", **kwargs)
        w = mx.nd.array(weight0, dtype="float64")
        state = opt.create_state(0, w)
        steps = []
        for g in grads:
            opt.update(0, w, mx.nd.array(g, dtype="float64"), state)
            steps.append(w.asnumpy().copy())
        record[f"lbsgd/{name}"] = np.stack(steps)
        meta[f"lbsgd/{name}"] = kwargs


def main(out_dir):
    record, meta = {}, {}
    record_correlation(record, meta)
    record_boolean_mask(record)
    record_multi(record)
    record_lbsgd(record, meta)
    record["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(os.path.join(out_dir, "mxnet_added_ops_refs.npz"), **record)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
