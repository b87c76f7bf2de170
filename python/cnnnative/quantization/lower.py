"""Lowering a calibrated graph to one engine plan with int8 nodes.

Each node is decided once, in graph order (``decide``):

- conv2d / linear run in int8 (``conv_int8`` / ``linear_int8``) unless they are among the
  fp32 layers asked for, or their epilogue has an activation the int8 output stage lacks
  (it has none, ReLU, ReLU6, and the residual add, uint8 or float32);
- max / average / global-average pooling, flatten and concat run on uint8 when their
  inputs come from int8 nodes (max pooling is exact on uint8; averages are rounded to
  uint8, or dequantized when only float consumers follow; concat maps each input to the
  output's scale through a 256-entry table, a copy when the scales are equal);
- every other node stays float32 (the report says why).

Values carry their representation: float32, or uint8 with (scale, zero point). A float
value read by an int8 node gets a ``quantize`` node (with its calibrated range); a uint8
value read by a float node gets a ``dequantize`` node; both are made once per value. An
int8 node writes uint8 when some reader runs in int8, else float32 straight from its
output stage (so the last int8 layer before an fp32 classifier dequantizes for free).
"""
from __future__ import annotations

import numpy as np

from .. import _core
from .. import inference as _inf
from ..ir import fuse as _fuse
from ..plan_file import add_int8_node
from .calibrate import qparams

# The int8 nodes also take sigmoid and hardsigmoid; they stay fp32 here: in the networks that
# have them (squeeze-excitation gates) their readers are float channel scales, so an int8
# layer would only add a dequantize.
_INT8_ACTS = ("none", "relu", "relu6", "silu", "hardswish", "gelu", "gelu_tanh")
_PASSTHROUGH = ("max_pool2d", "avg_pool2d", "global_avg_pool2d", "flatten", "reshape", "cat")
# A QuantizeLinear -> DequantizeLinear pair of an imported QDQ model (see quantization/qdq.py).
FAKE_QUANT = "fake_quantize_per_tensor_affine"


def _layer_name(node):
    return node.scope or node.name


def quantize_weight(w, per_channel):
    """Symmetric int8 weights: (int8 array, float32 scale per output channel)."""
    w = np.asarray(w, np.float32)
    flat = w.reshape(w.shape[0], -1)
    amax = np.abs(flat).max(axis=1) if per_channel else np.full(w.shape[0], np.abs(flat).max())
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(flat / scale[:, None]), -127, 127).astype(np.int8)
    return q.reshape(w.shape), scale


def _gemm_nodes(graph):
    return [n for n in graph.nodes if n.op in ("conv1d", "conv2d", "linear", *_fuse.TRANSPOSED)]


def fake_quant_q(node):
    """(scale, uint8 zero point) of a fake-quantize node on an 8-bit grid, else None."""
    if node is None or node.op != FAKE_QUANT:
        return None
    return _inf._fake_quant_u8(node)


def op_writes_own_scale(node):
    """Does an int8 node requantize to its output's own scale (conv / linear), rather than
    keep its input's (pools, flatten) or take its reader's (cat, fake-quantize)?"""
    return node.op in ("conv2d", "linear")


def model_q(graph):
    """{id(value): (scale, zero)} for the values a QDQ model quantizes: each fake-quantize
    node's input takes the quantization of its first fake-quantize reader."""
    q = {}
    for node in graph.nodes:
        fq = fake_quant_q(node)
        if fq is not None:
            q.setdefault(id(node.inputs[0]), fq)
    return q


