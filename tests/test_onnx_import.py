"""cnnnative.onnx.load: the importer's spine (reading, naming, dynamic batch, errors),
on small models built with onnx.helper (no torch needed) and, when torch is installed,
exported from torch twins."""
import io

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import cnnnative as cn  # noqa: E402
import cnnnative.onnx as cnx  # noqa: E402


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _conv_relu_model(batch="N", opset=17):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "features.0.weight")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "features.0.bias")
    nodes = [helper.make_node("Conv", ["x", "features.0.weight", "features.0.bias"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"])]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4, 8, 8])], [w, b], opset)


def _reference_conv_relu(model, x):
    w = numpy_helper.to_array(model.graph.initializer[0]).astype(np.float64)
    b = numpy_helper.to_array(model.graph.initializer[1]).astype(np.float64)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((x.shape[0], 4, 8, 8))
    for i in range(3):
        for j in range(3):
            out += np.einsum("nchw,kc->nkhw", xp[:, :, i:i + 8, j:j + 8], w[:, :, i, j])
    return np.maximum(out + b[None, :, None, None], 0)


@pytest.mark.parametrize("source", ["proto", "bytes", "path", "file"])
def test_load_from_every_source_keeps_names_and_matches_reference(source, tmp_path):
    model = _conv_relu_model()
    if source == "proto":
        f = model
    elif source == "bytes":
        f = model.SerializeToString()
    else:
        path = tmp_path / "m.onnx"
        onnx.save(model, str(path))
        f = str(path) if source == "path" else open(path, "rb")
    g = cnx.load(f)
    if source == "file":
        f.close()
    assert list(g.state_dict()) == ["features.0.weight", "features.0.bias"]
    assert all(p.requires_grad for p in g.parameters())
    for n in (1, 3):  # the batch stays dynamic
        x = np.random.default_rng(n).standard_normal((n, 3, 8, 8)).astype(np.float32)
        np.testing.assert_allclose(g(x), _reference_conv_relu(model, x), rtol=1e-4, atol=1e-4)


def test_imported_model_trains_and_compiles():
    g = cnx.load(_conv_relu_model())
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    compiled = cn.compile(g, (2, 3, 8, 8))
    np.testing.assert_allclose(compiled(x), g(x), rtol=1e-5, atol=1e-5)
    g.train()
    out = g(cn.Tensor(x))
    out.sum().backward()
    grad = g.state_dict and dict(g.named_parameters())["features.0.weight"].grad
    assert grad is not None and np.abs(grad).sum() > 0


def test_static_batch_export_still_takes_any_batch():
    g = cnx.load(_conv_relu_model(batch=1))
    x = np.zeros((5, 3, 8, 8), np.float32)
    assert g(x).shape == (5, 4, 8, 8)


def test_unsupported_ops_are_all_listed_at_once():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("Det", ["c"], ["d"], name="first_bad"),
             helper.make_node("Det", ["d"], ["e"]),
             helper.make_node("Frobnicate", ["e"], ["y"], domain="com.example")]
    w = numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "w")
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    with pytest.raises(cnx.UnsupportedOperatorError) as e:
        cnx.load(model.SerializeToString())
    msg = str(e.value)
    assert "Det: 2 node(s), first 'first_bad'" in msg and "Frobnicate (domain com.example)" in msg


def test_corrupt_bytes_and_bad_sources_are_value_errors():
    data = _conv_relu_model().SerializeToString()
    with pytest.raises(ValueError, match="not a valid ONNX model"):
        cnx.load(data[: len(data) // 2])
    with pytest.raises(TypeError, match="expected a path, bytes"):
        cnx.load(12)
    with pytest.raises(FileNotFoundError):
        cnx.load("/nonexistent/model.onnx")


def test_symbolic_dims_need_input_shape():
    model = _conv_relu_model()
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "H"
    with pytest.raises(ValueError, match="pass input_shape"):
        cnx.load(model)
    g = cnx.load(model, input_shape=(1, 3, 8, 8))
    assert g(np.zeros((2, 3, 8, 8), np.float32)).shape == (2, 4, 8, 8)


def test_external_data_outside_the_model_directory_is_refused(tmp_path):
    model = _conv_relu_model()
    from onnx.external_data_helper import convert_model_to_external_data
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    (tmp_path / "inner").mkdir()
    onnx.save(model, str(tmp_path / "inner" / "m.onnx"))
    g = cnx.load(str(tmp_path / "inner" / "m.onnx"))  # its own directory: fine
    assert g(np.zeros((1, 3, 8, 8), np.float32)).shape == (1, 4, 8, 8)
    for t in model.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../weights.bin"
    (tmp_path / "weights.bin").write_bytes((tmp_path / "inner" / "weights.bin").read_bytes())
    onnx.save(model, str(tmp_path / "inner" / "evil.onnx"), save_as_external_data=False)
    with pytest.raises(ValueError, match="escapes the model's directory"):
        cnx.load(str(tmp_path / "inner" / "evil.onnx"))


def test_torch_export_round_trip_with_batchnorm_and_linear():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    torch.manual_seed(0)
    m = tnn.Sequential(tnn.Conv2d(3, 8, 3, padding=1), tnn.BatchNorm2d(8), tnn.ReLU(), tnn.MaxPool2d(2),
                       tnn.Conv2d(8, 16, 3, stride=2, padding=1), tnn.ReLU(), tnn.AdaptiveAvgPool2d(1),
                       tnn.Flatten(), tnn.Linear(16, 10)).eval()
    with torch.no_grad():
        m[1].running_mean.normal_()
        m[1].running_var.uniform_(0.5, 2)
    x = torch.randn(3, 3, 16, 16)
    buf = io.BytesIO()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, x, buf, opset_version=17, dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "N"}}, training=torch.onnx.TrainingMode.PRESERVE,
                          do_constant_folding=False)
    g = cnx.load(buf.getvalue())
    assert set(g.state_dict()) == set(m.state_dict())
    want = m(x).detach().numpy()
    np.testing.assert_allclose(g(x.numpy()), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(cn.compile(g, (3, 3, 16, 16))(x.numpy()), want, rtol=1e-4, atol=1e-5)


def _if_model(cond_value):
    then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)])
    cond = numpy_helper.from_array(np.array(cond_value), "cond")
    nodes = [helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g, name="guard")]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 3])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 3])], [cond])


