"""The compiler's rewrites of a traced OpGraph (inference: eval-mode semantics).

In order (`simplify` runs them all; each leaves a graph that computes the same thing):

1. **Identities removed**: dropout in eval mode, a flatten or reshape that changes nothing,
   and the reshapes around a batch_norm of an (N, C) value run as (N, C, 1, 1).
2. **BatchNorm folding**: a `batch_norm` (running statistics) -- or any per-channel affine
   of constants, `x * c`, `x + c`, `x - c`, `x / c` with c a number or a (C, 1, 1) array --
   whose input is a `conv2d`, `conv_transpose1d/2d` or `linear` with constant weights that
   nobody else reads becomes that node's epilogue step
   ``("scale_shift", scale, shift)`` with ``scale = gamma / sqrt(var + eps)`` and
   ``shift = beta - mean * scale`` computed in float64. The engine folds it into the
   weights when the node is lowered, one layer at a time, so folded copies of all the
   weights never exist at once.
3. **Residual fusion**: ``add(conv(x), r)`` (or ``add_relu``) becomes the conv with the
   epilogue step ``("add", r)`` (the conv that runs later is chosen, so ``r`` already
   exists when it runs).
4. **Activation fusion**: a `relu`, `relu6`, `silu`, `hardswish`, `gelu` (step "gelu" or
   "gelu_tanh" by its `approximate`) or `sigmoid` whose input is a conv1d, conv2d,
   conv_transpose1d/2d, linear,
   add or unfolded batch_norm read by nobody else becomes that node's last epilogue step;
   so does a `prelu` with a constant weight of 1 or C values after a conv or linear
   (step ``("prelu", weight)``) or a transposed convolution.
"""
from __future__ import annotations

import numpy as np

from .graph import Value, _is_param

__all__ = ["simplify", "remove_identities", "fold_batch_norms", "fuse_residual_adds", "fuse_activations",
           "activation_step", "batch_norm_affine", "channel_affine", "folded_weights"]

# Ops that fuse as an epilogue step of the node before them (and prelu, below).
_ACTIVATIONS = ("relu", "relu6", "silu", "hardswish", "gelu", "sigmoid", "hardsigmoid")
# Nodes whose output stage the engine runs (conv1d as a height-1 conv2d).
CONVS = ("conv1d", "conv2d")
# Transposed convolutions: BatchNorms fold into them and activations fuse after them (no
# residual: their engine node has none).
TRANSPOSED = ("conv_transpose1d", "conv_transpose2d")


def _arg(node, name, default=None):
    return node.args.get(name, default)


def _first_value(node):
    for a in node.args.values():
        if isinstance(a, Value):
            return a
    return None


def _remove(graph, node, replacement):
    graph.replace_all_uses(node.output, replacement)
    graph.nodes.remove(node)


def remove_identities(graph):
    for node in list(graph.nodes):
        x = _first_value(node)
        if x is None or len(node.outputs) != 1 or node.epilogue:
            continue
        same = node.output.shape == x.shape
        if (node.op == "dropout" and not _arg(node, "training", True) and not _arg(node, "return_mask", False)) \
                or (node.op in ("flatten", "reshape") and same):
            _remove(graph, node, x)


def _unit_dims_added(reshape, x):
    """Does this reshape only append size-1 dims to x ((N, C) -> (N, C, 1, 1))?"""
    out = reshape.output.shape
    return reshape.op == "reshape" and out[:len(x.shape)] == x.shape and all(d == 1 for d in out[len(x.shape):])


def remove_unit_reshapes(graph):
    """batch_norm(reshape(x, (N, C, 1, 1))) reshaped back to x's (N, C) is batch_norm(x)
    (BatchNorm1d may be written that way): the reshapes go, so the BatchNorm can fold."""
    uses = graph.uses()
    for node in list(graph.nodes):
        if node.op != "batch_norm" or not isinstance(node.args.get("input"), Value):
            continue
        r = node.args["input"].node
        readers = [n for n in graph.nodes if node.output in n.inputs]
        if (r is None or r.op != "reshape" or uses[id(r.output)] != 1 or len(readers) != 1
                or uses[id(node.output)] != 1):
            continue
        x, back = _first_value(r), readers[0]
        if not (_unit_dims_added(r, x) and back.op == "reshape" and back.output.shape == x.shape):
            continue
        node.args["input"] = x
        node.output.shape = x.shape
        graph.replace_all_uses(back.output, node.output)
        graph.nodes.remove(back)
        graph.nodes.remove(r)
        uses = graph.uses()


