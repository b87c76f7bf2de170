"""What a model computes, op by op: `summarize(model, input_shape)` traces the model
(unfused, so every op of the model is its own row) and gives, per op, the layer that
made it, its output shape, its parameters, its multiply-adds and FLOPs, the memory of its
output (and, with backward=True, the memory a training forward keeps for the backward,
measured by training_memory.py), and the receptive field of its output with its jump (the
distance in input pixels between neighbouring outputs), with totals.
`nn.Module.summary(input_shape)` and `cnnnative summary model.onnx | --model NAME` print it.

Parameters are the model's trainable and frozen parameters (not its buffers: BatchNorm
running statistics are not counted), each once, in the row of the first op that uses it.

Memory figures (float32, per sample):
- activation_bytes (per row; total "if none were freed"): every op's output.
- layer_outputs_bytes (total): the input plus every layer's output, where an in-place
  layer (ReLU(inplace=True)) and an op that only relabels memory (flatten, reshape, eval
  dropout, ...) add nothing: the count of the CS231n notes' VGG-16 table (15.2M values,
  61 MB at 224x224 for the table's layers; the notes' total, "24M x 4 bytes ~= 93MB",
  is not the sum of the table's own rows).
- saved_bytes (backward=True): what the recorded graph holds for the backward.

FLOPs count a multiply-add as 2: convolutions and linear layers exactly (bias included),
pooling as one operation per window element, normalisations as 2 per output value
(scale and shift), other computing ops as 1 per output value, and pure data movement
(reshape, flatten, transpose, concatenation, ...) as 0.
"""
from __future__ import annotations

import numpy as np

__all__ = ["summarize", "format_summary", "ModelSummary"]

# ops that only move or relabel data
_NO_FLOPS = {"reshape", "flatten", "view", "permute", "transpose", "cat", "concat", "split", "squeeze",
             "unsqueeze", "getitem", "slice", "pad", "contiguous", "expand", "channel_shuffle", "pixel_shuffle",
             "pixel_unshuffle", "identity", "dropout", "narrow", "chunk", "stack", "gather", "take"}
# ops whose output shares its input's memory (torch views; dropout is the identity in eval)
_VIEWS = {"reshape", "flatten", "view", "permute", "transpose", "squeeze", "unsqueeze", "expand", "narrow",
          "chunk", "split", "identity", "dropout", "getitem", "slice"}
_NORMS = {"batch_norm", "layer_norm", "group_norm", "instance_norm", "local_response_norm"}


def _count(shape) -> int:
    return int(np.prod([d for d in shape if d is not None], dtype=np.int64))


def _macs(node) -> int:
    """Multiply-adds of a convolution or linear op for one sample (0 for other ops)."""
    w = node.args.get("weight")
    if not isinstance(w, np.ndarray):
        return 0
    if node.op in ("conv1d", "conv2d", "conv3d"):
        return sum(_count(v.shape) for v in node.outputs) * int(np.prod(w.shape[1:]))
    if node.op.startswith("conv_transpose"):
        return sum(_count(v.shape) for v in node.inputs[:1]) * int(np.prod(w.shape[1:]))
    if node.op == "linear":
        return sum(_count(v.shape) for v in node.outputs) * int(w.shape[1])
    return 0


def _flops(node) -> int:
    """FLOPs of one op node for one sample (see the module docstring)."""
    out = sum(_count(v.shape) for v in node.outputs)
    a = node.args
    w = a.get("weight")
    op = node.op
    bias = out if a.get("bias") is not None else 0
    if op in ("conv1d", "conv2d", "conv3d") and isinstance(w, np.ndarray):
        return 2 * out * int(np.prod(w.shape[1:])) + bias
    if op.startswith("conv_transpose") and isinstance(w, np.ndarray):
        ins = sum(_count(v.shape) for v in node.inputs[:1])
        return 2 * ins * int(np.prod(w.shape[1:])) + bias
    if op == "linear" and isinstance(w, np.ndarray):
        return 2 * out * int(w.shape[1]) + bias
    if "pool" in op:
        if "adaptive" in op or "global" in op:
            return sum(_count(v.shape) for v in node.inputs[:1])
        k = a.get("kernel_size", 1)
        return out * int(np.prod(k if isinstance(k, (tuple, list)) else (k,) * max(len(node.outputs[0].shape) - 2, 1)))
    if op in _NO_FLOPS or op == "module":
        return 0
    if op in _NORMS:
        return 2 * out
    return out


def _per_axis(v, dims, default):
    v = default if v is None else v
    return tuple(int(x) for x in v) if isinstance(v, (tuple, list)) else (int(v),) * dims


def _spatial(value):
    return tuple(value.shape[2:]) if len(value.shape) >= 3 else None


