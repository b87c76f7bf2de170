"""conv1d beside PyTorch CPU in one process, same threads, runs interleaved (ours, theirs,
ours, ...) so both see the same machine load; medians and the ratio torch / ours (> 1: we
are faster).

Layers: a TCN block's dilated convs (k=3, dilation 1..8, 256 channels, length 1024,
batch 8; 'same' padding), a depthwise-separable 1-D block (depthwise k=3 then pointwise),
and the long-sequence shapes (64 channels, length 4096). Each forward, and forward + both
gradients through autograd (cnnnative Tensors / torch requires_grad, backward of a fixed
output gradient).

    python benchmarks/bench_conv1d.py                 # 2 threads, all layers
    python benchmarks/bench_conv1d.py --threads 1 --repeat 5 --filter tcn
    python benchmarks/bench_conv1d.py --threads 1 --clock thread   # steadier on a busy machine
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
import torch_waits  # noqa: E402
from cnnnative import ops  # noqa: E402


class Layer:
    def __init__(self, name, N, C, L, K, R, dilation=1, groups=1):
        self.name, self.N, self.C, self.L, self.K, self.R = name, N, C, L, K, R
        self.dilation, self.groups = dilation, groups
        self.pad = dilation * (R - 1) // 2  # 'same' for odd R

    def flops(self):
        return 2 * self.N * self.K * (self.C // self.groups) * self.R * self.L


def layers():
    out = [Layer(f"tcn k3 d{d} 256ch L1024", 8, 256, 1024, 256, 3, d) for d in (1, 2, 4, 8)]
    out += [
        Layer("sep depthwise k3 256ch L1024", 8, 256, 1024, 256, 3, 1, groups=256),
        Layer("sep pointwise 256->256 L1024", 8, 256, 1024, 256, 1),
        Layer("long k3 d4 64ch L4096", 8, 64, 4096, 64, 3, 4),
        Layer("long depthwise k3 d4 64ch L4096", 8, 64, 4096, 64, 3, 4, groups=64),
    ]
    return out


def ours(layer, x, w, b, dy, backward):
    geo = (1, layer.pad, layer.dilation, layer.groups)
    if not backward:
        return lambda: ops.conv1d(x, w, b, *geo)
    tx, tw, tb = cn.Tensor(x, requires_grad=True), cn.Tensor(w, requires_grad=True), cn.Tensor(b, requires_grad=True)

    def step():
        tx.grad = tw.grad = tb.grad = None
        ops.conv1d(tx, tw, tb, *geo).backward(dy)
    return step


def theirs(torch, layer, x, w, b, dy, backward):
    geo = (1, layer.pad, layer.dilation, layer.groups)
    conv = torch.nn.functional.conv1d
    if not backward:
        tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))

        def fwd():
            with torch.no_grad():
                conv(tx, tw, tb, *geo)
        return fwd
    tx, tw, tb = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, w, b))
    tdy = torch.from_numpy(dy)

    def step():
        tx.grad = tw.grad = tb.grad = None
        conv(tx, tw, tb, *geo).backward(tdy)
    return step


CLOCK = time.perf_counter


def interleaved_medians(a, b, repeat):
    a(), b()  # warm-up: page in buffers, pack caches, thread pools
    ta, tb = [], []
    for _ in range(repeat):
        for fn, times in ((a, ta), (b, tb)):
            t0 = CLOCK()
            fn()
            times.append(CLOCK() - t0)
    return statistics.median(ta), statistics.median(tb)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=9, help="timed runs of each side per layer (median)")
    ap.add_argument("--filter", default="", help="only layers whose name contains this")
    ap.add_argument("--forward-only", action="store_true")
    ap.add_argument("--clock", choices=["wall", "thread"], default="wall",
                    help="thread: CPU time of the calling thread (with --threads 1 only)")
    ap.add_argument("--wait-policy", choices=torch_waits.CHOICES, default="passive", help=torch_waits.HELP)
    args = ap.parse_args(argv)
    wait_policy = torch_waits.apply(args.threads, args.wait_policy)  # before torch is imported
    if args.clock == "thread":
        if args.threads != 1:
            ap.error("--clock thread measures one thread: use it with --threads 1")
        global CLOCK
        CLOCK = time.thread_time
    import torch
    cn.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    info = cn.info()
    print(f"# cnnnative {info['version']} isa={info['isa']} threads={args.threads} repeat={args.repeat} "
          f"(interleaved medians, {args.clock} clock); torch {torch.__version__}, OMP_WAIT_POLICY={wait_policy}")
    rng = np.random.default_rng(0)
    for layer in layers():
        if args.filter and args.filter not in layer.name:
            continue
        x = rng.standard_normal((layer.N, layer.C, layer.L), dtype=np.float32)
        w = rng.standard_normal((layer.K, layer.C // layer.groups, layer.R), dtype=np.float32)
        w *= np.float32(1 / np.sqrt(layer.C // layer.groups * layer.R))
        b = rng.standard_normal(layer.K, dtype=np.float32)
        dy = rng.standard_normal((layer.N, layer.K, layer.L), dtype=np.float32)
        for backward in ((False,) if args.forward_only else (False, True)):
            t_ours, t_torch = interleaved_medians(ours(layer, x, w, b, dy, backward),
                                                  theirs(torch, layer, x, w, b, dy, backward), args.repeat)
            gf = layer.flops() * (3 if backward else 1) / 1e9
            tag = "fwd+bwd" if backward else "fwd"
            print(f"{layer.name:<34} {tag:<8} ours {t_ours * 1e3:8.2f} ms {gf / t_ours:6.1f} GF/s | "
                  f"torch {t_torch * 1e3:8.2f} ms {gf / t_torch:6.1f} GF/s | torch/ours {t_torch / t_ours:5.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
