"""cnnnative: convolutional neural networks on a native C++ engine.

Tensors are numpy arrays: NCHW float32, C-contiguous; convolution weights OIHW, as in
PyTorch, so weights move across unchanged. Inputs that are not float32 or not
C-contiguous are converted (copied) before a kernel runs.
"""
from __future__ import annotations

import os as _os

# Idle OpenMP workers spin for a while before sleeping (libgomp's default: ~300k spins).
# On a machine where other processes compete for the cores that spinning starves them
# and us, and between short kernels it dominates (measured: a digits training epoch
# 36x slower under load; ResNet-18 batch 1 compiled 552 ms -> 43 ms). A short spin keeps back-to-back kernels fast on a quiet machine
# and yields quickly on a busy one. An explicit OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
# This must be set before the OpenMP runtime starts, i.e. before _core is loaded.
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _os.environ["GOMP_SPINCOUNT"] = "10000"

from . import _core  # noqa: E402
from . import ops
from . import inference
from .inference import compile  # noqa: A001  (cnnnative.compile, the inference compiler)

__version__ = _core.__version__

# The layer API on top of ops (Python structure only; arithmetic stays in the core).
from . import nn, optim, data, models  # noqa: E402
from .train import Trainer  # noqa: E402
from .io import save, load  # noqa: E402
from .ops import set_autotune, get_autotune, set_fast_algorithms, get_fast_algorithms  # noqa: E402

__all__ = [
    "__version__",
    "info",
    "compile",
    "inference",
    "ops",
    "set_num_threads",
    "get_num_threads",
    "set_isa",
    "get_isa",
    "nn",
    "optim",
    "data",
    "models",
    "Trainer",
    "save",
    "load",
    "set_autotune",
    "get_autotune",
    "set_fast_algorithms",
    "get_fast_algorithms",
]


def set_num_threads(n: int) -> None:
    """Set the number of threads every kernel uses (n >= 1). Starts at OMP_NUM_THREADS,
    or the number of processors."""
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    """Threads every kernel uses."""
    return _core.get_num_threads()


def set_isa(name: str) -> None:
    """Force kernels onto 'scalar', 'avx2' or 'avx512' (never one the CPU lacks).
    The start value is the best the CPU has, or the environment's CNNNATIVE_ISA."""
    _core.set_isa(name)


def get_isa() -> str:
    """The instruction set kernels use now."""
    return _core.get_isa()


def _cuda_info() -> dict:
    try:
        from . import cuda  # noqa: F401  (optional backend)
    except ImportError:
        return {"built": False, "available": False, "reason": "cnnnative.cuda is not present"}
    try:
        return {"built": cuda.is_built(), "available": cuda.is_available(),
                "reason": cuda.why_unavailable()}
    except Exception as e:  # a broken optional backend must not break info()
        return {"built": False, "available": False, "reason": str(e)}


def info() -> dict:
    """What this build is and what it will use: version, ISA chosen and available,
    threads, OpenMP, CUDA built/available, compiler and flags."""
    build = _core.build_info()
    cuda = _cuda_info()
    return {
        "version": __version__,
        "isa": _core.get_isa(),
        "isa_best": _core.best_isa(),
        "isas_available": list(_core.available_isas()),
        "isa_env": _os.environ.get("CNNNATIVE_ISA"),
        "threads": _core.get_num_threads(),
        "openmp": build["openmp"],
        "cuda_built": cuda["built"],
        "cuda_available": cuda["available"],
        "cuda_reason": cuda["reason"],
        "compiler": build["compiler"],
        "flags": build["flags"],
        "native_build": build["native_build"],
    }
