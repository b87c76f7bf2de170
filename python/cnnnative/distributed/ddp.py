"""DistributedDataParallel: one model replica per rank, gradients averaged during backward.

At construction the replicas are checked to have the same structure (names, shapes, dtypes
of parameters and buffers, and the same bucket size), then rank 0's parameters and buffers
are copied to every rank. During backward, a post-accumulate hook on each trainable
parameter copies its final gradient into a contiguous float32 bucket; the parameters fill
the buckets in reverse registration order (roughly the order backward produces them), at
most bucket_cap_mb each, so a bucket is complete while backward is still working on the
layers below, and its non-blocking all-reduce (Iallreduce) then runs while backward goes on
(PyTorch DDP's and Horovod's fusion-buffer design). Buckets start strictly in order, so
every rank starts the same collectives in the same order. When backward ends (a callback
queued on the walk), the rest are started, all are awaited, divided by the world size and
copied back into `.grad`: after `loss.backward()` returns, every rank holds the average
gradient, and any optimizer steps the same on every rank.

Each bucket carries one extra float per parameter: 1 when this rank has a gradient for it.
Summed over ranks it says whether any rank had one, so a parameter no rank used keeps
`grad None` (and an optimizer skips it, as it would in one process), while one used on some
ranks only gets the average (the unused ranks contribute zeros).
"""
from __future__ import annotations

import contextlib
import weakref

import numpy as np

from ..autograd import queue_callback
from ..nn.module import Module, on_device

__all__ = ["DistributedDataParallel"]

_MB = 1024 * 1024

# id(parameter) -> weakref to the live DistributedDataParallel whose hook it carries.
_owners: dict = {}


def _describe(arr) -> str:
    return f"{np.dtype(arr.dtype).name}{list(arr.shape)}"


def _broadcast_coalesced(comm, arrays, root=0):
    """Broadcast many arrays in one call per dtype: packed, sent (as bytes: a copy needs no
    arithmetic, so any dtype goes), unpacked in place."""
    groups = {}
    for a in arrays:
        groups.setdefault(np.dtype(a.dtype).str, []).append(a)
    for group in groups.values():
        flat = np.concatenate([np.ravel(a) for a in group]) if len(group) > 1 else \
            np.array(np.ravel(group[0]), copy=True)
        comm.broadcast_(flat.view(np.uint8), root)
        at = 0
        for a in group:
            a[...] = flat[at:at + a.size].reshape(a.shape)
            at += a.size


class _Bucket:
    """A contiguous float32 buffer for some parameters' gradients, then one flag per
    parameter (has a gradient on this rank)."""

    def __init__(self, index, params, names):
        self.index, self.params, self.names = index, params, names
        self.offsets, at = [], 0
        for p in params:
            self.offsets.append(at)
            at += int(p.data.size)
        self.numel = at
        self.buffer = np.zeros(at + len(params), np.float32)
        self.position = {id(p): i for i, p in enumerate(params)}
        self.reset()

    def reset(self):
        self.ready = [False] * len(self.params)
        self.n_ready = 0
        self.request = None

    def slot(self, i):
        return self.buffer[self.offsets[i]:self.offsets[i] + self.params[i].data.size]

    def put(self, i, grad):
        """Copy parameter i's gradient in (None: zeros, flag 0)."""
        view = self.slot(i)
        if grad is None:
            view.fill(0.0)
            self.buffer[self.numel + i] = 0.0
        else:
            if on_device(grad):
                raise NotImplementedError("DistributedDataParallel reduces host (numpy) gradients; keep the "
                                          "model on the CPU")
            view[...] = np.ravel(grad)
            self.buffer[self.numel + i] = 1.0

    @property
    def nbytes(self) -> int:
        return self.numel * 4


