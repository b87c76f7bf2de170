"""Control flow that is decided at load: If with a condition known once the input shape
is (torch's exporter guards reshapes with ``If(Equal(Gather(Shape(x)), k))``). The
chosen branch is converted in place, as if its nodes were the model's own; the other is
never looked at. A condition computed from run-time data is not supported: a compiled
graph has no branches."""
from __future__ import annotations

from ._registry import converter


@converter("If")
def _if(ctx):
    cond = ctx.const(0, "cond")
    if cond.size != 1:
        ctx.fail(f"the condition must hold one value, got shape {cond.shape}")
    taken = "then_branch" if bool(cond.reshape(-1)[0]) else "else_branch"
    branch = ctx.attr(taken)
    if branch is None:
        ctx.fail(f"the {taken} attribute is missing")
    importer = ctx.importer
    importer.check_supported_nodes(branch.node, f"ONNX node {ctx.name!r} (If), its {taken}")
    from ._importer import _tensor_array
    for t in branch.initializer:
        if t.name in importer.env:
            ctx.fail(f"{taken} initializer {t.name!r} shadows a value of the outer graph")
        importer.env[t.name] = _tensor_array(t, "initializer")
    importer.convert_nodes(branch.node)
    outs = []
    for vi in branch.output:
        if vi.name not in importer.env:
            ctx.fail(f"{taken} output {vi.name!r} is never produced")
        outs.append(importer.env[vi.name])
    if len(outs) != len([o for o in ctx.node.output]):
        ctx.fail(f"{taken} has {len(outs)} output(s), the node {len(ctx.node.output)}")
    return tuple(outs)
