"""int8 GEMM benchmark: cnnnative's exact u8 x s8 -> s32 GEMM vs its own fp32 SGEMM.

Shapes are the convolutions of ResNet-50 at batch 1 as GEMMs (M = output channels,
N = output pixels, K = C*R*S: the im2col shapes of the 3x3 and 7x7 layers and the 1x1
layers as they are), plus the fc layer. Measures the int8 peak (a register-only vpdpbusd
loop, or the AVX2 kernel's vpmaddwd loop) and the fp32 FMA peak on each thread count,
then times both GEMMs on the same shapes, runs interleaved (int8, fp32, int8, ...),
median of --repeats after --warmup. Weights are packed once, for the N they are used
with (as the engine does: small N selects the VNNI kernel with lanes along M);
activations are packed inside every int8 call (counted). GOPS = 2*M*N*K / time for both.

    python benchmarks/bench_int8_gemm.py              # 1 and 2 threads
    python benchmarks/bench_int8_gemm.py --cpu-time   # 1-thread rows by thread CPU time
    python benchmarks/bench_int8_gemm.py --markdown   # table for benchmarks/RESULTS.md
    CNNNATIVE_ISA=avx2 python benchmarks/bench_int8_gemm.py   # the AVX2 (no VNNI) kernel
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from cnnnative import _core  # noqa: E402
from cnnnative.bench import time_interleaved  # noqa: E402

# (label, M, N, K): ResNet-50, batch 1, 224 x 224.
SHAPES = [
    ("conv1 7x7/2 (64x12544x147)", 64, 12544, 147),
    ("res2 1x1 64->64 (64x3136x64)", 64, 3136, 64),
    ("res2 3x3 (64x3136x576)", 64, 3136, 576),
    ("res2 1x1 64->256 (256x3136x64)", 256, 3136, 64),
    ("res2 1x1 256->64 (64x3136x256)", 64, 3136, 256),
    ("res3 3x3 (128x784x1152)", 128, 784, 1152),
    ("res3 1x1 128->512 (512x784x128)", 512, 784, 128),
    ("res3 1x1 512->128 (128x784x512)", 128, 784, 512),
    ("res4 3x3 (256x196x2304)", 256, 196, 2304),
    ("res4 1x1 256->1024 (1024x196x256)", 1024, 196, 256),
    ("res4 1x1 1024->256 (256x196x1024)", 256, 196, 1024),
    ("res5 3x3 (512x49x4608)", 512, 49, 4608),
    ("res5 1x1 512->2048 (2048x49x512)", 2048, 49, 512),
    ("res5 1x1 2048->512 (512x49x2048)", 512, 49, 2048),
    ("fc (1000x1x2048)", 1000, 1, 2048),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time 1-thread rows by the calling thread's CPU time (robust to a busy machine)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()
    thread_counts = [int(t) for t in args.threads.split(",")]

    def clock_for(t):
        return time.thread_time if (args.cpu_time and t == 1) else time.perf_counter

    int8_peak = {t: _core.measure_int8_peak(0.3, t, thread_cpu_time=(args.cpu_time and t == 1)) for t in thread_counts}
    fma_peak = {t: _core.measure_fma_peak(0.3, t, thread_cpu_time=(args.cpu_time and t == 1)) for t in thread_counts}
    header = (f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; isa={_core.get_isa()}, "
              f"int8 kernel={_core.int8_isa()}; median of {args.repeats} after {args.warmup} warm-up, int8 and fp32 "
              f"interleaved; {'1-thread rows by thread CPU time, others wall clock' if args.cpu_time else 'wall clock'}")
    peak_line = "; ".join(f"{t} thread{'s' if t > 1 else ''}: int8 peak {int8_peak[t]:.0f} GOPS, "
                          f"fp32 FMA peak {fma_peak[t]:.0f} GFLOP/s" for t in thread_counts)

    rng = np.random.default_rng(0)
    rows = []
    for label, M, N, K in SHAPES:
        w8 = rng.integers(-128, 128, (M, K), dtype=np.int8)
        x8 = rng.integers(0, 256, (K, N), dtype=np.uint8)
        pw = _core.Int8PackedWeights(w8, n_hint=N)  # as the engine packs, knowing N
        c8 = np.empty((M, N), np.int32)
        a = rng.standard_normal((M, K)).astype(np.float32)
        b = rng.standard_normal((K, N)).astype(np.float32)
        c = np.empty((M, N), np.float32)
        ops = 2.0 * M * N * K
        for t in thread_counts:
            _core.set_num_threads(t)
            fns = [lambda: _core.int8_gemm_packed(pw, x8, out=c8), lambda: _core.gemm(a, b, out=c)]
            t8, t32 = time_interleaved(fns, repeats=args.repeats, warmup=args.warmup, clock=clock_for(t))
            rows.append((label, t, ops / t8 / 1e9, ops / t32 / 1e9))

    def gmean(v):
        return math.exp(sum(math.log(x) for x in v) / len(v))

    summary = {t: gmean([r[2] / r[3] for r in rows if r[1] == t]) for t in thread_counts}
    if args.markdown:
        print(f"Command: `python benchmarks/bench_int8_gemm.py {' '.join(sys.argv[1:])}`\n\n{header}\n\n{peak_line}\n")
        print("| shape (M x N x K) | threads | int8 GOPS | % of int8 peak | fp32 GFLOP/s | % of FMA peak | int8 / fp32 speed |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label, t, g8, g32 in rows:
            print(f"| {label} | {t} | {g8:.1f} | {100 * g8 / int8_peak[t]:.0f}% | {g32:.1f} | "
                  f"{100 * g32 / fma_peak[t]:.0f}% | {g8 / g32:.2f} |")
        print("\nGeometric mean int8 / fp32 speed: " + ", ".join(f"{t} thread(s) {summary[t]:.2f}" for t in thread_counts))
    else:
        print(header)
        print(peak_line)
        print(f"{'shape':36s} {'thr':>3s} {'int8 GOPS':>10s} {'%peak':>6s} {'fp32 GF/s':>10s} {'%peak':>6s} {'x fp32':>7s}")
        for label, t, g8, g32 in rows:
            print(f"{label:36s} {t:3d} {g8:10.1f} {100 * g8 / int8_peak[t]:5.0f}% {g32:10.1f} "
                  f"{100 * g32 / fma_peak[t]:5.0f}% {g8 / g32:7.2f}")
        print("geometric mean int8 / fp32 speed: " + ", ".join(f"{t} thread(s) {summary[t]:.2f}" for t in thread_counts))


if __name__ == "__main__":
    main()
