"""Contexts, as in MXNet 1.9's mxnet.context, and the names ``import flowmod as mx`` gives."""
from __future__ import annotations

import threading

import types

import pytest

import flowmod as mx


# --- Context ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ctx, text", [
    (mx.cpu(), "cpu(0)"), (mx.cpu(3), "cpu(3)"), (mx.gpu(1), "gpu(1)"),
    (mx.cpu_pinned(2), "cpu_pinned(2)"), (mx.Context("cpu_shared", 4), "cpu_shared(4)"),
])
def test_str_and_repr_are_type_and_id(ctx, text):
    assert (str(ctx), repr(ctx)) == (text, text)


def test_cpu_defaults_to_device_zero():
    assert (mx.cpu().device_type, mx.cpu().device_id) == ("cpu", 0)
    assert (mx.gpu().device_type, mx.gpu().device_id) == ("gpu", 0)


def test_context_constructor_matches_the_helpers():
    assert mx.Context("cpu", 2) == mx.cpu(2)
    assert mx.Context("gpu", 1) == mx.gpu(1)
    assert mx.Context("cpu_pinned") == mx.cpu_pinned(0)
    assert mx.Context("cpu") == mx.cpu(0)


def test_context_copies_another_context():
    original = mx.gpu(3)
    copy = mx.Context(original)
    assert copy == original and copy is not original
    assert (copy.device_type, copy.device_id) == ("gpu", 3)


def test_device_typeid_follows_mxnet_numbering():
    assert [mx.cpu().device_typeid, mx.gpu().device_typeid, mx.cpu_pinned().device_typeid,
            mx.Context("cpu_shared").device_typeid] == [1, 2, 3, 5]


def test_equality_compares_type_and_id():
    assert mx.cpu(1) == mx.cpu(1)
    assert mx.cpu(1) != mx.cpu(2)
    assert mx.cpu(0) != mx.gpu(0)
    assert mx.cpu(0) != mx.cpu_pinned(0)


def test_context_is_not_equal_to_its_string():
    assert mx.cpu(0) != "cpu(0)"
    assert not (mx.cpu(0) == ("cpu", 0))


def test_equal_contexts_hash_alike_and_work_as_dict_keys():
    assert hash(mx.cpu(5)) == hash(mx.Context("cpu", 5))
    table = {mx.cpu(0): "a", mx.gpu(0): "b", mx.cpu(1): "c"}
    assert [table[mx.cpu(0)], table[mx.gpu(0)], table[mx.cpu(1)]] == ["a", "b", "c"]
    assert len({mx.cpu(0), mx.cpu(0), mx.Context(mx.cpu(0))}) == 1


def test_engine_device_of_host_memory_is_the_cpu():
    assert [mx.cpu(2).engine_device, mx.cpu_pinned(2).engine_device,
            mx.Context("cpu_shared", 2).engine_device, mx.gpu(2).engine_device] == \
        [(1, 2), (1, 2), (1, 2), (2, 2)]


@pytest.mark.parametrize("device_type", ["tpu", "CPU", "", None, 1])
def test_bad_device_type_raises_naming_it(device_type):
    with pytest.raises(mx.MXNetError, match=f"device_type={device_type!r}"):
        mx.Context(device_type)


@pytest.mark.parametrize("device_id", [-1, 1.0, "0", None, True])
def test_bad_device_id_raises_naming_it(device_id):
    with pytest.raises(mx.MXNetError, match=f"device_id={device_id!r}"):
        mx.Context("cpu", device_id)


@pytest.mark.parametrize("make", [mx.cpu, mx.gpu, mx.cpu_pinned])
def test_helpers_reject_negative_ids(make):
    with pytest.raises(mx.MXNetError, match="device_id=-2"):
        make(-2)


def test_mxnet_error_is_exported_from_base():
    assert mx.MXNetError is mx.base.MXNetError
    assert issubclass(mx.MXNetError, RuntimeError)


def test_num_gpus_is_zero_without_cuda():
    assert mx.num_gpus() == 0


# --- current_context and with-blocks ---------------------------------------------------------


def test_current_context_defaults_to_cpu0():
    assert mx.current_context() == mx.cpu(0)


def test_with_block_sets_and_restores_the_current_context():
    with mx.cpu(2) as ctx:
        assert ctx == mx.cpu(2)
        assert mx.current_context() == mx.cpu(2)
    assert mx.current_context() == mx.cpu(0)


def test_nested_with_blocks_restore_each_outer_context():
    seen = []
    with mx.cpu(1):
        seen.append(mx.current_context())
        with mx.gpu(0):
            seen.append(mx.current_context())
            with mx.cpu_pinned(3):
                seen.append(mx.current_context())
            seen.append(mx.current_context())
        seen.append(mx.current_context())
    seen.append(mx.current_context())
    assert seen == [mx.cpu(1), mx.gpu(0), mx.cpu_pinned(3), mx.gpu(0), mx.cpu(1), mx.cpu(0)]


def test_with_block_restores_the_context_after_an_exception():
    with pytest.raises(KeyError):
        with mx.cpu(4):
            raise KeyError("inside")
    assert mx.current_context() == mx.cpu(0)


def test_with_block_does_not_swallow_exceptions():
    with pytest.raises(ValueError, match="kept"):
        with mx.cpu(1):
            raise ValueError("kept")


def test_current_context_is_per_thread():
    seen = []
    inside = threading.Event()
    leave = threading.Event()

    def other():
        with mx.cpu(7):
            inside.set()
            leave.wait(30)
            seen.append(("other", mx.current_context()))

    t = threading.Thread(target=other)
    t.start()
    try:
        assert inside.wait(30)
        seen.append(("main", mx.current_context()))
    finally:
        leave.set()
        t.join(30)
    assert seen == [("main", mx.cpu(0)), ("other", mx.cpu(7))]


def test_new_thread_starts_at_cpu0_whatever_its_creator_uses():
    seen = []
    with mx.cpu(5):
        t = threading.Thread(target=lambda: seen.append(mx.current_context()))
        t.start()
        t.join(30)
    assert seen == [mx.cpu(0)]


# --- the package's names ---------------------------------------------------------------------


def test_package_exports_mxnet_context_names():
    assert (mx.Context, mx.cpu, mx.gpu, mx.cpu_pinned, mx.current_context, mx.num_gpus) == (
        mx.context.Context, mx.context.cpu, mx.context.gpu, mx.context.cpu_pinned,
        mx.context.current_context, mx.context.num_gpus)


@pytest.mark.parametrize("name", ["nd", "sym", "mod", "io", "init", "metric", "callback",
                                  "optimizer", "lr_scheduler", "kvstore", "model", "monitor",
                                  "rnn", "random", "engine", "telemetry"])
def test_package_provides_every_namespace(name):
    assert isinstance(getattr(mx, name), types.ModuleType)


def test_nd_and_ndarray_name_the_array_namespace():
    assert mx.nd is mx.ndarray and mx.nd.NDArray is mx.ndarray.NDArray


def test_unknown_attribute_raises_plain_attribute_error():
    with pytest.raises(AttributeError, match="module 'flowmod' has no attribute 'nope'"):
        mx.nope  # noqa: B018
