"""int8 depthwise convolution benchmark: cnnnative's exact u8 x s8 -> s32 depthwise kernel
vs its own fp32 depthwise convolution (conv2d, algo "auto"), on MobileNet-v2 / EfficientNet
depthwise layers at batch 1. Runs interleaved (int8, fp32, ...), median of --repeats after
--warmup; GOPS = 2 * outputs * R * S / time for both. Pass --threads to change the count.

    python benchmarks/bench_int8_depthwise.py --cpu-time    # 1 thread, thread CPU time
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from cnnnative import _core  # noqa: E402
from cnnnative.bench import time_interleaved  # noqa: E402

# (channels, input size, kernel, stride), padding kernel // 2.
LAYERS = [
    (32, 112, 3, 1), (96, 112, 3, 2), (144, 56, 3, 1), (144, 56, 3, 2), (192, 28, 3, 1),
    (576, 14, 3, 1), (960, 7, 3, 1), (240, 28, 5, 1), (672, 14, 5, 2),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cpu-time", action="store_true", help="time by thread CPU time (1 thread only)")
    args = parser.parse_args()
    _core.set_num_threads(args.threads)
    clock = time.thread_time if (args.cpu_time and args.threads == 1) else time.perf_counter
    print(f"isa={_core.get_isa()} int8 kernel={_core.int8_isa()} threads={args.threads}; median of {args.repeats}, "
          f"interleaved; {'thread CPU time' if clock is time.thread_time else 'wall clock'}")
    print(f"{'layer':24s} {'int8 GOPS':>10s} {'fp32 GFLOP/s':>13s} {'int8 / fp32 speed':>18s}")
    rng = np.random.default_rng(0)
    for C, H, R, st in LAYERS:
        p = R // 2
        x8 = rng.integers(0, 256, (1, C, H, H), dtype=np.uint8)
        w8 = rng.integers(-128, 128, (C, 1, R, R), dtype=np.int8)
        xf = rng.standard_normal((1, C, H, H)).astype(np.float32)
        wf = rng.standard_normal((C, 1, R, R)).astype(np.float32)
        fns = [lambda: _core.int8_depthwise(x8, w8, 3, [st], [p], [1]),
               lambda: _core.conv2d(xf, wf, None, [st, st], [p, p, p, p], [1, 1], C, "auto")]
        t8, t32 = time_interleaved(fns, repeats=args.repeats, warmup=args.warmup, clock=clock)
        oh = (H + 2 * p - R) // st + 1
        ops = 2.0 * C * oh * oh * R * R
        print(f"{f'{C}x{H}x{H} {R}x{R}/{st}':24s} {ops / t8 / 1e9:10.1f} {ops / t32 / 1e9:13.1f} {t32 / t8:18.2f}")


if __name__ == "__main__":
    main()
