"""SGEMM benchmark: cnnnative vs torch.matmul (MKL/oneDNN) in the same process.

First measures the FP32 FMA peak on 1 and 2 threads (cnnnative's register-only probe),
then times each shape on 1 and 2 threads with both libraries: median of --repeats runs
after --warmup runs, reported as GFLOP/s (2*M*N*K / time), % of the measured peak for
that thread count, and the ratio cnnnative / torch (> 1: cnnnative faster).

    python benchmarks/bench_gemm.py                 # human-readable
    python benchmarks/bench_gemm.py --markdown      # table for benchmarks/RESULTS.md
    python benchmarks/bench_gemm.py --quick         # fewer shapes, for a smoke run
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from contextlib import nullcontext as _nullcontext

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from cnnnative import _core  # noqa: E402

# (label, M, N, K, trans_a, trans_b)
SHAPES = [
    ("square 256", 256, 256, 256, False, False),
    ("square 512", 512, 512, 512, False, False),
    ("square 1024", 1024, 1024, 1024, False, False),
    ("square 2048", 2048, 2048, 2048, False, False),
    ("conv res2 3x3 (64x3136x576)", 64, 3136, 576, False, False),
    ("conv res3 3x3 (128x784x1152)", 128, 784, 1152, False, False),
    ("conv res4 3x3 (256x196x2304)", 256, 196, 2304, False, False),
    ("conv res5 3x3 (512x49x4608)", 512, 49, 4608, False, False),
    ("linear 64x1000x512 (b^T)", 64, 1000, 512, False, True),
    ("conv dW 64x576x3136 (b^T)", 64, 576, 3136, False, True),
]
QUICK = {"square 256", "square 1024", "conv res2 3x3 (64x3136x576)", "conv res5 3x3 (512x49x4608)"}


def median_seconds(fns, warmup: int, repeats: int) -> list:
    """Median time of each function. Runs are interleaved (a, b, a, b, ...) so that both
    libraries see the same background load on a shared machine."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--quick", action="store_true", help="only a few shapes")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()
    thread_counts = [int(t) for t in args.threads.split(",")]

    try:
        import torch
    except ImportError:
        torch = None

    peaks = {t: _core.measure_fma_peak(0.3, t) for t in thread_counts}
    blk = _core.sgemm_blocking()
    header = (f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
              f"cnnnative isa={_core.get_isa()} kernel={blk['kernel']} "
              f"(mc={blk['mc']} kc={blk['kc']} nc={blk['nc']}); "
              f"torch {torch.__version__ if torch else 'not installed'}; "
              f"median of {args.repeats} after {args.warmup} warm-up")
    peak_line = "FMA peak (GFLOP/s): " + ", ".join(f"{t} thread{'s' if t > 1 else ''} {peaks[t]:.1f}"
                                                    for t in thread_counts)

    rng = np.random.default_rng(0)
    rows = []
    for label, M, N, K, ta, tb in SHAPES:
        if args.quick and label not in QUICK:
            continue
        a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
        b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
        c = np.empty((M, N), np.float32)
        flops = 2.0 * M * N * K
        for t in thread_counts:
            _core.set_num_threads(t)
            fns = [lambda: _core.gemm(a, b, ta, tb, 1.0, 0.0, c)]
            if torch is not None:
                torch.set_num_threads(t)
                a_t = torch.from_numpy(a).T if ta else torch.from_numpy(a)
                b_t = torch.from_numpy(b).T if tb else torch.from_numpy(b)
                c_t = torch.from_numpy(np.empty_like(c))
                fns.append(lambda: torch.matmul(a_t, b_t, out=c_t))
            with torch.inference_mode() if torch is not None else _nullcontext():
                medians = median_seconds(fns, args.warmup, args.repeats)
            ours, theirs = medians[0], (medians[1] if len(medians) > 1 else None)
            rows.append((label, t, flops / ours / 1e9, flops / theirs / 1e9 if theirs else None, peaks[t],
                         theirs / ours if theirs else None))

    if args.markdown:
        print(f"<!-- python benchmarks/bench_gemm.py --markdown -->\n\n{header}\n\n{peak_line}\n")
        print("| shape (M x N x K) | threads | cnnnative GFLOP/s | % of peak | torch GFLOP/s | % of peak | ratio (torch time / ours) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label, t, ours, theirs, peak, ratio in rows:
            tt = f"{theirs:.1f} | {100 * theirs / peak:.0f}%" if theirs else "- | -"
            print(f"| {label} | {t} | {ours:.1f} | {100 * ours / peak:.0f}% | {tt} | "
                  f"{ratio:.2f} |" if ratio else f"| {label} | {t} | {ours:.1f} | {100 * ours / peak:.0f}% | {tt} | - |")
    else:
        print(header)
        print(peak_line)
        print(f"{'shape':34s} {'thr':>3s} {'ours GF/s':>10s} {'%peak':>6s} {'torch GF/s':>10s} {'%peak':>6s} {'ratio':>6s}")
        for label, t, ours, theirs, peak, ratio in rows:
            ts = f"{theirs:10.1f} {100 * theirs / peak:5.0f}%" if theirs else f"{'-':>10s} {'-':>6s}"
            rs = f"{ratio:6.2f}" if ratio else "     -"
            print(f"{label:34s} {t:3d} {ours:10.1f} {100 * ours / peak:5.0f}% {ts} {rs}")


if __name__ == "__main__":
    main()
