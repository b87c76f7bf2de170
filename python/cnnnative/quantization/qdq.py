"""Models that carry their own quantization: the QDQ form (ONNX Runtime's quantizer, or any
graph with ``ops.fake_quantize_per_tensor_affine``).

An imported QDQ model marks every quantized value with a fake-quantize node (an ONNX
QuantizeLinear -> DequantizeLinear pair, see onnx/convert_quantize.py) and stores its
weights as int8 with their scales (imported as the float values they stand for).
``quantize(model, None)`` lowers it without calibration: each value read through a
fake-quantize node takes that node's scale and zero point (lower.model_q), so the int8
convolutions read and write exactly the grids the model names, and a fake-quantize node
whose producer already wrote its grid costs nothing.

An ONNX QDQ model is imported for ``quantize`` without the pairs that only float ops read
(onnx/qdq_islands.py: inside SiLU, squeeze-and-excitation gates, channel shuffles), so
those patterns are recognised and run in float32 between the int8 layers.

One rewrite before fusion (``drop_inner_rounding``): in ``add(fq(conv(x)), r)`` -- a
residual block whose conv output is quantized before the add, as ORT writes it -- and in
``batch_norm(fq(conv(x)))`` (a model quantized without folding its BatchNorms first), the
fake-quantize between the conv and its only reader is removed, so the add or the BatchNorm
(and the activation the next quantization stands for) fuses into the conv's int8 output
stage. The engine then keeps the conv's sum in float until that output stage: one rounding
fewer than the QDQ graph's (the difference is at most one step of that quantization,
carried through the add or the BatchNorm's scale).
"""
from __future__ import annotations

from .lower import FAKE_QUANT, fake_quant_q

__all__ = ["has_fake_quant", "drop_inner_rounding"]

_CONVS = ("conv2d",)
_FUSED_READERS = ("add", "add_relu", "batch_norm")


def has_fake_quant(graph) -> bool:
    """Does the graph carry its own 8-bit quantization (a fake-quantize node on an 8-bit grid)?"""
    return any(fake_quant_q(n) is not None for n in graph.nodes)


def drop_inner_rounding(graph) -> int:
    """Remove each fake-quantize node between a conv2d and the add or batch_norm that is its
    only reader (the conv's output read by nobody else); returns how many. Run before fusion."""
    uses = graph.uses()
    readers = {}
    for node in graph.nodes:
        for v in node.inputs:
            readers.setdefault(id(v), []).append(node)
    dropped = 0
    for node in list(graph.nodes):
        if node.op != FAKE_QUANT or fake_quant_q(node) is None:
            continue
        x = node.inputs[0]
        after = readers.get(id(node.output), [])
        if (x.node is None or x.node.op not in _CONVS or uses.get(id(x)) != 1
                or uses.get(id(node.output)) != 1 or len(after) != 1 or after[0].op not in _FUSED_READERS):
            continue
        graph.replace_all_uses(node.output, x)
        graph.nodes.remove(node)
        dropped += 1
    return dropped
