"""Reading an ONNX model from a path, bytes, a file object or a ModelProto -- all or
nothing, and never trusting the file.

Parsing is the `onnx` package's (no hand-written protobuf code). External-data tensors are
read only from the model's own directory: a location that is absolute or escapes it
(``../``, a symlink out) is an error, as is an offset/length past the end of the file.
"""
from __future__ import annotations

import io
import os

__all__ = ["require_onnx", "read_model", "model_opset", "MIN_OPSET"]

MIN_OPSET = 7


def require_onnx():
    """The `onnx` package, or ImportError saying how to get it."""
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("cnnnative.onnx needs the 'onnx' package: pip install 'cnnnative[onnx]' "
                          "(or pip install onnx)") from e
    return onnx


def _parse(data: bytes, what: str):
    onnx = require_onnx()
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as e:  # protobuf's DecodeError and friends
        raise ValueError(f"{what} is not a valid ONNX model ({len(data)} bytes): {e}") from None
    if not model.HasField("graph"):
        raise ValueError(f"{what} is not a valid ONNX model ({len(data)} bytes): it has no graph")
    return model


def _external_tensors(model):
    """Every TensorProto of the model (initializers, Constant attributes, subgraphs) whose
    data lives in an external file."""
    onnx = require_onnx()
    from onnx import external_data_helper as edh
    for t in edh._get_all_tensors(model):
        if t.HasField("data_location") and t.data_location == onnx.TensorProto.EXTERNAL:
            yield t


def _load_external(model, base_dir):
    """Read external-data tensors, each only from inside `base_dir`."""
    tensors = list(_external_tensors(model))
    if not tensors:
        return
    if base_dir is None:
        raise ValueError(f"initializer {tensors[0].name!r} keeps its data in an external file, but the model "
                         "was not given as a path (give the .onnx path so its directory is known)")
    from onnx import external_data_helper as edh
    root = os.path.realpath(base_dir)
    for t in tensors:
        info = {e.key: e.value for e in t.external_data}
        location = info.get("location", "")
        if not location or os.path.isabs(location):
            raise ValueError(f"initializer {t.name!r}: external data location {location!r} must be a path "
                             "relative to the model's directory")
        path = os.path.realpath(os.path.join(root, location))
        if os.path.commonpath([root, path]) != root:
            raise ValueError(f"initializer {t.name!r}: external data location {location!r} escapes the "
                             f"model's directory {base_dir!r}")
        if not os.path.isfile(path):
            raise ValueError(f"initializer {t.name!r}: external data file {location!r} not found in {base_dir!r}")
        size = os.path.getsize(path)
        try:
            offset = int(info.get("offset", 0))
            length = int(info["length"]) if "length" in info else size - offset
        except ValueError:
            raise ValueError(f"initializer {t.name!r}: external data offset/length are not integers: "
                             f"{info.get('offset')!r}, {info.get('length')!r}") from None
        if offset < 0 or length < 0 or offset + length > size:
            raise ValueError(f"initializer {t.name!r}: external data offset {offset} + length {length} is "
                             f"outside {location!r} ({size} bytes)")
        edh.load_external_data_for_tensor(t, root)
        t.data_location = require_onnx().TensorProto.DEFAULT
        del t.external_data[:]


def read_model(f):
    """(ModelProto, directory or None) for a path, bytes, a file object or a ModelProto.
    The model is checked by onnx.checker; external data is loaded (from its directory only)."""
    onnx = require_onnx()
    base_dir = None
    if isinstance(f, onnx.ModelProto):
        model = onnx.ModelProto()
        model.CopyFrom(f)  # never modify the caller's proto
    elif isinstance(f, (bytes, bytearray, memoryview)):
        model = _parse(bytes(f), "the bytes given")
    elif isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"ONNX model file not found: {path!r}")
        with open(path, "rb") as fh:
            model = _parse(fh.read(), repr(path))
        base_dir = os.path.dirname(os.path.abspath(path))
    elif hasattr(f, "read"):
        data = f.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("the file object must be opened in binary mode ('rb')")
        model = _parse(bytes(data), "the file object's contents")
        name = getattr(f, "name", None)
        if isinstance(name, str) and os.path.isfile(name):
            base_dir = os.path.dirname(os.path.abspath(name))
    else:
        raise TypeError(f"expected a path, bytes, a binary file object or an onnx.ModelProto, "
                        f"got {type(f).__name__}")
    _load_external(model, base_dir)
    from ._validate import check_graph_structure, check_tensors
    # before the checker: clearer words, and they name the node or initializer
    check_tensors(model.graph)
    check_graph_structure(model.graph)
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        raise ValueError(f"the ONNX model fails onnx.checker: {str(e).strip().splitlines()[0]}") from None
    opset = model_opset(model)
    if opset < MIN_OPSET:
        from onnx import version_converter
        try:
            model = version_converter.convert_version(model, MIN_OPSET)
        except Exception as e:
            raise ValueError(f"the model's opset {opset} is older than {MIN_OPSET} and onnx's "
                             f"version_converter could not raise it: {e}") from None
    return model, base_dir


def model_opset(model) -> int:
    """The model's version of the default ('' / 'ai.onnx') operator set."""
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    raise ValueError("the model imports no version of the default ONNX operator set")
