"""QDQ pairs that the int8 engine does not need, removed before import (for ``quantize``).

ONNX Runtime's quantizer puts a QuantizeLinear -> DequantizeLinear pair on nearly every
value, also between the ops of patterns cnnnative lifts into one op: SiLU written as
``x * Sigmoid(x)``, the squeeze-and-excitation gate ``x * HardSigmoid(...)``, the
Reshape -> Transpose -> Reshape of a channel shuffle. With the pairs in place those patterns
are no longer recognised, their pieces stay separate float ops the engine does not run,
and ``quantize`` refuses the model. For the int8 engine only the quantization of values
that int8 kernels read matters (convolutions, linear layers, pools, concat, flatten); a
pair whose value only the float ops of such patterns read stands for a rounding inside a
float island, and is dropped here: the island then runs in float32 between the int8
layers, one or more roundings fewer than the QDQ graph (a difference of at most one step
of each dropped quantization). ``cnnnative.onnx.load`` and ``compile`` keep every pair.
"""
from __future__ import annotations

__all__ = ["drop_float_island_pairs"]

# The float ops of the patterns above (and the residual Add, which fuses into the conv's
# output stage): a pair whose every reader is one of these is dropped. Any other reader
# (an int8-capable op, Identity on the way to a graph output, an op not listed) keeps it.
_ISLAND_READERS = ("Sigmoid", "HardSigmoid", "Mul", "Add", "Reshape", "Transpose", "Split", "Slice", "Gather")


def drop_float_island_pairs(model) -> int:
    """Remove, in place, each QuantizeLinear -> DequantizeLinear pair on a run-time value
    whose dequantized value only the float ops of those patterns read (not a graph
    output); its readers read the pair's input instead. Returns how many were removed."""
    g = model.graph
    constant = {t.name for t in g.initializer} | {o for n in g.node if n.op_type == "Constant" for o in n.output}
    outputs = {o.name for o in g.output}
    readers: dict = {}
    for n in g.node:
        for name in n.input:
            readers.setdefault(name, []).append(n)
    dropped = []
    for q in g.node:
        if q.op_type != "QuantizeLinear" or q.domain not in ("", "ai.onnx") or q.input[0] in constant:
            continue
        deqs = readers.get(q.output[0], [])
        if not deqs or any(d.op_type != "DequantizeLinear" for d in deqs) or q.output[0] in outputs:
            continue
        if any(d.output[0] in outputs or not readers.get(d.output[0])
               or any(r.op_type not in _ISLAND_READERS for r in readers[d.output[0]]) for d in deqs):
            continue
        dropped.append((q, deqs))
    for q, deqs in dropped:
        for d in deqs:
            for r in readers.get(d.output[0], []):
                for k, name in enumerate(r.input):
                    if name == d.output[0]:
                        r.input[k] = q.input[0]
            g.node.remove(d)
        g.node.remove(q)
    return len(dropped)
