"""Converters for the convolutions: Conv and ConvTranspose, 1-D, 2-D and 3-D.

Each becomes the library's own layer (nn.Conv1d/2d/3d, nn.ConvTranspose1d/2d/3d) holding
the initializers as Parameters named as in the file, so the engine's kernels and fusions
(BN folding, bias/activation epilogues) apply to imported models unchanged. What a layer
cannot express itself (asymmetric pads of a 3-D convolution, the crop of a transposed one)
is an `ops.pad` around it. The helpers here (`set_param`, `explicit_pads`, `torch_pad`)
are shared with the pool and norm converters.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..nn.module import Parameter
from ._registry import converter

__all__ = ["set_param", "weighted_layer", "torch_scope", "explicit_pads", "torch_pad", "spatial_attrs"]


def set_param(layer, name, value):
    """Give `layer` a Parameter `name` holding a float32 copy of `value` (shape checked)."""
    current = getattr(layer, name)
    value = np.ascontiguousarray(value, dtype=np.float32)
    if current is not None and tuple(current.shape) != value.shape:
        raise ValueError(f"{type(layer).__name__}.{name} expects shape {tuple(current.shape)}, "
                         f"the model gives {value.shape}")
    setattr(layer, name, Parameter(value.copy()))


def torch_scope(node_name: str) -> str | None:
    """The module path torch's exporter wrote into a node's name ('/layer1/layer1.0/fc/MatMul'
    -> 'layer1.0.fc'), or None for a name not of that form."""
    parts = [p for p in node_name.split("/") if p]
    if not node_name.startswith("/") or len(parts) < 2:
        return None
    path = ""
    for p in parts[:-1]:
        path = p if not path or p.startswith(path + ".") else f"{path}.{p}"
    return path


def weighted_layer(ctx, layer, x, param_input):
    """Add `layer` (holding the node's weights) applied to x, named after the initializer at
    input `param_input` ('features.0.weight' -> 'features.0'); when the exporter folded that
    weight into an anonymous constant ('onnx::MatMul_12'), after the node's torch scope."""
    if ctx.importer.param_prefix(ctx.input_name(param_input)) is None:
        scope = torch_scope(ctx.node.name or "")
        if scope:
            return ctx.graph.add_node(layer, x, name=ctx.importer.layer_name(scope))
    return ctx.layer(layer, x, param_input=param_input)


def explicit_pads(ctx, spatial, kernel, strides, dilations, ceil=False):
    """(before..., after...) pads for the node, auto_pad resolved against the input's
    spatial sizes (SAME_UPPER puts the odd pixel after, SAME_LOWER before). `ceil`: a
    ceil_mode pool, whose window may overhang the padded input (see check_pads)."""
    # absurd windows (kernel 2**40, stride 0, huge pads) fail here, naming the node
    from ._validate import check_pads, check_window
    check_window(ctx, kernel, strides, dilations)
    pads = _resolved_pads(ctx, spatial, kernel, strides, dilations)
    check_pads(ctx, spatial, kernel, dilations, pads, strides, ceil)
    return pads


def _resolved_pads(ctx, spatial, kernel, strides, dilations):
    k = len(kernel)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if auto_pad in ("NOTSET", ""):
        pads = ctx.ints("pads", (0,) * (2 * k))
        if len(pads) != 2 * k:
            ctx.fail(f"pads has {len(pads)} entries, expected {2 * k} for a {k}-D kernel")
        if min(pads) < 0:
            ctx.fail(f"pads must be non-negative, got {pads}")
        return pads
    if auto_pad == "VALID":
        return (0,) * (2 * k)
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        ctx.fail(f"auto_pad {auto_pad!r} is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID")
    before, after = [], []
    for size, kk, s, d in zip(spatial, kernel, strides, dilations):
        out = -(-size // s)
        total = max(0, (out - 1) * s + (kk - 1) * d + 1 - size)
        small, big = total // 2, total - total // 2
        before.append(big if auto_pad == "SAME_LOWER" else small)
        after.append(small if auto_pad == "SAME_LOWER" else big)
    return tuple(before) + tuple(after)


def torch_pad(before, after):
    """ops.pad's pad argument (last dim first, (before, after) each) from ONNX-ordered
    per-dim lists (first spatial dim first). Negative entries crop."""
    flat = []
    for b, a in zip(reversed(tuple(before)), reversed(tuple(after))):
        flat += [int(b), int(a)]
    return tuple(flat)


def spatial_attrs(ctx, k):
    """(strides, dilations) of a k-D node, checked positive."""
    strides = ctx.ints("strides", (1,) * k, k)
    dilations = ctx.ints("dilations", (1,) * k, k)
    if min(strides, default=1) <= 0 or min(dilations, default=1) <= 0:
        ctx.fail(f"strides {strides} and dilations {dilations} must be positive")
    return strides, dilations


def _weights(ctx, x):
    """(x's shape, W, B, number of spatial dims) of a Conv / ConvTranspose node, checked."""
    w = ctx.const(1, "W, the weight")
    b = ctx.const(2, "B (the bias)")
    shape = ctx.shape(x)
    k = w.ndim - 2
    if k not in (1, 2, 3):
        ctx.fail(f"weight shape {w.shape}: only 1-D, 2-D and 3-D convolutions are supported")
    if len(shape) != k + 2:
        ctx.fail(f"input shape {shape} does not match a {k}-D weight {w.shape}")
    kernel = ctx.ints("kernel_shape", w.shape[2:], k)
    if tuple(kernel) != tuple(w.shape[2:]):
        ctx.fail(f"kernel_shape {kernel} disagrees with the weight's {w.shape[2:]}")
    return shape, w, b, k


def _check_bias(ctx, b, channels):
    if b is not None and b.shape != (channels,):
        ctx.fail(f"bias shape {b.shape} does not match {channels} output channels")


def _attach(layer, w, b):
    set_param(layer, "weight", w)
    if b is not None:
        set_param(layer, "bias", b)
    return layer


@converter("Conv", since=1)
def _conv(ctx):  # (11: pads and strides may be omitted, the same defaults -- one converter)
    x = ctx.graph_input(0, "X")
    shape, w, b, k = _weights(ctx, x)
    strides, dilations = spatial_attrs(ctx, k)
    groups = int(ctx.attr("group", 1))
    pads = explicit_pads(ctx, shape[2:], w.shape[2:], strides, dilations)
    c_in = shape[1]
    if groups <= 0 or c_in % groups or w.shape[0] % groups or w.shape[1] * groups != c_in:
        ctx.fail(f"group={groups} does not fit input channels {c_in} and weight {w.shape}")
    _check_bias(ctx, b, w.shape[0])
    before, after = pads[:k], pads[k:]
    args = dict(stride=strides, dilation=dilations, groups=groups, bias=b is not None)
    if k == 1:
        layer = nn.Conv1d(c_in, w.shape[0], w.shape[2], padding=(before[0], after[0]), **args)
    elif k == 2:
        layer = nn.Conv2d(c_in, w.shape[0], w.shape[2:], padding=(before[0], after[0], before[1], after[1]),
                          **args)
    else:
        if before != after:  # Conv3d pads symmetrically: the rest goes in a zero pad first
            x = ctx.op("pad", x, torch_pad(before, after))
            before = (0, 0, 0)
        layer = nn.Conv3d(c_in, w.shape[0], w.shape[2:], padding=before, **args)
    return weighted_layer(ctx, _attach(layer, w, b), x, 1)


def conv_transpose_pads(ctx, spatial, kernel, strides, dilations, output_padding):
    """(before..., after...) pads of a ConvTranspose node as the ONNX spec computes them:
    from output_shape when given (pads are then ignored), else from auto_pad (SAME: the
    output is input * stride), else the pads attribute."""
    k = len(kernel)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "", "VALID", "SAME_UPPER", "SAME_LOWER"):
        ctx.fail(f"auto_pad {auto_pad!r} is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID")
    out_shape = ctx.ints("output_shape")
    if out_shape is not None and len(out_shape) == k + 2:
        out_shape = out_shape[2:]  # some exporters write N and C too
    if out_shape is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out_shape = tuple(n * s for n, s in zip(spatial, strides))
    if out_shape is None:
        if auto_pad == "VALID":
            return (0,) * (2 * k)
        pads = ctx.ints("pads", (0,) * (2 * k))
        if len(pads) != 2 * k or min(pads) < 0:
            ctx.fail(f"pads {pads} must be {2 * k} non-negative entries")
        return pads
    if len(out_shape) != k:
        ctx.fail(f"output_shape {out_shape} has {len(out_shape)} entries, expected {k}")
    before, after = [], []
    for n, kk, s, d, op, want in zip(spatial, kernel, strides, dilations, output_padding, out_shape):
        total = s * (n - 1) + op + (kk - 1) * d + 1 - want
        if total < 0:
            # larger than the full output: onnxruntime (and the backend test's data) extend
            # it at the end, whatever auto_pad says, as output_padding does -- a negative
            # 'after' pad here. It refuses a size a convolution would not map back to the input.
            if want - (s * (n - 1) + (kk - 1) * d + 1) >= s:
                ctx.fail(f"output_shape {out_shape} is larger than the transposed convolution's full output "
                         f"for input {tuple(spatial)} by a stride or more (strides {tuple(strides)}); "
                         "no input of that size gives it")
            before.append(0)
            after.append(total)
            continue
        small, big = total // 2, total - total // 2
        before.append(small if auto_pad == "SAME_UPPER" else big)
        after.append(big if auto_pad == "SAME_UPPER" else small)
    return tuple(before) + tuple(after)


@converter("ConvTranspose", since=1)
def _conv_transpose(ctx):  # (11: the same meaning, more defaults spelled out -- one converter)
    x = ctx.graph_input(0, "X")
    shape, w, b, k = _weights(ctx, x)
    strides, dilations = spatial_attrs(ctx, k)
    groups = int(ctx.attr("group", 1))
    c_in = shape[1]
    if groups <= 0 or w.shape[0] != c_in or c_in % groups:
        ctx.fail(f"group={groups} does not fit input channels {c_in} and weight {w.shape} "
                 "(ConvTranspose's weight is (C, M/group, k...))")
    c_out = w.shape[1] * groups
    _check_bias(ctx, b, c_out)
    output_padding = ctx.ints("output_padding", (0,) * k, k)
    if min(output_padding, default=0) < 0:
        ctx.fail(f"output_padding must be non-negative, got {output_padding}")
    pads = conv_transpose_pads(ctx, shape[2:], w.shape[2:], strides, dilations, output_padding)
    # The layer pads symmetrically by p and appends output_padding at the end; ONNX crops
    # (before, after) from the full output extended by output_padding. So the layer takes
    # p = min(before, after) and what it can of output_padding; a pad crop does the rest.
    layer_pad, layer_out_pad, crop_before, crop_after = [], [], [], []
    for before, after, op in zip(pads[:k], pads[k:], output_padding):
        if after < 0:  # an output_shape beyond the full output: more output padding
            op, after = op - after, 0
        p = min(before, after)
        extra = max(0, op - (after - p))
        layer_pad.append(p)
        layer_out_pad.append(extra)
        crop_before.append(before - p)
        crop_after.append(extra - op + after - p)
    if any(op >= max(s, d) for op, s, d in zip(layer_out_pad, strides, dilations)):
        ctx.fail(f"the output grows by {tuple(layer_out_pad)} at the end (output_padding {tuple(output_padding)}"
                 f"{', output_shape ' + str(tuple(ctx.ints('output_shape'))) if ctx.has_attr('output_shape') else ''}"
                 f"): only less than the stride or dilation per axis is supported (strides {tuple(strides)}, "
                 f"dilations {tuple(dilations)})")
    cls = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[k - 1]
    layer = cls(c_in, c_out, w.shape[2:] if k > 1 else w.shape[2], stride=strides, padding=tuple(layer_pad),
                output_padding=tuple(layer_out_pad), groups=groups, bias=b is not None, dilation=dilations)
    y = weighted_layer(ctx, _attach(layer, w, b), x, 1)
    if any(crop_before) or any(crop_after):
        y = ctx.op("pad", y, torch_pad([-c for c in crop_before], [-c for c in crop_after]))
    return y
