"""Which setting chose how the library's idle threads wait, for cnnnative.info().

cnnnative links no OpenMP runtime: its parallel regions run on its own thread team
(cpp/include/cnnnative/thread_pool.h), whose idle members pause-spin a few microseconds,
then yield the core, then sleep. The team takes those lengths from CNNNATIVE_SPIN_US, else
from the variables users already set for OpenMP (OMP_WAIT_POLICY=passive: sleep at once;
active: spin long; GOMP_SPINCOUNT), else its defaults; it reads them once, when it is first
used. Nothing here changes the environment.
"""
from __future__ import annotations

import os

VARIABLES = ("CNNNATIVE_SPIN_US", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def read() -> dict:
    """The setting in force: {'policy': ..., 'source': 'environment' or 'cnnnative default'}."""
    chosen = [f"{name}={os.environ[name]}" for name in VARIABLES if name in os.environ]
    if chosen:
        return {"policy": ", ".join(chosen), "source": "environment"}
    return {"policy": "short spin, then yield, then sleep", "source": "cnnnative default"}
