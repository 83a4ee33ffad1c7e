"""Writes mxnet_vision_refs.npz, which tests/test_ops_vision_mxnet_refs.py reads: for each case,
the inputs, the head gradient, and MXNet 1.9.1's float32 output and input gradients (autograd)
for the vision layers (UpSampling, Pad, Crop, depth_to_space, space_to_depth, ROIPooling,
ROIAlign, AdaptiveAvgPooling2D, BilinearResize2D, Pooling_v1, im2col, col2im) and
BatchNormWithReLU.

    /path/to/mxnet-1.9.1/bin/python tests/data/make_mxnet_vision_refs.py tests/data
"""
import json
import os
import sys

import mxnet as mx
import numpy as np

rng = np.random.RandomState(7)


def u(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape)


def rois(n_batch, count, h, w):
    """count boxes (batch index, x1, y1, x2, y2) inside an h x w image."""
    out = []
    for _ in range(count):
        x1, x2 = sorted(rng.uniform(0, w - 1, 2))
        y1, y2 = sorted(rng.uniform(0, h - 1, 2))
        out.append([rng.randint(0, n_batch), x1, y1, x2, y2])
    return np.array(out)


# name -> (operator, input arrays, attributes, indices of the inputs that get gradients)
CASES = {
    "up_nearest": ("UpSampling", [u(2, 3, 3, 4)], {"scale": 2, "sample_type": "nearest", "num_args": 1}, [0]),
    "up_nearest_s3": ("UpSampling", [u(1, 2, 2, 3)], {"scale": 3, "sample_type": "nearest", "num_args": 1}, [0]),
    "up_nearest_concat": ("UpSampling", [u(2, 2, 4, 4), u(2, 3, 2, 2)],
                          {"scale": 2, "sample_type": "nearest", "num_args": 2}, [0, 1]),
    "up_nearest_sum": ("UpSampling", [u(1, 2, 4, 4), u(1, 2, 2, 2)],
                       {"scale": 1, "sample_type": "nearest", "num_args": 2, "multi_input_mode": "sum"}, [0, 1]),
    "up_bilinear": ("UpSampling", [u(2, 3, 3, 4), u(3, 1, 4, 4)],
                    {"scale": 2, "sample_type": "bilinear", "num_filter": 3, "num_args": 2}, [0, 1]),
    "up_bilinear_s3": ("UpSampling", [u(1, 2, 3, 3), u(2, 1, 5, 5)],
                       {"scale": 3, "sample_type": "bilinear", "num_filter": 2, "num_args": 2}, [0, 1]),
    "pad_constant": ("Pad", [u(2, 3, 3, 4)], {"mode": "constant", "pad_width": (0, 0, 0, 0, 1, 2, 2, 1),
                                              "constant_value": 0.5}, [0]),
    "pad_edge": ("Pad", [u(2, 2, 3, 4)], {"mode": "edge", "pad_width": (0, 0, 0, 0, 2, 1, 3, 2)}, [0]),
    "pad_reflect": ("Pad", [u(1, 2, 4, 5)], {"mode": "reflect", "pad_width": (0, 0, 0, 0, 3, 1, 2, 4)}, [0]),
    "pad_edge_5d": ("Pad", [u(1, 2, 2, 3, 3)], {"mode": "edge", "pad_width": (0, 0, 0, 0, 1, 1, 2, 0, 0, 1)}, [0]),
    "pad_reflect_5d": ("Pad", [u(1, 1, 3, 3, 4)], {"mode": "reflect", "pad_width": (0, 0, 0, 0, 2, 1, 1, 2, 3, 1)}, [0]),
    "crop_h_w": ("Crop", [u(2, 3, 5, 6)], {"num_args": 1, "h_w": (3, 4), "offset": (1, 2)}, [0]),
    "crop_center": ("Crop", [u(1, 2, 6, 7)], {"num_args": 1, "h_w": (3, 4), "center_crop": True}, [0]),
    "crop_like": ("Crop", [u(2, 2, 5, 5), u(2, 1, 3, 2)], {"num_args": 2, "offset": (2, 1)}, [0]),
    "depth_to_space": ("depth_to_space", [u(2, 8, 2, 3)], {"block_size": 2}, [0]),
    "space_to_depth": ("space_to_depth", [u(2, 2, 4, 6)], {"block_size": 2}, [0]),
    "roi_pooling": ("ROIPooling", [u(2, 3, 8, 9), rois(2, 5, 16, 18)], {"pooled_size": (2, 3), "spatial_scale": 0.5},
                    [0]),
    "roi_align": ("contrib.ROIAlign", [u(2, 3, 8, 9), rois(2, 5, 16, 18)],
                  {"pooled_size": (3, 2), "spatial_scale": 0.5}, [0]),
    "roi_align_sampled_aligned": ("contrib.ROIAlign", [u(2, 2, 6, 7), rois(2, 4, 6, 7) + [0, 0, 0, 1, 1]],
                                  {"pooled_size": (2, 2), "spatial_scale": 1.0, "sample_ratio": 2, "aligned": True}, [0]),
    "roi_align_position_sensitive": ("contrib.ROIAlign", [u(1, 8, 6, 6), rois(1, 3, 6, 6)],
                                     {"pooled_size": (2, 2), "spatial_scale": 1.0, "position_sensitive": True}, [0]),
    "adaptive_avg_7x5": ("contrib.AdaptiveAvgPooling2D", [u(2, 3, 10, 11)], {"output_size": (7, 5)}, [0]),
    "adaptive_avg_global": ("contrib.AdaptiveAvgPooling2D", [u(2, 3, 4, 5)], {}, [0]),
    "adaptive_avg_up": ("contrib.AdaptiveAvgPooling2D", [u(1, 2, 3, 4)], {"output_size": 6}, [0]),
    "resize_size": ("contrib.BilinearResize2D", [u(2, 2, 4, 5)], {"height": 7, "width": 3}, [0]),
    "resize_size_unaligned": ("contrib.BilinearResize2D", [u(2, 2, 4, 5)],
                              {"height": 9, "width": 8, "align_corners": False}, [0]),
    "resize_scale": ("contrib.BilinearResize2D", [u(1, 2, 4, 6)], {"scale_height": 1.5, "scale_width": 0.5}, [0]),
    "resize_odd_scale": ("contrib.BilinearResize2D", [u(1, 2, 5, 6)],
                         {"scale_height": 2.0, "scale_width": 2.0, "mode": "odd_scale"}, [0]),
    "resize_like": ("contrib.BilinearResize2D", [u(1, 2, 3, 4), u(1, 1, 6, 5)], {"mode": "like"}, [0]),
    "resize_to_even_up": ("contrib.BilinearResize2D", [u(1, 2, 5, 7)], {"mode": "to_even_up", "align_corners": False},
                          [0]),
    "pool_v1_max_pad": ("Pooling_v1", [u(2, 2, 5, 6, lo=-2, hi=0.5)],
                        {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "pool_type": "max"}, [0]),
    "pool_v1_avg_full": ("Pooling_v1", [u(2, 2, 6, 7)],
                         {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "pool_type": "avg",
                          "pooling_convention": "full"}, [0]),
    "im2col_2d": ("im2col", [u(2, 2, 4, 5)], {"kernel": (2, 3), "stride": (1, 2), "pad": (1, 0), "dilate": (2, 1)},
                  [0]),
    "col2im_2d": ("col2im", [u(1, 8, 12)], {"output_size": (4, 5), "kernel": (2, 2), "stride": (1, 1)}, [0]),
    "batch_norm_relu": ("contrib.BatchNormWithReLU", [u(4, 3, 2, 2), u(3), u(3), u(3), u(3, lo=0.5, hi=1.5)],
                        {"fix_gamma": False}, [0, 1, 2]),
}


