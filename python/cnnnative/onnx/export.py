"""cnnnative.onnx.export: a Module written as an ONNX model (eval-mode semantics).

The model is traced into the one op graph (`cnnnative.ir.trace`: one node per
`cnnnative.ops` call, arguments by parameter name), and each node is written by the
exporter registered for its op (`export_<family>.py`) as one or more ONNX nodes. Parameters
and buffers become initializers under their state_dict names. Every op that cannot be
written is listed in one ValueError before anything is written.
"""
from __future__ import annotations

import importlib
import numbers
import os
import tempfile
from collections import Counter

from ._export_context import ExportContext, ExportError
from ._export_registry import EXPORTERS

__all__ = ["export", "MIN_OPSET", "DEFAULT_OPSET"]

MIN_OPSET = 13  # Split/Squeeze/Unsqueeze/ReduceSum axes as inputs, Softmax on one axis
DEFAULT_OPSET = 17

_EXPORTER_MODULES = ("export_conv", "export_activation", "export_norm", "export_pool", "export_shape",
                     "export_elementwise", "export_resample", "export_local_conv")


def _register_exporters():
    for name in _EXPORTER_MODULES:
        importlib.import_module(f"{__package__}.{name}")


def _onnx():
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401
    except ImportError:
        raise ImportError("cnnnative.onnx.export needs the onnx package: pip install 'cnnnative[onnx]'") from None
    return onnx


def _check_opset(opset, onnx) -> int:
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, numbers.Integral):
        raise TypeError(f"export: opset must be an int, got {type(opset).__name__}")
    if not MIN_OPSET <= int(opset) <= newest:
        raise ValueError(f"export: opset must be in {MIN_OPSET}..{newest} (the newest the installed onnx "
                         f"{onnx.__version__} knows), got {opset}")
    return int(opset)


def _input_shapes(input_shape) -> list[tuple]:
    """One shape (N, C, ...) or a list of them (a model with several inputs)."""
    if isinstance(input_shape, (tuple, list)) and input_shape and all(
            isinstance(s, (tuple, list)) for s in input_shape):
        shapes = list(input_shape)
    else:
        shapes = [input_shape]
    out = []
    for s in shapes:
        if not isinstance(s, (tuple, list)) or not s or not all(
                isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in s):
            raise TypeError(f"export: input_shape must be a tuple of ints (N, C, ...) or a list of them, "
                            f"got {input_shape!r}")
        if any(d <= 0 for d in s):
            raise ValueError(f"export: input_shape sizes must be positive, got {tuple(s)}")
        out.append(tuple(int(d) for d in s))
    return out


def _param_names(module) -> dict:
    """id(array) -> state_dict key, for every parameter and buffer (what the trace holds
    as a node's params, by reference)."""
    from ..tensor import Tensor
    names = {}
    for key, p in module.named_parameters():
        names.setdefault(id(p.data), key)
    for key, b in module.named_buffers():
        names.setdefault(id(b.data if isinstance(b, Tensor) else b), key)
    return names


def _unsupported(graph) -> list[str]:
    """One line per op with no exporter: op, count, first node."""
    missing = Counter()
    first = {}
    for node in graph.nodes:
        if node.op not in EXPORTERS or node.epilogue:
            missing[node.op] += 1
            first.setdefault(node.op, node)
    return [f"{op} (x{count}, first {first[op].where})" for op, count in missing.items()]


def _dims(shape, batch):
    return [batch if d is None else int(d) for d in shape]


def build_model(model, input_shape, opset=DEFAULT_OPSET, dynamic_batch=True):
    """The onnx.ModelProto of `model` (see `export`), not written anywhere."""
    from ..ir.trace import _as_module, trace
    onnx = _onnx()
    opset = _check_opset(opset, onnx)
    shapes = _input_shapes(input_shape)
    _register_exporters()
    try:
        module = _as_module(model)
    except TypeError:
        raise TypeError(f"export: cannot export a {type(model).__name__}: give a cnnnative.nn.Module (a compiled "
                        "model: the Module it was compiled from) or a torch.nn module") from None
    graph = trace(module, shapes)

    problems = _unsupported(graph)
    if problems:
        raise ValueError("export: no ONNX form for these ops: " + "; ".join(problems))

    ctx = ExportContext(onnx, opset, _param_names(module))
    for v in graph.inputs:
        ctx.reserve(v.name)
    for node in graph.nodes:
        for v in node.outputs:
            ctx.reserve(v.name)
    failures = []
    for node in graph.nodes:
        ctx.node = node
        try:
            EXPORTERS[node.op](ctx, node)
        except ExportError as e:
            failures.append(f"{node.where}: {e}")
    ctx.node = None
    if failures:
        raise ValueError("export: cannot write these ops as ONNX: " + "; ".join(failures))

    # Graph outputs get their own names; an output that is an input (a model that is all
    # Dropout) or repeated goes through an Identity.
    outputs, seen = [], {v.name for v in graph.inputs}
    for k, v in enumerate(graph.outputs):
        name = v.name
        if name in seen:
            name = ctx.emit("Identity", [v.name], ctx.fresh(f"output{k}"))
        seen.add(name)
        outputs.append((name, v.shape))

    batch = "N" if dynamic_batch else None
    float32 = onnx.TensorProto.FLOAT
    inputs = [onnx.helper.make_tensor_value_info(v.name, float32, _dims(v.shape, batch or s[0]))
              for v, s in zip(graph.inputs, shapes)]
    outs = [onnx.helper.make_tensor_value_info(name, float32, _dims(shape, batch or shapes[0][0]))
            for name, shape in outputs]
    onnx_graph = onnx.helper.make_graph(ctx.nodes, type(module).__name__, inputs, outs, ctx.initializers)
    opset_ids = [onnx.helper.make_opsetid("", opset)]
    result = onnx.helper.make_model(onnx_graph, opset_imports=opset_ids, producer_name="cnnnative",
                                    ir_version=onnx.helper.find_min_ir_version_for(opset_ids))
    onnx.checker.check_model(result)
    return result


def _write(data: bytes, f) -> None:
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        directory = os.path.dirname(os.path.abspath(path))
        # temp file + rename: a reader never sees half a model, a failure leaves no file
        fd, tmp = tempfile.mkstemp(prefix=".onnx-export-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    elif hasattr(f, "write"):
        f.write(data)
    else:
        raise TypeError(f"export: f must be a path or a binary file object, got {type(f).__name__}")


def export(model, f, input_shape, opset=DEFAULT_OPSET, dynamic_batch=True):
    """Write `model` (a cnnnative.nn.Module, or a torch module via the adapter) as ONNX.

    f: a path (written atomically: a temp file renamed into place) or a binary file object.
    input_shape: (N, C, ...) of the input (a list of shapes for several inputs).
    opset: 13 to the newest the installed onnx knows. dynamic_batch: the batch dim is the
    symbolic 'N' (else fixed to input_shape's N).
    Eval-mode semantics: BatchNorm uses its running statistics, Dropout is the identity.
    Parameters and buffers become initializers named by their state_dict keys.
    Raises ValueError listing every op (or op argument) ONNX cannot express here.
    Returns the onnx.ModelProto written.
    """
    if not (isinstance(f, (str, os.PathLike)) or hasattr(f, "write")):
        raise TypeError(f"export: f must be a path or a binary file object, got {type(f).__name__}")
    result = build_model(model, input_shape, opset, dynamic_batch)
    _write(result.SerializeToString(), f)
    return result

