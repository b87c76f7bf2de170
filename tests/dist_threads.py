"""Test helper: N "ranks" as N threads of one process, with a Communicator whose
collectives meet at a barrier (blocking; iall_reduce_ finishes at once). Lets the ordinary
suite check multi-rank logic (averaging, SyncBatchNorm statistics, mismatch errors) without
MPI; the real thing is tests/test_distributed_mpi.py."""
from __future__ import annotations

import pickle
import threading

import numpy as np

from cnnnative.distributed.comm import Communicator, Request, _checked_buffer, _checked_op


class _Group:
    def __init__(self, size):
        self.size = size
        self.barrier = threading.Barrier(size, timeout=30)
        self.slots = [None] * size


class ThreadCommunicator(Communicator):
    backend = "threads"

    def __init__(self, group, rank):
        self.group, self.rank, self.size = group, rank, group.size
        self.local_rank, self.local_size = rank, group.size

    def _exchange(self, value):
        g = self.group
        g.slots[self.rank] = value
        g.barrier.wait()
        every = list(g.slots)
        g.barrier.wait()  # nobody overwrites a slot before everyone has read it
        return every

    def barrier(self):
        self._exchange(None)

    def broadcast_(self, arr, root=0):
        root = self._checked_root(root, "broadcast_")
        arr = _checked_buffer(arr, "broadcast_")
        every = self._exchange(arr.copy())
        arr[...] = every[root]
        return arr

    def iall_reduce_(self, arr, op="sum"):
        _checked_op(op, "all_reduce_")
        arr = _checked_buffer(arr, "all_reduce_")
        every = self._exchange(arr.copy())
        if op in ("sum", "mean"):
            total = every[0].copy()
            for a in every[1:]:  # rank order, as a reduction tree would not be: fine for tests
                total += a
            if op == "mean":
                total /= arr.dtype.type(self.size)
        else:
            total = (np.maximum if op == "max" else np.minimum).reduce(np.stack(every))
        arr[...] = total
        return Request(arr)

    def all_gather(self, arr):
        return [a.copy() for a in self._exchange(np.array(arr, copy=True))]

    def all_gather_object(self, obj):
        return [pickle.loads(b) for b in self._exchange(pickle.dumps(obj))]

    def broadcast_object(self, obj, root=0):
        return pickle.loads(self._exchange(pickle.dumps(obj))[root])

    def abort(self, code=1):
        raise SystemExit(code)


def run_ranks(n, fn):
    """fn(comm) on n threads; returns the results by rank (re-raises the first error)."""
    group = _Group(n)
    results, errors = [None] * n, [None] * n

    def body(r):
        try:
            results[r] = fn(ThreadCommunicator(group, r))
        except BaseException as e:  # noqa: BLE001 - handed back to the caller
            errors[r] = e
            group.barrier.abort()

    threads = [threading.Thread(target=body, args=(r,)) for r in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    real = [e for e in errors if e is not None and not isinstance(e, threading.BrokenBarrierError)]
    if real or any(e is not None for e in errors):
        raise (real or [e for e in errors if e is not None])[0]
    return results
