"""The deployable model file: `export_plan` writes a compiled model, `load_plan` runs one.

A plan file (docs/plan_format.md) holds the compiled, BatchNorm-folded, fused graph with its
weights: the sequence of engine build calls (conv, pool, add, ...) with their original
float32 weights and attributes, in a versioned little-endian format with a CRC-32 and
64-byte-aligned weights. A bf16 model (compile(..., precision="bf16")) is written with the
same float32 weights and its precision; the loader rounds them to bf16 as compile does. An
int8 model (cnnnative.quantize(..., exportable=True)) is written with its int8 weights and
quantization parameters, node for node. Loading replays those calls in C++ (the same loader the C API
uses), so each convolution's kernel (Winograd, prepacked GEMM, ...) is chosen for the CPU
that loads the file, exactly as `cnnnative.compile` chooses it there.

    compiled = cnnnative.compile(model, (1, 3, 224, 224), exportable=True)
    cnnnative.export_plan(compiled, "model.cnn")      # or export_plan(model, path, input_shape)
    m = cnnnative.load_plan("model.cnn")               # path, bytes or a binary file object
    y = m(x)                                           # x: (n, 3, 224, 224), n <= 1

Only models the engine runs whole can be exported: a model with a host node (an op the C++
engine does not have, run by Python between engine segments) is refused, naming the layer.
"""
from __future__ import annotations

import os
import struct
import zlib

import numpy as np

from . import _core

__all__ = ["export_plan", "load_plan", "LoadedPlan", "FORMAT_VERSION"]

FORMAT_VERSION = (1, 1)
_MAGIC = b"CNNPLAN\0"
_HEADER_BYTES = 64
_SECTION_ENTRY_BYTES = 32
_ALIGN = 64
_SECTION = {"meta": 1, "tensors": 2, "graph": 3, "data": 4}
_DTYPE = {np.dtype(np.float32): 1, np.dtype(np.int8): 4}
_PRECISION = {"fp32": 0, "bf16": 1}  # meta field (version 1.1)
_CONV_CHOICE = {"auto": 0, "gemm": 1, "autotune": 2}
_ACTIVATIONS = {"none": 0, "": 0, "relu": 1, "relu6": 2, "silu": 3, "hardswish": 4, "gelu": 5, "gelu_tanh": 6,
                "sigmoid": 7, "prelu": 8, "hardsigmoid": 9}
_INTERP_MODES = {"nearest": 0, "nearest-exact": 1, "linear": 2}
# File op codes (cpp/src/planfile/format.h).
_OPS = {"conv": 1, "conv_transpose": 2, "max_pool": 3, "avg_pool": 4, "global_avg_pool": 5, "linear": 6, "add": 7,
        "concat": 8, "flatten": 9, "softmax": 10, "channel_affine": 11, "activation": 12, "channel_scale": 13,
        "interpolate": 14, "pixel_shuffle": 15, "pixel_unshuffle": 16, "channel_shuffle": 17,
        "channel_slice": 18,
        # int8 (cnnnative.quantize; version 1.1)
        "quantize": 19, "dequantize": 20, "conv_int8": 21, "linear_int8": 22, "max_pool_u8": 23,
        "avg_pool_u8": 24, "global_avg_pool_u8": 25, "concat_u8": 26}


# -- recording the engine build calls ----------------------------------------------------------------

class _Node:
    __slots__ = ("op", "inputs", "ints", "reals", "tensors", "output")

    def __init__(self, op, inputs, ints=(), reals=(), tensors=(), output=-1):
        self.op, self.inputs, self.ints, self.reals = _OPS[op], [int(i) for i in inputs], [int(v) for v in ints], \
            [float(v) for v in reals]
        self.tensors, self.output = list(tensors), int(output)


