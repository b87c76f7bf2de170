"""cnnnative.distributed on one process: the API on the local communicator, the sampler's
sharding, DDP's buckets and its exact equality with plain training at world size 1,
SyncBatchNorm, metric reduction; and, with N threads as ranks (dist_threads.py), the
multi-rank logic (averaging, statistics across ranks, mismatch errors). Real MPI runs are in
test_distributed_mpi.py."""
from __future__ import annotations

import numpy as np
import pytest

import cnnnative.distributed as dist
from cnnnative import nn, ops, optim
from cnnnative.data import Dataset
from cnnnative.distributed.comm import LocalCommunicator
from cnnnative.nn import init as nn_init
from cnnnative.tensor import Tensor

from dist_threads import run_ranks


@pytest.fixture
def local():
    dist.destroy()
    comm = dist.init(backend="local")
    yield comm
    dist.destroy()


def small_net(batchnorm=False, seed=0):
    nn_init.manual_seed(seed)
    layers = [nn.Conv2d(1, 4, 3, padding=1, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(4))
    layers += [nn.ReLU(), nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 16, 3)]
    return nn.Sequential(*layers)


def batches(n_steps, batch, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((batch, 1, 8, 8)).astype(np.float32), rng.integers(0, 3, batch))
            for _ in range(n_steps)]


# -- API -----------------------------------------------------------------------------------

def test_init_local_and_module_functions(local):
    assert dist.is_initialized() and dist.get_communicator() is local
    assert (dist.rank(), dist.world_size(), dist.local_rank()) == (0, 1, 0)
    dist.barrier()
    a = np.arange(4, dtype=np.float32)
    assert dist.all_reduce_(a, "mean") is a and a.tolist() == [0, 1, 2, 3]
    assert dist.broadcast_(a, 0) is a
    assert [g.tolist() for g in dist.all_gather(a)] == [[0, 1, 2, 3]]
    assert dist.init() is local  # again: the same one
    with pytest.raises(RuntimeError, match="already initialised"):
        dist.init(backend="mpi")


def test_not_initialised_is_a_clear_error():
    dist.destroy()
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="init"):
        dist.rank()


def test_bad_arguments(local):
    with pytest.raises(ValueError, match="backend"):
        dist.init(backend="nccl")
    with pytest.raises(ValueError, match="op"):
        dist.all_reduce_(np.zeros(2, np.float32), "prod")
    with pytest.raises(TypeError, match="numpy"):
        dist.all_reduce_([1.0, 2.0])
    with pytest.raises(ValueError, match="contiguous"):
        dist.all_reduce_(np.zeros((4, 4), np.float32)[:, 1])
    with pytest.raises(ValueError, match="read-only"):
        ro = np.zeros(3, np.float32)
        ro.flags.writeable = False
        dist.all_reduce_(ro)
    with pytest.raises(TypeError, match="floating"):
        dist.all_reduce_(np.zeros(3, np.int64), "mean")
    with pytest.raises(ValueError, match="root"):
        dist.broadcast_(np.zeros(3, np.float32), 1)


def test_auto_under_a_launcher_without_mpi4py_is_an_error(monkeypatch):
    dist.destroy()
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    monkeypatch.setattr(dist, "mpi_available", lambda: False)
    with pytest.raises(RuntimeError, match="mpi4py"):
        dist.init()
    with pytest.raises(RuntimeError, match="mpi4py"):
        dist.init(backend="mpi")
    assert not dist.is_initialized()
    monkeypatch.delenv("OMPI_COMM_WORLD_SIZE")
    assert dist.init().backend == "local"
    dist.destroy()


def test_iall_reduce_request(local):
    a = np.ones(3, np.float32)
    req = local.iall_reduce_(a, "sum")
    assert req.test() and req.wait() is a


# -- sampler -------------------------------------------------------------------------------

@pytest.mark.parametrize("n,replicas,drop_last", [(10, 3, False), (10, 3, True), (12, 4, False), (2, 4, False),
                                                  (7, 1, False)])
