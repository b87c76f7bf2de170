"""`cnnnative.bf16_report(model, x)`: what `compile(..., precision="bf16")` runs in bf16 and
how far its outputs are from fp32 on sample inputs.

    report = cnnnative.bf16_report(model, x)   # x: (N, ...) samples of the model's input
    print(report)                              # per-layer table and the error figures
    report.max_rel_error, report.top1_agreement

Both plans are compiled for x's shape; the fp32 one is the reference.
"""
from __future__ import annotations

import numpy as np

__all__ = ["bf16_report", "Bf16Report"]


class Bf16Report:
    """layers: one dict per compiled node (index, op, method, precision "bf16" / "fp32" for
    conv and linear nodes, None for others, why: the reason for that precision, output_shape); bf16_layers / fp32_layers: how many
    conv and linear nodes ran in each. Errors of the bf16 outputs y against the fp32 ones r,
    per sample i (all over the output's features):
      max_abs_error   max |y - r|
      max_rel_error   max over i of max|y_i - r_i| / max|r_i| (relative to the sample's largest
                      output, e.g. its top logit; elementwise ratios blow up near zero)
      top1_agreement  fraction of samples with argmax(y_i) == argmax(r_i) (None unless the
                      output is (N, classes))
    bf16_speedup is not measured here (see benchmarks/bench_bf16.py)."""

    def __init__(self, layers, y, ref):
        self.layers = layers
        self.bf16_layers = sum(1 for n in layers if n["precision"] == "bf16")
        self.fp32_layers = sum(1 for n in layers if n["precision"] == "fp32")
        y64, r64 = y.astype(np.float64), ref.astype(np.float64)
        n = y.shape[0]
        d = np.abs(y64 - r64).reshape(n, -1)
        scale = np.abs(r64).reshape(n, -1).max(axis=1) if n else np.zeros(0)
        self.max_abs_error = float(d.max()) if d.size else 0.0
        rel = d.max(axis=1) / np.maximum(scale, np.finfo(np.float64).tiny) if n else np.zeros(0)
        self.max_rel_error = float(rel.max()) if n else 0.0
        self.top1_agreement = (float(np.mean(y.argmax(axis=1) == ref.argmax(axis=1)))
                               if y.ndim == 2 and n else None)
        self.samples = n

    def __str__(self):
        lines = [f"bf16 vs fp32 on {self.samples} samples: {self.bf16_layers} conv/linear layers in bf16, "
                 f"{self.fp32_layers} in fp32"]
        for n in self.layers:
            if n["precision"] is None:
                continue
            lines.append(f"  {n['index']:3d} {n['op']:<7s} {n['method']:<18s} {n['precision']:<5s} "
                         f"-> {str(tuple(n['output_shape'])):<18s} {n['why']}")
        top1 = "n/a" if self.top1_agreement is None else f"{100 * self.top1_agreement:.1f}%"
        lines.append(f"max abs error {self.max_abs_error:.3g}, max relative error {self.max_rel_error:.3g} "
                     f"(of each sample's largest output), top-1 agreement {top1}")
        return "\n".join(lines)

    __repr__ = __str__


def _why(node, method):
    """Why a conv or linear node runs in the precision it does."""
    if node.get("precision") == "bf16":
        return "bf16 GEMM"
    if node["op"] not in ("conv", "linear"):
        return ""
    return {"depthwise": "depthwise: memory bound, stays fp32",
            "winograd": "Winograd F(4x4): fp32 faster than the bf16 GEMM, and bf16 Winograd too inexact",
            "direct_smallc": "few input channels: the fp32 direct kernel is faster",
            "direct_smallc_wino": "few input channels: the fp32 direct kernel is faster"}.get(method, "fp32")


def bf16_report(model, x, *, algo="auto"):
    """Compile `model` for x's shape in fp32 and in bf16, run both on x (N, ...) and return a
    Bf16Report: which conv/linear layers ran in bf16, the bf16 outputs' max absolute and
    relative error against fp32, and top-1 agreement of (N, classes) outputs."""
    from .inference import compile as compile_model
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim < 2:
        raise ValueError(f"x must be a batch of samples (N, ...), got shape {x.shape}")
    ref = compile_model(model, x.shape, algo=algo)(x)
    compiled = compile_model(model, x.shape, algo=algo, precision="bf16")
    y = compiled(x)
    layers = []
    for i, n in enumerate(compiled.nodes):
        method = n.get("method", "gemm" if n["op"] == "linear" else "")
        layers.append({"index": i, "op": n["op"], "method": method, "precision": n.get("precision"),
                       "why": _why(n, method), "output_shape": n["output_shape"]})
    return Bf16Report(layers, y, ref)
