"""Resize (opsets 10, 11, 13, 18, 19) and Upsample (7, 9) as `cnnnative.ops.interpolate`.

ONNX resizes with a coordinate transformation (half_pixel, pytorch_half_pixel,
align_corners, asymmetric, ...) and, for nearest, a rounding rule; ops.interpolate has
torch's rules ('nearest' = asymmetric + floor, 'nearest-exact' = half-pixel + round half
up, 'linear' with align_corners False (half-pixel, clamped) or True). Which ONNX
combinations equal which kernel also depends on the sizes (pytorch_half_pixel differs
from torch when an output axis has length 1; round_prefer_floor equals round half up
unless a source coordinate lands exactly on .5, which depends on the scale). So instead
of a table of equivalences, the converter checks at load, for the actual sizes:

1. it computes ONNX's interpolation matrix for each resized axis (out x in weights,
   following the operator's definition: `onnx_axis_weights`);
2. it computes the kernel's matrix for each candidate (mode, align_corners, given by
   size or by scale factor) by running the kernel on an identity matrix;
3. it emits the first candidate whose matrices equal ONNX's on every axis.

Both are separable (one 1-D interpolation per axis), so equal matrices mean equal
results. When no kernel matches (asymmetric linear, as Upsample and TF exports without
half-pixel centers use; cubic), the resize is still computed exactly, more slowly:
nearest by selecting the source pixels with one index array per axis, linear and cubic
by one matrix product per axis with ONNX's own weights (antialiased shrinking and
tf_crop_and_resize too: its extrapolated outputs have zero weights and get
extrapolation_value added). Only tf_half_pixel_for_nn (opset 11 only) fails.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ._importer import MAX_TENSOR_ELEMENTS
from ._registry import converter
from ._values import BATCH, ShapeTensor, is_constant, is_graph_value
from .convert_shape import describe, normalize_axes

_COORDINATE_MODES = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric",
                     "tf_crop_and_resize", "tf_half_pixel_for_nn")
# an axis resize whose (out x in) weight matrix is larger than this is refused (it is
# built at load): 4096 -> 16384 fits
MAX_AXIS_WEIGHTS = 1 << 26
_NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def source_coordinates(coord, in_size, out_size, scale, roi=(0.0, 1.0)):
    """Where each output index samples the input (ONNX's coordinate transformations, in
    float64 with its own operations, so ties round as the reference does)."""
    y = np.arange(out_size, dtype=np.float64)
    out_width = scale * in_size  # ONNX tests this float, not out_size, against 1
    if coord == "align_corners":
        return np.zeros(out_size) if out_width == 1 else y * (in_size - 1) / (out_width - 1)
    if coord == "asymmetric":
        return y / scale
    if coord == "pytorch_half_pixel":
        return np.full(out_size, -0.5) if out_width == 1 else (y + 0.5) / scale - 0.5
    if coord == "half_pixel":
        return (y + 0.5) / scale - 0.5
    if coord == "half_pixel_symmetric":
        offset = in_size / 2 * (1 - out_size / out_width)
        return offset + (y + 0.5) / scale - 0.5
    if coord == "tf_crop_and_resize":
        start, end = roi
        if out_width == 1:
            x = np.full(out_size, (end - start) * (in_size - 1) / 2)
        else:
            x = y * (end - start) * (in_size - 1) / (out_width - 1)
        return x + start * (in_size - 1)
    raise ValueError(f"coordinate_transformation_mode {coord!r} is not supported")


def _cubic_kernel(d, a):
    d = np.abs(d)
    d2, d3 = d * d, d * d * d
    return np.where(d <= 1, (a + 2) * d3 - (a + 3) * d2 + 1,
                    np.where(d < 2, a * d3 - 5 * a * d2 + 8 * a * d - 4 * a, 0.0))


def _tap_weights(mode, ratio, scale, cubic_a, antialias):
    """(out, taps) weights of the taps around each coordinate (ratio: its offset past the
    first tap right of the centre, in (0, 1]). Antialiasing widens the kernel by 1/scale
    when shrinking and normalizes it."""
    ratio = ratio[:, None]
    if not antialias:
        if mode == "linear":
            return np.hstack([1 - ratio, ratio])
        return _cubic_kernel(np.arange(-1, 3)[None, :] - ratio, cubic_a)
    s = min(scale, 1.0)
    first = int(np.floor(-(2 if mode == "cubic" else 1) / s) + 1)
    d = (np.arange(first, 2 - first)[None, :] - ratio) * s
    w = _cubic_kernel(d, cubic_a) if mode == "cubic" else np.clip(1 - np.abs(d), 0, 1)
    return w / w.sum(axis=1, keepdims=True)


def onnx_axis_weights(mode, coord, nearest_mode, in_size, out_size, scale, cubic_a=-0.75, exclude_outside=False,
                      antialias=False, roi=(0.0, 1.0)):
    """ONNX Resize along one axis as an (out_size, in_size) matrix: nearest picks one source
    pixel by `nearest_mode`; linear mixes the 2 around the coordinate, cubic the 4 (more
    when antialiased); taps outside the input read its edge value (or, with
    exclude_outside, get weight 0 and the others are renormalized). Rows that
    tf_crop_and_resize extrapolates are zero."""
    x = source_coordinates(coord, in_size, out_size, scale, roi)
    left = np.floor(x)
    on_pixel = x == left
    ratio = np.where(on_pixel, 1.0, x - left)  # in (0, 1]: the taps lean to the left
    if mode == "nearest":
        if nearest_mode == "round_prefer_floor":
            take_hi = ratio > 0.5
        elif nearest_mode == "round_prefer_ceil":
            take_hi = ratio >= 0.5
        elif nearest_mode == "floor":
            take_hi = np.zeros_like(on_pixel)
        else:  # ceil
            take_hi = np.ones_like(on_pixel)
        take_hi = take_hi | on_pixel
        coeffs = np.stack([~take_hi, take_hi], axis=1).astype(np.float64)
    else:
        coeffs = _tap_weights(mode, ratio, scale, cubic_a, antialias)
    taps = coeffs.shape[1]
    # the `taps` pixels nearest x, ties to the smaller index (ONNX's neighbour rule)
    pad = -(-taps // 2)
    p = np.floor(x + pad)
    frac = x + pad - p
    if taps % 2 == 0:
        first = p + np.where(frac == 0, -(taps // 2), -(taps // 2) + 1) - pad
    else:
        first = p + np.where(frac <= 0.5, -((taps - 1) // 2), -((taps - 1) // 2) + 1) - pad
    index = first.astype(np.int64)[:, None] + np.arange(taps)[None, :]
    if exclude_outside:
        coeffs = np.where((index < 0) | (index >= in_size), 0.0, coeffs)
        total = coeffs.sum(axis=1, keepdims=True)
        coeffs = coeffs / np.where(total == 0, 1.0, total)
    if coord == "tf_crop_and_resize":
        coeffs = np.where(((x < 0) | (x > in_size - 1))[:, None], 0.0, coeffs)
    w = np.zeros((out_size, in_size))
    rows = np.repeat(np.arange(out_size), taps)
    np.add.at(w, (rows, np.clip(index, 0, in_size - 1).ravel()), coeffs.ravel())
    return w


def kernel_axis_weights(kernel_mode, align, in_size, size=None, scale=None):
    """ops.interpolate along one axis as an (out, in) matrix: its output on an identity."""
    eye = np.eye(in_size, dtype=np.float32)[None]  # (1, C=in, L=in): channel c is one-hot at c
    out = ops.interpolate(eye, size=None if size is None else [size],
                          scale_factor=None if scale is None else [scale], mode=kernel_mode,
                          align_corners=align)
    return out[0].T.astype(np.float64)


class ResizeSpec:
    """One Resize node's meaning: mode, coordinate rule, rounding (or cubic coefficient),
    and per spatial axis the input size, output size and ONNX scale; `by_size` when the
    node gave sizes."""

    def __init__(self, mode, coord, nearest_mode, in_sizes, out_sizes, scales, by_size, cubic_a=-0.75,
                 exclude_outside=False):
        self.mode, self.coord, self.nearest_mode = mode, coord, nearest_mode
        self.in_sizes, self.out_sizes, self.scales, self.by_size = in_sizes, out_sizes, scales, by_size
        self.cubic_a, self.exclude_outside = cubic_a, exclude_outside
        # set by the opset-11+ reader: antialiasing, and tf_crop_and_resize's region of
        # interest per spatial axis and the value written outside it
        self.antialias = False
        self.rois = [(0.0, 1.0)] * len(in_sizes)
        self.extrapolation_value = 0.0

    def describe(self):
        rule = f", nearest_mode={self.nearest_mode}" if self.mode == "nearest" else ""
        return (f"mode={self.mode}, coordinate_transformation_mode={self.coord}{rule}, "
                f"{'sizes' if self.by_size else 'scales'} {tuple(self.out_sizes if self.by_size else self.scales)} "
                f"on spatial sizes {tuple(self.in_sizes)}")

    def nearest_rule(self, axis):
        mode = self.nearest_mode
        if mode == "simple":  # Resize-10 / Upsample: floor when enlarging, ceil when shrinking
            mode = "floor" if self.scales[axis] >= 1 else "ceil"
        return mode

    def weights(self, axis, out_size=None):
        """ONNX's (out, in) interpolation matrix of spatial axis `axis`."""
        return onnx_axis_weights(self.mode, self.coord, self.nearest_rule(axis), self.in_sizes[axis],
                                 self.out_sizes[axis] if out_size is None else out_size, self.scales[axis],
                                 self.cubic_a, self.exclude_outside, self.antialias, self.rois[axis])

    def extrapolated(self, axis):
        """Which outputs of the axis tf_crop_and_resize fills with extrapolation_value."""
        if self.coord != "tf_crop_and_resize":
            return np.zeros(self.out_sizes[axis], bool)
        x = source_coordinates(self.coord, self.in_sizes[axis], self.out_sizes[axis], self.scales[axis],
                               self.rois[axis])
        return (x < 0) | (x > self.in_sizes[axis] - 1)

    def extrapolation(self):
        """(1, 1, *out) array: extrapolation_value where any axis extrapolates, else 0; None
        when there is nothing to add (the weights are zero exactly there)."""
        masks = [self.extrapolated(k) for k in range(len(self.in_sizes))]
        if self.extrapolation_value == 0 or not any(m.any() for m in masks):
            return None
        inside = np.ones(self.out_sizes, bool)
        for k, m in enumerate(masks):
            inside &= ~m.reshape((1,) * k + (-1,) + (1,) * (len(masks) - k - 1))
        return np.where(inside, 0.0, self.extrapolation_value).astype(np.float32)[None, None]

    def is_identity(self, axis):
        i = self.in_sizes[axis]
        return self.out_sizes[axis] == i and np.allclose(self.weights(axis), np.eye(i), rtol=0, atol=1e-12)


