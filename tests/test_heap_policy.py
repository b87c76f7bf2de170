"""The heap policy (cnnnative/_heap_policy.py): freed step-sized arrays are reused from the
heap instead of coming back as page faults, unless the user tuned malloc or opted out.
Each case runs in a fresh interpreter (mallopt settings are per process)."""
import os
import platform
import subprocess
import sys

import pytest

import cnnnative

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="the policy applies to glibc only")

# Four 6.4 MB arrays allocated, touched and freed: glibc's default trims the freed top of
# the heap each time, so every round faults ~6,000 pages back in.
CHURN = """
import resource, numpy as np, cnnnative
def churn():
    arrays = [np.ones(1_600_000, np.float32) for _ in range(4)]
    del arrays
for _ in range(3):
    churn()
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    churn()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) // 10)
print(cnnnative.info()["heap_policy"])
"""


def _run(**env):
    full = {k: v for k, v in os.environ.items()
            if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "CNNNATIVE_HEAP_POLICY")}
    full.update(env)
    full["PYTHONPATH"] = os.path.dirname(os.path.dirname(cnnnative.__file__)) + os.pathsep + full.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", CHURN], env=full, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    faults, policy = out.stdout.strip().splitlines()
    return int(faults), policy


def test_freed_arrays_are_reused_without_page_faults():
    faults, policy = _run()
    assert policy == "mmap threshold 32 MB, trim threshold 64 MB"
    assert faults < 200  # one round touches 6,250 pages; reused memory faults none of them


def test_opting_out_and_user_tuning_keep_glibc_behaviour():
    faults, policy = _run(CNNNATIVE_HEAP_POLICY="default")
    assert "CNNNATIVE_HEAP_POLICY=default" in policy
    assert faults > 1000  # the cost the policy removes (so the test above is not vacuous)
    _, policy = _run(MALLOC_TRIM_THRESHOLD_="131072")
    assert policy == "the user's (MALLOC_TRIM_THRESHOLD_)"
