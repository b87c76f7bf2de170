"""Never trusting the file: the checks that turn a malformed ONNX model into one clear
ValueError naming the node (or initializer, or input), before it can become a crash, a
hang or a huge allocation.

- `check_graph_structure`: every value produced once, every input produced before it is
  read (telling a cycle from nodes merely out of topological order from a missing value);
- `check_tensors` / `check_initializer`: element type, dims and byte size of initializers
  and tensor attributes agree before a byte is decoded;
- `check_sample_size`: the per-sample size of a value (inputs, every converter's outputs)
  stays under MAX_VALUE_ELEMENTS, since shape inference may run an op on zeros of it;
- helpers converters call on their attributes (`check_window`, `check_pads`,
  `check_group`, `check_int_range`), so absurd kernels, strides, pads and groups are refused by name.
"""
from __future__ import annotations

__all__ = ["MAX_VALUE_ELEMENTS", "MAX_TENSOR_ELEMENTS", "node_label", "check_graph_structure", "check_tensors",
           "check_initializer", "check_sample_size", "check_int_range", "check_window", "check_pads",
           "check_group"]

# Elements of one sample of any run-time value (an input, any layer's output): 2**28
# float32 values are 1 GiB per sample, above any real CNN's activations (a 64-channel
# 2048 x 2048 map is 2**28). Shape inference may run an op on a zero sample, so this also
# bounds what a load allocates.
MAX_VALUE_ELEMENTS = 1 << 28

# Elements of one initializer or constant: 2**28 (1 GiB of float32), above the largest
# CNN weight (VGG's first fully connected layer, 25088 x 4096 = 2**26.6). Initializers
# must also hold their bytes; converters folding constants (ConstantOfShape, Expand, ...)
# check their results against it before allocating.
MAX_TENSOR_ELEMENTS = 1 << 28

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def node_label(node) -> str:
    """How errors name a node: its name, else its first output, else its op type."""
    return node.name or (node.output[0] if len(node.output) and node.output[0] else node.op_type)


# -- graph structure ---------------------------------------------------------------------------------
def _reaches(start, goal, readers_of, nodes):
    """Does node index `start` feed (transitively) node index `goal`?"""
    seen, stack = {start}, [start]
    while stack:
        i = stack.pop()
        if i == goal:
            return True
        for name in nodes[i].output:
            for j in readers_of.get(name, ()):
                if j not in seen:
                    seen.add(j)
                    stack.append(j)
    return False


def check_graph_structure(graph):
    """ValueError naming the node for a duplicate value name, an input read before (or
    without) being produced, and a cycle."""
    defined = {}  # value name -> what defines it
    for vi in graph.input:
        if vi.name in defined and defined[vi.name] == "graph input":
            raise ValueError(f"graph input {vi.name!r} is declared twice")
        defined[vi.name] = "graph input"
    seen_init = set()
    for t in graph.initializer:
        if t.name in seen_init:
            raise ValueError(f"initializer {t.name!r} is defined twice")
        seen_init.add(t.name)
        defined.setdefault(t.name, "initializer")
    producer = {}
    for i, node in enumerate(graph.node):
        for name in node.output:
            if not name:
                continue
            if name in producer:
                raise ValueError(f"node {node_label(node)!r} ({node.op_type}): output {name!r} is already produced "
                                 f"by node {node_label(graph.node[producer[name]])!r} (duplicate value name)")
            if name in defined:
                raise ValueError(f"node {node_label(node)!r} ({node.op_type}): output {name!r} is already the name "
                                 f"of a {defined[name]} (duplicate value name)")
            producer[name] = i
    readers_of = {}
    for i, node in enumerate(graph.node):
        for name in node.input:
            if name:
                readers_of.setdefault(name, []).append(i)
    for i, node in enumerate(graph.node):
        for name in node.input:
            if not name or name in defined:
                continue
            j = producer.get(name)
            label = f"node {node_label(node)!r} ({node.op_type})"
            if j is None:
                raise ValueError(f"{label}: input {name!r} is not produced by any node, initializer or graph input")
            if j >= i:
                if _reaches(i, j, readers_of, graph.node):
                    raise ValueError(f"{label}: input {name!r} comes from node {node_label(graph.node[j])!r}, which "
                                     f"depends on {node_label(node)!r} itself: the graph has a cycle")
                raise ValueError(f"{label}: input {name!r} is produced by the later node "
                                 f"{node_label(graph.node[j])!r}: the nodes are not in topological order")
        for name in node.output:
            if name:
                defined[name] = "node output"
    for vi in graph.output:
        if vi.name not in defined:
            raise ValueError(f"graph output {vi.name!r} is not produced by any node, initializer or graph input")


# -- tensors ----------------------------------------------------------------------------------------
def check_tensors(graph):
    """check_initializer on every initializer and every tensor attribute of a node (a
    Constant's value), the latter naming the node."""
    for t in graph.initializer:
        check_initializer(t)
    for node in graph.node:
        for a in node.attribute:
            if a.type == a.TENSOR:
                try:
                    check_initializer(a.t, f"tensor attribute {a.name!r}")
                except ValueError as e:
                    raise ValueError(f"node {node_label(node)!r} ({node.op_type}): {e}") from None


