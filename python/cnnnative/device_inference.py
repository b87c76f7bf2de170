"""`cnnnative.compile(model, shape, device="cuda")`: the compiled OpGraph run node by node on a GPU.

The model is traced and simplified exactly as for the CPU engine (`cnnnative.ir.trace`
and `cnnnative.ir.fuse`: BatchNorm folded into the conv/linear before it in float64,
residual adds and ReLU/ReLU6 attached to the node that produces their input as epilogue
steps). Instead of the C++ arena plan, every node of that same graph becomes a call of
its `cnnnative.ops` function, which dispatches on the device of its inputs: with the
(folded) weights uploaded once, every intermediate stays on the GPU, and each value is
dropped right after its last reader so the caching allocator hands its memory to the
next op (the GPU counterpart of the arena's reuse).

On the GPU the conv kernels take the bias; a residual add and the activation of the
epilogue run as separate element-wise kernels (the CPU engine fuses them into the conv's
output stage). Layout ops (flatten, reshape, view) reshape the device tensor, and a
concatenation uses the CUDA backend's concat. Not done: capturing the steps in a CUDA
Graph (per-launch overhead stays).

The same runner also works on host arrays (every op has a CPU path), which is how its
translation of each node is tested on machines without a GPU (tests/test_inference.py).
"""
from __future__ import annotations

import numpy as np

from . import ops
from .ir.execute import apply_activation_step, call_op, resolve_value
from .ir.fuse import _is_param, folded_weights
from .ir.graph import Value

__all__ = ["DeviceCompiledModel"]


def _is_tensor(a) -> bool:
    return type(a).__module__ == "cnnnative._cuda"




_LAYOUT_OPS = ("flatten", "reshape", "cat")  # translated here, not by cuda.ops


def _check_device_ops(graph):
    """Every node's op must have a GPU kernel: say which does not, and where, at compile time."""
    from .cuda import ops as cuda_ops
    for node in graph.nodes:
        if node.op not in _LAYOUT_OPS and not callable(getattr(cuda_ops, node.op, None)):
            where = f" (layer {node.scope!r})" if node.scope else ""
            raise ValueError(f"compile(device=...): op {node.op}{where} has no CUDA implementation; "
                             "compile for the CPU instead")


class DeviceCompiledModel:
    """A traced, simplified OpGraph whose nodes run through cnnnative.ops on one device.

    Call it with an array of the compiled shape (any batch 0 < n <= N): a host array
    gives a host array back, a cnnnative.cuda.Tensor a Tensor (data stays on the GPU).
    """

    def __init__(self, graph, input_shape, device="cuda", upload=None):
        self.input_shape = tuple(input_shape)
        self.device = str(device)
        if upload is None:
            from . import cuda
            index = int(self.device.partition(":")[2] or 0)

            def upload(a):
                return cuda.from_numpy(np.ascontiguousarray(a, np.float32), device=index)
            _check_device_ops(graph)
        self._upload = upload
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            raise ValueError("compile(device=...): the graph must have one input and one output")
        self._input, self._output = graph.inputs[0], graph.outputs[0]
        last = graph.last_uses()
        self._weight_bytes = 0
        # Each step: (call, its output value, the values that die after it -- worked out
        # once here, not on every call).
        self._steps = []
        for i, node in enumerate(graph.nodes):
            dying = tuple(id(v) for v in node.inputs if last.get(id(v)) == i and v is not self._output)
            self._steps.append((self._step(node), node.outputs, dying))
        self._n_ops = len(graph.nodes)

    # -- translation of one node into a call --------------------------------------------------------
    def _const(self, a):
        if a is None:
            return None
        a = np.ascontiguousarray(a, np.float32)
        self._weight_bytes += a.nbytes
        return self._upload(a)

    def _step(self, node):
        args = dict(node.args)
        epilogue = list(node.epilogue)
        if node.op in ("conv1d", "conv2d", "linear") and _is_param(args.get("weight")):
            # The same float64 BatchNorm folding as the CPU engine.
            args["weight"], args["bias"], epilogue = folded_weights(node)
        args = {k: (self._const(a) if _is_param(a) else a) for k, a in args.items()}
        epilogue = [(s[0], self._const(s[1]), self._const(s[2])) if s[0] == "scale_shift"
                    else (s[0], self._const(s[1])) if s[0] == "prelu" else s for s in epilogue]
        node.args, node.epilogue = {}, []  # the device holds its own (folded) copies now
        op, out_shape = node.op, node.outputs[0].shape

        if op in ("flatten", "reshape"):
            def call(env):
                x = resolve_value(next(a for a in args.values() if isinstance(a, Value)), env)
                return x.reshape((x.shape[0],) + tuple(out_shape[1:]))
        elif op == "cat":
            def call(env):
                parts = resolve_value(args["tensors"], env)
                if _is_tensor(parts[0]):
                    from .cuda import ops as cuda_ops
                    return cuda_ops.concat(parts, axis=args.get("dim", 0))
                return np.concatenate(parts, axis=args.get("dim", 0))
        elif op == "module":  # pragma: no cover - traced graphs hold ops only
            raise ValueError("compile(device=...): a graph with module nodes must be traced first")
        else:
            def call(env):
                return call_op(op, {k: resolve_value(a, env) for k, a in args.items()})
        if not epilogue:
            return call

        def with_epilogue(env):
            y = call(env)
            k = 0
            while k < len(epilogue):
                step = epilogue[k]
                if step[0] == "scale_shift":
                    c = step[1].shape[0]
                    zeros, ones = self._zeros_ones(c)
                    y = ops.batch_norm(y, zeros, ones, step[1], step[2], eps=0.0)
                elif step[0] == "add":
                    r = env[id(step[1])]
                    if k + 1 < len(epilogue) and epilogue[k + 1][0] == "relu":
                        y, k = ops.add_relu(y, r), k + 1
                    else:
                        y = ops.add(y, r)
                elif step[0] == "relu":
                    y = ops.relu(y, out=y)
                elif step[0] == "relu6":
                    y = ops.relu6(y, out=y)
                else:
                    y = apply_activation_step(y, step)
                k += 1
            return y
        return with_epilogue

    def _zeros_ones(self, c):
        cache = self.__dict__.setdefault("_unit_stats", {})
        if c not in cache:
            cache[c] = (self._upload(np.zeros(c, np.float32)), self._upload(np.ones(c, np.float32)))
        return cache[c]

    # -- running -------------------------------------------------------------------------------------
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
        env = {id(self._input): x}
        for call, outs, dying in self._steps:
            y = call(env)
            if len(outs) == 1:
                env[id(outs[0])] = y
            else:
                for v, part in zip(outs, y):
                    env[id(v)] = part
            for key in dying:
                env.pop(key, None)  # its memory goes back to the allocator for the next op
        y = env[id(self._output)]
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
