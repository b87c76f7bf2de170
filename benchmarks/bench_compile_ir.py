"""Compiled ResNet-18 before and after compile() moved to the op graph (cnnnative.ir).

    python benchmarks/bench_compile_ir.py OLD_PYTHONPATH NEW_PYTHONPATH [--rounds 5] [--batch 1]

Both trees compile the same model (cnnnative.resnet.resnet18_module, seeded weights with
BatchNorm statistics away from the identity) for (batch, 3, 224, 224). Each round runs one
process per tree, alternating, that compiles, checks, and times the compiled call (median
of 15 calls after 3 warm-ups, process CPU time and wall time). Reported: median per tree
over rounds, the median of per-round new/old ratios, whether the two engine plans are
the same (every node's op, method, activation, residual and output shape; arena and
weight bytes), and the largest difference between the two outputs on one input.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def one_round(batch, out_path):
    import numpy as np
    import cnnnative
    from cnnnative import models, nn
    nn.init.manual_seed(0)
    model = models.resnet18_module()
    rng = np.random.default_rng(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean[...] = rng.uniform(-0.2, 0.2, m.num_features)
            m.running_var[...] = rng.uniform(0.5, 1.5, m.num_features)
            m.weight.data[...] = rng.uniform(0.5, 1.5, m.num_features)
            m.bias.data[...] = rng.uniform(-0.2, 0.2, m.num_features)
    model.eval()
    x = rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)
    t0 = time.perf_counter()
    compiled = cnnnative.compile(model, x.shape)
    compile_s = time.perf_counter() - t0
    y = compiled(x)
    np.save(out_path, y)
    for _ in range(3):
        compiled(x)
    cpu, wall = [], []
    for _ in range(15):
        c0, w0 = time.process_time(), time.perf_counter()
        compiled(x)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    plan = [(n["op"], n.get("method"), n["activation"], n.get("residual"), tuple(n["output_shape"]))
            for n in compiled.nodes]
    print(json.dumps({"cpu_ms": 1e3 * statistics.median(cpu), "wall_ms": 1e3 * statistics.median(wall),
                      "compile_s": compile_s, "plan": plan, "arena": compiled.arena_bytes,
                      "weights": compiled.weight_bytes}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--one-round", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one_round:
        return one_round(args.batch, args.out)
    import numpy as np
    runs = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for tag in ("old", "new"):
                env = dict(os.environ, PYTHONPATH=os.path.abspath(getattr(args, tag)))
                cmd = [sys.executable, os.path.abspath(__file__), "x", "x", "--one-round",
                       "--batch", str(args.batch), "--out", os.path.join(tmp, f"{tag}.npy")]
                runs[tag].append(json.loads(subprocess.check_output(cmd, env=env, cwd="/")))
        diff = float(np.abs(np.load(os.path.join(tmp, "old.npy")) - np.load(os.path.join(tmp, "new.npy"))).max())
    old, new = runs["old"][0], runs["new"][0]
    same_plan = old["plan"] == new["plan"] and old["arena"] == new["arena"] and old["weights"] == new["weights"]
    print(f"ResNet-18 batch {args.batch}, 224x224, {args.rounds} rounds (threads: cnnnative default)")
    print("| measure | old | new | new/old (median of rounds) |")
    print("| --- | --- | --- | --- |")
    for key in ("wall_ms", "cpu_ms", "compile_s"):
        o = statistics.median(r[key] for r in runs["old"])
        n = statistics.median(r[key] for r in runs["new"])
        ratio = statistics.median(b[key] / a[key] for a, b in zip(runs["old"], runs["new"]))
        print(f"| {key} | {o:.2f} | {n:.2f} | {ratio:.3f} |")
    print(f"same engine plan (nodes, methods, epilogues, arena {new['arena']} B, weights {new['weights']} B): "
          f"{same_plan}")
    print(f"max |old - new| output difference: {diff:.3g}")


if __name__ == "__main__":
    main()
