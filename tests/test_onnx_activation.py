"""ONNX import of activations, Clip, the softmaxes and the activation pattern lifts
(SiLU, Hardswish, erf-GELU): single-node models against onnx.reference (and onnxruntime
where the reference is wrong: the pre-13 Softmax), and torch exports when torch is
installed."""
import math
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import cnnnative as cn  # noqa: E402
import cnnnative.onnx as cnx  # noqa: E402

NEWEST = onnx.defs.onnx_opset_version()


def _model(nodes, initializers=(), opset=17, sample=(3, 5, 7), inputs=("x",)):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", *sample]) for n in inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])], list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _single(op, attrs=None, opset=17, initializers=(), extra=(), sample=(3, 5, 7)):
    node = helper.make_node(op, ["x", *extra], ["y"], name="the_node", **(attrs or {}))
    return _model([node], initializers, opset, sample)


def _const(value, name):
    return numpy_helper.from_array(np.asarray(value), name)


def _input(batch, sample=(3, 5, 7), seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal((batch, *sample)) * scale).astype(np.float32)


def _check(model, x, expected=None, atol=1e-5):
    """Our import's output equals the reference evaluator's (or `expected`); returns the graph."""
    g = cnx.load(model)
    if expected is None:
        expected = ReferenceEvaluator(model).run(None, {"x": x})[0]
    got = g(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=atol)
    return g


def _layers(g):
    return [type(m).__name__ for m in g.modules() if m is not g]


# -- one node at a time --------------------------------------------------------------------------

ACTIVATIONS = [
    ("Sigmoid", {}, (6, 13), "Sigmoid"),
    ("Tanh", {}, (6, 13), "Tanh"),
    ("Softsign", {}, (1, NEWEST), "Softsign"),
    ("Softplus", {}, (1, NEWEST), "Softplus"),
    ("Erf", {}, (9, 13), None),
    ("LeakyRelu", {}, (6, 16), "LeakyReLU"),
    ("LeakyRelu", {"alpha": 0.2}, (16,), "LeakyReLU"),
    ("Elu", {}, (6,), "ELU"),
    ("Elu", {"alpha": 0.7}, (6, NEWEST), "ELU"),
    ("Selu", {}, (6, NEWEST), "SELU"),
    ("Selu", {"alpha": 1.5, "gamma": 2.0}, (6,), None),
    ("Celu", {}, (12,), "CELU"),
    ("Celu", {"alpha": 0.5}, (12, NEWEST), "CELU"),
    ("ThresholdedRelu", {"alpha": 0.3}, (10,), "Threshold"),
    ("HardSigmoid", {}, (6, NEWEST), None),  # alpha 0.2: not torch's hardsigmoid
    ("HardSigmoid", {"alpha": 1 / 6}, (6,), "Hardsigmoid"),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, (6,), None),
    ("HardSwish", {}, (14, NEWEST), "Hardswish"),
    ("Mish", {}, (18, NEWEST), "Mish"),
    ("Gelu", {}, (20, NEWEST), "GELU"),
    ("Gelu", {"approximate": "tanh"}, (20,), "GELU"),
]


@pytest.mark.parametrize("op,attrs,opsets,layer", ACTIVATIONS)
def test_activation_matches_reference(op, attrs, opsets, layer):
    for k, opset in enumerate(opsets):
        model = _single(op, attrs, opset)
        for batch in (1, 3):
            g = _check(model, _input(batch, seed=batch + k))
        if layer is not None:
            assert layer in _layers(g)


def test_erf_op_matches_math_erf_and_its_gradient():
    x = np.concatenate([np.linspace(-6, 6, 2001), [0.0, 1e-8, -1e-30, 2.0, -2.0, 3.5]]).astype(np.float32)
    want = np.array([math.erf(float(v)) for v in x], np.float32)
    np.testing.assert_array_equal(cn.ops.erf(x), want)  # correctly rounded to float32
    np.testing.assert_array_equal(cn.ops.erf(np.array([np.inf, -np.inf], np.float32)), [1, -1])
    assert np.isnan(cn.ops.erf(np.float32(np.nan)))
    t = cn.Tensor(x[::50].copy(), requires_grad=True)
    cn.ops.erf(t).sum().backward()
    slope = 2 / np.sqrt(np.pi) * np.exp(-x[::50].astype(np.float64) ** 2)
    np.testing.assert_allclose(t.grad, slope, rtol=1e-6, atol=1e-30)


