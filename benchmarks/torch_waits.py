"""Torch beside cnnnative in one process, with more than one thread: keep torch's OpenMP
workers from spinning on the cores our next call needs.

libgomp's idle workers spin for milliseconds after each parallel region (its default spin
count) before they sleep. In a benchmark that alternates torch and cnnnative call by call,
those spinning workers hold the cores of cnnnative's next call, so the comparison measures
that fight instead of the kernels. Measured quiet, 2 threads, AMD Zen 4: compiled DCGAN
ConvTranspose2d 512->256 took 3.9 ms in a process of its own and 8.1 ms interleaved with
torch; tanh on 2^24 floats ran no faster on 2 threads than on 1. With
OMP_WAIT_POLICY=passive torch's workers sleep at once (each torch call then pays a futex
wake-up: its 2-thread DCGAN layer went 7.5 -> 9.0 ms alone, so this is not in our favour
everywhere; pass --wait-policy default to see both libraries' defaults).

cnnnative's own team waits 100 us (spin, then yield) and then sleeps; it reads the policy
when it is first used, which in these scripts is at import, so it keeps its default.
"""
from __future__ import annotations

import os

CHOICES = ("passive", "default")
HELP = ("passive (default with --threads > 1): torch's OpenMP workers sleep at once between calls "
        "(OMP_WAIT_POLICY=passive, unless the environment sets a policy); default: torch's own spinning")


def apply(threads: int, policy: str = "passive") -> str:
    """Call before torch is imported. Returns the policy in force, for the output header."""
    if threads > 1 and policy == "passive":
        os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    return os.environ.get("OMP_WAIT_POLICY", "(unset: torch spins)")
