"""Fake quantization: round a float tensor to the grid of an 8-bit quantization and back.

``fake_quantize_per_tensor_affine(x, scale, zero_point, quant_min, quant_max)`` is torch's
op of that name and the meaning of an ONNX QuantizeLinear -> DequantizeLinear pair (the
"QDQ" models ONNX Runtime's quantizer writes): ``(clamp(rint(x / scale) + zero_point,
quant_min, quant_max) - zero_point) * scale``. The arithmetic is the C++ engine's quantize
and dequantize nodes', operation by operation, so eager, compiled and int8 runs of a QDQ
model agree bit for bit:

- ``x / scale`` is ``x * (1 / scale)`` in float32 (the engine multiplies by the reciprocal;
  it can differ from a true division in the last bit, so at an exact half-way point the
  rounding may differ from ONNX Runtime's: at most one step, rarely);
- rounding is half to even (``rint``); NaN quantizes to ``quant_min``; +-inf saturate.

The gradient is the straight-through estimator: the incoming gradient where the rounded
value lies inside [quant_min, quant_max], 0 where it was clamped (and at NaN).
"""
from __future__ import annotations

import numpy as np

from ..autograd import array_of, record
from ._registry import grad_rule
from ._tensor_args import as_array, float32

__all__ = ["fake_quantize_per_tensor_affine"]


def _checked(scale, zero_point, quant_min, quant_max):
    """(float32 scale, int zero point, int min, int max) or a ValueError naming the argument."""
    op = "fake_quantize_per_tensor_affine"
    try:
        s = float(scale)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: scale must be a number, got {type(scale).__name__}") from None
    s32 = np.float32(s)
    if not (np.isfinite(s32) and s32 > 0):
        raise ValueError(f"{op}: scale must be a positive finite float32, got {s}")
    ints = []
    for name, v in (("zero_point", zero_point), ("quant_min", quant_min), ("quant_max", quant_max)):
        if isinstance(v, (bool, np.bool_)) or not float(v).is_integer():
            raise ValueError(f"{op}: {name} must be an integer, got {v!r}")
        ints.append(int(v))
    z, lo, hi = ints
    if not lo < hi:
        raise ValueError(f"{op}: quant_min ({lo}) must be smaller than quant_max ({hi})")
    if hi - lo > 65535:
        raise ValueError(f"{op}: quant_min..quant_max spans {hi - lo + 1} levels; at most 65536 (16 bits)")
    if not lo <= z <= hi:
        raise ValueError(f"{op}: zero_point {z} must lie in [quant_min, quant_max] = [{lo}, {hi}]")
    return s32, z, lo, hi


def _rounded(x, s, z, lo, hi):
    """rint(x * (1 / scale) + zero) in float32 (NaN -> quant_min), before the clamp."""
    inv = np.float32(1.0) / s
    with np.errstate(invalid="ignore", over="ignore"):
        t = np.multiply(x, inv, dtype=np.float32)
        t += np.float32(z)
        t = np.rint(t)
    t[np.isnan(t)] = np.float32(lo)
    return t


def fake_quantize_per_tensor_affine(input, scale, zero_point, quant_min=0, quant_max=255) -> np.ndarray:
    """(clamp(rint(input / scale) + zero_point, quant_min, quant_max) - zero_point) * scale,
    float32, input's shape (any). scale: a positive float (one for the whole tensor);
    zero_point, quant_min, quant_max: integers with quant_min <= zero_point <= quant_max
    (uint8: 0, 255; int8: -128, 127). See the module docstring for the exact arithmetic."""
    s, z, lo, hi = _checked(scale, zero_point, quant_min, quant_max)
    x = float32(input, "fake_quantize_per_tensor_affine", "input")
    t = _rounded(x, s, z, lo, hi)
    np.clip(t, lo, hi, out=t)
    t -= np.float32(z)
    t *= s
    return as_array(t)


@grad_rule("fake_quantize_per_tensor_affine")
def _fake_quantize_recorded(input, scale, zero_point, quant_min=0, quant_max=255):
    s, z, lo, hi = _checked(scale, zero_point, quant_min, quant_max)
    x = float32(array_of(input), "fake_quantize_per_tensor_affine", "input")
    out = fake_quantize_per_tensor_affine(x, scale, zero_point, quant_min, quant_max)

    def backward(g):
        with np.errstate(invalid="ignore", over="ignore"):
            t = np.multiply(x, np.float32(1.0) / s, dtype=np.float32) + np.float32(z)
            inside = (np.rint(t) >= lo) & (np.rint(t) <= hi)  # NaN compares False: no gradient
        return (np.where(inside, g, np.float32(0)).astype(np.float32),)
    return record(out, (input,), backward, "fake_quantize_per_tensor_affine")
