"""Per-layer timing of every convolution algorithm that applies, beside PyTorch (oneDNN)
in the same process.

For each layer: median time of each algorithm (and of "auto" and torch, all timed
round-robin so load on a shared machine hits them alike), effective
GFLOP/s = direct-convolution FLOPs (2*N*K*C/g*R*S*OH*OW) / time, and the speed-up
over torch (> 1 means cnnnative is faster). Threads are set for both libraries.

    python benchmarks/bench_conv_algos.py --threads 2 --repeats 20
    python benchmarks/bench_conv_algos.py --markdown >> benchmarks/RESULTS.md
    python benchmarks/bench_conv_algos.py --cpu-time --threads 1   # busy machine

--cpu-time measures process CPU time instead of wall time: on a shared, overloaded
machine it is the only stable measure (valid with --threads 1 only).

--engine-stem times the ResNet-18 stem inside the inference engine instead: the first
node of cnnnative.compile(resnet18) at batch 1 (conv 7x7/2 + folded BatchNorm + ReLU),
median of --repeats profiled runs, for algo="auto" and algo="gemm" (im2col), beside
PyTorch's conv+ReLU of the same shape, and the whole network's median time.

    python benchmarks/bench_conv_algos.py --threads 2 --layers stem
    python benchmarks/bench_conv_algos.py --threads 2 --engine-stem
"""
from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time

import numpy as np

import cnnnative
from cnnnative import ops

