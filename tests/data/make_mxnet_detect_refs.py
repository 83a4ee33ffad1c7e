"""Writes mxnet_detect_refs.npz, which tests/test_ops_mxnet_detect_refs.py reads: for each case,
the inputs (in the operator's argument order, auxiliary states last), the head gradient, and
MXNet 1.9.1's float32 visible outputs and input gradients for the detection helpers (box_iou,
box_nms, box_encode, box_decode, bipartite_matching, MultiBoxPrior, MultiBoxTarget,
MultiBoxDetection), CTCLoss, the interleaved attention products, div_sqrt_dim and
IdentityAttachKLSparseReg (whose updated moving average is recorded too).

    /path/to/mxnet-1.9.1/bin/python tests/data/make_mxnet_detect_refs.py tests/data
"""
import json
import os
import sys

import mxnet as mx
import numpy as np

rng = np.random.RandomState(11)


def u(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape)


def corner_boxes(*lead, lo=0.0, hi=1.0):
    """Boxes [xmin, ymin, xmax, ymax] of positive size inside [lo, hi]."""
    a = rng.uniform(lo, hi, lead + (2,))
    b = rng.uniform(lo, hi, lead + (2,))
    return np.concatenate([np.minimum(a, b), np.maximum(a, b) + 0.05], axis=-1)


def nms_items(batch, n, classes=3):
    ids = rng.randint(0, classes, (batch, n, 1)).astype(np.float64)
    scores = rng.uniform(0, 1, (batch, n, 1))
    # Clustered boxes, so that suppression happens.
    centers = rng.uniform(0.2, 0.8, (batch, 3, 2))[:, rng.randint(0, 3, n)] + rng.normal(0, 0.05, (batch, n, 2))
    sizes = rng.uniform(0.1, 0.3, (batch, n, 2))
    return np.concatenate([ids, scores, centers - sizes / 2, centers + sizes / 2], axis=-1)


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def prior(h, w, **attrs):
    return mx.nd.contrib.MultiBoxPrior(mx.nd.zeros((1, 1, h, w)), **attrs).asnumpy().astype(np.float64)


NMS = nms_items(2, 16)
NMS_CENTER = NMS.copy()
NMS_CENTER[..., 2:4] = (NMS[..., 2:4] + NMS[..., 4:6]) / 2
NMS_CENTER[..., 4:6] = NMS[..., 4:6] - NMS[..., 2:4]
# Score last, then the coordinates, then the id: another layout of the same items.
NMS_PERMUTED = NMS[..., [2, 3, 4, 5, 0, 1]]

ANCHORS = prior(3, 3, sizes=(0.4, 0.2), ratios=(1, 2))
GT = np.full((2, 4, 5), -1.0)
GT[0, :2] = [[0, 0.1, 0.1, 0.5, 0.45], [1, 0.5, 0.4, 0.9, 0.95]]
GT[1, :3] = [[2, 0.0, 0.0, 0.3, 0.3], [0, 0.3, 0.5, 0.7, 0.9], [1, 0.6, 0.1, 0.95, 0.4]]
N_ANCHORS = ANCHORS.shape[1]
DET_PROB = softmax(u(2, 4, N_ANCHORS, lo=-2, hi=2), axis=1)
DET_LOC = u(2, N_ANCHORS * 4, lo=-0.5, hi=0.5)

CTC_DATA = u(6, 3, 5, lo=-2, hi=2)
CTC_LABEL_FIRST = np.array([[1, 2, 0, 0], [3, 3, 1, 0], [1, 2, 1, 3]], dtype=np.float64)
CTC_LABEL_LAST = np.array([[1, 0, -1, -1], [2, 2, 0, -1], [0, 1, 0, 2]], dtype=np.float64)

