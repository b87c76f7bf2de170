"""How long idle OpenMP workers spin before they sleep, and where that setting came from.

libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT once, when it is loaded. Its default
spins 300,000 times (a few hundred microseconds) after every parallel region, which
keeps back-to-back kernels quick on an idle machine but burns cores that other busy
processes need, and then our own threads wait for the CPU (measured, see the README:
a digits training run with 2 threads several times slower than with 1). cnnnative
therefore sets a short spin for libgomp unless the user chose a policy, then removes the
variable again so child processes see the user's environment unchanged.
"""
from __future__ import annotations

import os

VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
DEFAULT_SPINCOUNT = "10000"


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
    state = {"policy": f"GOMP_SPINCOUNT={DEFAULT_SPINCOUNT}", "source": "cnnnative default",
             "libgomp_before": _libgomp_mappings()}
    os.environ["GOMP_SPINCOUNT"] = DEFAULT_SPINCOUNT
    return state


def after_openmp_loaded(state: dict) -> dict:
    """The policy in force: {'policy': ..., 'source': ...}."""
    if state["source"] != "cnnnative default":
        return state
    os.environ.pop("GOMP_SPINCOUNT", None)
    before, after = state["libgomp_before"], _libgomp_mappings()
    if before is not None and after is not None and not after - before:
        # Another module had loaded our libgomp already: it read the environment then.
        return {"policy": "libgomp default (GOMP_SPINCOUNT=300000)",
                "source": "libgomp was loaded before cnnnative could set a short spin; set "
                          "OMP_WAIT_POLICY or GOMP_SPINCOUNT before Python starts"}
    return {"policy": state["policy"], "source": state["source"]}
