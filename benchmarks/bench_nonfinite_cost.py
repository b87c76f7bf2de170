"""Cost of the NaN/inf rule on the fast algorithms: two builds, timed interleaved.

    python benchmarks/bench_nonfinite_cost.py OLD_PYTHONPATH NEW_PYTHONPATH [--rounds 20]

Each round runs one process per build (pinned to CPU 0, one thread, process CPU time, so
the load of a shared machine hits both alike) that times each layer's forward with its
algorithm forced (median of 11 calls, all-finite data); the table gives the median over
rounds and the median of the per-round new/old ratios.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

LAYERS = [
    ("resnet18 conv2 56x56x64", (1, 64, 56, 56), (64, 64, 3, 3), 1, 1, "winograd"),
    ("resnet18 conv3 28x28x128", (1, 128, 28, 28), (128, 128, 3, 3), 1, 1, "winograd"),
    ("resnet18 conv4 14x14x256", (1, 256, 14, 14), (256, 256, 3, 3), 1, 1, "winograd"),
    ("resnet18 conv5 7x7x512", (1, 512, 7, 7), (512, 512, 3, 3), 1, 1, "winograd"),
    ("5x5 32x32x64 b16", (16, 64, 32, 32), (64, 64, 5, 5), 1, 2, "fft"),
    ("resnet stem 7x7/2 224x224x3", (1, 3, 224, 224), (64, 3, 7, 7), 2, 3, "direct_smallc_wino"),
]


def one_round():
    import numpy as np
    import cnnnative
    from cnnnative import ops
    cnnnative.set_num_threads(1)
    rng = np.random.default_rng(0)
    out = {}
    for name, xs, ws, stride, pad, algo in LAYERS:
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        ops.conv2d(x, w, stride=stride, padding=pad, algo=algo)
        times = []
        for _ in range(11):
            t0 = time.process_time()
            ops.conv2d(x, w, stride=stride, padding=pad, algo=algo)
            times.append(time.process_time() - t0)
        out[f"{name} {algo}"] = statistics.median(times)
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    runs = {"old": [], "new": []}
    for _ in range(args.rounds):
        for tag in ("old", "new"):
            env = dict(os.environ, PYTHONPATH=getattr(args, tag), OMP_NUM_THREADS="1")
            cmd = ["taskset", "-c", "0", sys.executable, os.path.abspath(__file__), "--one-round"]
            runs[tag].append(json.loads(subprocess.check_output(cmd, env=env, cwd="/")))
    for name in runs["old"][0]:
        old = statistics.median(r[name] for r in runs["old"]) * 1e3
        new = statistics.median(r[name] for r in runs["new"]) * 1e3
        paired = statistics.median(b[name] / a[name] for a, b in zip(runs["old"], runs["new"]))
        print(f"| {name} | {old:.3f} | {new:.3f} | {paired:.3f} |")


if __name__ == "__main__":
    if "--one-round" in sys.argv:
        one_round()
    else:
        main()
