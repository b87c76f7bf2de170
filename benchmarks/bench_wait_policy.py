"""What the thread team's waiting costs: the same workloads under each wait setting, in
processes started in turn (the team reads its setting once, when it is first used).

    python benchmarks/bench_wait_policy.py                  # 2 threads, 5 rounds
    python benchmarks/bench_wait_policy.py --busy           # beside one busy process

Every parallel region runs on the library's own team (cnnnative/thread_pool.h: idle
members pause-spin, then yield, then sleep; a region's caller runs the shares no worker has
started); no OpenMP runtime is linked since issue 16/17 (before, the training kernels ran
on libgomp, whose idle workers cnnnative made sleep at once). Settings: the default
(pause-spin 10 us, yield 90 us), the team sleeping at once (CNNNATIVE_SPIN_US=0), spinning
100 us or waiting 1 ms, the user's OMP_WAIT_POLICY=passive (sleep at once), and the lengths
the team derives from GOMP_SPINCOUNT (1000, 3000, 10000, 300000: libgomp's own default).
Workloads: a compiled ResNet-18 at batch 1 (64x64 input, many short parallel regions), a
compiled MobileNet-v2 at batch 1 (224x224, ~100 nodes),
one Trainer.step of seed_mnist_net at batch 64, and a 3x3 conv of 64 channels at 56x56.
Each round starts one process per policy, in turn; the table gives the median over rounds
of each process's median wall and CPU milliseconds per call. --busy runs one spinning
process beside them, as on a shared machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

POLICIES = {
    "default": {},
    "team sleeps at once": {"CNNNATIVE_SPIN_US": "0"},
    "team spins 10 us, yields 90 us (stop 23)": {"CNNNATIVE_SPIN_US": "100"},
    "team waits 1 ms": {"CNNNATIVE_SPIN_US": "1000"},
    "OMP_WAIT_POLICY=passive": {"OMP_WAIT_POLICY": "passive"},
    "GOMP_SPINCOUNT=1000": {"GOMP_SPINCOUNT": "1000"},
    "GOMP_SPINCOUNT=3000": {"GOMP_SPINCOUNT": "3000"},
    "GOMP_SPINCOUNT=10000": {"GOMP_SPINCOUNT": "10000"},
    "GOMP_SPINCOUNT=300000 (libgomp's default)": {"GOMP_SPINCOUNT": "300000"},
}

_CHILD = r"""
import json, sys, time
import numpy as np
import cnnnative as cn
from cnnnative import models, nn, optim

threads, repeats = int(sys.argv[1]), int(sys.argv[2])
cn.set_num_threads(threads)
rng = np.random.default_rng(0)

def timed(fn):
    for _ in range(3):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return 1e3 * float(np.median(wall)), 1e3 * float(np.median(cpu))

out = {}
nn.init.manual_seed(0)
run = cn.compile(cn.models.resnet18_module(), (1, 3, 64, 64))
x = rng.standard_normal((1, 3, 64, 64)).astype(np.float32)
out["ResNet-18 compiled b1 64x64"] = timed(lambda: run(x))
mobile = cn.compile(models.build("mobilenet_v2").eval(), (1, 3, 224, 224))
xm = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
out["MobileNet-v2 compiled b1 224x224"] = timed(lambda: mobile(xm))

model = models.build("seed_mnist_net")
trainer = cn.Trainer(model, optim.SGD(model, lr=0.01, momentum=0.9), seed=0)
xb = rng.random((64, 1, 28, 28), dtype=np.float32)
yb = rng.integers(0, 10, 64)
out["Trainer.step seed_mnist_net b64"] = timed(lambda: trainer.step(xb, yb))

xc = rng.standard_normal((1, 64, 56, 56)).astype(np.float32)
wc = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
out["conv 3x3 64ch 56x56 b1"] = timed(lambda: cn.ops.conv2d(xc, wc, padding=1))
print(json.dumps(out))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--busy", action="store_true", help="run one spinning process beside the workloads")
    args = ap.parse_args()

    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "CNNNATIVE_SPIN_US")}
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    results = {p: [] for p in POLICIES}
    try:
        for _ in range(args.rounds):
            for policy, extra in POLICIES.items():
                done = subprocess.run([sys.executable, "-c", _CHILD, str(args.threads), str(args.repeats)],
                                      env={**base, **extra}, capture_output=True, text=True, check=True)
                results[policy].append(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        if busy is not None:
            busy.kill()

    print(f"threads {args.threads}, rounds {args.rounds}, {'beside one busy process' if args.busy else 'no other load started'}; "
          f"ms per call, median over rounds (wall / CPU)")
    workloads = list(results[next(iter(POLICIES))][0])
    print("| workload | " + " | ".join(POLICIES) + " |")
    print("| --- |" + " --- |" * len(POLICIES))
    for w in workloads:
        cells = []
        for p in POLICIES:
            wall = statistics.median(r[w][0] for r in results[p])
            cpu = statistics.median(r[w][1] for r in results[p])
            cells.append(f"{wall:.2f} / {cpu:.2f}")
        print(f"| {w} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
