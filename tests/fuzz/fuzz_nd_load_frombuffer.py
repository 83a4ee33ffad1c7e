"""Fuzz target: ``mx.nd.load_frombuffer`` on arbitrary bytes (MXNet's NDArray file format).
A loaded result must also be saved and read back to the same arrays (unless a name holds
a NUL character, which MXNet loads but cannot save)."""
import numpy as np

import _harness  # sets up the import path

with _harness.coverage():
    import flowmod as mx
    from flowmod import params_format
from flowmod.base import MXNetError


def one_input(data: bytes) -> None:
    try:
        loaded = mx.nd.load_frombuffer(data)
    except MXNetError:
        return
    items = loaded.items() if isinstance(loaded, dict) else enumerate(loaded)
    host = {k: v.asnumpy() for k, v in items}
    if any("\0" in str(k) for k in host):
        return   # a name MXNet reads but refuses to write (its C API takes C strings)
    again = mx.nd.load_frombuffer(params_format.dumps(
        {str(k): v for k, v in host.items()}))
    for k, v in host.items():
        np.testing.assert_array_equal(again[str(k)].asnumpy(), v)


if __name__ == "__main__":
    _harness.main(one_input)
