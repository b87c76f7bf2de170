"""ONNX import of element-wise math (broadcasting between run-time values and constants,
ONNX-exact folding of constants), the reductions and Cast: single-node models against
onnx.reference at several opsets."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import cnnnative as cn  # noqa: E402
import cnnnative.onnx as cnx  # noqa: E402
from cnnnative.onnx import convert_math  # noqa: E402
from cnnnative.onnx._values import BATCH, ShapeTensor  # noqa: E402

NEWEST = onnx.defs.onnx_opset_version()
SAMPLE = (3, 5, 7)


def _model(nodes, initializers=(), opset=17, inputs=("x",), sample=SAMPLE):
    sample_of = sample if isinstance(sample, dict) else {n: sample for n in inputs}
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", *sample_of[n]]) for n in inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])], list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _const(value, name):
    return numpy_helper.from_array(np.asarray(value), name)


def _feeds(model, batch, seed=0, positive=False):
    rng = np.random.default_rng(seed)
    feeds = {}
    for vi in model.graph.input:
        shape = (batch,) + tuple(d.dim_value for d in vi.type.tensor_type.shape.dim[1:])
        x = rng.standard_normal(shape).astype(np.float32)
        feeds[vi.name] = np.abs(x) + np.float32(0.5) if positive else x
    return feeds


def _check(model, batches=(1, 3), positive=False):
    g = cnx.load(model)
    for batch in batches:
        feeds = _feeds(model, batch, seed=batch, positive=positive)
        want = ReferenceEvaluator(model).run(None, feeds)[0]
        got = g(*feeds.values())
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    return g


# -- binary ops ------------------------------------------------------------------------------------

PER_CHANNEL = np.array([0.5, 2.0, -1.5], np.float32).reshape(3, 1, 1)
CONSTANTS = {"per_channel": PER_CHANNEL, "scalar": np.array(1.25, np.float32),
             "row": np.linspace(0.5, 2, 7).astype(np.float32), "batch_one": PER_CHANNEL[None]}


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Pow"])
@pytest.mark.parametrize("opset", [7, 13, NEWEST])
def test_binary_ops_broadcast_constants_and_run_time_values(op, opset):
    positive = op == "Pow"  # a negative base with a fractional exponent is NaN
    for name, c in CONSTANTS.items():
        for order in (["x", "c"], ["c", "x"]):
            _check(_model([helper.make_node(op, order, ["y"])], [_const(c, "c")], opset), positive=positive)
    _check(_model([helper.make_node(op, ["x", "x2"], ["y"])], opset=opset, inputs=("x", "x2")), positive=positive)
    # one run-time value broadcast against another (per-channel statistics of a sample)
    model = _model([helper.make_node(op, ["x", "s"], ["y"])], opset=opset, inputs=("x", "s"),
                   sample={"x": SAMPLE, "s": (3, 1, 1)})
    _check(model, positive=positive)


def test_pow_with_an_integer_exponent():
    model = _model([helper.make_node("Pow", ["x", "e"], ["y"])], [_const(np.int64(3), "e")], 15)
    _check(model)


def test_per_channel_constant_folds_into_the_compiled_conv_and_equals_eager():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "conv.weight"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Mul", ["c", "scale"], ["m"]), helper.make_node("Add", ["shift", "m"], ["y"])]
    model = _model(nodes, [_const(w, "conv.weight"), _const(PER_CHANNEL, "scale"), _const(PER_CHANNEL * 3, "shift")])
    g = _check(model)
    x = _feeds(model, 2)["x"]
    np.testing.assert_allclose(cn.compile(g, x.shape)(x), g(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("const_shape", [(2, 3, 1, 1), (1, 1, 3, 5, 7)])
def test_constant_that_would_span_or_move_the_batch_is_refused(const_shape):
    c = np.ones(const_shape, np.float32)
    model = _model([helper.make_node("Add", ["x", "c"], ["y"], name="adder")], [_const(c, "c")])
    with pytest.raises(ValueError, match=r"adder.*span the batch"):
        cnx.load(model)


def test_run_time_values_of_different_ranks_are_refused():
    model = _model([helper.make_node("Mul", ["x", "v"], ["y"], name="mixer")], inputs=("x", "v"),
                   sample={"x": SAMPLE, "v": (7,)})
    with pytest.raises(ValueError, match="mixer.*different ranks"):
        cnx.load(model)


# -- variadic ops --------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["Sum", "Mean", "Max", "Min"])
@pytest.mark.parametrize("opset", [8, 13])
def test_variadic_ops(op, opset):
    _check(_model([helper.make_node(op, ["x"], ["y"])], opset=opset))
    _check(_model([helper.make_node(op, ["x", "x2", "x3"], ["y"])], opset=opset, inputs=("x", "x2", "x3")))
    # constants mixed in (after a full-shape value: onnx.reference's Mean needs that order)
    inits = [_const(PER_CHANNEL, "c"), _const(np.float32(0.25), "d")]
    _check(_model([helper.make_node(op, ["x", "c", "x2", "d"], ["y"])], inits, opset, inputs=("x", "x2")))


# -- unary ops ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["Exp", "Log", "Sqrt", "Abs", "Neg", "Reciprocal"])
@pytest.mark.parametrize("opset", [6, 13])
def test_unary_ops(op, opset):
    _check(_model([helper.make_node(op, ["x"], ["y"])], opset=opset), positive=op in ("Log", "Sqrt"))


def test_floor_ceil_sign_fold_constants_and_refuse_run_time_values():
    c = np.array([-1.5, -0.5, 0.5, 2.5, 0.0, 3.0, -2.0], np.float32)
    for op in ("Floor", "Ceil", "Sign"):
        nodes = [helper.make_node(op, ["c"], ["f"]), helper.make_node("Add", ["x", "f"], ["y"])]
        _check(_model(nodes, [_const(c, "c")]))
        with pytest.raises(ValueError, match=f"rounder.*{op} of a run-time tensor"):
            cnx.load(_model([helper.make_node(op, ["x"], ["y"], name="rounder")]))


# -- integer constants (shape arithmetic) -------------------------------------------------------------------


def test_integer_constants_stay_integers_and_div_truncates_toward_zero():
    # a reshape target computed from int64 constants: [-3, 35 * 3] / [2, 1] -> [-1, 105] with
    # ONNX's truncation (numpy's floor division would give -2 and break the reshape)
    nodes = [helper.make_node("Mul", ["a", "b"], ["ab"]), helper.make_node("Div", ["ab", "two"], ["t"]),
             helper.make_node("Reshape", ["x", "t"], ["y"])]
    inits = [_const(np.array([-3, 35], np.int64), "a"), _const(np.array([1, 3], np.int64), "b"),
             _const(np.array([2, 1], np.int64), "two")]
    g = _check(_model(nodes, inits))
    assert g(np.zeros((4, *SAMPLE), np.float32)).shape == (4, 105)
    assert convert_math._integer_div(np.array([7, -7, 7, -7, 6]), np.array([2, 2, -2, -2, 3])).tolist() == \
        [3, -3, -3, 3, 2]
    assert convert_math._fold(convert_math._fold_pow, np.float32([2.0]), np.int64(3)).dtype == np.float32
    assert convert_math._fold(np.add, np.int64([1]), np.int64([2])).dtype == np.int64


class _FakeContext:
    """Just enough of ConvertContext for the ShapeTensor arithmetic."""

    def fail(self, message):
        raise ValueError(message)


def test_shape_arithmetic_keeps_the_batch_entry_only_through_identities():
    shape = ShapeTensor([BATCH, 6, 4])
    ctx = _FakeContext()
    out = convert_math.binary(ctx, "mul", np.multiply, shape, np.array([1, 2, 3], np.int64))
    assert out.entries == (BATCH, 12, 12)
    out = convert_math.binary(ctx, "div", convert_math._fold_div, shape, np.array([1, 2, 4], np.int64))
    assert out.entries == (BATCH, 3, 1)
    with pytest.raises(ValueError, match="batch size"):
        convert_math.binary(ctx, "mul", np.multiply, shape, np.array([2, 1, 1], np.int64))
    # Cast: to an integer type the shape stays symbolic; to float only a shape without the batch
    assert convert_math.cast(ctx, shape, TensorProto.INT32) is shape
    known = convert_math.cast(ctx, ShapeTensor([6, 4]), TensorProto.FLOAT)
    assert known.dtype == np.float32 and known.tolist() == [6.0, 4.0]
    with pytest.raises(ValueError, match="batch size to FLOAT"):
        convert_math.cast(ctx, shape, TensorProto.FLOAT)


# -- reductions -----------------------------------------------------------------------------------------------

REDUCTIONS = ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL1", "ReduceL2", "ReduceSumSquare",
              "ReduceLogSumExp", "ReduceLogSum"]


def _reduce_model(op, axes, keepdims, opset, noop=None, name="reducer"):
    input_axes = opset >= (13 if op == "ReduceSum" else 18)
    attrs = {"keepdims": keepdims}
    if noop is not None:
        attrs["noop_with_empty_axes"] = noop
    if input_axes:
        inits = [] if axes is None else [_const(np.array(axes, np.int64), "axes")]
        node = helper.make_node(op, ["x"] + (["axes"] if axes is not None else []), ["y"], name=name, **attrs)
        return _model([node], inits, opset)
    if axes is not None:
        attrs["axes"] = axes
    return _model([helper.make_node(op, ["x"], ["y"], name=name, **attrs)], opset=opset)


@pytest.mark.parametrize("op", REDUCTIONS)
@pytest.mark.parametrize("opset", [11, 13, 18])
def test_reductions_over_axes(op, opset):
    for axes, keepdims in (([2, 3], 1), ([1], 0), ([-1], 0), ([3, 1, 2], 0)):
        _check(_reduce_model(op, axes, keepdims, opset), positive=op == "ReduceLogSum")


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceSum", "ReduceMax"])
def test_reduction_with_no_axes(op):
    opset = 18
    g = _check(_reduce_model(op, None, 1, opset, noop=1))  # an identity
    assert g(np.ones((2, *SAMPLE), np.float32)).shape == (2, *SAMPLE)
    for noop in (None, 0):  # every axis, the batch's included
        with pytest.raises(ValueError, match="reducer.*batch axis 0"):
            cnx.load(_reduce_model(op, None, 1, opset, noop=noop))


@pytest.mark.parametrize("opset", [11, 18])
def test_reducing_the_batch_or_bad_axes_is_refused(opset):
    with pytest.raises(ValueError, match="reducer.*batch axis 0"):
        cnx.load(_reduce_model("ReduceMean", [0, 2], 1, opset))
    with pytest.raises(ValueError, match="reducer.*out of range"):
        cnx.load(_reduce_model("ReduceMean", [4], 1, opset))
    with pytest.raises(ValueError, match="reducer.*twice"):
        cnx.load(_reduce_model("ReduceMean", [1, -3], 1, opset))
    with pytest.raises(ValueError, match="reducer.*ReduceProd of a run-time tensor"):
        cnx.load(_reduce_model("ReduceProd", [1], 1, opset))


def test_reduction_of_a_constant_is_folded():
    c = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    nodes = [helper.make_node("ReduceProd", ["c"], ["p"], axes=[0], keepdims=0),
             helper.make_node("Add", ["x", "p"], ["y"])]
    _check(_model(nodes, [_const(c, "c")], 13, sample=(2, 3)))


# -- Cast ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("opset", [7, 13, NEWEST])
def test_cast_to_float_is_identity_and_constants_are_cast(opset):
    _check(_model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)], opset=opset))
    nodes = [helper.make_node("Cast", ["c"], ["f"], to=TensorProto.FLOAT), helper.make_node("Add", ["x", "f"], ["y"])]
    _check(_model(nodes, [_const(np.arange(7, dtype=np.int64), "c")], opset))
    with pytest.raises(ValueError, match="caster.*INT64"):
        cnx.load(_model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT64, name="caster")], opset=opset))


def test_castlike_follows_its_target():
    nodes = [helper.make_node("CastLike", ["c", "x"], ["f"]), helper.make_node("Add", ["x", "f"], ["y"])]
    _check(_model(nodes, [_const(np.arange(7, dtype=np.int64), "c")], 15))


# -- training through the math -------------------------------------------------------------------------------------


def test_gradients_flow_through_imported_math_and_compile_matches():
    slope = np.array([0.1, 0.2, 0.3], np.float32).reshape(3, 1, 1)
    nodes = [helper.make_node("PRelu", ["x", "act.weight"], ["a"]),
             helper.make_node("Mul", ["a", "c"], ["b"]), helper.make_node("Pow", ["b", "two"], ["p"]),
             helper.make_node("Sqrt", ["p"], ["s"]), helper.make_node("Max", ["s", "a"], ["m"]),
             helper.make_node("ReduceMean", ["m"], ["r"], axes=[2, 3], keepdims=1),
             helper.make_node("Sub", ["m", "r"], ["y"])]
    model = _model(nodes, [_const(slope, "act.weight"), _const(PER_CHANNEL, "c"), _const(np.float32(2), "two")], 13)
    g = _check(model)
    x = _feeds(model, 2)["x"]
    np.testing.assert_allclose(cn.compile(g, x.shape)(x), g(x), rtol=1e-5, atol=1e-5)
    g.train()
    out = g(cn.Tensor(x))
    (out * out).sum().backward()
    grad = dict(g.named_parameters())["act.weight"].grad
    assert grad is not None and np.abs(grad).sum() > 0


# -- broadcasting, over random constant shapes -----------------------------------------------------------------

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is a test extra
    given = None

if given is not None:
    @settings(max_examples=25, deadline=None)
    @given(op=st.sampled_from(["Add", "Sub", "Mul", "Div", "Max", "Min"]),
           kept=st.lists(st.booleans(), min_size=3, max_size=3), dropped=st.integers(0, 4),
           constant_first=st.booleans(), opset=st.sampled_from([8, 13, NEWEST]))
    def test_constants_of_any_broadcastable_shape(op, kept, dropped, constant_first, opset):
        # a constant with a size-1 or full dim per sample axis, leading dims dropped
        shape = (1,) + tuple(d if k else 1 for d, k in zip(SAMPLE, kept))
        shape = shape[dropped:]  # dropped = 4: a scalar
        c = np.random.default_rng(len(shape)).uniform(0.5, 2.0, shape).astype(np.float32)
        inputs = ["c", "x"] if constant_first else ["x", "c"]
        if op in ("Max", "Min") and constant_first and c.ndim < 4:
            inputs = ["x", "c"]  # onnx.reference's variadic ops need the full shape first
        _check(_model([helper.make_node(op, inputs, ["y"])], [_const(c, "c")], opset), batches=(2,))


# -- products and means the engine has its own nodes for ------------------------------------


def _engine_only(g, shape):
    compiled = cn.compile(g, shape)
    return compiled, [n["op"] for n in compiled.nodes if n["op"].startswith("host:")]


def test_a_per_channel_gate_product_becomes_channel_scale_on_the_engine():
    # x * sigmoid(conv(mean(x))) as torchvision's EfficientNet spells its SE block
    rng = np.random.default_rng(5)
    w = numpy_helper.from_array(rng.standard_normal((4, 4, 1, 1)).astype(np.float32), "fc.weight")
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["s"]),
             helper.make_node("Conv", ["s", "fc.weight"], ["c"]),
             helper.make_node("Sigmoid", ["c"], ["gate"]),
             helper.make_node("Mul", ["gate", "x"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 5, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 5, 6])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    g = cnx.load(model)
    assert "channel_scale" in [n.op for n in g.ir.nodes]
    x = rng.standard_normal((3, 4, 5, 6)).astype(np.float32)
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(g(x), want, rtol=1e-5, atol=1e-6)
    compiled, hosts = _engine_only(g, x.shape)
    assert hosts == []
    np.testing.assert_allclose(compiled(x), want, rtol=1e-5, atol=1e-6)
    g.train()
    g(cn.Tensor(x)).sum().backward()
    assert np.abs(dict(g.named_parameters())["fc.weight"].grad).sum() > 0


@pytest.mark.parametrize("keepdims", [0, 1])
def test_spatial_reduce_mean_is_the_global_average_pool(keepdims):
    node = helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=keepdims)
    out = ["N", 3, 1, 1] if keepdims else ["N", 3]
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    g = cnx.load(model)
    x = np.random.default_rng(6).standard_normal((2, 3, 4, 5)).astype(np.float32)
    want = x.mean(axis=(2, 3), keepdims=bool(keepdims))
    np.testing.assert_allclose(g(x), want, rtol=1e-5, atol=1e-6)
    compiled, hosts = _engine_only(g, x.shape)
    assert hosts == []
    np.testing.assert_allclose(compiled(x), want, rtol=1e-5, atol=1e-6)
