"""GPU benchmarks: cnnnative.cuda against PyTorch (cuDNN, TF32 off) in the same process.

    python benchmarks/bench_cuda.py              # all three parts
    python benchmarks/bench_cuda.py --part conv  # per-layer convolutions only
    python benchmarks/bench_cuda.py --quick      # fewer repeats

Parts:
  conv    per-layer conv2d forward, input and weight gradients on real-network shapes
          (ResNet-18, VGG, AlexNet, MobileNet, LeNet): median ms, effective TFLOP/s
          (direct-convolution FLOPs / time) and the ratio to torch/cuDNN
  resnet  ResNet-18 inference (batch 32, 224x224, BN folded into the convolutions)
  train   the seed net (conv-relu-pool x2, linear) trained one SGD step per batch
Times are CUDA-event medians after warm-up. Needs a GPU; exits with the reason if none.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import cnnnative.cuda as cc

# (name, N, C, H, W, K, R, S, stride, pad, groups)
LAYERS = [
    ("lenet.conv2", 64, 6, 14, 14, 16, 5, 5, 1, 0, 1),
    ("alexnet.conv1", 32, 3, 224, 224, 64, 11, 11, 4, 2, 1),
    ("alexnet.conv3", 32, 192, 13, 13, 384, 3, 3, 1, 1, 1),
    ("vgg.conv1_2", 16, 64, 224, 224, 64, 3, 3, 1, 1, 1),
    ("vgg.conv4_2", 16, 512, 28, 28, 512, 3, 3, 1, 1, 1),
    ("resnet18.conv1", 32, 3, 224, 224, 64, 7, 7, 2, 3, 1),
    ("resnet18.layer1", 32, 64, 56, 56, 64, 3, 3, 1, 1, 1),
    ("resnet18.layer2.down", 32, 64, 56, 56, 128, 3, 3, 2, 1, 1),
    ("resnet18.layer3", 32, 256, 14, 14, 256, 3, 3, 1, 1, 1),
    ("resnet18.layer4.1x1", 32, 256, 14, 14, 512, 1, 1, 2, 0, 1),
    ("mobilenet.dw", 32, 256, 28, 28, 256, 3, 3, 1, 1, 256),
    ("mobilenet.pw", 32, 256, 28, 28, 512, 1, 1, 1, 0, 1),
]


def _gpu_time(fn, repeats, warmup=3):
    """Median seconds of fn() measured with device synchronisation around each call."""
    for _ in range(warmup):
        fn()
    cc.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        cc.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _torch():
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    return torch


def _torch_time(torch, fn, repeats, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_conv(repeats):
    torch = _torch()
    rng = np.random.default_rng(0)
    print(f"{'layer':24s} {'pass':6s} {'ours ms':>9s} {'TFLOP/s':>8s} {'torch ms':>9s} {'ratio':>6s}")
    for name, N, C, H, W, K, R, S, st, pad, g in LAYERS:
        x = rng.standard_normal((N, C, H, W), dtype=np.float32)
        w = rng.standard_normal((K, C // g, R, S), dtype=np.float32)
        tx, tw = cc.from_numpy(x), cc.from_numpy(w)
        y = cc.ops.conv2d(tx, tw, stride=st, padding=pad, groups=g)
        dy = cc.from_numpy(rng.standard_normal(y.shape, dtype=np.float32))
        flops = 2.0 * y.size * (C // g) * R * S
        passes = {
            "fwd": lambda: cc.ops.conv2d(tx, tw, stride=st, padding=pad, groups=g),
            "dgrad": lambda: cc.ops.conv2d_input(x.shape, tw, dy, stride=st, padding=pad, groups=g),
            "wgrad": lambda: cc.ops.conv2d_weight(tx, w.shape, dy, stride=st, padding=pad, groups=g),
        }
        theirs = {}
        if torch is not None:
            F = torch.nn.functional
            X, Wt = torch.from_numpy(x).cuda(), torch.from_numpy(w).cuda()
            DY = torch.from_dlpack(dy)
            theirs = {
                "fwd": lambda: F.conv2d(X, Wt, stride=st, padding=pad, groups=g),
                "dgrad": lambda: torch.nn.grad.conv2d_input(X.shape, Wt, DY, stride=st, padding=pad, groups=g),
                "wgrad": lambda: torch.nn.grad.conv2d_weight(X, Wt.shape, DY, stride=st, padding=pad, groups=g),
            }
        for p, fn in passes.items():
            t = _gpu_time(fn, repeats)
            tt = _torch_time(torch, theirs[p], repeats) if p in theirs else float("nan")
            print(f"{name:24s} {p:6s} {t * 1e3:9.3f} {flops / t / 1e12:8.2f} {tt * 1e3:9.3f} {t / tt:6.2f}")


# --- ResNet-18 inference, functional, BN folded -------------------------------------------------

def _resnet18_weights(rng):
    def conv(k, c, r):
        return (rng.standard_normal((k, c, r, r), dtype=np.float32) * np.sqrt(2.0 / (c * r * r))).astype(np.float32)
    net = {"conv1": (conv(64, 3, 7), np.zeros(64, np.float32))}
    c = 64
    for stage, k in enumerate([64, 128, 256, 512]):
        for block in range(2):
            stride = 2 if (stage > 0 and block == 0) else 1
            key = f"l{stage}.{block}"
            net[key + ".a"] = (conv(k, c, 3), np.zeros(k, np.float32), stride)
            net[key + ".b"] = (conv(k, k, 3), np.zeros(k, np.float32), 1)
            if stride != 1 or c != k:
                net[key + ".down"] = (conv(k, c, 1), np.zeros(k, np.float32), stride)
            c = k
    net["fc"] = (rng.standard_normal((1000, 512), dtype=np.float32) * 0.01, np.zeros(1000, np.float32))
    return net


def _resnet18_forward(o, net, x):
    """o: an ops namespace with conv2d/relu/add_relu/max_pool2d/global_avg_pool2d/linear."""
    w, b = net["conv1"]
    x = o.relu(o.conv2d(x, w, b, stride=2, padding=3))
    x = o.max_pool2d(x, 3, 2, 1)
    for stage in range(4):
        for block in range(2):
            key = f"l{stage}.{block}"
            wa, ba, sa = net[key + ".a"]
            wb, bb, _ = net[key + ".b"]
            h = o.relu(o.conv2d(x, wa, ba, stride=sa, padding=1))
            h = o.conv2d(h, wb, bb, padding=1)
            if key + ".down" in net:
                wd, bd, sd = net[key + ".down"]
                x = o.conv2d(x, wd, bd, stride=sd)
            x = o.add_relu(h, x)
    x = o.global_avg_pool2d(x)
    w, b = net["fc"]
    return o.linear(x.reshape(x.shape[0], -1), w, b)


def bench_resnet(repeats, batch=32):
    rng = np.random.default_rng(0)
    host = _resnet18_weights(rng)
    dev = {k: tuple(cc.from_numpy(a) if isinstance(a, np.ndarray) else a for a in v) for k, v in host.items()}
    x = rng.standard_normal((batch, 3, 224, 224), dtype=np.float32)
    tx = cc.from_numpy(x)
    t = _gpu_time(lambda: _resnet18_forward(cc.ops, dev, tx), repeats)
    line = f"ResNet-18 inference batch {batch}: ours {t * 1e3:.2f} ms ({batch / t:.0f} img/s)"
    torch = _torch()
    if torch is not None:
        F = torch.nn.functional

        class TorchOps:
            conv2d = staticmethod(F.conv2d)
            relu = staticmethod(F.relu)
            max_pool2d = staticmethod(F.max_pool2d)
            linear = staticmethod(F.linear)

            @staticmethod
            def add_relu(a, b):
                return F.relu(a + b)

            @staticmethod
            def global_avg_pool2d(a):
                return F.adaptive_avg_pool2d(a, 1)
        tdev = {k: tuple(torch.from_numpy(a).cuda() if isinstance(a, np.ndarray) else a for a in v)
                for k, v in host.items()}
        X = torch.from_numpy(x).cuda()
        with torch.no_grad():
            ref = _resnet18_forward(TorchOps, tdev, X)
            tt = _torch_time(torch, lambda: _resnet18_forward(TorchOps, tdev, X), repeats)
        ours = _resnet18_forward(cc.ops, dev, tx).numpy()
        err = float(np.abs(ours - ref.cpu().numpy()).max() / (np.abs(ref.cpu().numpy()).max() + 1e-12))
        line += f"; torch {tt * 1e3:.2f} ms; ratio {t / tt:.2f}; max rel diff {err:.1e}"
    print(line)


def bench_compiled(repeats, batch=1):
    """cnnnative.compile(device="cuda") on the library's own resnet18 (BN folded)."""
    import cnnnative
    from cnnnative import models
    net = models.resnet18().eval()
    compiled = cnnnative.compile(net, (batch, 3, 224, 224), device="cuda")
    tx = cc.from_numpy(np.random.default_rng(0).standard_normal((batch, 3, 224, 224), dtype=np.float32))
    t = _gpu_time(lambda: compiled(tx), repeats)
    print(f"ResNet-18 compile(device='cuda') batch {batch}: {t * 1e3:.2f} ms ({batch / t:.0f} img/s)")


