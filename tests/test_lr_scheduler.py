"""Learning rate schedules against hand-computed values of MXNet 1.9's formulas."""
from __future__ import annotations

import math

import pytest

from flowmod import lr_scheduler as lrs


def test_factor_scheduler_steps():
    s = lrs.FactorScheduler(step=2, factor=0.5, base_lr=1.0)
    # The rate changes once num_update exceeds count + step: after updates 2, 4, 6.
    got = [s(n) for n in range(1, 8)]
    assert got == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125]


def test_factor_scheduler_catches_up_and_stops():
    s = lrs.FactorScheduler(step=10, factor=0.1, stop_factor_lr=1e-3, base_lr=1.0)
    assert s(35) == pytest.approx(1e-3)  # 1 -> .1 -> .01 -> .001, all at once
    assert s(1000) == pytest.approx(1e-3)  # never below stop_factor_lr
    assert s.count == 990


def test_factor_scheduler_warmup_linear_and_constant():
    s = lrs.FactorScheduler(step=5, factor=0.5, base_lr=1.0, warmup_steps=4,
                            warmup_begin_lr=0.2)
    assert [s(n) for n in range(4)] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert s(4) == 1.0
    assert s(6) == 0.5  # 6 > 0 + 5
    c = lrs.FactorScheduler(step=5, base_lr=1.0, warmup_steps=3, warmup_begin_lr=0.1,
                            warmup_mode="constant")
    assert [c(n) for n in range(3)] == [0.1, 0.1, 0.1]


def test_multifactor_scheduler():
    s = lrs.MultiFactorScheduler(step=[3, 5], factor=0.1, base_lr=1.0)
    got = [s(n) for n in range(1, 8)]
    assert got == pytest.approx([1.0, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01])
    assert s.cur_step_ind == 2 and s.count == 5


def test_poly_scheduler():
    s = lrs.PolyScheduler(max_update=10, base_lr=1.0, pwr=2, final_lr=0.1)
    assert s(0) == pytest.approx(1.0)
    assert s(5) == pytest.approx(0.1 + 0.9 * 0.25)
    assert s(10) == pytest.approx(0.1)
    assert s(20) == pytest.approx(0.1)  # stays at the last rate
    w = lrs.PolyScheduler(max_update=12, base_lr=1.0, pwr=1, warmup_steps=2,
                          warmup_begin_lr=0.5)
    assert w(1) == pytest.approx(0.75)
    assert w(7) == pytest.approx(1.0 - 5 / 10)


def test_cosine_scheduler():
    s = lrs.CosineScheduler(max_update=8, base_lr=2.0, final_lr=0.5)
    assert s(0) == pytest.approx(2.0)
    assert s(4) == pytest.approx(0.5 + 1.5 * 0.5)
    assert s(2) == pytest.approx(0.5 + 1.5 * (1 + math.cos(math.pi / 4)) / 2)
    assert s(8) == pytest.approx(0.5)
    assert s(100) == pytest.approx(0.5)


@pytest.mark.parametrize("make, match", [
    (lambda: lrs.FactorScheduler(step=0), "step=0"),
    (lambda: lrs.FactorScheduler(step=2, factor=1.5), "factor=1.5"),
    (lambda: lrs.MultiFactorScheduler(step=[3, 3]), "increasing"),
    (lambda: lrs.MultiFactorScheduler(step=[0, 3]), "1 or more"),
    (lambda: lrs.MultiFactorScheduler(step=5), "list"),
    (lambda: lrs.PolyScheduler(max_update=0), "max_update=0"),
    (lambda: lrs.CosineScheduler(max_update=0), "max_update=0"),
    (lambda: lrs.FactorScheduler(step=2, base_lr=0.1, warmup_begin_lr=0.5), "warmup_begin_lr"),
    (lambda: lrs.FactorScheduler(step=2, warmup_steps=-1), "warmup_steps=-1"),
    (lambda: lrs.FactorScheduler(step=2, warmup_mode="cubic"), "warmup_mode='cubic'"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_type_errors_and_base_class():
    with pytest.raises(TypeError, match="max_update"):
        lrs.PolyScheduler(max_update=10.0)
    with pytest.raises(TypeError, match="warmup_steps"):
        lrs.LRScheduler(warmup_steps=1.5)
    with pytest.raises(TypeError, match="base class"):
        lrs.LRScheduler()(3)
