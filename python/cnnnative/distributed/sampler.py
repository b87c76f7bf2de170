"""Data sharding: each rank trains on its own part of every epoch (torch's DistributedSampler).

Every rank draws the same permutation (from the seed shared by all ranks and the epoch),
extends it to a multiple of the number of ranks (repeating its first indices) or cuts it
down (drop_last), and takes every num_replicas-th index from its rank on. So the shards are
disjoint (up to the repeated padding), cover the epoch and have equal sizes (every rank runs
the same number of steps: a rank with one batch more would wait forever in an all-reduce).

Rank r's t-th batch of size B holds positions r, r+N, ... of the block t*N*B .. (t+1)*N*B of
the permutation, so the N ranks' t-th batches together are exactly the t-th batch of size
N*B of one process using DistributedSampler(num_replicas=1) with the same seed: N ranks
reproduce one process with an N-times larger batch.
"""
from __future__ import annotations

import math

import numpy as np

from ..ops._args import index

__all__ = ["DistributedSampler", "rank_seed"]


def rank_seed(seed: int, epoch: int, rank: int | None = None) -> np.random.SeedSequence:
    """A seed for rank `rank`'s random augmentation in `epoch` (default: this process's
    rank): different on every rank (each shard gets independent crops and flips), fixed by
    (seed, epoch, rank) so a resumed run draws the same. Rank 0's equals the one-process
    Trainer's epoch seed, SeedSequence([seed, epoch]). Use as np.random.default_rng(...)."""
    if rank is None:
        from . import get_communicator, is_initialized
        rank = get_communicator().rank if is_initialized() else 0
    seed, epoch, rank = index(seed, "rank_seed: seed"), index(epoch, "rank_seed: epoch"), index(rank, "rank_seed: rank")
    if epoch < 0 or rank < 0:
        raise ValueError(f"rank_seed: epoch and rank must be >= 0, got epoch={epoch}, rank={rank}")
    entropy = [seed & 0xFFFFFFFF, epoch] + ([rank] if rank else [])
    return np.random.SeedSequence(entropy)


class DistributedSampler:
    """The indices of this rank's shard of a dataset for one epoch.

    dataset: a length (int) or anything with len() (a cnnnative.data.Dataset).
    num_replicas, rank: default the initialised communicator's world size and rank.
    shuffle: a permutation drawn from np.random.default_rng(SeedSequence([seed, epoch]))
    (the same on every rank; call set_epoch(e) before each epoch), else dataset order.
    drop_last: cut the tail so every rank gets len // num_replicas indices; else pad by
    repeating indices from the start so every rank gets ceil(len / num_replicas).

    Iterating gives this rank's indices (len(sampler) of them); indices() the array;
    batches(dataset, batch_size) the (x, y) batches of a cnnnative.data.Dataset.
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        if isinstance(dataset, (int, np.integer)) and not isinstance(dataset, bool):
            n = int(dataset)
        elif hasattr(dataset, "__len__"):
            n = len(dataset)
        else:
            raise TypeError(f"DistributedSampler: dataset must be a length or have len(), got "
                            f"{type(dataset).__name__}")
        if n < 0:
            raise ValueError(f"DistributedSampler: dataset length must be >= 0, got {n}")
        if num_replicas is None or rank is None:
            from . import get_communicator
            comm = get_communicator()
            num_replicas = comm.size if num_replicas is None else num_replicas
            rank = comm.rank if rank is None else rank
        num_replicas = index(num_replicas, "DistributedSampler: num_replicas")
        rank = index(rank, "DistributedSampler: rank")
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: rank must be in [0, {num_replicas}), got {rank}")
        self.dataset = dataset
        self.length, self.num_replicas, self.rank = n, num_replicas, rank
        self.shuffle, self.seed, self.drop_last = bool(shuffle), index(seed, "DistributedSampler: seed"), bool(drop_last)
        self.epoch = 0
        if self.drop_last:
            self.num_samples = n // num_replicas
        else:
            self.num_samples = math.ceil(n / num_replicas) if n else 0
        if self.drop_last and self.num_samples == 0 and n:
            raise ValueError(f"DistributedSampler: drop_last with {n} samples and {num_replicas} ranks "
                             "leaves every rank empty")
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next iteration is for (its shuffling order depends on it)."""
        epoch = index(epoch, "set_epoch: epoch")
        if epoch < 0:
            raise ValueError(f"set_epoch: epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    def global_order(self) -> np.ndarray:
        """The epoch's order of all ranks' indices (int64, total_size of them, padded or
        cut): rank r gets positions r, r + num_replicas, ..."""
        n = self.length
        if self.shuffle:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed & 0xFFFFFFFF, self.epoch]))
            order = rng.permutation(n).astype(np.int64)
        else:
            order = np.arange(n, dtype=np.int64)
        if self.total_size > n and n:  # pad by repeating from the start (more than once if needed)
            order = np.resize(order, self.total_size)
        return order[:self.total_size]

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch (int64, len(self) of them)."""
        return self.global_order()[self.rank::self.num_replicas]

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int:
        """How many batches batches(batch_size, drop_last) yields (the same on every rank)."""
        batch_size = index(batch_size, "num_batches: batch_size")
        return self.num_samples // batch_size if drop_last else math.ceil(self.num_samples / batch_size)

    def batches(self, dataset, batch_size: int, drop_last: bool = False, transform=None, generator=None):
        """Yield this rank's (x float32 (B, C, H, W), y int64 (B,)) batches of a
        cnnnative.data.Dataset for the current epoch, in shard order (each batch gathered
        in memory order). transform (this call's, else the dataset's) draws from
        `generator` (default: default_rng(rank_seed(seed, epoch, rank)), independent per
        rank). With one replica this yields exactly what
        dataset.batches(batch_size, shuffle, seed=default_rng(SeedSequence([seed, epoch])))
        yields, the plain Trainer's epoch."""
        batch_size = index(batch_size, "batches: batch_size")
        if batch_size < 1:
            raise ValueError(f"batches: batch_size must be positive, got {batch_size}")
        if len(dataset) != self.length:
            raise ValueError(f"batches: the dataset has {len(dataset)} samples, the sampler was made for "
                             f"{self.length}")
        transform = getattr(dataset, "transform", None) if transform is None else transform
        rng = generator
        if rng is None:
            rng = np.random.default_rng(rank_seed(self.seed, self.epoch, self.rank))
            if self.shuffle:
                # Dataset.batches draws the permutation from this generator first: draw it too,
                # so one rank's batches and augmentations are exactly a plain Trainer's.
                rng.permutation(self.length)
        mine = self.indices()
        stop = len(mine) - len(mine) % batch_size if drop_last else len(mine)
        for start in range(0, stop, batch_size):
            idx = mine[start:start + batch_size]
            if self.shuffle:
                idx = np.sort(idx)  # gather in memory order, as Dataset.batches
            x = dataset.normalize(dataset.images[idx])
            if transform is not None:
                x = np.ascontiguousarray(transform(x, generator=rng), np.float32)
            yield x, dataset.labels[idx]

    def __repr__(self):
        return (f"DistributedSampler(n={self.length}, num_replicas={self.num_replicas}, rank={self.rank}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last}, epoch={self.epoch})")