def _candidates(mode):
    if mode == "nearest":
        return [("nearest", None), ("nearest-exact", None)]
    if mode == "linear":
        return [("linear", False), ("linear", True)]
    return []


def _matching_kernel(spec):
    """(kernel mode, align_corners, size or scale arguments) computing exactly `spec`, or None."""
    wanted = [spec.weights(k) for k in range(len(spec.in_sizes))]
    for kernel_mode, align in _candidates(spec.mode):
        for by_size in ((True, False) if spec.by_size else (False,)):
            ok = True
            for w, i, o, s in zip(wanted, spec.in_sizes, spec.out_sizes, spec.scales):
                got = kernel_axis_weights(kernel_mode, align, i, size=o if by_size else None,
                                          scale=None if by_size else s)
                if got.shape != w.shape or not np.allclose(got, w, rtol=0, atol=1e-6):
                    ok = False
                    break
            if ok:
                args = {"size": list(spec.out_sizes)} if by_size else {"scale_factor": list(spec.scales)}
                return kernel_mode, align, args
    return None


def _select_pixels(ctx, x, spec):
    """Nearest resize as one index array per spatial axis (exact for every rounding rule)."""
    dims = len(spec.in_sizes)
    index = [slice(None), slice(None)]
    for k, o in enumerate(spec.out_sizes):
        src = spec.weights(k).argmax(axis=1)
        index.append(src.reshape((1,) * k + (o,) + (1,) * (dims - k - 1)))
    return ctx.op("getitem", x, tuple(index))


