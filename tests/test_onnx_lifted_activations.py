"""The activation lifts of patterns_where.py (Threshold, Softplus with beta / threshold,
written with a run-time Where(Greater(...))) and Mish's opset < 18 spelling
x * Tanh(Softplus(x)): hand-built graphs against onnx's reference evaluator, the layer
they become, and the variants that must not be lifted."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import cnnnative as cn  # noqa: E402
import cnnnative.onnx as cnx  # noqa: E402


def _model(nodes, constants, opset=17):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 5])],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in constants.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _n(op, inputs, output):
    return helper.make_node(op, inputs, [output])


def _layers(g):
    return sorted(type(m).__name__ for m in g.modules() if m is not g)


def _check(model, batches=(1, 3)):
    g = cnx.load(model)
    for batch in batches:
        # values on both sides of the thresholds used below, and exactly at them
        x = np.random.default_rng(batch).uniform(-3, 3, (batch, 3, 5)).astype(np.float32)
        x[0, 0, :3] = (0.5, 1.0, -1.0)
        want = ReferenceEvaluator(model).run(None, {"x": x})[0]
        np.testing.assert_allclose(np.asarray(g(x)), want, rtol=1e-5, atol=1e-6)
    return g


THRESHOLD = [_n("Greater", ["x", "t"], "above"), _n("Where", ["above", "x", "v"], "y")]
SOFTPLUS_1 = [_n("Softplus", ["x"], "s"), _n("Greater", ["x", "t"], "above"), _n("Where", ["above", "x", "s"], "y")]


def _softplus_beta(beta_first):
    return [_n("Mul", ["b", "x"] if beta_first else ["x", "b"], "bx"), _n("Softplus", ["bx"], "s"),
            _n("Div", ["s", "b"], "sb"), _n("Greater", ["bx", "t"], "above"), _n("Where", ["above", "x", "sb"], "y")]


def test_threshold_is_lifted():
    g = _check(_model(THRESHOLD, {"t": 0.5, "v": -2.0}))
    assert _layers(g) == ["Threshold"]
    (layer,) = [m for m in g.modules() if m is not g]
    assert (layer.threshold, layer.value) == (0.5, -2.0)


def test_softplus_with_threshold_is_lifted():
    g = _check(_model(SOFTPLUS_1, {"t": 1.0}))
    assert _layers(g) == ["Softplus"]
    (layer,) = [m for m in g.modules() if m is not g]
    assert (layer.beta, layer.threshold) == (1.0, 1.0)


@pytest.mark.parametrize("beta_first", [True, False])
def test_softplus_with_beta_and_threshold_is_lifted(beta_first):
    g = _check(_model(_softplus_beta(beta_first), {"b": 2.0, "t": 1.0}))
    assert _layers(g) == ["Softplus"]
    (layer,) = [m for m in g.modules() if m is not g]
    assert (layer.beta, layer.threshold) == (2.0, 1.0)


@pytest.mark.parametrize("nodes,constants", [
    (_softplus_beta(False), {"b": 2.0, "t": 1.0, "b2": 3.0}),  # divided by another beta
    (_softplus_beta(False), {"b": -2.0, "t": 1.0}),  # a negative beta: no Softplus layer
])
def test_softplus_forms_that_are_not_the_layer_are_not_lifted(nodes, constants):
    if "b2" in constants:
        nodes = nodes[:2] + [_n("Div", ["s", "b2"], "sb")] + nodes[3:]
    # not lifted, the run-time comparison is then refused as before, naming the node
    with pytest.raises(cnx.ConversionError, match="comparisons on run-time values are not supported"):
        cnx.load(_model(nodes, constants))


def test_threshold_not_lifted_when_the_comparison_has_another_reader_or_other_values():
    # Where picks a value other than the compared one
    nodes = [_n("Neg", ["x"], "nx"), _n("Greater", ["x", "t"], "above"), _n("Where", ["above", "nx", "v"], "y")]
    with pytest.raises(cnx.ConversionError, match="Greater"):
        cnx.load(_model(nodes, {"t": 0.5, "v": -2.0}))
    # a threshold that is not a scalar
    with pytest.raises(cnx.ConversionError, match="Greater"):
        cnx.load(_model(THRESHOLD, {"t": np.full((5,), 0.5), "v": -2.0}))
    # the boolean is also a graph output: the lift would drop it
    model = _model(THRESHOLD, {"t": 0.5, "v": -2.0})
    model.graph.output.append(helper.make_tensor_value_info("above", TensorProto.BOOL, ["N", 3, 5]))
    with pytest.raises(cnx.ConversionError, match="Greater"):
        cnx.load(model)


@pytest.mark.parametrize("tanh_first", [True, False])
def test_mish_before_opset_18_is_lifted(tanh_first):
    nodes = [_n("Softplus", ["x"], "s"), _n("Tanh", ["s"], "t"), _n("Mul", ["t", "x"] if tanh_first else ["x", "t"], "y")]
    g = _check(_model(nodes, {}))
    assert _layers(g) == ["Mish"]


def test_mish_not_lifted_on_another_value_or_a_shared_softplus():
    nodes = [_n("Neg", ["x"], "nx"), _n("Softplus", ["nx"], "s"), _n("Tanh", ["s"], "t"), _n("Mul", ["x", "t"], "y")]
    assert "Mish" not in _layers(_check(_model(nodes, {})))
    nodes = [_n("Softplus", ["x"], "s"), _n("Tanh", ["s"], "t"), _n("Mul", ["x", "t"], "m"), _n("Add", ["m", "s"], "y")]
    assert "Mish" not in _layers(_check(_model(nodes, {})))


def test_lifted_layers_compile_and_backward():
    nodes = [_n("Greater", ["x", "t"], "above"), _n("Where", ["above", "x", "v"], "th")]
    nodes += [_n("Softplus", ["th"], "s"), _n("Greater", ["th", "t2"], "above2"), _n("Where", ["above2", "th", "s"], "sp")]
    nodes += [_n("Softplus", ["sp"], "s3"), _n("Tanh", ["s3"], "t3"), _n("Mul", ["sp", "t3"], "y")]
    model = _model(nodes, {"t": -0.5, "v": -1.0, "t2": 1.0})
    g = _check(model)
    assert _layers(g) == ["Mish", "Softplus", "Threshold"]
    x = np.random.default_rng(5).uniform(-3, 3, (2, 3, 5)).astype(np.float32)
    compiled = cn.compile(g, (2, 3, 5))
    np.testing.assert_allclose(np.asarray(compiled(x)), np.asarray(g(x)), rtol=1e-5, atol=1e-6)
    t = cn.Tensor(x, requires_grad=True)
    g(t).sum().backward()
    assert t.grad is not None and np.abs(np.asarray(t.grad)).sum() > 0
