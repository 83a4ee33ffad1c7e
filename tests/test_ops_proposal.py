"""contrib.Proposal and contrib.MultiProposal (the region proposal layer): forward against a
numpy reference written from MXNet's definition (anchors, decoding, clipping, the size filter,
top-N, NMS, cyclic filling), float32 and float64, MXNet 1.9.1's recorded outputs, the zero
gradients under write, add and null, and the refusals of bad attributes and shapes."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd
from op_check import _attrs, forward

rng = np.random.default_rng(29)
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
REFS = np.load(os.path.join(DATA, "mxnet_proposal_refs.npz"))
META = json.loads(str(REFS["meta"]))


def anchors_ref(stride, scales, ratios):
    out = []
    w = h = float(stride)
    cx = cy = 0.5 * (w - 1)
    for r in ratios:
        for s in scales:
            nw = math.floor(math.sqrt(math.floor(w * h / r)) + 0.5) * s
            nh = math.floor(nw / s * r + 0.5) * s
            out.append([cx - 0.5 * (nw - 1), cy - 0.5 * (nh - 1), cx + 0.5 * (nw - 1), cy + 0.5 * (nh - 1)])
    return np.array(out)


def proposal_ref(cls_prob, bbox_pred, im_info, rpn_pre_nms_top_n=6000, rpn_post_nms_top_n=300, threshold=0.7,
                 rpn_min_size=16, scales=(4, 8, 16, 32), ratios=(0.5, 1, 2), feature_stride=16, iou_loss=False,
                 output_score=False):
    N, _, H, W = cls_prob.shape
    base = anchors_ref(feature_stride, scales, ratios)
    A = len(base)
    rows, scores = [], []
    for b in range(N):
        boxes = []
        ih, iw, sc = im_info[b]
        real_h, real_w = int(ih / feature_stride), int(iw / feature_stride)
        min_size = rpn_min_size * sc
        for h in range(H):
            for w in range(W):
                for k in range(A):
                    x1, y1, x2, y2 = base[k] + [w * feature_stride, h * feature_stride] * 2
                    d = bbox_pred[b, 4 * k:4 * k + 4, h, w]
                    if iou_loss:
                        p = [x1 + d[0], y1 + d[1], x2 + d[2], y2 + d[3]]
                    else:
                        bw, bh = x2 - x1 + 1, y2 - y1 + 1
                        cx, cy = x1 + 0.5 * (bw - 1) + d[0] * bw, y1 + 0.5 * (bh - 1) + d[1] * bh
                        pw, ph = np.exp(d[2]) * bw, np.exp(d[3]) * bh
                        p = [cx - 0.5 * (pw - 1), cy - 0.5 * (ph - 1), cx + 0.5 * (pw - 1), cy + 0.5 * (ph - 1)]
                    p = [min(max(p[0], 0), iw - 1), min(max(p[1], 0), ih - 1), min(max(p[2], 0), iw - 1),
                         min(max(p[3], 0), ih - 1)]
                    score = -1.0 if h >= real_h or w >= real_w else cls_prob[b, A + k, h, w]
                    if p[2] - p[0] + 1 < min_size or p[3] - p[1] + 1 < min_size:
                        p = [p[0] - min_size / 2, p[1] - min_size / 2, p[2] + min_size / 2, p[3] + min_size / 2]
                        score = -1.0
                    boxes.append(p + [score])
        boxes = np.array(boxes)
        count = len(boxes)
        pre = min(rpn_pre_nms_top_n if rpn_pre_nms_top_n > 0 else count, count)
        order = sorted(range(count), key=lambda i: -boxes[i, 4])[:pre]
        limit = min(rpn_post_nms_top_n, pre)
        area = lambda q: (q[2] - q[0] + 1) * (q[3] - q[1] + 1)  # noqa: E731
        keep, gone = [], set()
        for i in range(pre):
            if len(keep) >= limit:
                break
            if i in gone:
                continue
            keep.append(i)
            bi = boxes[order[i]]
            for j in range(i + 1, pre):
                bj = boxes[order[j]]
                iw_ = max(0, min(bi[2], bj[2]) - max(bi[0], bj[0]) + 1)
                ih_ = max(0, min(bi[3], bj[3]) - max(bi[1], bj[1]) + 1)
                inter = iw_ * ih_
                if inter / (area(bi) + area(bj) - inter) > threshold:
                    gone.add(j)
        for i in range(rpn_post_nms_top_n):
            box = boxes[order[keep[i % len(keep)]]]
            rows.append([b] + list(box[:4]))
            scores.append([box[4]])
    return np.array(rows), np.array(scores)


def make_inputs(batch, anchors, h, w, im, spread=0.3):
    logits = rng.standard_normal((batch, 2, anchors, h, w))
    prob = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).reshape(batch, 2 * anchors, h, w)
    return [prob, rng.uniform(-spread, spread, (batch, 4 * anchors, h, w)), np.array(im, dtype=np.float64)]


CONFIGS = [
    ("_contrib_Proposal", (1, 12, 4, 5, [[64, 80, 1.0]]), dict(rpn_pre_nms_top_n=60, rpn_post_nms_top_n=12)),
    ("_contrib_Proposal", (1, 4, 6, 6, [[40, 30, 0.5]]),
     dict(scales=(2, 4), ratios=(1, 2), feature_stride=8, rpn_min_size=12, threshold=0.5, rpn_pre_nms_top_n=-1,
          rpn_post_nms_top_n=40)),
    ("_contrib_MultiProposal", (2, 3, 4, 4, [[64, 64, 1.0], [50, 40, 1.2]], 3.0),
     dict(scales=(8,), iou_loss=True, rpn_post_nms_top_n=10, rpn_min_size=4)),
    ("_contrib_MultiProposal", (3, 2, 3, 3, [[48, 48, 1.0], [40, 48, 1.0], [48, 30, 2.0]]),
     dict(scales=(2, 4), ratios=(1,), threshold=0.1, rpn_post_nms_top_n=16, rpn_min_size=1)),
]


@pytest.mark.parametrize("cfg", range(len(CONFIGS)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_numpy(cfg, dtype):
    op, shape, attrs = CONFIGS[cfg]
    ins = [x.astype(dtype) for x in make_inputs(*shape)]
    rows, scores = forward(op, ins, output_score=True, **attrs)
    assert rows.dtype == dtype
    ref_rows, ref_scores = proposal_ref(*[x.astype(np.float64) for x in ins], **attrs)
    tol = 1e-4 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(rows, ref_rows, rtol=tol, atol=tol)
    np.testing.assert_allclose(scores, ref_scores, rtol=tol, atol=tol)
    only = forward(op, ins, **attrs)
    assert len(only) == 1
    np.testing.assert_array_equal(only[0], rows)


@pytest.mark.parametrize("case", sorted(META))
def test_matches_mxnet(case):
    m = META[case]
    fn = getattr(mx.nd.contrib, m["op"][len("_contrib_"):])
    outs = fn(*[nd.array(REFS[f"{case}/in{i}"], dtype="float32") for i in range(3)], **m["attrs"])
    outs = outs if isinstance(outs, list) else [outs]
    assert len(outs) == m["outputs"]
    for i, o in enumerate(outs):
        np.testing.assert_allclose(o.asnumpy(), REFS[f"{case}/out{i}"], rtol=1e-5, atol=1e-4,
                                   err_msg=f"{case}: output {i}")


@pytest.mark.parametrize("req", ["write", "add", "null"])
def test_gradients_are_zero(req):
    ins = [nd.array(x) for x in make_inputs(1, 12, 3, 3, [[48, 48, 1.0]])]
    attrs = _attrs(dict(rpn_post_nms_top_n=5))
    outs = _native.invoke("_contrib_Proposal", [a._h for a in ins], attrs, [], True, True)
    head = nd.ones((5, 5))
    grads = [nd.ones(a.shape) for a in ins]
    _native.invoke_backward("_contrib_Proposal", attrs, [head._h], [a._h for a in ins], outs,
                            [g._h for g in grads], [req] * 3, True)
    expected = {"write": 0.0, "add": 1.0, "null": 1.0}[req]
    for g in grads:
        np.testing.assert_array_equal(g.asnumpy(), expected)


def test_symbol_shapes_and_outputs():
    s = mx.sym.contrib.MultiProposal(mx.sym.var("c"), mx.sym.var("b"), mx.sym.var("i"), rpn_post_nms_top_n=7,
                                     output_score=True)
    assert s.list_outputs()[-1].endswith("score") and len(s.list_outputs()) == 2
    args, outs, _ = s.infer_shape(c=(3, 24, 4, 5))
    assert args == [(3, 24, 4, 5), (3, 48, 4, 5), (3, 3)] and outs == [(21, 5), (21, 1)]
    args, outs, _ = s.infer_shape(b=(2, 48, 4, 5))
    assert args[0] == (2, 24, 4, 5) and outs[0] == (14, 5)


@pytest.mark.parametrize("attrs, arg", [
    (dict(rpn_post_nms_top_n=0), "rpn_post_nms_top_n"),
    (dict(scales=()), "scales"),
    (dict(ratios=(1, -2)), "ratios"),
    (dict(feature_stride=0), "feature_stride"),
    (dict(rpn_min_size=-1), "rpn_min_size"),
    (dict(bogus=1), "bogus"),
])
def test_bad_attributes_are_refused(attrs, arg):
    ins = [nd.array(x) for x in make_inputs(1, 12, 3, 3, [[48, 48, 1.0]])]
    with pytest.raises(mx.MXNetError, match=f"{arg}="):
        mx.nd.contrib.Proposal(*ins, **attrs)


def test_bad_shapes_are_refused():
    c, b, i = [nd.array(x) for x in make_inputs(2, 12, 3, 3, [[48, 48, 1.0], [48, 48, 1.0]])]
    with pytest.raises(mx.MXNetError, match="cls_prob=.*a batch of 1"):
        mx.nd.contrib.Proposal(c, b, i)
    with pytest.raises(mx.MXNetError, match=r"cls_prob=an array of shape \(2, 24, 3, 3\).*= 18 channels"):
        mx.nd.contrib.MultiProposal(c, b, i, scales=(1, 2, 3))
    with pytest.raises(mx.MXNetError, match="bbox_pred="):
        mx.nd.contrib.MultiProposal(c, nd.zeros((2, 47, 3, 3)), i)
    with pytest.raises(mx.MXNetError, match="im_info="):
        mx.nd.contrib.MultiProposal(c, b, nd.zeros((2, 4)))
    with pytest.raises(mx.MXNetError, match="feature map of at least"):
        mx.nd.contrib.MultiProposal(c, b, nd.array([[480, 48, 1.0], [48, 48, 1.0]])).asnumpy()