def _apply_matrices(ctx, x, spec):
    """Linear or cubic resize as one matrix product per resized axis: the axis is brought
    last, multiplied by the transposed (out, in) weights (one SGEMM), and put back."""
    rank = len(spec.in_sizes) + 2
    for k in range(len(spec.in_sizes)):
        if spec.is_identity(k):
            continue
        weights_t = np.ascontiguousarray(spec.weights(k).T, dtype=np.float32)
        axis = k + 2
        if axis == rank - 1:
            x = ctx.op("matmul", x, weights_t)
            continue
        swap = list(range(rank))
        swap[axis], swap[-1] = swap[-1], swap[axis]
        x = ctx.op("permute", ctx.op("matmul", ctx.op("permute", x, swap), weights_t), swap)
    return x


def _resize_value(ctx, spec):
    if spec.coord == "tf_half_pixel_for_nn":
        ctx.fail(f"coordinate_transformation_mode {spec.coord!r} is not supported")
    x = ctx.input(0)
    dims = range(len(spec.in_sizes))
    if all(spec.is_identity(k) for k in dims):
        return x
    outside = spec.extrapolation()
    if is_constant(x):
        y = x.astype(np.float64)
        for k in dims:
            y = np.moveaxis(np.tensordot(y, spec.weights(k), axes=([k + 2], [1])), -1, k + 2)
        return (y if outside is None else y + outside).astype(x.dtype)
    cropped = any(spec.extrapolated(k).any() for k in dims)
    kernel = None if cropped else _matching_kernel(spec)
    if kernel is not None:
        kernel_mode, align, args = kernel
        if kernel_mode == "linear":
            kernel_mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[len(spec.in_sizes)]
        return ctx.op("interpolate", x, mode=kernel_mode, align_corners=align, **args)
    # no kernel has these rules: the exact but slower general forms
    if spec.mode == "nearest" and not cropped:
        return _select_pixels(ctx, x, spec)
    y = _apply_matrices(ctx, x, spec)  # zero where tf_crop_and_resize extrapolates
    return y if outside is None else ctx.op("add", y, outside)


