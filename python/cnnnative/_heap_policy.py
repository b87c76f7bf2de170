"""Keep freed activation memory in the heap between training steps (glibc only).

A training step allocates its activations and gradients (a few MB each) and frees them all
when its graph dies. glibc's malloc serves arrays above its mmap threshold with fresh
mappings and gives the top of the heap back to the kernel once more than its trim
threshold is free there; both thresholds start small (128 KB) and only grow as big blocks
are freed. So each step's arrays came back as fresh pages: on seed_mnist_net at batch 64
about 2,700 page faults per step, 8 ms of kernel time in a 24 ms step (benchmarks/
RESULTS.md). The thresholds are set where glibc's own adjustment stops (32 MB mmap
threshold, twice that to trim): arrays up to 32 MB reuse heap memory, and up to 64 MB of
free memory stays in the process instead of being returned at every step.

Set only when the user set no malloc tuning of their own (MALLOC_*_ or GLIBC_TUNABLES
variables) and CNNNATIVE_HEAP_POLICY is not "default"; other C libraries are left alone.
"""
from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20   # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc sets when it raises the mmap threshold

_USER_TUNING = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                "MALLOC_MMAP_MAX_", "GLIBC_TUNABLES")


def apply() -> str:
    """Set the thresholds if nothing else decided them; returns what happened (for info)."""
    if os.environ.get("CNNNATIVE_HEAP_POLICY", "").lower() == "default":
        return "glibc defaults (CNNNATIVE_HEAP_POLICY=default)"
    chosen = [name for name in _USER_TUNING if name in os.environ]
    if chosen:
        return f"the user's ({', '.join(chosen)})"
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "the C library's defaults (not glibc)"
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return "the C library's defaults (no mallopt)"
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1 or mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1:
        return "glibc defaults (mallopt refused)"
    return f"mmap threshold {MMAP_THRESHOLD >> 20} MB, trim threshold {TRIM_THRESHOLD >> 20} MB"
