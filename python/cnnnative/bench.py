"""Benchmark table for `cnnnative bench`: convolution layers from real networks, timed with
cnnnative and (when installed) PyTorch side by side in the same process.

Effective GFLOP/s counts direct-convolution FLOPs (2 * N*K*OH*OW*C/groups*R*S) over the
median time, whatever algorithm ran.
"""
from __future__ import annotations

import time

import numpy as np

from . import ops

__all__ = ["LAYERS", "time_call", "time_interleaved", "run", "format_table", "LEGEND"]

LEGEND = ("vs torch = torch's median time / ours: above 1 (e.g. 2.00x) means cnnnative is faster. "
          "Calls alternate between the two, so a noisy machine slows both alike.")

# name, (N, C, H, W), (K, C/groups, R, S), stride, padding, groups
LAYERS = [
    ("lenet5.c3", (64, 6, 14, 14), (16, 6, 5, 5), 1, 0, 1),
    ("seed_mnist.conv2", (64, 32, 14, 14), (32, 32, 3, 3), 1, 1, 1),
    ("alexnet.conv1", (1, 3, 224, 224), (64, 3, 11, 11), 4, 2, 1),
    ("vgg16.conv3_2", (1, 256, 56, 56), (256, 256, 3, 3), 1, 1, 1),
    ("resnet18.layer1", (1, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1),
    ("resnet18.layer3_down", (1, 128, 28, 28), (256, 128, 3, 3), 2, 1, 1),
    ("resnet18.layer4_1x1", (1, 256, 14, 14), (512, 256, 1, 1), 2, 0, 1),
    ("mobilenet.dw3x3", (1, 128, 56, 56), (128, 1, 3, 3), 1, 1, 128),
]


def time_call(fn, repeats: int = 7, warmup: int = 2, min_seconds: float = 0.0) -> float:
    """Median wall time of fn() in seconds after warm-up calls."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 10 * repeats:
            break
    return float(np.median(times))


def time_interleaved(fns, repeats: int = 7, warmup: int = 2, clock=time.perf_counter) -> list:
    """Median time of each fn in seconds (wall time unless another clock is given, e.g.
    time.process_time), calling them in turn (a, b, a, b, ...) so that a slow stretch of a
    shared machine falls on all of them alike."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = clock()
            fn()
            ts.append(clock() - t0)
    return [float(np.median(ts)) for ts in times]


def _flops(x, w, stride, padding):
    n, c, h, wd = x
    k, cg, r, s = w
    oh = (h + 2 * padding - r) // stride + 1
    ow = (wd + 2 * padding - s) // stride + 1
    return 2.0 * n * k * oh * ow * cg * r * s


def run(layers=None, repeats: int = 5, threads: int | None = None, with_torch: bool = True) -> list:
    """Time each layer's forward convolution; returns one dict per layer."""
    import cnnnative
    if int(repeats) < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if threads is not None:
        cnnnative.set_num_threads(threads)
    torch = None
    if with_torch:
        try:
            import torch
            torch.set_num_threads(cnnnative.get_num_threads())
        except ImportError:
            torch = None
    rng = np.random.default_rng(0)
    rows = []
    for name, xs, ws, stride, pad, groups in (layers or LAYERS):
        x = rng.standard_normal(xs, dtype=np.float32)
        w = rng.standard_normal(ws, dtype=np.float32)
        b = rng.standard_normal(ws[0], dtype=np.float32)
        calls = [lambda: ops.conv2d(x, w, b, stride, pad, 1, groups)]
        if torch is not None:
            tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)

            def torch_conv():
                with torch.no_grad():
                    return torch.nn.functional.conv2d(tx, tw, tb, stride, pad, 1, groups)
            calls.append(torch_conv)
        t, *tt = time_interleaved(calls, repeats)
        row = {"layer": name, "input": xs, "weight": ws, "stride": stride, "padding": pad,
               "groups": groups, "cnnnative_ms": t * 1e3,
               "cnnnative_gflops": _flops(xs, ws, stride, pad) / t / 1e9}
        if tt:
            tt = tt[0]
            row["torch_ms"] = tt * 1e3
            row["speedup_vs_torch"] = tt / t
        rows.append(row)
    return rows


def format_table(rows) -> str:
    has_torch = any("torch_ms" in r for r in rows)
    head = f"{'layer':24s} {'input':>18s} {'weight':>18s} {'ms':>9s} {'GFLOP/s':>8s}"
    if has_torch:
        head += f" {'torch ms':>9s} {'vs torch':>8s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        line = (f"{r['layer']:24s} {'x'.join(map(str, r['input'])):>18s} {'x'.join(map(str, r['weight'])):>18s} "
                f"{r['cnnnative_ms']:9.3f} {r['cnnnative_gflops']:8.1f}")
        if has_torch and "torch_ms" in r:
            line += f" {r['torch_ms']:9.3f} {r['speedup_vs_torch']:7.2f}x"
        lines.append(line)
    if has_torch:
        lines.append(LEGEND)
    return "\n".join(lines)
