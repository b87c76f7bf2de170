"""What Trainer(distributed=...) adds to the training loop (train.py calls in here).

- The model is wrapped in DistributedDataParallel (parameters broadcast from rank 0,
  gradients averaged during backward); the Trainer keeps the plain model as `.model`
  (checkpoints hold its keys, without "module.").
- Each epoch, rank r trains on its shard of one permutation shared by every rank
  (DistributedSampler, seeded by (seed, epoch)), batch_size samples per rank per step.
  With N ranks, step t of an epoch uses exactly the samples of step t of one process
  with batch N * batch_size (the global batch), so N ranks compute what one process
  computes (up to float rounding, and BatchNorm statistics per rank unless SyncBatchNorm).
  Augmentation draws from a generator per rank (rank 0's equals the one-process Trainer's).
- Epoch loss and metrics are reduced exactly (sums of losses, correct predictions and
  counts over all ranks); evaluate() evaluates a contiguous slice of the data per rank and
  reduces the same way. Both are collective: every rank calls them.
- Only rank 0 prints; save() is collective: a barrier, rank 0 writes the checkpoint
  atomically (io.save: temp file, fsync, rename), and every rank learns whether it worked.
  load() is collective: rank 0 reads the file and sends its bytes to the others, so the
  checkpoint need only be on rank 0's machine.
- Learning-rate scaling (Goyal et al. 2017, "Accurate, Large Minibatch SGD"): with
  scale_lr, every step uses lr * global_batch / base_batch, where base_batch is the
  per-rank batch of the first fit (the batch the lr was chosen for; kept in checkpoints);
  warmup_epochs ramps that multiplier linearly from 1 to its full value over the first
  epochs, step by step. The optimizer's own lr (and so its scheduler and checkpoints) stays
  the unscaled one; the multiplier is applied around each optimizer step.
- At the start of every fit, the ranks compare their settings (model structure, loss,
  optimizer and scheduler settings, seed, batch size, epochs, data sizes): a difference
  raises DistributedError on every rank, naming the setting and the ranks.
"""
from __future__ import annotations

import dataclasses
import math
import os
import tempfile

import numpy as np

from .comm import Communicator
from .faults import DistributedError, Watchdog, agree, install_excepthook

__all__ = ["DistributedConfig", "DistributedTraining"]


@dataclasses.dataclass
class DistributedConfig:
    """Trainer(distributed=DistributedConfig(...)): the communicator (default: init()'s,
    MPI under mpiexec), DistributedDataParallel's bucket size, the watchdog timeout in
    seconds for collectives (None: off; a rank stuck longer aborts the job), and whether
    BatchNorm layers become SyncBatchNorm (statistics over the global batch)."""

    communicator: Communicator | None = None
    bucket_cap_mb: float = 25.0
    timeout: float | None = None
    sync_batchnorm: bool = False


def _config(distributed) -> DistributedConfig:
    if distributed is True:
        return DistributedConfig()
    if isinstance(distributed, Communicator):
        return DistributedConfig(communicator=distributed)
    if isinstance(distributed, DistributedConfig):
        return distributed
    raise TypeError("Trainer: distributed must be True, a cnnnative.distributed Communicator or a "
                    f"DistributedConfig, got {type(distributed).__name__}")


def _digest_value(v) -> str:
    return " ".join(repr(v).split())[:200]


