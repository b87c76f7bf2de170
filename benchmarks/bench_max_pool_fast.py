"""Inference max pooling (no indices) of the classic CNN shapes beside PyTorch CPU: the
ops.max_pool2d call and the compiled engine node (cnnnative.compile of a one-layer
model), one process, interleaved rounds, medians.

    python benchmarks/bench_max_pool_fast.py [--threads 2] [--repeat 30]

Reports median milliseconds and torch_time / our_time (> 1: cnnnative is faster).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import cnnnative as cn  # noqa: E402
from cnnnative import nn, ops  # noqa: E402

# name, input shape, kernel, stride, padding, ceil_mode
CASES = [
    ("SqueezeNet 3/2 ceil (1,64,111,111)", (1, 64, 111, 111), 3, 2, 0, True),
    ("ResNet stem 3/2 p1 (1,64,112,112)", (1, 64, 112, 112), 3, 2, 1, False),
    ("AlexNet 3/2 (1,64,55,55)", (1, 64, 55, 55), 3, 2, 0, False),
    ("VGG 2/2 (1,64,224,224)", (1, 64, 224, 224), 2, 2, 0, False),
    ("Inception 3/1 p1 (1,192,28,28)", (1, 192, 28, 28), 3, 1, 1, False),
    ("ResNet stem batch 8 (8,64,112,112)", (8, 64, 112, 112), 3, 2, 1, False),
]


def timed(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    cn.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    F = torch.nn.functional
    print(f"threads={args.threads} repeat={args.repeat} isa={cn._core.get_isa()} torch {torch.__version__}")
    print(f"{'case':38s} {'ops ms':>8s} {'node ms':>8s} {'torch ms':>9s} {'torch/node':>10s}")
    for name, shape, k, s, p, ceil in CASES:
        x = rng.standard_normal(shape).astype(np.float32)
        tx = torch.from_numpy(x)
        compiled = cn.compile(nn.MaxPool2d(k, s, p, ceil_mode=ceil), shape)
        runs = {
            "ops": lambda: ops.max_pool2d(x, k, s, p, ceil_mode=ceil),
            "node": lambda: compiled(x),
            "torch": lambda: F.max_pool2d(tx, k, s, p, ceil_mode=ceil),
        }
        times = {key: [] for key in runs}
        with torch.no_grad():
            for _ in range(3):  # interleaved rounds, so load changes hit all alike
                for key, fn in runs.items():
                    times[key] += timed(fn, max(1, args.repeat // 3))
        med = {key: statistics.median(v) * 1e3 for key, v in times.items()}
        print(f"{name:38s} {med['ops']:8.3f} {med['node']:8.3f} {med['torch']:9.3f} "
              f"{med['torch'] / med['node']:10.2f}")


if __name__ == "__main__":
    main()