def check_initializer(t, what="initializer"):
    """Dims, element type and stored size of TensorProto `t` agree (checked before any
    decoding, so a lying dim cannot make numpy allocate)."""
    from onnx import TensorProto, helper
    dims = [int(d) for d in t.dims]
    if any(d < 0 for d in dims):
        raise ValueError(f"{what} {t.name!r} has a negative dim: {dims}")
    n = 1
    for d in dims:
        n *= d
    if n > MAX_TENSOR_ELEMENTS:
        raise ValueError(f"{what} {t.name!r} has dims {dims}: {n} elements, more than {MAX_TENSOR_ELEMENTS}")
    numeric = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16,
               TensorProto.INT8, TensorProto.UINT8, TensorProto.INT16, TensorProto.UINT16, TensorProto.INT32,
               TensorProto.UINT32, TensorProto.INT64, TensorProto.UINT64, TensorProto.BOOL}
    if t.data_type not in numeric:
        name = TensorProto.DataType.Name(t.data_type) if t.data_type in TensorProto.DataType.values() \
            else str(t.data_type)
        raise ValueError(f"{what} {t.name!r} has element type {name}; only numeric tensors are supported")
    if t.HasField("raw_data"):
        itemsize = helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
        if len(t.raw_data) != n * itemsize:
            raise ValueError(f"{what} {t.name!r}: dims {dims} need {n * itemsize} bytes of raw_data, it holds "
                             f"{len(t.raw_data)}")
    elif t.data_location != TensorProto.EXTERNAL:
        # one value per entry of whichever typed field the element type uses
        held = max(len(t.float_data), len(t.double_data), len(t.int32_data), len(t.int64_data),
                   len(t.uint64_data))
        if held != n:
            raise ValueError(f"{what} {t.name!r}: dims {dims} need {n} values, it holds {held}")
    return n


def check_sample_size(shape, what):
    """ValueError if one sample of `shape` (dims after the batch; None entries skipped)
    has more than MAX_VALUE_ELEMENTS elements or a negative dim."""
    n = 1
    for d in shape:
        if d is None:
            continue
        if d < 0:
            raise ValueError(f"{what} has a negative dim: {tuple(shape)}")
        n *= int(d)
    if n > MAX_VALUE_ELEMENTS:
        raise ValueError(f"{what} has shape {tuple(shape)}: {n} elements per sample, more than the "
                         f"{MAX_VALUE_ELEMENTS} cnnnative accepts")


# -- attributes (for converters) -------------------------------------------------------------------------
def check_int_range(ctx, name, values, low=None, high=None):
    """ctx.fail unless every entry of ints attribute `name` is in [low, high]."""
    for v in values:
        if (low is not None and v < low) or (high is not None and v > high):
            bound = (f">= {low}" if high is None else f"<= {high}" if low is None else f"in [{low}, {high}]")
            ctx.fail(f"attribute {name} must have entries {bound}, got {tuple(values)}")


def check_window(ctx, kernel, strides, dilations):
    """A sliding window's (Conv, pools) kernel_shape, strides and dilations are >= 1
    (checked before auto_pad divides by a stride)."""
    check_int_range(ctx, "kernel_shape", kernel, 1)
    check_int_range(ctx, "strides", strides, 1)
    check_int_range(ctx, "dilations", dilations, 1)


def check_pads(ctx, spatial, kernel, dilations, pads, strides=None, ceil=False):
    """pads (before..., after...) >= 0, each at most the input size plus the dilated
    kernel (a larger pad only adds windows that see nothing but padding), and a window
    that fits the padded input. `spatial`: the input's spatial sizes. With `ceil` (a
    ceil_mode pool) the window may overhang the padded input by less than a stride: ONNX's
    ceil((size + pads - span) / stride + 1) still gives one output there, as torch does."""
    k = len(kernel)
    check_int_range(ctx, "pads", pads, 0)
    for i, (size, kk, d) in enumerate(zip(spatial, kernel, dilations)):
        span = (kk - 1) * d + 1
        before, after = pads[i], pads[i + k]
        if max(before, after) > size + span:
            ctx.fail(f"pads {tuple(pads)} exceed the input size {size} plus the kernel's span {span} "
                     f"on spatial axis {i}")
        overhang = strides[i] - 1 if ceil else 0
        if span > size + before + after + overhang:
            ctx.fail(f"the kernel's span {span} (kernel_shape {tuple(kernel)}, dilations {tuple(dilations)}) is "
                     f"larger than the padded input ({size} + {before} + {after}) on spatial axis {i}")


def check_group(ctx, group, in_channels, out_channels):
    """group >= 1 dividing both channel counts."""
    if group < 1:
        ctx.fail(f"group must be >= 1, got {group}")
    if in_channels % group or out_channels % group:
        ctx.fail(f"group={group} does not divide the input channels {in_channels} and output channels "
                 f"{out_channels}")