def decide(graph, fp32_layers, known=lambda v: True):
    """{id(node): (mode, reason)}: mode "int8" or "fp32". known(v): whether value v has a
    quantization (a calibrated range or the model's own QDQ scale)."""
    gemms = _gemm_nodes(graph)
    forced = set()
    for name in fp32_layers:
        if name == "first" and gemms:
            forced.add(id(gemms[0]))
        elif name == "last" and gemms:
            forced.add(id(gemms[-1]))
        else:
            forced.update(id(n) for n in gemms if _layer_name(n) == name or n.name == name)
    modes = {}

    def quantized(v):  # does v have a uint8 form with a scale: its own, or its producer's
        producer = v.node
        if producer is not None and modes.get(id(producer), ("fp32",))[0] == "int8" and \
                (producer.op in _PASSTHROUGH or producer.op == FAKE_QUANT):
            return True
        return known(v)

    for node in graph.nodes:
        op = node.op
        if op == FAKE_QUANT:
            modes[id(node)] = (("int8", "the model's QDQ quantization") if fake_quant_q(node) is not None
                               else ("fp32", "not an 8-bit grid"))
            continue
        if op in ("conv2d", "linear"):
            _, residual, act = _inf._epilogue_parts(node)
            if id(node) in forced:
                which = "first" if node is gemms[0] else "last" if node is gemms[-1] else "named"
                modes[id(node)] = ("fp32", f"fp32_layers ({which} layer)")
            elif act[0] not in _INT8_ACTS:
                modes[id(node)] = ("fp32", f"activation {act[0]} has no int8 output stage")
            elif op == "conv2d" and len(node.inputs[0].shape) != 4:
                modes[id(node)] = ("fp32", "not a 4-D image")
            elif not quantized(node.inputs[0]):
                modes[id(node)] = ("fp32", "its input has no quantization (no QDQ pair in the model, no calibration)")
            else:
                modes[id(node)] = ("int8", "")
            continue
        if op in _PASSTHROUGH:
            values = _inf._value_args(node) if op != "cat" else list(node.args["tensors"])
            producers_int8 = all(v.node is not None and modes.get(id(v.node), ("fp32",))[0] == "int8"
                                 and quantized(v) for v in values)
            if op in ("flatten", "reshape", "cat") and not producers_int8:
                modes[id(node)] = ("fp32", "its input is float32")
            elif not producers_int8:
                modes[id(node)] = ("fp32", "its input is float32")
            elif _inf._epilogue_parts(node)[2][0] != "none" or node.epilogue:
                modes[id(node)] = ("fp32", "fused epilogue on a pool")
            elif op == "cat" and not known(node.output):
                modes[id(node)] = ("fp32", "its output has no quantization")
            else:
                modes[id(node)] = ("int8", "uint8 in, same scale" if op != "cat" else "uint8, rescaled by table")
            continue
        modes[id(node)] = ("fp32", f"no int8 kernel for {op}")
    # A flatten with only float readers (the fp32 classifier) stays float, so the pool
    # before it dequantizes in its own loop instead of through a separate node.
    readers = {}
    for node in graph.nodes:
        for v in node.inputs:
            readers.setdefault(id(v), []).append(node)
    for node in reversed(graph.nodes):
        if node.op in ("flatten", "reshape") and modes[id(node)][0] == "int8":
            if not any(modes[id(r)][0] == "int8" for r in readers.get(id(node.output), ())):
                modes[id(node)] = ("fp32", "its readers are float32")
    return modes


class _Builder:
    """Emits nodes into one EnginePlan (or its PlanRecorder when exportable), tracking each
    value's representation."""

    def __init__(self, graph, batch, algo, ranges, per_channel, exportable=False):
        self.graph, self.ranges, self.per_channel = graph, ranges, per_channel
        self.model_q = model_q(graph)
        src = graph.inputs[0]
        shape = [batch, *_inf.engine_shape(src.shape)[1:]]
        self.plan = _core.EnginePlan(shape, str(algo))
        if exportable:
            from ..plan_file import PlanRecorder
            self.plan = PlanRecorder(self.plan, shape, algo)
        self.rep = {id(src): ("f32", 0, None)}
        self.f32_cache, self.u8_cache = {}, {}
        self.report = []

    def q_of(self, v):
        """(scale, zero) of v as uint8: the model's QDQ scale, else its calibrated range, else None."""
        if id(v) in self.model_q:
            return self.model_q[id(v)]
        if id(v) not in self.ranges:
            return None
        lo, hi = self.ranges[id(v)]
        return qparams(lo, hi)

    def f32(self, v):
        kind, buf, q = self.rep[id(v)]
        if kind == "f32":
            return buf
        if id(v) not in self.f32_cache:
            self.f32_cache[id(v)] = add_int8_node(self.plan, "dequantize", buf, q[0], q[1])
        return self.f32_cache[id(v)]

    def u8(self, v):
        """(buffer, (scale, zero)) of v as uint8."""
        kind, buf, q = self.rep[id(v)]
        if kind == "u8":
            return buf, q
        if id(v) not in self.u8_cache:
            q = self.q_of(v)
            self.u8_cache[id(v)] = (add_int8_node(self.plan, "quantize", buf, q[0], q[1]), q)
        return self.u8_cache[id(v)]


