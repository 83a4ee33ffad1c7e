"""nd.load of what is not a regular file: devices of unbounded size are refused, and a
pipe's header is checked before the rest of the stream is read."""
import os
import threading

import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_load_of_dev_zero_is_refused_as_a_device():
    with pytest.raises(MXNetError, match="/dev/zero.*character device"):
        mx.nd.load("/dev/zero")


def _feed(path, chunks, report):
    # Writes chunks into the FIFO until the reader closes it (BrokenPipeError).
    written = 0
    try:
        with open(path, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
                f.flush()
                written += len(chunk)
    except BrokenPipeError:
        pass
    report.append(written)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_pipe_with_a_bad_magic_is_refused_before_the_stream_ends(tmp_path):
    path = str(tmp_path / "fifo")
    os.mkfifo(path)
    chunk = b"\0" * (1 << 20)
    total = 64
    report = []
    writer = threading.Thread(target=_feed, args=(path, [chunk] * total, report))
    writer.start()
    with pytest.raises(MXNetError, match="0x112"):
        mx.nd.load(path)
    writer.join(timeout=60)
    # The reader stopped after the header: the writer met a closed pipe long before the end.
    assert report and report[0] < total * len(chunk)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_pipe_carrying_a_valid_file_loads(tmp_path):
    src = tmp_path / "a.nd"
    mx.nd.save(str(src), {"x": mx.nd.array(np.arange(5.0))})
    path = str(tmp_path / "fifo")
    os.mkfifo(path)
    report = []
    writer = threading.Thread(target=_feed, args=(path, [src.read_bytes()], report))
    writer.start()
    loaded = mx.nd.load(path)
    writer.join(timeout=60)
    np.testing.assert_array_equal(loaded["x"].asnumpy(), np.arange(5.0))
