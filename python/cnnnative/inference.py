"""Inference compilation: `cnnnative.compile(model, input_shape)`.

The model is traced once into a small graph of operations, simplified, and handed to
the C++ engine (`_core.EnginePlan`), which plans all intermediate memory in one arena
and runs the whole network with one call (GIL released) per invocation.

Simplifications, in order (each can be switched off with ``fuse=False`` to compare):

1. **BatchNorm folding.** A BatchNorm (eval mode: running statistics) right after a
   convolution or linear layer whose output nobody else reads becomes part of that
   layer: ``w' = w * gamma/sqrt(var+eps)`` per output channel and
   ``b' = (b - mean) * gamma/sqrt(var+eps) + beta``, computed in float64.
2. **Residual fusion.** ``add(conv(x), r)`` becomes a convolution whose output stage adds
   ``r`` (the conv that runs later is chosen, so ``r`` already exists when it runs).
3. **Activation fusion.** ReLU / ReLU6 after a conv, linear, add or unfolded BatchNorm is
   applied in that node's output stage.

What is fused, and where:

- im2col / 1x1 GEMM convolutions: bias and ReLU/ReLU6 are applied by the GEMM's own
  epilogue while each tile is in registers (``sgemm_ex``); a residual input is added
  (then the activation) on each output tile right after its GEMM, while it is in cache.
- Winograd convolutions (3x3 stride 1, F(4x4) or F(2x2), filters transformed once at
  compile time): bias, residual and activation inside the output transform.
- Depthwise convolutions: the epilogue is applied to each value as it is computed.
- Not fused: pooling, and a BatchNorm or add that does not directly follow a single-use
  conv/linear (they run as their own nodes, with the activation fused into them).

Memory: one arena per concurrent caller, planned by buffer lifetimes (``arena_bytes``),
plus the plan's weights (``weight_bytes``). Per-node scratch (im2col blocks, Winograd
transformed tiles) is planned inside the arena too, so a call allocates nothing.

What can be traced: modules are recognised by their class name and PyTorch attribute
names, so both ``cnnnative.nn`` layers and ``torch.nn`` layers work: Conv2d, BatchNorm2d,
BatchNorm1d, ReLU, ReLU6, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1), GlobalAvgPool2d,
Flatten, Linear, Dropout*, Identity, Softmax, Sequential, cnnnative.nn.Graph; torchvision-style ResNet,
BasicBlock and Bottleneck. Any other module can take part by defining
``_cnn_trace(self, tracer, x)`` that calls the :class:`Tracer` methods and returns the
output value.
"""
from __future__ import annotations

import numpy as np

from . import _core

__all__ = ["compile", "CompiledModel", "Tracer"]


# -- reading parameters from cnnnative.nn or torch.nn modules ---------------------------------

def _array(p, dtype=np.float32):
    """A parameter / buffer as a numpy array (None stays None). float32 parameters are
    used in place (no copy): compile() must not hold a second copy of every weight."""
    if p is None:
        return None
    from .tensor import Tensor
    if isinstance(p, Tensor):
        p = p.data  # cnnnative.nn.Parameter
    if hasattr(p, "detach"):  # torch.Tensor / torch.nn.Parameter
        p = p.detach().cpu().numpy()
    return np.asarray(p, dtype=dtype)


def _pair(v, name):
    if isinstance(v, (int, np.integer)):
        return (int(v), int(v))
    v = tuple(int(i) for i in v)
    if len(v) == 1:
        return (v[0], v[0])
    if len(v) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {v!r}")
    return v


def _pad4(v, name="padding"):
    """int, (h, w) or (top, bottom, left, right) -> (top, bottom, left, right)."""
    if isinstance(v, str):
        raise ValueError(f"{name}={v!r} is not supported by compile(); use explicit padding")
    if isinstance(v, (int, np.integer)):
        return (int(v),) * 4
    v = tuple(int(i) for i in v)
    if len(v) == 2:
        return (v[0], v[0], v[1], v[1])
    if len(v) == 4:
        return v
    raise ValueError(f"{name} must be an int, a pair or 4 values, got {v!r}")


# -- the traced graph ---------------------------------------------------------------------------

class _Op:
    __slots__ = ("op", "inputs", "out", "attrs")

    def __init__(self, op, inputs, out, **attrs):
        self.op, self.inputs, self.out, self.attrs = op, list(inputs), out, attrs

    def __repr__(self):
        return f"_Op({self.op}, {self.inputs} -> {self.out})"


