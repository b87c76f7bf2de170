"""Depthwise convolution in the compiled engine: the per-plane kernels against 16 channels
per vector (conv/depthwise_cblock.h), and PyTorch, on the depthwise layers of MobileNet-v2/v3,
EfficientNet and MnasNet at batch 1. The 'auto' rule in depthwise_cblock.cc comes from this.

    python benchmarks/bench_depthwise_layout.py                 # 1 thread, CPU time
    python benchmarks/bench_depthwise_layout.py --threads 2 --clock wall

Each layer is a compiled Conv2d(groups=C) + Hardswish; the layouts and torch run in turn,
interleaved, medians of --repeats; ratios are planes / channels and torch / chosen.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

# (channels, size, kernel, stride): the depthwise layers of the zoo's mobile networks
LAYERS = [
    (32, 112, 3, 1), (16, 112, 3, 1), (64, 112, 3, 2), (96, 112, 3, 2), (144, 56, 3, 1), (72, 56, 3, 1),
    (144, 56, 5, 2), (72, 56, 5, 2), (240, 28, 5, 1), (120, 28, 5, 1), (192, 28, 3, 1), (240, 28, 3, 2),
    (480, 14, 3, 1), (480, 14, 5, 1), (672, 14, 5, 1), (672, 14, 5, 2), (576, 14, 3, 2), (960, 7, 5, 1),
    (1152, 7, 5, 1), (960, 7, 3, 1),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=31)
    ap.add_argument("--clock", choices=("thread", "wall"), default=None,
                    help="thread CPU time (default with 1 thread) or wall time (default otherwise)")
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args(argv)
    import cnnnative
    from cnnnative import _core, nn
    cnnnative.set_num_threads(args.threads)
    clock_name = args.clock or ("thread" if args.threads == 1 else "wall")
    clock = time.thread_time if clock_name == "thread" else time.perf_counter
    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            torch = None
    print(f"# threads={args.threads} clock={clock_name} repeats={args.repeats} isa={_core.get_isa()}"
          + (f" torch={torch.__version__}" if torch else ""))
    print(f"{'layer':<22} {'planes us':>10} {'channels us':>12} {'auto':>9} {'planes/ch':>10}"
          + (f" {'torch us':>9} {'torch/auto':>11}" if torch else ""))
    for C, size, k, s in LAYERS:
        x = np.random.default_rng(0).standard_normal((1, C, size, size)).astype(np.float32)
        model = nn.Sequential(nn.Conv2d(C, C, k, stride=s, padding=k // 2, groups=C), nn.Hardswish()).eval()
        compiled = cnnnative.compile(model, x.shape)
        timers = {}

        def timed(layout):
            def run():
                _core._force_depthwise_layout(layout)
                start = clock()
                compiled(x)
                return clock() - start
            return run
        for layout in ("planes", "channels", "auto"):
            timers[layout] = timed(layout)
        if torch is not None:
            tm = torch.nn.Sequential(torch.nn.Conv2d(C, C, k, stride=s, padding=k // 2, groups=C),
                                     torch.nn.Hardswish()).eval()
            tx = torch.from_numpy(x)

            def torch_run():
                with torch.no_grad():
                    start = clock()
                    tm(tx)
                    return clock() - start
            timers["torch"] = torch_run
        samples = {name: [] for name in timers}
        for _ in range(3):
            for run in timers.values():
                run()
        for _ in range(args.repeats):
            for name, run in timers.items():
                samples[name].append(run())
        _core._force_depthwise_layout("auto")
        us = {name: float(np.median(v)) * 1e6 for name, v in samples.items()}
        line = (f"C{C} {size}x{size} k{k} s{s}".ljust(22) + f" {us['planes']:10.1f} {us['channels']:12.1f}"
                f" {us['auto']:9.1f} {us['planes'] / us['channels']:10.2f}")
        if torch is not None:
            line += f" {us['torch']:9.1f} {us['torch'] / us['auto']:11.2f}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
