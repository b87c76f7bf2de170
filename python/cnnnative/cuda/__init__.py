"""The optional CUDA backend: device tensors and the functional ops on them.

    import cnnnative.cuda as cc
    if cc.is_available():
        x = cc.from_numpy(images)              # (N, C, H, W) float32 on the GPU
        y = cc.ops.conv2d(x, cc.from_numpy(w), padding=1)
        y.numpy()                              # back to the host

Importing this module always works: `is_built()` says whether the extension
`cnnnative._cuda` was compiled (CMake found nvcc), `is_available()` whether a usable GPU
and driver exist, and `why_unavailable()` why not (e.g. cudaGetDeviceCount's error).

Tensors are C-contiguous arrays in device memory (float32, int32, int64 or uint8),
NCHW / OIHW as everywhere in cnnnative. They share memory without copies with CuPy,
PyTorch and Numba through `__cuda_array_interface__` and DLPack (`__dlpack__`,
`from_dlpack`). Memory comes from a caching allocator (`memory_stats`, `empty_cache`).
All kernels run on the legacy default stream, in order; results are ready when
`numpy()` returns or after `synchronize()`.

Environment: CNNNATIVE_CUDA_SYNC=1 synchronises after every kernel (errors name the
kernel); CNNNATIVE_CUDA_POISON=1 fills new outputs with NaN (tests catch unwritten
elements).
"""
from __future__ import annotations

import numpy as _np

try:
    from .. import _cuda
    _IMPORT_ERROR = ""
except ImportError as _e:  # built without CUDA, or the module failed to load
    _cuda = None
    _IMPORT_ERROR = str(_e)

__all__ = [
    "is_built", "is_available", "why_unavailable", "device_count", "synchronize",
    "Tensor", "from_numpy", "empty", "zeros", "from_dlpack", "as_tensor", "is_tensor",
    "empty_cache", "memory_stats", "ops",
]


def is_built() -> bool:
    """True when the extension cnnnative._cuda was compiled into this installation."""
    return _cuda is not None


def why_unavailable() -> str:
    """Why the CUDA backend cannot run here ("" when it can)."""
    if _cuda is None:
        return ("cnnnative was built without the CUDA backend (cnnnative._cuda: "
                f"{_IMPORT_ERROR or 'not present'}); rebuild with nvcc on PATH and CNNNATIVE_CUDA=ON")
    return _explain(_cuda.why_unavailable(), _driver_present())


def _driver_present() -> bool:
    """Whether the NVIDIA driver's user-space library (libcuda) loads on this machine."""
    import ctypes
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def _explain(reason: str, driver_present: bool) -> str:
    """The CUDA runtime says cudaErrorInsufficientDriver ("driver version is insufficient")
    both for an old driver and for none at all; without a driver say that instead."""
    if "cudaErrorInsufficientDriver" in reason and not driver_present:
        return ("no NVIDIA driver found (libcuda.so.1 does not load): the CUDA backend needs an NVIDIA "
                f"GPU and its driver [{reason}]")
    return reason


def is_available() -> bool:
    """True when the extension is built and a supported GPU (sm_80 or newer) and driver exist."""
    return why_unavailable() == ""


def _require():
    reason = why_unavailable()
    if reason:
        raise RuntimeError(f"CUDA backend unavailable: {reason}")
    return _cuda


def device_count() -> int:
    """Number of CUDA devices (0 without a driver or when not built)."""
    return _cuda.device_count() if _cuda is not None else 0


def synchronize() -> None:
    """Wait for every queued kernel; raises RuntimeError if one failed."""
    _require().synchronize()


if _cuda is not None:
    Tensor = _cuda.Tensor
else:
    class Tensor:  # noqa: D401  (placeholder so isinstance checks work without the extension)
        """cnnnative.cuda.Tensor (unavailable: the CUDA backend is not built)."""

        def __init__(self, *args, **kwargs):
            _require()


def is_tensor(obj) -> bool:
    """True for a cnnnative.cuda.Tensor."""
    return _cuda is not None and isinstance(obj, _cuda.Tensor)


_DTYPES = ("float32", "int32", "int64", "uint8")


def _dtype_name(dtype) -> str:
    name = _np.dtype(dtype).name
    if name not in _DTYPES:
        raise TypeError(f"cnnnative.cuda tensors hold {', '.join(_DTYPES)}; got {name}")
    return name


def from_numpy(array, device: int = 0, dtype=None) -> "Tensor":
    """Copy a host array (any array-like) to the GPU. Floats become float32 unless dtype says
    otherwise; integer arrays keep int32/int64/uint8 (other integers become int64)."""
    cuda = _require()
    a = _np.asarray(array)
    if dtype is None:
        if a.dtype.kind == "f" or a.dtype.kind == "b":
            dtype = _np.float32
        elif a.dtype.name in _DTYPES:
            dtype = a.dtype
        elif a.dtype.kind in "iu":
            dtype = _np.int64
        else:
            raise TypeError(f"from_numpy: cannot put dtype {a.dtype} on the GPU")
    a = _np.ascontiguousarray(a, dtype=_np.dtype(_dtype_name(dtype)))
    return cuda.from_numpy(a, int(device))


