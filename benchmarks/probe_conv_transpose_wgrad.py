"""Weight gradient of the DCGAN ConvTranspose2d layers alone: the stacked Winograd path
(conv_transpose_subpixel_weight_grad), the GEMM path (conv2d_weight) and torch's
(aten.convolution_backward, transposed, weight only), interleaved, medians in ms.

    python benchmarks/probe_conv_transpose_wgrad.py --threads 1 --clock thread
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import cnnnative as cn  # noqa: E402
from cnnnative import _core  # noqa: E402
from cnnnative.ops import conv as _conv  # noqa: E402
from cnnnative.ops import conv_transpose as ct  # noqa: E402

LAYERS = [(16, 512, 256, 4), (16, 256, 128, 8), (16, 128, 64, 16)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--clock", choices=("wall", "thread"), default="wall")
    args = ap.parse_args()
    clock = time.thread_time if args.clock == "thread" else time.perf_counter
    import torch
    torch.set_num_threads(args.threads)
    cn.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"threads={args.threads} clock={args.clock} isa={cn.info()['isa']}")
    for n, ci, co, h in LAYERS:
        x = rng.standard_normal((n, ci, h, h)).astype(np.float32)
        w = (rng.standard_normal((ci, co, 4, 4)) * 0.05).astype(np.float32)
        g = rng.standard_normal((n, co, 2 * h, 2 * h)).astype(np.float32)
        _, w4, _, p = ct._checked_2d(x, w, None, 2, 1, 0, 1, 1)
        xt, wt, gt = (torch.from_numpy(a) for a in (x, w, g))
        fns = {
            "winograd": lambda: _core.conv_transpose_subpixel_weight_grad(g, x, w.shape, *p.geometry),
            "gemm": lambda: _conv.conv2d_weight(g, w.shape, x, *p.geometry),
            "torch": lambda: torch.ops.aten.convolution_backward(gt, xt, wt, None, [2, 2], [1, 1], [1, 1], True,
                                                                 [0, 0], 1, [False, True, False]),
        }
        a = fns["winograd"]()
        if a is not None:
            err = np.abs(a - fns["gemm"]()).max() / np.abs(a).max()
        else:
            err = float("nan")
        times = {k: [] for k in fns}
        for f in fns.values():
            f()
        for _ in range(args.repeat):
            for k, f in fns.items():
                t0 = clock()
                f()
                times[k].append(clock() - t0)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        print(f"{ci}->{co} {h}->{2*h}: " + "  ".join(f"{k} {v:7.2f}" for k, v in med.items())
              + f"  rel diff {err:.1e}" + ("" if a is not None else " (winograd declined)"))


if __name__ == "__main__":
    main()
