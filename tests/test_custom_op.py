"""Operators written in Python (mx.operator): imperative and symbolic forward and gradient
against numpy and float64 finite differences, the prop's interface (keyword arguments,
auxiliary states, inference, serialization) and the errors a mistaken operator gets."""
from __future__ import annotations

import gc

import numpy as np
import pytest

import flowmod as mx
from conftest import bounded
from op_check import check_gradient


@pytest.fixture(autouse=True)
def _collect_cycles():
    # Executors and operators made here sit in reference cycles: collect them within the
    # test, so that their storage is not freed (pushed) in the middle of a later one.
    yield
    gc.collect()


class Square(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], in_data[0] * in_data[0])

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], 2 * in_data[0] * out_grad[0])


@mx.operator.register("test_square")
class SquareProp(mx.operator.CustomOpProp):
    def create_operator(self, ctx, shapes, dtypes):
        return Square()


SEEN_KWARGS = []


class Affine(mx.operator.CustomOp):
    """sum = scale * a + b and diff = a - b, computed with mx.nd operators."""

    def __init__(self, scale):
        self.scale = scale

    def forward(self, is_train, req, in_data, out_data, aux):
        a, b = in_data
        self.assign(out_data[0], req[0], a * self.scale + b)
        self.assign(out_data[1], req[1], mx.nd.elemwise_sub(a, b))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        g_sum, g_diff = out_grad
        self.assign(in_grad[0], req[0], g_sum * self.scale + g_diff)
        self.assign(in_grad[1], req[1], g_sum - g_diff)


@mx.operator.register("test_affine")
class AffineProp(mx.operator.CustomOpProp):
    def __init__(self, scale="1.0"):
        super().__init__(need_top_grad=True)
        SEEN_KWARGS.append(scale)
        self.scale = float(scale)

    def list_arguments(self):
        return ["a", "b"]

    def list_outputs(self):
        return ["sum", "diff"]

    def infer_shape(self, in_shape):
        return [in_shape[0], in_shape[0]], [in_shape[0], in_shape[0]]

    def create_operator(self, ctx, shapes, dtypes):
        return Affine(self.scale)


class Counting(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        aux[0][:] += 1
        self.assign(out_data[0], req[0], in_data[0])

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], out_grad[0])


@mx.operator.register("test_counting")
class CountingProp(mx.operator.CustomOpProp):
    def list_auxiliary_states(self):
        return ["count"]

    def infer_shape(self, in_shape):
        return in_shape, [in_shape[0]], [(1,)]

    def create_operator(self, ctx, shapes, dtypes):
        return Counting()


class ToFloat64(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], in_data[0].astype(np.float64))


@mx.operator.register("test_to_float64")
class ToFloat64Prop(mx.operator.CustomOpProp):
    def infer_type(self, in_type):
        return in_type, [np.float64], []

    def create_operator(self, ctx, shapes, dtypes):
        return ToFloat64()


def test_nd_custom_forward_matches_numpy():
    x = np.arange(-3, 3, dtype=np.float32).reshape(2, 3)
    y = mx.nd.Custom(mx.nd.array(x), op_type="test_square")
    np.testing.assert_array_equal(y.asnumpy(), x * x)


def test_gradient_matches_finite_differences_in_float64():
    rng = np.random.default_rng(0)
    check_gradient("Custom", [rng.standard_normal((3, 4))], op_type="test_square")


def test_two_argument_two_output_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    check_gradient("Custom", [rng.standard_normal((2, 3)), rng.standard_normal((2, 3))],
                   op_type="test_affine", scale=2.5)


def test_keyword_arguments_reach_the_props_init_as_strings():
    SEEN_KWARGS.clear()
    a, b = mx.nd.ones((2, 2)), mx.nd.ones((2, 2))
    out = mx.nd.Custom(a, b, op_type="test_affine", scale=3)
    assert SEEN_KWARGS and all(s == "3" for s in SEEN_KWARGS)
    np.testing.assert_array_equal(out[0].asnumpy(), np.full((2, 2), 4.0))
    np.testing.assert_array_equal(out[1].asnumpy(), np.zeros((2, 2)))