@pytest.mark.parametrize("cond", [True, False])
def test_if_with_a_condition_known_at_load_takes_its_branch(cond):
    x = np.array([[[-1, 2, -3], [4, -5, 6]]], np.float32)
    y = cnx.load(_if_model(cond))(x)
    np.testing.assert_array_equal(y, np.maximum(x, 0) if cond else x)


def test_if_on_run_time_data_is_refused_naming_the_node():
    model = _if_model(True)
    model.graph.initializer.pop()
    model.graph.node.insert(0, helper.make_node("Flatten", ["x"], ["cond"]))
    with pytest.raises(cnx.ConversionError, match="guard.*constant known at load"):
        cnx.load(model)


def test_comparisons_fold_at_load_and_guard_an_if():
    # torch's guard If(Equal(Gather(Shape(x), 2), 1)), with the gathered dim given
    c = numpy_helper.from_array(np.array(1, np.int64), "c")
    one = numpy_helper.from_array(np.array(1, np.int64), "one")
    then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)])
    nodes = [helper.make_node("Equal", ["c", "one"], ["eq"]),
             helper.make_node("Not", ["eq"], ["neq"]),
             helper.make_node("If", ["neq"], ["y"], then_branch=then_g, else_branch=else_g)]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], [c, one])
    x = np.array([[-1, 2]], np.float32)
    np.testing.assert_array_equal(cnx.load(model)(x), x)  # Equal is true, Not false: the else branch


def test_comparisons_on_run_time_values_are_refused():
    nodes = [helper.make_node("Greater", ["x", "x"], ["y"], name="cmp")]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
                   [helper.make_tensor_value_info("y", TensorProto.BOOL, ["N", 2])])
    with pytest.raises(cnx.ConversionError, match="cmp.*must be known at load"):
        cnx.load(model)
