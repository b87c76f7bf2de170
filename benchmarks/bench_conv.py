"""conv2d side by side with PyTorch CPU (oneDNN), same process, same threads.

Layers from real networks (ResNet-18, LeNet, VGG, AlexNet, MobileNet). For each: median
time of cnnnative and of torch, effective GFLOP/s (direct-convolution FLOPs / time:
2*N*K*(C/groups)*R*S*OH*OW per forward; a forward + both backward passes count 3x), and
the ratio torch_time / our_time (> 1: we are faster).

    python benchmarks/bench_conv.py                  # all layers, forward; LeNet fwd+bwd too
    python benchmarks/bench_conv.py --quick          # fewer repeats, batch-32 ResNet skipped
    python benchmarks/bench_conv.py --algo im2col --threads 2 --repeat 20 --markdown
    python benchmarks/bench_conv.py --threads 1 --clock thread   # on a busy machine
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import cnnnative  # noqa: E402
from cnnnative import ops  # noqa: E402
import torch_waits  # noqa: E402


class Layer:
    def __init__(self, name, N, C, H, W, K, R, S, stride=1, pad=0, groups=1, backward=False):
        self.name, self.N, self.C, self.H, self.W, self.K, self.R, self.S = name, N, C, H, W, K, R, S
        self.stride, self.pad, self.groups, self.backward = stride, pad, groups, backward
        self.OH = (H + 2 * pad - R) // stride + 1
        self.OW = (W + 2 * pad - S) // stride + 1

    def flops(self):
        f = 2 * self.N * self.K * (self.C // self.groups) * self.R * self.S * self.OH * self.OW
        return 3 * f if self.backward else f


def layers(quick):
    out = []
    for batch in ([1] if quick else [1, 32]):
        for hw, c in [(56, 64), (28, 128), (14, 256), (7, 512)]:
            out.append(Layer(f"resnet18 3x3 {hw}x{hw}x{c}", batch, c, hw, hw, c, 3, 3, 1, 1))
    for backward in (False, True):
        tag = " fwd+bwd" if backward else ""
        out.append(Layer("lenet conv1 1->6 5x5" + tag, 64, 1, 28, 28, 6, 5, 5, 1, 2, backward=backward))
        out.append(Layer("lenet conv2 6->16 5x5" + tag, 64, 6, 14, 14, 16, 5, 5, 1, 0, backward=backward))
    out += [
        Layer("vgg 3x3 224x224 64->64", 1, 64, 224, 224, 64, 3, 3, 1, 1),
        Layer("resnet stem 7x7/2 224 3->64", 1, 3, 224, 224, 64, 7, 7, 2, 3),
        Layer("alexnet 11x11/4 227 3->96", 1, 3, 227, 227, 96, 11, 11, 4, 0),
        Layer("1x1 56x56 64->256", 1, 64, 56, 56, 256, 1, 1),
        Layer("depthwise 3x3 112x112x32", 1, 32, 112, 112, 32, 3, 3, 1, 1, groups=32),
        # the rest of MobileNet's depthwise shapes: stride 2, and narrow planes
        Layer("depthwise 3x3/2 112x112x64", 1, 64, 112, 112, 64, 3, 3, 2, 1, groups=64),
        Layer("depthwise 3x3 28x28x256", 1, 256, 28, 28, 256, 3, 3, 1, 1, groups=256),
        Layer("depthwise 3x3/2 28x28x256", 1, 256, 28, 28, 256, 3, 3, 2, 1, groups=256),
        Layer("depthwise 3x3 14x14x512", 1, 512, 14, 14, 512, 3, 3, 1, 1, groups=512),
        Layer("depthwise 3x3 7x7x1024", 1, 1024, 7, 7, 1024, 3, 3, 1, 1, groups=1024),
    ]
    return out


CLOCK = time.perf_counter


def median_time(fn, repeat, min_seconds=0.05):
    fn()  # warm-up: page in buffers, pack caches, thread pools
    times = []
    start = time.perf_counter()
    while len(times) < repeat or (time.perf_counter() - start < min_seconds and len(times) < 10 * repeat):
        t0 = CLOCK()
        fn()
        times.append(CLOCK() - t0)
    return statistics.median(times)


def ours(layer, x, w, b, dy, algo):
    geo = dict(stride=layer.stride, padding=layer.pad, groups=layer.groups)
    if not layer.backward:
        return lambda: ops.conv2d(x, w, b, **geo, algo=algo)

    def step():
        ops.conv2d(x, w, b, **geo, algo=algo)
        ops.conv2d_input(x.shape, w, dy, **geo, algo=algo)
        ops.conv2d_weight(x, w.shape, dy, **geo, with_bias=True)
    return step


def theirs(torch, layer, x, w, b, dy):
    tx, tw, tb, tdy = (torch.from_numpy(a) for a in (x, w, b, dy))
    s, p, g = [layer.stride] * 2, [layer.pad] * 2, layer.groups
    conv = torch.nn.functional.conv2d
    if not layer.backward:
        def fwd():
            with torch.no_grad():
                conv(tx, tw, tb, s, p, 1, g)
        return fwd

    def step():
        with torch.no_grad():
            conv(tx, tw, tb, s, p, 1, g)
            torch.ops.aten.convolution_backward(tdy, tx, tw, [layer.K], s, p, [1, 1], False,
                                                [0, 0], g, [True, True, True])
    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--algo", default="auto", help="cnnnative algorithm (auto, im2col, ...)")
    ap.add_argument("--threads", type=int, default=cnnnative.get_num_threads())
    ap.add_argument("--repeat", type=int, default=10, help="timed runs per layer (median)")
    ap.add_argument("--quick", action="store_true", help="batch 1 ResNet only, 3 repeats")
    ap.add_argument("--markdown", action="store_true", help="print a markdown table")
    ap.add_argument("--filter", default="", help="only layers whose name contains this")
    ap.add_argument("--clock", choices=["wall", "thread"], default="wall",
                    help="thread: CPU time of the calling thread (with --threads 1 only; "
                         "steadier than wall time on a machine shared with other jobs)")
    ap.add_argument("--wait-policy", choices=torch_waits.CHOICES, default="passive", help=torch_waits.HELP)
    args = ap.parse_args(argv)
    wait_policy = torch_waits.apply(args.threads, args.wait_policy)  # before torch is imported
    if args.clock == "thread":
        if args.threads != 1:
            ap.error("--clock thread measures one thread: use it with --threads 1")
        global CLOCK
        CLOCK = time.thread_time
    repeat = 3 if args.quick else args.repeat

    cnnnative.set_num_threads(args.threads)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
        print("torch not installed: cnnnative timings only", file=sys.stderr)

    info = cnnnative.info()
    print(f"# cnnnative {info['version']} isa={info['isa']} threads={args.threads} algo={args.algo}"
          f" repeat={repeat} (median, {args.clock} clock); torch {torch.__version__ if torch else '-'}"
          f" OMP_WAIT_POLICY={wait_policy}")
    rng = np.random.default_rng(0)
    rows = []
    for layer in layers(args.quick):
        if args.filter and args.filter not in layer.name:
            continue
        x = rng.standard_normal((layer.N, layer.C, layer.H, layer.W), dtype=np.float32)
        w = rng.standard_normal((layer.K, layer.C // layer.groups, layer.R, layer.S), dtype=np.float32)
        b = rng.standard_normal(layer.K, dtype=np.float32)
        dy = rng.standard_normal((layer.N, layer.K, layer.OH, layer.OW), dtype=np.float32)
        t_ours = median_time(ours(layer, x, w, b, dy, args.algo), repeat)
        t_torch = median_time(theirs(torch, layer, x, w, b, dy), repeat) if torch else float("nan")
        gf = layer.flops() / 1e9
        rows.append((layer.name, layer.N, t_ours * 1e3, t_torch * 1e3, gf / t_ours, gf / t_torch,
                     t_torch / t_ours))
        if not args.markdown:
            r = rows[-1]
            print(f"{r[0]:<34} N={r[1]:<3} ours {r[2]:9.3f} ms {r[4]:7.1f} GF/s | torch {r[3]:9.3f} ms"
                  f" {r[5]:7.1f} GF/s | torch/ours {r[6]:5.2f}", flush=True)
    if args.markdown:
        print("| layer | N | cnnnative ms | torch ms | cnnnative GFLOP/s | torch GFLOP/s | torch/ours |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]:.3f} | {r[3]:.3f} | {r[4]:.1f} | {r[5]:.1f} | {r[6]:.2f} |")


if __name__ == "__main__":
    main()
