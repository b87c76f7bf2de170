"""ONNX interchange: import models exported from other frameworks, export ours.

    model = cnnnative.onnx.load("resnet50.onnx")       # an nn.Module (an nn.Graph)
    y = model(x)                                        # eager, trainable
    fast = cnnnative.compile(model, (1, 3, 224, 224))   # the compiled engine
    cnnnative.onnx.export(model, "out.onnx", (1, 3, 224, 224))  # any Module back to ONNX

Needs the `onnx` package (the optional extra: pip install 'cnnnative[onnx]').
"""
from __future__ import annotations

from ._context import ConversionError
from ._importer import UnsupportedOperatorError
from ._registry import supported_ops
from ._export_registry import exportable_ops
from .export import export

__all__ = ["load", "export", "supported_ops", "exportable_ops", "ConversionError", "UnsupportedOperatorError"]

# converter modules register themselves on import (one module per operator family)
_CONVERTER_MODULES = ("convert_basic", "convert_conv", "convert_control", "convert_compare", "convert_math",
                      "convert_activation", "convert_reduce", "convert_pool", "convert_norm", "convert_linear",
                      "convert_shape", "convert_fill", "convert_pad", "convert_resize", "convert_depth_space",
                      "convert_quantize",
                      "patterns_activation", "patterns_layers", "patterns_shuffle",
                      "patterns_where", "patterns_local_conv")


def _register_converters():
    import importlib
    for name in _CONVERTER_MODULES:
        importlib.import_module(f"{__name__}.{name}")


def load(f, input_shape=None):
    """Import an ONNX model as a trainable `cnnnative.nn.Graph`.

    f: a path, bytes, a binary file object or an onnx.ModelProto. External-data files are
    read only from the model's own directory.
    input_shape: (N, C, H, W) for a single input (N is ignored: the batch stays dynamic),
    or {input name: shape}; needed when the model declares symbolic non-batch dims.
    Initializers that are layer weights become named Parameters ('features.0.weight'
    stays that key in state_dict()); the model starts in eval mode, as exported.
    Raises UnsupportedOperatorError listing every operator it cannot import, and
    ValueError (ConversionError) naming the node for anything malformed.
    """
    return _load(f, input_shape)


def _load(f, input_shape=None, for_int8=False):
    """load(); for_int8: first drop the QDQ pairs no int8 kernel reads (qdq_islands.py),
    as cnnnative.quantize does for a QDQ model."""
    from ._importer import Importer
    from ._read import read_model
    _register_converters()
    from ..nn.init import skip_random_init
    model, _ = read_model(f)
    if for_int8:
        import onnx
        from .qdq_islands import drop_float_island_pairs
        copy = onnx.ModelProto()
        copy.CopyFrom(model)  # never change a ModelProto the caller passed
        model = copy
        drop_float_island_pairs(model)
    with skip_random_init():  # every imported weight is overwritten from the file
        graph = Importer(model, input_shape).build()
    graph.eval()
    return graph