class Tracer:
    """Records a model's operations as values (ints; 0 is the input) and ops.

    Modules call these from ``_cnn_trace(self, tracer, x)``; `x` and the results are
    value ids. `rank` tracks each value's number of dimensions (4 = NCHW, 2 = (N, F)).
    """

    def __init__(self, input_rank):
        self.ops = []
        self.rank = {0: input_rank}
        self._next = 1

    def _emit(self, op, inputs, rank, **attrs):
        out = self._next
        self._next += 1
        self.ops.append(_Op(op, inputs, out, **attrs))
        self.rank[out] = rank
        return out

    def _need_rank(self, x, rank, what):
        if self.rank[x] != rank:
            raise ValueError(f"{what} needs a {rank}-D input, but the traced value is {self.rank[x]}-D")

    # Public building blocks ---------------------------------------------------------------
    def trace(self, module, x):
        """Trace `module` applied to value `x`; returns the output value."""
        hook = getattr(module, "_cnn_trace", None)
        if hook is not None:
            return hook(self, x)
        name = type(module).__name__
        rule = _RULES.get(name)
        if rule is None:
            raise TypeError(f"compile(): cannot trace a {name} module; supported: "
                            f"{', '.join(sorted(_RULES))}, or give the class a "
                            f"_cnn_trace(self, tracer, x) method")
        return rule(self, module, x)

    def sequence(self, modules, x):
        """Trace modules one after another (a Sequential)."""
        for m in modules:
            x = self.trace(m, x)
        return x

    def add(self, a, b, activation="none"):
        if self.rank[a] != self.rank[b]:
            raise ValueError("add: inputs of different ranks")
        return self._emit("add", [a, b], self.rank[a], act=activation)

    def activation(self, x, kind):
        if kind not in ("relu", "relu6"):
            raise ValueError(f"activation must be 'relu' or 'relu6', got {kind!r}")
        return self._emit("act", [x], self.rank[x], act=kind)

    def concat(self, values):
        return self._emit("concat", list(values), self.rank[values[0]])

    def flatten(self, x):
        return x if self.rank[x] == 2 else self._emit("flatten", [x], 2)

    def conv(self, x, weight, bias, stride=1, padding=0, dilation=1, groups=1):
        self._need_rank(x, 4, "Conv2d")
        weight = _array(weight)
        bias = _array(bias)
        return self._emit("conv", [x], 4, weight=weight,
                          bias=None if bias is None else bias, stride=_pair(stride, "stride"),
                          padding=_pad4(padding), dilation=_pair(dilation, "dilation"),
                          groups=int(groups), act="none", residual=None)

    def batch_norm(self, x, running_mean, running_var, weight, bias, eps):
        mean, var = _array(running_mean, np.float64), _array(running_var, np.float64)
        if mean is None or var is None:
            raise ValueError("compile(): a BatchNorm without running statistics "
                             "(track_running_stats=False) cannot be compiled for inference")
        scale = 1.0 / np.sqrt(var + float(eps))
        if weight is not None:
            scale = scale * _array(weight, np.float64)
        shift = -mean * scale
        if bias is not None:
            shift = shift + _array(bias, np.float64)
        return self._emit("bn", [x], self.rank[x], scale=scale, shift=shift, act="none")

    def linear(self, x, weight, bias):
        x = self.flatten(x)
        return self._emit("linear", [x], 2, weight=_array(weight), bias=_array(bias), act="none")

    def max_pool(self, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        self._need_rank(x, 4, "MaxPool2d")
        k = _pair(kernel_size, "kernel_size")
        s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _pair(stride, "stride")
        return self._emit("max_pool", [x], 4, kernel=k, stride=s, padding=_pad4(padding),
                          dilation=_pair(dilation, "dilation"), ceil_mode=bool(ceil_mode))

    def avg_pool(self, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        self._need_rank(x, 4, "AvgPool2d")
        k = _pair(kernel_size, "kernel_size")
        s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _pair(stride, "stride")
        return self._emit("avg_pool", [x], 4, kernel=k, stride=s, padding=_pad4(padding),
                          ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad))

    def global_avg_pool(self, x):
        self._need_rank(x, 4, "global average pooling")
        return self._emit("gap", [x], 4)

    def softmax(self, x):
        x = self.flatten(x)
        return self._emit("softmax", [x], 2)


# -- rules for known module classes -------------------------------------------------------------

def _children(m):
    return list(m.children())


def _conv_rule(t, m, x):
    mode = getattr(m, "padding_mode", "zeros")
    if mode != "zeros":
        raise ValueError(f"compile(): Conv2d padding_mode={mode!r} is not supported")
    return t.conv(x, m.weight, getattr(m, "bias", None), m.stride, m.padding, m.dilation, m.groups)


def _bn_rule(t, m, x):
    return t.batch_norm(x, m.running_mean, m.running_var, getattr(m, "weight", None),
                        getattr(m, "bias", None), m.eps)


def _max_pool_rule(t, m, x):
    if getattr(m, "return_indices", False):
        raise ValueError("compile(): MaxPool2d(return_indices=True) is not supported")
    return t.max_pool(x, m.kernel_size, m.stride, m.padding, getattr(m, "dilation", 1),
                      getattr(m, "ceil_mode", False))


def _avg_pool_rule(t, m, x):
    if getattr(m, "divisor_override", None) is not None:
        raise ValueError("compile(): AvgPool2d(divisor_override=...) is not supported")
    return t.avg_pool(x, m.kernel_size, m.stride, m.padding, getattr(m, "ceil_mode", False),
                      getattr(m, "count_include_pad", True))


def _adaptive_avg_rule(t, m, x):
    size = getattr(m, "output_size", 1)
    if size not in (1, (1, 1), [1, 1], (1,)):
        raise ValueError(f"compile(): AdaptiveAvgPool2d({size!r}) is not supported (only output size 1)")
    return t.global_avg_pool(x)


def _flatten_rule(t, m, x):
    start = getattr(m, "start_dim", 1)
    end = getattr(m, "end_dim", -1)
    if start != 1 or end != -1:
        raise ValueError(f"compile(): Flatten(start_dim={start}, end_dim={end}) is not supported")
    return t.flatten(x)


def _softmax_rule(t, m, x):
    dim = getattr(m, "dim", -1)
    if dim not in (1, -1, None):
        raise ValueError(f"compile(): Softmax(dim={dim}) is not supported (class axis only)")
    return t.softmax(x)


def _basic_block_rule(t, m, x):
    # torchvision BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x))
    y = t.activation(t.trace(m.bn1, t.trace(m.conv1, x)), "relu")
    y = t.trace(m.bn2, t.trace(m.conv2, y))
    down = getattr(m, "downsample", None)
    identity = t.trace(down, x) if down is not None else x
    return t.activation(t.add(y, identity), "relu")


def _bottleneck_rule(t, m, x):
    y = t.activation(t.trace(m.bn1, t.trace(m.conv1, x)), "relu")
    y = t.activation(t.trace(m.bn2, t.trace(m.conv2, y)), "relu")
    y = t.trace(m.bn3, t.trace(m.conv3, y))
    down = getattr(m, "downsample", None)
    identity = t.trace(down, x) if down is not None else x
    return t.activation(t.add(y, identity), "relu")


def _graph_rule(t, g, x):
    # cnnnative.nn.Graph: its nodes are stored in a topological order.
    if len(g._inputs) != 1 or len(g._outputs) != 1:
        raise ValueError("compile(): a Graph must have exactly one input and one output")
    values = {}
    for i, s in enumerate(g._specs):
        args = [values[j] for j in s.inputs]
        if s.kind == "input":
            values[i] = x
        elif s.kind == "module":
            values[i] = t.trace(s.module, args[0])
        elif s.kind in ("add", "add_relu"):
            values[i] = t.add(args[0], args[1], "relu" if s.kind == "add_relu" else "none")
        elif s.kind == "concat":
            values[i] = t.concat(args) if len(args) > 1 else args[0]
        else:
            raise ValueError(f"compile(): unknown Graph node kind {s.kind!r}")
    return values[g._outputs[0]]


def _resnet_rule(t, m, x):
    # torchvision ResNet.forward: the children in order, flattened before fc.
    return t.sequence(_children(m), x)


_RULES = {
    "Conv2d": _conv_rule,
    "BatchNorm2d": _bn_rule,
    "BatchNorm1d": _bn_rule,
    "ReLU": lambda t, m, x: t.activation(x, "relu"),
    "ReLU6": lambda t, m, x: t.activation(x, "relu6"),
    "MaxPool2d": _max_pool_rule,
    "AvgPool2d": _avg_pool_rule,
    "AdaptiveAvgPool2d": _adaptive_avg_rule,
    "GlobalAvgPool2d": lambda t, m, x: t.global_avg_pool(x),
    "Flatten": _flatten_rule,
    "Linear": lambda t, m, x: t.linear(x, m.weight, getattr(m, "bias", None)),
    "Softmax": _softmax_rule,
    "Dropout": lambda t, m, x: x,  # identity in eval mode
    "Dropout2d": lambda t, m, x: x,
    "Identity": lambda t, m, x: x,
    "Sequential": lambda t, m, x: t.sequence(_children(m), x),
    "Graph": _graph_rule,
    "BasicBlock": _basic_block_rule,
    "Bottleneck": _bottleneck_rule,
    "ResNet": _resnet_rule,
}


# -- graph simplification -----------------------------------------------------------------------

def _consumers(ops, output):
    count = {}
    for op in ops:
        for v in op.inputs:
            count[v] = count.get(v, 0) + 1
    count[output] = count.get(output, 0) + 1  # the model's output is read by the caller
    return count


def _rename(ops, old, new):
    for op in ops:
        op.inputs = [new if v == old else v for v in op.inputs]
        if op.attrs.get("residual") == old:
            op.attrs["residual"] = new


def _absorb(ops, output, removed, into):
    """Op `removed` was merged into the op producing `into`: its readers (and the model's
    output, if it was that) read `into` instead. Returns the new output value."""
    _rename(ops, removed, into)
    return into if output == removed else output


def _fold_batch_norms(ops, output):
    producer = {op.out: op for op in ops}
    uses = _consumers(ops, output)
    kept = []
    for op in ops:
        src = producer.get(op.inputs[0]) if op.op == "bn" else None
        if (src is not None and src.op in ("conv", "linear") and src.attrs["act"] == "none"
                and src.attrs.get("residual") is None and uses[src.out] == 1):
            # Applied when the layer is emitted (_folded), one layer at a time, so the
            # folded copies of all weights never exist at once.
            scale, shift = op.attrs["scale"], op.attrs["shift"]
            if "fold" in src.attrs:  # two BatchNorms in a row compose
                s0, t0 = src.attrs["fold"]
                scale, shift = s0 * scale, t0 * scale + shift
            src.attrs["fold"] = (scale, shift)
            output = _absorb(ops, output, op.out, src.out)
            continue
        kept.append(op)
    return kept, output


def _fuse_residual_adds(ops, output):
    producer = {op.out: op for op in ops}
    position = {op.out: i for i, op in enumerate(ops)}
    uses = _consumers(ops, output)
    kept = []
    for op in ops:
        if op.op == "add":
            candidates = [producer.get(v) for v in op.inputs]
            candidates = [c for c in candidates
                          if c is not None and c.op == "conv" and c.attrs["act"] == "none"
                          and c.attrs["residual"] is None and uses[c.out] == 1
                          and op.inputs[0] != op.inputs[1]]
            if candidates:
                conv = max(candidates, key=lambda c: position[c.out])  # runs last: the other exists
                other = op.inputs[1] if op.inputs[0] == conv.out else op.inputs[0]
                if position.get(other, -1) < position[conv.out]:
                    conv.attrs["residual"] = other
                    conv.attrs["act"] = op.attrs["act"]
                    output = _absorb(ops, output, op.out, conv.out)
                    continue
        kept.append(op)
    return kept, output


def _fuse_activations(ops, output):
    producer = {op.out: op for op in ops}
    uses = _consumers(ops, output)
    kept = []
    for op in ops:
        src = producer.get(op.inputs[0]) if op.op == "act" else None
        if (src is not None and src.op in ("conv", "linear", "add", "bn") and src.attrs["act"] == "none"
                and uses[src.out] == 1):
            src.attrs["act"] = op.attrs["act"]
            output = _absorb(ops, output, op.out, src.out)
            continue
        kept.append(op)
    return kept, output


# -- the compiled callable ----------------------------------------------------------------------

def _f32(a):
    return None if a is None else np.ascontiguousarray(a, dtype=np.float32)


def _folded(a):
    """(weight, bias) of a conv/linear with its BatchNorm folded in: float64 math, float32
    result. The weight is scaled 64 output channels at a time, so no float64 copy of a
    whole layer (18 MB for ResNet-18's largest) adds to compile's peak memory."""
    w, b = a["weight"], a["bias"]
    if "fold" not in a:
        return w, b
    scale, shift = a["fold"]
    folded = np.empty(w.shape, np.float32)
    for k in range(0, w.shape[0], 64):
        s = scale[k:k + 64].reshape((-1,) + (1,) * (w.ndim - 1))
        folded[k:k + 64] = w[k:k + 64].astype(np.float64) * s
    b = (0.0 if b is None else b.astype(np.float64)) * scale + shift
    return folded, b


def _emit(plan, ops, output):
    buf = {0: 0}
    for op in ops:
        a = op.attrs
        ins = [buf[v] for v in op.inputs]
        if op.op in ("conv", "linear"):
            a["weight"], a["bias"] = _folded(a)
        if op.op == "conv":
            res = -1 if a["residual"] is None else buf[a["residual"]]
            out = plan.add_conv(ins[0], _f32(a["weight"]), _f32(a["bias"]), a["stride"], a["padding"],
                                a["dilation"], a["groups"], a["act"], res)
        elif op.op == "linear":
            out = plan.add_linear(ins[0], _f32(a["weight"]), _f32(a["bias"]), a["act"])
        elif op.op == "bn":
            out = plan.add_channel_affine(ins[0], _f32(a["scale"]), _f32(a["shift"]), a["act"])
        elif op.op == "act":
            out = plan.add_activation(ins[0], a["act"])
        elif op.op == "add":
            out = plan.add_add(ins[0], ins[1], a["act"])
        elif op.op == "max_pool":
            out = plan.add_max_pool(ins[0], a["kernel"], a["stride"], a["padding"], a["dilation"], a["ceil_mode"])
        elif op.op == "avg_pool":
            out = plan.add_avg_pool(ins[0], a["kernel"], a["stride"], a["padding"], a["ceil_mode"],
                                    a["count_include_pad"])
        elif op.op == "gap":
            out = plan.add_global_avg_pool(ins[0])
        elif op.op == "flatten":
            out = plan.add_flatten(ins[0])
        elif op.op == "softmax":
            out = plan.add_softmax(ins[0])
        elif op.op == "concat":
            out = plan.add_concat(ins)
        else:  # pragma: no cover - every op the tracer emits is handled above
            raise AssertionError(op.op)
        buf[op.out] = out
        a.pop("weight", None)  # the plan has its own copy now
        a.pop("fold", None)
    if output == 0:
        # The model is the identity: give the plan one node so the output is a new array.
        out = plan.add_flatten(0) if len(plan.buffer_shape(0)) == 2 else None
        if out is None:
            raise ValueError("compile(): the model does nothing to its input")
        buf[0] = out
    plan.finalize(buf[output])


def _check_out(out, shape):
    """The core writes into `out` only when no conversion is needed: anything that would be
    converted (another dtype, a strided view, a list) would leave the caller's array as it was."""
    if not isinstance(out, np.ndarray):
        raise ValueError(f"out must be a numpy float32 array, got {type(out).__name__}")
    if out.dtype != np.float32 or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out must be a writeable C-contiguous float32 array, got {out.dtype} "
                         f"(C-contiguous: {out.flags.c_contiguous}, writeable: {out.flags.writeable})")
    if out.shape != tuple(shape):
        raise ValueError(f"out has shape {out.shape}, the output is {tuple(shape)}")