def test_sampler_shards_are_equal_disjoint_and_cover(n, replicas, drop_last):
    shards = [dist.DistributedSampler(n, replicas, r, shuffle=True, seed=3, drop_last=drop_last).indices()
              for r in range(replicas)]
    sizes = {len(s) for s in shards}
    assert len(sizes) == 1
    size = sizes.pop()
    assert size == (n // replicas if drop_last else -(-n // replicas))
    everything = np.concatenate(shards)
    if drop_last:
        assert len(set(everything.tolist())) == len(everything)  # disjoint
    else:
        assert set(everything.tolist()) == set(range(n))  # covering
        assert len(everything) - len(set(everything.tolist())) == replicas * size - n  # only padding repeats
    assert everything.min() >= 0 and everything.max() < n


def test_sampler_same_order_on_every_rank_and_epoch_changes_it():
    a = [dist.DistributedSampler(100, 4, r, seed=5) for r in range(4)]
    orders = [s.global_order() for s in a]
    assert all(np.array_equal(orders[0], o) for o in orders)
    for s in a:
        s.set_epoch(1)
    assert not np.array_equal(a[0].global_order(), orders[0])
    assert np.array_equal(a[0].global_order(), a[1].global_order())
    unshuffled = dist.DistributedSampler(10, 2, 1, shuffle=False)
    assert list(unshuffled) == [1, 3, 5, 7, 9] and len(unshuffled) == 5


def test_sampler_rank_batches_together_are_the_big_batch():
    data = Dataset(np.arange(40 * 4, dtype=np.float32).reshape(40, 1, 2, 2), np.arange(40) % 3)
    big = dist.DistributedSampler(len(data), 1, 0, seed=9)
    small = [dist.DistributedSampler(len(data), 4, r, seed=9) for r in range(4)]
    for s in [big] + small:
        s.set_epoch(2)
    for step, (x, y) in enumerate(big.batches(data, 8)):
        parts = [list(s.batches(data, 2))[step] for s in small]
        assert sorted(np.concatenate([p[1] for p in parts]).tolist()) == sorted(y.tolist())
        assert sorted(np.concatenate([p[0] for p in parts]).ravel().tolist()) == sorted(x.ravel().tolist())


def test_sampler_errors_and_defaults(local):
    s = dist.DistributedSampler(Dataset(np.zeros((5, 1, 2, 2), np.float32), np.zeros(5, np.int64)))
    assert (s.num_replicas, s.rank, len(s)) == (1, 0, 5)
    with pytest.raises(ValueError, match="rank"):
        dist.DistributedSampler(10, 2, 2)
    with pytest.raises(ValueError, match="num_replicas"):
        dist.DistributedSampler(10, 0, 0)
    with pytest.raises(ValueError, match="empty"):
        dist.DistributedSampler(3, 4, 0, drop_last=True)
    with pytest.raises(ValueError, match="5 samples"):
        next(dist.DistributedSampler(6, 2, 0).batches(Dataset(np.zeros((5, 1, 2, 2), np.float32),
                                                              np.zeros(5, np.int64)), 2))
    assert s.num_batches(2) == 3 and s.num_batches(2, drop_last=True) == 2


def test_rank_seed():
    assert dist.rank_seed(1, 2, 0).entropy == np.random.SeedSequence([1, 2]).entropy
    draws = {tuple(np.random.default_rng(dist.rank_seed(1, 2, r)).integers(0, 2 ** 31, 4)) for r in range(4)}
    assert len(draws) == 4
    assert np.random.default_rng(dist.rank_seed(1, 2, 3)).integers(0, 9, 5).tolist() == \
        np.random.default_rng(dist.rank_seed(1, 2, 3)).integers(0, 9, 5).tolist()


# -- DDP, one rank -------------------------------------------------------------------------

def test_buckets_reverse_order_cap_and_frozen(local):
    model = small_net()
    model[0].weight.requires_grad_(False)
    sizes = {n: p.data.size * 4 for n, p in model.named_parameters()}
    cap_mb = 1000 / (1024 * 1024)  # 1000 bytes
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=cap_mb)
    layout = ddp.bucket_layout()
    flat = [n for b in layout for n in b]
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert flat == trainable[::-1] and "0.weight" not in flat
    for b in layout:
        assert len(b) == 1 or sum(sizes[n] for n in b) <= 1000
    assert any(len(b) > 1 for b in layout)
    big = dist.DistributedDataParallel(small_net(seed=1), bucket_cap_mb=25)
    assert len(big.bucket_layout()) == 1


def test_ddp_is_a_module_wrapper(local):
    model = small_net()
    ddp = dist.DistributedDataParallel(model)
    assert ddp.module is model
    assert list(ddp.state_dict()) == ["module." + k for k in model.state_dict()]
    x = batches(1, 2)[0][0]
    np.testing.assert_array_equal(np.asarray(ddp(x)), np.asarray(model(x)))
    ddp.eval()
    assert not model.training
    with pytest.raises(TypeError, match="Module"):
        dist.DistributedDataParallel(lambda x: x)
    with pytest.raises(ValueError, match="bucket_cap_mb"):
        dist.DistributedDataParallel(small_net(), bucket_cap_mb=0)
    with pytest.raises(ValueError, match="another live"):
        dist.DistributedDataParallel(model)
    ddp.remove_hooks()
    dist.DistributedDataParallel(model)


