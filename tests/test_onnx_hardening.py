"""cnnnative.onnx.load never trusts the file: every malformed model is one clear ValueError
naming the node (or initializer, or input) -- never a crash, a hang or a huge allocation.
Ends with a short seeded run of tools/fuzz_onnx_load.py."""
import importlib.util
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import cnnnative as cn  # noqa: E402
import cnnnative.onnx as cnx  # noqa: E402
from cnnnative.onnx import _registry  # noqa: E402

TOOL = os.path.join(os.path.dirname(__file__), "..", "tools", "fuzz_onnx_load.py")


def _model(nodes, x_shape=("N", 3, 8, 8), y_shape=("N", "C", "H", "W"), initializers=(), opset=17, y="y"):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, y_shape)], list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _weight(name="w", shape=(4, 3, 3, 3)):
    return numpy_helper.from_array(np.random.default_rng(0).standard_normal(shape).astype(np.float32), name)


def _conv_model(**attrs):
    attrs.setdefault("pads", [1, 1, 1, 1])
    return _model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv7", **attrs)], initializers=[_weight()])


def _raises(model, *words):
    with pytest.raises(ValueError) as e:
        cnx.load(model)
    for w in words:
        assert w in str(e.value), str(e.value)
    return str(e.value)


def test_valid_models_still_load():
    g = cnx.load(_conv_model())
    assert g(np.zeros((2, 3, 8, 8), np.float32)).shape == (2, 4, 8, 8)


# -- the file itself ----------------------------------------------------------------------------------
@pytest.mark.parametrize("cut", [1, 7, 40, -3])
def test_truncated_file(cut, tmp_path):
    data = _conv_model().SerializeToString()
    path = tmp_path / "m.onnx"
    path.write_bytes(data[:cut])
    with pytest.raises(ValueError, match="m.onnx|not a valid ONNX model|fails onnx.checker|initializer"):
        cnx.load(str(path))


def test_corrupt_bytes():
    data = bytearray(_conv_model().SerializeToString())
    rng = np.random.default_rng(0)
    for _ in range(30):
        bad = bytearray(data)
        for i in rng.integers(0, len(bad), 6):
            bad[i] = int(rng.integers(0, 256))
        try:
            cnx.load(bytes(bad))
        except ValueError:
            pass
    with pytest.raises(ValueError, match="not a valid ONNX model"):
        cnx.load(b"\xff" * 64)


# -- the graph's structure ----------------------------------------------------------------------------
def test_cycle_names_the_node():
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"], name="second"),
             helper.make_node("Relu", ["b"], ["y"], name="last")]
    _raises(_model(nodes), "'first'", "cycle")


def test_nodes_out_of_topological_order_name_the_node():
    nodes = [helper.make_node("Relu", ["a"], ["y"], name="late"), helper.make_node("Relu", ["x"], ["a"], name="early")]
    _raises(_model(nodes), "'late'", "topological order", "'early'")


def test_duplicate_value_name():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="one"), helper.make_node("Relu", ["x"], ["a"], name="two"),
             helper.make_node("Relu", ["a"], ["y"], name="three")]
    _raises(_model(nodes), "'two'", "duplicate value name", "'one'")
    nodes = [helper.make_node("Relu", ["x"], ["x"], name="shadow"), helper.make_node("Relu", ["x"], ["y"])]
    _raises(_model(nodes), "'shadow'", "graph input")


def test_missing_value_names_the_node():
    nodes = [helper.make_node("Add", ["x", "ghost"], ["y"], name="adder")]
    _raises(_model(nodes), "'adder'", "'ghost'", "not produced")


def test_duplicate_initializer():
    m = _conv_model()
    m.graph.initializer.add().CopyFrom(m.graph.initializer[0])
    _raises(m, "'w'", "twice")


# -- initializers ------------------------------------------------------------------------------------
def test_dims_exceed_the_data_present():
    m = _conv_model()
    m.graph.initializer[0].dims[0] = 400
    _raises(m, "'w'", "raw_data")


@pytest.mark.parametrize("dims", [[2 ** 62, 2 ** 62], [2 ** 63 - 1, 4, 1, 1], [-4, 3, 3, 3]])
def test_dims_that_overflow_or_are_negative(dims):
    m = _conv_model()
    del m.graph.initializer[0].dims[:]
    m.graph.initializer[0].dims.extend(dims)
    _raises(m, "'w'")


@pytest.mark.parametrize("delta", [-4, -1, 3, 400])
def test_raw_data_size_disagrees_with_shape(delta):
    m = _conv_model()
    t = m.graph.initializer[0]
    t.raw_data = t.raw_data[:len(t.raw_data) + delta] if delta < 0 else t.raw_data + bytes(delta)
    _raises(m, "'w'", "need 432 bytes")


def test_float_data_count_disagrees_with_shape():
    t = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], [0.5] * 108)
    del t.float_data[100:]
    m = _model([helper.make_node("Conv", ["x", "w"], ["y"], name="c")], initializers=[t])
    _raises(m, "'w'")


def test_string_initializer_refused():
    t = helper.make_tensor("w", TensorProto.STRING, [1], [b"a"])
    m = _model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], initializers=[t])
    _raises(m, "'w'", "STRING")


