"""QuantizeLinear and DequantizeLinear: the QDQ form of a quantized ONNX model.

ONNX Runtime's quantizer (``quantize_static(..., quant_format=QuantFormat.QDQ)``) and
TensorRT-style exporters keep the float graph and mark where values are quantized:

- constants (weights, biases) are stored quantized and read through a DequantizeLinear:
  folded here into float32 constants, so the Conv / Gemm converters see ordinary weights
  (exactly the values the integers stand for);
- run-time values pass through a QuantizeLinear -> DequantizeLinear pair with one scale
  and zero point: imported as ``ops.fake_quantize_per_tensor_affine`` (the pair's float
  meaning). ``cnnnative.compile`` runs it as the engine's quantize + dequantize nodes, and
  ``cnnnative.quantize(model, None)`` uses these scales instead of calibrating, so the
  convolutions run on the int8 kernels with the model's own quantization.

A QuantizeLinear on a run-time value must be read only by a DequantizeLinear with the same
scale and zero point (an integer tensor has no place in cnnnative's float graph); 8-bit
and 16-bit integers are supported, per-axis scales on constants only, no blocked (opset 21
block_size) or float8 / 4-bit quantization.
"""
from __future__ import annotations

import numpy as np

from ._registry import converter
from ._values import is_constant, is_graph_value

__all__ = ["QuantizedValue"]

# ONNX TensorProto element types of the integer grids supported, with their numpy type.
_GRIDS = {2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32}  # int32: biases


class QuantizedValue:
    """The output of a QuantizeLinear on a run-time value, while the model is imported: it
    exists only to meet its DequantizeLinear (any other reader is an error)."""

    __slots__ = ("x", "scale", "zero", "dtype", "node")

    def __init__(self, x, scale, zero, dtype, node):
        self.x, self.scale, self.zero, self.dtype, self.node = x, scale, zero, dtype, node


def _grid(ctx, zero, what):
    """(numpy integer type, zero point array) of a Q/DQ node: from the zero point's type,
    else QuantizeLinear's output_dtype attribute (opset 21), else uint8."""
    if zero is not None:
        dtype = np.dtype(zero.dtype).type
        if dtype not in _GRIDS.values():
            ctx.fail(f"{what} zero point has type {np.dtype(zero.dtype).name}; supported: uint8, int8, uint16, "
                     "int16, int32 (float8 and 4-bit types are not)")
        return dtype, zero
    code = int(ctx.attr("output_dtype", 0) or 0)
    if code and code not in _GRIDS:
        ctx.fail(f"output_dtype {code} is not supported; uint8 (2), int8 (3), uint16 (4) and int16 (5) are")
    dtype = _GRIDS.get(code, np.uint8)
    return dtype, np.zeros((), dtype)


def _params(ctx):
    """(scale float32 array, zero point array, integer type, axis) of a Q/DQ node."""
    if int(ctx.attr("block_size", 0) or 0):
        ctx.fail("blocked quantization (block_size) is not supported")
    scale = np.asarray(ctx.const(1, "scale"))
    if scale.dtype != np.float32:
        ctx.fail(f"scale must be float32, got {scale.dtype}")
    zero = ctx.const(2, "zero point", None) if ctx.has_input(2) else None
    if scale.size == 1:
        scale = scale.reshape(())  # one scale, written as shape (1,) by some quantizers
    if zero is not None:
        zero = np.asarray(zero)
        if zero.size == 1 and scale.ndim == 0:
            zero = zero.reshape(())
        if zero.shape != scale.shape:
            ctx.fail(f"zero point shape {zero.shape} differs from the scale's {scale.shape}")
    dtype, zero = _grid(ctx, zero, ctx.node.op_type)
    if scale.ndim > 1:
        ctx.fail(f"scale must be a scalar or 1-D (per axis), got shape {scale.shape}")
    if not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
        ctx.fail(f"scale must be positive and finite, got min {scale.min()} max {scale.max()}")
    return scale, zero, dtype, int(ctx.attr("axis", 1))


def _along(ctx, a, x_shape, axis):
    """A per-axis parameter reshaped to broadcast along `axis` of a value of x_shape."""
    if a.ndim == 0:
        return a
    rank = len(x_shape)
    ax = axis + rank if axis < 0 else axis
    if not 0 <= ax < rank:
        ctx.fail(f"axis {axis} is out of range for a value of rank {rank}")
    if x_shape[ax] != a.shape[0]:
        ctx.fail(f"{a.shape[0]} scales for axis {axis} of size {x_shape[ax]}")
    return a.reshape([a.shape[0] if k == ax else 1 for k in range(rank)])


def _limits(dtype):
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


@converter("QuantizeLinear", since=10)
def _quantize_linear(ctx):
    x = ctx.input(0)
    scale, zero, dtype, axis = _params(ctx)
    if dtype is np.int32:
        ctx.fail("QuantizeLinear to int32 is not an ONNX type (int32 is for dequantized biases)")
    lo, hi = _limits(dtype)
    if is_constant(x):
        xf = np.asarray(x, np.float32)
        s = _along(ctx, scale, xf.shape, axis)
        z = _along(ctx, zero.astype(np.float64), xf.shape, axis)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            q = np.rint(xf.astype(np.float64) / s) + z
        q = np.where(np.isnan(q), lo, q)
        return np.clip(q, lo, hi).astype(dtype)
    if not is_graph_value(x):
        ctx.fail("input 0 must be a tensor (a run-time value or a constant)")
    if scale.size != 1:
        ctx.fail(f"per-axis quantization ({scale.size} scales) of a run-time value is not supported; "
                 "only one scale per tensor")
    return QuantizedValue(x, float(scale.reshape(())), int(zero.reshape(())), dtype, ctx.name)


@converter("DequantizeLinear", since=10)
def _dequantize_linear(ctx):
    x = ctx.input(0)
    scale, zero, dtype, axis = _params(ctx)
    if isinstance(x, QuantizedValue):
        if np.dtype(dtype) != np.dtype(x.dtype) or scale.size != 1 or float(scale.reshape(())) != x.scale \
                or int(zero.reshape(())) != x.zero:
            ctx.fail(f"reads QuantizeLinear {x.node!r} (scale {x.scale}, zero point {x.zero}, "
                     f"{np.dtype(x.dtype).name}) with other parameters (scale {scale.ravel()[:4]}, zero point "
                     f"{zero.ravel()[:4]}, {np.dtype(dtype).name}); only matching pairs are supported")
        lo, hi = _limits(dtype)
        return ctx.op("fake_quantize_per_tensor_affine", x.x, x.scale, x.zero, lo, hi)
    if not is_constant(x):
        ctx.fail("input 0 must be a quantized constant or the output of a QuantizeLinear")
    if x.dtype.kind not in "iu":
        ctx.fail(f"input 0 must be an integer tensor, got {x.dtype}")
    if np.dtype(x.dtype) != np.dtype(dtype):
        ctx.fail(f"input 0 is {x.dtype} but its zero point is {np.dtype(dtype).name}")
    s = _along(ctx, scale, x.shape, axis)
    z = _along(ctx, zero.astype(np.int64), x.shape, axis)
    return ((x.astype(np.int64) - z).astype(np.float32) * s).astype(np.float32)
