"""Data-parallel training on MPI: weak scaling, all-reduce bandwidth, overlap.

    PYTHONPATH=python python benchmarks/bench_distributed.py [--rounds 3] [--steps 12]
        [--models seed_mnist_net,resnet20] [--skip scaling,bandwidth,overlap]

Needs mpi4py and mpiexec (pip install 'cnnnative[mpi]'). Every rank runs 1 kernel thread.

- scaling (weak): images/s of Trainer.step on generated data, per-rank batch fixed (64 for
  seed_mnist_net 28x28, 32 for ResNet-20 32x32): 1 rank (the plain Trainer, no
  communication) vs 2 ranks (Trainer(distributed=True), global batch twice as big), and
  2 processes training alone side by side (no communication: what sharing the cores costs
  by itself). Runs alternate 1, 2, 2-alone, 1, ... (machine noise hits all alike); the
  medians are compared.
  Besides wall time, each rank's CPU time per step is reported: on a shared machine the
  wall-clock ratio says as much about the neighbours as about us; CPU time per image
  shows what the work costs.
- bandwidth: MPI all-reduce (sum, float32, in place) of 4 KiB .. 64 MiB on 2 ranks: time
  per call and bus bandwidth (2 (n-1)/n x bytes / time, the NCCL-tests convention).
- overlap: on 2 ranks, ResNet-20's backward alone (no communication), backward with
  DistributedDataParallel (buckets all-reduced while backward runs, awaited at the end),
  and the all-reduce of all its buckets alone (best of 7, alternating); hidden = (alone +
  reduce - with) / reduce, meaningful only when the all-reduce is not tiny next to the
  noise of backward.

Prints tables and one JSON line per result ("bench_distributed: {...}").
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = os.path.join(HERE, "..", "python")
BATCH = {"seed_mnist_net": 64, "resnet20": 32}
SHAPE = {"seed_mnist_net": (1, 28, 28), "resnet20": (3, 32, 32)}
YIELD = False  # --yield-when-idle: MPI waits yield the core instead of spinning


# -- the worker (one rank) -----------------------------------------------------------------------
def _cpu():
    return time.process_time()


def worker_scaling(model_name, steps, warmup, distributed):
    import numpy as np
    import cnnnative
    from cnnnative import models, nn, optim
    from cnnnative.train import Trainer

    cnnnative.set_num_threads(1)
    nn.init.manual_seed(0)
    model = models.build(model_name, **({"num_classes": 10} if model_name == "resnet20" else {}))
    opt = optim.SGD(model, lr=0.01, momentum=0.9)
    t = Trainer(model, opt, quiet=True, distributed=True if distributed else None)
    size = t.dist.size if t.dist else 1
    rng = np.random.default_rng(t.dist.rank if t.dist else 0)
    b = BATCH[model_name]
    x = rng.standard_normal((b,) + SHAPE[model_name]).astype(np.float32)
    y = rng.integers(0, 10, b)
    for _ in range(warmup):
        t.step(x, y)
    if t.dist:
        t.dist.comm.barrier()
    w0, c0 = time.perf_counter(), _cpu()
    for _ in range(steps):
        t.step(x, y)
    if t.dist:
        t.dist.comm.barrier()
    wall, cpu = time.perf_counter() - w0, _cpu() - c0
    cpus = [cpu] if not t.dist else t.dist.comm.all_gather_object(cpu)
    if not t.dist or t.dist.rank == 0:
        print("RESULT " + json.dumps({"images_per_second": size * b * steps / wall, "step_seconds": wall / steps,
                                      "cpu_seconds_per_step": [c / steps for c in cpus], "ranks": size}))


def worker_bandwidth(repeats):
    import numpy as np
    from cnnnative.distributed import MPICommunicator
    comm = MPICommunicator()
    rows = []
    for kib in [4 * 4 ** i for i in range(7)]:  # 4 KiB .. 64 MiB
        a = np.ones(kib * 256, np.float32)
        n = max(5, min(repeats, int(1024 * 1024 / kib)))
        comm.all_reduce_(a)
        times = []
        for _ in range(n):
            comm.barrier()
            t0 = time.perf_counter()
            comm.all_reduce_(a)
            times.append(time.perf_counter() - t0)
        t, best = statistics.median(times), min(times)
        bus = 2 * (comm.size - 1) / comm.size * a.nbytes
        rows.append({"bytes": a.nbytes, "seconds": t, "best_seconds": best, "calls": n,
                     "bus_gb_per_s": bus / t / 1e9, "best_bus_gb_per_s": bus / best / 1e9})
    if comm.rank == 0:
        print("RESULT " + json.dumps(rows))


def worker_overlap(repeats, cap):
    import numpy as np
    import cnnnative
    from cnnnative import models, nn, ops
    from cnnnative.distributed import DistributedDataParallel, MPICommunicator

    cnnnative.set_num_threads(1)
    comm = MPICommunicator()
    nn.init.manual_seed(0)
    model = models.build("resnet20", num_classes=10)
    rng = np.random.default_rng(comm.rank)
    x = rng.standard_normal((BATCH["resnet20"],) + SHAPE["resnet20"]).astype(np.float32)
    y = rng.integers(0, 10, len(x))

    def backward_time(net):
        for p in model.parameters():
            p.grad = None
        loss = ops.cross_entropy(net(x), y)
        comm.barrier()
        t0 = time.perf_counter()
        loss.backward()
        return time.perf_counter() - t0

    alone, with_comm = [], []
    ddp = DistributedDataParallel(model, communicator=comm, bucket_cap_mb=cap)
    buckets = [b.buffer.copy() for b in ddp._buckets]
    ddp.remove_hooks()
    for _ in range(repeats):  # alternate: noise hits both alike
        alone.append(backward_time(model))
        ddp._build_buckets()
        with_comm.append(backward_time(ddp))
        ddp.remove_hooks()
    reduce_times = []
    for _ in range(repeats):
        comm.barrier()
        t0 = time.perf_counter()
        for b in buckets:
            comm.all_reduce_(b)
        reduce_times.append(time.perf_counter() - t0)
    if comm.rank == 0:
        a, w, r = min(alone), min(with_comm), min(reduce_times)  # best of: the least disturbed
        print("RESULT " + json.dumps({"backward_alone": a, "backward_with_ddp": w, "allreduce_alone": r,
                                      "buckets": len(buckets), "median_alone": statistics.median(alone),
                                      "median_with_ddp": statistics.median(with_comm),
                                      "hidden_fraction": (a + r - w) / r if r else None}))


# -- the launcher ---------------------------------------------------------------------------------
def _mpiexec(n):
    near = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    cmd = [near if os.access(near, os.X_OK) else "mpiexec", "--oversubscribe", "-n", str(n)]
    if os.geteuid() == 0:
        cmd.insert(1, "--allow-run-as-root")
    return cmd


def _run(cmd):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.path.abspath(PY))
    if YIELD:
        env["OMPI_MCA_mpi_yield_when_idle"] = "1"
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")


def _me(*args):
    return [sys.executable, os.path.abspath(__file__), "--worker", *args]


def scaling(models, rounds, steps, warmup):
    out = []
    for name in models:
        one, two, apart = [], [], []
        for _ in range(rounds):
            one.append(_run(_me("scaling", name, str(steps), str(warmup), "0")))
            two.append(_run(_mpiexec(2) + _me("scaling", name, str(steps), str(warmup), "1")))
            apart.append(_run(_mpiexec(2) + _me("scaling", name, str(steps), str(warmup), "0")))
        i1 = statistics.median(r["images_per_second"] for r in one)
        i2 = statistics.median(r["images_per_second"] for r in two)
        c1 = statistics.median(r["cpu_seconds_per_step"][0] for r in one) / BATCH[name]
        c2 = statistics.median(sum(r["cpu_seconds_per_step"]) for r in two) / (2 * BATCH[name])
        # Two processes training alone (no communication): what sharing the cores costs.
        i0 = 2 * statistics.median(r["images_per_second"] for r in apart)
        c0 = statistics.median(r["cpu_seconds_per_step"][0] for r in apart) / BATCH[name]
        row = {"model": name, "batch_per_rank": BATCH[name], "one_rank_img_s": i1, "two_ranks_img_s": i2,
               "speedup": i2 / i1, "cpu_ms_per_image_1": 1e3 * c1, "cpu_ms_per_image_2": 1e3 * c2,
               "two_alone_img_s": i0, "cpu_ms_per_image_2_alone": 1e3 * c0,
               "runs_1": [round(r["images_per_second"], 1) for r in one],
               "runs_2": [round(r["images_per_second"], 1) for r in two]}
        print(f"{name:16s} 1x1 {i1:8.1f} img/s   2x1 {i2:8.1f} img/s   speedup {i2 / i1:5.2f}   "
              f"CPU ms/image {1e3 * c1:6.2f} -> {1e3 * c2:6.2f}   (2 alone, no communication: {i0:8.1f} img/s, "
              f"{1e3 * c0:6.2f} CPU ms/image)", flush=True)
        print("bench_distributed: " + json.dumps({"scaling": row}), flush=True)
        out.append(row)
    return out


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == "scaling":
            return worker_scaling(rest[0], int(rest[1]), int(rest[2]), rest[3] == "1")
        if kind == "bandwidth":
            return worker_bandwidth(int(rest[0]))
        return worker_overlap(int(rest[0]), float(rest[1]))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--models", default="seed_mnist_net,resnet20")
    p.add_argument("--skip", default="")
    p.add_argument("--yield-when-idle", action="store_true",
                   help="Open MPI's mpi_yield_when_idle=1: a rank waiting for another yields its core")
    a = p.parse_args()
    global YIELD
    YIELD = a.yield_when_idle
    skip = set(a.skip.split(",")) - {""}
    with open("/proc/loadavg") as f:
        print(f"load average at start: {f.read().split()[:3]}; {os.cpu_count()} CPUs", flush=True)
    if "scaling" not in skip:
        print("\nweak scaling: Trainer.step, 1 thread per rank")
        scaling(a.models.split(","), a.rounds, a.steps, a.warmup)
    if "bandwidth" not in skip:
        rows = _run(_mpiexec(2) + _me("bandwidth", "20"))
        print("\nall-reduce on 2 ranks (float32 sum, in place): median and best of `calls`\n"
              "     bytes  calls  median us   best us  bus GB/s (median)  (best)")
        for r in rows:
            print(f"{r['bytes']:10d} {r['calls']:6d} {1e6 * r['seconds']:10.1f} {1e6 * r['best_seconds']:9.1f} "
                  f"{r['bus_gb_per_s']:18.2f} {r['best_bus_gb_per_s']:7.2f}")
        print("bench_distributed: " + json.dumps({"bandwidth": rows}), flush=True)
    for cap in ([] if "overlap" in skip else ["25", "0.25"]):
        r = _run(_mpiexec(2) + _me("overlap", "7", cap))
        r["bucket_cap_mb"] = float(cap)
        print(f"\noverlap (ResNet-20, batch {BATCH['resnet20']}/rank, {r['buckets']} bucket(s) of <= {cap} MiB): "
              f"backward {1e3 * r['backward_alone']:.1f} ms alone, {1e3 * r['backward_with_ddp']:.1f} ms with "
              f"DDP; all-reduce alone {1e3 * r['allreduce_alone']:.1f} ms; hidden fraction "
              f"{r['hidden_fraction']:.2f}")
        print("bench_distributed: " + json.dumps({"overlap": r}), flush=True)
    with open("/proc/loadavg") as f:
        print(f"load average at end: {f.read().split()[:3]}")


if __name__ == "__main__":
    main()
