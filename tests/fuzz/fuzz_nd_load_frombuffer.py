"""Fuzz target: ``mx.nd.load_frombuffer`` on arbitrary bytes (MXNet's NDArray file format).
A loaded result must also be saved and read back to the same arrays, sparse ones with their
storage type and components (unless a name holds a NUL character, which MXNet loads but
cannot save)."""
import numpy as np

import _harness  # sets up the import path

with _harness.coverage():
    import flowmod as mx
    from flowmod import params_format  # noqa: F401  (covered by the run)
from flowmod.base import MXNetError


def one_input(data: bytes) -> None:
    try:
        loaded = mx.nd.load_frombuffer(data)
    except MXNetError:
        return
    items = loaded.items() if isinstance(loaded, dict) else enumerate(loaded)
    items = list(items)
    if any("\0" in str(k) for k, _ in items):
        return   # a name MXNet reads but refuses to write (its C API takes C strings)
    # Sparse arrays are compared by their components: their dense form may be huge.
    host = {str(k): _host(v) for k, v in items}
    again = mx.nd.load_frombuffer(_save_bytes({str(k): v for k, v in items}))
    for k, parts in host.items():
        got = _host(again[k])
        assert len(got) == len(parts) and again[k].stype == parts[0]
        for a, b in zip(got[1:], parts[1:]):
            np.testing.assert_array_equal(a, b)


def _host(v):
    if v.stype == "default":
        return ("default", v.asnumpy())
    return (v.stype, v.data.asnumpy()) + tuple(a.asnumpy() for a in v._aux)


def _save_bytes(arrays) -> bytes:
    import os
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "a.nd")
        mx.nd.save(path, arrays)
        with open(path, "rb") as f:
            return f.read()


if __name__ == "__main__":
    _harness.main(one_input)
