"""Side-by-side timing of the ops area (pooling, activations, softmax, cross-entropy, linear,
SGD step) against PyTorch CPU, in one process, same thread count.

    PYTHONPATH=python python benchmarks/bench_ops.py [--repeat 15] [--threads N]

Prints the median time of each op for both libraries and the ratio torch / cnnnative
(> 1 means cnnnative is faster). Shapes are real-network layer shapes at batch 32.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import cnnnative
from cnnnative import ops


def median_ms(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", type=int, default=cnnnative.get_num_threads())
    args = ap.parse_args()
    import torch
    import torch.nn.functional as F

    cnnnative.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)

    def arr(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    x_pool = arr(32, 64, 112, 112)        # ResNet-18 stem max-pool input
    x_avg = arr(32, 128, 28, 28)
    x_gap = arr(32, 512, 7, 7)            # ResNet-18 head
    x_act = arr(32, 64, 56, 56)
    logits = arr(256, 1000)
    target = rng.integers(0, 1000, 256)
    x_fc, w_fc, b_fc = arr(32, 4096), arr(1000, 4096), arr(1000)   # VGG/AlexNet classifier
    g_fc = arr(32, 1000)
    param, grad = arr(11_000_000), arr(11_000_000)                 # ResNet-18-sized parameter
    buf = np.zeros_like(param)

    t = {k: torch.from_numpy(v) for k, v in dict(x_pool=x_pool, x_avg=x_avg, x_gap=x_gap, x_act=x_act,
                                                  logits=logits, x_fc=x_fc, w_fc=w_fc, b_fc=b_fc,
                                                  g_fc=g_fc).items()}
    t_target = torch.from_numpy(target)
    t_param = torch.nn.Parameter(torch.from_numpy(param.copy()))
    t_param.grad = torch.from_numpy(grad)
    t_opt = torch.optim.SGD([t_param], lr=1e-3, momentum=0.9, weight_decay=1e-4)
    t_opt.step()
    ops.sgd_step(param, grad, buf, lr=1e-3, momentum=0.9, weight_decay=1e-4, first_step=True)
    out_pool, idx_pool = ops.max_pool2d(x_pool, 3, 2, 1, return_indices=True)
    t_out, t_idx = F.max_pool2d(t["x_pool"], 3, 2, 1, return_indices=True)
    g_pool = arr(*out_pool.shape)
    t_g_pool = torch.from_numpy(g_pool)

    cases = [
        ("max_pool2d 3x3/2 p1 (32,64,112,112)", lambda: ops.max_pool2d(x_pool, 3, 2, 1),
         lambda: F.max_pool2d(t["x_pool"], 3, 2, 1)),
        ("max_pool2d +indices", lambda: ops.max_pool2d(x_pool, 3, 2, 1, return_indices=True),
         lambda: F.max_pool2d(t["x_pool"], 3, 2, 1, return_indices=True)),
        ("max_pool2d_backward", lambda: ops.max_pool2d_backward(g_pool, idx_pool, x_pool.shape),
         lambda: torch.ops.aten.max_pool2d_with_indices_backward(t_g_pool, t["x_pool"], [3, 3], [2, 2],
                                                                  [1, 1], [1, 1], False, t_idx)),
        ("avg_pool2d 2x2/2 (32,128,28,28)", lambda: ops.avg_pool2d(x_avg, 2),
         lambda: F.avg_pool2d(t["x_avg"], 2)),
        ("global_avg_pool2d (32,512,7,7)", lambda: ops.global_avg_pool2d(x_gap),
         lambda: F.adaptive_avg_pool2d(t["x_gap"], 1)),
        ("relu (32,64,56,56)", lambda: ops.relu(x_act), lambda: F.relu(t["x_act"])),
        ("sigmoid (32,64,56,56)", lambda: ops.sigmoid(x_act), lambda: torch.sigmoid(t["x_act"])),
        ("add_relu (32,64,56,56)", lambda: ops.add_relu(x_act, x_act),
         lambda: F.relu(t["x_act"] + t["x_act"])),
        ("softmax (256,1000)", lambda: ops.softmax(logits), lambda: torch.softmax(t["logits"], -1)),
        ("log_softmax (256,1000)", lambda: ops.log_softmax(logits),
         lambda: torch.log_softmax(t["logits"], -1)),
        ("cross_entropy (256,1000)", lambda: ops.cross_entropy(logits, target),
         lambda: F.cross_entropy(t["logits"], t_target)),
        ("linear 32x4096 -> 1000", lambda: ops.linear(x_fc, w_fc, b_fc),
         lambda: F.linear(t["x_fc"], t["w_fc"], t["b_fc"])),
        ("sgd_step momentum+wd 11M", lambda: ops.sgd_step(param, grad, buf, lr=1e-3, momentum=0.9,
                                                          weight_decay=1e-4),
         lambda: t_opt.step()),
    ]
    print(f"cnnnative {cnnnative.__version__} isa={cnnnative.get_isa()} threads={args.threads}; "
          f"torch {torch.__version__}; median of {args.repeat}")
    print(f"{'op':40s} {'cnnnative ms':>12s} {'torch ms':>10s} {'torch/cn':>9s}")
    with torch.no_grad():
        for name, ours, theirs in cases:
            a = median_ms(ours, args.repeat)
            b = median_ms(theirs, args.repeat)
            print(f"{name:40s} {a:12.3f} {b:10.3f} {b / a:9.2f}")


if __name__ == "__main__":
    main()
