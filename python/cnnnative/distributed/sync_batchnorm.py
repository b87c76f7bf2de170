"""SyncBatchNorm: batch normalization whose training statistics span every rank's batch.

With data parallelism each rank sees B samples; plain BatchNorm normalises with the
statistics of those B, so N ranks do not compute what one process with batch N*B does.
SyncBatchNorm gathers each rank's (count, mean, sum of squared deviations) per channel and
combines them exactly (Chan et al.'s parallel variance, in float64: no large-offset
cancellation as with sum and sum of squares), normalises with the global mean and variance
and updates the running statistics with them (unbiased variance, as PyTorch). Backward
all-reduces the two per-channel sums the input gradient needs (sum of dy and of dy*(x-mean));
the weight and bias gradients stay local sums, which DistributedDataParallel then averages,
so the result is the one-process gradient of the N*B batch.

Eval mode, a world of one rank and no initialised communicator are exactly BatchNorm2d (the
same core kernel); state_dict keys and shapes are BatchNorm's, so checkpoints move freely
between the two.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..autograd import is_grad_enabled, record, wants
from ..nn._util import as_input, weights_for
from ..nn.module import Module, on_device
from ..nn.norm import _BatchNorm
from ..tensor import Tensor

__all__ = ["SyncBatchNorm", "sync_batch_norm"]


def _axes(ndim):
    return (0,) + tuple(range(2, ndim))


def _bshape(ndim):
    return (1, -1) + (1,) * (ndim - 2)


def _local_moments(x):
    """(count, mean (C,), M2 (C,)) of x (N, C, *) per channel, float64: the mean is first
    estimated in float32, then corrected by the mean deviation from it."""
    axes, shape = _axes(x.ndim), _bshape(x.ndim)
    n = x.size // x.shape[1]
    if n == 0:
        zeros = np.zeros(x.shape[1], np.float64)
        return 0, zeros, zeros.copy()
    m32 = (x.sum(axis=axes, dtype=np.float64) / n).astype(np.float32)
    d = x - m32.reshape(shape)
    s1 = d.sum(axis=axes, dtype=np.float64)
    s2 = np.square(d).sum(axis=axes, dtype=np.float64)
    return n, m32.astype(np.float64) + s1 / n, np.maximum(s2 - s1 * s1 / n, 0.0)


def _global_moments(x, comm):
    """(total count, mean (C,), biased variance (C,)) over every rank's x, float64: each
    rank's moments gathered and combined in rank order (identical on every rank)."""
    n, mean, m2 = _local_moments(x)
    c = x.shape[1]
    mine = np.concatenate([[float(n)], mean, m2])
    every = comm.all_gather(mine) if comm.size > 1 else [mine]
    counts = np.array([float(e[0]) for e in every])
    total = counts.sum()
    if total <= 1:
        raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel when training, got input of "
                         f"shape {tuple(x.shape)} on this rank and {int(total)} values per channel in all")
    means = np.stack([e[1:1 + c] for e in every])
    m2s = np.stack([e[1 + c:] for e in every])
    g_mean = (counts[:, None] * means).sum(axis=0) / total
    g_m2 = (m2s + counts[:, None] * np.square(means - g_mean)).sum(axis=0)
    return total, g_mean, g_m2 / total


