"""Exporters: convolutions (1-D/2-D/3-D, transposed), linear and matmul."""
from __future__ import annotations

from ..ops.conv import _same_or_valid
from ..ops._args import padding4
from ..ops.conv1d import left_right_padding
from ..ops.conv3d import padding6
from ._export_registry import exporter


def per_dim(value, dims, name):
    """An int or a tuple (one per spatial dim, or one for all) -> a list of `dims` ints."""
    if isinstance(value, (tuple, list)):
        items = [int(v) for v in value]
        if len(items) == 1:
            return items * dims
        if len(items) != dims:
            raise ValueError(f"{name} {tuple(value)!r} does not give one value per spatial dim ({dims})")
        return items
    return [int(value)] * dims


def onnx_pads(pairs):
    """[(before, after), ...] per spatial dim -> ONNX's [begin..., end...]."""
    return [b for b, _ in pairs] + [a for _, a in pairs]


def _conv_pads(node, dims, weight):
    a = node.args
    stride = per_dim(a.get("stride", 1), dims, "stride")
    dilation = per_dim(a.get("dilation", 1), dims, "dilation")
    padding = a.get("padding", 0)
    if dims == 1:
        left, right = left_right_padding(padding, weight.shape[2], stride[0], dilation[0])
        pairs = [(left, right)]
    elif dims == 2:
        top, bottom, left, right = (_same_or_valid(padding, weight, stride, dilation)
                                    if isinstance(padding, str) else padding4(padding))
        pairs = [(top, bottom), (left, right)]
    else:
        p = padding6(padding, weight.shape[2:], stride, dilation)
        pairs = [(p[0], p[1]), (p[2], p[3]), (p[4], p[5])]
    return stride, dilation, onnx_pads(pairs)


def _conv(dims):
    def write(ctx, node):
        weight = node.args["weight"]
        stride, dilation, pads = _conv_pads(node, dims, weight)
        inputs = [ctx.input("input"), ctx.input("weight")]
        if node.args.get("bias") is not None:
            inputs.append(ctx.input("bias"))
        ctx.emit("Conv", inputs, ctx.out, kernel_shape=list(weight.shape[2:]), strides=stride,
                 pads=pads, dilations=dilation, group=int(node.args.get("groups", 1)))
    return write


exporter("conv1d")(_conv(1))
exporter("conv2d")(_conv(2))
exporter("conv3d")(_conv(3))


def transpose_geometry(padding, output_padding, stride):
    """Per dim ((pad begin, pad end), output_padding, zeros to append) for ONNX.

    torch allows output_padding < max(stride, dilation); onnxruntime only < stride. The
    output_padding rows are rows of the uncropped result (while output_padding <= padding:
    crop less at the end instead) or rows no input reaches (the bias only: appended as
    zeros before the bias is added)."""
    pads, opads, extra = [], [], []
    for p, op, s in zip(padding, output_padding, stride):
        if op < s:
            pads.append((p, p)), opads.append(op), extra.append(0)
        elif op <= p:
            pads.append((p, p - op)), opads.append(0), extra.append(0)
        else:
            rest = op - p
            pads.append((p, 0)), opads.append(rest if rest < s else 0), extra.append(0 if rest < s else rest)
    return pads, opads, extra


def _conv_transpose(dims):
    def write(ctx, node):
        a = node.args
        weight = a["weight"]
        stride = per_dim(a.get("stride", 1), dims, "stride")
        pads, opads, extra = transpose_geometry(per_dim(a.get("padding", 0), dims, "padding"),
                                                per_dim(a.get("output_padding", 0), dims, "output_padding"),
                                                stride)
        has_bias = a.get("bias") is not None
        inputs = [ctx.input("input"), ctx.input("weight")]
        if has_bias and not any(extra):
            inputs.append(ctx.input("bias"))
        y = ctx.emit("ConvTranspose", inputs, None if any(extra) else ctx.out,
                     kernel_shape=list(weight.shape[2:]), strides=stride, pads=onnx_pads(pads),
                     output_padding=opads, dilations=per_dim(a.get("dilation", 1), dims, "dilation"),
                     group=int(a.get("groups", 1)))
        if any(extra):
            appended = ctx.emit("Pad", [y, ctx.ints([0] * (dims + 2) + [0, 0] + extra, "pads")],
                                None if has_bias else ctx.out)
            if has_bias:
                bias = ctx.param_as(a["bias"], (weight.shape[1] * int(a.get("groups", 1)),) + (1,) * dims, "bias")
                ctx.emit("Add", [appended, bias], ctx.out)
    return write


exporter("conv_transpose1d")(_conv_transpose(1))
exporter("conv_transpose2d")(_conv_transpose(2))
exporter("conv_transpose3d")(_conv_transpose(3))


@exporter("linear")
def linear(ctx, node):
    x, w = ctx.input("input"), ctx.input("weight")
    bias = node.args.get("bias")
    if len(ctx.shape_of("input")) == 2:  # Gemm keeps the (out, in) weight as stored
        inputs = [x, w] + ([ctx.input("bias")] if bias is not None else [])
        ctx.emit("Gemm", inputs, ctx.out, transB=1)
        return
    wt = ctx.emit("Transpose", [w], perm=[1, 0])
    if bias is None:
        ctx.emit("MatMul", [x, wt], ctx.out)
    else:
        ctx.emit("Add", [ctx.emit("MatMul", [x, wt]), ctx.input("bias")], ctx.out)


@exporter("matmul")
def matmul(ctx, node):
    ctx.emit("MatMul", [ctx.input("a"), ctx.input("b")], ctx.out)