def _train(model, opt_name, data, accumulate=1, ddp=None):
    opt = (optim.SGD(model.parameters(), lr=0.05, momentum=0.9) if opt_name == "sgd"
           else optim.Adam(model.parameters(), lr=1e-3))
    for i in range(0, len(data), accumulate):
        opt.zero_grad()
        for k, (x, y) in enumerate(data[i:i + accumulate]):
            if ddp is not None and k < accumulate - 1:
                with ddp.no_sync():
                    ops.cross_entropy(model(x), y).backward()
            else:
                ops.cross_entropy(model(x), y).backward()
        opt.step()
    return model


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
@pytest.mark.parametrize("cap", [1e-5, 25])
def test_ddp_world_size_one_equals_plain_training_exactly(local, opt_name, cap):
    data = batches(6, 4)
    plain = _train(small_net(batchnorm=True), opt_name, data)
    model = small_net(batchnorm=True)
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=cap)
    _train(ddp, opt_name, data)
    for (k, a), b in zip(plain.state_dict().items(), model.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)


def test_no_sync_accumulates_locally_then_syncs(local):
    data = batches(6, 4)
    plain = _train(small_net(), "sgd", data, accumulate=3)
    model = small_net()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=1e-5)
    _train(ddp, "sgd", data, accumulate=3, ddp=ddp)
    for a, b in zip(plain.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_unused_parameter_keeps_grad_none_and_freezing_later_rebuilds(local):
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 2)

        def forward(self, x):
            return self.a(x)

    model = TwoHeads()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=1e-5)
    x = np.ones((2, 3), np.float32)
    ddp(x).sum().backward()
    assert model.a.weight.grad is not None and model.b.weight.grad is None
    model.a.bias.requires_grad_(False)
    model.zero_grad()
    ddp(x).sum().backward()
    assert "a.bias" not in [n for b in ddp.bucket_layout() for n in b]
    assert model.a.weight.grad is not None and model.a.bias.grad is None


def test_finish_gradient_sync_is_idempotent(local):
    ddp = dist.DistributedDataParallel(small_net())
    ddp.finish_gradient_sync()
    x, y = batches(1, 2)[0]
    ops.cross_entropy(ddp(x), y).backward()
    g = [p.grad.copy() for p in ddp.parameters()]
    ddp.finish_gradient_sync()
    for a, p in zip(g, ddp.parameters()):
        np.testing.assert_array_equal(a, p.grad)


# -- several ranks as threads --------------------------------------------------------------

def test_threads_ddp_averages_and_broadcasts_from_rank_zero():
    n, b = 3, 2
    data = batches(4, n * b, seed=4)

    models = [small_net(seed=10 + r) for r in range(n)]  # different weights: rank 0's must win

    def rank_fn(comm):
        model = models[comm.rank]
        ddp = dist.DistributedDataParallel(model, bucket_cap_mb=1e-4, communicator=comm)
        mine = [(x[comm.rank * b:(comm.rank + 1) * b], y[comm.rank * b:(comm.rank + 1) * b]) for x, y in data]
        _train(ddp, "sgd", mine)
        return model.state_dict()

    states = run_ranks(n, rank_fn)
    ref = _train(small_net(seed=10), "sgd", data).state_dict()
    for k in ref:
        for s in states[1:]:
            np.testing.assert_array_equal(states[0][k], s[k])
        np.testing.assert_allclose(states[0][k], ref[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_threads_structure_mismatch_names_parameter_and_ranks():
    def rank_fn(comm):
        width = 5 if comm.rank == 2 else 4
        model = nn.Sequential(nn.Linear(3, width), nn.ReLU(), nn.Linear(width, 2))
        try:
            dist.DistributedDataParallel(model, communicator=comm)
        except ValueError as e:
            return str(e)
        return None

    msgs = run_ranks(3, rank_fn)
    assert all(m == msgs[0] for m in msgs) and msgs[0] is not None
    assert "'0.weight'" in msgs[0] and "rank(s) 2" in msgs[0] and "[5, 3]" in msgs[0]


def test_threads_syncbatchnorm_equals_batchnorm_on_the_whole_batch():
    n = 2
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2 * n, 3, 4, 4)) * 2 + 5).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)

    ref = nn.BatchNorm2d(3)
    ref.weight.data[:] = [1.0, 2.0, 0.5]
    xt = Tensor(x, requires_grad=True)
    out = ref(xt)
    out.backward(gy)

    def rank_fn(comm):
        bn = dist.SyncBatchNorm(3, communicator=comm)
        bn.weight.data[:] = [1.0, 2.0, 0.5]
        sl = slice(comm.rank * 2, comm.rank * 2 + 2)
        xr = Tensor(x[sl], requires_grad=True)
        y = bn(xr)
        # The loss on rank r is the sum over its samples; N ranks' gradients add up to the whole.
        y.backward(gy[sl])
        return y.data, xr.grad, bn.weight.grad, bn.bias.grad, bn.running_mean.copy(), bn.running_var.copy()

    res = run_ranks(n, rank_fn)
    np.testing.assert_allclose(np.concatenate([r[0] for r in res]), out.data, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.concatenate([r[1] for r in res]), xt.grad, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sum(r[2] for r in res), ref.weight.grad, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sum(r[3] for r in res), ref.bias.grad, rtol=1e-4, atol=1e-5)
    for r in res:
        np.testing.assert_allclose(r[4], ref.running_mean, rtol=1e-6)
        np.testing.assert_allclose(r[5], ref.running_var, rtol=1e-5)


