"""Post-training static int8 quantization: ``cnnnative.quantize(model, calibration_data)``.

The model is traced and fused as ``cnnnative.compile`` does (BatchNorm folded, bias,
residual add and ReLU/ReLU6 in the conv's output stage), run in float32 on the calibration
data to find the range of every value (``calibrate``), and lowered to one engine plan whose
convolutions and linear layers run in int8 (``lower``):

- weights: int8, symmetric, one scale per output channel (``per_channel=True``) or one per
  layer; activations: uint8, asymmetric, one scale and zero point per tensor;
- int32 accumulation; the input's zero point is folded into a per-channel int32 correction
  (``-zero * sum(weight row)``); the output stage applies the float scale, bias, residual
  add and ReLU/ReLU6 and writes uint8 for an int8 reader or float32 for a float one
  (the exact arithmetic is in cpp/src/engine/int8_nodes.h);
- the first and last conv/linear layers stay float32 by default (``fp32_layers``);
  layers without an int8 kernel stay float32 with ``quantize``/``dequantize`` nodes at the
  boundaries. ``QuantizedModel.report()`` lists what ran where, why, and the scales.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from .. import inference as _inf
from .calibrate import calibrate, qparams
from ..ir import fuse as _fuse
from .lower import decide, lower, model_q
from .qdq import drop_inner_rounding, has_fake_quant

__all__ = ["quantize", "QuantizedModel", "int8_isa"]

_METHODS = ("minmax", "percentile", "entropy")


def int8_isa() -> str:
    """The instruction set the int8 kernels run with on this machine."""
    return _core.int8_isa()


class QuantizedModel(_inf.CompiledModel):
    """A model compiled with int8 layers; called like CompiledModel: ``y = qm(x)``, float32
    (n, *input_shape[1:]) in, float32 out. ``layers``: one dict per graph node (layer, op,
    mode "int8"/"fp32", reason, scales); ``report()`` formats them."""

    def __init__(self, steps, graph, shape, layers, method, per_channel):
        super().__init__(steps, graph, shape, True, False)
        self.layers = layers
        self.method, self.per_channel = method, per_channel

    def report(self) -> str:
        """One line per layer: where it ran (int8 / fp32), why, and its scales."""
        n8 = sum(r["mode"] == "int8" and r["op"] in ("conv2d", "linear") for r in self.layers)
        ngemm = sum(r["op"] in ("conv1d", "conv2d", "linear") for r in self.layers)
        lines = [f"QuantizedModel {self.input_shape} -> {self.output_shape}: {n8} of {ngemm} conv/linear "
                 f"layers in int8 (calibration {self.method}, weights per-{'channel' if self.per_channel else 'tensor'}"
                 f", kernels {int8_isa()})"]
        for i, r in enumerate(self.layers):
            line = f"  {i:3d} {r['mode']:4s} {r['op']:<18s} {r['layer']}"
            if r["mode"] == "int8" and "in_scale" in r:
                lo, hi = r["weight_scale"]
                line += f"  in scale {r['in_scale']:.4g} zero {r['in_zero']}  w scale {lo:.3g}..{hi:.3g}"
                if r.get("residual"):
                    line += f" +residual({r['residual']})"
            if r["mode"] == "int8":
                line += (f"  -> uint8 scale {r['out_scale']:.4g} zero {r['out_zero']}" if r.get("output") == "uint8"
                         else "  -> float32")
            if r["reason"]:
                line += f"  ({r['reason']})"
            lines.append(line)
        return "\n".join(lines)

    def summary(self) -> str:
        """The engine nodes that run, in order (quantize / dequantize / *_int8 / *_u8 and
        the float32 ones)."""
        return super().summary().replace("CompiledModel", "QuantizedModel", 1)

    def __repr__(self):
        return (f"QuantizedModel(input_shape={self.input_shape}, output_shape={self.output_shape}, "
                f"int8_layers={sum(r['mode'] == 'int8' for r in self.layers)})")


def _batches(calibration_data, sample_shape):
    """The calibration data as a list of float32 batches of `sample_shape` samples."""
    if isinstance(calibration_data, np.ndarray) or hasattr(calibration_data, "__array__") and not hasattr(
            calibration_data, "__next__"):
        data = np.asarray(calibration_data, np.float32)
        if data.ndim == 0:
            raise ValueError("calibration_data must be an array (N, ...) or an iterable of batches, got a scalar")
        chunks = [data[i:i + 32] for i in range(0, len(data), 32)]
    else:
        try:
            chunks = [np.asarray(b, np.float32) for b in calibration_data]
        except TypeError:
            raise TypeError("calibration_data must be a numpy array (N, ...) or an iterable of such batches, "
                            f"got {type(calibration_data).__name__}") from None
    chunks = [c for c in chunks if c.ndim == 0 or len(c)]
    if not chunks:
        raise ValueError("calibration_data is empty: quantize() needs at least one sample to find ranges")
    for c in chunks:
        if sample_shape is not None and tuple(c.shape[1:]) != tuple(sample_shape):
            raise ValueError(f"calibration batch has shape {c.shape}, but the model input is "
                             f"(N, {', '.join(map(str, sample_shape))})")
        if not np.all(np.isfinite(c)):
            raise ValueError("calibration_data holds NaN or infinity")
    return chunks


def quantize(model, calibration_data=None, *, input_shape=None, method="minmax", per_channel=True,
             fp32_layers=None, percentile=99.99, algo="auto", exportable=False):
    """Post-training static int8 quantization of `model` for the C++ engine.

    model: a cnnnative.nn.Module (or a torch.nn module / ONNX model, as compile() takes)
    whose graph the engine runs whole (no host nodes). An ONNX model in QDQ form
    (QuantizeLinear -> DequantizeLinear pairs, as ONNX Runtime's ``quantize_static(...,
    quant_format=QuantFormat.QDQ)`` writes) brings its own scales: every value it quantizes
    keeps the model's scale and zero point (see quantization/qdq.py).
    calibration_data: a float array (N, *sample_shape) or an iterable of such batches,
    drawn from the inputs the model will see (a few hundred samples is plenty). None for a
    QDQ model: its own scales are used, and values it leaves unquantized stay float32.
    input_shape: (N, C, H, W) or (N, F) the quantized model is built for (calls take any
    batch <= N); default: (first calibration batch's size, *its sample shape); required
    without calibration data.
    method: "minmax", "percentile" (keeps `percentile` % of each activation's values) or
    "entropy" (KL-divergence thresholds, TensorRT's method); see quantization.calibrate.
    per_channel: one weight scale per output channel (else one per layer).
    fp32_layers: conv/linear layers kept in float32: "first", "last" and/or layer names
    (dotted module paths); () quantizes all of them. Default: ("first", "last"), and () for
    a QDQ model (which says itself which layers are quantized).
    algo: the fp32 layers' convolution choice, as in compile().
    exportable: keep a copy of the build calls and weights so `cnnnative.export_plan` can
    write the quantized model to a plan file (as compile(..., exportable=True)).
    Returns a QuantizedModel: ``y = qm(x)``, ``qm.report()``.
    """
    if isinstance(model, _inf.CompiledModel):
        raise TypeError("quantize() takes the model itself (a cnnnative.nn.Module), not a CompiledModel: it needs "
                        "the weights and the traced graph")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, _METHODS))}, got {method!r}")
    if not 0 < float(percentile) <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    if isinstance(fp32_layers, str):
        fp32_layers = (fp32_layers,)
    sample = None if input_shape is None else tuple(int(d) for d in input_shape)[1:]
    batches = None if calibration_data is None else _batches(calibration_data, sample)
    if input_shape is None:
        if batches is None:
            raise ValueError("quantize(): give input_shape=(N, C, H, W) when there is no calibration_data")
        input_shape = (len(batches[0]), *batches[0].shape[1:])
    shape = _inf._checked_shape(input_shape)
    if len(shape) not in (2, 4):
        raise ValueError(f"input_shape must be (N, C, H, W) or (N, F), got {shape}")
    if _inf._is_onnx_source(model):
        from .. import onnx as _onnx
        model = _onnx._load(model, shape, for_int8=True)
    graph = _inf.trace(model, shape, fuse=False)
    qdq = has_fake_quant(graph)
    if qdq:
        drop_inner_rounding(graph)
    graph = _fuse.simplify(graph, fuse=True)
    if len(graph.outputs) != 1 or graph.outputs[0] is graph.inputs[0]:
        raise ValueError("quantize(): the model must return one array computed from its input")
    host = [n for n in graph.nodes if not _inf._engine_can_run(n)]
    if host:
        raise ValueError(f"quantize(): {host[0].where} runs on the host, not in the engine; int8 needs a model "
                         f"the engine runs whole ({len(host)} such node(s))")
    if batches is None and not qdq:
        raise ValueError("quantize(): calibration_data is required: the model carries no quantization of its own "
                         "(no QuantizeLinear/DequantizeLinear pairs)")
    fp32_layers = tuple(fp32_layers) if fp32_layers is not None else (() if qdq else ("first", "last"))
    ranges = calibrate(graph, batches, method, percentile) if batches is not None else {}
    own = model_q(graph)
    modes = decide(graph, fp32_layers, known=lambda v: id(v) in ranges or id(v) in own)
    plan, layers = lower(graph, shape[0], algo, ranges, modes, per_channel, exportable)
    recording = plan if exportable else None
    plan = plan.plan if exportable else plan
    steps = [_inf._EngineStep(plan, graph.inputs[0], graph.outputs[0])]
    source = method if not qdq else ("the model's QDQ scales" if batches is None else f"QDQ scales + {method}")
    quantized = QuantizedModel(steps, graph, shape, layers, source, per_channel)
    quantized._recordings = [recording] if exportable else None
    return quantized