def test_inputs_given_by_the_names_the_prop_lists():
    a, b = mx.nd.array([[1.0, 2.0]]), mx.nd.array([[10.0, 20.0]])
    out = mx.nd.Custom(op_type="test_affine", b=b, a=a)
    np.testing.assert_array_equal(out[1].asnumpy(), [[-9.0, -18.0]])


def test_forward_updates_auxiliary_states():
    x, count = mx.nd.ones((3,)), mx.nd.zeros((1,))
    for _ in range(3):
        mx.nd.Custom(x, count, op_type="test_counting")
    assert count.asnumpy().tolist() == [3.0]


def test_a_consumer_pushed_before_the_forward_ran_sees_its_output():
    # The multiplication is pushed at once, while the custom forward (and the assignment it
    # pushes from inside) may not have run yet: it must still read the assigned values.
    x = np.arange(6, dtype=np.float32)
    for _ in range(20):
        y = mx.nd.Custom(mx.nd.array(x), op_type="test_square") * 2
        np.testing.assert_array_equal(y.asnumpy(), 2 * x * x)


def test_inferred_output_type_comes_from_infer_type():
    y = mx.nd.Custom(mx.nd.ones((2,)), op_type="test_to_float64")
    assert y.dtype == np.float64
    sym = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_to_float64")
    _, out_types, _ = sym.infer_type(x=np.float32)
    assert out_types == [np.float64]


def test_symbol_lists_the_props_arguments_outputs_and_auxiliary_states():
    sym = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_counting", name="c")
    assert sym.list_arguments() == ["x"]
    assert sym.list_auxiliary_states() == ["c_count"]
    assert sym.list_outputs() == ["c_output"]
    two = mx.sym.Custom(op_type="test_affine", name="aff")
    assert two.list_arguments() == ["aff_a", "aff_b"]
    assert two.list_outputs() == ["aff_sum", "aff_diff"]


def test_infer_shape_takes_the_props_shapes_in_both_directions():
    sym = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_counting", name="c")
    arg_shapes, out_shapes, aux_shapes = sym.infer_shape(x=(4, 5))
    assert (arg_shapes, out_shapes, aux_shapes) == ([(4, 5)], [(4, 5)], [(1,)])


def test_executor_forward_and_backward_match_numpy():
    rng = np.random.default_rng(2)
    a, b, g0, g1 = (rng.standard_normal((3, 4)).astype(np.float32) for _ in range(4))
    sym = mx.sym.Custom(mx.sym.Variable("a"), mx.sym.Variable("b"), op_type="test_affine",
                        scale=0.5)
    exe = sym.simple_bind(mx.cpu(), a=a.shape, b=b.shape)
    exe.arg_dict["a"][:] = a
    exe.arg_dict["b"][:] = b
    outs = exe.forward(is_train=True)
    np.testing.assert_allclose(outs[0].asnumpy(), 0.5 * a + b, rtol=1e-6)
    np.testing.assert_allclose(outs[1].asnumpy(), a - b, rtol=1e-6)
    exe.backward([mx.nd.array(g0), mx.nd.array(g1)])
    np.testing.assert_allclose(exe.grad_dict["a"].asnumpy(), 0.5 * g0 + g1, rtol=1e-6)
    np.testing.assert_allclose(exe.grad_dict["b"].asnumpy(), g0 - g1, rtol=1e-6)