def test_bad_attributes_name_the_node():
    with pytest.raises(ValueError, match="the_node.*approximate"):
        cnx.load(_single("Gelu", {"approximate": "fast"}, 20))
    with pytest.raises(ValueError, match="the_node.*alpha"):
        cnx.load(_single("Celu", {"alpha": 0.0}, 12))
    with pytest.raises(ValueError, match="the_node.*alpha.*finite"):
        cnx.load(_single("LeakyRelu", {"alpha": float("inf")}))


# -- PRelu -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("slope_shape,layer", [((3, 1, 1), "PReLU"), ((1,), "PReLU"), ((), "PReLU"),
                                               ((1, 3, 1, 1), "PReLU"), ((7,), "BroadcastPReLU"),
                                               ((3, 5, 7), "BroadcastPReLU"), ((5, 1), "BroadcastPReLU")])
@pytest.mark.parametrize("opset", [9, 16])
def test_prelu_slope_shapes(slope_shape, layer, opset):
    slope = np.random.default_rng(1).uniform(0.05, 0.5, slope_shape).astype(np.float32)
    model = _single("PRelu", opset=opset, initializers=[_const(slope, "act.weight")], extra=["act.weight"])
    for batch in (1, 2):
        g = _check(model, _input(batch, seed=batch))
    assert layer in _layers(g)
    assert list(g.state_dict()) == ["act.weight"]
    # the slope is trainable
    g.train()
    x = _input(2, seed=5)
    g(cn.Tensor(x)).sum().backward()
    grad = dict(g.named_parameters())["act.weight"].grad
    assert grad is not None and np.abs(grad).sum() > 0


def test_prelu_slope_computed_at_run_time():
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("PRelu", ["x", "s"], ["y"])]
    _check(_model(nodes), _input(2))


def test_prelu_slope_that_spans_the_batch_is_refused():
    slope = np.full((2, 3, 1, 1), 0.1, np.float32)
    with pytest.raises(ValueError, match="the_node.*slope of shape \\(2, 3, 1, 1\\)"):
        cnx.load(_single("PRelu", initializers=[_const(slope, "s")], extra=["s"]))


# -- Clip ------------------------------------------------------------------------------------------------


CLIPS = [((0.0, 6.0), "ReLU6"), ((0.0, None), "ReLU"), ((-1.0, 1.5), "Hardtanh"), ((None, 2.0), None),
         ((-2.0, None), None), ((2.0, 1.0), None), ((None, None), None)]


@pytest.mark.parametrize("bounds,layer", CLIPS)
@pytest.mark.parametrize("opset", [6, 11, 13])
def test_clip_bounds_as_attributes_then_inputs(bounds, layer, opset):
    lo, hi = bounds
    if opset < 11:
        attrs = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
        model = _single("Clip", attrs, opset)
    else:
        inits = [_const(np.float32(v), n) for n, v in (("lo", lo), ("hi", hi)) if v is not None]
        extra = ["lo" if lo is not None else "", "hi"] if hi is not None else (["lo"] if lo is not None else [])
        model = _single("Clip", opset=opset, initializers=inits, extra=extra)
    x = _input(3)
    # onnx.reference and onnxruntime disagree on min > max; the spec says: max everywhere
    expected = np.full_like(x, hi) if lo is not None and hi is not None and lo > hi else None
    g = _check(model, x, expected)
    if layer is not None:
        assert _layers(g) == [layer]


def test_clip_bound_computed_at_run_time_is_refused():
    nodes = [helper.make_node("ReduceMax", ["x"], ["m"], axes=[1, 2, 3], keepdims=0),
             helper.make_node("Clip", ["x", "", "m"], ["y"], name="clipper")]
    with pytest.raises(ValueError, match="clipper.*max.*constant"):
        cnx.load(_model(nodes, opset=13))


# -- Softmax / LogSoftmax ----------------------------------------------------------------------------


def _flattened_softmax(x, axis, log):
    rows = x.astype(np.float64).reshape(int(np.prod(x.shape[:axis])), -1)
    rows = rows - rows.max(axis=1, keepdims=True)
    out = rows - np.log(np.exp(rows).sum(axis=1, keepdims=True)) if log else \
        np.exp(rows) / np.exp(rows).sum(axis=1, keepdims=True)
    return out.reshape(x.shape).astype(np.float32)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("axis", [None, 1, 2, 3, -1, -2])
