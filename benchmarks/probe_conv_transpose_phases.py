"""Probe: would a sub-pixel (phase) split speed up the DCGAN transposed convolutions?

A transposed convolution with stride s and kernel k, k % s == 0 (dilation 1, groups 1),
splits into s*s output phases. Output row o = s*q + a receives input row i through
kernel tap kk when o + padding = s*i + kk, so kk = r + s*t with r = (a + padding) % s,
and i = q + c - t with c = (a + padding) // s, t in [0, T), T = k // s. Phase a is
therefore a plain stride-1 correlation of the input with the T-tap sub-kernel
w[r + s*(T-1-u)] (u = 0..T-1), padded T-1-c rows before and enough after to give the
phase's ceil((OH - a) / s) rows; the same holds for columns. No overlap-add, no col2im.

This script composes that split from the existing fast ops (conv2d per phase, written
into the interleaved output), checks it against ops.conv_transpose2d, and times it
beside the current path (GEMM + col2im) and torch, interleaved, medians. It is a probe,
not a library path: on AVX2 it measured slower than the current path for every DCGAN
layer (see RESULTS.md, "Transposed convolution"), so conv_transpose2d does not use it.

    python benchmarks/probe_conv_transpose_phases.py --threads 1 --clock thread
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_conv_transpose as bench  # noqa: E402
import cnnnative as cn  # noqa: E402
from cnnnative import ops  # noqa: E402

# (name, N, C_in, C_out, H, W, kernel, stride, padding, output_padding)
LAYERS = [
    ("dcgan 512->256 4x4/2 4->8", 16, 512, 256, 4, 4, 4, 2, 1, 0),
    ("dcgan 256->128 4x4/2 8->16", 16, 256, 128, 8, 8, 4, 2, 1, 0),
    ("dcgan 128->64 4x4/2 16->32", 16, 128, 64, 16, 16, 4, 2, 1, 0),
    ("dcgan 64->3 4x4/2 32->64", 16, 64, 3, 32, 32, 4, 2, 1, 0),
]
# Geometries only checked (odd sizes, output_padding, batch 1, stride 3, unequal padding).
CHECKED = [
    (1, 5, 7, 3, 5, 4, 2, 1, 1), (2, 6, 4, 5, 3, 6, 3, 2, 2), (3, 4, 3, 4, 4, 2, 2, 0, 1),
    (2, 3, 5, 7, 2, 6, 2, 3, 0), (1, 8, 8, 1, 1, 4, 1, 0, 0),
]


def phase_sub_kernels(w, s, p):
    """{(a, b): conv2d weight (C_out, C_in, T, T)} for each output phase (a, b)."""
    T = w.shape[2] // s
    taps = {a: [(a + p) % s + s * (T - 1 - u) for u in range(T)] for a in range(s)}
    return {(a, b): np.ascontiguousarray(w[:, :, taps[a]][:, :, :, taps[b]].transpose(1, 0, 2, 3))
            for a in range(s) for b in range(s)}


def phase_pads(in_size, out_size, a, s, p, T):
    """(before, after) padding of the phase-a correlation: T-1-c before, the rest after."""
    rows = -(-(out_size - a) // s)  # ceil((out - a) / s)
    before = T - 1 - (a + p) // s
    return before, rows + T - 1 - in_size - before


def conv_transpose2d_phases(x, w, s, p, op=0, subs=None):
    n, _, h, wd = x.shape
    k, T = w.shape[2], w.shape[2] // s
    oh, ow = (h - 1) * s - 2 * p + k + op, (wd - 1) * s - 2 * p + k + op
    subs = phase_sub_kernels(w, s, p) if subs is None else subs
    out = np.empty((n, w.shape[1], oh, ow), np.float32)
    for a in range(min(s, oh)):
        top, bottom = phase_pads(h, oh, a, s, p, T)
        for b in range(min(s, ow)):
            left, right = phase_pads(wd, ow, b, s, p, T)
            # conv2d takes only non-negative padding: crop the input where it is negative
            xs = x[:, :, max(0, -top):h - max(0, -bottom), max(0, -left):wd - max(0, -right)]
            out[:, :, a::s, b::s] = ops.conv2d(np.ascontiguousarray(xs), subs[a, b], None, 1,
                                               (max(top, 0), max(bottom, 0), max(left, 0), max(right, 0)))
    return out


def check(rng):
    for n, c_in, c_out, h, w, k, s, p, op in CHECKED + [g[1:] for g in LAYERS]:
        x = rng.standard_normal((n, c_in, h, w)).astype(np.float32)
        weight = rng.standard_normal((c_in, c_out, k, k)).astype(np.float32)
        want = ops.conv_transpose2d(x, weight, None, s, p, op)
        got = conv_transpose2d_phases(x, weight, s, p, op)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4 * np.abs(want).max())
    print(f"phase split == ops.conv_transpose2d on {len(CHECKED) + len(LAYERS)} geometries")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--clock", choices=("wall", "thread"), default="wall")
    args = ap.parse_args()
    import time

    import torch
    bench.CLOCK = time.thread_time if args.clock == "thread" else time.perf_counter
    torch.set_num_threads(args.threads)
    cn.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    check(rng)
    print(f"threads={args.threads} clock={args.clock} repeat={args.repeat} isa={cn.info()['isa']}")
    print(f"{'layer':30s} {'current ms':>10s} {'phases ms':>10s} {'+weights ms':>11s} {'torch ms':>9s}")
    for name, n, c_in, c_out, h, w, k, s, p, op in LAYERS:
        x = rng.standard_normal((n, c_in, h, w)).astype(np.float32)
        weight = (rng.standard_normal((c_in, c_out, k, k)) * 0.05).astype(np.float32)
        subs = phase_sub_kernels(weight, s, p)
        xt, wt = torch.from_numpy(x), torch.from_numpy(weight)

        def torch_fwd():
            with torch.no_grad():
                torch.nn.functional.conv_transpose2d(xt, wt, None, s, p, op)

        times = bench.interleaved_medians([
            lambda: ops.conv_transpose2d(x, weight, None, s, p, op),
            lambda: conv_transpose2d_phases(x, weight, s, p, op, subs),  # sub-kernels cached
            lambda: conv_transpose2d_phases(x, weight, s, p, op),        # re-laid out per call
            torch_fwd], args.repeat)
        print(f"{name:30s} " + " ".join(f"{t * 1e3:10.2f}" for t in times))


if __name__ == "__main__":
    main()