def _external_model(tmp_path, length, file_bytes):
    m = _conv_model()
    t = m.graph.initializer[0]
    (tmp_path / "w.bin").write_bytes(bytes(file_bytes))
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "w.bin"), ("offset", "0"), ("length", str(length))):
        e = t.external_data.add()
        e.key, e.value = k, v
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    return str(path)


def test_external_data_short(tmp_path):
    _raises(_external_model(tmp_path, 432, 100), "'w'", "outside")  # length past the file's end
    _raises(_external_model(tmp_path, 100, 100), "'w'", "432 bytes")  # fits the file, not the shape
    assert cnx.load(_external_model(tmp_path, 432, 432)) is not None


# -- attributes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("attrs,words", [
    ({"kernel_shape": [2 ** 40, 2 ** 40]}, ["kernel_shape"]),
    ({"strides": [-1, 1]}, ["strides"]),
    ({"strides": [0, 0], "auto_pad": "SAME_UPPER", "pads": None}, ["strides"]),
    ({"dilations": [0, 1]}, ["dilations"]),
    ({"dilations": [2 ** 40, 1]}, ["span"]),
    ({"pads": [2 ** 40, 0, 0, 0]}, ["pads"]),
    ({"pads": [2 ** 62, 2 ** 62, 2 ** 62, 2 ** 62]}, ["pads"]),
    ({"pads": [-1, 0, 0, 0]}, ["pads"]),
    ({"group": 0}, ["group"]),
    ({"group": -3}, ["group"]),
    ({"group": 2 ** 62}, ["group"]),
])
def test_absurd_conv_attributes_name_the_node(attrs, words):
    attrs = {k: v for k, v in attrs.items() if v is not None}
    if "pads" not in attrs and "auto_pad" not in attrs:
        attrs["pads"] = [1, 1, 1, 1]
    m = _model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv7", **attrs)], initializers=[_weight()])
    with pytest.raises(cnx.ConversionError) as e:
        cnx.load(m)
    assert "'conv7'" in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


@pytest.mark.parametrize("attrs,words", [
    ({"kernel_shape": [2 ** 40, 2 ** 40]}, ["span"]),
    ({"kernel_shape": [0, 2]}, ["kernel_shape"]),
    ({"kernel_shape": [2, 2], "strides": [-2, 2]}, ["strides"]),
    ({"kernel_shape": [2, 2], "pads": [2 ** 40, 0, 2 ** 40, 0]}, ["pads"]),
    ({"kernel_shape": [3, 3], "pads": [100, 100, 100, 100]}, ["pads"]),
])
def test_absurd_max_pool_attributes_name_the_node(attrs, words):
    m = _model([helper.make_node("MaxPool", ["x"], ["y"], name="pool3", **attrs)])
    with pytest.raises(cnx.ConversionError) as e:
        cnx.load(m)
    assert "'pool3'" in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


def test_huge_input_dims_refused_before_any_allocation():
    # Regression (found by tools/fuzz_onnx_load.py): shape inference of GlobalAveragePool
    # ran the op on a zero sample of the declared shape: 64 GiB -> MemoryError.
    m = _model([helper.make_node("GlobalAveragePool", ["x"], ["y"], name="gap")], x_shape=["N", 4, 2 ** 30, 4])
    _raises(m, "'x'", "elements per sample")
    with pytest.raises(ValueError, match="elements per sample"):
        cnx.load(_model([helper.make_node("Relu", ["x"], ["y"])], x_shape=["N", 2 ** 62, 2 ** 62]))


def test_a_node_whose_output_is_too_large_is_named(monkeypatch):
    from cnnnative.onnx import _validate
    monkeypatch.setattr(_validate, "MAX_VALUE_ELEMENTS", 3 * 8 * 8)
    m = _model([helper.make_node("Conv", ["x", "w"], ["y"], name="widen", pads=[1, 1, 1, 1])],
               initializers=[_weight()])
    _raises(m, "'widen'", "elements per sample")


def test_constant_tensor_attribute_checked():
    t = helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])
    t.dims[0] = 1000
    nodes = [helper.make_node("Constant", [], ["c"], name="const9", value=t),
             helper.make_node("Add", ["x", "c"], ["y"], name="add")]
    _raises(_model(nodes), "'const9'")


@pytest.mark.parametrize("error", [RuntimeError("engine says no"), ZeroDivisionError("division by zero"),
                                   OverflowError("too big"), IndexError("tuple index out of range")])
def test_converter_errors_become_conversion_errors_naming_the_node(monkeypatch, error):
    def broken(ctx):
        raise error
    monkeypatch.setitem(_registry.CONVERTERS, "Relu", [(1, broken)])
    with pytest.raises(cnx.ConversionError) as e:
        cnx.load(_model([helper.make_node("Relu", ["x"], ["y"], name="act5")]))
    assert "'act5'" in str(e.value) and str(error) in str(e.value)


def test_compile_refuses_a_malformed_onnx_model_the_same_way():
    m = _conv_model(group=0)
    with pytest.raises(cnx.ConversionError, match="'conv7'.*group"):
        cn.compile(m, (1, 3, 8, 8))


# -- the fuzz target, briefly ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_onnx_load", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fuzz_smoke(fuzz):
    stats = fuzz.run(cases=2000, seed=0)
    assert stats["failures"] == [], stats["failures"][:3]
    assert stats["rejected"] > 500 and stats["loaded"] > 50  # both paths were exercised
