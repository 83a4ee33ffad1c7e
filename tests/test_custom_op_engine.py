"""Custom operators on the engine: they run on the Python lane, never on the compute workers,
so native branches keep running while one runs (shown by the order of recorded events, with a
single compute worker so that nothing else could explain it); they wait inside without
deadlocking; interpreter exit and fork with custom operators in flight."""
from __future__ import annotations

import json

# The scripts below run in fresh interpreters with one compute worker per device: had a
# custom operator taken that worker, the native branch could not run until it ended.
ONE_WORKER = {"FLOWMOD_CPU_WORKER_NTHREADS": "1"}

GATE_OP = """
import json, threading
import numpy as np
import flowmod as mx

log = []
gate = threading.Event()

class Gate(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        log.append("custom:start")
        assert gate.wait(30), "the gate never opened"
        self.assign(out_data[0], req[0], in_data[0] + 1)
        log.append("custom:end")

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], out_grad[0])

@mx.operator.register("gate")
class GateProp(mx.operator.CustomOpProp):
    def create_operator(self, ctx, shapes, dtypes):
        return Gate()

def wait_started():
    for _ in range(3000):
        if log:
            return
        threading.Event().wait(0.01)
    raise AssertionError("the custom operator never started")
"""


def test_native_branch_runs_while_a_custom_op_of_the_other_branch_runs(run_python):
    proc = run_python(GATE_OP + """
x = mx.sym.Variable("x")
gated = mx.sym.Custom(mx.sym.FullyConnected(x, num_hidden=3, name="fc_a"), op_type="gate")
native = mx.sym.Activation(mx.sym.FullyConnected(x, num_hidden=3, name="fc_b"), act_type="relu")
exe = mx.sym.Group([gated, native]).simple_bind(mx.cpu(), x=(2, 4))
for name, arr in exe.arg_dict.items():
    arr[:] = 1.0
outs = exe.forward()
wait_started()
native_value = outs[1].asnumpy()      # the other branch finishes while the gate is closed
log.append("native:done")
assert log == ["custom:start", "native:done"], log
gate.set()
gated_value = outs[0].asnumpy()
log.append("custom:read")
print(json.dumps({"log": log, "native": native_value.tolist(), "gated": gated_value.tolist()}))
""", env=ONE_WORKER)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["log"] == ["custom:start", "native:done", "custom:end", "custom:read"]
    assert result["native"] == [[5.0] * 3] * 2
    assert result["gated"] == [[6.0] * 3] * 2


def test_imperative_native_ops_run_while_a_custom_op_waits(run_python):
    proc = run_python(GATE_OP + """
a = mx.nd.Custom(mx.nd.ones((3,)), op_type="gate")
wait_started()
b = (mx.nd.ones((3,)) * 4).asnumpy()
log.append("native:done")
gate.set()
print(json.dumps({"log": log, "a": a.asnumpy().tolist(), "b": b.tolist()}))
""", env=ONE_WORKER)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["log"] == ["custom:start", "native:done", "custom:end"]
    assert (result["a"], result["b"]) == ([2.0] * 3, [4.0] * 3)


def test_waits_and_pushes_inside_a_custom_op_run_on_a_single_compute_worker(run_python):
    # The forward waits (asnumpy) on work it pushed itself and on a nested custom operator.
    proc = run_python("""
import json
import numpy as np
import flowmod as mx

class Nested(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        doubled = mx.nd.Custom(in_data[0] * 2, op_type="plain_square")
        values = doubled.asnumpy() + 1
        self.assign(out_data[0], req[0], mx.nd.array(values))

class PlainSquare(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], in_data[0] * in_data[0])

@mx.operator.register("nested")
class NestedProp(mx.operator.CustomOpProp):
    def create_operator(self, ctx, shapes, dtypes):
        return Nested()

@mx.operator.register("plain_square")
class PlainSquareProp(mx.operator.CustomOpProp):
    def create_operator(self, ctx, shapes, dtypes):
        return PlainSquare()

y = mx.nd.Custom(mx.nd.array([1.0, 2.0]), op_type="nested")
print(json.dumps(y.asnumpy().tolist()))
""", env=ONE_WORKER)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [5.0, 17.0]


SLOW_OP = """
import os, sys, time
import numpy as np
import flowmod as mx

class Slow(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        time.sleep(0.02)
        self.assign(out_data[0], req[0], in_data[0] + 1)
        with open(sys.argv[-1] if len(sys.argv) > 1 else "ran.txt", "a") as f:
            f.write("ran\\n")

@mx.operator.register("slow")
class SlowProp(mx.operator.CustomOpProp):
    def create_operator(self, ctx, shapes, dtypes):
        return Slow()
"""


def test_interpreter_exit_with_custom_ops_in_flight_runs_them_and_exits(run_python, tmp_path):
    proc = run_python(SLOW_OP + """
x = mx.nd.zeros((4,))
for _ in range(5):
    x = mx.nd.Custom(x, op_type="slow")
print("pushed")
""", env=ONE_WORKER)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "pushed"
    assert (tmp_path / "ran.txt").read_text().splitlines() == ["ran"] * 5


def test_fork_with_custom_ops_in_flight_finishes_them_and_both_processes_run_more(run_python):
    proc = run_python(SLOW_OP + """
x = mx.nd.zeros((2,))
for _ in range(3):
    x = mx.nd.Custom(x, op_type="slow")
pid = os.fork()
if pid == 0:
    y = mx.nd.Custom(x, op_type="slow").asnumpy()
    os._exit(0 if y.tolist() == [4.0, 4.0] else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), mx.nd.Custom(x, op_type="slow").asnumpy().tolist())
""", env=ONE_WORKER)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "0 [4.0, 4.0]"


def test_custom_ops_run_on_the_python_lane_which_has_one_worker_by_default(run_python):
    proc = run_python(SLOW_OP + """
before = mx.engine.stats().lane(mx.cpu(0), "python").completed
mx.nd.Custom(mx.nd.zeros((2,)), op_type="slow").wait_to_read()
after = mx.engine.stats().lane(mx.cpu(0), "python").completed
print(mx.engine.num_workers(mx.cpu(0), "python"), after - before)
""")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "1 1"


def test_custom_ops_run_under_the_naive_engine(run_python):
    proc = run_python(SLOW_OP + """
x = mx.sym.Variable("x")
exe = mx.sym.Custom(x, op_type="slow").simple_bind(mx.cpu(), x=(2,))
exe.arg_dict["x"][:] = 3
exe.forward(is_train=True)
print(mx.engine.engine_type(), mx.nd.Custom(mx.nd.ones((2,)), op_type="slow").asnumpy().tolist(),
      exe.outputs[0].asnumpy().tolist())
""", env={"FLOWMOD_ENGINE_TYPE": "NaiveEngine"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "NaiveEngine [2.0, 2.0] [4.0, 4.0]"
