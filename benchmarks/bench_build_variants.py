"""Two builds of _core, A and B (e.g. with and without LTO, -O3 and -O2 bindings), side by side.

    python benchmarks/bench_build_variants.py A_PYTHONPATH B_PYTHONPATH [--rounds 7]

Each path holds a `cnnnative` package (e.g. a copy of python/ with that build's _core*.so).
Each round runs one process per build, alternating A, B, A, B, ...; every process times, on
one thread and in CPU time (so other load on a shared machine matters less):
  resnet18   compiled ResNet-18 inference, batch 1, 3x224x224 (kernels, the engine)
  train      Trainer.step of seed_mnist_net, batch 32, 28x28 (eager layers, autograd, kernels)
  small_ops  2000 calls of ops on 8-element arrays (binding and dispatch overhead)
Printed: median per build over rounds and the median of per-round B/A ratios.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def _cpu_median(fn, n, warm=2):
    for _ in range(warm):
        fn()
    times = []
    for _ in range(n):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def one_round():
    import numpy as np
    import cnnnative
    from cnnnative import models, nn, ops, optim
    cnnnative.set_num_threads(1)
    rng = np.random.default_rng(0)
    out = {}

    nn.init.manual_seed(0)
    model = models.resnet18().eval()
    x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    compiled = cnnnative.compile(model, x.shape)
    out["resnet18"] = _cpu_median(lambda: compiled(x), 9)

    nn.init.manual_seed(0)
    net = models.seed_mnist_net()
    trainer = cnnnative.Trainer(net, optim.SGD(net, lr=0.01, momentum=0.9), quiet=True)
    xb = rng.random((32, 1, 28, 28), dtype=np.float32)
    yb = rng.integers(0, 10, 32)
    out["train"] = _cpu_median(lambda: trainer.step(xb, yb), 9)

    a = rng.standard_normal(8).astype(np.float32)

    def small():
        for _ in range(1000):
            ops.relu(a)
            ops.add(a, a)
    out["small_ops"] = _cpu_median(small, 9)
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    results = {"A": [], "B": []}
    for r in range(args.rounds):
        for name, path in (("A", args.a), ("B", args.b)) if r % 2 == 0 else (("B", args.b), ("A", args.a)):
            env = dict(os.environ, PYTHONPATH=os.path.abspath(path), OMP_NUM_THREADS="1")
            line = subprocess.run([sys.executable, __file__, "x", "y", "--one"], env=env, check=True,
                                  capture_output=True, text=True).stdout.strip().splitlines()[-1]
            results[name].append(json.loads(line))
    for key in results["A"][0]:
        a = [r[key] for r in results["A"]]
        b = [r[key] for r in results["B"]]
        ratio = statistics.median(y / x for x, y in zip(a, b))
        print(f"{key:10s} A {1e3 * statistics.median(a):9.3f} ms  B {1e3 * statistics.median(b):9.3f} ms"
              f"  B/A {ratio:.3f}  (CPU time, 1 thread, {args.rounds} rounds)")


if __name__ == "__main__":
    if "--one" in sys.argv:
        one_round()
    else:
        main()