class DistributedDataParallel(Module):
    """torch.nn.parallel.DistributedDataParallel for cnnnative, on a Communicator.

    module: the model (CPU). bucket_cap_mb: the largest gradient bucket in MiB (a parameter
    larger than that gets a bucket of its own); it must be the same on every rank.
    communicator: default the one from cnnnative.distributed.init() (initialised with
    backend "auto" when not yet done). broadcast_buffers: copy rank 0's buffers (BatchNorm
    running statistics) to every rank at each training forward, so the replicas stay equal
    (SyncBatchNorm keeps them equal anyway).

    forward(*args) calls module(*args). Gradients are averaged over the ranks by the time
    `loss.backward()` returns (see the file's docstring); frozen parameters (requires_grad
    False at construction or later) are left out. `no_sync()` skips the averaging for
    gradient accumulation: backwards inside it only accumulate locally, and the first
    backward outside it averages the accumulated sums. The wrapped model is `.module`
    (state_dict keys get the prefix "module.", as in PyTorch).
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 25, communicator=None,
                 broadcast_buffers: bool = True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be a cnnnative.nn.Module, got "
                            f"{type(module).__name__}")
        if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, (int, float, np.integer, np.floating)) \
                or not np.isfinite(bucket_cap_mb) or bucket_cap_mb <= 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be a positive number, got {bucket_cap_mb!r}")
        if communicator is None:
            from . import init
            communicator = init()
        self.module = module
        self.comm = communicator
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.broadcast_buffers = bool(broadcast_buffers)
        self._require_sync = True
        self._pending = False      # hooks fired in this backward; averaging not finished
        self._buckets = []
        self._handles = []
        self._trainable = ()
        for name, p in module.named_parameters():
            if on_device(p.data):
                raise NotImplementedError(f"DistributedDataParallel: parameter {name!r} is on a GPU; MPI "
                                          "reduces host arrays here, keep the model on the CPU")
        self._check_same_structure()
        _broadcast_coalesced(self.comm, [p.data for p in module.parameters()] + self._buffer_arrays())
        self._build_buckets()

    # -- construction --------------------------------------------------------------------
    def _buffer_arrays(self):
        return [b for _, b in self.module.named_buffers() if isinstance(b, np.ndarray)]

    def _check_same_structure(self):
        """Every rank must wrap the same architecture with the same bucket size: gather each
        rank's description and name the first difference (and the ranks that have it)."""
        mine = [("option", "bucket_cap_mb", repr(self.bucket_cap_mb))]
        mine += [("parameter", n, _describe(p.data), "trainable" if p.requires_grad else "frozen")
                 for n, p in self.module.named_parameters()]
        mine += [("buffer", n, _describe(np.asarray(b))) for n, b in self.module.named_buffers()]
        if self.comm.size == 1:
            return
        every = self.comm.all_gather_object(mine)
        ref = every[0]
        for i in range(max(len(d) for d in every)):
            want = ref[i] if i < len(ref) else None
            odd = [r for r, d in enumerate(every) if (d[i] if i < len(d) else None) != want]
            if odd:
                def say(d):
                    return "nothing" if d is None else " ".join(str(v) for v in d[2:])
                where = want if want is not None else every[odd[0]][i]
                got = every[odd[0]][i] if i < len(every[odd[0]]) else None
                raise ValueError(
                    f"DistributedDataParallel: the model differs across ranks at {where[0]} {where[1]!r}: "
                    f"rank 0 has {say(want)}, rank(s) {', '.join(map(str, odd))} have {say(got)} "
                    "(every rank must build the same model with the same options)")

    def _build_buckets(self):
        """Group trainable parameters, in reverse registration order, into buckets of at most
        bucket_cap_mb; hook each so its gradient goes into its bucket when final."""
        for h in self._handles:
            h.remove()
        for key, ref in list(_owners.items()):
            if ref() is self:
                del _owners[key]
        named = [(n, p) for n, p in self.module.named_parameters() if p.requires_grad]
        for n, p in named:
            owner = _owners.get(id(p))
            if owner is not None and owner() is not None and owner() is not self:
                raise ValueError(f"DistributedDataParallel: parameter {n!r} already belongs to another live "
                                 "DistributedDataParallel (wrap a model once; call remove_hooks() on the old one)")
        cap = self.bucket_cap_mb * _MB
        buckets, current, names, size = [], [], [], 0
        for n, p in reversed(named):
            nbytes = int(p.data.size) * 4
            if current and size + nbytes > cap:
                buckets.append(_Bucket(len(buckets), current, names))
                current, names, size = [], [], 0
            current.append(p)
            names.append(n)
            size += nbytes
        if current:
            buckets.append(_Bucket(len(buckets), current, names))
        self._buckets = buckets
        self._bucket_of = {id(p): b for b in buckets for p in b.params}
        self._trainable = tuple(id(p) for _, p in named)
        ref = weakref.ref(self)
        self._handles = []
        for _, p in named:
            self._handles.append(p.register_post_accumulate_grad_hook(_hook_for(ref)))
            _owners[id(p)] = ref
        self._next_launch = 0

    def remove_hooks(self) -> None:
        """Detach from the model's parameters (no more averaging); the model can then be
        wrapped again."""
        for h in self._handles:
            h.remove()
        self._handles = []
        for key, ref in list(_owners.items()):
            if ref() is self:
                del _owners[key]

    def bucket_layout(self) -> list:
        """The parameter names of each bucket, in the order the buckets are reduced."""
        return [list(b.names) for b in self._buckets]

    # -- forward -------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        if self._pending:
            if self.comm.size > 1:
                raise RuntimeError("DistributedDataParallel: the previous backward stopped before its gradients "
                                   "were averaged (an exception inside backward?); the ranks are out of step")
            self._pending = False  # one rank: nothing in flight to wait for
        if self.training:
            if tuple(id(p) for p in self.module.parameters() if p.requires_grad) != self._trainable:
                self._build_buckets()  # a layer was frozen or unfrozen since the last step
            if self.broadcast_buffers and self.comm.size > 1:
                buffers = self._buffer_arrays()
                if buffers:
                    _broadcast_coalesced(self.comm, buffers)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Backwards inside only accumulate into `.grad` locally (no communication); the
        next backward outside averages everything accumulated (gradient accumulation)."""
        before, self._require_sync = self._require_sync, False
        try:
            yield
        finally:
            self._require_sync = before

    # -- during backward -----------------------------------------------------------------
    def _grad_ready(self, p):
        if not self._require_sync:
            return
        bucket = self._bucket_of.get(id(p))
        if bucket is None:
            return
        if not self._pending:
            self._pending = True
            for b in self._buckets:
                b.reset()
            self._next_launch = 0
            queue_callback(self.finish_gradient_sync)
        i = bucket.position[id(p)]
        if bucket.ready[i]:
            raise RuntimeError("DistributedDataParallel: a gradient became ready twice before the averaging "
                               "finished (an earlier backward failed?)")
        bucket.ready[i] = True
        bucket.n_ready += 1
        bucket.put(i, p.grad)
        self._launch_ready()

    def _launch(self, bucket):
        for i, p in enumerate(bucket.params):
            if not bucket.ready[i]:  # no gradient in this backward: what it had (no_sync), or none
                bucket.put(i, p.grad)
        bucket.request = self.comm.iall_reduce_(bucket.buffer, "sum")

    def _launch_ready(self):
        """Start the complete buckets, in order; let MPI progress those in flight."""
        buckets = self._buckets
        while self._next_launch < len(buckets) and \
                buckets[self._next_launch].n_ready == len(buckets[self._next_launch].params):
            self._launch(buckets[self._next_launch])
            self._next_launch += 1
        for b in buckets[:self._next_launch]:
            if b.request is not None:
                b.request.test()

    def sync_gradients(self) -> None:
        """Average the current `.grad` of every trainable parameter over the ranks now (all
        ranks must call it): for gradients that did not come from an autograd backward
        (a hand-written backward, gradients set by hand). After loss.backward() it is not
        needed (and would average an already averaged gradient again, harmlessly)."""
        if not self._pending:
            self._pending = True
            for b in self._buckets:
                b.reset()
            self._next_launch = 0
        self.finish_gradient_sync()

    def finish_gradient_sync(self) -> None:
        """Start the buckets not started yet, wait for all, and write the averaged
        gradients into `.grad`. Called when backward ends; calling it again (or with
        nothing pending) does nothing."""
        if not self._pending:
            return
        self._pending = False
        size = self.comm.size
        for b in self._buckets[self._next_launch:]:
            self._launch(b)
        self._next_launch = len(self._buckets)
        for b in self._buckets:
            b.request.wait()
            b.request = None
            grads = b.buffer[:b.numel]
            if size > 1:
                np.divide(grads, np.float32(size), out=grads)
            for i, p in enumerate(b.params):
                if b.buffer[b.numel + i] == 0.0:
                    continue  # no rank had a gradient: keep None, as one process would
                view = b.slot(i).reshape(p.data.shape)
                g = p.grad
                if isinstance(g, np.ndarray) and g.dtype == np.float32 and g.shape == view.shape \
                        and g.flags.c_contiguous and g.flags.writeable:
                    np.copyto(g, view)
                else:
                    p.grad = view.copy()

    def extra_repr(self):
        return (f"world_size={self.comm.size}, buckets={len(self._buckets)}, "
                f"bucket_cap_mb={self.bucket_cap_mb:g}")


def _hook_for(ref):
    """A parameter hook that holds its DistributedDataParallel weakly (a dropped wrapper
    must not keep reducing)."""
    def hook(p):
        ddp = ref()
        if ddp is not None:
            ddp._grad_ready(p)
    return hook
