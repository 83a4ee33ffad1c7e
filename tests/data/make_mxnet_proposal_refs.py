"""Writes mxnet_proposal_refs.npz, which tests/test_ops_proposal.py reads: for each case, the
inputs (cls_prob, bbox_pred, im_info) and MXNet 1.9.1's float32 outputs (rows and scores) of
contrib.Proposal and contrib.MultiProposal.

    /path/to/mxnet-1.9.1/bin/python tests/data/make_mxnet_proposal_refs.py tests/data
"""
import json
import os
import sys

import mxnet as mx
import numpy as np

rng = np.random.RandomState(5)


def inputs(batch, anchors, h, w, im, spread=0.3):
    logits = rng.standard_normal((batch, 2, anchors, h, w))
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    cls_prob = prob.reshape(batch, 2 * anchors, h, w)
    bbox_pred = rng.uniform(-spread, spread, (batch, 4 * anchors, h, w))
    im_info = np.array(im, dtype=np.float64).reshape(batch, 3)
    return {"cls_prob": cls_prob, "bbox_pred": bbox_pred, "im_info": im_info}


CASES = {
    "proposal_default": ("_contrib_Proposal", inputs(1, 12, 5, 6, [[80, 96, 1.0]]),
                         {"rpn_pre_nms_top_n": 100, "rpn_post_nms_top_n": 20, "output_score": True}),
    "proposal_padded_small": ("_contrib_Proposal", inputs(1, 6, 6, 6, [[40, 30, 0.5]]),
                              {"scales": (2, 4), "ratios": (0.5, 1, 2), "feature_stride": 8, "rpn_min_size": 12,
                               "threshold": 0.5, "rpn_pre_nms_top_n": -1, "rpn_post_nms_top_n": 60,
                               "output_score": True}),
    "proposal_iou_loss": ("_contrib_Proposal", inputs(1, 3, 4, 4, [[64, 64, 1.0]], spread=4.0),
                          {"scales": (8,), "ratios": (0.5, 1, 2), "iou_loss": True, "rpn_post_nms_top_n": 10,
                           "rpn_min_size": 4, "output_score": True}),
    "proposal_few_kept": ("_contrib_Proposal", inputs(1, 2, 3, 3, [[48, 48, 1.0]]),
                          {"scales": (2, 4), "ratios": (1,), "threshold": 0.1, "rpn_post_nms_top_n": 16,
                           "rpn_min_size": 1}),
    "multi_default": ("_contrib_MultiProposal", inputs(3, 12, 4, 5, [[64, 80, 1.0], [50, 60, 1.5], [64, 40, 0.8]]),
                      {"rpn_pre_nms_top_n": 80, "rpn_post_nms_top_n": 15, "output_score": True}),
    "multi_iou": ("_contrib_MultiProposal", inputs(2, 4, 5, 5, [[40, 40, 1.0], [32, 40, 1.0]], spread=3.0),
                  {"scales": (1, 2), "ratios": (1, 2), "feature_stride": 8, "iou_loss": True, "threshold": 0.6,
                   "rpn_post_nms_top_n": 12, "rpn_min_size": 2, "output_score": True}),
}


def main(out_dir):
    record, meta = {}, {}
    for name, (op, ins, attrs) in CASES.items():
        fn = getattr(mx.nd.contrib, op[len("_contrib_"):])
        outs = fn(*[mx.nd.array(x, dtype="float32") for x in ins.values()], **attrs)
        outs = outs if isinstance(outs, list) else [outs]
        for i, x in enumerate(ins.values()):
            record[f"{name}/in{i}"] = x.astype(np.float32)
        for i, o in enumerate(outs):
            record[f"{name}/out{i}"] = o.asnumpy()
        meta[name] = {"op": op, "attrs": attrs, "outputs": len(outs)}
    record["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(os.path.join(out_dir, "mxnet_proposal_refs.npz"), **record)


if __name__ == "__main__":
    main(sys.argv[1])
