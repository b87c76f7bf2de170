"""Exporters: elementwise arithmetic (numbers and arrays as constants), reductions, and
dropout (the identity: exports are eval-mode)."""
from __future__ import annotations

from ._export_registry import exporter
from .export_activation import unary


def _binary(onnx_op, first="a", second="b", then=None):
    def write(ctx, node):
        inputs = [ctx.input(first), ctx.input(second)]
        if then is None:
            ctx.emit(onnx_op, inputs, ctx.out)
        else:
            ctx.emit(then, [ctx.emit(onnx_op, inputs)], ctx.out)
    return write


for _name, _op in (("add", "Add"), ("sub", "Sub"), ("mul", "Mul"), ("div", "Div"),
                   ("maximum", "Max"), ("minimum", "Min")):
    exporter(_name)(_binary(_op))
exporter("add_relu")(_binary("Add", then="Relu"))
exporter("pow")(_binary("Pow", "input", "exponent"))

for _name, _op in (("exp", "Exp"), ("log", "Log"), ("sqrt", "Sqrt"), ("abs", "Abs"), ("neg", "Neg")):
    exporter(_name)(unary(_op))


@exporter("channel_scale")
def channel_scale(ctx, node):
    """input (N, C, *) * scale (N, C) or (N, C, 1, ...): the scale gets the trailing 1s."""
    rank = len(ctx.shape_of("input"))
    scale = ctx.input("scale")
    scale_shape = node.args["scale"].shape if hasattr(node.args["scale"], "shape") else ()
    if len(scale_shape) != rank:
        scale = ctx.reshape(scale, (scale_shape[0], scale_shape[1]) + (1,) * (rank - 2))
    ctx.emit("Mul", [ctx.input("input"), scale], ctx.out)


def _reduce(onnx_op, since_input):
    def write(ctx, node):
        dim = node.args.get("dim")
        if dim is None or dim == ():
            axes = None  # every dim
        else:
            axes = [int(d) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))]
        ctx.axes_op(onnx_op, ctx.input("input"), axes, ctx.out, since_input=since_input,
                    keepdims=int(bool(node.args.get("keepdim", False))))
    return write


exporter("sum")(_reduce("ReduceSum", 13))
exporter("mean")(_reduce("ReduceMean", 18))
exporter("amax")(_reduce("ReduceMax", 18))
exporter("amin")(_reduce("ReduceMin", 18))


@exporter("dropout", "dropout2d", "dropout3d", "alpha_dropout")
def dropout(ctx, node):
    if node.args.get("return_mask"):
        ctx.fail("dropout with return_mask=True")
    ctx.emit("Identity", [ctx.input("input")], ctx.out)
