"""The C API against Python on the same plan: latency of cnn_run (benchmarks/capi/capi_latency.c)
vs the Python compiled call and the plan loaded in Python, and the C process's peak RSS
vs the plan's weights + arena.

    python benchmarks/bench_capi.py                     # ResNet-18, 224x224, batch 1, 2 threads
    python benchmarks/bench_capi.py --size 64 --rounds 3 --repeats 10

Each measurement is its own process (so each peak RSS is its own), interleaved C, Python,
C, Python... `rounds` times with the same OMP_WAIT_POLICY (passive: cnnnative's Python
default); every process warms up, then reports the medians of `repeats` calls of wall and
process-CPU time. Reported: the medians over rounds and the C / Python ratios. Needs a C
compiler and the C API (tools/dev-build or the wheel).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

PY_BENCH = r"""
import json, sys, time
import numpy as np
import cnnnative
from cnnnative import models
path, size, threads, warmup, repeats, kind = sys.argv[1:7]
size, threads, warmup, repeats = int(size), int(threads), int(warmup), int(repeats)
cnnnative.set_num_threads(threads)
x = np.fromfile(path + ".input", dtype=np.float32).reshape(1, 3, size, size)
if kind == "plan":
    f = cnnnative.load_plan(path)
else:
    net = models.resnet18()
    net.load_state_dict(dict(np.load(path + ".weights.npz")))
    net.eval()
    f = cnnnative.compile(net, (1, 3, size, size))
    del net
wall, cpu = [], []
for i in range(warmup + repeats):
    w0, c0 = time.perf_counter(), time.process_time()
    f(x)
    w1, c1 = time.perf_counter(), time.process_time()
    if i >= warmup:
        wall.append((w1 - w0) * 1e3); cpu.append((c1 - c0) * 1e3)
wall.sort(); cpu.sort()
print(json.dumps({"wall_ms": wall[len(wall) // 2], "cpu_ms": cpu[len(cpu) // 2]}))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)

    import cnnnative
    from cnnnative import c_api, models
    from bn_stats import randomize_bn  # tests/ (run from the repository root)

    work = tempfile.mkdtemp(prefix="bench_capi_")
    path = os.path.join(work, "resnet18.cnn")
    net = models.resnet18()
    randomize_bn(net, np.random.default_rng(0))
    net.eval()
    np.savez(path + ".weights.npz", **{k: np.asarray(v) for k, v in net.state_dict().items()})
    cnnnative.export_plan(net, path, (1, 3, args.size, args.size))
    np.random.default_rng(1).normal(size=(1, 3, args.size, args.size)).astype(np.float32).tofile(path + ".input")
    exe = os.path.join(work, "capi_latency")
    subprocess.run(["cc", "-O2", os.path.join(HERE, "capi", "capi_latency.c"), "-o", exe, *c_api.cflags(),
                    *c_api.libs()], check=True)

    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "passive")}
    common = [str(args.threads), str(args.warmup), str(args.repeats)]
    results = {"c": [], "plan": [], "compiled": []}
    for _ in range(args.rounds):
        out = subprocess.run([exe, path, path + ".input", *common], capture_output=True, text=True, env=env,
                             check=True).stdout
        results["c"].append(json.loads(out))
        for kind in ("plan", "compiled"):
            out = subprocess.run([sys.executable, "-c", PY_BENCH, path, str(args.size), *common, kind],
                                 capture_output=True, text=True, env=env, check=True).stdout
            results[kind].append(json.loads(out))

    def med(kind, key):
        return statistics.median(r[key] for r in results[kind])

    c = results["c"][0]
    print(f"ResNet-18 {args.size}x{args.size}, batch 1, {args.threads} threads, {args.rounds} rounds x "
          f"{args.repeats} calls (OMP_WAIT_POLICY={env['OMP_WAIT_POLICY']})")
    for kind, label in (("c", "C API cnn_run"), ("plan", "Python load_plan()"), ("compiled", "Python compile()")):
        print(f"  {label:22s} wall {med(kind, 'wall_ms'):8.2f} ms   cpu {med(kind, 'cpu_ms'):8.2f} ms")
    for kind in ("plan", "compiled"):
        print(f"  C / Python {kind:9s} wall {med('c', 'wall_ms') / med(kind, 'wall_ms'):.3f}   "
              f"cpu {med('c', 'cpu_ms') / med(kind, 'cpu_ms'):.3f}")
    weights, arena = c["weight_bytes"] / 2**20, c["arena_bytes"] / 2**20
    rss = statistics.median(r["peak_rss_kib"] for r in results["c"]) / 1024
    print(f"  C process peak RSS {rss:.1f} MiB; weights {weights:.1f} MiB + arena {arena:.1f} MiB = "
          f"{weights + arena:.1f} MiB; excess {rss - weights - arena:.1f} MiB")


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
    main()