class PlanRecorder:
    """Stands in for a `_core.EnginePlan` while `cnnnative.compile` builds it: every add_*
    call goes to the plan and is recorded (with a copy of its float32 arrays), so the plan
    can be written to a file. `scope` names the layer whose nodes are being added (tensor
    names in the file)."""

    def __init__(self, plan, input_shape, algo, precision="fp32"):
        self.plan = plan
        self.precision = str(precision)
        self.input_shape = [int(d) for d in input_shape]
        self.algo = str(algo)
        self.nodes: list[_Node] = []
        self.tensors: list[tuple[str, np.ndarray]] = []
        self.output = -1
        self.scope = ""
        self._names: set = set()

    def _tensor(self, array, what, dtype=np.float32):
        """Index of a copy of `array` (as dtype) in the tensor table (-1 for None)."""
        if array is None:
            return -1
        base = f"{self.scope or f'node{len(self.nodes)}'}.{what}"
        name, k = base, 1
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        self.tensors.append((name, np.array(array, dtype=dtype, order="C", copy=True)))
        return len(self.tensors) - 1

    def _record(self, op, output, inputs, ints=(), reals=(), arrays=()):
        tensors = [self._tensor(array, what, *dtype) for what, array, *dtype in arrays]
        self.nodes.append(_Node(op, inputs, ints, reals, tensors, output))
        return output

    @staticmethod
    def _act(activation):
        if activation not in _ACTIVATIONS:
            raise ValueError(f"export_plan: activation {activation!r} has no plan file code")
        return _ACTIVATIONS[activation]

    def add_conv(self, input, weight, bias, stride, padding, dilation, groups, activation="none", residual=-1,
                 slope=None):
        out = self.plan.add_conv(input, weight, bias, stride, padding, dilation, groups, activation, residual, slope)
        inputs = [input] if residual < 0 else [input, residual]
        return self._record("conv", out, inputs, [*stride, *padding, *dilation, groups, self._act(activation)],
                            arrays=(("weight", weight), ("bias", bias), ("slope", slope)))

    def add_conv_transpose(self, input, weight, bias, stride, padding, output_padding, dilation, groups,
                           activation="none", slope=None):
        out = self.plan.add_conv_transpose(input, weight, bias, stride, padding, output_padding, dilation, groups,
                                           activation, slope)
        return self._record("conv_transpose", out, [input],
                            [*stride, *padding, *output_padding, *dilation, groups, self._act(activation)],
                            arrays=(("weight", weight), ("bias", bias), ("slope", slope)))

    def add_max_pool(self, input, kernel_size, stride, padding, dilation, ceil_mode):
        out = self.plan.add_max_pool(input, kernel_size, stride, padding, dilation, ceil_mode)
        return self._record("max_pool", out, [input], [*kernel_size, *stride, *padding, *dilation, bool(ceil_mode)])

    def add_avg_pool(self, input, kernel_size, stride, padding, ceil_mode, count_include_pad):
        out = self.plan.add_avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad)
        return self._record("avg_pool", out, [input],
                            [*kernel_size, *stride, *padding, bool(ceil_mode), bool(count_include_pad)])

    def add_global_avg_pool(self, input):
        return self._record("global_avg_pool", self.plan.add_global_avg_pool(input), [input])

    def add_linear(self, input, weight, bias, activation="none", slope=None):
        out = self.plan.add_linear(input, weight, bias, activation, slope)
        return self._record("linear", out, [input], [self._act(activation)],
                            arrays=(("weight", weight), ("bias", bias), ("slope", slope)))

    def add_add(self, a, b, activation="none"):
        return self._record("add", self.plan.add_add(a, b, activation), [a, b], [self._act(activation)])

    def add_concat(self, inputs):
        return self._record("concat", self.plan.add_concat(inputs), list(inputs))

    def add_flatten(self, input):
        return self._record("flatten", self.plan.add_flatten(input), [input])

    def add_softmax(self, input):
        return self._record("softmax", self.plan.add_softmax(input), [input])

    def add_channel_affine(self, input, scale, shift, activation="none"):
        out = self.plan.add_channel_affine(input, scale, shift, activation)
        return self._record("channel_affine", out, [input], [self._act(activation)],
                            arrays=(("scale", scale), ("shift", shift)))

    def add_activation(self, input, activation):
        out = self.plan.add_activation(input, activation)
        return self._record("activation", out, [input], [self._act(activation)])

    def add_channel_scale(self, input, scale):
        return self._record("channel_scale", self.plan.add_channel_scale(input, scale), [input, scale])

    def add_interpolate(self, input, size, mode, align_corners, scale):
        out = self.plan.add_interpolate(input, size, mode, align_corners, scale)
        return self._record("interpolate", out, [input], [*size, _INTERP_MODES[mode], bool(align_corners)],
                            reals=scale)

    def add_pixel_shuffle(self, input, upscale_factor):
        out = self.plan.add_pixel_shuffle(input, upscale_factor)
        return self._record("pixel_shuffle", out, [input], [upscale_factor])

    def add_pixel_unshuffle(self, input, downscale_factor):
        out = self.plan.add_pixel_unshuffle(input, downscale_factor)
        return self._record("pixel_unshuffle", out, [input], [downscale_factor])

    def add_channel_shuffle(self, input, groups):
        return self._record("channel_shuffle", self.plan.add_channel_shuffle(input, groups), [input], [groups])

    def add_channel_slice(self, input, start, count):
        return self._record("channel_slice", self.plan.add_channel_slice(input, start, count), [input],
                            [start, count])

    # int8 nodes (cnnnative.quantization.lower): the same calls as _core.plan_add_*, recorded.
    # A quantization is (scale, zero point); it goes to the file as a real and an int.

    def add_quantize(self, input, scale, zero):
        out = _core.plan_add_quantize(self.plan, input, scale, zero)
        return self._record("quantize", out, [input], [zero], [scale])

    def add_dequantize(self, input, scale, zero):
        out = _core.plan_add_dequantize(self.plan, input, scale, zero)
        return self._record("dequantize", out, [input], [zero], [scale])

    def add_conv_int8(self, input, in_q, weight, mult, bias, stride, padding, dilation, groups, activation, residual,
                      res_q, out_u8, out_q):
        out = _core.plan_add_conv_int8(self.plan, input, in_q, weight, mult, bias, stride, padding, dilation, groups,
                                       activation, residual, res_q, out_u8, out_q)
        inputs = [input] if residual < 0 else [input, residual]
        return self._record("conv_int8", out, inputs,
                            [in_q[1], *stride, *padding, *dilation, groups, self._act(activation), res_q[1],
                             bool(out_u8), out_q[1]], [in_q[0], res_q[0], out_q[0]],
                            arrays=(("weight", weight, np.int8), ("mult", mult), ("bias", bias)))

    def add_linear_int8(self, input, in_q, weight, mult, bias, activation, out_u8, out_q):
        out = _core.plan_add_linear_int8(self.plan, input, in_q, weight, mult, bias, activation, out_u8, out_q)
        return self._record("linear_int8", out, [input],
                            [in_q[1], self._act(activation), bool(out_u8), out_q[1]], [in_q[0], out_q[0]],
                            arrays=(("weight", weight, np.int8), ("mult", mult), ("bias", bias)))

    def add_max_pool_u8(self, input, kernel_size, stride, padding, dilation, ceil_mode, q, out_u8):
        out = _core.plan_add_max_pool_u8(self.plan, input, kernel_size, stride, padding, dilation, ceil_mode, q,
                                         out_u8)
        return self._record("max_pool_u8", out, [input],
                            [*kernel_size, *stride, *padding, *dilation, bool(ceil_mode), q[1], bool(out_u8)], [q[0]])

    def add_avg_pool_u8(self, input, kernel_size, stride, padding, ceil_mode, count_include_pad, q, out_u8):
        out = _core.plan_add_avg_pool_u8(self.plan, input, kernel_size, stride, padding, ceil_mode,
                                         count_include_pad, q, out_u8)
        return self._record("avg_pool_u8", out, [input],
                            [*kernel_size, *stride, *padding, bool(ceil_mode), bool(count_include_pad), q[1],
                             bool(out_u8)], [q[0]])

    def add_global_avg_pool_u8(self, input, q, out_u8):
        out = _core.plan_add_global_avg_pool_u8(self.plan, input, q, out_u8)
        return self._record("global_avg_pool_u8", out, [input], [q[1], bool(out_u8)], [q[0]])

    def add_concat_u8(self, inputs, in_q, out_q):
        out = _core.plan_add_concat_u8(self.plan, inputs, in_q, out_q)
        return self._record("concat_u8", out, list(inputs), [*(q[1] for q in in_q), out_q[1]],
                            [*(q[0] for q in in_q), out_q[0]])

    def finalize(self, output):
        self.plan.finalize(output)
        self.output = int(output)

    def __getattr__(self, name):  # run, nodes, buffer_shape, ...: the plan's own
        return getattr(self.plan, name)


