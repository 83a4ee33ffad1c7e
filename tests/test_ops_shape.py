"""Shape, indexing and sequence operators against numpy references, their gradients against
float64 finite differences, and their argument errors (MXNet 1.9 legacy semantics)."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd
from flowmod.ndarray.ndarray import infer_reshape
from op_check import _attrs, check_gradient, forward, info

rng = np.random.default_rng(42)

ALL_DTYPES = [np.float32, np.float64, np.float16, np.uint8, np.int8, np.int32, np.int64, np.bool_]
NUMERIC_DTYPES = [d for d in ALL_DTYPES if d is not np.bool_]


def rand(shape, dtype=np.float64):
    if np.dtype(dtype) == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(0, 100, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def raises(match):
    """The MXNetError whose message matches ``match``."""
    return pytest.raises(mx.MXNetError, match=match)


def sliced(x):
    """An NDArray holding ``x`` that is a view into a larger array (its data starts at an
    offset), as ``big[1:-1]`` gives."""
    pad = np.zeros((1,) + x.shape[1:], dtype=x.dtype)
    big = nd.array(np.concatenate([pad, x, pad]), dtype=x.dtype)
    return big[1:1 + x.shape[0]]


def invoke(op, inputs, **attrs):
    """The operator's outputs as numpy arrays, the inputs keeping their types (op_check's
    forward() reads a ``dtype`` keyword itself)."""
    outs = nd.invoke(op, [nd.array(x, dtype=x.dtype) for x in inputs], **attrs)
    return [o.asnumpy() for o in (outs if isinstance(outs, list) else [outs])]


# ---- Reshape ---------------------------------------------------------------------------------

# MXNet's documented examples for the special values.
RESHAPE_DOCS = [
    ((2, 3, 4), (4, 0, 2), False, (4, 3, 2)),
    ((2, 3, 4), (2, 0, 0), False, (2, 3, 4)),
    ((2, 3, 4), (6, 1, -1), False, (6, 1, 4)),
    ((2, 3, 4), (3, -1, 8), False, (3, 1, 8)),
    ((2, 3, 4), (-1,), False, (24,)),
    ((2, 3, 4), (-2,), False, (2, 3, 4)),
    ((2, 3, 4), (2, -2), False, (2, 3, 4)),
    ((2, 3, 4), (-2, 1, 1), False, (2, 3, 4, 1, 1)),
    ((2, 3, 4), (-3, 4), False, (6, 4)),
    ((2, 3, 4, 5), (-3, -3), False, (6, 20)),
    ((2, 3, 4), (0, -3), False, (2, 12)),
    ((2, 3, 4), (-3, -2), False, (6, 4)),
    ((2, 3, 4), (-4, 1, 2, -2), False, (1, 2, 3, 4)),
    ((2, 3, 4), (2, -4, -1, 3, -2), False, (2, 1, 3, 4)),
    ((10, 5, 4), (-1, 0), False, (40, 5)),
    ((10, 5, 4), (-1, 0), True, (50, 4)),
]


@pytest.mark.parametrize("op", ["Reshape", "reshape"])
@pytest.mark.parametrize("src,target,reverse,expected", RESHAPE_DOCS)
def test_reshape_documented_examples(op, src, target, reverse, expected):
    x = rand(src)
    (y,) = forward(op, [x], shape=target, reverse=reverse)
    assert y.shape == expected
    assert infer_reshape(src, target, reverse) == expected
    np.testing.assert_array_equal(y, x.reshape(expected))


@pytest.mark.parametrize("src,target,reverse", [
    ((1, 3, 1), (0, -1), False), ((1, 3, 1), (-1,), True), ((1, 6), (-4, 1, -1, 0), False),
    ((4, 1, 6), (0, 0, -4, 2, 3), False), ((2, 3, 4), (-2, -1), False), ((2, 3, 4), (0, -3), True),
    ((3, 4, 5), (-3, 0), True), ((3, 4, 5), (0, -1), True), ((1,), (1, 1, -1), False),
    ((2, 3, 4), (-4, 2, -1, 0, 0), False), ((6, 5), (-4, 2, 3, 0), True),
    ((6, 5), (-4, -1, 3, 0), True),
])
def test_reshape_agrees_with_infer_reshape(src, target, reverse):
    x = rand(src, np.float32)
    expected = infer_reshape(src, target, reverse)
    (y,) = forward("Reshape", [x], shape=target, reverse=reverse)
    assert y.shape == expected
    np.testing.assert_array_equal(y, x.reshape(expected))


def test_reshape_reverse_split_reads_left_to_right():
    # With reverse, -4 still splits into its two parts in the order written.
    (y,) = forward("Reshape", [rand((6, 5))], shape=(-4, 2, 3, 0), reverse=True)
    assert y.shape == (2, 3, 5)


def test_reshape_attribute_forms_and_all_dtypes():
    for dtype in ALL_DTYPES:
        x = rand((2, 3, 4), dtype)
        (y,) = forward("Reshape", [x], shape="(0, -1)")
        np.testing.assert_array_equal(y, x.reshape(2, 12))
    (y,) = forward("Reshape", [rand((2, 3, 4))], shape="[-1, 4]", reverse="True")
    assert y.shape == (6, 4)
    y = nd.Reshape(sliced(rand((3, 2, 2))), shape=(-1,))
    assert y.shape == (12,)


@pytest.mark.parametrize("attrs,match", [
    (dict(shape=(5, 5)), r"Reshape: shape=\(5, 5\): expected a shape for data of shape \(2, 3, 4\)"),
    (dict(shape=(-1, -1)), r"Reshape: shape=\(-1, -1\): .*at most one -1"),
    (dict(shape=(0, 0, 0, 0)), r"Reshape: shape=\(0, 0, 0, 0\): .*no input dimension left"),
    (dict(shape=(-3, -3)), r"Reshape: shape=\(-3, -3\): .*-3 needs two input dimensions"),
    (dict(shape=(-4, 5, -1, 0, 0)), r"Reshape: shape=.*: .*-4 cannot split dimension 2 into \(5, -1\)"),
    (dict(shape=(-4, 2)), r"Reshape: shape=\(-4, 2\): .*followed by the two dimensions"),
    (dict(shape=(-5,)), r"Reshape: shape=\(-5,\): .*-5 is neither a dimension"),
    (dict(shape=()), r"Reshape: shape='\(\)': expected a non-empty target shape"),
    (dict(), r"Reshape: shape=\(missing\)"),
    (dict(target_shape=(6, 4)), r"Reshape: target_shape='\(6, 4\)': expected no target_shape"),
    (dict(shape=(6, 4), keep_highest=True), r"Reshape: keep_highest='True'"),
    (dict(shape=(6, 4), shapes=(1,)), r"Reshape: shapes='\(1,\)': expected an attribute of Reshape"),
])
def test_reshape_bad_arguments(attrs, match):
    with raises(match):
        nd.Reshape(nd.ones((2, 3, 4)), **attrs)


def test_reshape_and_flatten_gradients():
    check_gradient("Reshape", [rand((2, 3, 2))], shape=(-1, 0))
    check_gradient("Flatten", [rand((2, 3, 2))])
    check_gradient("flatten", [rand((1, 4))])


# ---- Flatten, transpose, expand_dims, squeeze ------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 3, 4), (5,), (1, 1), (1, 3, 1, 2), (3, 0, 2)])
def test_flatten(shape):
    x = rand(shape, np.float32)
    for op in ("Flatten", "flatten"):
        (y,) = forward(op, [x])
        np.testing.assert_array_equal(y, x.reshape(shape[0], -1))
    np.testing.assert_array_equal(nd.Flatten(sliced(x)).asnumpy(), x.reshape(shape[0], -1))


@pytest.mark.parametrize("shape,axes", [
    ((2, 3, 4), None), ((2, 3, 4), (1, 0, 2)), ((2, 3, 4), (2, 0, 1)), ((2, 3, 4), (-1, 0, -2)),
    ((1, 5), (1, 0)), ((4,), None), ((2, 1, 3, 1, 2), (4, 2, 0, 3, 1)), ((1, 2, 3, 2, 1, 2, 1), None),
])
def test_transpose(shape, axes):
    for dtype in (np.float32, np.float16, np.int64, np.bool_):
        x = rand(shape, dtype)
        (y,) = forward("transpose", [x], axes=axes)
        np.testing.assert_array_equal(y, np.transpose(x, axes))
    x = rand(shape)
    np.testing.assert_array_equal(nd.transpose(sliced(x), axes=axes).asnumpy(), np.transpose(x, axes))
    check_gradient("transpose", [rand(shape)], axes=axes)


def test_transpose_attribute_string_and_errors():
    x = rand((2, 3, 4))
    (y,) = forward("transpose", [x], axes="(1, 0, 2)")
    np.testing.assert_array_equal(y, x.transpose(1, 0, 2))
    with raises(r"transpose: axes=\(0, 0, 1\): expected a permutation of the 3 axes"):
        nd.transpose(nd.ones((2, 3, 4)), axes=(0, 0, 1))
    with raises(r"transpose: axes=\(1, 0\): expected a permutation of the 3 axes"):
        nd.transpose(nd.ones((2, 3, 4)), axes=(1, 0))
    with raises(r"transpose: axes=\(0, 1, 3\)"):
        nd.transpose(nd.ones((2, 3, 4)), axes=(0, 1, 3))


@pytest.mark.parametrize("axis", [-4, -3, -2, -1, 0, 1, 2, 3])
def test_expand_dims(axis):
    x = rand((2, 1, 3))
    (y,) = forward("expand_dims", [x], axis=axis)
    np.testing.assert_array_equal(y, np.expand_dims(x, axis))
    check_gradient("expand_dims", [rand((2, 1, 3))], axis=axis)


def test_expand_dims_errors():
    for axis in (4, -5):
        with raises(rf"expand_dims: axis={axis}: expected an axis in \[-4, 3\]"):
            nd.expand_dims(nd.ones((2, 1, 3)), axis=axis)
    with raises(r"expand_dims: axis=\(missing\)"):
        nd.expand_dims(nd.ones((2,)))


@pytest.mark.parametrize("shape,axis,expected", [
    ((2, 1, 3, 1), None, (2, 3)), ((2, 1, 3, 1), (1,), (2, 3, 1)), ((2, 1, 3, 1), (-1, 1), (2, 3)),
    ((1, 1, 1), None, (1,)), ((1, 4), 0, (4,)), ((3,), None, (3,)), ((1, 1), "(0, 1)", (1,)),
])
def test_squeeze(shape, axis, expected):
    x = rand(shape)
    (y,) = forward("squeeze", [x], axis=axis)
    assert y.shape == expected
    np.testing.assert_array_equal(y, x.reshape(expected))
    check_gradient("squeeze", [x], axis=axis)


def test_squeeze_errors():
    x = nd.ones((2, 1, 3))
    with raises(r"squeeze: axis=\(0,\): expected axes of size 1, but axis 0 .* has size 2"):
        nd.squeeze(x, axis=0)
    with raises(r"squeeze: axis=\(3,\): expected axes in \[-3, 3\)"):
        nd.squeeze(x, axis=3)
    with raises(r"squeeze: axis=\(1, -2\): expected distinct axes"):
        nd.squeeze(x, axis=(1, -2))


# ---- Concat, stack, SliceChannel -----------------------------------------------------------

@pytest.mark.parametrize("shapes,dim", [
    ([(2, 3), (2, 1), (2, 4)], 1), ([(1, 3), (4, 3)], 0), ([(2, 3, 4), (2, 3, 1)], -1),
    ([(1, 2, 1)], 1), ([(2, 0, 2), (2, 3, 2)], 1), ([(3,), (2,)], 0),
])
def test_concat(shapes, dim):
    for dtype in (np.float64, np.int32, np.bool_):
        xs = [rand(s, dtype) for s in shapes]
        for op in ("Concat", "concat"):
            (y,) = forward(op, xs, num_args=len(xs), dim=dim)
            np.testing.assert_array_equal(y, np.concatenate(xs, axis=dim))
    xs = [rand(s) for s in shapes]
    y = nd.Concat(*[sliced(x) for x in xs], dim=dim)  # num_args filled in by the front end
    np.testing.assert_array_equal(y.asnumpy(), np.concatenate(xs, axis=dim))
    check_gradient("Concat", xs, num_args=len(xs), dim=dim)


def test_concat_default_dim_inputs_and_errors():
    a, b = rand((2, 3)), rand((2, 2))
    y = nd.concat(nd.array(a, dtype=a.dtype), nd.array(b, dtype=b.dtype))
    np.testing.assert_array_equal(y.asnumpy(), np.concatenate([a, b], 1))
    assert info("Concat", num_args=3)["arguments"] == ["arg0", "arg1", "arg2"]
    assert _native.op_key_var_num_args("Concat") == "num_args"
    with raises(r"Concat: arg1=an array of shape \(3, 2\): expected the shape of "
                                             r"arg0, \(2, 3\), except along dim=1"):
        nd.Concat(nd.ones((2, 3)), nd.ones((3, 2)))
    with raises(r"Concat: arg1=an array of shape \(2, 3, 1\)"):
        nd.Concat(nd.ones((2, 3)), nd.ones((2, 3, 1)), dim=0)
    with raises(r"Concat: dim=2: expected an axis in \[-2, 2\)"):
        nd.Concat(nd.ones((2, 3)), nd.ones((2, 3)), dim=2)
    with raises(r"Concat: arg1=an array of type int32: expected float32"):
        nd.Concat(nd.ones((2, 3)), nd.ones((2, 3), dtype="int32"))
    with raises(r"Concat: num_args=0: expected at least 1"):
        nd.invoke("Concat", [], num_args=0)
    with raises(r"Concat: inputs=2 arrays: expected 3"):
        nd.invoke("Concat", [nd.ones((1,)), nd.ones((1,))], num_args=3)


@pytest.mark.parametrize("shape,axis", [((2, 3), 0), ((2, 3), 1), ((2, 3), 2), ((2, 3), -1), ((1,), 0),
                                        ((1, 4, 1), -3)])
def test_stack(shape, axis):
    xs = [rand(shape) for _ in range(3)]
    (y,) = forward("stack", xs, num_args=3, axis=axis)
    np.testing.assert_array_equal(y, np.stack(xs, axis=axis))
    np.testing.assert_array_equal(nd.stack(*[sliced(x) for x in xs], axis=axis).asnumpy(), np.stack(xs, axis))
    check_gradient("stack", xs, num_args=3, axis=axis)
    (y,) = forward("stack", [x.astype(np.int8) for x in xs], num_args=3, axis=axis)
    np.testing.assert_array_equal(y, np.stack([x.astype(np.int8) for x in xs], axis=axis))


def test_stack_errors():
    with raises(r"stack: arg1=an array of shape \(3, 2\): expected the shape of arg0, \(2, 3\)"):
        nd.stack(nd.ones((2, 3)), nd.ones((3, 2)))
    with raises(r"stack: axis=3: expected an axis in \[-3, 3\)"):
        nd.stack(nd.ones((2, 3)), nd.ones((2, 3)), axis=3)
    assert info("stack", num_args=2)["arguments"] == ["arg0", "arg1"]


@pytest.mark.parametrize("op", ["SliceChannel", "split"])
@pytest.mark.parametrize("shape,n,axis,squeeze", [
    ((2, 6), 3, 1, False), ((4, 3), 2, 0, False), ((2, 3, 4), 3, -2, True), ((1, 2), 2, 1, True),
    ((3, 1, 2), 1, 1, False), ((5,), 5, 0, False),
])
def test_slice_channel(op, shape, n, axis, squeeze):
    x = rand(shape)
    outs = forward(op, [x], num_outputs=n, axis=axis, squeeze_axis=squeeze)
    expected = np.split(x, n, axis=axis)
    if squeeze:
        expected = [np.squeeze(e, axis=axis) for e in expected]
    assert len(outs) == n
    for y, e in zip(outs, expected):
        np.testing.assert_array_equal(y, e)
    assert info(op, num_outputs=n)["outputs"] == [f"output{i}" for i in range(n)]
    check_gradient(op, [x], num_outputs=n, axis=axis, squeeze_axis=squeeze)


def test_slice_channel_frontend_and_errors():
    x = rand((2, 4, 3))
    ys = nd.split(sliced(x), num_outputs=2)
    assert isinstance(ys, list) and [y.shape for y in ys] == [(2, 2, 3)] * 2
    np.testing.assert_array_equal(ys[1].asnumpy(), x[:, 2:])
    with raises(r"SliceChannel: num_outputs=3: expected a divisor of 4, the size of axis 1"):
        nd.SliceChannel(nd.ones((2, 4)), num_outputs=3)
    with raises(r"split: squeeze_axis=True: expected False, or num_outputs equal to 4"):
        nd.split(nd.ones((2, 4)), num_outputs=2, squeeze_axis=True)
    with raises(r"SliceChannel: axis=2: expected an axis in \[-2, 2\)"):
        nd.SliceChannel(nd.ones((2, 4)), num_outputs=2, axis=2)
    with raises(r"SliceChannel: num_outputs=\(missing\)"):
        nd.SliceChannel(nd.ones((2, 4)))


# ---- slice, slice_axis -----------------------------------------------------------------------

SLICES = [
    ((4, 5), (1, 0), (3, 5), None),
    ((4, 5), (None, 1), (None, -1), None),
    ((4, 5), (-3,), (None,), None),
    ((4, 5), (None, None), (None, None), (-1, 2)),
    ((4, 5), (3, 4), (0, 0), (-2, -1)),
    ((4, 5), (10, -10), (20, 20), (None, 3)),
    ((4, 5), (-100, 2), (100, 2), None),
    ((4, 5, 2), (0, None, 1), (1, None, 2), (1, -2, None)),
    ((1, 3, 1), (0, 1), (1, None), None),
    ((6,), (5,), (None,), (-2,)),
    ((6,), (2,), (1,), None),
]


@pytest.mark.parametrize("shape,begin,end,step", SLICES)
def test_slice_matches_python_slicing(shape, begin, end, step):
    x = rand(shape)
    key = tuple(slice(b, e, s) for b, e, s in zip(begin, end, step or [None] * len(begin)))
    for dtype in (np.float64, np.float16, np.uint8):
        (y,) = forward("slice", [x.astype(dtype)], begin=begin, end=end, step=step)
        np.testing.assert_array_equal(y, x.astype(dtype)[key])
    np.testing.assert_array_equal(nd.slice(sliced(x), begin=begin, end=end, step=step).asnumpy(), x[key])
    if x[key].size:
        check_gradient("slice", [x], begin=begin, end=end, step=step)


def test_slice_attribute_strings_and_errors():
    x = rand((3, 4))
    (y,) = forward("slice", [x], begin="(None, 1)", end="[2, None]", step="(1, 2)")
    np.testing.assert_array_equal(y, x[:2, 1::2])
    with raises(r"slice: step=\(1, 0\): expected non-zero steps"):
        nd.slice(nd.ones((3, 4)), begin=(0, 0), end=(2, 2), step=(1, 0))
    with raises(r"slice: end=\(2,\): expected 2 entries, as many as begin"):
        nd.slice(nd.ones((3, 4)), begin=(0, 0), end=(2,))
    with raises(r"slice: begin=\(0, 0, 0\): expected at most 2 entries for data of shape \(3, 4\)"):
        nd.slice(nd.ones((3, 4)), begin=(0, 0, 0), end=(1, 1, 1))
    with raises(r"slice: begin='\(0, x\)': expected a tuple of integers or None"):
        nd.slice(nd.ones((3, 4)), begin="(0, x)", end=(1, 1))
    with raises(r"slice: end=\(missing\)"):
        nd.slice(nd.ones((3, 4)), begin=(0,))


@pytest.mark.parametrize("shape,axis,begin,end", [
    ((4, 5), 0, 1, 3), ((4, 5), 1, -3, None), ((4, 5), -1, 0, -1), ((2, 3, 4), 1, 2, 3),
    ((1, 3, 1), 2, 0, 1), ((5,), 0, -5, 5),
])
def test_slice_axis(shape, axis, begin, end):
    x = rand(shape)
    (y,) = forward("slice_axis", [x], axis=axis, begin=begin, end=end)
    key = [slice(None)] * len(shape)
    key[axis] = slice(begin, end)
    np.testing.assert_array_equal(y, x[tuple(key)])
    check_gradient("slice_axis", [x], axis=axis, begin=begin, end=end)


def test_slice_axis_errors():
    x = nd.ones((4, 5))
    with raises(r"slice_axis: end=6: expected an index in \[-5, 5\] for axis 1"):
        nd.slice_axis(x, axis=1, begin=0, end=6)
    with raises(r"slice_axis: begin=3: expected an index before end=2"):
        nd.slice_axis(x, axis=0, begin=3, end=2)
    with raises(r"slice_axis: axis=2: expected an axis in \[-2, 2\)"):
        nd.slice_axis(x, axis=2, begin=0, end=1)


# ---- tile, repeat, flip ----------------------------------------------------------------------

@pytest.mark.parametrize("shape,reps", [((2, 3), (2, 1)), ((2, 3), (3,)), ((3,), (2, 2)),
                                        ((1, 2, 1), (1, 3, 2)), ((2, 2), ()), ((2, 3), (2, 0))])
def test_tile(shape, reps):
    x = rand(shape)
    for dtype in (np.float64, np.int32, np.bool_):
        (y,) = forward("tile", [x.astype(dtype)], reps=reps)
        np.testing.assert_array_equal(y, np.tile(x.astype(dtype), reps))
    np.testing.assert_array_equal(nd.tile(sliced(x), reps=reps).asnumpy(), np.tile(x, reps))
    check_gradient("tile", [x], reps=reps)


@pytest.mark.parametrize("shape,repeats,axis", [((2, 3), 2, None), ((2, 3), 3, 0), ((2, 3), 2, -1),
                                                ((1, 2, 1), 4, 2), ((3,), 1, 0), ((2, 2), 0, 1)])
def test_repeat(shape, repeats, axis):
    x = rand(shape)
    (y,) = forward("repeat", [x], repeats=repeats, axis=axis)
    expected = np.zeros((0,)) if repeats == 0 else np.repeat(x, repeats, axis=axis)
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(nd.repeat(sliced(x), repeats=repeats, axis=axis).asnumpy(), expected)
    check_gradient("repeat", [x], repeats=repeats, axis=axis)


def test_tile_repeat_errors():
    with raises(r"tile: reps=\(2, -1\): expected non-negative repetition counts"):
        nd.tile(nd.ones((2,)), reps=(2, -1))
    with raises(r"repeat: repeats=-1: expected a non-negative integer"):
        nd.repeat(nd.ones((2,)), repeats=-1)
    with raises(r"repeat: axis=2: expected an axis in \[-2, 2\)"):
        nd.repeat(nd.ones((2, 3)), repeats=2, axis=2)


@pytest.mark.parametrize("op", ["flip", "reverse"])
@pytest.mark.parametrize("shape,axis", [((2, 3), 0), ((2, 3), (0, 1)), ((2, 3, 4), -1), ((1, 4, 1), (1, 2)),
                                        ((3, 2), (1, 1))])
def test_flip(op, shape, axis):
    x = rand(shape)
    axes = (axis,) if isinstance(axis, int) else axis
    expected = x
    for a in axes:
        expected = np.flip(expected, a)
    for dtype in (np.float64, np.int64, np.bool_):
        (y,) = forward(op, [x.astype(dtype)], axis=axis)
        np.testing.assert_array_equal(y, expected.astype(dtype))
    np.testing.assert_array_equal(getattr(nd, op)(sliced(x), axis=axis).asnumpy(), expected)
    check_gradient(op, [x], axis=axis)


def test_flip_errors():
    with raises(r"reverse: axis=\(2,\): expected axes in \[-2, 2\) for data of shape \(2, 3\)"):
        nd.reverse(nd.ones((2, 3)), axis=2)
    with raises(r"flip: axis=\(missing\)"):
        nd.flip(nd.ones((2, 3)))


# ---- Cast, clip ----------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["Cast", "cast"])
@pytest.mark.parametrize("src", ALL_DTYPES)
def test_cast(op, src):
    x = np.array([[0, 1.7, -2.5], [3, 0.25, 100]])
    x = (x > 0) if np.dtype(src) == np.bool_ else (np.abs(x) if np.dtype(src).kind == "u" else x).astype(src)
    for dst in ALL_DTYPES:
        (y,) = invoke(op, [x], dtype=np.dtype(dst).name)
        assert y.dtype == np.dtype(dst)
        np.testing.assert_array_equal(y, x.astype(dst))


def _backward(op, inputs, outputs, head, req="write", initial=None, **attrs):
    grads = [nd.array(initial[i] if initial else np.zeros(x.shape), dtype=x.dtype)
             for i, x in enumerate(inputs)]
    arrays = [nd.array(x, dtype=x.dtype) for x in inputs]
    _native.invoke_backward(op, _attrs(attrs), [nd.array(h, dtype=h.dtype)._h for h in head],
                            [a._h for a in arrays], [nd.array(o, dtype=o.dtype)._h for o in outputs],
                            [g._h for g in grads], [req] * len(inputs), True)
    return [g.asnumpy() for g in grads]


def test_cast_gradient_converts_back():
    check_gradient("Cast", [rand((2, 3))], dtype="float64")
    x = rand((2, 3))
    head = rand((2, 3)).astype(np.float32)
    (g,) = _backward("Cast", [x], [x.astype(np.float32)], [head], dtype="float32")
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, head.astype(np.float64))
    (g,) = _backward("Cast", [x], [x.astype(np.float32)], [head], req="add", initial=[np.ones((2, 3))],
                     dtype="float32")
    np.testing.assert_array_equal(g, head.astype(np.float64) + 1)


def test_cast_errors():
    with raises(r"Cast: dtype='float128': expected one of 'float32'"):
        nd.Cast(nd.ones((2,)), dtype="float128")
    with raises(r"Cast: dtype=\(missing\)"):
        nd.Cast(nd.ones((2,)))


@pytest.mark.parametrize("dtype", NUMERIC_DTYPES)
def test_clip(dtype):
    x = (rng.standard_normal((3, 4)) * 40 + 50).astype(dtype)
    (y,) = forward("clip", [x], a_min=20.5, a_max=70)
    lo, hi = np.float32(20.5), np.float32(70)
    expected = np.where(x > hi, hi.astype(dtype), np.where(x < lo, lo.astype(dtype), x))
    np.testing.assert_array_equal(y, expected)


def test_clip_gradient_and_errors():
    x = rng.uniform(-2, 2, (3, 4))
    x[np.abs(np.abs(x) - 1) < 0.05] = 0.5  # keep finite differences away from the kinks
    check_gradient("clip", [x], a_min=-1, a_max=1)
    # At the bounds themselves the gradient passes, as in MXNet.
    b = np.array([-1.0, 1.0, 2.0, -3.0])
    (g,) = _backward("clip", [b], [np.clip(b, -1, 1)], [np.ones(4)], a_min=-1, a_max=1)
    np.testing.assert_array_equal(g, [1, 1, 0, 0])
    (y,) = forward("clip", [x], a_min="-0.5", a_max="0.5")
    np.testing.assert_allclose(y, np.clip(x, -0.5, 0.5))
    with raises(r"clip: a_max=\(missing\): expected a number"):
        nd.clip(nd.ones((2,)), a_min=0)
    with raises(r"clip: a_min='low': expected a number"):
        nd.clip(nd.ones((2,)), a_min="low", a_max=1)
    with raises(r"clip: data=an array of type bool"):
        nd.clip(nd.ones((2,), dtype="bool"), a_min=0, a_max=1)


# ---- take, Embedding, one_hot, pick, where ---------------------------------------------------

def take_reference(a, idx, axis, mode):
    n = a.shape[axis]
    i = idx.astype(np.int64)
    i = np.clip(i, 0, n - 1) if mode == "clip" else np.mod(i, n)
    return np.take(a, i, axis=axis)


@pytest.mark.parametrize("mode", ["clip", "wrap"])
@pytest.mark.parametrize("shape,idx,axis", [
    ((5, 3), [[0, 4], [7, -1]], 0), ((5, 3), [2, -4, 3], 1), ((2, 3, 4), [3, 0, 0, 9], -1),
    ((1, 4), [0], 0), ((4,), [[1], [2]], 0), ((2, 1, 3), [0, 0], 1),
])
def test_take(mode, shape, idx, axis):
    a = rand(shape)
    idx = np.array(idx)
    for itype in (np.int32, np.int64, np.float32, np.float64):
        (y,) = forward("take", [a, idx.astype(itype)], axis=axis, mode=mode)
        np.testing.assert_array_equal(y, take_reference(a, idx, axis, mode))
    (y,) = forward("take", [a.astype(np.bool_), idx.astype(np.int32)], axis=axis, mode=mode)
    np.testing.assert_array_equal(y, take_reference(a.astype(np.bool_), idx, axis, mode))
    y = nd.take(sliced(a), nd.array(idx, dtype="int64"), axis=axis, mode=mode)
    np.testing.assert_array_equal(y.asnumpy(), take_reference(a, idx, axis, mode))
    # Repeated indices accumulate into a's gradient; indices get zero.
    grads = check_gradient("take", [a, idx.astype(np.float64)], wrt=[0], axis=axis, mode=mode)
    assert grads[0].shape == a.shape


def test_take_float_indices_truncate_and_raise_mode():
    a = rand((4, 2))
    (y,) = forward("take", [a, np.array([1.9, -0.5, 3.2])], mode="raise")
    np.testing.assert_array_equal(y, a[[1, 0, 3]])
    (y,) = forward("take", [a, np.array([2, 0])], mode="'raise'")
    np.testing.assert_array_equal(y, a[[2, 0]])


def test_take_raise_fails_at_wait_time_naming_the_op():
    y = nd.take(nd.ones((3, 2)), nd.array([0, 5], dtype="int32"), mode="raise")
    with raises(r"take.*index 5 .*out of range \[0, 3\)") as e:
        y.asnumpy()
    assert e.value.op_name == "take"
    y = nd.take(nd.ones((3, 2)), nd.array([-1]), axis=0, mode="raise")
    with raises(r"take.*index -1"):
        y.wait_to_read()


def test_take_errors():
    with raises(r"take: mode='nearest': expected one of 'clip', 'wrap', 'raise'"):
        nd.take(nd.ones((3,)), nd.ones((2,)), mode="nearest")
    with raises(r"take: axis=2: expected an axis in \[-2, 2\)"):
        nd.take(nd.ones((3, 2)), nd.ones((2,)), axis=2)
    with raises(r"take: a=an array of shape \(0, 2\): expected a non-empty axis 0"):
        nd.take(nd.ones((0, 2)), nd.ones((2,)))


@pytest.mark.parametrize("data_shape", [(2, 3), (4,), (1, 1)])
def test_embedding(data_shape):
    weight = rand((5, 3))
    data = rng.integers(-2, 8, data_shape).astype(np.float32)
    (y,) = invoke("Embedding", [data, weight], input_dim=5, output_dim=3, dtype="float64")
    np.testing.assert_array_equal(y, weight[np.clip(data.astype(np.int64), 0, 4)])
    check_gradient("Embedding", [data, weight], wrt=[1], input_dim=5, output_dim=3, dtype="float64")
    (y,) = forward("Embedding", [data.astype(np.int32), weight.astype(np.float32)], input_dim=5, output_dim=3)
    assert y.dtype == np.float32 and y.shape == data_shape + (3,)


def test_embedding_weight_gradient_accumulates_rows():
    data = np.array([1, 1, 3, 1], dtype=np.int32)
    head = np.ones((4, 2))
    (gd, gw) = _backward("Embedding", [data, np.zeros((4, 2))], [np.zeros((4, 2))], [head],
                         input_dim=4, output_dim=2, dtype="float64")
    np.testing.assert_array_equal(gw, [[0, 0], [3, 3], [0, 0], [1, 1]])
    assert not gd.any()
    w16 = rand((4, 2), np.float16)
    (_, gw) = _backward("Embedding", [data, w16], [w16[data]], [np.ones((4, 2), np.float16)],
                        input_dim=4, output_dim=2, dtype="float16")
    assert gw.dtype == np.float16 and gw[1, 0] == 3


def test_embedding_errors():
    with raises(r"Embedding: weight=shape \(5, 4\): expected shape \(5, 3\)"):
        nd.Embedding(nd.ones((2,)), nd.ones((5, 4)), input_dim=5, output_dim=3)
    with raises(r"Embedding: sparse_grad=.?maybe.?: expected True or False"):
        nd.Embedding(nd.ones((2,)), nd.ones((5, 3)), input_dim=5, output_dim=3,
                     sparse_grad="maybe")
    with raises(r"Embedding: input_dim=0: expected at least 1"):
        nd.Embedding(nd.ones((2,)), nd.ones((5, 3)), input_dim=0, output_dim=3)
    with raises(r"Embedding: weight=an array of type bool: expected one of float32"):
        nd.Embedding(nd.ones((2,)), nd.ones((5, 3), dtype="bool"), input_dim=5, output_dim=3)
    with raises(r"Embedding: out=an array of type float32: expected float64"):
        nd.invoke("Embedding", [nd.ones((2,)), nd.ones((5, 3), dtype="float64")], out=nd.ones((2, 3)),
                  input_dim=5, output_dim=3)


@pytest.mark.parametrize("shape", [(4,), (2, 3), (1, 1)])
def test_one_hot(shape):
    idx = rng.integers(-1, 6, shape)
    for itype in (np.int32, np.float32, np.int64):
        for dtype in ("float32", "int32", "float64"):
            (y,) = invoke("one_hot", [idx.astype(itype)], depth=5, on_value=3, off_value=-1, dtype=dtype)
            expected = np.where(np.arange(5) == idx[..., None], 3, -1).astype(dtype)
            np.testing.assert_array_equal(y, expected)
            assert y.dtype == np.dtype(dtype)
    (y,) = forward("one_hot", [idx.astype(np.int32)], depth=5)
    assert y.dtype == np.float32 and y.shape == shape + (5,)
    (g,) = _backward("one_hot", [idx.astype(np.float64)], [y], [np.ones(y.shape, np.float32)], depth=5,
                     initial=[np.ones(shape)])
    assert not g.any()
    with raises(r"one_hot: depth=-1: expected a non-negative integer"):
        nd.one_hot(nd.ones((2,)), depth=-1)
    with raises(r"one_hot: dtype='bool': expected one of float32, float64, float16, uint8, int8, int32"):
        nd.one_hot(nd.ones((2,)), depth=2, dtype="bool")


def pick_reference(data, index, axis, keepdims, mode):
    n = data.shape[axis]
    i = index.astype(np.int64)
    i = np.clip(i, 0, n - 1) if mode == "clip" else np.mod(i, n)
    kept = list(data.shape)
    kept[axis] = 1
    return np.take_along_axis(data, i.reshape(kept), axis=axis).reshape(index.shape)


@pytest.mark.parametrize("mode", ["clip", "wrap"])
@pytest.mark.parametrize("shape,axis,keepdims", [((3, 4), -1, False), ((3, 4), 0, False),
                                                 ((2, 3, 4), 1, True), ((5,), 0, False), ((1, 3), 1, True),
                                                 ((2, 1, 2), 1, False)])
def test_pick(mode, shape, axis, keepdims):
    data = rand(shape)
    out_shape = list(shape)
    if keepdims:
        out_shape[axis] = 1
    else:
        del out_shape[axis]
    out_shape = tuple(out_shape) or (1,)
    index = rng.integers(-2, shape[axis] + 2, out_shape).astype(np.float32)
    kwargs = dict(axis=axis, keepdims=keepdims, mode=mode)
    (y,) = forward("pick", [data, index], **kwargs)
    np.testing.assert_array_equal(y, pick_reference(data, index, axis, keepdims, mode))
    y = nd.pick(sliced(data), nd.array(index, dtype="int32"), **kwargs)
    np.testing.assert_array_equal(y.asnumpy(), pick_reference(data, index, axis, keepdims, mode))
    check_gradient("pick", [data, index.astype(np.float64)], wrt=[0], **kwargs)


def test_pick_errors():
    with raises(r"pick: index=shape \(2,\): expected shape \(3,\)"):
        nd.pick(nd.ones((3, 4)), nd.ones((2,)))
    with raises(r"pick: mode='raise': expected one of 'clip', 'wrap'"):
        nd.pick(nd.ones((3, 4)), nd.ones((3,)), mode="raise")
    with raises(r"pick: axis=None: expected an integer axis"):
        nd.invoke("pick", [nd.ones((3, 4)), nd.ones((3,))], axis="None")
    with raises(r"pick: axis=2: expected an axis in \[-2, 2\)"):
        nd.pick(nd.ones((3, 4)), nd.ones((3,)), axis=2)


@pytest.mark.parametrize("shape,cond_shape", [((2, 3), (2, 3)), ((2, 3), (2,)), ((4,), (4,)),
                                              ((1, 2, 2), (1,)), ((3, 1), (3, 1))])
def test_where(shape, cond_shape):
    cond = rng.integers(0, 2, cond_shape)
    x, y = rand(shape), rand(shape)
    expected = np.where(cond.reshape(cond_shape + (1,) * (len(shape) - len(cond_shape))) != 0, x, y)
    for ctype in (np.float32, np.int32, np.bool_):
        (out,) = forward("where", [cond.astype(ctype), x, y])
        np.testing.assert_array_equal(out, expected)
    (out,) = forward("where", [cond.astype(np.float32), x.astype(np.int8), y.astype(np.int8)])
    np.testing.assert_array_equal(out, expected.astype(np.int8))
    out = nd.where(sliced(cond.astype(np.float64)), sliced(x), sliced(y))
    np.testing.assert_array_equal(out.asnumpy(), expected)
    grads = check_gradient("where", [cond.astype(np.float64), x, y], wrt=[1, 2])
    (gc, _, _) = _backward("where", [cond.astype(np.float64), x, y], [expected], [np.ones(shape)],
                           initial=[np.ones(cond_shape), np.zeros(shape), np.zeros(shape)])
    assert not gc.any() and grads[1].shape == shape


def test_where_errors():
    with raises(r"where: y=an array of shape \(2, 4\): expected the shape of x, \(2, 3\)"):
        nd.where(nd.ones((2, 3)), nd.ones((2, 3)), nd.ones((2, 4)))
    with raises(r"where: condition=an array of shape \(3,\): expected the shape of x, "
                                             r"\(2, 3\), or \(2,\)"):
        nd.where(nd.ones((3,)), nd.ones((2, 3)), nd.ones((2, 3)))
    with raises(r"where: y=an array of type int32: expected float32, the type of x"):
        nd.where(nd.ones((2,)), nd.ones((2,)), nd.ones((2,), dtype="int32"))


# ---- SequenceMask, SequenceLast, SequenceReverse ---------------------------------------------

def seq_view(data, axis):
    """data as (max_len, batch, ...)."""
    return data if axis == 0 else np.swapaxes(data, 0, 1)


def mask_reference(data, lengths, axis, value):
    out = seq_view(data, axis).copy()
    for b, n in enumerate(lengths):
        out[int(n):, b] = value
    return seq_view(out, axis)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("shape", [(4, 3, 2), (3, 1), (1, 2, 2, 1)])
def test_sequence_mask(axis, shape):
    data = rand(shape)
    batch = shape[1 - axis]
    lengths = rng.integers(0, shape[axis] + 2, batch).astype(np.float32)
    (y,) = forward("SequenceMask", [data, lengths], use_sequence_length=True, value=-7, axis=axis)
    np.testing.assert_array_equal(y, mask_reference(data, lengths, axis, -7))
    (y,) = forward("SequenceMask", [data], axis=axis)
    np.testing.assert_array_equal(y, data)
    (y,) = forward("SequenceMask", [data.astype(np.int32), lengths.astype(np.int64)],
                   use_sequence_length=True, value=2, axis=axis)
    np.testing.assert_array_equal(y, mask_reference(data.astype(np.int32), lengths, axis, 2))
    check_gradient("SequenceMask", [data, lengths.astype(np.float64)], wrt=[0], use_sequence_length=True,
                   value=1.5, axis=axis)
    check_gradient("SequenceMask", [data], axis=axis)
    # sequence_length gets a zero gradient.
    (_, gl) = _backward("SequenceMask", [data, lengths.astype(np.float64)], [data], [np.ones(shape)],
                        initial=[np.ones(shape), np.ones(batch)], use_sequence_length=True, axis=axis)
    assert not gl.any()


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("shape", [(4, 3, 2), (3, 1), (1, 2, 2)])
def test_sequence_last(axis, shape):
    data = rand(shape)
    batch = shape[1 - axis]
    lengths = rng.integers(1, shape[axis] + 1, batch)
    view = seq_view(data, axis)
    (y,) = forward("SequenceLast", [data, lengths.astype(np.int32)], use_sequence_length=True, axis=axis)
    np.testing.assert_array_equal(y, np.stack([view[n - 1, b] for b, n in enumerate(lengths)]))
    (y,) = forward("SequenceLast", [data], axis=axis)
    np.testing.assert_array_equal(y, view[-1])
    y = nd.SequenceLast(sliced(data), nd.array(lengths), use_sequence_length=True, axis=axis)
    np.testing.assert_array_equal(y.asnumpy(), np.stack([view[n - 1, b] for b, n in enumerate(lengths)]))
    check_gradient("SequenceLast", [data, lengths.astype(np.float64)], wrt=[0], use_sequence_length=True,
                   axis=axis)
    check_gradient("SequenceLast", [data], axis=axis)


@pytest.mark.parametrize("shape", [(4, 3, 2), (3, 1), (1, 2)])
def test_sequence_reverse(shape):
    data = rand(shape)
    lengths = rng.integers(0, shape[0] + 1, shape[1])
    expected = data.copy()
    for b, n in enumerate(lengths):
        expected[:n, b] = data[:n, b][::-1]
    (y,) = forward("SequenceReverse", [data, lengths.astype(np.float32)], use_sequence_length=True)
    np.testing.assert_array_equal(y, expected)
    (y,) = forward("SequenceReverse", [data.astype(np.int64)])
    np.testing.assert_array_equal(y, data.astype(np.int64)[::-1])
    check_gradient("SequenceReverse", [data, lengths.astype(np.float64)], wrt=[0], use_sequence_length=True)
    check_gradient("SequenceReverse", [data])


def test_sequence_inputs_and_errors():
    assert info("SequenceMask")["arguments"] == ["data"]
    assert info("SequenceMask", use_sequence_length=True)["arguments"] == ["data", "sequence_length"]
    assert info("SequenceLast", use_sequence_length="True")["arguments"] == ["data", "sequence_length"]
    assert info("SequenceReverse")["arguments"] == ["data"]
    with raises(r"SequenceMask: sequence_length=shape \(2,\): expected shape \(3,\)"):
        nd.SequenceMask(nd.ones((4, 3)), nd.ones((2,)), use_sequence_length=True)
    with raises(r"SequenceLast: axis=2: expected 0 or 1"):
        nd.SequenceLast(nd.ones((4, 3)), axis=2)
    with raises(r"SequenceReverse: axis=1: expected 0"):
        nd.SequenceReverse(nd.ones((4, 3)), axis=1)
    with raises(r"SequenceMask: data=an array of shape \(4,\): expected an array of rank 2"):
        nd.SequenceMask(nd.ones((4,)))
    with raises(r"SequenceMask: inputs=1 arrays: expected 2 \(data, sequence_length\)"):
        nd.SequenceMask(nd.ones((4, 3)), use_sequence_length=True)
    with raises(r"SequenceMask: valu='0': expected an attribute of SequenceMask"):
        nd.SequenceMask(nd.ones((4, 3)), valu=0)


# ---- Every differentiable operator in float16 and with grad_req 'add' on views ---------------

def test_float16_forward_and_backward_of_data_movement_ops():
    x = rand((2, 3, 4), np.float16)
    cases = [("transpose", dict(axes=(2, 0, 1)), lambda a: a.transpose(2, 0, 1)),
             ("tile", dict(reps=(1, 2, 1)), lambda a: np.tile(a, (1, 2, 1))),
             ("repeat", dict(repeats=2, axis=1), lambda a: np.repeat(a, 2, 1)),
             ("slice_axis", dict(axis=2, begin=1, end=3), lambda a: a[:, :, 1:3]),
             ("flip", dict(axis=(0, 2)), lambda a: a[::-1, :, ::-1])]
    for op, attrs, ref in cases:
        (y,) = forward(op, [x], **attrs)
        assert y.dtype == np.float16
        np.testing.assert_array_equal(y, ref(x))
    # tile's gradient sums the repetitions.
    (g,) = _backward("tile", [x], [np.tile(x, (1, 2, 1))], [np.ones((2, 6, 4), np.float16)], reps=(1, 2, 1))
    np.testing.assert_array_equal(g, np.full(x.shape, 2, np.float16))
