"""cnnnative.compile takes an ONNX model (a path, bytes, a file object or an
onnx.ModelProto) as well as a Module: it is imported with cnnnative.onnx.load (the
input_shape given to compile passed through) and compiled like any module."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import cnnnative as cn  # noqa: E402
import cnnnative.onnx as cnx  # noqa: E402


def _model(h="H", w="W"):
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.standard_normal((6, 2, 3, 3)).astype(np.float32), "conv.weight"),
             numpy_helper.from_array(rng.standard_normal(6).astype(np.float32), "conv.bias"),
             numpy_helper.from_array(rng.standard_normal((5, 6)).astype(np.float32), "fc.weight"),
             numpy_helper.from_array(rng.standard_normal(5).astype(np.float32), "fc.bias")]
    nodes = [helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, h, w])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("source", ["proto", "bytes", "path", "pathlike", "file"])
def test_compile_accepts_every_onnx_source(source, tmp_path):
    model = _model()
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    f = {"proto": model, "bytes": model.SerializeToString(), "path": str(path), "pathlike": path}.get(source)
    if source == "file":
        f = open(path, "rb")
    shape = (3, 2, 9, 7)  # the symbolic H, W come from compile's input_shape
    compiled = cn.compile(f, shape)
    if source == "file":
        f.close()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    eager = cnx.load(model, input_shape=shape)(x)
    np.testing.assert_allclose(compiled(x), eager, rtol=1e-4, atol=1e-5)
    assert compiled.input_shape == shape and compiled.output_shape == (3, 5)
    assert compiled(x[:1]).shape == (1, 5)  # any batch up to the compiled one


def test_compile_checks_input_shape_against_the_model():
    with pytest.raises(ValueError, match="dim 2 is 9, the model declares 8"):
        cn.compile(_model(h=8, w=8), (1, 2, 9, 8))


def test_compile_of_a_missing_onnx_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.onnx"):
        cn.compile(str(tmp_path / "nothere.onnx"), (1, 2, 8, 8))


def test_modules_still_compile_as_before():
    m = cn.nn.Sequential(cn.nn.Conv2d(2, 3, 3), cn.nn.ReLU())
    x = np.ones((1, 2, 5, 5), np.float32)
    np.testing.assert_allclose(cn.compile(m, x.shape)(x), m(x), rtol=1e-5, atol=1e-6)