# -- reading the node ------------------------------------------------------------------

def _check_leading(ctx, x, scales, sizes):
    """Resize may not touch the batch or channel axes of a run-time value."""
    shape = ctx.shape(x)
    if scales is not None and (scales[0] != 1 or scales[1] != 1):
        ctx.fail(f"scales {tuple(scales)} resize the batch or channel axis of {describe(ctx, x)}")
    if sizes is not None:
        if sizes[1] != shape[1]:
            ctx.fail(f"sizes {tuple(sizes)} resize the channel axis of {describe(ctx, x)}")
        batch_ok = sizes[0] is BATCH or (is_constant(x) and sizes[0] == shape[0]) \
            or (ctx.importer.static_batch is not None and sizes[0] == ctx.importer.static_batch)
        if not batch_ok:
            ctx.fail(f"sizes {tuple(sizes)} fix the batch axis of {describe(ctx, x)} to {sizes[0]}, but the "
                     "model's batch is dynamic (export the sizes from Shape(x), or with a static batch)")


def _spec(ctx, mode, coord, nearest_mode, scales=None, sizes=None, axes=None, keep_aspect="stretch", cubic_a=-0.75,
          exclude_outside=False):
    if mode not in ("nearest", "linear", "cubic"):
        ctx.fail(f"mode {mode!r} is not one of nearest, linear, cubic")
    if coord not in _COORDINATE_MODES:
        ctx.fail(f"coordinate_transformation_mode {coord!r} is not one of {', '.join(_COORDINATE_MODES)}")
    if mode == "nearest" and nearest_mode not in _NEAREST_MODES + ("simple",):
        ctx.fail(f"nearest_mode {nearest_mode!r} is not one of {', '.join(_NEAREST_MODES)}")
    x = ctx.input(0)
    shape = list(ctx.shape(x))
    rank = len(shape)
    if not is_graph_value(x) and not is_constant(x):
        ctx.fail(f"Resize of {x!r} is not supported")
    if rank not in (3, 4, 5):
        ctx.fail(f"input {describe(ctx, x)} must be (N, C, *spatial) with 1 to 3 spatial axes")
    if (scales is None) == (sizes is None):
        ctx.fail("exactly one of scales and sizes must be given")
    given = scales if scales is not None else sizes
    if axes is not None:
        axes = normalize_axes(ctx, axes, rank)
        if len(given) != len(axes):
            ctx.fail(f"{'scales' if scales is not None else 'sizes'} {tuple(given)} must have one value per axis "
                     f"of axes {tuple(axes)}")
        full = [1.0] * rank if scales is not None else [BATCH if d is None else d for d in shape]
        for a, v in zip(axes, given):
            full[a] = v
        given = full
        if sizes is not None:
            sizes = given
        else:
            scales = given
    if len(given) != rank:
        ctx.fail(f"{'scales' if scales is not None else 'sizes'} {tuple(given)} must have {rank} values "
                 f"for input {describe(ctx, x)}")
    _check_leading(ctx, x, scales, sizes)
    in_sizes = [int(d) for d in shape[2:]]
    if scales is not None:
        scales = [float(s) for s in scales[2:]]
        if any(not np.isfinite(s) or s <= 0 for s in scales):
            ctx.fail(f"scales {tuple(scales)} must be positive")
        out_sizes = [int(np.float64(s) * i) for s, i in zip(scales, in_sizes)]
    else:
        out_sizes = [int(s) for s in sizes[2:]]
        if any(o <= 0 for o in out_sizes):
            ctx.fail(f"sizes {tuple(sizes)} must be positive")
        scales = [o / i for o, i in zip(out_sizes, in_sizes)]
        if keep_aspect not in ("stretch", "not_larger", "not_smaller"):
            ctx.fail(f"keep_aspect_ratio_policy {keep_aspect!r} is not one of stretch, not_larger, not_smaller")
        if keep_aspect != "stretch":
            # one scale for the axes the policy covers: all of them (N and C at scale 1
            # included) when no axes attribute is given
            covered = list(range(2, rank)) if axes is None else axes
            picked = [scales[a - 2] if a >= 2 else 1.0 for a in covered] + ([1.0] if axes is None else [])
            one = min(picked) if keep_aspect == "not_larger" else max(picked)
            if axes is None and one != 1.0:
                ctx.fail(f"keep_aspect_ratio_policy={keep_aspect} without axes scales the batch and channel axes "
                         f"of {describe(ctx, x)} by {one} too")
            scales = [one if k + 2 in covered else 1.0 for k in range(len(scales))]
            out_sizes = [int(one * i + 0.5) if k + 2 in covered else i for k, i in enumerate(in_sizes)]
    if any(o <= 0 for o in out_sizes):
        ctx.fail(f"the output spatial size {tuple(out_sizes)} must be positive (input {describe(ctx, x)})")
    if int(np.prod([shape[1]] + out_sizes, dtype=object)) > MAX_TENSOR_ELEMENTS \
            or any(i * o > MAX_AXIS_WEIGHTS for i, o in zip(in_sizes, out_sizes)):
        ctx.fail(f"resizing {describe(ctx, x)} to spatial size {tuple(out_sizes)} is absurdly large")
    return ResizeSpec(mode, coord, nearest_mode, in_sizes, out_sizes, scales, sizes is not None, cubic_a,
                      exclude_outside)


