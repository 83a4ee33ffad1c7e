"""The fuzz targets (tests/fuzz/) on their seed corpus and on deterministic corruptions of
it (truncations and byte flips), without atheris: every input is accepted or refused with
MXNetError, and what is accepted works. tests/fuzz/run_all.py explores further."""
import os
import random
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz"))

import _harness  # noqa: E402
import fuzz_load_optimizer_states  # noqa: E402
import fuzz_module_load  # noqa: E402
import fuzz_nd_load_frombuffer  # noqa: E402
import fuzz_sym_load_json  # noqa: E402

TARGETS = {"nd_load_frombuffer": fuzz_nd_load_frombuffer,
           "sym_load_json": fuzz_sym_load_json,
           "module_load": fuzz_module_load,
           "load_optimizer_states": fuzz_load_optimizer_states}


def _corruptions(seed: bytes, rng: random.Random, count: int):
    for _ in range(count):
        data = bytearray(seed)
        if data and rng.random() < 0.5:
            del data[rng.randrange(len(data)):]
        for _ in range(rng.randint(1, 4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        yield bytes(data)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_target_accepts_or_refuses_its_seeds_and_their_corruptions(target):
    rng = random.Random(target)
    one_input = TARGETS[target].one_input
    seeds = _harness.corpus_inputs(target)
    assert seeds
    for seed in seeds:
        one_input(seed)
        for data in _corruptions(seed, rng, 15):
            one_input(data)
