"""The box helpers of mx.nd.contrib: box_iou, box_nms, box_encode, box_decode,
bipartite_matching and MultiBoxPrior against numpy references written from MXNet's definitions,
box_nms's gradient against float64 finite differences, the zero gradients of the others under
write, add and null, and their error messages."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd
from op_check import _attrs, check_gradient, forward

rng = np.random.default_rng(41)


def corner_boxes(*lead):
    a = rng.uniform(0, 1, lead + (2,))
    b = rng.uniform(0, 1, lead + (2,))
    return np.concatenate([np.minimum(a, b), np.maximum(a, b) + 0.05], axis=-1)


def to_corner(b):
    return np.concatenate([b[..., :2] - b[..., 2:4] / 2, b[..., :2] + b[..., 2:4] / 2], axis=-1)


def to_center(b):
    return np.concatenate([(b[..., :2] + b[..., 2:4]) / 2, b[..., 2:4] - b[..., :2]], axis=-1)


def iou_pair(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    if inter <= 0:
        return 0.0
    area = lambda x: max(0.0, x[2] - x[0]) * max(0.0, x[3] - x[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def iou_ref(lhs, rhs, fmt="corner"):
    if fmt == "center":
        lhs, rhs = to_corner(lhs), to_corner(rhs)
    l2, r2 = lhs.reshape(-1, 4), rhs.reshape(-1, 4)
    out = np.array([[iou_pair(a, b) for b in r2] for a in l2])
    return out.reshape(lhs.shape[:-1] + rhs.shape[:-1])


def nms_ref(data, overlap_thresh=0.5, valid_thresh=0.0, topk=-1, coord_start=2, score_index=1, id_index=-1,
            background_id=-1, force_suppress=False, in_format="corner", out_format="corner"):
    """Greedy suppression per batch; returns the output and the input row of each output row."""
    shape = data.shape
    d = data.reshape((-1,) + shape[-2:])
    n, width = shape[-2:]
    out = -np.ones_like(d)
    rows = -np.ones(d.shape[:2], dtype=np.int64)
    for b in range(d.shape[0]):
        cand = [i for i in range(n) if d[b, i, score_index] > valid_thresh
                and (id_index < 0 or d[b, i, id_index] != background_id)]
        cand.sort(key=lambda i: -d[b, i, score_index])  # stable
        cand = cand[:n if topk < 0 else topk]
        boxes = d[b, :, coord_start:coord_start + 4]
        if in_format == "center":
            boxes = to_corner(boxes)
        kept = []
        for i in cand:
            if all(not (force_suppress or id_index < 0 or int(d[b, i, id_index]) == int(d[b, k, id_index]))
                   or iou_pair(boxes[k], boxes[i]) <= overlap_thresh for k in kept):
                kept.append(i)
        for j, i in enumerate(kept):
            out[b, j] = d[b, i]
            rows[b, j] = b * n + i
            if in_format != out_format and out[b, j, coord_start] >= 0:
                c = out[b, j, coord_start:coord_start + 4]
                out[b, j, coord_start:coord_start + 4] = to_center(c) if out_format == "center" else to_corner(c)
    return out.reshape(shape), rows.reshape(shape[:-1])


def nms_items(batch, n, classes=3):
    ids = rng.integers(0, classes, (batch, n, 1)).astype(np.float64)
    scores = rng.permutation(batch * n).reshape(batch, n, 1) / (batch * n) + 0.01
    centers = rng.uniform(0.2, 0.8, (batch, 3, 2))[:, rng.integers(0, 3, n)] + rng.normal(0, 0.05, (batch, n, 2))
    sizes = rng.uniform(0.1, 0.3, (batch, n, 2))
    return np.concatenate([ids, scores, centers - sizes / 2, centers + sizes / 2], axis=-1)


def zero_gradient_holds(op, inputs, **attrs):
    """The gradient of every argument is 0 under write, leaves the array under add, and is not
    touched under null."""
    arrays = [nd.array(x) for x in inputs]
    outs = _native.invoke(op, [a._h for a in arrays], _attrs(attrs), [], True, True)
    n_visible = len(_native.op_info(op, _attrs(attrs))["outputs"])
    heads = [nd.ones(nd.NDArray._wrap(h, None).shape) for h in outs[:n_visible]]
    for req, start, want in (("write", 5.0, 0.0), ("add", 5.0, 5.0), ("null", 7.0, 7.0)):
        grads = [nd.full(a.shape, start) for a in arrays]
        _native.invoke_backward(op, _attrs(attrs), [h._h for h in heads], [a._h for a in arrays], outs,
                                [g._h for g in grads], [req] * len(grads), True)
        for g in grads:
            np.testing.assert_array_equal(g.asnumpy(), want, err_msg=f"{op} under {req}")


# ---- box_iou -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["corner", "center"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_box_iou_forward(fmt, dtype):
    lhs, rhs = corner_boxes(2, 3), corner_boxes(4)
    if fmt == "center":
        lhs, rhs = to_center(lhs), to_center(rhs)
    (got,) = forward("_contrib_box_iou", [lhs.astype(dtype), rhs.astype(dtype)], format=fmt)
    assert got.shape == (2, 3, 4) and got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, iou_ref(lhs, rhs, fmt), rtol=1e-5, atol=1e-7)


def test_box_iou_mxnet_example():
    x = nd.array([[0.5, 0.5, 1.0, 1.0], [0.0, 0.0, 0.5, 0.5]])
    y = nd.array([[0.25, 0.25, 0.75, 0.75]])
    np.testing.assert_allclose(nd.contrib.box_iou(x, y, format="corner").asnumpy(), [[1 / 7], [1 / 7]], rtol=1e-6)


def test_box_iou_gradient_is_zero():
    zero_gradient_holds("_contrib_box_iou", [corner_boxes(3), corner_boxes(2)])


# ---- box_nms -----------------------------------------------------------------------------------

NMS_SETTINGS = [
    {},
    {"overlap_thresh": 0.3, "id_index": 0},
    {"overlap_thresh": 0.4, "id_index": 0, "background_id": 1, "topk": 5, "valid_thresh": 0.2},
    {"overlap_thresh": 0.2, "id_index": 0, "force_suppress": True},
    {"overlap_thresh": 0.3, "out_format": "center"},
    {"topk": 3},
]


@pytest.mark.parametrize("settings", NMS_SETTINGS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_box_nms_forward(settings, dtype):
    data = nms_items(2, 12)
    (got,) = forward("_contrib_box_nms", [data.astype(dtype)], **settings)
    want, _ = nms_ref(data, **settings)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_box_nms_center_input_and_other_layout():
    data = nms_items(1, 10)[..., [2, 3, 4, 5, 0, 1]]  # coordinates, id, score
    data[..., :4] = to_center(data[..., :4])
    settings = {"coord_start": 0, "id_index": 4, "score_index": 5, "in_format": "center", "overlap_thresh": 0.25}
    (got,) = forward("_contrib_box_nms", [data], **settings)
    np.testing.assert_allclose(got, nms_ref(data, **settings)[0], rtol=1e-12)


def test_box_nms_mxnet_example_and_its_gradient():
    x = np.array([[0, 0.5, 0.1, 0.1, 0.2, 0.2], [1, 0.4, 0.1, 0.1, 0.2, 0.2],
                  [0, 0.3, 0.1, 0.1, 0.14, 0.14], [2, 0.6, 0.5, 0.5, 0.7, 0.8]])
    attrs = {"overlap_thresh": 0.1, "coord_start": 2, "score_index": 1, "id_index": 0, "force_suppress": True}
    (got,) = forward("_contrib_box_nms", [x], **attrs)
    np.testing.assert_allclose(got, [x[3], x[0], -np.ones(6), -np.ones(6)])
    head = np.repeat([[0.1], [0.2], [0.3], [0.4]], 6, axis=1)
    grad = check_gradient("_contrib_box_nms", [x], head_grads=[head], **attrs)[0]
    np.testing.assert_allclose(grad, np.repeat([[0.2], [0], [0], [0.1]], 6, axis=1))


def test_box_nms_batches_over_leading_axes():
    data = nms_items(6, 8).reshape(2, 3, 8, 6)
    (got,) = forward("_contrib_box_nms", [data], overlap_thresh=0.3)
    np.testing.assert_allclose(got, nms_ref(data, overlap_thresh=0.3)[0], rtol=1e-12)


@pytest.mark.parametrize("settings", [{}, {"id_index": 0, "topk": 6}, {"topk": 0}, {"valid_thresh": 5.0}])
def test_box_nms_gradient(settings):
    check_gradient("_contrib_box_nms", [nms_items(2, 8)], **settings)


def test_box_nms_alias_computes_the_same():
    data = nms_items(2, 10)
    np.testing.assert_array_equal(forward("_contrib_box_non_maximum_suppression", [data], overlap_thresh=0.3)[0],
                                  forward("_contrib_box_nms", [data], overlap_thresh=0.3)[0])


# ---- box_encode / box_decode -------------------------------------------------------------------

def encode_ref(samples, matches, anchors, refs, means, stds):
    t = np.zeros(anchors.shape)
    for b in range(anchors.shape[0]):
        for i in range(anchors.shape[1]):
            if samples[b, i] <= 0.5:
                continue
            a, r = anchors[b, i], refs[b, int(matches[b, i])]
            aw, ah, rw, rh = a[2] - a[0], a[3] - a[1], r[2] - r[0], r[3] - r[1]
            t[b, i] = [(r[0] + rw / 2 - a[0] - aw / 2) / aw, (r[1] + rh / 2 - a[1] - ah / 2) / ah,
                       np.log(rw / aw), np.log(rh / ah)]
            t[b, i] = (t[b, i] - means) / stds
    mask = np.repeat((samples > 0.5)[..., None], 4, axis=-1).astype(float)
    return t, mask


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_box_encode_forward(dtype):
    inputs = [rng.choice([-1.0, 0.0, 1.0], (2, 5)), rng.integers(0, 3, (2, 5)).astype(float), corner_boxes(2, 5),
              corner_boxes(2, 3), np.array([0.1, -0.1, 0.0, 0.05]), np.array([0.1, 0.1, 0.2, 0.2])]
    targets, masks = forward("_contrib_box_encode", [x.astype(dtype) for x in inputs])
    want_t, want_m = encode_ref(*inputs)
    np.testing.assert_allclose(targets, want_t, rtol=2e-5 if dtype == "float32" else 1e-12, atol=1e-5)
    np.testing.assert_array_equal(masks, want_m)


def decode_ref(x, anchors, stds=(1, 1, 1, 1), clip=-1, fmt="center"):
    a = anchors[0] if fmt == "center" else to_center(anchors[0])
    d = x * np.array(stds)
    wh = d[..., 2:]
    if clip > 0:
        wh = np.minimum(wh, clip)
    center = d[..., :2] * a[:, 2:] + a[:, :2]
    size = np.exp(wh) * a[:, 2:]
    return np.concatenate([center - size / 2, center + size / 2], axis=-1)


@pytest.mark.parametrize("fmt,clip", [("center", -1), ("corner", -1), ("corner", 0.3), ("center", 0.5)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_box_decode_forward(fmt, clip, dtype):
    x = rng.uniform(-2, 2, (2, 5, 4))
    anchors = corner_boxes(1, 5)
    stds = (0.1, 0.2, 0.3, 0.4)
    (got,) = forward("_contrib_box_decode", [x.astype(dtype), anchors.astype(dtype)], std0=stds[0], std1=stds[1],
                     std2=stds[2], std3=stds[3], clip=clip, format=fmt)
    np.testing.assert_allclose(got, decode_ref(x, anchors, stds, clip, fmt), rtol=2e-5 if dtype == "float32" else 1e-12,
                               atol=1e-6)


def test_box_encode_and_decode_gradients_are_zero():
    zero_gradient_holds("_contrib_box_encode", [np.ones((1, 2)), np.zeros((1, 2)), corner_boxes(1, 2),
                                                corner_boxes(1, 1), np.zeros(4), np.ones(4)])
    zero_gradient_holds("_contrib_box_decode", [rng.uniform(-1, 1, (2, 3, 4)), corner_boxes(1, 3)])


def test_box_encode_refuses_a_match_outside_the_references():
    inputs = [nd.ones((1, 2)), nd.array([[0, 3]]), nd.array(corner_boxes(1, 2)), nd.array(corner_boxes(1, 2)),
              nd.zeros(4), nd.ones(4)]
    out = nd.contrib.box_encode(*inputs)
    with pytest.raises(mx.MXNetError, match=r"matches=3 for a positive sample: expected an index in \[0, 2\)"):
        out[0].asnumpy()


# ---- bipartite_matching ------------------------------------------------------------------------

def matching_ref(scores, threshold, is_ascend=False, topk=-1):
    rows_shape, (n, m) = scores.shape[:-2], scores.shape[-2:]
    s = scores.reshape(-1, n, m)
    rm, cm = -np.ones((s.shape[0], n)), -np.ones((s.shape[0], m))
    for b in range(s.shape[0]):
        flat = s[b].reshape(-1)
        order = sorted(range(n * m), key=lambda i: flat[i] if is_ascend else -flat[i])
        count = 0
        for i in order:
            r, c = divmod(i, m)
            if rm[b, r] != -1 or cm[b, c] != -1:
                continue
            if not (flat[i] < threshold if is_ascend else flat[i] > threshold):
                break
            rm[b, r], cm[b, c] = c, r
            count += 1
            if 0 < topk < count:
                break
    return rm.reshape(rows_shape + (n,)), cm.reshape(rows_shape + (m,))


@pytest.mark.parametrize("settings", [{"threshold": 0.1}, {"threshold": 0.7, "is_ascend": True},
                                      {"threshold": 0.0, "topk": 2}])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bipartite_matching_forward(settings, dtype):
    scores = rng.uniform(0, 1, (2, 5, 4))
    rows, cols = forward("_contrib_bipartite_matching", [scores.astype(dtype)], **settings)
    want_r, want_c = matching_ref(scores, **settings)
    np.testing.assert_array_equal(rows, want_r)
    np.testing.assert_array_equal(cols, want_c)


def test_bipartite_matching_mxnet_example():
    x, y = nd.contrib.bipartite_matching(nd.array([[0.5, 0.6], [0.1, 0.2], [0.3, 0.4]]), threshold=1e-12)
    np.testing.assert_array_equal(x.asnumpy(), [1, -1, 0])
    np.testing.assert_array_equal(y.asnumpy(), [2, 0])


def test_bipartite_matching_gradient_is_zero():
    zero_gradient_holds("_contrib_bipartite_matching", [rng.uniform(0, 1, (3, 4))], threshold=0.1)


# ---- MultiBoxPrior -----------------------------------------------------------------------------

def prior_ref(h, w, sizes=(1.0,), ratios=(1.0,), clip=False, steps=(-1, -1), offsets=(0.5, 0.5)):
    sy, sx = (1 / h, 1 / w) if steps[0] <= 0 else steps
    boxes = []
    for r in range(h):
        for c in range(w):
            cy, cx = (r + offsets[0]) * sy, (c + offsets[1]) * sx
            shapes = [(s, ratios[0]) for s in sizes] + [(sizes[0], q) for q in ratios[1:]]
            for s, q in shapes:
                bw, bh = s * h / w * np.sqrt(q) / 2, s / np.sqrt(q) / 2
                boxes.append([cx - bw, cy - bh, cx + bw, cy + bh])
    out = np.array(boxes)[None]
    return np.clip(out, 0, 1) if clip else out


@pytest.mark.parametrize("settings", [{}, {"sizes": (0.5, 0.25, 0.1), "ratios": (1, 2, 0.5), "clip": True},
                                      {"sizes": (0.3,), "ratios": (1, 3), "steps": (0.2, 0.1), "offsets": (0.3, 0.7)}])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_multibox_prior_forward(settings, dtype):
    (got,) = forward("_contrib_MultiBoxPrior", [np.zeros((2, 3, 4, 5), dtype=dtype)], **settings)
    want = prior_ref(4, 5, **settings)
    assert got.shape == want.shape and got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_multibox_prior_gradient_is_zero():
    zero_gradient_holds("_contrib_MultiBoxPrior", [np.ones((1, 2, 3, 3))], sizes=(0.5, 0.2))


def test_multibox_prior_in_a_symbol_graph():
    data = mx.sym.Variable("data")
    anchors = mx.sym.contrib.MultiBoxPrior(data, sizes=(0.4, 0.2), ratios=(1, 2))
    _, out_shapes, _ = anchors.infer_shape(data=(1, 8, 3, 3))
    assert out_shapes == [(1, 27, 4)]


# ---- Errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,match", [
    (lambda: nd.contrib.box_iou(nd.ones((3, 5)), nd.ones((2, 4))),
     r"_contrib_box_iou: lhs=an array of shape \(3, 5\): expected a last dimension of 4 box coordinates"),
    (lambda: nd.contrib.box_iou(nd.ones((4,)), nd.ones((2, 4))),
     r"_contrib_box_iou: lhs=an array of shape \(4,\): expected at least 2 dimensions"),
    (lambda: nd.contrib.box_iou(nd.ones((1, 4)), nd.ones((2, 4)), format="xywh"),
     r"_contrib_box_iou: format='xywh': expected one of 'center', 'corner'"),
    (lambda: nd.contrib.box_nms(nd.ones((3, 4))),
     r"_contrib_box_nms: data=box items of width 4: expected at least 5 elements"),
    (lambda: nd.contrib.box_nms(nd.ones((3, 6)), id_index=0, score_index=0),
     r"_contrib_box_nms: id_index=0: expected an index other than score_index"),
    (lambda: nd.contrib.box_nms(nd.ones((3, 6)), score_index=3),
     r"_contrib_box_nms: score_index=3: expected an index outside the coordinates \[2, 5\]"),
    (lambda: nd.contrib.box_nms(nd.ones((3, 6)), coord_start=3),
     r"_contrib_box_nms: coord_start=3: expected coordinates \[3, 6\] inside box items of width 6"),
    (lambda: nd.contrib.box_nms(nd.ones((6,))),
     r"_contrib_box_nms: data=an array of shape \(6,\): expected at least 2 dimensions"),
    (lambda: nd.contrib.box_nms(nd.ones((3, 6)), in_format="xyxy"),
     r"_contrib_box_nms: in_format='xyxy': expected one of 'center', 'corner'"),
    (lambda: nd.contrib.box_decode(nd.ones((2, 3, 4)), nd.ones((1, 2, 4))),
     r"_contrib_box_decode: anchors=shape \(1, 2, 4\): expected shape \(1, 3, 4\)"),
    (lambda: nd.contrib.box_decode(nd.ones((2, 3)), nd.ones((1, 3, 4))),
     r"_contrib_box_decode: data=an array of shape \(2, 3\): expected 3 dimensions"),
    (lambda: nd.contrib.box_encode(nd.ones((2, 3)), nd.ones((2, 3)), nd.ones((2, 3, 4)), nd.ones((1, 2, 4)),
                                   nd.ones(4), nd.ones(4)),
     r"_contrib_box_encode: refs=an array of shape \(1, 2, 4\): expected the batch size of anchors, 2"),
    (lambda: nd.contrib.box_encode(nd.ones((2, 3)), nd.ones((2, 3)), nd.ones((2, 3, 4)), nd.ones((2, 2, 4)),
                                   nd.ones(3), nd.ones(4)),
     r"_contrib_box_encode: means=shape \(3,\): expected shape \(4,\)"),
    (lambda: nd.contrib.bipartite_matching(nd.ones((3, 4))),
     r"_contrib_bipartite_matching: threshold=\(missing\): expected a number"),
    (lambda: nd.contrib.bipartite_matching(nd.ones((4,)), threshold=0.1),
     r"_contrib_bipartite_matching: data=an array of shape \(4,\): expected at least 2 dimensions"),
    (lambda: nd.contrib.MultiBoxPrior(nd.ones((1, 3, 4))),
     r"_contrib_MultiBoxPrior: data=an array of shape \(1, 3, 4\): expected 4 dimensions"),
    (lambda: nd.contrib.MultiBoxPrior(nd.ones((1, 3, 4, 4)), steps=(0.1,)),
     r"_contrib_MultiBoxPrior: steps='\(0.1,\)': expected two steps"),
    (lambda: nd.contrib.MultiBoxPrior(nd.ones((1, 3, 4, 4)), offsets=(0.5, 1.5)),
     r"_contrib_MultiBoxPrior: offsets='\(0.5, 1.5\)': expected two offsets \(offset_y, offset_x\) in \[0, 1\]"),
    (lambda: nd.contrib.MultiBoxPrior(nd.ones((1, 3, 4, 4)), sizes="(0.5, x)"),
     r"_contrib_MultiBoxPrior: sizes='\(0.5, x\)': expected a tuple of numbers"),
    (lambda: nd.contrib.MultiBoxPrior(nd.ones((1, 3, 4, 4)), ratios=(1, -2)),
     r"_contrib_MultiBoxPrior: ratios='\(1, -2\)': expected ratios > 0"),
])
def test_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