def _float_vector(ctx, i, what):
    v = ctx.const(i, what)
    if v is None or v.size == 0:
        return None
    return [float(e) for e in v.ravel()]


def _sizes(ctx, i):
    """The sizes input: a constant or a ShapeTensor (the batch taken from the input's shape)."""
    if not ctx.has_input(i):
        return None
    v = ctx.input(i)
    if isinstance(v, ShapeTensor):
        return list(v.entries)
    v = ctx.const(i, "sizes")
    if v.size == 0:
        return None
    if v.dtype.kind not in "iu":
        ctx.fail(f"sizes must be an integer tensor, got {v.dtype}")
    return [int(e) for e in v.ravel()]


def _rois(ctx, spec, rank, axes):
    """tf_crop_and_resize's roi input as (start, end) per spatial axis."""
    roi = _float_vector(ctx, 1, "roi")
    axes = list(range(rank)) if axes is None else normalize_axes(ctx, axes, rank)
    if roi is None or len(roi) != 2 * len(axes):
        ctx.fail(f"tf_crop_and_resize needs roi with 2 * {len(axes)} values, got {roi}")
    full = {a: (roi[k], roi[k + len(axes)]) for k, a in enumerate(axes)}
    if any(full.get(a, (0.0, 1.0)) != (0.0, 1.0) for a in (0, 1)):
        ctx.fail(f"roi {tuple(roi)} crops the batch or channel axis")
    return [full.get(a, (0.0, 1.0)) for a in range(2, rank)]