def sync_batch_norm(input, weight, bias, running_mean, running_var, momentum, eps, comm):
    """Training-mode batch norm with statistics over all ranks of `comm`.

    input (N, C, *) (a Tensor records the op); weight, bias (C,) or None; running_mean,
    running_var (C,) float32 updated in place (or None). Returns the output like input."""
    x = input.data if isinstance(input, Tensor) else np.ascontiguousarray(input, np.float32)
    if on_device(x):
        raise NotImplementedError("SyncBatchNorm runs on the CPU (MPI reduces host arrays)")
    x = np.ascontiguousarray(x, np.float32)
    total, mean64, var64 = _global_moments(x, comm)
    if running_mean is not None:
        m = np.float32(momentum)
        running_mean *= 1 - m
        running_mean += m * mean64.astype(np.float32)
        running_var *= 1 - m
        running_var += m * (var64 * (total / (total - 1))).astype(np.float32)
    mean = mean64.astype(np.float32)
    w = weight.data if isinstance(weight, Tensor) else weight
    b = bias.data if isinstance(bias, Tensor) else bias
    # The core's eval-mode kernel normalises with given statistics: here the global ones.
    y, _, invstd = ops.batch_norm_forward(x, mean, var64.astype(np.float32), w, b, training=False, eps=eps)
    recording = is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in (input, weight, bias))
    if not recording:
        return y
    invstd = np.array(invstd, np.float32, copy=True)
    axes, shape = _axes(x.ndim), _bshape(x.ndim)

    def backward(g):
        g = np.ascontiguousarray(g, np.float32)
        xmu = x - mean.reshape(shape)
        sum_dy = g.sum(axis=axes, dtype=np.float64)
        sum_dy_xmu = (g * xmu).sum(axis=axes, dtype=np.float64)
        gw = (sum_dy_xmu * invstd).astype(np.float32) if wants(weight) else None
        gb = sum_dy.astype(np.float32) if wants(bias) else None
        gx = None
        if wants(input):
            both = np.concatenate([sum_dy, sum_dy_xmu])
            if comm.size > 1:
                comm.all_reduce_(both, "sum")
            c = x.shape[1]
            mean_dy = (both[:c] / total).astype(np.float32).reshape(shape)
            proj = (both[c:] / total * invstd.astype(np.float64) ** 2).astype(np.float32).reshape(shape)
            scale = invstd if w is None else invstd * w
            gx = (g - mean_dy - xmu * proj) * scale.reshape(shape)
        return gx, gw, gb

    return record(y, (input, weight, bias), backward, "sync_batch_norm")


class SyncBatchNorm(_BatchNorm):
    """torch.nn.SyncBatchNorm: BatchNorm over (N, C), (N, C, L), (N, C, H, W) or
    (N, C, D, H, W) whose training statistics (and their gradients) span every rank.

    communicator: default the one cnnnative.distributed.init() set up; none initialised (or
    a world of one) makes it a plain BatchNorm. Parameters and buffers are BatchNorm's
    (weight, bias, running_mean, running_var, num_batches_tracked)."""

    _ndims = (2, 3, 4, 5)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 communicator=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        object.__setattr__(self, "communicator", communicator)
        object.__setattr__(self, "_always_sync", False)  # tests: the sync path on one rank

    def _as4d(self, x):
        if x.ndim in (2, 3):  # as BatchNorm1d: (N, C[, L]) -> (N, C, L, 1)
            length = x.shape[2] if x.ndim == 3 else 1
            return ops.reshape(x, (x.shape[0], x.shape[1], length, 1))
        return x

    def _comm(self):
        if self.communicator is not None:
            return self.communicator
        from . import get_communicator, is_initialized
        return get_communicator() if is_initialized() else None

    def forward(self, x):
        comm = self._comm()
        if not self.training or comm is None or (comm.size == 1 and not self._always_sync):
            return super().forward(x)
        x = as_input(x, self, self._ndims)
        if x.shape[1] != self.num_features:
            raise ValueError(f"{self!r}: input has {x.shape[1]} channels, expected "
                             f"{self.num_features} (input shape {tuple(x.shape)})")
        momentum = 0.0 if self.momentum is None else float(self.momentum)
        if self.track_running_stats:
            self.num_batches_tracked += 1
            if self.momentum is None:  # cumulative moving average, as PyTorch
                momentum = 1.0 / float(self.num_batches_tracked)
        x4 = self._as4d(x)
        weight, bias = weights_for(x, self.weight, self.bias)
        y = sync_batch_norm(x4, weight, bias, self.running_mean, self.running_var, momentum, self.eps, comm)
        return y if x4 is x else ops.reshape(y, tuple(x.shape))

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, communicator=None) -> Module:
        """Replace every BatchNorm1d/2d in `module` (or `module` itself) by a SyncBatchNorm
        sharing its parameters and buffers (torch.nn.SyncBatchNorm.convert_sync_batchnorm).
        Returns the converted module (the same object unless it was itself a BatchNorm)."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            new = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, communicator=communicator)
            for name in ("weight", "bias"):
                new._parameters[name] = module._parameters.get(name)
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                new._buffers[name] = module._buffers.get(name)
            object.__setattr__(new, "training", module.training)
            if module.__dict__.get("_keep_eval"):
                object.__setattr__(new, "_keep_eval", True)
            return new
        for name, child in list(module._modules.items()):
            if child is not None:
                converted = cls.convert_sync_batchnorm(child, communicator)
                if converted is not child:
                    module._modules[name] = converted
        return module