# --- seed-net training ---------------------------------------------------------------------------

def bench_train(repeats, batch=128):
    o = cc.ops
    rng = np.random.default_rng(0)
    shapes = {"w1": (16, 1, 5, 5), "w2": (32, 16, 5, 5), "w3": (10, 32 * 4 * 4)}
    params = {k: cc.from_numpy(rng.standard_normal(s, dtype=np.float32) * 0.1) for k, s in shapes.items()}
    x = cc.from_numpy(rng.standard_normal((batch, 1, 28, 28), dtype=np.float32))
    y = cc.from_numpy(rng.integers(0, 10, batch).astype(np.int64))

    def step():
        a1 = o.relu(o.conv2d(x, params["w1"]))                  # (B, 16, 24, 24)
        p1, i1 = o.max_pool2d(a1, 2, return_indices=True)       # (B, 16, 12, 12)
        a2 = o.relu(o.conv2d(p1, params["w2"]))                 # (B, 32, 8, 8)
        p2, i2 = o.max_pool2d(a2, 2, return_indices=True)       # (B, 32, 4, 4)
        flat = p2.reshape(batch, -1)
        logits = o.linear(flat, params["w3"])
        g = o.cross_entropy_backward(logits, y)
        gflat, gw3, _ = o.linear_backward(g, flat, params["w3"], need_bias=False)
        g2 = o.relu_backward(o.max_pool2d_backward(gflat.reshape(p2.shape), i2, a2.shape), a2)
        gw2 = o.conv2d_weight(p1, shapes["w2"], g2)
        g1 = o.relu_backward(o.max_pool2d_backward(o.conv2d_input(p1.shape, params["w2"], g2), i1, a1.shape), a1)
        gw1 = o.conv2d_weight(x, shapes["w1"], g1)
        for k, gk in (("w1", gw1), ("w2", gw2), ("w3", gw3)):
            o.sgd_step(params[k], gk, lr=0.01)

    t = _gpu_time(step, repeats)
    print(f"seed net training step, batch {batch}: ours {t * 1e3:.2f} ms ({batch / t:.0f} img/s)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["conv", "resnet", "train", "all"], default="all")
    ap.add_argument("--quick", action="store_true", help="5 repeats instead of 20")
    args = ap.parse_args(argv)
    reason = cc.why_unavailable()
    if reason:
        print(f"bench_cuda: no usable GPU ({reason})")
        return 2
    repeats = 5 if args.quick else 20
    print(f"device: {cc._cuda.device_name(0)}; CUDA runtime {cc._cuda.runtime_version()}; repeats {repeats}")
    if args.part in ("conv", "all"):
        bench_conv(repeats)
    if args.part in ("resnet", "all"):
        for batch in (1, 32):  # batch 1: latency (launch overhead), 32: throughput
            bench_resnet(repeats, batch)
        bench_compiled(repeats)
    if args.part in ("train", "all"):
        bench_train(repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