def test_softmax_before_13_normalises_the_flattened_trailing_dims(op, axis):
    attrs = {} if axis is None else {"axis": axis}
    model = _single(op, attrs, 11)
    x = _input(2)
    expected = _flattened_softmax(x, 1 if axis is None else axis % 4, op == "LogSoftmax")
    _check(model, x, expected)
    try:
        import onnxruntime as ort  # onnx.reference gets the pre-13 Softmax wrong; onnxruntime does not
    except ImportError:
        return
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("axis", [None, 1, 2, -1])
@pytest.mark.parametrize("opset", [13, NEWEST])
def test_softmax_from_13_normalises_one_axis(op, axis, opset):
    attrs = {} if axis is None else {"axis": axis}
    g = _check(_single(op, attrs, opset), _input(2))
    assert _layers(g) == [{"Softmax": "Softmax", "LogSoftmax": "LogSoftmax"}[op]]


@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_over_the_batch_is_refused(opset):
    with pytest.raises(ValueError, match="the_node.*(axis 0|batch)"):
        cnx.load(_single("Softmax", {"axis": 0}, opset))
    with pytest.raises(ValueError, match="the_node.*out of range"):
        cnx.load(_single("Softmax", {"axis": 4}, opset))


# -- a chain compiles, and the layers train ----------------------------------------------------------


def test_activation_chain_compiles_and_equals_eager():
    slope = np.linspace(0.1, 0.3, 7).astype(np.float32)
    nodes = [helper.make_node("PRelu", ["x", "p.weight"], ["a"]),
             helper.make_node("Erf", ["a"], ["b"]),
             helper.make_node("Clip", ["b", "zero", "six"], ["c"]),
             helper.make_node("HardSigmoid", ["c"], ["d"], alpha=0.3, beta=0.2),
             helper.make_node("Selu", ["d"], ["e"], alpha=1.2, gamma=1.1),
             helper.make_node("Softmax", ["e"], ["y"], axis=2)]
    inits = [_const(slope, "p.weight"), _const(np.float32(0), "zero"), _const(np.float32(6), "six")]
    model = _model(nodes, inits, 13)
    x = _input(2)
    g = _check(model, x)
    compiled = cn.compile(g, x.shape)
    np.testing.assert_allclose(compiled(x), g(x), rtol=1e-5, atol=1e-6)


# -- pattern lifts ----------------------------------------------------------------------------------------


def _node(op, inputs, output, **attrs):
    return helper.make_node(op, inputs, [output], **attrs)


def _half_one_root2(root2_name="r2", root2=math.sqrt(2)):
    return [_const(np.float32(0.5), "half"), _const(np.float32(1.0), "one"), _const(np.float32(root2), root2_name)]


GELU_ERF_FORMS = {
    # torch's legacy exporter: Div -> Erf -> Add 1 -> Mul x -> Mul 0.5
    "torch": [_node("Div", ["x", "r2"], "d"), _node("Erf", ["d"], "e"), _node("Add", ["e", "one"], "a"),
              _node("Mul", ["x", "a"], "m"), _node("Mul", ["m", "half"], "y")],
    "half_x_first": [_node("Mul", ["half", "x"], "m"), _node("Div", ["x", "r2"], "d"), _node("Erf", ["d"], "e"),
                     _node("Add", ["one", "e"], "a"), _node("Mul", ["a", "m"], "y")],
    "half_times_one_plus_erf": [_node("Div", ["x", "r2"], "d"), _node("Erf", ["d"], "e"),
                                _node("Add", ["e", "one"], "a"), _node("Mul", ["half", "a"], "m"),
                                _node("Mul", ["x", "m"], "y")],
}


def _tanh_constants():
    return [_const(np.float32(v), n) for n, v in (("half", 0.5), ("one", 1.0), ("k", math.sqrt(2 / math.pi)),
                                                  ("c", 0.044715), ("three", 3.0))]


GELU_TANH_FORMS = {
    # torch's legacy exporter: x*x, x*(x*x), 0.044715*x^3, x + ., sqrt(2/pi)*., Tanh, 1 + ., x*., 0.5*.
    "torch": [_node("Mul", ["x", "x"], "sq"), _node("Mul", ["x", "sq"], "cube"), _node("Mul", ["c", "cube"], "cc"),
              _node("Add", ["x", "cc"], "in"), _node("Mul", ["k", "in"], "arg"), _node("Tanh", ["arg"], "t"),
              _node("Add", ["one", "t"], "a"), _node("Mul", ["x", "a"], "m"), _node("Mul", ["half", "m"], "y")],
    "pow": [_node("Pow", ["x", "three"], "cube"), _node("Mul", ["cube", "c"], "cc"), _node("Add", ["cc", "x"], "in"),
            _node("Mul", ["in", "k"], "arg"), _node("Tanh", ["arg"], "t"), _node("Add", ["t", "one"], "a"),
            _node("Mul", ["x", "half"], "m"), _node("Mul", ["m", "a"], "y")],
}


