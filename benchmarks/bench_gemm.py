"""SGEMM benchmark: cnnnative vs torch.matmul (MKL/oneDNN) in the same process.

First measures the FP32 FMA peak on 1 and 2 threads (cnnnative's register-only probe),
then times each shape on 1 and 2 threads with both libraries: median of --repeats runs
after --warmup runs, reported as GFLOP/s (2*M*N*K / time), % of the measured peak for
that thread count, and the ratio cnnnative / torch (> 1: cnnnative faster).

    python benchmarks/bench_gemm.py                 # human-readable
    python benchmarks/bench_gemm.py --markdown      # table for benchmarks/RESULTS.md
    python benchmarks/bench_gemm.py --quick         # fewer shapes, for a smoke run
    python benchmarks/bench_gemm.py --variants      # every AVX-512 tile on every shape,
                                                    # 1 thread: how the tiles were chosen
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from contextlib import nullcontext as _nullcontext

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from cnnnative import _core  # noqa: E402
from cnnnative.bench import time_interleaved  # noqa: E402

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


def median_seconds(fns, warmup: int, repeats: int, clock=time.perf_counter) -> list:
    """Median time of each function, runs interleaved (cnnnative.bench.time_interleaved)."""
    return time_interleaved(fns, repeats=repeats, warmup=warmup, clock=clock)


def compare_variants(args) -> None:
    """Single-thread GFLOP/s of every tile/blocking compiled for the active ISA, runs
    interleaved; the automatic choice for each shape is marked with *. Timed by the
    calling thread's CPU time (it does all the work on one thread), so time the OS gives
    to other processes on a shared machine is not counted. A forced tile always computes
    C directly; where the automatic choice computes C^T instead, that is noted."""
    _core.set_num_threads(1)
    isa = _core.get_isa()
    names = [n for n in _core._sgemm_variants() if n.split("/")[0].endswith("__" + isa)]
    rng = np.random.default_rng(0)
    print(f"isa={isa}, 1 thread, median of {args.repeats} (thread CPU time), GFLOP/s "
          f"(* = chosen automatically); 1-thread FMA peak "
          f"{_core.measure_fma_peak(0.3, 1, thread_cpu_time=True):.1f} (thread CPU time)")
    print(f"{'shape':34s} " + " ".join(f"{n.replace('__' + isa, ''):>11s}" for n in names))
    for label, M, N, K, ta, tb in SHAPES:
        if args.quick and label not in QUICK:
            continue
        a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
        b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
        c = np.empty((M, N), np.float32)
        plan = _core.sgemm_blocking(M, N, K, tb)
        chosen = "" if plan["transposed"] else plan["kernel"]

        def forced(name):
            def fn():
                _core._force_sgemm_kernel(name)
                _core.gemm(a, b, ta, tb, 1.0, 0.0, c)
            return fn

        try:
            medians = median_seconds([forced(n) for n in names], args.warmup, args.repeats,
                                     clock=time.thread_time)
        finally:
            _core._force_sgemm_kernel("")
        cells = [f"{2.0 * M * N * K / t / 1e9:10.1f}{'*' if n == chosen else ' '}" for n, t in zip(names, medians)]
        note = f"  (automatic: C^T with {plan['kernel']})" if plan["transposed"] else ""
        print(f"{label:34s} " + " ".join(cells) + note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--quick", action="store_true", help="only a few shapes")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time 1-thread runs by the calling thread's CPU time (both libraries "
                             "run them on the calling thread), robust to a busy machine")
    parser.add_argument("--variants", action="store_true",
                        help="compare every compiled tile/blocking on one thread instead")
    args = parser.parse_args()
    if args.variants:
        compare_variants(args)
        return
    thread_counts = [int(t) for t in args.threads.split(",")]

    try:
        import torch
    except ImportError:
        torch = None

    # The peak each row is compared with is timed by the same clock as the row.
    peaks = {t: _core.measure_fma_peak(0.3, t, thread_cpu_time=(args.cpu_time and t == 1))
             for t in thread_counts}
    header = (f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
              f"cnnnative isa={_core.get_isa()} tiles={'/'.join(_core.sgemm_kernels())} (chosen per shape); "
              f"torch {torch.__version__ if torch else 'not installed'}; "
              f"median of {args.repeats} after {args.warmup} warm-up, runs interleaved; "
              f"{'1-thread rows timed by thread CPU time, others by wall clock' if args.cpu_time else 'wall clock'}")
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
            clock = time.thread_time if (args.cpu_time and t == 1) else time.perf_counter
            with torch.inference_mode() if torch is not None else _nullcontext():
                medians = median_seconds(fns, args.warmup, args.repeats, clock=clock)
            ours, theirs = medians[0], (medians[1] if len(medians) > 1 else None)
            rows.append((label, t, flops / ours / 1e9, flops / theirs / 1e9 if theirs else None, peaks[t],
                         theirs / ours if theirs else None))

    if args.markdown:
        command = "python benchmarks/bench_gemm.py " + " ".join(sys.argv[1:])
        print(f"Command: `{command}`\n\n{header}\n\n{peak_line}\n")
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
