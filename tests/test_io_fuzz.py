"""A short seeded run of tools/fuzz_checkpoint.py: damaged checkpoints (flipped bytes,
truncation, edited members and headers, edited or deeply nested metadata, deflate bombs)
must be rejected with ValueError, leave model/optimizer/scheduler/trainer state untouched,
and stay within 2x the declared content in memory."""
import importlib.util
import os

import pytest  # noqa: F401 (fixtures)

TOOL = os.path.join(os.path.dirname(__file__), "..", "tools", "fuzz_checkpoint.py")


@pytest.fixture(scope="module")
def fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_checkpoint", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fuzzed_checkpoints_fail_cleanly(fuzz):
    stats = fuzz.run(cases=80, seed=0, bomb_sizes=(2 << 20,))
    assert stats["failures"] == []
    assert stats["crashes"] == stats["partial_loads"] == stats["memory_violations"] == 0
    assert stats["rejected"] > 100 and stats["loaded"] > 0  # both paths were exercised
