"""What a model computes, op by op: `summarize(model, input_shape)` traces the model
(unfused, so every op of the model is its own row) and gives, per op, the layer that
made it, its output shape, its parameters, its FLOPs and the memory of its output, with
totals. `cnnnative summary model.onnx` prints it.

FLOPs count a multiply-add as 2: convolutions and linear layers exactly (bias included),
pooling as one operation per window element, normalisations as 2 per output value
(scale and shift), other computing ops as 1 per output value, and pure data movement
(reshape, flatten, transpose, concatenation, ...) as 0.
"""
from __future__ import annotations

import numpy as np

__all__ = ["summarize", "format_summary"]

# ops that only move or relabel data
_NO_FLOPS = {"reshape", "flatten", "view", "permute", "transpose", "cat", "concat", "split", "squeeze",
             "unsqueeze", "getitem", "slice", "pad", "contiguous", "expand", "channel_shuffle", "pixel_shuffle",
             "pixel_unshuffle", "identity", "dropout", "narrow", "chunk", "stack", "gather", "take"}
_NORMS = {"batch_norm", "layer_norm", "group_norm", "instance_norm", "local_response_norm"}


def _count(shape) -> int:
    return int(np.prod([d for d in shape if d is not None], dtype=np.int64))


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


def summarize(model, input_shape):
    """{"rows": [...], "totals": {...}} for `model` (a module, or anything
    `cnnnative.compile` takes, ONNX included) on inputs of `input_shape` (batch first).
    Each row: index, layer, op, output_shape (per sample, batch as None), params, flops,
    activation_bytes (its float32 outputs, one sample). Parameters shared by several ops
    are counted once."""
    from .inference import _checked_shape, _is_onnx_source, trace
    shape = _checked_shape(input_shape)
    if _is_onnx_source(model):
        from . import onnx as _onnx
        model = _onnx.load(model, input_shape=shape)
    graph = trace(model, shape, fuse=False)
    seen, rows = set(), []
    for i, node in enumerate(graph.nodes):
        params = 0
        for p in node.params.values():
            if id(p) not in seen:
                seen.add(id(p))
                params += int(np.size(p))
        rows.append({"index": i, "layer": node.scope, "op": node.op,
                     "output_shape": tuple(node.outputs[0].shape) if node.outputs else (),
                     "params": params, "flops": _flops(node),
                     "activation_bytes": 4 * sum(_count(v.shape) for v in node.outputs)})
    totals = {"ops": len(rows), "params": sum(r["params"] for r in rows),
              "flops": sum(r["flops"] for r in rows),
              "activation_bytes": sum(r["activation_bytes"] for r in rows),
              "op_counts": {}}
    for r in rows:
        totals["op_counts"][r["op"]] = totals["op_counts"].get(r["op"], 0) + 1
    return {"input_shape": shape, "rows": rows, "totals": totals}


def _human(n, unit=""):
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}{unit}"
    return f"{n}{unit}"


def format_summary(s) -> str:
    from .ir.graph import format_shape
    head = f"{'#':>4}  {'layer':<28} {'op':<20} {'output':<20} {'params':>9} {'FLOPs':>9} {'act. memory':>11}"
    lines = [head, "-" * len(head)]
    for r in s["rows"]:
        lines.append(f"{r['index']:>4}  {(r['layer'] or '-')[:28]:<28} {r['op'][:20]:<20} "
                     f"{format_shape(r['output_shape'])[:20]:<20} {_human(r['params']):>9} {_human(r['flops']):>9} "
                     f"{_human(r['activation_bytes'], 'B'):>11}")
    t = s["totals"]
    lines.append("-" * len(head))
    ops = ", ".join(f"{op} x{n}" for op, n in sorted(t["op_counts"].items(), key=lambda e: (-e[1], e[0])))
    lines.append(f"total: {t['ops']} ops ({ops})")
    lines.append(f"parameters {t['params']} ({_human(4 * t['params'], 'B')} as float32); "
                 f"{_human(t['flops'])} FLOPs per sample; activations {_human(t['activation_bytes'], 'B')} per "
                 "sample if none were freed")
    return "\n".join(lines)
