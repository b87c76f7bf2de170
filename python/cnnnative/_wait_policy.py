"""How long idle OpenMP workers spin before they sleep, and where that setting came from.

libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT once, when it is loaded. Its default
spins 300,000 times (about a millisecond) after every parallel region, which keeps back-to-back
kernels quick on an idle machine but burns cores that other busy processes need, and
then our own threads wait for the CPU. Measured on a shared 2-vCPU machine (README):
digits training with 2 threads took 28 s with libgomp's default, 4 s with 10,000 spins,
1 s with 1,000 and 0.65 s passive (1 thread: 0.6-1.3 s). cnnnative therefore makes idle
workers sleep at once (OMP_WAIT_POLICY=passive) unless the user chose a policy, and
removes the variable again after libgomp has read it, so child processes see the
user's environment unchanged.
"""
from __future__ import annotations

import os

VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
DEFAULT = ("OMP_WAIT_POLICY", "passive")


def _libgomp_mappings() -> set | None:
    """Paths of the libgomp copies loaded in this process; None where that is unknown."""
    try:
        with open("/proc/self/maps") as f:
            return {line.split()[-1] for line in f if "libgomp" in line.rsplit("/", 1)[-1]}
    except OSError:
        return None


def set_default_before_openmp_loads() -> dict:
    """Call before the module that loads libgomp. Returns the state for after_openmp_loaded."""
    chosen = [f"{name}={os.environ[name]}" for name in VARIABLES if name in os.environ]
    if chosen:
        return {"policy": ", ".join(chosen), "source": "environment"}
    name, value = DEFAULT
    state = {"policy": f"{name}={value}", "source": "cnnnative default", "libgomp_before": _libgomp_mappings()}
    os.environ[name] = value
    return state


def after_openmp_loaded(state: dict) -> dict:
    """The policy in force: {'policy': ..., 'source': ...}."""
    if state["source"] != "cnnnative default":
        return state
    os.environ.pop(DEFAULT[0], None)
    before, after = state["libgomp_before"], _libgomp_mappings()
    if before is not None and after is not None and not after - before:
        # Another module had loaded our libgomp already: it read the environment then.
        return {"policy": "libgomp default (GOMP_SPINCOUNT=300000)",
                "source": "libgomp was loaded before cnnnative could set its default; set "
                          "OMP_WAIT_POLICY or GOMP_SPINCOUNT before Python starts"}
    return {"policy": state["policy"], "source": state["source"]}