class CompiledModel:
    """A model compiled for inference (eval-mode semantics). Call it with a float32 array
    of the compiled shape (any batch from 0 up to the compiled one).

    Attributes: input_shape, output_shape (for the compiled batch), arena_bytes (the one
    planned activation buffer), weight_bytes (the plan's folded weights), unshared_bytes
    (what the activations would take without reuse), nodes (what runs, in order).
    Calls are thread-safe: each concurrent call borrows its own arena.
    """

    def __init__(self, plan, input_shape, fused, poison):
        self._plan = plan
        self.input_shape = tuple(input_shape)
        self.output_shape = tuple(plan.buffer_shape(plan.output_id))
        self.fused = fused
        self.poison = poison

    def __call__(self, x, out=None):
        """x: (n, *input_shape[1:]) with n <= input_shape[0] -> (n, *output_shape[1:]).
        out: a writeable C-contiguous float32 array of exactly that shape, filled and
        returned; anything else is a ValueError (never a silent copy that stays unwritten)."""
        if out is not None:
            _check_out(out, (np.shape(x)[0] if np.ndim(x) else 0, *self.output_shape[1:]))
        return self._plan.run(x, self.poison, out)

    run = __call__

    @property
    def arena_bytes(self) -> int:
        return self._plan.arena_bytes

    @property
    def weight_bytes(self) -> int:
        return self._plan.weight_bytes

    @property
    def unshared_bytes(self) -> int:
        return self._plan.unshared_bytes

    @property
    def peak_bytes(self) -> int:
        """Arena + weights: the memory a call needs besides its input and output."""
        return self.arena_bytes + self.weight_bytes

    @property
    def nodes(self) -> list:
        return self._plan.nodes()

    def summary(self) -> str:
        lines = [f"CompiledModel {self.input_shape} -> {self.output_shape}: {len(self.nodes)} nodes, "
                 f"arena {self.arena_bytes / 2**20:.2f} MiB (without reuse "
                 f"{self.unshared_bytes / 2**20:.2f} MiB), weights {self.weight_bytes / 2**20:.2f} MiB"]
        for i, n in enumerate(self.nodes):
            extra = ""
            if n["op"] == "conv":
                method = n["method"] + (f" F({n['winograd_tile']}x{n['winograd_tile']})"
                                        if n["method"] == "winograd" else "")
                extra = f" [{method}{' +residual' if n['residual'] else ''}]"
            act = "" if n["activation"] == "none" else f" +{n['activation']}"
            lines.append(f"  {i:3d} {n['op']}{extra}{act} -> {tuple(n['output_shape'])}")
        return "\n".join(lines)

    def __repr__(self):
        return (f"CompiledModel(input_shape={self.input_shape}, output_shape={self.output_shape}, "
                f"nodes={len(self.nodes)}, arena_bytes={self.arena_bytes})")


