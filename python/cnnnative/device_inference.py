"""`cnnnative.compile(model, shape, device="cuda")`: the compiled graph run op by op on a GPU.

The model is traced and simplified exactly as for the CPU engine (cnnnative.inference:
BatchNorm folded into the conv/linear before it in float64, residual adds and ReLU/ReLU6
attached to the op that produces their input). Instead of the C++ arena plan, the
simplified op list becomes a list of steps that call `cnnnative.ops`, which dispatch on
the device of their inputs: with the folded weights uploaded once, every intermediate
stays on the GPU, and each buffer is dropped right after its last reader so the caching
allocator hands its memory to the next op (the GPU counterpart of the arena's reuse).

On the GPU the conv kernels take the bias; a residual add and the activation run as
separate element-wise kernels (the CPU engine fuses them into the conv's output stage).
Not done: capturing the steps in a CUDA Graph (per-launch overhead stays).

The same runner also works on host arrays (every op has a CPU path), which is how its
translation of each op is tested on machines without a GPU (tests/test_inference.py).
"""
from __future__ import annotations

import numpy as np

from . import ops

__all__ = ["DeviceCompiledModel"]


def _is_tensor(a) -> bool:
    return type(a).__module__ == "cnnnative._cuda"


def _pool_padding(pad4, what):
    top, bottom, left, right = pad4
    if top != bottom or left != right:
        raise ValueError(f"compile(device=...): {what} with asymmetric padding {pad4} is not supported "
                         "on the GPU (pooling kernels take one padding per axis)")
    return (top, left)


def _activate(y, act):
    if act == "relu":
        return ops.relu(y, out=y)
    if act == "relu6":
        return ops.relu6(y, out=y)
    return y


class DeviceCompiledModel:
    """A traced, simplified model whose steps run through cnnnative.ops on one device.

    Call it with an array of the compiled shape (any batch 0 < n <= N): a host array
    gives a host array back, a cnnnative.cuda.Tensor a Tensor (data stays on the GPU).
    """

    def __init__(self, ops_list, output, input_shape, device="cuda", upload=None):
        self.input_shape = tuple(input_shape)
        self.device = str(device)
        if upload is None:
            from . import cuda
            index = int(self.device.partition(":")[2] or 0)

            def upload(a):
                return cuda.from_numpy(np.ascontiguousarray(a, np.float32), device=index)
        self._upload = upload
        # Each step: (call, the value it reads first, the value it writes, the values that
        # die after it -- worked out once here, not on every call).
        reads = [op.inputs + ([op.attrs["residual"]] if op.attrs.get("residual") is not None else [])
                 for op in ops_list]
        last_use = {}
        for i, values in enumerate(reads):
            for v in values:
                last_use[v] = i
        self._output = output
        self._weight_bytes = 0
        self._steps = []
        for i, op in enumerate(ops_list):
            dying = tuple(v for v in dict.fromkeys(reads[i]) if last_use[v] == i and v != output)
            self._steps.append((self._step(op), op.inputs[0], op.out, dying))
            op.attrs.pop("weight", None)  # the device holds its own (folded) copy now
            op.attrs.pop("fold", None)
        self._n_ops = len(ops_list)

    # -- translation of one traced op into a call ------------------------------------------------
    def _const(self, a):
        if a is None:
            return None
        a = np.ascontiguousarray(a, np.float32)
        self._weight_bytes += a.nbytes
        return self._upload(a)

    def _step(self, op):
        from .inference import _folded  # the same float64 BatchNorm folding as the CPU engine
        a = op.attrs
        if op.op == "conv":
            w, b = _folded(a)
            w, b = self._const(w), self._const(b)
            stride, pad, dil, groups = a["stride"], a["padding"], a["dilation"], a["groups"]
            act, residual = a["act"], a["residual"]

            def conv(x, env):
                y = ops.conv2d(x, w, b, stride, pad, dil, groups)
                if residual is not None:
                    r = env[residual]
                    return ops.add_relu(y, r) if act == "relu" else _activate(ops.add(y, r), act)
                return _activate(y, act)
            return conv
        if op.op == "linear":
            w, b = _folded(a)
            w, b = self._const(w), self._const(b)
            act = a["act"]
            return lambda x, env: _activate(ops.linear(x, w, b), act)
        if op.op == "bn":  # an affine per channel that could not be folded: BN with mean 0, var 1, eps 0
            scale, shift = self._const(a["scale"]), self._const(a["shift"])
            zeros, ones = self._const(np.zeros(len(a["scale"]))), self._const(np.ones(len(a["scale"])))
            act = a["act"]
            return lambda x, env: _activate(ops.batch_norm(x, zeros, ones, scale, shift, eps=0.0), act)
        if op.op == "act":
            act = a["act"]
            return lambda x, env: (ops.relu(x) if act == "relu" else ops.relu6(x))
        if op.op == "add":
            act, other = a["act"], op.inputs[1]
            if act == "relu":
                return lambda x, env: ops.add_relu(x, env[other])
            return lambda x, env: _activate(ops.add(x, env[other]), act)
        if op.op == "max_pool":
            k, s, d, ceil = a["kernel"], a["stride"], a["dilation"], a["ceil_mode"]
            p = _pool_padding(a["padding"], "max pooling")
            return lambda x, env: ops.max_pool2d(x, k, s, p, d, ceil)
        if op.op == "avg_pool":
            k, s, ceil, cip = a["kernel"], a["stride"], a["ceil_mode"], a["count_include_pad"]
            p = _pool_padding(a["padding"], "average pooling")
            return lambda x, env: ops.avg_pool2d(x, k, s, p, ceil, cip)
        if op.op == "gap":
            return lambda x, env: ops.global_avg_pool2d(x)
        if op.op == "flatten":
            return lambda x, env: x.reshape(x.shape[0], -1)
        if op.op == "softmax":
            return lambda x, env: ops.softmax(x, 1)
        if op.op == "concat":
            rest = op.inputs[1:]

            def concat(x, env):
                parts = [x] + [env[v] for v in rest]
                if _is_tensor(x):
                    from .cuda import ops as cuda_ops
                    return cuda_ops.concat(parts, axis=1)
                return np.concatenate(parts, axis=1)
            return concat
        raise AssertionError(op.op)  # pragma: no cover - every traced op is handled above

    # -- running ---------------------------------------------------------------------------------
    def __call__(self, x):
        """x: (n, *input_shape[1:]), host array or device Tensor -> the model's output, same kind."""
        host_in = not _is_tensor(x)
        if host_in:
            x = np.ascontiguousarray(x, np.float32)
        shape = tuple(x.shape)
        if len(shape) != len(self.input_shape) or shape[1:] != self.input_shape[1:] or not (
                0 < shape[0] <= max(self.input_shape[0], 1)):
            raise ValueError(f"input has shape {shape}; compiled for {self.input_shape} "
                             f"(any batch 1..{self.input_shape[0]})")
        if host_in:
            x = self._upload(x)
        env = {0: x}
        for fn, first, out, dying in self._steps:
            env[out] = fn(env[first], env)
            for v in dying:
                del env[v]  # its memory goes back to the allocator for the next op
        y = env[self._output]
        if host_in and _is_tensor(y):
            return y.numpy()
        if y is x and host_in:
            return np.array(y)
        return y

    run = __call__

    @property
    def weight_bytes(self) -> int:
        """Bytes of the folded weights held on the device."""
        return self._weight_bytes

    def __repr__(self):
        return (f"DeviceCompiledModel(input_shape={self.input_shape}, device={self.device!r}, "
                f"steps={self._n_ops})")
