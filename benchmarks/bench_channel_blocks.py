"""Channel-blocked kernels (16 channels per AVX-512 vector) against the per-plane ones, and
PyTorch: the depthwise convolutions (conv/depthwise_cblock.h) and max pools
(pool/max_pool_cblock.h) of the zoo at batch 1. The 'auto' rules in depthwise_cblock.cc and
max_pool_cblock.cc come from this.

    python benchmarks/bench_channel_blocks.py                  # 1 thread, CPU time
    python benchmarks/bench_channel_blocks.py --threads 2 --clock wall --ops maxpool

Each layer is compiled (a depthwise Conv2d + Hardswish, or a MaxPool2d); the two layouts,
the automatic choice and torch run in turn, interleaved (which one goes first rotates),
medians of --repeats; ratios are planes / channels and torch / auto.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

# (channels, size, kernel, stride): the depthwise layers of the zoo's mobile networks
DEPTHWISE = [
    (32, 112, 3, 1), (16, 112, 3, 1), (64, 112, 3, 2), (96, 112, 3, 2), (144, 56, 3, 1), (72, 56, 3, 1),
    (144, 56, 5, 2), (72, 56, 5, 2), (240, 28, 5, 1), (120, 28, 5, 1), (192, 28, 3, 1), (240, 28, 3, 2),
    (480, 14, 3, 1), (480, 14, 5, 1), (672, 14, 5, 1), (672, 14, 5, 2), (576, 14, 3, 2), (960, 7, 5, 1),
    (1152, 7, 5, 1), (960, 7, 3, 1),
]
# (channels, size, kernel, stride, padding, ceil_mode): the max pools of the zoo
MAXPOOL = [
    (64, 112, 3, 2, 1, False), (64, 111, 3, 2, 0, True), (128, 55, 3, 2, 0, True), (256, 27, 3, 2, 0, True),
    (64, 56, 2, 2, 0, False), (192, 28, 3, 1, 1, False), (480, 14, 3, 1, 1, True), (832, 14, 2, 2, 0, True),
    (64, 147, 3, 2, 0, False), (192, 71, 3, 2, 0, False),
]


def _layers(ops):
    from cnnnative import nn
    if "depthwise" in ops:
        for C, size, k, s in DEPTHWISE:
            yield ("depthwise", f"dw C{C} {size}x{size} k{k} s{s}", (1, C, size, size),
                   lambda: nn.Sequential(nn.Conv2d(C, C, k, stride=s, padding=k // 2, groups=C), nn.Hardswish()),
                   lambda torch: torch.nn.Sequential(torch.nn.Conv2d(C, C, k, stride=s, padding=k // 2, groups=C),
                                                     torch.nn.Hardswish()))
    if "maxpool" in ops:
        for C, size, k, s, p, ceil in MAXPOOL:
            yield ("maxpool", f"pool C{C} {size}x{size} k{k} s{s}{' ceil' if ceil else ''}", (1, C, size, size),
                   lambda: nn.Sequential(nn.MaxPool2d(k, s, p, ceil_mode=ceil)),
                   lambda torch: torch.nn.MaxPool2d(k, s, p, ceil_mode=ceil))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=31)
    ap.add_argument("--ops", default="depthwise,maxpool")
    ap.add_argument("--clock", choices=("thread", "wall"), default=None,
                    help="thread CPU time (default with 1 thread) or wall time (default otherwise)")
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args(argv)
    import cnnnative
    from cnnnative import _core
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
    force = {"depthwise": _core._force_depthwise_layout, "maxpool": _core._force_max_pool_layout}
    print(f"# threads={args.threads} clock={clock_name} repeats={args.repeats} isa={_core.get_isa()}"
          + (f" torch={torch.__version__}" if torch else ""))
    print(f"{'layer':<30} {'planes us':>10} {'channels us':>12} {'auto':>9} {'planes/ch':>10}"
          + (f" {'torch us':>9} {'torch/auto':>11}" if torch else ""))
    for op, label, shape, build, build_torch in _layers(args.ops.split(",")):
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        compiled = cnnnative.compile(build().eval(), shape)

        def ours(layout, op=op, compiled=compiled, x=x):
            def run():
                force[op](layout)
                start = clock()
                compiled(x)
                return clock() - start
            return run
        timers = {layout: ours(layout) for layout in ("planes", "channels", "auto")}
        if torch is not None:
            module, tx = build_torch(torch).eval(), torch.from_numpy(x)

            def torch_run(module=module, tx=tx):
                with torch.no_grad():
                    start = clock()
                    module(tx)
                    return clock() - start
            timers["torch"] = torch_run
        samples = {name: [] for name in timers}
        for _ in range(3):
            for run in timers.values():
                run()
        order = list(timers.items())
        for i in range(args.repeats):  # a different one first each time: no run always follows torch's
            for name, run in order[i % len(order):] + order[:i % len(order)]:
                samples[name].append(run())
        force[op]("auto")
        us = {name: float(np.median(v)) * 1e6 for name, v in samples.items()}
        line = (f"{label:<30} {us['planes']:10.1f} {us['channels']:12.1f} {us['auto']:9.1f}"
                f" {us['planes'] / us['channels']:10.2f}")
        if torch is not None:
            line += f" {us['torch']:9.1f} {us['torch'] / us['auto']:11.2f}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
