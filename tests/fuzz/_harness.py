"""What every fuzz target shares: running ``one_input`` under atheris (libFuzzer's engine)
with coverage of flowmod's Python code, and the rule that decides a failure.

A target's ``one_input(data)`` feeds the bytes to a loader; the loader may accept them or
raise :class:`flowmod.base.MXNetError`. Any other exception propagates, and atheris then
reports it as a crash (with the input saved under ``-artifact_prefix``), as it does for a
crash of the native code.

Run a target by hand for longer, e.g.::

    python tests/fuzz/fuzz_sym_load_json.py /tmp/new-inputs tests/fuzz/corpus/sym_load_json \\
        -max_total_time=600

(libFuzzer writes the inputs it finds to the first directory; keep the seed corpus second).
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable

# The fuzz targets are run as scripts from anywhere: make the worktree's flowmod importable.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


# Parts of flowmod no loader reaches: left uninstrumented, which keeps start-up short.
_NOT_FUZZED = ["flowmod.telemetry", "flowmod.rnn", "flowmod.io", "flowmod.metric",
               "flowmod.callback", "flowmod.monitor", "flowmod.future", "flowmod.module.loops",
               "flowmod.initializer"]


def coverage():
    """A context manager to import flowmod in: when a fuzz target runs as the main script,
    flowmod's modules are instrumented as they are imported, so the fuzzer sees their
    coverage; imported by anything else (the suite, make_corpus.py) it does nothing."""
    if not os.path.basename(sys.argv[0]).startswith("fuzz_"):
        return contextlib.nullcontext()
    import numpy  # noqa: F401  (imported first, so it is not instrumented)
    import atheris

    return atheris.instrument_imports(include=["flowmod"], exclude=_NOT_FUZZED)


def main(one_input: Callable[[bytes], None]) -> None:
    """Fuzzes ``one_input`` with the command line's libFuzzer arguments (``-runs=N``,
    ``-max_total_time=S``, corpus directories, ...); never returns."""
    import atheris

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


def corpus_inputs(target: str) -> list:
    """The seed inputs of ``target`` (a directory name under corpus/), sorted by name."""
    directory = os.path.join(CORPUS, target)
    return [open(os.path.join(directory, name), "rb").read()
            for name in sorted(os.listdir(directory))]