def add_int8_node(plan, name, *args):
    """plan.add_<name>(*args) for an int8 node (quantize, dequantize, conv_int8, ...): the
    binding `_core.plan_add_<name>` on an EnginePlan, or the PlanRecorder's method of that
    name when the build is recorded for export_plan."""
    if isinstance(plan, PlanRecorder):
        return getattr(plan, f"add_{name}")(*args)
    return getattr(_core, f"plan_add_{name}")(plan, *args)


# -- writing -------------------------------------------------------------------------------------------

def _u32(v):
    return struct.pack("<I", v)


def _string(s):
    b = s.encode("utf-8")
    if b"\0" in b:
        raise ValueError(f"export_plan: name {s!r} contains a NUL character")
    return _u32(len(b)) + b


def _shape(shape):
    return _u32(len(shape)) + struct.pack(f"<{len(shape)}q", *shape)


def _pad_to(n, align=_ALIGN):
    return -n % align


def plan_bytes(recording, input_name, input_shape, output_name, output_shape) -> bytes:
    """The plan file of a finished PlanRecorder, with the input and output named and shaped
    as the caller sees them (batch first; the recording's own input may be the (N, C, 1, L)
    engine form of an (N, C, L) input)."""
    meta = b"".join([_u32(_CONV_CHOICE[recording.algo]), _u32(1), _u32(1), _u32(_PRECISION[recording.precision]),
                     _string(input_name), _shape(input_shape), _string(output_name), _shape(output_shape)])
    table, data_parts, data_size = [_u32(len(recording.tensors)), _u32(0)], [], 0
    for name, array in recording.tensors:
        raw = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        table += [_string(name), _u32(_DTYPE[array.dtype]), _shape(array.shape), struct.pack("<QQ", data_size, len(raw))]
        data_parts += [raw, b"\0" * _pad_to(len(raw))]
        data_size += len(raw) + _pad_to(len(raw))
    tensors = b"".join(table)
    graph = [_shape(recording.input_shape), struct.pack("<i", recording.output), _u32(len(recording.nodes))]
    for n in recording.nodes:
        graph += [_u32(n.op), _u32(len(n.inputs)), struct.pack(f"<{len(n.inputs)}i", *n.inputs),
                  _u32(len(n.ints)), struct.pack(f"<{len(n.ints)}q", *n.ints),
                  _u32(len(n.reals)), struct.pack(f"<{len(n.reals)}d", *n.reals),
                  _u32(len(n.tensors)), struct.pack(f"<{len(n.tensors)}i", *n.tensors), struct.pack("<i", n.output)]
    graph = b"".join(graph)

    sections = [("meta", meta), ("tensors", tensors), ("graph", graph)]
    offset = _HEADER_BYTES + _SECTION_ENTRY_BYTES * 4
    entries, body = [], []
    for name, blob in sections:
        entries.append(struct.pack("<IIQQQ", _SECTION[name], 0, offset, len(blob), 0))
        body.append(blob)
        offset += len(blob)
    pad = _pad_to(offset)
    body.append(b"\0" * pad)
    offset += pad
    entries.append(struct.pack("<IIQQQ", _SECTION["data"], 0, offset, data_size, 0))
    body += data_parts
    total = offset + data_size
    rest = b"".join(entries + body)
    crc = zlib.crc32(rest) & 0xFFFFFFFF
    header = _MAGIC + struct.pack("<HHIQIIQI", FORMAT_VERSION[0], FORMAT_VERSION[1], 0, total, _HEADER_BYTES, 4,
                                  _HEADER_BYTES, crc)
    header += b"\0" * (_HEADER_BYTES - len(header))
    assert len(header) + len(rest) == total
    return header + rest