def test_grad_req_add_and_null_reach_assign():
    x = np.array([[1.0, -2.0, 3.0]], dtype=np.float32)
    data = mx.sym.Variable("x")
    sym = mx.sym.Custom(data, op_type="test_square") + mx.sym.Custom(data, op_type="test_square")
    exe = sym.simple_bind(mx.cpu(), grad_req="add", x=x.shape)
    exe.arg_dict["x"][:] = x
    exe.grad_dict["x"][:] = 1.0
    exe.forward(is_train=True)
    exe.backward(mx.nd.ones(x.shape))
    np.testing.assert_allclose(exe.grad_dict["x"].asnumpy(), 1 + 4 * x)
    frozen = mx.sym.Custom(data, op_type="test_square").simple_bind(mx.cpu(), grad_req="null",
                                                                     x=x.shape)
    frozen.arg_dict["x"][:] = x
    np.testing.assert_array_equal(frozen.forward(is_train=True)[0].asnumpy(), x * x)


def test_tojson_and_load_json_round_trip_a_graph_with_custom_nodes():
    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    sym = mx.sym.FullyConnected(mx.sym.Custom(mx.sym.Variable("x"), op_type="test_affine",
                                              scale=2, name="aff")[0],
                                num_hidden=2, no_bias=True, name="fc")
    loaded = mx.sym.load_json(sym.tojson())
    assert loaded.tojson() == sym.tojson()
    assert loaded.list_arguments() == ["x", "aff_b", "fc_weight"]
    exe = loaded.simple_bind(mx.cpu(), x=x.shape, aff_b=x.shape)
    exe.arg_dict["x"][:] = x
    exe.arg_dict["aff_b"][:] = 0
    exe.arg_dict["fc_weight"][:] = np.eye(2)
    np.testing.assert_allclose(exe.forward()[0].asnumpy(), 2 * x)


def test_get_all_registered_operators_has_custom():
    names = mx.operator.get_all_registered_operators()
    assert "Custom" in names and "FullyConnected" in names


# --- errors ---------------------------------------------------------------------------------
class Failing(mx.operator.CustomOp):
    def __init__(self, where):
        self.where = where

    def forward(self, is_train, req, in_data, out_data, aux):
        if self.where == "forward":
            raise ValueError("boom in forward")
        self.assign(out_data[0], req[0], in_data[0])

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        raise ValueError("boom in backward")


@mx.operator.register("test_failing")
class FailingProp(mx.operator.CustomOpProp):
    def __init__(self, where):
        super().__init__()
        self.where = where

    def create_operator(self, ctx, shapes, dtypes):
        return Failing(self.where)


def test_error_in_forward_reaches_the_waiter_with_op_type_and_traceback():
    y = mx.nd.Custom(mx.nd.ones((2,)), op_type="test_failing", where="forward")
    with pytest.raises(mx.MXNetError) as info:
        bounded(y.asnumpy)
    message = str(info.value)
    assert "custom operator 'test_failing' failed in forward" in message
    assert "Traceback (most recent call last)" in message
    assert "ValueError: boom in forward" in message
    # The engine keeps running, custom operators included.
    np.testing.assert_array_equal(
        mx.nd.Custom(mx.nd.ones((2,)) * 3, op_type="test_square").asnumpy(), [9.0, 9.0])


def test_error_in_backward_reaches_the_gradients_waiter_and_the_executor_stays_usable():
    sym = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_failing", where="backward")
    exe = sym.simple_bind(mx.cpu(), x=(2, 3))
    exe.arg_dict["x"][:] = 1.0
    exe.forward(is_train=True)
    exe.backward(mx.nd.ones((2, 3)))
    with pytest.raises(mx.MXNetError, match="(?s)failed in backward.*ValueError: boom in backward"):
        bounded(exe.grad_dict["x"].asnumpy)
    exe.arg_dict["x"][:] = 2.0
    np.testing.assert_array_equal(bounded(exe.forward)[0].asnumpy(), np.full((2, 3), 2.0))


