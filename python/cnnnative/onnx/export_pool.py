"""Exporters: max/average pooling (1-D/2-D/3-D), global and adaptive pooling, Lp pooling,
channel pooling."""
from __future__ import annotations

from ..ops.pool_adaptive import output_size_of
from ._export_registry import exporter
from .export_conv import per_dim


def _window(node, dims):
    a = node.args
    kernel = per_dim(a["kernel_size"], dims, "kernel_size")
    stride = a.get("stride")
    stride = kernel if stride is None or stride == () else per_dim(stride, dims, "stride")
    padding = per_dim(a.get("padding", 0), dims, "padding")
    return kernel, stride, padding + padding


def emit_pool(ctx, node, op_type, x, kernel, stride, pads, out, dilation=None, **attrs):
    """A MaxPool/AveragePool whose output has the traced size.

    ceil_mode is one flag for every dim in ONNX, and torch (our ops) drops a last window
    that would start in the right padding, which ONNX's output-size formula (as onnx's
    shape inference applies it) keeps. So ceil_mode is written when some dim has a window more than floor mode gives,
    and a dim where that rule would add one too many is cut back with a Slice (a no-op on a
    runtime that already drops it)."""
    dims = len(kernel)
    spatial = ctx.shape_of("input")[-dims:]
    ours = list(node.output.shape[-dims:])
    dilation = dilation or [1] * dims
    reach = [dilation[i] * (kernel[i] - 1) + 1 for i in range(dims)]
    room = [n + pads[i] + pads[i + dims] - reach[i] for i, n in enumerate(spatial)]
    floor = [r // s + 1 for r, s in zip(room, stride)]
    ceil_mode = int(bool(node.args.get("ceil_mode", False)) and ours != floor)
    if dilation != [1] * dims:
        attrs["dilations"] = dilation
    kept = [-(-r // s) + 1 for r, s in zip(room, stride)] if ceil_mode else floor
    trim = [i for i in range(dims) if kept[i] != ours[i]]
    y = ctx.emit(op_type, [x], None if trim else out, kernel_shape=kernel, strides=stride, pads=pads,
                 ceil_mode=ceil_mode, **attrs)
    if trim:
        rank = len(node.output.shape)
        ctx.emit("Slice", [y, ctx.ints([0] * len(trim), "starts"), ctx.ints([ours[i] for i in trim], "ends"),
                           ctx.ints([rank - dims + i for i in trim], "axes")], out)
    return out


def _max_pool(dims):
    def write(ctx, node):
        if node.args.get("return_indices"):
            ctx.fail("max pooling with return_indices=True (ONNX's Indices count differently)")
        kernel, stride, pads = _window(node, dims)
        emit_pool(ctx, node, "MaxPool", ctx.input("input"), kernel, stride, pads, ctx.out,
                  dilation=per_dim(node.args.get("dilation", 1), dims, "dilation"))
    return write


def _avg_pool(dims):
    def write(ctx, node):
        kernel, stride, pads = _window(node, dims)
        emit_pool(ctx, node, "AveragePool", ctx.input("input"), kernel, stride, pads, ctx.out,
                  count_include_pad=int(bool(node.args.get("count_include_pad", True))))
    return write


for _d in (1, 2, 3):
    exporter(f"max_pool{_d}d")(_max_pool(_d))
    exporter(f"avg_pool{_d}d")(_avg_pool(_d))


@exporter("global_avg_pool2d")
def global_avg_pool2d(ctx, node):
    ctx.emit("GlobalAveragePool", [ctx.input("input")], ctx.out)


def _adaptive(dims, onnx_pool, onnx_global, onnx_reduce):
    """A global pool when every output size is 1; a plain pool when every input size is a
    multiple of its output size (windows of in/out, no overlap); otherwise per dim (the
    windows are products of intervals, so a mean or max over them can be taken one dim at
    a time): each window [floor(i*in/out), ceil((i+1)*in/out)) sliced, reduced, concatenated."""
    def write(ctx, node):
        if node.args.get("return_indices"):
            ctx.fail("adaptive max pooling with return_indices=True")
        shape = ctx.shape_of("input")
        spatial = shape[-dims:]
        sizes = output_size_of(node.args["output_size"], spatial, dims, node.op)
        x = ctx.input("input")
        if all(s == 1 for s in sizes):
            ctx.emit(onnx_global, [x], ctx.out)
            return
        if all(i % o == 0 for i, o in zip(spatial, sizes)):
            kernel = [i // o for i, o in zip(spatial, sizes)]
            ctx.emit(onnx_pool, [x], ctx.out, kernel_shape=kernel, strides=kernel)
            return
        changed = [d for d in range(dims) if spatial[d] != sizes[d]]
        for k, d in enumerate(changed):
            axis, n, m = len(shape) - dims + d, spatial[d], sizes[d]
            windows = []
            for i in range(m):
                start, end = (i * n) // m, -(-((i + 1) * n) // m)
                window = ctx.emit("Slice", [x, ctx.ints([start], "starts"), ctx.ints([end], "ends"),
                                            ctx.ints([axis], "axes")])
                windows.append(ctx.axes_op(onnx_reduce, window, [axis], since_input=18, keepdims=1))
            x = ctx.emit("Concat", windows, ctx.out if k == len(changed) - 1 else None, axis=axis)
    return write


for _d in (1, 2, 3):
    exporter(f"adaptive_avg_pool{_d}d")(_adaptive(_d, "AveragePool", "GlobalAveragePool", "ReduceMean"))
    exporter(f"adaptive_max_pool{_d}d")(_adaptive(_d, "MaxPool", "GlobalMaxPool", "ReduceMax"))


def _lp_pool(dims):
    """(sum over the window of x**p) ** (1/p), as our kernel computes it (x**p, not |x|**p,
    which is what ONNX's LpPool takes; the same for p = 2): an average pool of x**p times
    the window size."""
    def write(ctx, node):
        a = node.args
        p = float(a["norm_type"])
        kernel, stride, pads = _window(node, dims)
        x = ctx.input("input")
        if p == 2.0 and not a.get("ceil_mode", False):
            ctx.emit("LpPool", [x], ctx.out, p=2, kernel_shape=kernel, strides=stride)
            return
        powered = ctx.emit("Pow", [x, ctx.scalar(p, "p")])
        mean = emit_pool(ctx, node, "AveragePool", powered, kernel, stride, pads, ctx.fresh("mean"))
        size = 1
        for k in kernel:
            size *= k
        total = ctx.emit("Mul", [mean, ctx.scalar(float(size), "window")])
        ctx.emit("Pow", [total, ctx.scalar(1.0 / p, "inv_p")], ctx.out)
    return write


exporter("lp_pool1d")(_lp_pool(1))
exporter("lp_pool2d")(_lp_pool(2))


def _channel_pool(onnx_reduce):
    """Groups of kernel_size consecutive channels reduced: (N, C, *) seen as (N, C/k, k, *)."""
    def write(ctx, node):
        shape = ctx.shape_of("input")
        k = int(node.args["kernel_size"])
        grouped = ctx.reshape(ctx.input("input"), (None, shape[1] // k, k) + shape[2:])
        ctx.axes_op(onnx_reduce, grouped, [2], ctx.out, since_input=18, keepdims=0)
    return write


exporter("max_pool_channels")(_channel_pool("ReduceMax"))
exporter("avg_pool_channels")(_channel_pool("ReduceMean"))