@pytest.mark.parametrize("form", sorted(GELU_TANH_FORMS))
def test_tanh_gelu_expansion_is_lifted(form):
    model = _model(GELU_TANH_FORMS[form], _tanh_constants())
    for batch in (1, 3):
        g = _check(model, _input(batch, seed=batch))
    assert _layers(g) == ["GELU"]
    (layer,) = [m for m in g.modules() if m is not g]
    assert layer.approximate == "tanh"


def test_tanh_gelu_not_lifted_when_the_cube_is_read_elsewhere():
    nodes = GELU_TANH_FORMS["torch"][:-1] + [_node("Mul", ["half", "m"], "g"), _node("Add", ["g", "cube"], "y")]
    assert "GELU" not in _layers(_check(_model(nodes, _tanh_constants()), _input(2)))
    nodes = GELU_TANH_FORMS["torch"][:-1] + [_node("Mul", ["half", "m"], "g"), _node("Add", ["g", "sq"], "y")]
    assert "GELU" not in _layers(_check(_model(nodes, _tanh_constants()), _input(2)))


@pytest.mark.parametrize("form", sorted(GELU_ERF_FORMS))
def test_erf_gelu_expansion_is_lifted(form):
    model = _model(GELU_ERF_FORMS[form], _half_one_root2())
    for batch in (1, 3):
        g = _check(model, _input(batch, seed=batch))
    assert _layers(g) == ["GELU"]


def test_erf_gelu_with_multiplication_by_inverse_root2_is_lifted():
    nodes = [_node("Mul", ["inv", "x"], "d"), _node("Erf", ["d"], "e"), _node("Add", ["e", "one"], "a"),
             _node("Mul", ["x", "a"], "m"), _node("Mul", ["m", "half"], "y")]
    inits = _half_one_root2()[:2] + [_const(np.float32(1 / math.sqrt(2)), "inv")]
    assert _layers(_check(_model(nodes, inits), _input(2))) == ["GELU"]


def test_erf_gelu_not_lifted_when_an_intermediate_has_another_reader_or_constants_differ():
    extra_reader = GELU_ERF_FORMS["torch"][:-1] + [_node("Mul", ["m", "half"], "g"), _node("Add", ["g", "e"], "y")]
    g = _check(_model(extra_reader, _half_one_root2()), _input(2))
    assert "GELU" not in _layers(g)
    other_scale = _model(GELU_ERF_FORMS["torch"], _half_one_root2(root2=1.5))
    g = _check(other_scale, _input(2))
    assert "GELU" not in _layers(g)
    other_x = [_node("Div", ["x", "r2"], "d"), _node("Erf", ["d"], "e"), _node("Add", ["e", "one"], "a"),
               _node("Mul", ["x2", "a"], "m"), _node("Mul", ["m", "half"], "y")]
    model = _model(other_x, _half_one_root2(), inputs=("x", "x2"))
    x, x2 = _input(2, seed=1), _input(2, seed=2)
    g = cnx.load(model)
    np.testing.assert_allclose(g(x, x2), ReferenceEvaluator(model).run(None, {"x": x, "x2": x2})[0],
                               rtol=1e-5, atol=1e-6)
    assert "GELU" not in _layers(g)


@pytest.mark.parametrize("gate_first", [True, False])
def test_silu_and_hardswish_are_lifted(gate_first):
    for gate, attrs, layer in (("Sigmoid", {}, "SiLU"), ("HardSigmoid", {"alpha": 1 / 6}, "Hardswish")):
        ins = ["s", "x"] if gate_first else ["x", "s"]
        model = _model([_node(gate, ["x"], "s", **attrs), _node("Mul", ins, "y")])
        g = _check(model, _input(3))
        assert _layers(g) == [layer]


def _relu6_constants():
    return [_const(np.float32(v), n) for n, v in (("three", 3.0), ("zero", 0.0), ("six", 6.0), ("sixth", 1 / 6))]