def trace(model, input_rank=4, *, fuse=True):
    """Trace `model` into (ops, output value); with fuse, fold BN and fuse epilogues."""
    t = Tracer(input_rank)
    output = t.trace(model, 0)
    ops = t.ops
    if fuse:
        ops, output = _fold_batch_norms(ops, output)
        ops, output = _fuse_residual_adds(ops, output)
        ops, output = _fuse_activations(ops, output)
    return ops, output


def compile(model, input_shape, *, fuse=True, algo="auto", poison=False, device="cpu"):
    """Compile `model` for inference on inputs of `input_shape`.

    model: a cnnnative.nn or torch.nn module built from the layers listed in this
    module's docstring (read in eval mode: BatchNorm uses its running statistics,
    Dropout is the identity). Parameters are copied: later changes to the model do not
    affect the compiled one.
    input_shape: (N, C, H, W) or (N, F); calls accept any batch 0 <= n <= N.
    fuse: fold BatchNorm into the preceding conv/linear and fuse bias, residual add and
    ReLU/ReLU6 into the conv output stage (False keeps every op separate).
    algo: how each convolution's method is picked, once: "auto" (heuristic: Winograd
    F(4x4)/F(2x2) with pre-transformed filters for 3x3 stride-1 convs with >= 16
    channels, im2col/1x1 GEMM or direct depthwise otherwise), "gemm" (never Winograd),
    or "autotune" (time the candidates on this shape at compile time).
    poison: debug mode; arena memory is NaN-filled whenever a buffer is dead.
    device: "cpu" (the C++ engine), or "cuda" / "cuda:N": the same simplified graph run
    on the GPU through cnnnative.ops with the folded weights uploaded once (see
    cnnnative.device_inference; algo and poison apply to the CPU engine only).
    Returns a CompiledModel (CPU) or DeviceCompiledModel (GPU): ``y = compiled(x)``.
    """
    try:
        shape = tuple(int(d) for d in input_shape)
    except TypeError:
        raise TypeError(f"input_shape must be a tuple of ints, got {input_shape!r}") from None
    if len(shape) not in (2, 4):
        raise ValueError(f"input_shape must be (N, C, H, W) or (N, F), got {shape}")
    if shape[0] < 0 or any(d <= 0 for d in shape[1:]):
        raise ValueError(f"input_shape must have N >= 0 and positive other sizes, got {shape}")
    device = str(device)
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    ops, output = trace(model, len(shape), fuse=fuse)
    if device != "cpu":
        from . import cuda
        from .device_inference import DeviceCompiledModel
        cuda._require()
        if output == 0:
            raise ValueError("compile(): the model does nothing to its input")
        return DeviceCompiledModel(ops, output, shape, device)
    plan = _core.EnginePlan(list(shape), str(algo))
    _emit(plan, ops, output)
    return CompiledModel(plan, shape, fuse, poison)
