"""conv_transpose2d side by side with PyTorch CPU, same process, same threads, interleaved.

Layers: the DCGAN generator's 4x4 stride-2 padding-1 layers (512->256->128->64 channels,
4->8->16->32, batch 16) and a U-Net decoder step (2x2 stride 2, 128->64 at 64x64, batch 4).
For each: forward alone, forward + both gradients (input and weight, bias too), and the
forward of the layer compiled for inference (cn.compile: weights re-laid out and
transformed once, at compile time) against torch's no-grad forward. The
two libraries alternate call by call, so a busy machine slows both alike; medians, and
the ratio torch_time / our_time (> 1: cnnnative is faster).

    python benchmarks/bench_conv_transpose.py                 # 2 threads, 30 repeats
    python benchmarks/bench_conv_transpose.py --threads 1 --clock thread   # on a busy machine

With more than one thread torch's OpenMP workers wait passively (benchmarks/torch_waits.py).
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

import torch_waits  # noqa: E402

# (name, N, C_in, C_out, H, W, kernel, stride, padding)
LAYERS = [
    ("dcgan 512->256 4x4/2 4->8", 16, 512, 256, 4, 4, 4, 2, 1),
    ("dcgan 256->128 4x4/2 8->16", 16, 256, 128, 8, 8, 4, 2, 1),
    ("dcgan 128->64 4x4/2 16->32", 16, 128, 64, 16, 16, 4, 2, 1),
    ("unet 128->64 2x2/2 64->128", 4, 128, 64, 64, 64, 2, 2, 0),
]


CLOCK = time.perf_counter


def interleaved_medians(fns, repeat):
    """Median seconds of each function, calls alternating (after one warm-up each)."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = CLOCK()
            fn()
            times[i].append(CLOCK() - t0)
    return [statistics.median(t) for t in times]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--clock", choices=("wall", "thread"), default="wall",
                    help="thread: CPU time of the calling thread (only meaningful with --threads 1)")
    ap.add_argument("--filter", default="", help="only the layers whose name contains this (e.g. dcgan)")
    ap.add_argument("--wait-policy", choices=torch_waits.CHOICES, default="passive", help=torch_waits.HELP)
    args = ap.parse_args()
    wait_policy = torch_waits.apply(args.threads, args.wait_policy)  # before torch loads its OpenMP
    global CLOCK
    CLOCK = time.thread_time if args.clock == "thread" else time.perf_counter
    import torch
    torch.set_num_threads(args.threads)
    cn.set_num_threads(args.threads)
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    print(f"threads={args.threads} clock={args.clock} repeat={args.repeat} isa={cn.info()['isa']} torch={torch.__version__} "
          f"OMP_WAIT_POLICY={wait_policy}")
    print(f"{'layer':30s} {'pass':8s} {'ours ms':>9s} {'torch ms':>9s} {'torch/ours':>10s}")
    for name, n, c_in, c_out, h, w, k, s, p in LAYERS:
        if args.filter not in name:
            continue
        x = rng.standard_normal((n, c_in, h, w)).astype(np.float32)
        weight = (rng.standard_normal((c_in, c_out, k, k)) * 0.05).astype(np.float32)
        bias = rng.standard_normal(c_out).astype(np.float32)
        y = ops.conv_transpose2d(x, weight, bias, s, p)
        g = rng.standard_normal(y.shape).astype(np.float32)
        xt, wt, bt, gt = (torch.from_numpy(a) for a in (x, weight, bias, g))

        def ours_fwd():
            ops.conv_transpose2d(x, weight, bias, s, p)

        def torch_fwd():
            with torch.no_grad():
                F.conv_transpose2d(xt, wt, bt, s, p)

        X, W, B = (cn.Tensor(a, requires_grad=True) for a in (x, weight, bias))
        XT, WT, BT = (a.clone().requires_grad_(True) for a in (xt, wt, bt))

        def ours_train():
            X.grad = W.grad = B.grad = None
            ops.conv_transpose2d(X, W, B, s, p).backward(g)

        def torch_train():
            XT.grad = WT.grad = BT.grad = None
            F.conv_transpose2d(XT, WT, BT, s, p).backward(gt)

        layer = cn.nn.ConvTranspose2d(c_in, c_out, k, s, p).eval()
        layer.load_state_dict({"weight": weight, "bias": bias})
        compiled = cn.compile(layer, x.shape)

        def ours_compiled():
            compiled(x)

        for label, fns in (("fwd", (ours_fwd, torch_fwd)), ("fwd+bwd", (ours_train, torch_train)),
                           ("compiled", (ours_compiled, torch_fwd))):
            ours_s, torch_s = interleaved_medians(fns, args.repeat)
            print(f"{name:30s} {label:8s} {ours_s * 1e3:9.3f} {torch_s * 1e3:9.3f} {torch_s / ours_s:10.2f}")


if __name__ == "__main__":
    main()