def batch_norm_affine(node):
    """(scale, shift) in float64 of an eval-mode batch_norm node, or None when it is not
    one (training mode, no running statistics, or statistics that are graph values)."""
    if node.op != "batch_norm" or _arg(node, "training", False):
        return None
    mean, var = _arg(node, "running_mean"), _arg(node, "running_var")
    weight, bias = _arg(node, "weight"), _arg(node, "bias")
    if not (_is_param(mean) and _is_param(var)) or any(
            a is not None and not _is_param(a) for a in (weight, bias)):
        return None
    scale = 1.0 / np.sqrt(np.asarray(var, np.float64) + float(_arg(node, "eps", 1e-5)))
    if weight is not None:
        scale = scale * np.asarray(weight, np.float64)
    shift = -np.asarray(mean, np.float64) * scale
    if bias is not None:
        shift = shift + np.asarray(bias, np.float64)
    return scale, shift


def _per_channel(c, x):
    """Constant `c` (a number or an array) as one float64 value per channel of value x
    ((N, C, ...): dim 1), or None when it varies along another dim (or is not constant)."""
    if isinstance(c, bool) or not (isinstance(c, (int, float, np.integer, np.floating)) or _is_param(c)):
        return None
    ndim = len(x.shape)
    if ndim < 2 or x.shape[1] is None:
        return None
    a = np.asarray(c, np.float64)
    if a.ndim > ndim:
        return None
    aligned = (1,) * (ndim - a.ndim) + a.shape  # broadcasting aligns on the right
    if aligned[0] != 1 or aligned[1] not in (1, x.shape[1]) or any(d != 1 for d in aligned[2:]):
        return None
    return np.broadcast_to(a.reshape(-1), (x.shape[1],)).copy()


def channel_affine(node):
    """(x, scale, shift): node computes x * scale + shift per channel (float64 vectors) --
    an eval batch_norm, or mul / add / sub / div of a value by a per-channel constant --
    else None."""
    if node.op == "batch_norm":
        x, affine = _arg(node, "input"), batch_norm_affine(node)
        return None if affine is None or not isinstance(x, Value) else (x, *affine)
    if node.op not in ("mul", "add", "sub", "div") or len(node.args) != 2:
        return None
    a, b = node.args.values()
    x, c, value_first = (a, b, True) if isinstance(a, Value) else (b, a, False)
    if not isinstance(x, Value) or isinstance(c, Value) or x.shape != node.output.shape:
        return None
    c = _per_channel(c, x)
    if c is None:
        return None
    ones, zeros = np.ones_like(c), np.zeros_like(c)
    if node.op == "mul":
        return x, c, zeros
    if node.op == "add":
        return x, ones, c
    if node.op == "sub":
        return (x, ones, -c) if value_first else (x, -ones, c)
    if value_first and np.all(c != 0):  # div(x, c); div(c, x) is not affine
        return x, 1.0 / c, zeros
    return None


def _constant_weights(node):
    return _is_param(_arg(node, "weight")) and (_arg(node, "bias") is None or _is_param(_arg(node, "bias")))


def fold_batch_norms(graph):
    """BatchNorms (and other per-channel affines: x * c, x + c, ...) into the conv/linear before."""
    uses = graph.uses()
    for node in list(graph.nodes):
        affine = channel_affine(node)
        if affine is None:
            continue
        x, scale, shift = affine
        src = x.node
        if (node.epilogue or src is None or src.op not in (*CONVS, *TRANSPOSED, "linear") or uses[id(x)] != 1
                or not _constant_weights(src) or any(s[0] != "scale_shift" for s in src.epilogue)
                or len(scale) != x.shape[1]):
            continue
        if src.epilogue:  # two BatchNorms in a row compose
            _, s0, t0 = src.epilogue.pop()
            scale, shift = s0 * scale, t0 * scale + shift
        src.epilogue.append(("scale_shift", scale, shift))
        _remove(graph, node, x)


def _plain_output(node, uses):
    """A node whose epilogue may still grow: read once, no residual or activation yet."""
    return (len(node.outputs) == 1 and uses.get(id(node.output), 0) == 1
            and all(s[0] == "scale_shift" for s in node.epilogue))


