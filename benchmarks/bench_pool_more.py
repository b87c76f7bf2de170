"""Pooling beyond 2-D (issue 13): MaxPool3d, AdaptiveAvgPool2d(7), Maxout beside PyTorch CPU,
one process, interleaved, medians, forward and forward + backward.

    python benchmarks/bench_pool_more.py [--threads 2] [--repeat 20]

Reports median milliseconds and torch_time / our_time (> 1: cnnnative is faster). Maxout in
torch is written the way its users write it: x.view(N, C // k, k, H, W).max(2).
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
from cnnnative import ops  # noqa: E402


def cases(torch):
    F = torch.nn.functional

    def maxout_torch(x):
        n, c, h, w = x.shape
        return x.view(n, c // 4, 4, h, w).max(2).values

    return [
        ("MaxPool3d 2x2x2 (1,64,16,56,56)", (1, 64, 16, 56, 56),
         lambda x: ops.max_pool3d(x, 2), lambda x: F.max_pool3d(x, 2)),
        ("AdaptiveAvgPool2d(7) (8,512,14,14)", (8, 512, 14, 14),
         lambda x: ops.adaptive_avg_pool2d(x, 7), lambda x: F.adaptive_avg_pool2d(x, 7)),
        ("Maxout 4 pieces (16,256,28,28)", (16, 256, 28, 28),
         lambda x: ops.max_pool_channels(x, 4), maxout_torch),
        # Overlapping 2-D max pools of classic CNNs (the forward pass without indices runs
        # the separable kernel, pool/max_pool_separable_body.inl; see bench_max_pool_fast.py).
        ("MaxPool2d 3/2 ceil (1,64,111,111)", (1, 64, 111, 111),
         lambda x: ops.max_pool2d(x, 3, 2, ceil_mode=True), lambda x: F.max_pool2d(x, 3, 2, ceil_mode=True)),
        ("MaxPool2d 3/2 p1 (1,64,112,112)", (1, 64, 112, 112),
         lambda x: ops.max_pool2d(x, 3, 2, 1), lambda x: F.max_pool2d(x, 3, 2, 1)),
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
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    cn.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"threads={args.threads} repeat={args.repeat} isa={cn._core.get_isa()} torch {torch.__version__}")
    print(f"{'case':38s} {'pass':8s} {'ours ms':>9s} {'torch ms':>9s} {'ratio':>6s}")
    for name, shape, mine, theirs in cases(torch):
        x = rng.standard_normal(shape).astype(np.float32)
        tx = torch.from_numpy(x)
        g = np.ones(mine(x).shape, np.float32)
        tg = torch.from_numpy(g)

        def ours_fb():
            xt = cn.Tensor(x, requires_grad=True)
            mine(xt).backward(g)

        def torch_fb():
            t = tx.detach().requires_grad_(True)
            theirs(t).backward(tg)

        for label, a, b in (("fwd", lambda: mine(x), lambda: theirs(tx)), ("fwd+bwd", ours_fb, torch_fb)):
            ta, tb = [], []
            for _ in range(3):  # interleaved rounds, so load changes hit both alike
                ta += timed(a, max(1, args.repeat // 3))
                with torch.no_grad() if label == "fwd" else _null():
                    tb += timed(b, max(1, args.repeat // 3))
            ma, mb = statistics.median(ta) * 1e3, statistics.median(tb) * 1e3
            print(f"{name:38s} {label:8s} {ma:9.3f} {mb:9.3f} {mb / ma:6.2f}")


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


if __name__ == "__main__":
    main()
