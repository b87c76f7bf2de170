"""Inference compilation: `cnnnative.compile(model, input_shape)`.

1. **Trace** (`cnnnative.ir.trace`): the model's own ``forward`` runs once, in eval mode,
   on a recording Tensor; every `cnnnative.ops` call it makes becomes a node of an
   `OpGraph`, tagged with the dotted name of the module that made it. Any model whose
   forward is made of ops compiles -- there is no table of module classes. A torch.nn
   module is first translated into cnnnative layers (`cnnnative.torch_adapter`).
2. **Rewrite** (`cnnnative.ir.fuse`, each switched off with ``fuse=False`` to compare):
   BatchNorm folded into the conv/linear before it (float64); ``add(conv(x), r)`` fused
   into the conv's output stage as a residual; ReLU, ReLU6, SiLU, Hardswish, GELU (erf or
   tanh), Sigmoid and Hardsigmoid after a conv, linear, add or unfolded BatchNorm fused into that
   node's output stage, and PReLU (constant slopes, 1 or one per channel) after a conv or
   linear.
3. **Lower** to the C++ engine (`_core.EnginePlan`), which plans all intermediate memory
   in one arena and runs the network with one call (GIL released) per invocation.

What is fused, and where:

- im2col / 1x1 GEMM convolutions: bias and ReLU/ReLU6 are applied by the GEMM's own
  epilogue while each tile is in registers (``sgemm_ex``); a residual input is added
  (then the activation) on each output tile right after its GEMM, while it is in cache.
- Winograd convolutions (3x3 stride 1, F(4x4) or F(2x2), filters transformed once at
  compile time): bias, residual and activation inside the output transform.
- Depthwise convolutions: the epilogue is applied to each value as it is computed.
- SiLU, Hardswish, GELU, Sigmoid, Hardsigmoid and PReLU (which need exp/erfc) run right after each
  of those stores, over the block just written, on the same thread while it is in cache,
  with the same SIMD kernels as the eager ops (so fused equals unfused, NaN included).
- Conv1d runs as the height-1 conv2d: its (N, C, L) values are (N, C, 1, L) engine
  buffers (views, no copies), with the same fusions.
- Transposed convolutions (conv_transpose2d, and conv_transpose1d at height 1) run the
  eager op's C++ path (the convolution input gradient: GEMM + col2im) into the arena, then
  bias and activation over each output plane just written; a BatchNorm after one folds
  into its weights (per output channel: dim 1 of the (C_in, C_out/groups, ...) weight).
- Not fused: pooling, and a BatchNorm or add that does not directly follow a single-use
  conv/linear (they run as their own nodes, with the activation fused into them).

**Host nodes.** The engine runs conv1d, conv2d, conv_transpose1d/2d, linear, eval batch_norm, relu, relu6,
silu, hardswish, gelu, sigmoid, add, add_relu, max/avg/global-average pooling, flatten to
(N, features), softmax over the features of a 2-D value, concatenation along channels
(on 2-D, 3-D or 4-D values), the squeeze-and-excitation channel scale, interpolate
(nearest, nearest-exact, linear/bilinear on 3-D/4-D values), pixel_shuffle /
pixel_unshuffle, channel_shuffle and a channel range x[:, a:b] (straight between engine buffers). Any other op (tanh, leaky_relu, an unfused prelu,
layer/group/instance norm, local response norm, mul,
reshape, ...) runs as a *host node*: the `cnnnative.ops` function itself, called on
numpy arrays between engine segments. The graph is cut into segments at host nodes,
and each segment into the longest pieces that read exactly one value and feed exactly
one value onwards (what one `EnginePlan` takes); a node no such piece can hold (inside a
residual branch whose other side is a host node, say) runs op by op on the host. So
every model that traces also compiles, at eager speed where the engine cannot take it.
`summary()` shows which nodes run where.

Memory: one arena per concurrent caller per engine segment, planned by buffer lifetimes
(``arena_bytes``), plus the plan's weights (``weight_bytes``). Per-node scratch (im2col
blocks, Winograd transformed tiles) is planned inside the arena too, so a call of a model
the engine runs whole allocates nothing.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import _core
from .ir import fuse as _fuse
from .ir.execute import run_node
from .ir.graph import Value, format_shape
from .ir.shapes import _pad4, _pair

__all__ = ["compile", "CompiledModel", "trace"]


# -- which nodes the engine runs -------------------------------------------------------------------

def _epilogue_parts(node):
    """(scale_shift steps, residual Value or None, activation) if the epilogue has the
    order the engine can apply (scale_shift*, add?, act?), else None."""
    steps = list(node.epilogue)
    scales = []
    while steps and steps[0][0] == "scale_shift":
        scales.append(steps.pop(0))
    residual = steps.pop(0)[1] if steps and steps[0][0] == "add" else None
    act = steps.pop(0) if steps and steps[0][0] in _ENGINE_ACTIVATIONS else ("none",)
    return None if steps else (scales, residual, act)


# The activation epilogue steps the engine applies (names as its `activation` argument);
# prelu (with its slopes) only on conv and linear nodes.
_ENGINE_ACTIVATIONS = ("relu", "relu6", "silu", "hardswish", "gelu", "gelu_tanh", "sigmoid", "hardsigmoid",
                       "prelu")


def engine_shape(value_shape):
    """The engine buffer of a value: (N, C, L) runs as the height-1 image (N, C, 1, L)."""
    shape = tuple(value_shape)
    return (shape[0], shape[1], 1, shape[2]) if len(shape) == 3 else shape


def _conv1d_geometry(node):
    """conv1d's arguments as the height-1 conv2d's: (stride, (t, b, l, r), dilation)."""
    from .ops.conv1d import left_right_padding, single
    a = node.args
    stride, dilation = single(a.get("stride", 1), "stride"), single(a.get("dilation", 1), "dilation")
    left, right = left_right_padding(a.get("padding", 0), a["weight"].shape[2], stride, dilation)
    return (1, stride), (0, 0, left, right), (1, dilation)


def _transposed_geometry(node):
    """A transposed convolution's (stride, padding, output_padding, dilation) as (h, w)
    pairs; conv_transpose1d's as the height-1 image's."""
    a = node.args
    names = ("stride", "padding", "output_padding", "dilation")
    defaults = (1, 0, 0, 1)
    if node.op == "conv_transpose1d":
        from .ops.conv1d import single
        return tuple((d, single(a.get(k, d), k)) for k, d in zip(names, defaults))
    return tuple(_pair(a.get(k, d), k) for k, d in zip(names, defaults))


def _interpolate_geometry(node):
    """interpolate's engine arguments: (size (out_h, out_w), kernel mode, align_corners,
    scale (h, w)) of its height-1 image for a 1-D input; None when the engine has no such
    interpolation (3-D, antialias, an argument the op itself refuses)."""
    from .ops.resample import _plan
    a, shape = node.args, node.inputs[0].shape
    try:
        mode, align, out, scales = _plan(shape, a.get("size"), a.get("scale_factor"), a.get("mode", "nearest"),
                                         a.get("align_corners"), a.get("recompute_scale_factor"),
                                         a.get("antialias", False))
    except (TypeError, ValueError):
        return None
    if len(out) == 1:
        out, scales = [1] + out, [0.0] + scales
    return (out[0], out[1]), mode, align, (scales[0], scales[1])


def _value_args(node):
    return [a for a in node.args.values() if isinstance(a, Value)]


def _engine_can_run(node) -> bool:
    """Does the C++ engine have this node (with these arguments and epilogue)?"""
    parts = _epilogue_parts(node)
    if parts is None or len(node.outputs) != 1 or node.op == "module":
        return False
    scales, residual, act = parts
    ranks_ok = all(len(v.shape) in (2, 3, 4) and v.batched for v in node.inputs + node.outputs)
    if not ranks_ok:
        return False
    a, op = node.args, node.op
    values = _value_args(node)
    if op in _fuse.TRANSPOSED:
        rank = 3 if op == "conv_transpose1d" else 4
        return (len(values) == 1 and len(values[0].shape) == rank and _fuse._constant_weights(node)
                and residual is None)
    if op in ("conv1d", "conv2d", "linear"):
        rank = {"conv1d": 3, "conv2d": 4, "linear": 2}[op]
        return (len(values) == 1 and len(values[0].shape) == rank and _fuse._constant_weights(node)
                and (op == "conv1d" or not isinstance(a.get("padding", 0), str))
                and (residual is None or op != "linear"))
    if scales or act[0] == "prelu":
        return False
    if _fuse.channel_affine(node) is not None:  # eval batch_norm, x * c, x + c, ... per channel
        return residual is None
    if residual is not None:
        return False
    step = _fuse.activation_step(node)
    if step is not None and step[0] != "prelu":
        return act[0] == "none"
    if op in ("add", "add_relu"):
        return (len(values) == 2 and len(a) == 2 and values[0].shape == values[1].shape
                and (op == "add" or act[0] == "none"))
    if act[0] != "none":
        return False
    if op == "channel_scale":  # the squeeze-and-excitation gate, in place on the engine's buffer
        return len(values) == 2 and len(values[0].shape) == 4 and a.get("out") is None
    if op == "interpolate":  # 1-D runs as the height-1 image, as conv1d does
        return len(values) == 1 and len(values[0].shape) in (3, 4) and _interpolate_geometry(node) is not None
    if op in ("pixel_shuffle", "pixel_unshuffle"):
        return len(values) == 1 and len(values[0].shape) == 4
    if op == "channel_shuffle":
        return len(values) == 1 and len(values[0].shape) in (3, 4)
    if op == "getitem":
        return len(values) == 1 and _channel_range(node) is not None
    if op == "fake_quantize_per_tensor_affine":  # a QDQ pair: the engine's quantize + dequantize
        return len(values) == 1 and _fake_quant_u8(node) is not None
    x = values[0] if values else None
    if op == "max_pool2d":
        return len(x.shape) == 4 and not a.get("return_indices", False)
    if op in ("avg_pool2d", "global_avg_pool2d"):
        return len(x.shape) == 4
    if op in ("flatten", "reshape"):
        return len(x.shape) in (3, 4) and len(node.output.shape) == 2
    if op == "softmax":
        return len(x.shape) == 2 and a.get("dim", -1) in (1, -1)
    if op == "cat":
        parts = a.get("tensors", ())
        return (all(isinstance(v, Value) for v in parts)
                and int(a.get("dim", 0)) % len(node.output.shape) == 1)  # the channels
    return False


def _channel_range(node):
    """(start, stop) when a getitem node takes a contiguous run of channels, x[:, a:b]
    (ShuffleNet-v2's split), of a batched 3-D/4-D value; None for any other index."""
    (x,) = node.inputs
    index = node.args.get("index")
    if not isinstance(index, tuple) or len(x.shape) not in (3, 4) or not 2 <= len(index) <= len(x.shape):
        return None
    def takes_all(i):  # an index entry may be an array (fancy indexing): compare slices only
        return isinstance(i, slice) and i == slice(None)
    if not takes_all(index[0]) or not isinstance(index[1], slice) or not all(map(takes_all, index[2:])):
        return None
    start, stop, step = index[1].indices(x.shape[1])
    return (start, stop) if step == 1 and stop > start else None


def _fake_quant_u8(node):
    """(scale, uint8 zero point) of a fake_quantize_per_tensor_affine node on an 8-bit grid
    (uint8 0..255, or int8 -128..127 shifted by 128: the same values), else None."""
    a = node.args
    lo, hi = int(a.get("quant_min", 0)), int(a.get("quant_max", 255))
    if (lo, hi) not in ((0, 255), (-128, 127)) or isinstance(a.get("scale"), Value):
        return None
    return float(np.float32(a["scale"])), int(a["zero_point"]) - lo


def _f32(a):
    return None if a is None else np.ascontiguousarray(a, dtype=np.float32)


def _emit(plan, node, buf):
    """Add `node` to `plan`; buf maps id(value) -> engine buffer id. Returns its buffer."""
    a, op = node.args, node.op
    ins = [buf[id(v)] for v in _value_args(node)]
    scales, residual, step = _epilogue_parts(node)
    act, slope = step[0], (_f32(step[1]) if step[0] == "prelu" else None)
    if op in ("conv1d", "conv2d", "linear"):
        w, b, _ = _fuse.folded_weights(node)
        if op == "linear":
            return plan.add_linear(ins[0], _f32(w), _f32(b), act, slope)
        res = -1 if residual is None else buf[id(residual)]
        if op == "conv1d":  # the height-1 conv2d (its values are (N, C, 1, L) in the engine)
            stride, pad, dilation = _conv1d_geometry(node)
            w = w[:, :, None, :]
        else:
            stride, pad = _pair(a.get("stride", 1), "stride"), _pad4(a.get("padding", 0))
            dilation = _pair(a.get("dilation", 1), "dilation")
        return plan.add_conv(ins[0], _f32(w), _f32(b), stride, pad, dilation, int(a.get("groups", 1)), act, res,
                             slope)
    if op in _fuse.TRANSPOSED:
        w, b, _ = _fuse.folded_weights(node)
        stride, padding, output_padding, dilation = _transposed_geometry(node)
        if op == "conv_transpose1d":  # the height-1 conv_transpose2d
            w = w[:, :, None, :]
        return plan.add_conv_transpose(ins[0], _f32(w), _f32(b), stride, padding, output_padding, dilation,
                                       int(a.get("groups", 1)), act, slope)
    affine = _fuse.channel_affine(node)
    if affine is not None:
        _, scale, shift = affine
        return plan.add_channel_affine(buf[id(affine[0])], _f32(scale), _f32(shift), act)
    activation = _fuse.activation_step(node)
    if activation is not None:
        return plan.add_activation(ins[0], activation[0])
    if op == "add":
        return plan.add_add(ins[0], ins[1], act)
    if op == "add_relu":
        return plan.add_add(ins[0], ins[1], "relu")
    if op in ("max_pool2d", "avg_pool2d"):
        k = _pair(a["kernel_size"], "kernel_size")
        stride = a.get("stride")
        s = k if stride is None or stride == () else _pair(stride, "stride")
        p = _pair(a.get("padding", 0), "padding")
        pad = (p[0], p[0], p[1], p[1])
        if op == "max_pool2d":
            return plan.add_max_pool(ins[0], k, s, pad, _pair(a.get("dilation", 1), "dilation"),
                                     bool(a.get("ceil_mode", False)))
        return plan.add_avg_pool(ins[0], k, s, pad, bool(a.get("ceil_mode", False)),
                                 bool(a.get("count_include_pad", True)))
    if op == "global_avg_pool2d":
        return plan.add_global_avg_pool(ins[0])
    if op in ("flatten", "reshape"):
        return plan.add_flatten(ins[0])
    if op == "softmax":
        return plan.add_softmax(ins[0])
    if op == "cat":
        return plan.add_concat([buf[id(v)] for v in a["tensors"]])
    if op == "channel_scale":
        return plan.add_channel_scale(ins[0], ins[1])
    if op == "interpolate":
        size, mode, align, scale = _interpolate_geometry(node)
        return plan.add_interpolate(ins[0], size, mode, align, scale)
    if op == "pixel_shuffle":
        return plan.add_pixel_shuffle(ins[0], int(a["upscale_factor"]))
    if op == "pixel_unshuffle":
        return plan.add_pixel_unshuffle(ins[0], int(a["downscale_factor"]))
    if op == "channel_shuffle":
        return plan.add_channel_shuffle(ins[0], int(a["groups"]))
    if op == "getitem":
        start, stop = _channel_range(node)
        return plan.add_channel_slice(ins[0], start, stop - start)
    if op == "fake_quantize_per_tensor_affine":
        from .plan_file import add_int8_node
        scale, zero = _fake_quant_u8(node)
        return add_int8_node(plan, "dequantize", add_int8_node(plan, "quantize", ins[0], scale, zero), scale, zero)
    raise AssertionError(op)  # pragma: no cover - _engine_can_run admits only the ops above


# -- cutting the graph into engine segments and host nodes -------------------------------------------

class _EngineStep:
    __slots__ = ("plan", "source", "result")

    def __init__(self, plan, source, result) -> None:
        self.plan, self.source, self.result = plan, source, result

    def run(self, x, poison, out=None):
        """The plan on x; (N, C, L) values go in and come out as (N, C, 1, L) views."""
        flat_in, flat_out = len(self.source.shape) == 3, len(self.result.shape) == 3
        if not (flat_in or flat_out):
            return self.plan.run(x, poison, out)
        if flat_in:
            x = np.ascontiguousarray(x, dtype=np.float32)
            x = x.reshape(engine_shape(x.shape))
        if out is not None and flat_out:
            self.plan.run(x, poison, out.reshape(engine_shape(out.shape)))
            return out
        y = self.plan.run(x, poison, out)
        return y.reshape(y.shape[0], y.shape[1], y.shape[3]) if flat_out else y


class _HostStep:
    __slots__ = ("node",)

    def __init__(self, node) -> None:
        self.node = node


def _segments(graph):
    """Runs of consecutive engine nodes, and the host nodes between them."""
    runs, current = [], []
    for node in graph.nodes:
        if _engine_can_run(node):
            current.append(node)
            continue
        if current:
            runs.append(current)
            current = []
        runs.append(node)
    if current:
        runs.append(current)
    return runs


def _own_params(node):
    """A host node keeps its own copy of its arrays (later changes to the model must not
    change the compiled one)."""
    node.args = {k: (np.array(v, copy=True) if _fuse._is_param(v) else v) for k, v in node.args.items()}
    node.epilogue = [tuple(np.array(p, copy=True) if isinstance(p, np.ndarray) else p for p in s)
                     for s in node.epilogue]
    return node


class _Boundary:
    """Which values cross the edge of a group of nodes: the ones it reads from outside
    (sources) and the ones read outside it or returned by the graph (results)."""

    def __init__(self, graph) -> None:
        self.readers: dict[int, set] = {}
        for node in graph.nodes:
            for v in node.inputs:
                self.readers.setdefault(id(v), set()).add(id(node))
        self.returned = {id(v) for v in graph.outputs}

    def __call__(self, nodes):
        inside = {id(n) for n in nodes}
        made = {id(v) for n in nodes for v in n.outputs}
        sources = {id(v): v for n in nodes for v in n.inputs if id(v) not in made}
        results = [v for n in nodes for v in n.outputs
                   if id(v) in self.returned or self.readers.get(id(v), set()) - inside]
        return list(sources.values()), results


def _engine_pieces(run, boundary):
    """Cut a run of engine nodes into pieces of one source and one result (what an
    EnginePlan takes), longest first; a node no piece can hold runs on the host."""
    i = 0
    while i < len(run):
        for j in range(len(run), i, -1):
            sources, results = boundary(run[i:j])
            if len(sources) == 1 and len(results) == 1:
                yield run[i:j], sources[0], results[0]
                i = j
                break
        else:
            yield [run[i]], None, None
            i += 1


def _lower(graph, batch, algo, recordings=None, precision="fp32"):
    """The steps that run `graph`: EnginePlans for the pieces the engine can take whole,
    host nodes for the rest. recordings: a list that gets each plan's PlanRecorder (the
    build calls, for export_plan), or None."""
    boundary = _Boundary(graph)
    steps = []
    for run in _segments(graph):
        if not isinstance(run, list):
            steps.append(_HostStep(_own_params(run)))
            continue
        for piece, source, result in _engine_pieces(run, boundary):
            if source is None:
                steps.append(_HostStep(_own_params(piece[0])))
                continue
            plan = _core.EnginePlan([batch, *engine_shape(source.shape)[1:]], str(algo))
            plan.set_precision(precision)
            recorder = None
            if recordings is not None:
                from .plan_file import PlanRecorder
                recorder = PlanRecorder(plan, [batch, *engine_shape(source.shape)[1:]], algo, precision)
                recordings.append(recorder)
            buf = {id(source): 0}
            for node in piece:
                if recorder is not None:
                    recorder.scope = node.scope
                buf[id(node.output)] = _emit(plan if recorder is None else recorder, node, buf)
            for node in piece:  # the plan has its own (folded) copies now: keep no model arrays
                node.args, node.epilogue = {}, []
            (plan if recorder is None else recorder).finalize(buf[id(result)])
            steps.append(_EngineStep(plan, source, result))
    return steps


# -- the compiled callable -----------------------------------------------------------------------------

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

    Attributes: input_shape, output_shape (for the compiled batch), arena_bytes (the
    planned activation buffers), weight_bytes (the plans' folded weights), unshared_bytes
    (what the activations would take without reuse), nodes (what runs, in order; host
    nodes have op "host:<op>"). Calls are thread-safe: each concurrent call borrows its
    own arena.
    """

    precision = "fp32"  # compile(precision=...) sets it

    def __init__(self, steps, graph, input_shape, fused, poison) -> None:
        self._steps = steps
        self._plans = [s.plan for s in steps if isinstance(s, _EngineStep)]
        self._input = graph.inputs[0]
        self._output = graph.outputs[0]
        whole = (len(steps) == 1 and isinstance(steps[0], _EngineStep)
                 and steps[0].source is self._input and steps[0].result is self._output)
        # The common case: the engine runs the whole model in one call.
        self._plan = steps[0].plan if whole else (self._plans[0] if len(self._plans) == 1 else None)
        self._whole = whole
        self.input_shape = tuple(input_shape)
        self.output_shape = (self.input_shape[0],) + tuple(self._output.shape[1:])
        self.fused = fused
        self.poison = poison
        # What each step is the last to read (dropped after it, so memory stays at the
        # live frontier between engine segments).
        last_use = {}
        for i, s in enumerate(steps):
            for v in (s.node.inputs if isinstance(s, _HostStep) else [s.source]):
                last_use[id(v)] = i
        self._drops = [[] for _ in steps]
        for key, i in last_use.items():
            if key != id(self._output):
                self._drops[i].append(key)

    def _check_input(self, x):
        try:
            x = np.ascontiguousarray(x, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise TypeError(f"input must be convertible to a float32 array: {e}") from None
        want = self.input_shape
        if x.ndim != len(want):
            raise ValueError(f"input must be {len(want)}-D {want}, got shape {x.shape}")
        if x.shape[0] > want[0]:
            raise ValueError(f"input batch {x.shape[0]} is larger than the compiled batch {want[0]}")
        for d in range(1, len(want)):
            if x.shape[d] != want[d]:
                raise ValueError(f"input dimension {d} is {x.shape[d]}, compiled for {want[d]} (shape {want})")
        return x

    def __call__(self, x, out=None):
        """x: (n, *input_shape[1:]) with n <= input_shape[0] -> (n, *output_shape[1:]).
        out: a writeable C-contiguous float32 array of exactly that shape, filled and
        returned; anything else is a ValueError (never a silent copy that stays unwritten)."""
        if out is not None:
            _check_out(out, (np.shape(x)[0] if np.ndim(x) else 0, *self.output_shape[1:]))
        if self._whole:
            if len(self.input_shape) == 3:
                x = self._check_input(x)  # its errors name the (N, C, L) shape, not the engine's
            return self._steps[0].run(x, self.poison, out)
        env = {id(self._input): self._check_input(x)}
        for i, step in enumerate(self._steps):
            if isinstance(step, _EngineStep):
                env[id(step.result)] = step.run(env[id(step.source)], self.poison)
            else:
                y = run_node(step.node, env)
                outs = step.node.outputs
                for v, part in zip(outs, y if len(outs) > 1 else (y,)):
                    # Integer outputs (pooling indices for an unpooling node) stay integers.
                    integer = isinstance(part, np.ndarray) and part.dtype.kind in "iu"
                    env[id(v)] = np.ascontiguousarray(part, dtype=None if integer else np.float32)
            for key in self._drops[i]:
                env.pop(key, None)
        y = env[id(self._output)]
        if out is not None:
            np.copyto(out, y)
            return out
        return y

    run = __call__

    @property
    def arena_bytes(self) -> int:
        return sum(p.arena_bytes for p in self._plans)

    @property
    def weight_bytes(self) -> int:
        return sum(p.weight_bytes for p in self._plans)

    @property
    def unshared_bytes(self) -> int:
        return sum(p.unshared_bytes for p in self._plans)

    @property
    def peak_bytes(self) -> int:
        """Arena + weights: the memory a call needs besides its input and output."""
        return self.arena_bytes + self.weight_bytes

    @property
    def nodes(self) -> list:
        result = []
        for s in self._steps:
            if isinstance(s, _EngineStep):
                result.extend(s.plan.nodes())
            else:
                n = s.node
                result.append({"op": f"host:{n.op}", "activation": "none", "layer": n.scope,
                               "output_shape": [self.input_shape[0], *n.outputs[0].shape[1:]]})
        return result

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
            elif n["op"].startswith("host:") and n["layer"]:
                extra = f" [{n['layer']}]"
            if n.get("precision") == "bf16":
                extra += " [bf16]"
            act = "" if n["activation"] == "none" else f" +{n['activation']}"
            lines.append(f"  {i:3d} {n['op']}{extra}{act} -> {tuple(n['output_shape'])}")
        return "\n".join(lines)

    def __repr__(self):
        return (f"CompiledModel(input_shape={self.input_shape}, output_shape={self.output_shape}, "
                f"nodes={len(self.nodes)}, arena_bytes={self.arena_bytes})")


# -- entry points --------------------------------------------------------------------------------------

def _checked_shape(input_shape):
    try:
        shape = tuple(int(d) for d in input_shape)
    except TypeError:
        raise TypeError(f"input_shape must be a tuple of ints, got {input_shape!r}") from None
    if len(shape) not in (2, 3, 4, 5):
        raise ValueError(f"input_shape must be (N, C, H, W), (N, C, D, H, W), (N, C, L) or (N, F), got {shape}")
    if shape[0] < 0 or any(d <= 0 for d in shape[1:]):
        raise ValueError(f"input_shape must have N >= 0 and positive other sizes, got {shape}")
    total = 4
    for d in shape:
        total *= max(d, 1)
    if total >= 2**63:
        raise OverflowError(f"input_shape {shape}: {total} bytes of float32 overflow a 64-bit size")
    return shape


def _is_onnx_source(model) -> bool:
    """An ONNX model rather than a module: a path, bytes, a file object or a ModelProto."""
    import os
    return (isinstance(model, (str, os.PathLike, bytes, bytearray, memoryview)) or hasattr(model, "read")
            or type(model).__name__ == "ModelProto")


def trace(model: Any, input_shape: Sequence[int], *, fuse: bool = True) -> Any:
    """The model's OpGraph for inputs of `input_shape` (batch dim dynamic), simplified
    (identities removed; with fuse, BatchNorm folded and epilogues fused)."""
    from .ir.trace import trace as trace_module
    graph = trace_module(model, [tuple(input_shape)])
    return _fuse.simplify(graph, fuse=fuse)


def compile(model: Any, input_shape: Sequence[int], *, fuse: bool = True, algo: str = "auto", poison: bool = False,
            device: str = "cpu", precision: str = "fp32", exportable: bool = False) -> Any:
    """Compile `model` for inference on inputs of `input_shape`.

    model: any cnnnative.nn.Module whose forward is made of cnnnative.ops calls (layers,
    containers, nn.Graph, your own modules), a torch.nn module made of the layers
    `cnnnative.torch_adapter` translates, or an ONNX model (a path, bytes, a binary file
    object or an onnx.ModelProto: imported by `cnnnative.onnx.load(model, input_shape)`).
    It is traced in eval mode (BatchNorm uses its
    running statistics, Dropout is the identity); its training flags are restored
    afterwards. Parameters are copied: later changes to the model do not affect the
    compiled one.
    input_shape: (N, C, H, W), (N, C, D, H, W) (3-D layers, run as host nodes), (N, C, L) (1-D
    layers) or (N, F); calls accept any batch 0 <= n <= N.
    fuse: fold BatchNorm into the preceding conv/linear and fuse bias, residual add and
    the activation (ReLU, ReLU6, SiLU, Hardswish, GELU, Sigmoid, Hardsigmoid, PReLU) into the conv /
    linear output stage (False keeps every op separate).
    algo: how each convolution's method is picked, once: "auto" (heuristic: Winograd
    F(4x4)/F(2x2) with pre-transformed filters for 3x3 stride-1 convs with >= 16
    channels, im2col/1x1 GEMM or direct depthwise otherwise), "gemm" (never Winograd),
    or "autotune" (time the candidates on this shape at compile time).
    poison: debug mode; arena memory is NaN-filled whenever a buffer is dead.
    device: "cpu" (the C++ engine), or "cuda" / "cuda:N": the same simplified graph run
    on the GPU through cnnnative.ops with the folded weights uploaded once (see
    cnnnative.device_inference; algo and poison apply to the CPU engine only).
    precision: "fp32" (default), or "bf16" (CPU only): convolutions and linear layers
    multiply bf16-rounded inputs and weights (round to nearest even, weights rounded once
    here) with fp32 accumulation, on AVX512-BF16 where the CPU has it, else as the fp32
    GEMM of the rounded values (the same products, summed in another order). Their epilogue
    (bias, residual, activation), every other layer and the output stay fp32, and so do
    depthwise convs, the stem (few input channels) and 3x3 convs that take Winograd F(4x4)
    (faster than the bf16 GEMM, and Winograd on bf16 would lose too much; algo="gemm"
    puts them in bf16 too); ``summary()`` marks the bf16 nodes. Expect
    relative errors of about 2**-8 per layer; ``cnnnative.bf16_report`` measures them.
    exportable: keep a copy of the plan's build calls and folded weights (twice the
    weights' memory) so `cnnnative.export_plan(compiled, path)` can write it to a file.
    Returns a CompiledModel (CPU) or DeviceCompiledModel (GPU): ``y = compiled(x)``.
    Errors while tracing name the layer (its dotted path in named_modules) and the op.
    """
    shape = _checked_shape(input_shape)
    if _is_onnx_source(model):
        from . import onnx as _onnx
        model = _onnx.load(model, input_shape=shape)
    device = str(device)
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if str(algo) not in ("auto", "gemm", "autotune"):
        raise ValueError(f"algo must be 'auto', 'gemm' or 'autotune', got {algo!r}")
    if not isinstance(precision, str) or precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    if precision != "fp32" and device != "cpu":
        raise ValueError(f"precision={precision!r} is for device='cpu' only, got device={device!r}")
    if device != "cpu":
        from . import cuda
        cuda._require()
    graph = trace(model, shape, fuse=fuse)
    if len(graph.outputs) != 1 or not isinstance(graph.outputs[0], Value) or not graph.outputs[0].batched:
        raise ValueError("compile(): the model must return one batched array, got "
                         + ", ".join(format_shape(v.shape) for v in graph.outputs))
    if device != "cpu":
        from .device_inference import DeviceCompiledModel
        if graph.outputs[0] is graph.inputs[0]:
            raise ValueError("compile(): the model does nothing to its input")
        return DeviceCompiledModel(graph, shape, device)
    if graph.outputs[0] is graph.inputs[0]:
        if len(shape) != 2:
            raise ValueError("compile(): the model does nothing to its input")
        # The identity on (N, F): one flatten node so the output is a new array.
        plan = _core.EnginePlan(list(shape), str(algo))
        builder = plan
        if exportable:
            from .plan_file import PlanRecorder
            builder = PlanRecorder(plan, list(shape), algo)
        builder.finalize(builder.add_flatten(0))
        steps = [_EngineStep(plan, graph.inputs[0], graph.inputs[0])]
        compiled = CompiledModel(steps, graph, shape, fuse, poison)
        compiled._recordings = [builder] if exportable else None
    else:
        recordings = [] if exportable else None
        compiled = CompiledModel(_lower(graph, shape[0], algo, recordings, precision), graph, shape, fuse, poison)
        compiled._recordings = recordings
    compiled.precision = precision
    return compiled