def empty(shape, dtype="float32", device: int = 0) -> "Tensor":
    """Uninitialised device tensor of `shape`."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _require().empty(shape, _dtype_name(dtype), int(device))


def zeros(shape, dtype="float32", device: int = 0) -> "Tensor":
    """Zero-filled device tensor of `shape`."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _require().zeros(shape, _dtype_name(dtype), int(device))


_TYPESTRS = {"<f4": "float32", "<i4": "int32", "<i8": "int64", "|u1": "uint8", "<u1": "uint8"}


def _from_cuda_array_interface(obj) -> "Tensor":
    cuda = _require()
    cai = obj.__cuda_array_interface__
    typestr = cai["typestr"]
    if typestr not in _TYPESTRS:
        raise TypeError(f"__cuda_array_interface__: unsupported typestr {typestr!r} "
                        f"(float32, int32, int64 or uint8)")
    if cai.get("mask") is not None:
        raise ValueError("__cuda_array_interface__: masked arrays are not supported")
    shape = tuple(int(d) for d in cai["shape"])
    strides = cai.get("strides")
    if strides is not None:
        item = _np.dtype(_TYPESTRS[typestr]).itemsize
        expect = item
        for d, s in zip(reversed(shape), reversed(strides)):
            if d != 1 and s != expect:
                raise ValueError("__cuda_array_interface__: only C-contiguous arrays can be shared "
                                 "without a copy; make the array contiguous first")
            expect *= d
    ptr = int(cai["data"][0])
    stream = cai.get("stream") if int(cai.get("version", 0)) >= 3 else None
    return cuda.from_pointer(ptr, list(shape), _TYPESTRS[typestr], obj, stream)


def from_dlpack(obj) -> "Tensor":
    """Share a CUDA array from another library without copying: anything with
    __dlpack__/__dlpack_device__ (PyTorch, CuPy, JAX), a 'dltensor' capsule, or an object
    with __cuda_array_interface__. Host arrays given through DLPack are copied to the GPU.
    The array must be C-contiguous and float32/int32/int64/uint8."""
    cuda = _require()
    if is_tensor(obj):
        return obj
    if hasattr(obj, "__dlpack__"):
        device_type, _ = obj.__dlpack_device__()
        if int(device_type) == 1:  # host memory: copy
            return from_numpy(_np.from_dlpack(obj))
        if int(device_type) not in (2, 13):
            raise ValueError(f"from_dlpack: DLPack device type {device_type} is not CUDA or CPU memory")
        try:
            capsule = obj.__dlpack__(stream=1)  # we consume on the legacy default stream
        except TypeError:
            capsule = obj.__dlpack__()
        return cuda.from_dlpack_capsule(capsule)
    if type(obj).__name__ == "PyCapsule":
        return cuda.from_dlpack_capsule(obj)
    if hasattr(obj, "__cuda_array_interface__"):
        return _from_cuda_array_interface(obj)
    raise TypeError(f"from_dlpack: {type(obj).__name__} exposes neither __dlpack__ nor "
                    f"__cuda_array_interface__")


def as_tensor(obj, name: str = "input", allow_host: bool = False) -> "Tensor":
    """obj as a cnnnative.cuda.Tensor: a Tensor as it is, a device array from another library
    shared without a copy; host arrays are copied only with allow_host (else TypeError)."""
    if is_tensor(obj):
        return obj
    if hasattr(obj, "__cuda_array_interface__") or (
            hasattr(obj, "__dlpack_device__") and int(obj.__dlpack_device__()[0]) in (2, 13)):
        return from_dlpack(obj)
    if allow_host:
        return from_numpy(obj)
    raise TypeError(f"{name} must be a cnnnative.cuda.Tensor (or a CUDA array from another library), "
                    f"got {type(obj).__name__}; use cnnnative.cuda.from_numpy to copy host data")


def empty_cache() -> None:
    """Give the allocator's cached free blocks back to the driver."""
    if _cuda is not None:
        _cuda.empty_cache()


def memory_stats() -> dict:
    """Caching allocator counters: in_use_bytes, cached_bytes, peak_in_use_bytes, device_mallocs."""
    if _cuda is None:
        return {"in_use_bytes": 0, "cached_bytes": 0, "peak_in_use_bytes": 0, "device_mallocs": 0}
    return _cuda.memory_stats()


from . import ops  # noqa: E402  (functional ops; importable without the extension)

if _cuda is not None:
    # Gradient accumulation (Parameter.accumulate) adds tensors with +.
    Tensor.__add__ = lambda a, b: ops.add(a, b)