def _host_layers(compiled):
    from .inference import _HostStep
    return [(s.node.scope or "<model>", s.node.op) for s in compiled._steps if isinstance(s, _HostStep)]


def export_plan(model, path=None, input_shape=None, *, input_name="input", output_name="output", algo=None,
                fuse=True, precision=None):
    """Write a compiled model to a plan file (docs/plan_format.md).

    model: a CompiledModel made by ``cnnnative.compile(..., exportable=True)`` (or a
    QuantizedModel by ``cnnnative.quantize(..., exportable=True)``), or a model
    (anything `cnnnative.compile` takes) together with `input_shape`, which is compiled here.
    path: where to write (str or os.PathLike), a binary file object, or None to return the
    file's bytes.
    input_shape: (N, C, H, W), (N, C, L) or (N, F) for a model; N is the largest batch the
    loaded plan runs. Ignored shape checks aside, it must equal a CompiledModel's own.
    input_name / output_name: the names the file gives the input and the output (the C API
    reports them).
    algo: the convolution method choice the loader applies ("auto", "gemm" or "autotune");
    for a model, also how it is compiled here. Default: the CompiledModel's, or "auto".
    precision: "fp32" or "bf16" (the conv and linear nodes multiply bf16-rounded values; see
    `cnnnative.compile`): for a model, how it is compiled here (default "fp32"); for a
    CompiledModel, None or its own precision.
    Returns the path (or the bytes when path is None).
    Raises ValueError for a model the engine does not run whole (a host node: the message
    names the layer) and for a CompiledModel compiled without exportable=True.
    """
    from .inference import CompiledModel
    from .inference import compile as cn_compile
    if isinstance(model, CompiledModel):
        compiled = model
        own = getattr(model, "precision", "fp32")
        if precision is not None and precision != own:
            raise ValueError(f"export_plan: precision={precision!r} differs from the compiled model's {own!r}; "
                             "compile it with that precision, or pass the model and input_shape")
        if input_shape is not None and tuple(int(d) for d in input_shape) != compiled.input_shape:
            raise ValueError(f"export_plan: input_shape {tuple(input_shape)} differs from the compiled model's "
                             f"{compiled.input_shape}")
    else:
        if type(model).__name__ == "DeviceCompiledModel":
            raise ValueError("export_plan: a model compiled for a GPU cannot be exported; compile it for the CPU "
                             "(device='cpu', exportable=True) or pass the model and input_shape")
        if input_shape is None:
            raise ValueError("export_plan: input_shape is required when exporting a model (not a CompiledModel)")
        compiled = cn_compile(model, input_shape, fuse=fuse, algo="auto" if algo is None else algo, exportable=True,
                              precision="fp32" if precision is None else precision)
    for what, name in (("input_name", input_name), ("output_name", output_name)):
        if not isinstance(name, str) or not name:
            raise ValueError(f"export_plan: {what} must be a non-empty string, got {name!r}")
    hosted = _host_layers(compiled)
    if hosted:
        layers = ", ".join(f"{layer} ({op})" for layer, op in hosted[:5]) + (" ..." if len(hosted) > 5 else "")
        raise ValueError(f"export_plan: the engine does not run the whole model; {len(hosted)} node(s) run on the "
                         f"Python host and cannot be written to a plan file: {layers}")
    recordings = getattr(compiled, "_recordings", None)
    if recordings is None:
        if type(compiled).__name__ == "QuantizedModel":
            raise ValueError("export_plan: this QuantizedModel keeps no record of its build; quantize it with "
                             "cnnnative.quantize(model, calibration_data, ..., exportable=True)")
        raise ValueError("export_plan: this CompiledModel keeps no record of its build; compile it with "
                         "cnnnative.compile(model, input_shape, exportable=True), or pass the model and "
                         "input_shape to export_plan")
    if len(recordings) != 1 or not compiled._whole:
        raise ValueError(f"export_plan: the model compiled into {len(recordings)} engine plans; a plan file holds "
                         "one")
    recording = recordings[0]
    if algo is not None:
        if str(algo) not in _CONV_CHOICE:
            raise ValueError(f"algo must be 'auto', 'gemm' or 'autotune', got {algo!r}")
        recording.algo = str(algo)
    data = plan_bytes(recording, input_name, list(compiled.input_shape), output_name, list(compiled.output_shape))
    if path is None:
        return data
    if hasattr(path, "write"):
        path.write(data)
        return path
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path


