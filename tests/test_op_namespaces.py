"""mx.nd.contrib / mx.sym.linalg are filled from the registered operator names."""
import flowmod as mx
from flowmod import op_namespaces


def test_members_strip_the_prefix_and_keep_only_the_namespace():
    fns = {"_contrib_box_iou": 1, "_linalg_gemm": 2, "relu": 3, "_contrib": 4}
    assert op_namespaces.members(fns, "contrib") == {"box_iou": 1}
    assert op_namespaces.members(fns, "linalg") == {"gemm": 2}


def test_namespaces_hold_every_registered_prefixed_operator():
    for ns in ("contrib", "linalg"):
        prefix = op_namespaces.PREFIXES[ns]
        want = sorted(n[len(prefix):] for n in mx.nd.OP_FUNCTIONS if n.startswith(prefix))
        module = getattr(mx.nd, ns)
        # Beside the operators, mx.nd.contrib has the functions MXNet writes in Python there.
        extra = set(getattr(module, "PYTHON_FUNCTIONS", ()))
        assert sorted(set(module.__all__) - extra) == want
        assert getattr(mx.sym, ns).__all__ == want
        for short in want:
            if short in getattr(getattr(mx.nd, ns), "WRAPPED", ()):
                continue  # a Python front end over the operator (contrib.boolean_mask)
            assert getattr(mx.nd, ns).__dict__[short] is mx.nd.OP_FUNCTIONS[prefix + short]
