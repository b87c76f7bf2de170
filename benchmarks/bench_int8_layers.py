"""int8 convolutions of ResNet-50 (batch 1, 224 x 224) one at a time, through the engine.

Each shape is built as a small EnginePlan (quantize -> [a 1x1 giving the uint8 residual]
-> conv_int8 with relu and uint8 output -> dequantize), the way the quantized network
runs it: uint8 in and out, the expand 1x1s with their uint8 residual. Per shape: the conv
node's own time (median of the engine's per-node clock over --repeats profiles) and its
GMAC/s (multiply-adds / time; the AVX512-VNNI peak is one zmm vpdpbusd = 64 MACs per
cycle), the path the engine reports (taps: implicit GEMM over the 3x3 taps; im2col,
which a plain 1x1 runs without unfolding) and the whole plan's thread CPU time per run
(robust on a busy machine).

    python benchmarks/bench_int8_layers.py
    python benchmarks/bench_int8_layers.py --layers 1,5,15 --repeats 31
    CNNNATIVE_ISA=avx2 python benchmarks/bench_int8_layers.py
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from cnnnative import _core  # noqa: E402

# label, C, K, kernel, stride, H (input), uint8 residual
SHAPES = [
    ("layer1 1x1 64->64", 64, 64, 1, 1, 56, False),
    ("layer1 3x3 64", 64, 64, 3, 1, 56, False),
    ("layer1 1x1 64->256 +res", 64, 256, 1, 1, 56, True),
    ("layer1 1x1 256->64", 256, 64, 1, 1, 56, False),
    ("layer2 1x1 256->128", 256, 128, 1, 1, 56, False),
    ("layer2 3x3/2 128", 128, 128, 3, 2, 56, False),
    ("layer2 3x3 128", 128, 128, 3, 1, 28, False),
    ("layer2 1x1 128->512 +res", 128, 512, 1, 1, 28, True),
    ("layer2 1x1 512->128", 512, 128, 1, 1, 28, False),
    ("layer2 downsample 1x1/2 256->512", 256, 512, 1, 2, 56, False),
    ("layer3 3x3/2 256", 256, 256, 3, 2, 28, False),
    ("layer3 3x3 256", 256, 256, 3, 1, 14, False),
    ("layer3 1x1 256->1024 +res", 256, 1024, 1, 1, 14, True),
    ("layer3 1x1 1024->256", 1024, 256, 1, 1, 14, False),
    ("layer4 3x3/2 512", 512, 512, 3, 2, 14, False),
    ("layer4 3x3 512", 512, 512, 3, 1, 7, False),
    ("layer4 1x1 512->2048 +res", 512, 2048, 1, 1, 7, True),
    ("layer4 1x1 2048->512", 2048, 512, 1, 1, 7, False),
]


def build(C, K, k, s, H, res, rng):
    """(plan, input, index of the conv node, multiply-adds, method)."""
    f32 = np.float32
    in_q, out_q, res_q = (0.02, 7), (0.05, 3), (0.03, 10)
    wq = rng.integers(-127, 128, (K, C, k, k)).astype(np.int8)
    mult = (f32(in_q[0]) * rng.uniform(1e-4, 3e-3, K)).astype(f32)
    bias = rng.normal(0, 0.5, K).astype(f32)
    plan = _core.EnginePlan([1, C, H, H])
    xb = _core.plan_add_quantize(plan, 0, *in_q)
    rb = -1
    if res:  # a residual of the output's shape, from a 1x1 of the same input
        rb = _core.plan_add_conv_int8(plan, xb, in_q, rng.integers(-127, 128, (K, C, 1, 1)).astype(np.int8),
                                      mult, bias, (1, 1), (0,) * 4, (1, 1), 1, "none", -1, res_q, True, res_q)
    y = _core.plan_add_conv_int8(plan, xb, in_q, wq, mult, bias, (s, s), (k // 2,) * 4, (1, 1), 1, "relu", rb,
                                 res_q, True, out_q)
    plan.finalize(_core.plan_add_dequantize(plan, y, *out_q))
    oh = (H + 2 * (k // 2) - k) // s + 1
    node = 2 if res else 1
    return plan, rng.standard_normal((1, C, H, H)).astype(f32), node, C * K * k * k * oh * oh, \
        plan.nodes()[node].get("method", "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", default="", help="comma-separated indices into the table (default: all)")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    _core.set_num_threads(1)
    only = {int(v) for v in args.layers.split(",")} if args.layers else None
    rng = np.random.default_rng(0)
    print(f"int8 kernel={_core.int8_isa()}, 1 thread; conv node: median of {args.repeats} per-node clocks; "
          "plan: thread CPU ms per run (median)")
    print(f"{'#':>2} {'layer':34s} {'path':8s} {'conv ms':>8s} {'GMAC/s':>7s} {'plan CPU ms':>11s}")
    total = 0.0
    for i, (label, C, K, k, s, H, res) in enumerate(SHAPES):
        if only is not None and i not in only:
            continue
        plan, x, node, macs, method = build(C, K, k, s, H, res, rng)
        for _ in range(3):
            plan.run(x)
        node_s = float(np.median([plan.profile(x)[node] for _ in range(args.repeats)]))
        cpu = []
        for _ in range(args.repeats):
            t0 = time.thread_time()
            plan.run(x)
            cpu.append(time.thread_time() - t0)
        total += node_s
        print(f"{i:2d} {label:34s} {method[:8]:8s} {1e3 * node_s:8.3f} {macs / node_s / 1e9:7.1f} "
              f"{1e3 * float(np.median(cpu)):11.3f}", flush=True)
    print(f"sum of conv nodes: {1e3 * total:.3f} ms")


if __name__ == "__main__":
    main()
