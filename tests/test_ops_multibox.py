"""MultiBoxTarget and MultiBoxDetection (SSD's training targets and detections) against numpy
references written from MXNet's definitions, their zero gradients, an SSD head in a symbol
graph, IdentityAttachKLSparseReg against its formula, and the error messages. MXNet's own
outputs on the same inputs are checked in test_ops_mxnet_detect_refs.py."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd
from op_check import _attrs, forward
from test_ops_detection import prior_ref, zero_gradient_holds

rng = np.random.default_rng(53)
ANCHORS = prior_ref(3, 3, sizes=(0.4, 0.2), ratios=(1, 2))
N = ANCHORS.shape[1]


def labels():
    gt = np.full((2, 4, 5), -1.0)
    gt[0, :2] = [[0, 0.1, 0.1, 0.5, 0.45], [1, 0.5, 0.4, 0.9, 0.95]]
    gt[1, :3] = [[2, 0.0, 0.0, 0.3, 0.3], [0, 0.3, 0.5, 0.7, 0.9], [1, 0.6, 0.1, 0.95, 0.4]]
    return gt


def iou_matrix(anchors, gts):
    out = np.zeros((len(anchors), len(gts)))
    for j, a in enumerate(anchors):
        for k, g in enumerate(gts):
            inter = max(0, min(a[2], g[2]) - max(a[0], g[0])) * max(0, min(a[3], g[3]) - max(a[1], g[1]))
            union = (a[2] - a[0]) * (a[3] - a[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter
            out[j, k] = 0 if union == 0 else inter / union
    return out


def target_ref(anchors, label, cls_pred, overlap_threshold=0.5, ignore_label=-1.0, negative_mining_ratio=-1.0,
               negative_mining_thresh=0.5, variances=(0.1, 0.1, 0.2, 0.2)):
    a = anchors[0]
    n = len(a)
    loc, mask, cls = np.zeros((len(label), n * 4)), np.zeros((len(label), n * 4)), np.full((len(label), n), ignore_label)
    for b, lab in enumerate(label):
        gts = lab[:np.argmax(lab[:, 0] == -1)] if (lab[:, 0] == -1).any() else lab
        if len(gts) == 0:
            continue
        iou = iou_matrix(a, gts[:, 1:5])
        flag, match = np.full(n, -1), np.full(n, -1)
        best_iou = np.full(n, -1.0)
        free_gt = set(range(len(gts)))
        while free_gt:
            cand = [(iou[j, k], -j, -k) for j in range(n) if flag[j] != 1 for k in sorted(free_gt) if iou[j, k] > 1e-6]
            if not cand:
                break
            _, j, k = max(cand)
            j, k = -j, -k
            flag[j], match[j], best_iou[j] = 1, k, iou[j, k]
            free_gt.discard(k)
        positives = int((flag == 1).sum())
        for j in range(n):
            if flag[j] != 1 and overlap_threshold > 0:
                match[j], best_iou[j] = int(np.argmax(iou[j])), iou[j].max()
                if best_iou[j] > overlap_threshold:
                    flag[j] = 1
                    positives += 1
        if negative_mining_ratio > 0:
            want = min(int(positives * negative_mining_ratio), n - positives)
            p = cls_pred[b]
            e = np.exp(p - p.max(axis=0))
            bg = e[0] / e.sum(axis=0)
            cand = [j for j in range(n) if flag[j] != 1 and (iou[j].max() if best_iou[j] < 0 else best_iou[j])
                    < negative_mining_thresh]
            cand.sort(key=lambda j: bg[j])
            flag[cand[:max(want, 0)]] = 0
        else:
            flag[flag != 1] = 0
        for j in range(n):
            if flag[j] == 0:
                cls[b, j] = 0
            elif flag[j] == 1:
                g = gts[match[j]]
                cls[b, j] = g[0] + 1
                mask[b, 4 * j:4 * j + 4] = 1
                aw, ah = a[j, 2] - a[j, 0], a[j, 3] - a[j, 1]
                gw, gh = g[3] - g[1], g[4] - g[2]
                loc[b, 4 * j:4 * j + 4] = [((g[1] + g[3]) / 2 - (a[j, 0] + a[j, 2]) / 2) / aw / variances[0],
                                           ((g[2] + g[4]) / 2 - (a[j, 1] + a[j, 3]) / 2) / ah / variances[1],
                                           np.log(gw / aw) / variances[2], np.log(gh / ah) / variances[3]]
    return loc, mask, cls


@pytest.mark.parametrize("settings", [{}, {"overlap_threshold": 0.3, "ignore_label": -2},
                                      {"negative_mining_ratio": 2, "negative_mining_thresh": 0.4},
                                      {"overlap_threshold": 0, "variances": (0.2, 0.2, 0.1, 0.1)}])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_multibox_target_forward(settings, dtype):
    cls_pred = rng.uniform(-1, 1, (2, 4, N))
    got = forward("_contrib_MultiBoxTarget", [x.astype(dtype) for x in (ANCHORS, labels(), cls_pred)], **settings)
    want = target_ref(ANCHORS, labels(), cls_pred, **settings)
    for g, w, name in zip(got, want, ["loc_target", "loc_mask", "cls_target"]):
        assert g.dtype == np.dtype(dtype)
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=name)


def test_multibox_target_batch_without_ground_truth_is_ignored():
    gt = np.full((1, 2, 5), -1.0)
    loc, mask, cls = forward("_contrib_MultiBoxTarget", [ANCHORS, gt, np.zeros((1, 3, N))], ignore_label=-3)
    np.testing.assert_array_equal(loc, 0)
    np.testing.assert_array_equal(mask, 0)
    np.testing.assert_array_equal(cls, -3)


def test_multibox_target_output_names_and_zero_gradient():
    s = mx.sym.contrib.MultiBoxTarget(mx.sym.var("anchor"), mx.sym.var("label"), mx.sym.var("cls_pred"))
    outputs = s.list_outputs()
    assert len(outputs) == 3
    assert all(o.endswith("_" + n) for o, n in zip(outputs, ("loc_target", "loc_mask", "cls_target")))
    zero_gradient_holds("_contrib_MultiBoxTarget", [ANCHORS, labels(), rng.uniform(-1, 1, (2, 4, N))])


def detection_ref(cls_prob, loc_pred, anchors, clip=True, threshold=0.01, nms_threshold=0.5, force_suppress=False,
                  variances=(0.1, 0.1, 0.2, 0.2), nms_topk=-1):
    a = anchors[0]
    batch, classes, n = cls_prob.shape
    out = -np.ones((batch, n, 6))
    for b in range(batch):
        rows = []
        for i in range(n):
            k = 1 + int(np.argmax(cls_prob[b, 1:, i]))
            score = cls_prob[b, k, i]
            if score < threshold:
                continue
            p = loc_pred[b, 4 * i:4 * i + 4]
            aw, ah = a[i, 2] - a[i, 0], a[i, 3] - a[i, 1]
            cx, cy = p[0] * variances[0] * aw + (a[i, 0] + a[i, 2]) / 2, p[1] * variances[1] * ah + (a[i, 1] + a[i, 3]) / 2
            w, h = np.exp(p[2] * variances[2]) * aw / 2, np.exp(p[3] * variances[3]) * ah / 2
            box = np.array([cx - w, cy - h, cx + w, cy + h])
            rows.append(np.concatenate([[k - 1, score], np.clip(box, 0, 1) if clip else box]))
        if rows and 0 < nms_threshold <= 1:
            unsorted = [r.copy() for r in rows]
            rows.sort(key=lambda r: -r[1])
            keep = len(rows) if nms_topk <= 0 else min(nms_topk, len(rows))
            for i in range(keep, len(rows)):
                rows[i] = unsorted[i]
                rows[i][0] = -1
            for i in range(keep):
                for j in range(i + 1, keep):
                    if rows[i][0] >= 0 and rows[j][0] >= 0 and (force_suppress or rows[i][0] == rows[j][0]):
                        if iou_matrix(rows[i][None, 2:], rows[j][None, 2:])[0, 0] >= nms_threshold:
                            rows[j][0] = -1
        for i, r in enumerate(rows):
            out[b, i] = r
    return out


@pytest.mark.parametrize("settings", [{}, {"force_suppress": True, "nms_topk": 5, "threshold": 0.3, "nms_threshold": 0.3},
                                      {"clip": False, "nms_threshold": 0}])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_multibox_detection_forward(settings, dtype):
    logits = rng.uniform(-2, 2, (2, 4, N))
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    loc = rng.uniform(-0.5, 0.5, (2, N * 4))
    (got,) = forward("_contrib_MultiBoxDetection", [x.astype(dtype) for x in (prob, loc, ANCHORS)], **settings)
    np.testing.assert_allclose(got, detection_ref(prob, loc, ANCHORS, **settings), rtol=1e-5, atol=1e-6)


def test_multibox_detection_gradient_is_zero():
    prob = np.full((1, 3, N), 1 / 3)
    zero_gradient_holds("_contrib_MultiBoxDetection", [prob, np.zeros((1, N * 4)), ANCHORS])


def test_ssd_head_binds_and_detects_in_a_symbol_graph():
    data = mx.sym.Variable("data")
    anchors = mx.sym.contrib.MultiBoxPrior(data, sizes=(0.4, 0.2), ratios=(1, 2))
    cls = mx.sym.Convolution(data, num_filter=3 * 3, kernel=(3, 3), pad=(1, 1), name="cls")
    cls = mx.sym.reshape(mx.sym.transpose(cls, axes=(0, 2, 3, 1)), shape=(0, -1, 3))
    cls_prob = mx.sym.softmax(mx.sym.transpose(cls, axes=(0, 2, 1)), axis=1)
    loc = mx.sym.Flatten(mx.sym.transpose(mx.sym.Convolution(data, num_filter=4 * 3, kernel=(3, 3), pad=(1, 1),
                                                              name="loc"), axes=(0, 2, 3, 1)))
    det = mx.sym.contrib.MultiBoxDetection(cls_prob, loc, anchors)
    exe = det.simple_bind(mx.cpu(), data=(2, 4, 3, 3))
    for name, arr in exe.arg_dict.items():
        arr[:] = rng.uniform(-0.3, 0.3, arr.shape)
    out = exe.forward()[0].asnumpy()
    assert out.shape == (2, 27, 6)
    valid = out[out[..., 0] >= 0]
    assert len(valid) > 0 and (valid[:, 2:] >= 0).all() and (valid[:, 2:] <= 1).all()


# ---- IdentityAttachKLSparseReg -----------------------------------------------------------------

def kl_call(x, avg, head, req="write", initial=None, **attrs):
    arrays = [nd.array(x, dtype=x.dtype), nd.array(avg, dtype=avg.dtype)]
    outs = _native.invoke("IdentityAttachKLSparseReg", [a._h for a in arrays], _attrs(attrs), [], True, True)
    grad = nd.array(np.zeros_like(x) if initial is None else initial, dtype=x.dtype)
    _native.invoke_backward("IdentityAttachKLSparseReg", _attrs(attrs), [nd.array(head, dtype=x.dtype)._h], [a._h for a in arrays],
                            outs, [grad._h], [req], True)
    return nd.NDArray._wrap(outs[0], None).asnumpy(), grad.asnumpy(), arrays[1].asnumpy()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kl_sparse_reg_is_the_identity_with_a_penalty_on_the_moving_average(dtype):
    x = rng.uniform(0.05, 0.95, (6, 4)).astype(dtype)
    avg = rng.uniform(0.2, 0.6, 4).astype(dtype)
    head = rng.standard_normal((6, 4)).astype(dtype)
    attrs = {"sparseness_target": 0.2, "penalty": 0.1, "momentum": 0.7}
    y, grad, new_avg = kl_call(x, avg, head, **attrs)
    want_avg = 0.7 * avg + 0.3 * x.mean(axis=0)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_allclose(new_avg, want_avg, rtol=1e-6)
    np.testing.assert_allclose(grad, head + 0.1 * (-0.2 / want_avg + 0.8 / (1 - want_avg)), rtol=1e-5)
    _, added, _ = kl_call(x, avg, head, req="add", initial=np.ones_like(x), **attrs)
    np.testing.assert_allclose(added, grad + 1, rtol=1e-5)
    _, untouched, _ = kl_call(x, avg, head, req="null", initial=np.full_like(x, 3), **attrs)
    np.testing.assert_array_equal(untouched, 3)


def test_kl_sparse_reg_leaves_the_average_alone_outside_training():
    x, avg = rng.uniform(0, 1, (3, 2)), np.array([0.3, 0.4])
    handles = [nd.array(x, dtype=x.dtype), nd.array(avg, dtype=avg.dtype)]
    _native.invoke("IdentityAttachKLSparseReg", [a._h for a in handles], {}, [], False, True)
    np.testing.assert_array_equal(handles[1].asnumpy(), avg)


def test_kl_sparse_reg_in_a_symbol_graph_has_its_auxiliary_state():
    s = mx.sym.IdentityAttachKLSparseReg(mx.sym.Activation(mx.sym.var("data"), act_type="sigmoid"), name="reg")
    assert s.list_auxiliary_states() == ["reg_moving_avg"]
    _, _, aux_shapes = s.infer_shape(data=(5, 3))
    assert aux_shapes == [(3,)]


# ---- Errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,match", [
    (lambda: nd.contrib.MultiBoxTarget(nd.ones((2, 4, 4)), nd.ones((1, 2, 5)), nd.ones((1, 3, 4))),
     r"_contrib_MultiBoxTarget: anchor=an array of shape \(2, 4, 4\): expected shape \(1, anchors, 4\)"),
    (lambda: nd.contrib.MultiBoxTarget(nd.ones((1, 4, 4)), nd.ones((1, 2, 4)), nd.ones((1, 3, 4))),
     r"_contrib_MultiBoxTarget: label=an array of shape \(1, 2, 4\): expected shape \(batch, labels >= 1, width >= 5\)"),
    (lambda: nd.contrib.MultiBoxTarget(nd.ones((1, 4, 4)), nd.ones((1, 2, 5)), nd.ones((1, 3, 5))),
     r"_contrib_MultiBoxTarget: cls_pred=an array of shape \(1, 3, 5\): expected shape \(batch, classes, 4\)"),
    (lambda: nd.contrib.MultiBoxTarget(nd.ones((1, 4, 4)), nd.ones((1, 2, 5)), nd.ones((1, 3, 4)), variances=(1, 2)),
     r"_contrib_MultiBoxTarget: variances=.*: expected 4 variances"),
    (lambda: nd.contrib.MultiBoxDetection(nd.ones((1, 3, 5)), nd.ones((1, 16)), nd.ones((1, 4, 4))),
     r"_contrib_MultiBoxDetection: cls_prob=an array of shape \(1, 3, 5\): expected shape \(batch, classes, 4\)"),
    (lambda: nd.contrib.MultiBoxDetection(nd.ones((1, 3, 4)), nd.ones((1, 12)), nd.ones((1, 4, 4))),
     r"_contrib_MultiBoxDetection: loc_pred=shape \(1, 12\): expected shape \(1, 16\)"),
    (lambda: mx.sym.IdentityAttachKLSparseReg(mx.sym.var("data")).infer_shape(data=(2, 3, 4)),
     r"IdentityAttachKLSparseReg: data=an array of shape \(2, 3, 4\): expected 2 dimensions"),
    (lambda: mx.sym.IdentityAttachKLSparseReg(mx.sym.var("data"), momentum=1.5),
     r"IdentityAttachKLSparseReg: momentum=1.5: expected a number in \[0, 1\]"),
])
def test_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
