"""examples/train_imagerecord.py end to end: digits packed as JPEGs by im2rec (run as a
command), LeNet trained through ImageRecordIter with augmentation, validation accuracy."""
import os
import re
import subprocess
import sys

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "train_imagerecord.py")


def test_lenet_on_packed_digits_reaches_95_percent(tmp_path):
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
    done = subprocess.run([sys.executable, EXAMPLE, "--workdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("digits_train.lst", "digits_val.lst", "digits_train.rec", "digits_val.rec"):
        assert (tmp_path / name).stat().st_size > 0, name
    accuracy = float(re.search(r"validation accuracy ([0-9.]+)", done.stdout).group(1))
    assert accuracy >= 0.95, done.stdout + done.stderr