# name -> (operator, {input name: array} in argument order, attributes, inputs that get gradients)
CASES = {
    "prior_default": ("_contrib_MultiBoxPrior", {"data": u(1, 2, 3, 4)}, {}, []),
    "prior_sizes_ratios_clip": ("_contrib_MultiBoxPrior", {"data": u(2, 3, 5, 4)},
                                {"sizes": (0.5, 0.25, 0.1), "ratios": (1, 2, 0.5), "clip": True}, []),
    "prior_steps_offsets": ("_contrib_MultiBoxPrior", {"data": u(1, 1, 4, 6)},
                            {"sizes": (0.3,), "ratios": (1, 3), "steps": (0.2, 0.1), "offsets": (0.3, 0.7)}, []),
    "iou_corner": ("_contrib_box_iou", {"lhs": corner_boxes(2, 3), "rhs": corner_boxes(5)}, {}, []),
    "iou_center": ("_contrib_box_iou", {"lhs": corner_boxes(4), "rhs": corner_boxes(3, 2)}, {"format": "center"}, []),
    "nms_default": ("_contrib_box_nms", {"data": NMS}, {}, [0]),
    "nms_by_class": ("_contrib_box_nms", {"data": NMS}, {"overlap_thresh": 0.3, "id_index": 0}, [0]),
    "nms_background_topk": ("_contrib_box_nms", {"data": NMS},
                            {"overlap_thresh": 0.4, "id_index": 0, "background_id": 1, "topk": 6,
                             "valid_thresh": 0.2}, [0]),
    "nms_force": ("_contrib_box_nms", {"data": NMS}, {"overlap_thresh": 0.2, "id_index": 0, "force_suppress": True}, [0]),
    "nms_center_to_corner": ("_contrib_box_nms", {"data": NMS_CENTER},
                             {"overlap_thresh": 0.3, "in_format": "center", "out_format": "corner"}, [0]),
    "nms_corner_to_center": ("_contrib_box_nms", {"data": NMS}, {"overlap_thresh": 0.3, "out_format": "center"}, [0]),
    "nms_permuted_layout": ("_contrib_box_nms", {"data": NMS_PERMUTED},
                            {"coord_start": 0, "score_index": 4, "id_index": 5, "overlap_thresh": 0.25}, [0]),
    "nms_topk_zero": ("_contrib_box_nms", {"data": NMS}, {"topk": 0}, [0]),
    "nms_nothing_valid": ("_contrib_box_nms", {"data": NMS}, {"valid_thresh": 2.0}, [0]),
    "encode": ("_contrib_box_encode",
               {"samples": rng.choice([-1.0, 0.0, 1.0], (2, 6)), "matches": rng.randint(0, 3, (2, 6)).astype(float),
                "anchors": corner_boxes(2, 6), "refs": corner_boxes(2, 3),
                "means": np.array([0.1, -0.1, 0.05, 0.0]), "stds": np.array([0.1, 0.1, 0.2, 0.2])}, {}, []),
    "decode_center": ("_contrib_box_decode", {"data": u(2, 5, 4), "anchors": np.concatenate(
        [rng.uniform(0.2, 0.8, (1, 5, 2)), rng.uniform(0.1, 0.4, (1, 5, 2))], axis=-1)},
        {"std0": 0.1, "std1": 0.1, "std2": 0.2, "std3": 0.2}, []),
    "decode_corner_clip": ("_contrib_box_decode", {"data": u(2, 5, 4, lo=-3, hi=3), "anchors": corner_boxes(1, 5)},
                           {"format": "corner", "clip": 0.5, "std2": 2.0}, []),
    "matching_descend": ("_contrib_bipartite_matching", {"data": u(2, 4, 3, lo=0, hi=1)}, {"threshold": 0.2}, []),
    "matching_ascend": ("_contrib_bipartite_matching", {"data": u(3, 5, lo=0, hi=1)},
                        {"threshold": 0.8, "is_ascend": True}, []),
    "matching_topk": ("_contrib_bipartite_matching", {"data": u(2, 5, 4, lo=0, hi=1)},
                      {"threshold": 0.05, "topk": 2}, []),
    "target_default": ("_contrib_MultiBoxTarget",
                       {"anchor": ANCHORS, "label": GT, "cls_pred": u(2, 4, N_ANCHORS)}, {}, []),
    "target_mining": ("_contrib_MultiBoxTarget", {"anchor": ANCHORS, "label": GT, "cls_pred": u(2, 4, N_ANCHORS)},
                      {"negative_mining_ratio": 2, "negative_mining_thresh": 0.4, "overlap_threshold": 0.3,
                       "ignore_label": -2, "variances": (0.2, 0.2, 0.1, 0.1)}, []),
    "target_no_threshold": ("_contrib_MultiBoxTarget",
                            {"anchor": ANCHORS, "label": GT, "cls_pred": u(2, 4, N_ANCHORS)},
                            {"overlap_threshold": 0}, []),
    "detection_default": ("_contrib_MultiBoxDetection",
                          {"cls_prob": DET_PROB, "loc_pred": DET_LOC, "anchor": ANCHORS}, {}, []),
    "detection_force_topk": ("_contrib_MultiBoxDetection",
                             {"cls_prob": DET_PROB, "loc_pred": DET_LOC, "anchor": ANCHORS},
                             {"force_suppress": True, "nms_topk": 5, "threshold": 0.3, "nms_threshold": 0.3}, []),
    "detection_no_clip_no_nms": ("_contrib_MultiBoxDetection",
                                 {"cls_prob": DET_PROB, "loc_pred": DET_LOC * 4, "anchor": ANCHORS},
                                 {"clip": False, "nms_threshold": 0, "variances": (0.2, 0.2, 0.3, 0.3)}, []),
    "ctc_first": ("CTCLoss", {"data": CTC_DATA, "label": CTC_LABEL_FIRST}, {}, [0]),
    "ctc_last": ("CTCLoss", {"data": CTC_DATA, "label": CTC_LABEL_LAST}, {"blank_label": "last"}, [0]),
    "ctc_data_lengths": ("CTCLoss", {"data": CTC_DATA, "label": CTC_LABEL_FIRST,
                                     "data_lengths": np.array([6.0, 4.0, 5.0])}, {"use_data_lengths": True}, [0]),
    "ctc_label_lengths": ("CTCLoss", {"data": CTC_DATA, "label": CTC_LABEL_LAST,
                                      "label_lengths": np.array([1.0, 3.0, 2.0])},
                          {"use_label_lengths": True, "blank_label": "last"}, [0]),
    "ctc_both_lengths": ("CTCLoss", {"data": CTC_DATA, "label": CTC_LABEL_FIRST, "data_lengths": np.array([5.0, 6.0, 6.0]),
                                     "label_lengths": np.array([2.0, 2.0, 4.0])},
                         {"use_data_lengths": True, "use_label_lengths": True}, [0]),
    "ctc_impossible": ("CTCLoss", {"data": u(3, 2, 4), "label": np.array([[1, 1, 2], [2, 0, 0]], dtype=np.float64)}, {}, [0]),
    "selfatt_qk": ("_contrib_interleaved_matmul_selfatt_qk", {"queries_keys_values": u(4, 2, 18)}, {"heads": 2}, [0]),
    "selfatt_valatt": ("_contrib_interleaved_matmul_selfatt_valatt",
                       {"queries_keys_values": u(4, 2, 18), "attention": u(4, 4, 4)}, {"heads": 2}, [0, 1]),
    "encdec_qk": ("_contrib_interleaved_matmul_encdec_qk", {"queries": u(3, 2, 6), "keys_values": u(5, 2, 12)},
                  {"heads": 3}, [0, 1]),
    "encdec_valatt": ("_contrib_interleaved_matmul_encdec_valatt",
                      {"keys_values": u(5, 2, 12), "attention": u(6, 3, 5)}, {"heads": 3}, [0, 1]),
    "div_sqrt_dim": ("_contrib_div_sqrt_dim", {"data": u(3, 2, 8)}, {}, [0]),
    "kl_sparse_reg": ("IdentityAttachKLSparseReg", {"data": u(4, 5, lo=0.05, hi=0.95),
                                                    "moving_avg": u(5, lo=0.2, hi=0.6)},
                      {"penalty": 0.1, "sparseness_target": 0.2, "momentum": 0.7}, [0]),
}