def fuse_residual_adds(graph):
    uses = graph.uses()
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    for node in list(graph.nodes):
        if node.op not in ("add", "add_relu") or node.epilogue:
            continue
        a, b = list(node.args.values())[:2]
        if not (isinstance(a, Value) and isinstance(b, Value)) or a is b or a.shape != b.shape:
            continue
        convs = [v.node for v in (a, b) if v.node is not None and v.node.op in CONVS
                 and _constant_weights(v.node) and _plain_output(v.node, uses)]
        if not convs:
            continue
        conv = max(convs, key=lambda n: position[id(n)])  # runs last: the other input exists
        other = b if conv.output is a else a
        if other.node is not None and position[id(other.node)] > position[id(conv)]:
            continue
        conv.epilogue.append(("add", other))
        if node.op == "add_relu":
            conv.epilogue.append(("relu",))
        _remove(graph, node, conv.output)


def activation_step(node):
    """The epilogue step an activation node becomes, or None when it is not one (or not
    fusable: a prelu whose weight is a graph value, or not 1 / C values)."""
    x = _first_value(node)
    if node.op in _ACTIVATIONS:
        if node.op == "gelu":
            approximate = _arg(node, "approximate", "none")
            return ("gelu_tanh",) if approximate == "tanh" else ("gelu",) if approximate == "none" else None
        return (node.op,)
    if node.op == "prelu" and x is not None:
        w = _arg(node, "weight")
        channels = x.shape[1] if len(x.shape) >= 2 else None
        if _is_param(w) and np.ndim(w) == 1 and np.size(w) in (1, channels):
            return ("prelu", np.asarray(w, np.float32))
    return None


def fuse_activations(graph):
    uses = graph.uses()
    for node in list(graph.nodes):
        x = _first_value(node)
        step = activation_step(node)
        if step is None or x is None or x.node is None or node.epilogue:
            continue
        src = x.node
        if step[0] == "prelu":  # its slopes go per output channel: conv and linear only
            fusable = src.op in (*CONVS, *TRANSPOSED, "linear")
        else:
            fusable = src.op in (*CONVS, *TRANSPOSED, "linear", "add") or channel_affine(src) is not None
        if fusable and len(src.outputs) == 1 and uses[id(x)] == 1 and all(
                s[0] in ("scale_shift", "add") for s in src.epilogue):
            src.epilogue.append(step)
            _remove(graph, node, x)
            uses = graph.uses()


def simplify(graph, fuse=True):
    """Remove identities and dead nodes; with fuse, fold and fuse as described above."""
    remove_identities(graph)
    remove_unit_reshapes(graph)
    graph.remove_dead_nodes()
    if fuse:
        fold_batch_norms(graph)
        fuse_residual_adds(graph)
        fuse_activations(graph)
    return graph


def folded_weights(node):
    """(weight, bias, rest of the epilogue) of a conv1d / conv2d / linear node with its leading
    ("scale_shift", ...) steps folded into the weights: float64 math, float32 result. The
    weight is scaled 64 output channels at a time, so no float64 copy of a whole layer
    (18 MB for ResNet-18's largest) adds to the compiler's peak memory."""
    w, b = node.args["weight"], node.args.get("bias")
    steps = list(node.epilogue)
    scale = shift = None
    while steps and steps[0][0] == "scale_shift":
        _, s, t = steps.pop(0)
        scale, shift = (s, t) if scale is None else (scale * s, shift * s + t)
    if scale is None:
        return w, b, steps
    if node.op in TRANSPOSED:
        return _folded_transposed(w, b, scale, shift, int(node.args.get("groups", 1))) + (steps,)
    folded = np.empty(w.shape, np.float32)
    for k in range(0, w.shape[0], 64):
        s = scale[k:k + 64].reshape((-1,) + (1,) * (w.ndim - 1))
        folded[k:k + 64] = np.asarray(w[k:k + 64], np.float64) * s
    b = (0.0 if b is None else np.asarray(b, np.float64)) * scale + shift
    return folded, b.astype(np.float32), steps


def _folded_transposed(w, b, scale, shift, groups):
    """(weight, bias) of a transposed convolution with y * scale + shift per output channel
    folded in. Its weight is (C_in, C_out/groups, ...): output channel g * C_out/groups + j
    is column j of the rows of group g, so the scale goes along dim 1, per group."""
    c_in, per_group = w.shape[0], w.shape[1]
    s = np.asarray(scale, np.float64).reshape(groups, 1, per_group, *(1,) * (w.ndim - 2))
    grouped = np.asarray(w, np.float64).reshape(groups, c_in // groups, per_group, *w.shape[2:])
    folded = (grouped * s).reshape(w.shape).astype(np.float32)
    b = (0.0 if b is None else np.asarray(b, np.float64)) * scale + shift
    return folded, b.astype(np.float32)
