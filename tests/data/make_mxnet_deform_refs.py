"""Writes mxnet_deform_refs.npz, which tests/test_ops_psroi.py and
tests/test_ops_deformable_conv.py read: for each case, the inputs (in the operator's argument
order), the head gradient, and MXNet 1.9.1's float32 visible outputs and, where its CPU
implementation has them, input gradients for PSROIPooling, DeformablePSROIPooling,
DeformableConvolution and ModulatedDeformableConvolution (forward only: MXNet 1.9.1's CPU
backward of the modulated one is not implemented).

    /path/to/mxnet-1.9.1/bin/python tests/data/make_mxnet_deform_refs.py tests/data
"""
import json
import os
import sys

import mxnet as mx
import numpy as np

rng = np.random.RandomState(23)


def u(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape)


def rois(n, batch, size):
    """Rows (batch index, x1, y1, x2, y2) inside an image of side `size`."""
    a = rng.uniform(0, size, (n, 2))
    b = rng.uniform(0, size, (n, 2))
    return np.concatenate([rng.randint(0, batch, (n, 1)).astype(float), np.minimum(a, b), np.maximum(a, b)], axis=1)


# name -> (operator, {input name: array} in argument order, attributes, inputs that get gradients)
CASES = {
    "psroi_basic": ("_contrib_PSROIPooling", {"data": u(2, 2 * 9, 6, 7), "rois": rois(5, 2, 24)},
                    {"spatial_scale": 0.25, "output_dim": 2, "pooled_size": 3}, [0]),
    "psroi_group": ("_contrib_PSROIPooling", {"data": u(1, 3 * 4, 5, 5), "rois": rois(4, 1, 10)},
                    {"spatial_scale": 0.5, "output_dim": 3, "pooled_size": 4, "group_size": 2}, [0]),
    "dpsroi_no_trans": ("_contrib_DeformablePSROIPooling", {"data": u(2, 2 * 9, 6, 7), "rois": rois(4, 2, 24)},
                        {"spatial_scale": 0.25, "output_dim": 2, "group_size": 3, "pooled_size": 3,
                         "sample_per_part": 2, "no_trans": True}, [0]),
    "dpsroi_trans": ("_contrib_DeformablePSROIPooling",
                     {"data": u(2, 4 * 4, 6, 6), "rois": rois(3, 2, 20), "trans": u(3, 4, 2, 2, lo=-0.5, hi=0.5)},
                     {"spatial_scale": 0.3, "output_dim": 4, "group_size": 2, "pooled_size": 4, "part_size": 2,
                      "sample_per_part": 2, "trans_std": 0.1}, [0, 2]),
    "dcn_basic": ("_contrib_DeformableConvolution",
                  {"data": u(2, 4, 6, 5), "offset": u(2, 18, 6, 5, lo=-1.5, hi=1.5), "weight": u(3, 4, 3, 3),
                   "bias": u(3)}, {"kernel": (3, 3), "pad": (1, 1), "num_filter": 3}, [0, 1, 2, 3]),
    "dcn_stride_dilate_groups": ("_contrib_DeformableConvolution",
                                 {"data": u(1, 4, 7, 8), "offset": u(1, 16, 4, 3, lo=-2, hi=2),
                                  "weight": u(4, 2, 2, 2)},
                                 {"kernel": (2, 2), "stride": (2, 2), "dilate": (2, 2), "pad": (1, 0),
                                  "num_filter": 4, "num_group": 2, "num_deformable_group": 2, "no_bias": True},
                                 [0, 1, 2]),
    "mdcn_basic": ("_contrib_ModulatedDeformableConvolution",
                   {"data": u(2, 4, 6, 5), "offset": u(2, 18, 6, 5, lo=-1.5, hi=1.5),
                    "mask": u(2, 9, 6, 5, lo=0, hi=1), "weight": u(3, 4, 3, 3), "bias": u(3)},
                   {"kernel": (3, 3), "pad": (1, 1), "num_filter": 3}, []),
    "mdcn_groups": ("_contrib_ModulatedDeformableConvolution",
                    {"data": u(1, 4, 7, 8), "offset": u(1, 16, 4, 3, lo=-2, hi=2), "mask": u(1, 8, 4, 3),
                     "weight": u(4, 2, 2, 2)},
                    {"kernel": (2, 2), "stride": (2, 2), "dilate": (2, 2), "pad": (1, 0), "num_filter": 4,
                     "num_group": 2, "num_deformable_group": 2, "no_bias": True}, []),
}


def run(op, inputs, attrs, wrt):
    fn = getattr(mx.sym.contrib, op[len("_contrib_"):])
    sym = fn(**{n: mx.sym.var(n) for n in inputs}, **attrs)
    names = list(inputs)
    args = {n: mx.nd.array(inputs[n], dtype="float32") for n in names}
    grads = {n: mx.nd.zeros(args[n].shape) for i, n in enumerate(names) if i in wrt}
    exe = sym.bind(mx.cpu(), args, args_grad=grads, grad_req={n: "write" if n in grads else "null" for n in args})
    outs = [o.asnumpy() for o in exe.forward(is_train=True)]
    head = rng.standard_normal(outs[0].shape)
    if wrt:
        exe.backward([mx.nd.array(head, dtype="float32")])
    return head, outs, [grads[names[i]].asnumpy() for i in wrt]


def main(out_dir):
    record, meta = {}, {}
    for name, (op, inputs, attrs, wrt) in CASES.items():
        head, outs, grads = run(op, inputs, attrs, wrt)
        for i, x in enumerate(inputs.values()):
            record[f"{name}/in{i}"] = np.asarray(x).astype(np.float32)
        record[f"{name}/head"] = head.astype(np.float32)
        for i, o in enumerate(outs):
            record[f"{name}/out{i}"] = o
        for i, g in zip(wrt, grads):
            record[f"{name}/grad{i}"] = g
        meta[name] = {"op": op, "attrs": attrs, "inputs": len(inputs), "outputs": len(outs), "wrt": wrt}
    record["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(os.path.join(out_dir, "mxnet_deform_refs.npz"), **record)


if __name__ == "__main__":
    main(sys.argv[1])