def lower(graph, batch, algo, ranges, modes, per_channel, exportable=False):
    """(plan, report rows) for a graph the engine can run whole; the plan is a PlanRecorder
    (the EnginePlan is its .plan) when exportable."""
    b = _Builder(graph, batch, algo, ranges, per_channel, exportable)
    readers = {}
    for node in graph.nodes:
        for v in node.inputs:
            readers.setdefault(id(v), []).append(node)
    returned = {id(v) for v in graph.outputs}

    def wants_u8(v):
        return id(v) not in returned and any(modes[id(r)][0] == "int8" for r in readers.get(id(v), ()))

    for node in graph.nodes:
        mode, reason = modes[id(node)]
        out = node.output
        row = {"layer": _layer_name(node), "op": node.op, "mode": mode, "reason": reason}
        if mode == "fp32":
            fbuf = {id(v): b.f32(v) for v in node.inputs}
            buf = _inf._emit(b.plan, node, fbuf)
            b.rep[id(out)] = ("f32", buf, None)
            b.report.append(row)
            continue
        u8_out = wants_u8(out)
        if op_writes_own_scale(node) and b.q_of(out) is None:
            u8_out = False  # no scale for its output (QDQ model without calibration): float32 out
        out_q = b.q_of(out) if u8_out and op_writes_own_scale(node) else (1.0, 0)
        op, a = node.op, node.args
        if op == FAKE_QUANT:  # the value on the pair's grid: uint8 with its scale
            q = fake_quant_q(node)
            kind, xbuf, in_q = b.rep[id(node.inputs[0])]
            if kind == "u8" and in_q == q:
                buf = xbuf  # already on that grid (the producer wrote it so): nothing to run
                row["reason"] = "QDQ: its producer writes this grid"
            else:
                buf = add_int8_node(b.plan, "quantize", b.f32(node.inputs[0]), q[0], q[1])
                row["reason"] = "QDQ: quantize"
            u8_out, out_q = True, q
        elif op in ("conv2d", "linear"):
            (xbuf, in_q) = b.u8(node.inputs[0])
            w, bias, _ = _fuse.folded_weights(node)
            wq, wscale = quantize_weight(w, b.per_channel)
            mult = (np.float32(in_q[0]) * wscale).astype(np.float32)
            bias = np.zeros(w.shape[0], np.float32) if bias is None else np.asarray(bias, np.float32)
            _, residual, act = _inf._epilogue_parts(node)
            if op == "linear":
                buf = add_int8_node(b.plan, "linear_int8", xbuf, in_q, wq, mult, bias, act[0], u8_out, out_q)
            else:
                res, res_q = -1, (1.0, 0)
                if residual is not None:
                    kind, rbuf, rq = b.rep[id(residual)]
                    res, res_q = (rbuf, rq) if kind == "u8" else (rbuf, (1.0, 0))
                stride = _inf._pair(a.get("stride", 1), "stride")
                pad = _inf._pad4(a.get("padding", 0))
                dilation = _inf._pair(a.get("dilation", 1), "dilation")
                buf = add_int8_node(b.plan, "conv_int8", xbuf, in_q, wq, mult, bias, stride, pad, dilation,
                                               int(a.get("groups", 1)), act[0], res, res_q, u8_out, out_q)
            row.update(in_scale=in_q[0], in_zero=in_q[1], weight_scale=(float(wscale.min()), float(wscale.max())),
                       residual=None if residual is None else {"u8": "uint8", "f32": "float32"}[b.rep[id(residual)][0]])
        elif op == "cat":
            parts = [b.u8(v) for v in a["tensors"]]
            cat_q = b.q_of(out)
            buf = add_int8_node(b.plan, "concat_u8", [p[0] for p in parts], [p[1] for p in parts], cat_q)
            u8_out, out_q = True, cat_q  # float readers dequantize it
        else:
            xbuf, in_q = b.u8(node.inputs[0])
            out_q = in_q
            if op in ("flatten", "reshape"):
                buf = b.plan.add_flatten(xbuf)
                u8_out = True
            elif op == "global_avg_pool2d":
                buf = add_int8_node(b.plan, "global_avg_pool_u8", xbuf, in_q, u8_out)
            else:
                k = _inf._pair(a["kernel_size"], "kernel_size")
                stride = a.get("stride")
                s = k if stride is None or stride == () else _inf._pair(stride, "stride")
                p = _inf._pair(a.get("padding", 0), "padding")
                pad = (p[0], p[0], p[1], p[1])
                ceil = bool(a.get("ceil_mode", False))
                if op == "max_pool2d":
                    buf = add_int8_node(b.plan, "max_pool_u8", xbuf, k, s, pad, _inf._pair(a.get("dilation", 1),
                                                                                          "dilation"),
                                                     ceil, in_q, u8_out)
                else:
                    buf = add_int8_node(b.plan, "avg_pool_u8", xbuf, k, s, pad, ceil,
                                                     bool(a.get("count_include_pad", True)), in_q, u8_out)
        b.rep[id(out)] = ("u8", buf, out_q) if u8_out else ("f32", buf, None)
        row.update(output="uint8" if u8_out else "float32", out_scale=out_q[0] if u8_out else None,
                   out_zero=out_q[1] if u8_out else None)
        b.report.append(row)
    result = graph.outputs[0]
    out_buf = b.f32(result)
    if out_buf == 0:
        raise ValueError("quantize(): the model does nothing to its input")
    b.plan.finalize(out_buf)
    return b.plan, b.report