def _relu6_of_x_plus_3(opset):
    if opset < 11:
        return [_node("Add", ["x", "three"], "a"), _node("Clip", ["a"], "r", min=0.0, max=6.0)]
    return [_node("Add", ["three", "x"], "a"), _node("Clip", ["a", "zero", "six"], "r")]


@pytest.mark.parametrize("opset", [9, 13])
def test_clip_spellings_of_hardsigmoid_and_hardswish_are_lifted(opset):
    forms = {
        "Hardsigmoid": [_node("Div", ["r", "six"], "y")],
        "Hardswish": [_node("Mul", ["x", "r"], "m"), _node("Div", ["m", "six"], "y")],
    }
    forms["Hardswish_sixth"] = [_node("Mul", ["r", "sixth"], "h"), _node("Mul", ["h", "x"], "y")]
    for name, tail in forms.items():
        g = _check(_model(_relu6_of_x_plus_3(opset) + tail, _relu6_constants(), opset), _input(2))
        assert _layers(g) == [name.split("_")[0]], name
    # not when relu6(x + 3) is read elsewhere, nor for another clip
    tail = [_node("Mul", ["x", "r"], "m"), _node("Div", ["m", "six"], "d"), _node("Add", ["d", "r"], "y")]
    assert not {"Hardswish", "Hardsigmoid"} & set(_layers(_check(
        _model(_relu6_of_x_plus_3(opset) + tail, _relu6_constants(), opset), _input(2))))
    other = [_node("Add", ["x", "three"], "a"), _node("Clip", ["a"], "r", min=0.0, max=5.0),
             _node("Div", ["r", "six"], "y")]
    assert "Hardsigmoid" not in _layers(_check(_model(other, _relu6_constants(), 9), _input(2)))


def test_gated_lifts_need_the_same_x_no_other_reader_and_hardswish_constants():
    cases = [
        # the gate output is read again
        [_node("Sigmoid", ["x"], "s"), _node("Mul", ["x", "s"], "m"), _node("Add", ["m", "s"], "y")],
        # x * sigmoid(x2), not x * sigmoid(x)
        [_node("Neg", ["x"], "x2"), _node("Sigmoid", ["x2"], "s"), _node("Mul", ["x", "s"], "y")],
        # HardSigmoid with ONNX's default alpha 0.2 is not torch's hardsigmoid
        [_node("HardSigmoid", ["x"], "s"), _node("Mul", ["x", "s"], "y")],
        [_node("HardSigmoid", ["x"], "s", alpha=1 / 6, beta=0.4), _node("Mul", ["x", "s"], "y")],
    ]
    for nodes in cases:
        g = _check(_model(nodes), _input(2))
        assert not {"SiLU", "Hardswish"} & set(_layers(g))


# -- torch exports ----------------------------------------------------------------------------------------


def _torch_export(module, x, opset):
    import io
    torch = pytest.importorskip("torch")
    f = io.BytesIO()
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module, torch.from_numpy(x), f, opset_version=opset, dynamo=False,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    return f.getvalue()


@pytest.mark.parametrize("opset", [12, 17])
def test_torch_activation_exports(opset):
    # at 12 torch writes Hardswish as x * HardSigmoid(x), at both SiLU as x * Sigmoid(x) and
    # GELU as its erf (or tanh) expansion: the lifts turn them back into layers
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    torch.manual_seed(0)
    net = tnn.Sequential(tnn.PReLU(3), tnn.SiLU(), tnn.Hardswish(), tnn.GELU(), tnn.ELU(0.5), tnn.LeakyReLU(0.1),
                         tnn.ReLU6(), tnn.Hardsigmoid(), tnn.Mish(), tnn.Softplus(), tnn.GELU(approximate="tanh"), tnn.SELU(), tnn.CELU(0.7),
                         tnn.Tanh(), tnn.Softsign(), tnn.Hardtanh(-0.5, 0.8), tnn.Softmax(dim=-1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([0.1, 0.2, 0.3]))
    x = _input(2, seed=3)
    g = cnx.load(_torch_export(net, x, opset))
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(g(x), want, rtol=1e-4, atol=1e-6)
    layers = _layers(g)
    for name in ("PReLU", "SiLU", "Hardswish", "GELU", "ReLU6", "Softmax"):
        assert name in layers, (name, layers)
    assert layers.count("GELU") == 2
    # torch folds the slope's reshape into a new initializer ('onnx::PRelu_5'): the
    # weight keeps the layer's node name, and it is a trainable Parameter
    (name,) = g.state_dict()
    assert name.endswith(".weight")