def test_threads_metrics_reduce_sums_not_means():
    def rank_fn(comm):
        # rank 0: 1 sample, correct; rank 1: 3 samples, 1 correct
        if comm.rank == 0:
            return dist.reduce_metric_sums(2.0, 1, {"accuracy": (1, 1)}, communicator=comm)
        return dist.reduce_metric_sums(6.0, 3, {"accuracy": (1, 3)}, communicator=comm)

    for loss, n, metrics in run_ranks(2, rank_fn):
        assert n == 4 and loss == pytest.approx(2.0) and metrics["accuracy"] == pytest.approx(0.5)


# -- SyncBatchNorm, one rank ---------------------------------------------------------------

def test_syncbatchnorm_one_rank_is_batchnorm_and_sync_path_matches(local):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((4, 3, 5, 5)) + 3).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)
    ref, plain, forced = nn.BatchNorm2d(3, momentum=None), dist.SyncBatchNorm(3, momentum=None), \
        dist.SyncBatchNorm(3, momentum=None)
    forced._always_sync = True
    outs = []
    for m in (ref, plain, forced):
        m.weight.data[:] = [0.5, 1.0, 2.0]
        m.bias.data[:] = [0.1, 0.0, -0.2]
        xt = Tensor(x, requires_grad=True)
        for _ in range(2):
            y = m(xt)
        y.backward(gy)
        outs.append((y.data, xt.grad, m.weight.grad, m.bias.grad, m.running_mean, m.running_var,
                     int(m.num_batches_tracked)))
    for a, b in zip(outs[0], outs[1]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(outs[0][:6], outs[2][:6]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)
    assert outs[2][6] == 2
    for m in (ref, forced):
        m.eval()
    np.testing.assert_array_equal(np.asarray(ref(x)), np.asarray(forced(x)))


def test_convert_sync_batchnorm_shares_state_and_keeps_state_dict(local):
    model = small_net(batchnorm=True)
    model.add_module("bn1d", nn.BatchNorm1d(3))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    weight = model[1].weight
    converted = dist.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model and isinstance(model[1], dist.SyncBatchNorm) and model[1].weight is weight
    assert isinstance(model.bn1d, dist.SyncBatchNorm)
    assert list(model.state_dict()) == list(before)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    single = dist.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm2d(2))
    assert isinstance(single, dist.SyncBatchNorm)
    y = model.bn1d(np.ones((4, 3), np.float32))
    assert np.shape(y) == (4, 3)


def test_syncbatchnorm_one_value_per_channel_is_an_error():
    def rank_fn(comm):
        bn = dist.SyncBatchNorm(2, communicator=comm)
        return bn(np.ones((1, 2, 1, 1), np.float32) * comm.rank)

    out = run_ranks(2, rank_fn)  # two ranks, one value each: two in all, fine
    assert np.shape(out[0]) == (1, 2, 1, 1)
    forced = dist.SyncBatchNorm(2, communicator=LocalCommunicator())
    forced._always_sync = True
    with pytest.raises(ValueError, match="more than 1 value"):
        forced(np.ones((1, 2, 1, 1), np.float32))


# -- metrics -------------------------------------------------------------------------------