def _resize_v11(ctx, axes=None):
    coord = ctx.attr("coordinate_transformation_mode", "half_pixel")
    spec = _spec(ctx, ctx.attr("mode", "nearest"), coord, ctx.attr("nearest_mode", "round_prefer_floor"),
                 scales=_float_vector(ctx, 2, "scales") if ctx.has_input(2) else None, sizes=_sizes(ctx, 3),
                 axes=axes, keep_aspect=ctx.attr("keep_aspect_ratio_policy", "stretch"),
                 cubic_a=float(ctx.attr("cubic_coeff_a", -0.75)), exclude_outside=bool(ctx.attr("exclude_outside", 0)))
    spec.antialias = bool(ctx.attr("antialias", 0)) and spec.mode != "nearest"
    if coord == "tf_crop_and_resize":
        spec.rois = _rois(ctx, spec, len(spec.in_sizes) + 2, axes)
        spec.extrapolation_value = float(ctx.attr("extrapolation_value", 0.0))
    return _resize_value(ctx, spec)


@converter("Resize", since=10)
def _resize_v10(ctx):
    return _resize_value(ctx, _spec(ctx, ctx.attr("mode", "nearest"), "asymmetric", "simple",
                                    scales=_float_vector(ctx, 1, "scales")))


@converter("Resize", since=11)
def _resize_11(ctx):
    return _resize_v11(ctx)


@converter("Resize", since=13)  # roi and scales became optional
def _resize_13(ctx):
    return _resize_v11(ctx)


@converter("Resize", since=18)  # axes, antialias, keep_aspect_ratio_policy
def _resize_18(ctx):
    return _resize_v11(ctx, ctx.ints("axes"))


@converter("Resize", since=19)  # coordinate_transformation_mode half_pixel_symmetric
def _resize_19(ctx):
    return _resize_v11(ctx, ctx.ints("axes"))


@converter("Upsample", since=7)
def _upsample_v7(ctx):
    return _resize_value(ctx, _spec(ctx, ctx.attr("mode", "nearest"), "asymmetric", "simple",
                                    scales=[float(s) for s in ctx.attr("scales", [])]))


@converter("Upsample", since=9)
def _upsample_v9(ctx):
    return _resize_value(ctx, _spec(ctx, ctx.attr("mode", "nearest"), "asymmetric", "simple",
                                    scales=_float_vector(ctx, 1, "scales")))
