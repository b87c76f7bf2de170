"""Resampling and channel-layout timings, cnnnative against PyTorch CPU in one process.

    PYTHONPATH=python python benchmarks/bench_resample.py [--threads 2] [--batch 8] [--repeat 15]

Cases: bilinear and nearest x2 upsampling of (B, 64, 56, 56), pixel shuffle r=2 and pixel
unshuffle of (B, 256, 56, 56), channel shuffle groups=2 of (B, 256, 56, 56), and the
squeeze-and-excitation scale x * s[:, :, None, None] of (B, 256, 28, 28); forward and
backward. Runs are interleaved (ours, theirs, ours, ...) so both see the same machine
load; the table shows median milliseconds, the ratio torch / cnnnative (> 1: cnnnative
faster) and cnnnative's effective bandwidth (bytes each op must read and write once).
Backward uses torch's aten backward ops where they exist (upsample_*_backward), else the
inverse op PyTorch's autograd runs (pixel_unshuffle for pixel_shuffle, ...).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import cnnnative
from cnnnative import ops


def interleaved_medians(ours, theirs, repeat):
    for f in (ours, theirs, ours, theirs):
        f()  # warm-up (first-touch of outputs, thread pools)
    a, b = [], []
    for _ in range(repeat):
        for fn, times in ((ours, a), (theirs, b)):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(a), statistics.median(b)


def cases(batch, torch):
    F = torch.nn.functional
    aten = torch.ops.aten
    rng = np.random.default_rng(0)

    def arr(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    shape = (batch, 64, 56, 56)
    x = arr(*shape)
    tx = torch.from_numpy(x)
    n_in = x.size
    for mode, align in (("bilinear", False), ("bilinear", True), ("nearest", None)):
        tag = f"{mode}{'(align_corners)' if align else ''} x2 {shape}"
        g = arr(batch, 64, 112, 112)
        tg = torch.from_numpy(g)
        yield (f"{tag} fwd", n_in * 5,
               lambda mode=mode, align=align: ops.interpolate(x, scale_factor=2, mode=mode, align_corners=align),
               lambda mode=mode, align=align: F.interpolate(tx, scale_factor=2, mode=mode, align_corners=align))
        if mode == "nearest":
            theirs = lambda: aten.upsample_nearest2d_backward(tg, [112, 112], list(shape), 2.0, 2.0)  # noqa: E731
        else:
            theirs = lambda align=align: aten.upsample_bilinear2d_backward(tg, [112, 112], list(shape), align,  # noqa: E731
                                                                           2.0, 2.0)
        yield (f"{tag} bwd", n_in * 5,
               lambda mode=mode, align=align, g=g: ops.interpolate_backward(g, shape, scale_factor=2, mode=mode,
                                                                            align_corners=align),
               theirs)

    shape = (batch, 256, 56, 56)
    x = arr(*shape)
    tx = torch.from_numpy(x)
    yield (f"pixel_shuffle(2) fwd (= unshuffle bwd) {shape}", 2 * x.size,
           lambda: ops.pixel_shuffle(x, 2), lambda: F.pixel_shuffle(tx, 2))
    yield (f"pixel_unshuffle(2) fwd (= shuffle bwd) {shape}", 2 * x.size,
           lambda: ops.pixel_unshuffle(x, 2), lambda: F.pixel_unshuffle(tx, 2))
    yield (f"channel_shuffle(2) fwd and bwd {shape}", 2 * x.size,
           lambda: ops.channel_shuffle(x, 2), lambda: F.channel_shuffle(tx, 2))

    shape = (batch, 256, 28, 28)
    x, g = arr(*shape), arr(*shape)
    s = rng.random((batch, 256, 1, 1)).astype(np.float32)
    tx, tg, ts = map(torch.from_numpy, (x, g, s))
    yield (f"channel_scale (SE) fwd {shape}", 2 * x.size, lambda: ops.channel_scale(x, s), lambda: tx * ts)
    yield (f"channel_scale (SE) bwd, both grads {shape}", 3 * x.size,
           lambda: ops.channel_scale_backward(g, x, s), lambda: (tg * ts, (tg * tx).sum((2, 3), keepdim=True)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=cnnnative.get_num_threads())
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    cnnnative.set_num_threads(args.threads)
    print(f"threads={args.threads} batch={args.batch} isa={cnnnative.get_isa()} torch={torch.__version__}; "
          f"interleaved, median of {args.repeat}")
    print(f"{'case':60s} {'cnnnative ms':>12s} {'torch ms':>9s} {'ratio':>6s} {'GB/s':>6s}")
    ratios = []
    with torch.no_grad():
        for name, floats_moved, ours, theirs in cases(args.batch, torch):
            t_ours, t_theirs = interleaved_medians(ours, theirs, args.repeat)
            ratios.append(t_theirs / t_ours)
            print(f"{name:60s} {t_ours:12.3f} {t_theirs:9.3f} {ratios[-1]:6.2f} "
                  f"{floats_moved * 4 / t_ours / 1e6:6.1f}")
    print(f"geometric mean ratio (torch / cnnnative): {float(np.exp(np.mean(np.log(ratios)))):.2f}")


if __name__ == "__main__":
    main()