def test_reduce_tally_local(local):
    from cnnnative.train import _Tally
    from cnnnative.train_loss import resolve_metrics
    t = _Tally(resolve_metrics(None, "classification", None))
    t.add(0.5, np.array([[1.0, 0.0], [0.0, 1.0]], np.float32), np.array([0, 0]))
    dist.reduce_tally(t)
    assert t.n == 2 and t.loss == pytest.approx(0.5) and t.values()["accuracy"] == pytest.approx(0.5)


def test_one_replica_batches_are_exactly_the_plain_trainers():
    from cnnnative.data.augment import Compose, RandomCrop, RandomHorizontalFlip
    rng = np.random.default_rng(0)
    data = Dataset(rng.integers(0, 255, (23, 1, 6, 6)).astype(np.uint8), rng.integers(0, 3, 23),
                   transform=Compose([RandomCrop(6, 1), RandomHorizontalFlip()]))
    s = dist.DistributedSampler(len(data), 1, 0, shuffle=True, seed=4)
    s.set_epoch(3)
    plain = list(data.batches(5, shuffle=True, seed=np.random.default_rng(np.random.SeedSequence([4, 3]))))
    mine = list(s.batches(data, 5))
    assert len(plain) == len(mine) == 5
    for (xa, ya), (xb, yb) in zip(plain, mine):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_sync_gradients_by_hand_and_recovery_after_a_failed_backward(local):
    model = small_net()
    ddp = dist.DistributedDataParallel(model)
    for p in model.parameters():
        p.grad = np.full(p.data.shape, 2.0, np.float32)
    ddp.sync_gradients()
    assert all((p.grad == 2.0).all() for p in model.parameters())

    x, y = batches(1, 2)[0]
    failing = nn.Parameter(np.ones(1, np.float32))  # its gradient is final last: at the input
    failing.register_post_accumulate_grad_hook(lambda t: (_ for _ in ()).throw(KeyboardInterrupt()))
    out = ddp(Tensor(x) * failing)
    with pytest.raises(KeyboardInterrupt):
        ops.cross_entropy(out, y).backward()
    assert ddp._pending  # some buckets were filled when backward stopped
    model.zero_grad()
    ops.cross_entropy(ddp(x), y).backward()  # one rank: starts over
    assert all(p.grad is not None for p in model.parameters())


def test_threads_broadcast_buffers_keeps_rank_zero_running_stats():
    n = 2
    models = [small_net(batchnorm=True, seed=0) for _ in range(n)]
    for r, m in enumerate(models):
        m[1].running_mean[:] = r + 1.0  # each rank's own statistics

    def rank_fn(comm):
        model = models[comm.rank]
        ddp = dist.DistributedDataParallel(model, communicator=comm)
        assert (model[1].running_mean == 1.0).all()  # rank 0's, broadcast at construction
        model[1].running_mean[:] = 5.0 + comm.rank
        ddp(np.zeros((2, 1, 8, 8), np.float32))  # broadcast again, then updated by this batch (mean 0)
        return model[1].running_mean.copy()

    for out in run_ranks(n, rank_fn):
        np.testing.assert_allclose(out, 5.0 * 0.9, rtol=1e-6)


def test_threads_any_buffer_dtype_is_broadcast():
    class WithFlags(nn.Module):
        def __init__(self, r):
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.register_buffer("mask", np.array([r == 0, True, r != 0]))
            self.register_buffer("half", np.full(3, r, np.float16))

        def forward(self, x):
            return self.fc(x)

    models = [WithFlags(r) for r in range(2)]

    def rank_fn(comm):
        dist.DistributedDataParallel(models[comm.rank], communicator=comm)
        return models[comm.rank].mask.copy(), models[comm.rank].half.copy()

    for mask, half in run_ranks(2, rank_fn):
        assert mask.tolist() == [True, True, False] and half.tolist() == [0, 0, 0]


def test_nn_syncbatchnorm_alias_and_compiled_eval_equals_eager(local):
    import cnnnative as cn
    assert nn.SyncBatchNorm is dist.SyncBatchNorm
    with pytest.raises(AttributeError):
        nn.NoSuchLayer
    model = dist.SyncBatchNorm.convert_sync_batchnorm(small_net(batchnorm=True))
    model(np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32))  # running stats move
    model.eval()
    x = np.random.default_rng(1).standard_normal((2, 1, 8, 8)).astype(np.float32)
    with cn.no_grad():
        eager = np.asarray(model(x))
    np.testing.assert_allclose(cn.compile(model, (2, 1, 8, 8))(x), eager, rtol=1e-5, atol=1e-5)