def run(op, inputs, attrs, wrt):
    """Binds the operator's symbol with every input given, runs forward (training) and, when
    any input gets a gradient, backward with a random head gradient for the first output."""
    fn = getattr(mx.sym.contrib, op[len("_contrib_"):]) if op.startswith("_contrib_") else getattr(mx.sym, op)
    sym = fn(**{n: mx.sym.var(n) for n in inputs if n != "moving_avg"}, **attrs)
    names = list(inputs)
    args = {n: mx.nd.array(inputs[n], dtype="float32") for n in names if n in sym.list_arguments()}
    aux = {n: mx.nd.array(inputs["moving_avg"], dtype="float32") for n in sym.list_auxiliary_states()}
    grads = {n: mx.nd.zeros(args[n].shape) for i, n in enumerate(names) if i in wrt}
    exe = sym.bind(mx.cpu(), args, args_grad=grads, grad_req={n: "write" if n in grads else "null" for n in args},
                   aux_states=aux)
    outs = [o.asnumpy() for o in exe.forward(is_train=True)]
    head = rng.standard_normal(outs[0].shape)
    if wrt:
        exe.backward([mx.nd.array(head, dtype="float32")] +
                     [mx.nd.zeros(o.shape) for o in outs[1:]])
    return head, outs, [grads[names[i]].asnumpy() for i in wrt], [a.asnumpy() for a in aux.values()]


def main(out_dir):
    record, meta = {}, {}
    for name, (op, inputs, attrs, wrt) in CASES.items():
        head, outs, grads, aux = run(op, inputs, attrs, wrt)
        for i, x in enumerate(inputs.values()):
            record[f"{name}/in{i}"] = np.asarray(x).astype(np.float32)
        record[f"{name}/head"] = head.astype(np.float32)
        for i, o in enumerate(outs):
            record[f"{name}/out{i}"] = o
        for i, g in zip(wrt, grads):
            record[f"{name}/grad{i}"] = g
        for i, a in enumerate(aux):
            record[f"{name}/aux{i}"] = a
        meta[name] = {"op": op, "attrs": attrs, "inputs": len(inputs), "outputs": len(outs), "wrt": wrt,
                      "aux": len(aux)}
    record["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(os.path.join(out_dir, "mxnet_detect_refs.npz"), **record)


if __name__ == "__main__":
    main(sys.argv[1])
