"""cnnnative: convolutional neural networks on a native C++ engine.

Tensors are numpy arrays: NCHW float32, C-contiguous; convolution weights OIHW, as in
PyTorch, so weights move across unchanged. Inputs that are not float32 or not
C-contiguous are converted (copied) before a kernel runs.
"""
from __future__ import annotations

import os as _os
import warnings as _warnings

from . import _wait_policy
from . import _core  # noqa: E402

# Which setting chose how idle threads wait; read at import, as the team reads it then too
# (thread_settings() below is its first use).
_wait_state = _wait_policy.read()

if _core.thread_settings()["start_warning"]:
    _warnings.warn(_core.thread_settings()["start_warning"], RuntimeWarning, stacklevel=2)

from . import autograd
from .autograd import no_grad, enable_grad, set_grad_enabled, is_grad_enabled
from .tensor import Tensor, tensor
from . import ops
from . import inference
from .inference import compile  # noqa: A001  (cnnnative.compile, the inference compiler)
from .plan_file import export_plan, load_plan
from .precision_report import bf16_report  # noqa: E402

__version__ = _core.__version__

# The layer API on top of ops (Python structure only; arithmetic stays in the core).
from . import nn, optim, data, models  # noqa: E402
from . import adversarial  # noqa: E402
from .train import Trainer  # noqa: E402
from .io import save, load  # noqa: E402
from .state_dict_file import load_state_dict_file  # noqa: E402
from . import finetune  # noqa: E402
from .quantization import quantize, QuantizedModel  # noqa: E402  (post-training int8)
from .ops import set_autotune, get_autotune, set_fast_algorithms, get_fast_algorithms  # noqa: E402

__all__ = [
    "__version__",
    "info",
    "compile",
    "quantize",
    "QuantizedModel",
    "bf16_report",
    "inference",
    "export_plan",
    "load_plan",
    "ops",
    "autograd",
    "Tensor",
    "tensor",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "set_num_threads",
    "get_num_threads",
    "set_isa",
    "get_isa",
    "nn",
    "optim",
    "data",
    "models",
    "adversarial",
    "load_state_dict_file",
    "finetune",
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
    else the CPUs this process may run on, read at import. A process made by fork() keeps
    the count and runs on a fresh set of threads."""
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    """Threads kernels called from this thread use."""
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


def _threads_source() -> str:
    return _core.thread_settings()["source"]


def _team_wait() -> str:
    s = _core.thread_settings()
    return (f"pause-spin {s['team_spin_us']} us, then yield {s['team_yield_us']} us, then sleep "
            f"({s['team_wait_source']})")


def info() -> dict:
    """What this build is and what it will use: version, ISA chosen and available,
    the data cache sizes the GEMM blocking is sized for, threads (and where the count came
    from), the setting that chose how idle threads wait
    (wait_policy, wait_policy_source) and what that waiting is (team_wait; the library's
    own thread team, cnnnative/thread_pool.h), team_backoff (its busy-machine back-off:
    how often kernels went to one thread because the team lost time to other processes,
    and for how many more microseconds), openmp (False: no OpenMP runtime is linked),
    CUDA built/available, compiler and flags."""
    build = _core.build_info()
    cuda = _cuda_info()
    return {
        "version": __version__,
        "isa": _core.get_isa(),
        "isa_best": _core.best_isa(),
        "isas_available": list(_core.available_isas()),
        "isa_env": _os.environ.get("CNNNATIVE_ISA"),
        "caches": _core.cpu_caches(),
        "threads": _core.get_num_threads(),
        "threads_source": _threads_source(),
        "wait_policy": _wait_state["policy"],
        "wait_policy_source": _wait_state["source"],
        "team_wait": _team_wait(),
        "team_backoff": _core.team_contention(),
        "openmp": build["openmp"],
        "cuda_built": cuda["built"],
        "cuda_available": cuda["available"],
        "cuda_reason": cuda["reason"],
        "compiler": build["compiler"],
        "flags": build["flags"],
        "native_build": build["native_build"],
    }

# Where the C API's headers, library and CMake / pkg-config files are (see c_api).
from .c_api import get_include, get_library_dir, get_cmake_dir  # noqa: E402

__all__ += ["get_include", "get_library_dir", "get_cmake_dir"]