class DistributedTraining:
    """The distributed state of one Trainer (its `.dist`)."""

    def __init__(self, trainer, distributed, scale_lr=False, warmup_epochs=0.0):
        from . import init
        from .ddp import DistributedDataParallel
        from .sync_batchnorm import SyncBatchNorm

        cfg = _config(distributed)
        if trainer.adversarial is not None:
            raise ValueError("Trainer: adversarial training is not supported with distributed=...")
        if trainer.model.device != "cpu":
            raise ValueError("Trainer: distributed training reduces host gradients; keep the model on the CPU")
        warmup_epochs = float(warmup_epochs)
        if not (math.isfinite(warmup_epochs) and warmup_epochs >= 0):
            raise ValueError(f"Trainer: warmup_epochs must be >= 0, got {warmup_epochs}")
        # An explicit communicator is used as given (the process-wide one may differ: tests).
        self.comm = cfg.communicator if cfg.communicator is not None else init()
        self.rank, self.size = self.comm.rank, self.comm.size
        install_excepthook(self.comm)
        self.watchdog = Watchdog(self.comm, cfg.timeout)
        self.scale_lr, self.warmup_epochs = bool(scale_lr), warmup_epochs
        self.base_batch_size = None     # set by the first fit (or a checkpoint) when scale_lr
        self.global_batch_size = None   # of the current / last fit
        self.steps_per_epoch = 1
        self.trainer = trainer
        if cfg.sync_batchnorm:
            trainer.model = SyncBatchNorm.convert_sync_batchnorm(trainer.model, communicator=self.comm)
        with self.watchdog.guard("the model broadcast at start"):
            self.ddp = DistributedDataParallel(trainer.model, bucket_cap_mb=cfg.bucket_cap_mb,
                                               communicator=self.comm)
        if self.rank != 0:
            trainer.quiet = True  # only rank 0 prints
        self.cfg = cfg

    # -- agreement across ranks ------------------------------------------------------------
    def _settings(self, fit_args: dict) -> dict:
        t = self.trainer
        s = {"model": f"{type(t.model).__name__} with {sum(int(p.data.size) for p in t.model.parameters())} "
                      "parameters",
             "loss": _digest_value(t.loss or type(t.loss_fn).__name__), "metrics": _digest_value(sorted(t.metrics)),
             "seed": t.seed, "world_size": self.size, "scale_lr": self.scale_lr,
             "warmup_epochs": self.warmup_epochs, "base_batch_size": self.base_batch_size,
             "epoch": t.epoch, "optimizer": type(t.optimizer).__name__}
        for gi, g in enumerate(getattr(t.optimizer, "param_groups", [])):
            for k, v in g.items():
                s[f"optimizer group {gi} {k}"] = (f"{len(v)} tensors" if k == "params" else _digest_value(v))
        if t.scheduler is not None:
            s["scheduler"] = type(t.scheduler).__name__
            for k, v in sorted(vars(t.scheduler).items()):
                if k != "optimizer" and not k.startswith("_"):
                    s[f"scheduler {k}"] = _digest_value(v)
        s.update({k: _digest_value(v) for k, v in fit_args.items()})
        return s

    def check_same_settings(self, fit_args: dict) -> None:
        """Every rank must train with the same settings: compare, and raise on every rank
        naming what differs (a silent difference would train a model no one asked for)."""
        if self.size == 1:
            return
        mine = self._settings(fit_args)
        with self.watchdog.guard("the settings check at the start of fit"):
            every = self.comm.all_gather_object(mine)
        problems = []
        for key in sorted(set().union(*every)):
            values = [d.get(key, "<missing>") for d in every]
            odd = [r for r, v in enumerate(values) if v != values[0]]
            if odd:
                problems.append(f"{key}: rank 0 has {values[0]}, rank{'s' if len(odd) > 1 else ''} "
                                f"{', '.join(map(str, odd))} {'have' if len(odd) > 1 else 'has'} {values[odd[0]]}")
        if problems:
            raise DistributedError("Trainer: the ranks train with different settings (every rank must run the "
                                   "same script with the same arguments): " + "; ".join(problems[:5])
                                   + (f"; and {len(problems) - 5} more" if len(problems) > 5 else ""))

    # -- one fit ---------------------------------------------------------------------------
    def start_fit(self, train, val, epochs, batch_size, shuffle, transform) -> None:
        """Check the ranks agree; fix the global batch, the lr multiplier and the steps per
        epoch (the same on every rank: the sampler gives every rank the same shard size)."""
        fit = {"epochs": epochs, "batch_size": batch_size, "shuffle": shuffle, "train samples": len(train),
               "val samples": None if val is None else len(val),
               "transform": None if transform is None else type(transform).__name__}
        shape = getattr(train, "sample_shape", None)
        if shape is not None:
            fit["sample shape"] = shape
        self.check_same_settings(fit)
        self.global_batch_size = batch_size * self.size
        if self.scale_lr and self.base_batch_size is None:
            self.base_batch_size = batch_size
        self.steps_per_epoch = max(1, math.ceil(self.shard_length(len(train)) / batch_size))

    def shard_length(self, n: int) -> int:
        """Samples per rank per epoch (DistributedSampler: padded to equal shards)."""
        return math.ceil(n / self.size) if n else 0

    def batches(self, data, batch_size, shuffle, epoch, seed, transform=None):
        """This rank's (x, y) batches of epoch `epoch`: its shard of the shared permutation.
        Rank 0's generator for the augmentation is the one-process Trainer's (seeded by
        (seed, epoch), after the permutation); the others' are independent (rank_seed)."""
        from ..data.dataset import Dataset
        from .sampler import DistributedSampler, rank_seed

        sampler = DistributedSampler(len(data), num_replicas=self.size, rank=self.rank, shuffle=shuffle,
                                     seed=seed)
        sampler.set_epoch(epoch)
        mine = sampler.indices()
        rng = np.random.default_rng(rank_seed(seed, epoch, self.rank))
        if shuffle:
            rng.permutation(len(data))  # advance as the one-process Trainer does before augmenting
        if isinstance(data, Dataset):
            transform = data.transform if transform is None else transform
        for start in range(0, len(mine), batch_size):
            idx = np.sort(mine[start:start + batch_size])  # gather in memory order, as Dataset.batches
            if isinstance(data, Dataset):
                x = data.normalize(data.images[idx])
                if transform is not None:
                    x = np.ascontiguousarray(transform(x, generator=rng), np.float32)
                yield x, data.labels[idx]
            else:  # ArrayPairs (regression)
                yield data._inputs(idx), data.targets[idx]

    def lr_factor(self, epoch=None, batch=None) -> float:
        """The multiplier of every group's lr at this step: global / base batch with
        scale_lr (1 without), ramped linearly from 1 during the warm-up epochs."""
        if not self.scale_lr or self.base_batch_size is None or self.global_batch_size is None:
            return 1.0
        full = self.global_batch_size / self.base_batch_size
        if epoch is None or self.warmup_epochs <= 0:
            return full
        warm_steps = self.warmup_epochs * self.steps_per_epoch
        step = epoch * self.steps_per_epoch + batch
        if step >= warm_steps:
            return full
        return 1.0 + (full - 1.0) * step / warm_steps

    def optimizer_step(self, epoch=None, batch=None) -> None:
        """Wait for the gradient averaging (normally done when backward returned), then the
        optimizer's step with the scaled learning rate."""
        opt = self.trainer.optimizer
        self.ddp.finish_gradient_sync()
        self.watchdog.disarm()  # armed by forward: the step's collectives are done
        factor = self.lr_factor(epoch, batch)
        groups = getattr(opt, "param_groups", None)
        if factor == 1.0 or not groups:
            opt.step()
            return
        saved = [g["lr"] for g in groups]
        try:
            for g in groups:
                g["lr"] = g["lr"] * factor
            opt.step()
        finally:
            for g, lr in zip(groups, saved):
                g["lr"] = lr

    def forward(self, x):
        # The watchdog runs from here to the optimizer step: the gradient all-reduce waits
        # inside backward (DistributedDataParallel's buckets) and at its end.
        self.watchdog.arm("a training step (forward, backward and the gradient all-reduce)")
        return self.ddp(x)

    def reduce_tally(self, tally):
        """The epoch's (or evaluation's) sums over all ranks, in place: exact global means."""
        from .metrics import reduce_tally
        with self.watchdog.guard("the metric reduction"):
            return reduce_tally(tally, self.comm)

    def eval_shard(self, data):
        """This rank's contiguous slice of an evaluation set (no padding: every sample counted
        once; slices may differ in size by one)."""
        from ..data.dataset import Dataset
        from ..train_loss import ArrayPairs

        n = len(data)
        lo, hi = n * self.rank // self.size, n * (self.rank + 1) // self.size
        if self.size == 1:
            return data
        if isinstance(data, Dataset):
            return data.subset(np.arange(lo, hi))
        if isinstance(data, ArrayPairs):
            return ArrayPairs(data.inputs[lo:hi], data.targets[lo:hi], name=data.name)
        raise TypeError(f"evaluate: distributed evaluation needs a Dataset or (inputs, targets), got "
                        f"{type(data).__name__}")

    # -- checkpoints -----------------------------------------------------------------------
    def state(self) -> dict:
        """What a checkpoint records about the run (meta.extra.distributed)."""
        return {"world_size": self.size, "global_batch_size": self.global_batch_size,
                "base_batch_size": self.base_batch_size, "scale_lr": self.scale_lr,
                "warmup_epochs": self.warmup_epochs}

    def save(self, save_one, path) -> str:
        """Collective: after a barrier, rank 0 runs save_one(path) (io.save: atomic); every
        rank raises DistributedError if it failed. Returns the path."""
        with self.watchdog.guard("the barrier before saving a checkpoint"):
            self.comm.barrier()

        def write():
            return save_one(path) if self.rank == 0 else None
        with self.watchdog.guard("saving a checkpoint"):
            out = agree(self.comm, write, f"saving checkpoint {path}")
            return self.comm.broadcast_object(out, 0)

    def load(self, load_one, path):
        """Collective: rank 0 reads the file and sends its bytes; each rank restores from
        them with load_one(local path). Raises DistributedError on every rank if it failed
        anywhere. Restores the run's base batch (lr scaling) from the checkpoint."""
        def read():
            with open(path, "rb") as f:
                return f.read()
        with self.watchdog.guard("loading a checkpoint"):
            blob = agree(self.comm, read if self.rank == 0 else (lambda: None), f"reading checkpoint {path}")
            if self.size > 1:
                blob = self.comm.broadcast_object(blob, 0)

            def restore():
                if self.rank == 0:
                    return load_one(path)
                fd, local = tempfile.mkstemp(suffix=".npz", prefix="cnnnative-ckpt-")
                try:
                    with os.fdopen(fd, "wb") as f:
                        f.write(blob)
                    return load_one(local)
                finally:
                    os.unlink(local)
            ck = agree(self.comm, restore, f"loading checkpoint {path}")
        extra = (ck.get("meta") or {}).get("extra") or {}
        saved = extra.get("distributed") or {}
        if self.scale_lr and isinstance(saved.get("base_batch_size"), int):
            self.base_batch_size = saved["base_batch_size"]
        return ck