def _receptive_field(node, field):
    """(receptive field, jump) of the node's output, per spatial axis, from its inputs'
    (`field`: id(value) -> (rf, jump), with None for 'the whole input'); None for an
    output that sees the whole input (linear, global pooling, flatten)."""
    ins = [field.get(id(v)) for v in node.inputs]
    out = node.outputs[0] if node.outputs else None
    dims = len(out.shape) - 2 if out is not None and len(out.shape) >= 3 else 0
    spatial_ins = [f for v, f in zip(node.inputs, ins) if _spatial(v) is not None and len(v.shape) - 2 == dims]
    if dims == 0 or not spatial_ins or any(f is None for f in spatial_ins):
        return None
    rf = tuple(max(f[0][i] for f in spatial_ins) for i in range(dims))
    jump = tuple(max(f[1][i] for f in spatial_ins) for i in range(dims))
    a, op = node.args, node.op
    w = a.get("weight")
    if op.startswith("conv") and isinstance(w, np.ndarray) and w.ndim == dims + 2:
        k = w.shape[2:]
        d = _per_axis(a.get("dilation"), dims, 1)
        s = _per_axis(a.get("stride"), dims, 1)
        if op.startswith("conv_transpose"):
            jump = tuple(j / si for j, si in zip(jump, s))
            return tuple(r + di * (ki - 1) * j for r, di, ki, j in zip(rf, d, k, jump)), jump
        return tuple(r + di * (ki - 1) * j for r, di, ki, j in zip(rf, d, k, jump)), \
            tuple(j * si for j, si in zip(jump, s))
    in_size = _spatial(node.inputs[0]) if node.inputs else None
    out_size = _spatial(out)
    if "global" in op or (op.startswith("adaptive") and all(n == 1 for n in out_size)):
        return None
    if op.startswith("adaptive") and in_size is not None:
        s = tuple(max(i // o, 1) for i, o in zip(in_size, out_size))
        k = tuple(i - (o - 1) * si for i, o, si in zip(in_size, out_size, s))
        return tuple(r + (ki - 1) * j for r, ki, j in zip(rf, k, jump)), tuple(j * si for j, si in zip(jump, s))
    if "kernel_size" in a:  # pooling windows
        k = _per_axis(a.get("kernel_size"), dims, 1)
        s = _per_axis(a.get("stride") or a.get("kernel_size"), dims, 1)
        d = _per_axis(a.get("dilation"), dims, 1)
        return tuple(r + di * (ki - 1) * j for r, di, ki, j in zip(rf, d, k, jump)), \
            tuple(j * si for j, si in zip(jump, s))
    if in_size is not None and out_size != in_size and op != "pad" and len(in_size) == len(out_size):
        # resampling: the same field, outputs closer together (upsampling) or further apart
        return rf, tuple(j * i / o for j, i, o in zip(jump, in_size, out_size))
    return rf, jump


def _in_place(node, modules) -> bool:
    """An op of an in-place layer (ReLU(inplace=True)): its output overwrites its input."""
    m = modules.get(node.scope)
    return bool(getattr(m, "inplace", False)) and bool(node.inputs) and \
        tuple(node.inputs[0].shape) == tuple(node.outputs[0].shape)


class ModelSummary(dict):
    """summarize()'s result: a dict (rows, totals, input_shape) that prints as the table."""

    def __str__(self):
        return format_summary(self)

    __repr__ = __str__


def summarize(model, input_shape, *, backward: bool = False):
    """ModelSummary {"rows": [...], "totals": {...}, "input_shape"} for `model` (a module,
    or anything `cnnnative.compile` takes, ONNX included) on inputs of `input_shape`
    (batch first). Each row: index, layer, op, output_shape (per sample, batch as None),
    params, macs, flops, activation_bytes (its float32 outputs, one sample),
    receptive_field and jump (per spatial axis, in input pixels; None once the output
    sees the whole input) and, with backward=True, saved_bytes (see the module
    docstring; ops that run only in training, such as dropout, count in the total only).
    Parameters shared by several ops are counted once."""
    from .inference import _checked_shape, _is_onnx_source, trace
    from .ir.trace import _as_module
    shape = _checked_shape(input_shape)
    if _is_onnx_source(model):
        from . import onnx as _onnx
        model = _onnx.load(model, input_shape=shape)
    model = _as_module(model)
    graph = trace(model, shape, fuse=False)
    modules = dict(model.named_modules())
    buffers = {id(b) for b in model.buffers()}
    seen, rows, field = set(), [], {}
    for v in graph.inputs:
        if _spatial(v) is not None:
            field[id(v)] = ((1,) * len(_spatial(v)), (1,) * len(_spatial(v)))
    input_bytes = 4 * sum(_count(v.shape) for v in graph.inputs)
    layer_outputs = input_bytes
    for i, node in enumerate(graph.nodes):
        params = 0
        for p in node.params.values():
            if id(p) not in seen and id(p) not in buffers:
                seen.add(id(p))
                params += int(np.size(p))
        rf = _receptive_field(node, field)
        for v in node.outputs:
            field[id(v)] = rf
        act = 4 * sum(_count(v.shape) for v in node.outputs)
        if node.op not in _VIEWS and not _in_place(node, modules):
            layer_outputs += act
        rows.append({"index": i, "layer": node.scope, "op": node.op,
                     "output_shape": tuple(node.outputs[0].shape) if node.outputs else (),
                     "params": params, "macs": _macs(node), "flops": _flops(node), "activation_bytes": act,
                     "receptive_field": None if rf is None else tuple(rf[0]),
                     "jump": None if rf is None else tuple(rf[1])})
    totals = {"ops": len(rows), "params": sum(r["params"] for r in rows),
              "macs": sum(r["macs"] for r in rows),
              "flops": sum(r["flops"] for r in rows),
              "activation_bytes": sum(r["activation_bytes"] for r in rows),
              "input_bytes": input_bytes, "layer_outputs_bytes": layer_outputs,
              "op_counts": {}}
    for r in rows:
        totals["op_counts"][r["op"]] = totals["op_counts"].get(r["op"], 0) + 1
    if backward:
        _add_saved(rows, totals, model, shape[1:])
    return ModelSummary(input_shape=shape, rows=rows, totals=totals)


def _add_saved(rows, totals, model, sample_shape):
    """saved_bytes per row, matched to the training forward's op calls by (layer, op,
    occurrence within the layer)."""
    from .training_memory import saved_for_backward
    calls = saved_for_backward(model, sample_shape)
    by_key, count = {}, {}
    for scope, op, b in calls:
        k = count[(scope, op)] = count.get((scope, op), -1) + 1
        by_key[(scope, op, k)] = b
    count = {}
    for r in rows:
        k = count[(r["layer"], r["op"])] = count.get((r["layer"], r["op"]), -1) + 1
        r["saved_bytes"] = int(by_key.get((r["layer"], r["op"], k), 0))
    totals["saved_bytes"] = int(sum(b for _, _, b in calls))


def _human(n, unit=""):
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}{unit}"
    return f"{n}{unit}"


def _axes(t):
    if t is None:
        return "all"
    t = [int(x) if float(x).is_integer() else round(float(x), 2) for x in t]
    return str(t[0]) if len(set(t)) == 1 else "x".join(str(x) for x in t)


def format_summary(s) -> str:
    """summarize()'s result as a table with a totals paragraph."""
    from .ir.graph import format_shape
    saved = "saved_bytes" in s["totals"]
    head = (f"{'#':>4}  {'layer':<24} {'op':<19} {'output':<19} {'params':>8} {'FLOPs':>8} {'output mem':>10}"
            + (f" {'kept (bwd)':>10}" if saved else "") + f" {'RF':>6} {'jump':>5}")
    lines = [head, "-" * len(head)]
    for r in s["rows"]:
        rf = r.get("receptive_field")
        lines.append(f"{r['index']:>4}  {(r['layer'] or '-')[:24]:<24} {r['op'][:19]:<19} "
                     f"{format_shape(r['output_shape'])[:19]:<19} {_human(r['params']):>8} {_human(r['flops']):>8} "
                     f"{_human(r['activation_bytes'], 'B'):>10}"
                     + (f" {_human(r.get('saved_bytes', 0), 'B'):>10}" if saved else "")
                     + f" {_axes(rf):>6} {(_axes(r.get('jump')) if rf is not None else '-'):>5}")
    t = s["totals"]
    lines.append("-" * len(head))
    ops = ", ".join(f"{op} x{n}" for op, n in sorted(t["op_counts"].items(), key=lambda e: (-e[1], e[0])))
    lines.append(f"total: {t['ops']} ops ({ops})")
    lines.append(f"parameters {t['params']} ({_human(4 * t['params'], 'B')} as float32); "
                 f"{_human(t['flops'])} FLOPs per sample ({_human(t.get('macs', 0))} multiply-adds in "
                 "convolutions and linear layers)")
    if "layer_outputs_bytes" in t:
        lines.append(f"activations per sample: {_human(t['layer_outputs_bytes'], 'B')} = "
                     f"{t['layer_outputs_bytes'] // 4} values, the input and every layer's output (in-place "
                     "layers and views add nothing; the lecture's count)")
    lines.append(f"activations {_human(t['activation_bytes'], 'B')} per sample if none were freed "
                 "(every op's output, none in place)")
    if saved:
        lines.append(f"kept for the backward by one training forward: {_human(t['saved_bytes'], 'B')} per sample "
                     "(measured)")
    return "\n".join(lines)