def run(op, inputs, attrs, wrt):
    arrays = [mx.nd.array(x, dtype="float32") for x in inputs]
    for i in wrt:
        arrays[i].attach_grad()
    with mx.autograd.record():
        fn = mx.nd
        for part in op.split("."):
            fn = getattr(fn, part)
        out = fn(*arrays, **attrs)
    outs = out if isinstance(out, list) else [out]
    head = rng.standard_normal(outs[0].shape)
    outs[0].backward(mx.nd.array(head, dtype="float32"))
    return head, [o.asnumpy() for o in outs], [arrays[i].grad.asnumpy() for i in wrt]


def main(out_dir):
    record, meta = {}, {}
    for name, (op, inputs, attrs, wrt) in CASES.items():
        head, outs, grads = run(op, inputs, attrs, wrt)
        for i, x in enumerate(inputs):
            record[f"{name}/in{i}"] = x.astype(np.float32)
        record[f"{name}/head"] = head.astype(np.float32)
        record[f"{name}/out"] = outs[0]
        for i, g in zip(wrt, grads):
            record[f"{name}/grad{i}"] = g
        meta[name] = {"op": op.replace("contrib.", "_contrib_"), "attrs": {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.items()},
                      "inputs": len(inputs), "wrt": wrt}
    record["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(os.path.join(out_dir, "mxnet_vision_refs.npz"), **record)


if __name__ == "__main__":
    main(sys.argv[1])
