"""Run under `mpiexec -n N python ddp_equivalence.py OUT.json [scenario ...]`.

Each scenario trains a small conv net for 20 steps two ways, from the same initial weights
and the same global data order:
- distributed: N ranks, DistributedDataParallel, DistributedSampler, per-rank batch B;
- reference (on rank 0 only): one process, the plain model, batch N*B
  (DistributedSampler(num_replicas=1)), BatchNorm2d where the distributed model has
  SyncBatchNorm.
Rank 0 writes {scenario: {"rel_err": max over tensors of max|a-b| / max|b|, "rank_spread":
max difference between ranks' weights, ...}} to OUT.json. Each rank starts from different
random weights, so the broadcast from rank 0 is exercised too.
"""
import json
import sys
import time

import numpy as np

import cnnnative.distributed as dist
from cnnnative import nn, ops, optim
from cnnnative.data import Dataset
from cnnnative.nn import init as nn_init

STEPS, B = 20, 4


def make_net(batchnorm, seed):
    # A conv followed by BatchNorm has no bias (as in ResNets): BatchNorm cancels it, so its
    # gradient is zero plus rounding noise, and Adam would turn that noise into full steps.
    nn_init.manual_seed(seed)
    layers = [nn.Conv2d(1, 6, 3, padding=1, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(6))
    layers += [nn.ReLU(), nn.Conv2d(6, 8, 3, stride=2, padding=1, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(8))
    layers += [nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 5)]
    return nn.Sequential(*layers)


def make_opt(name, params):
    if name == "sgd":
        return optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-4)
    # eps 1e-6 rather than 1e-8: Adam's first steps are about lr * sign(grad), so a gradient
    # component that happens to be ~1e-9 turns float32 rounding noise (a different order of
    # the same sums) into a visible weight difference. Measured on this net with eps 1e-8:
    # ONE process, the same batches with their samples reordered, ends 8.5e-4 apart (and
    # 2e-7 with another reordering); with eps 1e-6 the floor is 2e-7 ("reorder_floor").
    return optim.Adam(params, lr=1e-3, eps=1e-6)


def dataset(n):
    rng = np.random.default_rng(123)
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32) + 0.5
    y = rng.integers(0, 5, n)
    return Dataset(x, y, num_classes=5)


def train(model, opt, sampler, data, batch, accumulate=1, ddp=None, reorder=None):
    """STEPS optimizer steps; with accumulate > 1 each step sums `accumulate` micro-batches
    (losses divided by accumulate), the first ones under no_sync(). reorder: a Generator
    that permutes the samples inside each batch (the same math, other rounding)."""
    sampler.set_epoch(0)
    batches = sampler.batches(data, batch)
    if reorder is not None:
        batches = ((x[p], y[p]) for x, y in batches for p in [reorder.permutation(len(y))])
    for _ in range(STEPS):
        opt.zero_grad()
        for k in range(accumulate):
            x, y = next(batches)
            last = k == accumulate - 1
            ctx = ddp.no_sync() if (ddp is not None and not last) else _Null()
            with ctx:
                loss = ops.cross_entropy(model(x), y)
                if accumulate > 1:
                    loss = loss * (1.0 / accumulate)
                loss.backward()
        opt.step()


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def rel_err(a_state, b_state, counters=True):
    """max over tensors of max|a - b| / max|b|; counters (num_batches_tracked) must be equal
    (else inf) unless counters=False."""
    worst = 0.0
    for k, b in b_state.items():
        a = a_state[k]
        if not np.issubdtype(np.asarray(b).dtype, np.floating):
            if counters and not np.array_equal(a, b):
                return float("inf")
            continue
        scale = max(float(np.abs(b).max()), 1e-12)
        worst = max(worst, float(np.abs(np.asarray(a, np.float64) - b).max()) / scale)
    return worst


def scenario(comm, name):
    opt_name = "adam" if "adam" in name else "sgd"
    bn = "syncbn" in name
    accumulate = 2 if "nosync" in name else 1
    cap = 1e-4 if "tiny" in name else 25
    n = comm.size
    data = dataset(n * B * STEPS * accumulate)

    t0 = time.perf_counter()
    model = make_net(bn, seed=1 + comm.rank)  # different on each rank: DDP broadcasts rank 0's
    if bn:
        model = dist.SyncBatchNorm.convert_sync_batchnorm(model)
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=cap, communicator=comm)
    opt = make_opt(opt_name, ddp.parameters())
    sampler = dist.DistributedSampler(len(data), num_replicas=n, rank=comm.rank, shuffle=True, seed=7)
    train(ddp, opt, sampler, data, B, accumulate, ddp)
    seconds = time.perf_counter() - t0
    state = model.state_dict()
    everyone = comm.all_gather_object(state)
    spread = max(rel_err(s, state) for s in everyone)
    result = {"rank_spread": spread, "seconds": seconds, "buckets": len(ddp.bucket_layout())}
    if comm.rank == 0:
        ref = make_net(bn, seed=1)
        ref_opt = make_opt(opt_name, ref.parameters())
        ref_sampler = dist.DistributedSampler(len(data), num_replicas=1, rank=0, shuffle=True, seed=7)
        train(ref, ref_opt, ref_sampler, data, n * B, accumulate)
        result["rel_err"] = rel_err(state, ref.state_dict())
        # The problem's own sensitivity to rounding: one process, samples reordered in each batch.
        again = make_net(bn, seed=1)
        train(again, make_opt(opt_name, again.parameters()), ref_sampler, data, n * B, accumulate,
              reorder=np.random.default_rng(1))
        result["reorder_floor"] = rel_err(again.state_dict(), ref.state_dict())
        result["moved"] = rel_err(make_net(bn, seed=1).state_dict(), ref.state_dict(), counters=False)
    return result, state


def mismatch(comm):
    """Rank 1 builds a different model: every rank must raise the same clear ValueError."""
    nn_init.manual_seed(1)
    width = 6 if comm.rank != 1 else 7
    model = nn.Sequential(nn.Conv2d(1, width, 3), nn.ReLU(), nn.Flatten(), nn.Linear(width * 36, 5))
    try:
        dist.DistributedDataParallel(model, communicator=comm)
    except ValueError as e:
        return {"error": str(e)}, None
    return {"error": None}, None


def metrics(comm):
    """Ranks with different sample counts: the reduced mean is the mean of the union."""
    n = comm.rank + 1
    correct = 1 if comm.rank == 0 else 0
    loss, count, means = dist.reduce_metric_sums(float(n * (comm.rank + 1)), n, {"accuracy": (correct, n)},
                                                 communicator=comm)
    return {"loss": loss, "count": count, "accuracy": means["accuracy"]}, None


def main():
    out = sys.argv[1]
    names = sys.argv[2:] or ["sgd", "adam", "sgd_syncbn", "adam_syncbn", "sgd_tiny", "sgd_nosync"]
    comm = dist.init(backend="mpi")
    results, states = {}, {}
    for name in names:
        results[name], states[name] = (mismatch(comm) if name == "mismatch" else
                                        metrics(comm) if name == "metrics" else scenario(comm, name))
    if "sgd" in states and "sgd_tiny" in states:  # bucket boundaries must not change anything
        results["sgd_tiny"]["vs_large_buckets"] = rel_err(states["sgd_tiny"], states["sgd"])
        results["sgd_tiny"]["bitwise_equal_large_buckets"] = all(
            np.array_equal(states["sgd_tiny"][k], states["sgd"][k]) for k in states["sgd"])
    if comm.rank == 0:
        with open(out, "w") as f:
            json.dump({"world_size": comm.size, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
