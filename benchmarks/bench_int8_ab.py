"""Two builds of cnnnative side by side on the int8 ResNet-50 layers and models: A and B are
two `python` directories (each with its own _core), each run by a worker process of its own;
the calls alternate A, B, B, A, ... so both see the same machine load (thread CPU time is
not enough on a shared machine: the neighbours change from minute to minute).

Per layer (the shapes of bench_int8_layers.py, each as its own plan): the process CPU time
of a whole plan run and the conv node's own clock (EnginePlan.profile), medians over
--rounds x --reps calls, and B/A (of the medians, and the median of the paired ratios).
Per model (bench_int8.build: random weights, non-trivial BatchNorm; int8 by
cnnnative.quantize, minmax, 8 calibration images): process CPU ms per call, int8 and with
--fp32 the compiled fp32 model too.

    python benchmarks/bench_int8_ab.py --a /path/to/main/python --layers all
    python benchmarks/bench_int8_ab.py --a /path/to/main/python --models resnet50 --fp32 --threads 2
    python benchmarks/bench_int8_ab.py --a python --b python --b-env CNNNATIVE_ISA=avx2 --layers 1,6
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

WORKER = r'''
import json, statistics, sys, time
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2])
import numpy as np
import cnnnative
from cnnnative import _core
import bench_int8_layers as L
plans, models = {}, {}
def cpu_run(f, reps):
    out = []
    for _ in range(reps):
        c0 = time.process_time(); f(); out.append(time.process_time() - c0)
    return out
for line in sys.stdin:
    cmd = json.loads(line)
    cnnnative.set_num_threads(cmd["threads"])
    if cmd["op"] == "layer":
        i = cmd["i"]
        if i not in plans:
            label, C, K, k, s, H, res = L.SHAPES[i]
            plans[i] = L.build(C, K, k, s, H, res, np.random.default_rng(i))
            for _ in range(3): plans[i][0].run(plans[i][1])
        plan, x, node, macs, method = plans[i]
        t = cpu_run(lambda: plan.run(x), cmd["reps"])
        prof = [plan.profile(x)[node] for _ in range(cmd["reps"])]
        print(json.dumps({"cpu": statistics.median(t), "node": statistics.median(prof), "macs": macs,
                          "method": method}), flush=True)
    else:
        name = cmd["name"]
        if name not in models:
            import bench_int8 as B
            rng = np.random.default_rng(0)
            model = B.build(name, rng)
            calib = rng.standard_normal((8, 3, 224, 224)).astype(np.float32)
            x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
            qm = cnnnative.quantize(model, calib, input_shape=(1, 3, 224, 224), method="minmax")
            fp = cnnnative.compile(model, (1, 3, 224, 224))
            models[name] = (qm, fp, x)
            for _ in range(2): qm(x); fp(x)
        qm, fp, x = models[name]
        f = fp if cmd.get("fp32") else qm
        t = cpu_run(lambda: f(x), cmd["reps"])
        print(json.dumps({"cpu": statistics.median(t)}), flush=True)
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="python directory of build A")
    ap.add_argument("--b", default=os.path.join(HERE, "..", "python"), help="python directory of build B")
    ap.add_argument("--a-env", default="", help="NAME=VALUE,... for A's worker")
    ap.add_argument("--b-env", default="", help="NAME=VALUE,... for B's worker")
    ap.add_argument("--layers", default="", help="'all' or indices into bench_int8_layers.SHAPES")
    ap.add_argument("--models", default="", help="e.g. resnet50,mobilenet_v2")
    ap.add_argument("--fp32", action="store_true", help="also the compiled fp32 models")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    sys.path.insert(0, HERE)
    import bench_int8_layers as L

    def env(spec):
        e = dict(os.environ)
        for kv in filter(None, spec.split(",")):
            k, v = kv.split("=", 1)
            e[k] = v
        return e

    workers = {k: subprocess.Popen([sys.executable, "-c", WORKER, os.path.abspath(d), HERE], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True, env=env(e))
               for k, d, e in (("A", args.a, args.a_env), ("B", args.b, args.b_env))}

    def ask(k, cmd):
        workers[k].stdin.write(json.dumps(cmd) + "\n")
        workers[k].stdin.flush()
        return json.loads(workers[k].stdout.readline())

    jobs = []
    if args.layers:
        idx = range(len(L.SHAPES)) if args.layers == "all" else [int(v) for v in args.layers.split(",")]
        jobs += [{"op": "layer", "i": i} for i in idx]
    for m in filter(None, args.models.split(",")):
        jobs.append({"op": "model", "name": m})
        if args.fp32:
            jobs.append({"op": "model", "name": m, "fp32": True})
    print(f"A = {args.a} {args.a_env}\nB = {args.b} {args.b_env}\nthreads {args.threads}; medians of "
          f"{args.rounds} alternating rounds x {args.reps} calls; CPU = process CPU time per call")
    node_sum = {"A": 0.0, "B": 0.0}
    for j in jobs:
        j.update(reps=args.reps, threads=args.threads)
        got = {"A": [], "B": []}
        for r in range(args.rounds):
            for k in ("A", "B") if r % 2 == 0 else ("B", "A"):
                got[k].append(ask(k, j))
        cpu = {k: statistics.median(o["cpu"] for o in got[k]) for k in got}
        paired = statistics.median(b["cpu"] / a["cpu"] for a, b in zip(got["A"], got["B"]))
        if j["op"] == "layer":
            node = {k: statistics.median(o["node"] for o in got[k]) for k in got}
            for k in node:
                node_sum[k] += node[k]
            macs, ma, mb = got["A"][0]["macs"], got["A"][0]["method"], got["B"][0]["method"]
            method = ma if ma == mb else f"{ma[:6]}>{mb[:6]}"
            print(f"{j['i']:2d} {L.SHAPES[j['i']][0]:34s} {method:13s} CPU ms A {1e3 * cpu['A']:7.3f} "
                  f"B {1e3 * cpu['B']:7.3f} B/A {cpu['B'] / cpu['A']:5.3f} (paired {paired:5.3f}) | node ms "
                  f"A {1e3 * node['A']:6.3f} B {1e3 * node['B']:6.3f} GMAC/s A {macs / node['A'] / 1e9:5.1f} "
                  f"B {macs / node['B'] / 1e9:5.1f}", flush=True)
        else:
            kind = "fp32" if j.get("fp32") else "int8"
            print(f"{j['name']} {kind}: CPU ms A {1e3 * cpu['A']:7.2f} B {1e3 * cpu['B']:7.2f} "
                  f"B/A {cpu['B'] / cpu['A']:5.3f} (paired {paired:5.3f})", flush=True)
    if node_sum["A"]:
        print(f"sum of conv nodes: A {1e3 * node_sum['A']:.3f} ms B {1e3 * node_sum['B']:.3f} ms "
              f"B/A {node_sum['B'] / node_sum['A']:.3f}")
    for w in workers.values():
        w.stdin.close()
        w.wait()


if __name__ == "__main__":
    main()