# -- loading -------------------------------------------------------------------------------------------

class LoadedPlan:
    """A plan file loaded into the C++ engine; behaves like a CompiledModel: ``y = m(x)``.

    Attributes: input_name, output_name, input_shape, output_shape (batch first: the largest
    batch it runs), arena_bytes, weight_bytes, nodes, summary(). Calls are thread-safe.
    """

    def __init__(self, plan, input_spec, output_spec):
        self._plan = plan
        self.input_name, self.input_shape = input_spec[0], tuple(input_spec[1])
        self.output_name, self.output_shape = output_spec[0], tuple(output_spec[1])
        self._plan_in = tuple(plan.buffer_shape(0))
        self._plan_out = tuple(plan.buffer_shape(plan.output_id))

    def __call__(self, x, out=None):
        """x: (n, *input_shape[1:]) with n <= input_shape[0] -> (n, *output_shape[1:])."""
        try:
            x = np.ascontiguousarray(x, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise TypeError(f"input must be convertible to a float32 array: {e}") from None
        want = self.input_shape
        if x.ndim != len(want) or x.shape[1:] != want[1:]:
            raise ValueError(f"input must have shape (n, {', '.join(map(str, want[1:]))}) with n <= {want[0]}, "
                             f"got {x.shape}")
        if x.shape[0] > want[0]:
            raise ValueError(f"input batch {x.shape[0]} is larger than the plan's batch {want[0]}")
        n = x.shape[0]
        oshape = (n, *self.output_shape[1:])
        if out is not None:
            from .inference import _check_out
            _check_out(out, oshape)
        y = self._plan.run(x.reshape((n, *self._plan_in[1:])), False,
                           None if out is None else out.reshape((n, *self._plan_out[1:])))
        return out if out is not None else y.reshape(oshape)

    run = __call__

    @property
    def arena_bytes(self) -> int:
        return self._plan.arena_bytes

    @property
    def weight_bytes(self) -> int:
        return self._plan.weight_bytes

    @property
    def nodes(self) -> list:
        return self._plan.nodes()

    def summary(self) -> str:
        return (f"LoadedPlan {self.input_name}{self.input_shape} -> {self.output_name}{self.output_shape}: "
                f"{len(self.nodes)} nodes, arena {self.arena_bytes / 2**20:.2f} MiB, "
                f"weights {self.weight_bytes / 2**20:.2f} MiB")

    def __repr__(self):
        return (f"LoadedPlan(input={self.input_name!r} {self.input_shape}, output={self.output_name!r} "
                f"{self.output_shape}, nodes={len(self.nodes)})")


def load_plan(source) -> LoadedPlan:
    """Load a plan file written by `export_plan`: source is a path (str / os.PathLike),
    bytes-like, or a binary file object. The C++ loader validates the whole file first; a
    malformed, truncated, corrupt or newer-version file is a ValueError saying what is wrong."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        loaded = _core.load_plan_bytes(source)
    elif hasattr(source, "read"):
        loaded = _core.load_plan_bytes(source.read())
    elif isinstance(source, (str, os.PathLike)):
        loaded = _core.load_plan_file(os.fspath(source))
    else:
        raise TypeError(f"load_plan: source must be a path, bytes or a binary file, got {type(source).__name__}")
    return LoadedPlan(*loaded)