def test_an_operation_the_forward_pushed_that_fails_fails_the_custom_op():
    class PushesFailing(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            # A nested custom operator that fails, writing this one's output.
            mx.nd.Custom(in_data[0], op_type="test_failing", where="forward", out=out_data[0])

    @mx.operator.register("test_pushes_failing")
    class PushesFailingProp(mx.operator.CustomOpProp):
        def create_operator(self, ctx, shapes, dtypes):
            return PushesFailing()

    y = mx.nd.Custom(mx.nd.ones((2,)), op_type="test_pushes_failing")
    with pytest.raises(mx.MXNetError, match="(?s)an operation its forward pushed failed.*boom in forward"):
        bounded(y.asnumpy)


def test_unknown_op_type_is_refused_naming_it():
    with pytest.raises(mx.MXNetError, match="op_type='no_such_custom_op'"):
        mx.nd.Custom(mx.nd.ones((2,)), op_type="no_such_custom_op")
    with pytest.raises(mx.MXNetError, match="no_such_custom_op"):
        mx.sym.Custom(mx.sym.Variable("x"), op_type="no_such_custom_op")


def test_op_type_is_required():
    with pytest.raises(mx.MXNetError, match="op_type is required"):
        mx.nd.Custom(mx.nd.ones((2,)))


def test_register_refuses_a_class_that_is_not_a_prop():
    with pytest.raises(mx.MXNetError, match="not a subclass of mx.operator.CustomOpProp"):
        mx.operator.register("test_not_a_prop")(object)


@mx.operator.register("test_wrong_input_shape")
class WrongInputShapeProp(mx.operator.CustomOpProp):
    def infer_shape(self, in_shape):
        return [(7, 7)], [(7, 7)], []


@mx.operator.register("test_too_many_outputs")
class TooManyOutputsProp(mx.operator.CustomOpProp):
    def infer_shape(self, in_shape):
        return in_shape, [in_shape[0], in_shape[0]], []


class NoAssign(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        pass


@mx.operator.register("test_no_assign")
class NoAssignProp(mx.operator.CustomOpProp):
    def create_operator(self, ctx, shapes, dtypes):
        return NoAssign()


def test_infer_shape_contradicting_a_bound_input_is_an_error_at_bind():
    sym = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_wrong_input_shape")
    with pytest.raises(mx.MXNetError, match=r"input 'data'.*\(2, 3\).*\(7, 7\)"):
        sym.simple_bind(mx.cpu(), x=(2, 3))


def test_infer_shape_returning_more_outputs_than_list_outputs_is_an_error_at_bind():
    sym = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_too_many_outputs")
    with pytest.raises(mx.MXNetError, match="2 output entries, expected 1 \\(output"):
        sym.simple_bind(mx.cpu(), x=(2, 3))


def test_forward_that_leaves_an_output_unassigned_is_an_error_naming_it():
    y = mx.nd.Custom(mx.nd.ones((2,)), op_type="test_no_assign")
    with pytest.raises(mx.MXNetError, match="without assigning output 'output'"):
        bounded(y.asnumpy)


@mx.operator.register("test_sparse_output")
class SparseOutputProp(mx.operator.CustomOpProp):
    def infer_storage_type(self, in_stype):
        return in_stype, ["csr"], []


def test_a_prop_declaring_sparse_storage_is_refused():
    with pytest.raises(mx.MXNetError, match="infer_storage_type returned.*'csr'"):
        mx.nd.Custom(mx.nd.ones((2,)), op_type="test_sparse_output")


def test_a_keyword_argument_the_props_init_does_not_take_is_refused_naming_it():
    with pytest.raises(mx.MXNetError, match=r"Custom \(test_affine\): shift='2': expected the "
                                            r"keyword arguments of AffineProp.__init__ \(scale\)"):
        mx.nd.Custom(mx.nd.ones((2,)), mx.nd.ones((2,)), op_type="test_affine", shift=2)


def test_graph_attributes_are_not_passed_to_the_prop():
    out = mx.nd.Custom(mx.nd.array([3.0]), op_type="test_square", __lr_mult__=2.0)
    assert out.asnumpy().tolist() == [9.0]