# name, input (N, C, H, W), weight (K, C/g, R, S), stride, padding, groups
LAYERS = [
    ("resnet18 conv2 56x56x64", (1, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1),
    ("resnet18 conv3 28x28x128", (1, 128, 28, 28), (128, 128, 3, 3), 1, 1, 1),
    ("resnet18 conv4 14x14x256", (1, 256, 14, 14), (256, 256, 3, 3), 1, 1, 1),
    ("resnet18 conv5 7x7x512", (1, 512, 7, 7), (512, 512, 3, 3), 1, 1, 1),
    ("vgg conv1_2 224x224x64", (1, 64, 224, 224), (64, 64, 3, 3), 1, 1, 1),
    ("5x5 32x32x64 b16", (16, 64, 32, 32), (64, 64, 5, 5), 1, 2, 1),
    ("resnet stem 7x7/2 224x224x3", (1, 3, 224, 224), (64, 3, 7, 7), 2, 3, 1),
    ("alexnet conv1 11x11/4 227x227x3", (1, 3, 227, 227), (96, 3, 11, 11), 4, 0, 1),
    ("mobilenet dw3x3 112x112x32", (1, 32, 112, 112), (32, 1, 3, 3), 1, 1, 32),
    ("vgg conv1_1 3x3 224x224x3", (1, 3, 224, 224), (64, 3, 3, 3), 1, 1, 1),
    ("cifar 5x5 32x32x3 b16", (16, 3, 32, 32), (64, 3, 5, 5), 1, 2, 1),
    ("resnet18 down 3x3/2 56x56x64", (1, 64, 56, 56), (128, 64, 3, 3), 2, 1, 1),
]


def flops(x_shape, w_shape, stride, padding, groups):
    N, C, H, W = x_shape
    K, Cg, R, S = w_shape
    OH = (H + 2 * padding - R) // stride + 1
    OW = (W + 2 * padding - S) // stride + 1
    return 2.0 * N * K * Cg * R * S * OH * OW


def measure(fn, repeats, clock):
    fn()  # warm-up (allocations, caches, autotune)
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def measure_interleaved(fns, repeats, clock):
    """Median time of each of fns ({name: fn}), timed round-robin (one call of each per
    round): on a shared machine a burst of load then hits every candidate alike instead of
    whichever happened to run during it."""
    times = {k: [] for k in fns}
    for fn in fns.values():
        fn()  # warm-up (allocations, caches, autotune)
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = clock()
            fn()
            times[k].append(clock() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--markdown", action="store_true", help="print a markdown table")
    ap.add_argument("--cpu-time", action="store_true", help="time with process CPU time (use with --threads 1)")
    ap.add_argument("--layers", default="", help="only layers whose name contains this text")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--engine-stem", action="store_true", help="time the ResNet-18 stem node of the engine")
    args = ap.parse_args(argv)
    if args.engine_stem:
        return engine_stem(args)

    clock = time.process_time if args.cpu_time else time.perf_counter
    cnnnative.set_num_threads(args.threads)
    torch = None
    if not args.no_torch:
        try:
            import torch  # noqa: F811
            torch.set_num_threads(args.threads)
        except ImportError:
            torch = None

    rng = np.random.default_rng(0)
    rows = []
    for name, xs, ws, stride, padding, groups in LAYERS:
        if args.layers and args.layers not in name:
            continue
        x = rng.standard_normal(xs).astype(np.float32)
        w = (rng.standard_normal(ws) * 0.1).astype(np.float32)
        fl = flops(xs, ws, stride, padding, groups)
        support = ops.conv_algorithms(xs, ws, stride=stride, padding=padding, groups=groups)
        auto_choice = support.pop("auto")
        algos = [a for a, s in support.items() if s["supported"]] + ["auto"]
        fns = {a: (lambda a=a: ops.conv2d(x, w, None, stride, padding, 1, groups, algo=a)) for a in algos}
        if torch is not None:
            tx, tw = torch.from_numpy(x), torch.from_numpy(w)

            def torch_conv():
                with torch.no_grad():
                    return torch.nn.functional.conv2d(tx, tw, None, stride, padding, 1, groups)
            fns["torch"] = torch_conv
        results = measure_interleaved(fns, args.repeats, clock)
        t_torch = results.pop("torch", None)
        best = min((t, a) for a, t in results.items() if a != "auto")
        # auto/best: the minimum over ~10 noisy medians favours whichever got lucky (auto
        # and its own choice differed by 20% in one run), so auto and the best candidate
        # are timed again head to head, three times as often.
        duel = measure_interleaved({"auto": fns["auto"], best[1]: fns[best[1]]}, 3 * args.repeats, clock)
        slack = duel["auto"] / duel[best[1]]
        rows.append((name, fl, t_torch, results, auto_choice, best, slack))

    info = cnnnative.info()
    header = (f"threads={args.threads} isa={info['isa']} repeats={args.repeats} "
              f"clock={'process CPU time' if args.cpu_time else 'wall'} machine={platform.machine()} "
              f"python={platform.python_version()}")
    if args.markdown:
        print(f"\n### bench_conv_algos ({header})\n")
        print("`python benchmarks/bench_conv_algos.py " + " ".join(sys.argv[1:]) + "`\n")
        print("| layer | algorithm | ms (median) | GFLOP/s | vs torch |")
        print("|---|---|---:|---:|---:|")
    else:
        print(header)
    ratios_auto = []
    for name, fl, t_torch, results, auto_choice, (t_best, a_best), slack in rows:
        entries = ([("torch", t_torch)] if t_torch else []) + sorted(results.items(), key=lambda kv: kv[1])
        for algo, t in entries:
            label = f"auto ({auto_choice})" if algo == "auto" else algo
            ratio = f"{t_torch / t:.2f}x" if t_torch else "-"
            if args.markdown:
                print(f"| {name} | {label} | {t * 1e3:.3f} | {fl / t / 1e9:.0f} | {ratio} |")
            else:
                print(f"{name:34s} {label:26s} {t * 1e3:9.3f} ms {fl / t / 1e9:7.0f} GFLOP/s  {ratio}")
        if t_torch:
            ratios_auto.append(t_torch / results["auto"])
        note = f"auto/best = {slack:.2f} (best {a_best}, timed head to head)"
        print(f"|  |  |  |  | {note} |" if args.markdown else f"{'':34s} {note}")
    if ratios_auto:
        geo = math.exp(sum(math.log(r) for r in ratios_auto) / len(ratios_auto))
        print(f"\nauto vs torch, geometric mean speed-up over {len(ratios_auto)} layers: {geo:.2f}x")


def engine_stem(args):
    """The stem node of a compiled ResNet-18 (batch 1) per conv choice, and the network,
    timed round-robin with PyTorch's conv + ReLU of the same shape."""
    cnnnative.set_num_threads(args.threads)
    model = cnnnative.models.resnet18().eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    fl = flops((1, 3, 224, 224), (64, 3, 7, 7), 2, 3, 1)
    compiled = {algo: cnnnative.compile(model, x.shape, algo=algo) for algo in ("auto", "gemm")}
    torch_fn = None
    try:
        import torch
        torch.set_num_threads(args.threads)
        tx, tw = torch.from_numpy(x), torch.from_numpy((np.random.default_rng(1).standard_normal((64, 3, 7, 7)) * 0.1)
                                                       .astype(np.float32))

        def torch_fn():
            with torch.no_grad():
                return torch.relu(torch.nn.functional.conv2d(tx, tw, None, 2, 3))
        torch_fn()
    except ImportError:
        pass
    stem = {a: [] for a in compiled}
    net = {a: [] for a in compiled}
    t_torch = []
    for f in compiled.values():
        f(x)
    for _ in range(args.repeats):
        if torch_fn:
            t0 = time.perf_counter()
            torch_fn()
            t_torch.append(time.perf_counter() - t0)
        for a, f in compiled.items():
            prof = f._plan.profile(x)
            stem[a].append(prof[0])
            net[a].append(sum(prof))
    tt = statistics.median(t_torch) if t_torch else None
    print(f"ResNet-18 stem 7x7/2 224x224x3 -> 64, batch 1, threads={args.threads}, isa={cnnnative.info()['isa']}, "
          f"median of {args.repeats} (round-robin)")
    if tt:
        print(f"{'torch conv+relu':34s} {tt * 1e3:8.3f} ms {fl / tt / 1e9:6.0f} GFLOP/s  1.00x")
    for a, f in compiled.items():
        t = statistics.median(stem[a])
        ratio = f"{tt / t:.2f}x" if tt else "-"
        label = f"engine {a} ({f._plan.nodes()[0]['method']})"
        print(f"{label:34s} {t * 1e3:8.3f} ms {fl / t / 1e9:6.0f} GFLOP/s  {ratio}  network {statistics.median(net[a]) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
