"""QDQ-quantized ONNX models (QuantizeLinear / DequantizeLinear): imported as fake
quantization, compiled as the engine's quantize + dequantize nodes, and lowered by
``quantize(model, None)`` onto the int8 kernels with the model's own scales (issue 16).

The fake-quantize op is checked against a float64 reference and torch; the models are built
with onnx.helper (uint8 and int8 activations, per-channel int8 weights, int32 biases, a
residual add, pools and a linear layer) and, when onnxruntime is installed, also made by
its own quantizer and run by it.
"""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import ops

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import cnnnative.onnx as cnx  # noqa: E402

FQ = ops.fake_quantize_per_tensor_affine


def _reference_fq(x, scale, zero, lo, hi):
    """float64 reference of the engine's arithmetic: x * float32(1/scale) rounded to float32,
    + zero, half-to-even, NaN -> lo, clamp, back to float."""
    inv = np.float32(1) / np.float32(scale)
    t = (x.astype(np.float64) * np.float64(inv)).astype(np.float32).astype(np.float64) + zero
    t = np.rint(t.astype(np.float32).astype(np.float64))
    t[np.isnan(t)] = lo
    t = np.clip(t, lo, hi)
    return ((t - zero) * np.float64(np.float32(scale))).astype(np.float32)


@pytest.mark.parametrize("grid", [(0, 255), (-128, 127), (0, 15)])
@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (4, 13), (2, 1, 1, 1)])
def test_fake_quantize_matches_reference(grid, shape):
    lo, hi = grid
    rng = np.random.default_rng(sum(shape) + hi)
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    x.flat[0] = np.nan
    x.flat[-1] = np.inf
    if x.size > 2:
        x.flat[1] = -np.inf
    zero = (lo + hi) // 2 + 1
    y = FQ(x, 0.037, zero, lo, hi)
    np.testing.assert_array_equal(y, _reference_fq(x, 0.037, zero, lo, hi))
    assert y.dtype == np.float32 and y.shape == x.shape


def test_fake_quantize_equals_torch_and_its_gradient():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((3, 4, 5, 6)) * 4).astype(np.float32)
    for scale, zero, lo, hi in ((0.05, 128, 0, 255), (0.05, -3, -128, 127)):
        want = torch.fake_quantize_per_tensor_affine(torch.tensor(x), scale, zero, lo, hi).numpy()
        np.testing.assert_allclose(FQ(x, scale, zero, lo, hi), want, rtol=0, atol=scale * 1.0001)
        t = cn.Tensor(x, requires_grad=True)
        g = rng.standard_normal(x.shape).astype(np.float32)
        (FQ(t, scale, zero, lo, hi) * cn.Tensor(g)).sum().backward()
        xt = torch.tensor(x, requires_grad=True)
        torch.fake_quantize_per_tensor_affine(xt, scale, zero, lo, hi).backward(torch.tensor(g))
        grad = np.asarray(t.grad)
        np.testing.assert_array_equal(grad, xt.grad.numpy())
        assert np.count_nonzero(grad) > 0 and np.count_nonzero(grad == 0) > 0  # inside and clamped


@pytest.mark.parametrize("args, message", [
    ((0.0, 0), "scale"), ((float("nan"), 0), "scale"), ((1e-3, 300), "zero_point 300"),
    ((1e-3, 0, 5, 5), "quant_min"), ((1e-3, 0.5), "zero_point"), ((1e-3, 0, 0, 1 << 20), "65536"),
])
def test_fake_quantize_rejects_bad_parameters(args, message):
    with pytest.raises(ValueError, match=message):
        FQ(np.zeros(3, np.float32), *args)


# --- models built with onnx.helper -----------------------------------------------------------

def _qdq(nodes, inits, name, src, scale, zero, dtype):
    """Q -> DQ on run-time value `src`; returns the DQ output's name."""
    zt = TensorProto.UINT8 if dtype == np.uint8 else TensorProto.INT8
    inits += [numpy_helper.from_array(np.array(scale, np.float32), f"{name}_s"),
              helper.make_tensor(f"{name}_z", zt, [], [int(zero)])]
    nodes += [helper.make_node("QuantizeLinear", [src, f"{name}_s", f"{name}_z"], [f"{name}_q"]),
              helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], [f"{name}_dq"])]
    return f"{name}_dq"


def _weight(nodes, inits, name, w, in_scale):
    """Per-channel symmetric int8 weight and int32 bias (scale in_scale * w_scale) behind
    DequantizeLinear; returns (weight name, bias name)."""
    flat = w.reshape(w.shape[0], -1)
    ws = (np.abs(flat).max(1) / 127).astype(np.float32)
    wq = np.clip(np.rint(flat / ws[:, None]), -127, 127).astype(np.int8).reshape(w.shape)
    bias = np.linspace(-0.2, 0.3, w.shape[0]).astype(np.float32)
    bs = (np.float32(in_scale) * ws).astype(np.float32)
    bq = np.rint(bias / bs).astype(np.int32)
    inits += [numpy_helper.from_array(wq, f"{name}.wq"), numpy_helper.from_array(ws, f"{name}.ws"),
              numpy_helper.from_array(np.zeros(w.shape[0], np.int8), f"{name}.wz"),
              numpy_helper.from_array(bq, f"{name}.bq"), numpy_helper.from_array(bs, f"{name}.bs"),
              numpy_helper.from_array(np.zeros(w.shape[0], np.int32), f"{name}.bz")]
    nodes += [helper.make_node("DequantizeLinear", [f"{name}.wq", f"{name}.ws", f"{name}.wz"], [f"{name}.weight"],
                               axis=0),
              helper.make_node("DequantizeLinear", [f"{name}.bq", f"{name}.bs", f"{name}.bz"], [f"{name}.bias"],
                               axis=0)]
    return f"{name}.weight", f"{name}.bias", wq


def _qdq_net(dtype=np.uint8, c=8, classes=5, seed=0):
    """input -> QDQ -> conv3x3+relu -> QDQ -> conv3x3 -> QDQ -> add(residual) -> relu -> QDQ ->
    maxpool -> QDQ -> global avg pool -> flatten -> QDQ -> gemm -> QDQ. Returns (model bytes,
    {layer: int8 weight})."""
    rng = np.random.default_rng(seed)
    shift = 0 if dtype == np.uint8 else -128
    nodes, inits, ints = [], [], {}
    x = _qdq(nodes, inits, "in", "x", 0.03, 128 + shift, dtype)
    w, b, ints["c1"] = _weight(nodes, inits, "c1", rng.standard_normal((c, 3, 3, 3)).astype(np.float32) * 0.3, 0.03)
    nodes.append(helper.make_node("Conv", [x, w, b], ["c1o"], pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Relu", ["c1o"], ["r1"]))
    h = _qdq(nodes, inits, "h1", "r1", 0.02, 0 + shift, dtype)
    w, b, ints["c2"] = _weight(nodes, inits, "c2", rng.standard_normal((c, c, 3, 3)).astype(np.float32) * 0.1, 0.02)
    nodes.append(helper.make_node("Conv", [h, w, b], ["c2o"], pads=[1, 1, 1, 1]))
    y = _qdq(nodes, inits, "h2", "c2o", 0.025, 120 + shift, dtype)
    nodes.append(helper.make_node("Add", [y, h], ["s"]))
    nodes.append(helper.make_node("Relu", ["s"], ["sr"]))
    s = _qdq(nodes, inits, "h3", "sr", 0.03, 0 + shift, dtype)
    nodes.append(helper.make_node("MaxPool", [s], ["mp"], kernel_shape=[2, 2], strides=[2, 2]))
    m = _qdq(nodes, inits, "h4", "mp", 0.03, 0 + shift, dtype)
    nodes.append(helper.make_node("GlobalAveragePool", [m], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["f"]))
    f = _qdq(nodes, inits, "h5", "f", 0.01, 0 + shift, dtype)
    w, b, ints["fc"] = _weight(nodes, inits, "fc", rng.standard_normal((classes, c)).astype(np.float32) * 0.5, 0.01)
    nodes.append(helper.make_node("Gemm", [f, w, b], ["logits"], transB=1))
    out = _qdq(nodes, inits, "out", "logits", 0.02, 128 + shift, dtype)
    nodes.append(helper.make_node("Identity", [out], ["y"]))
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 9, 11])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", classes])], inits)
    # opset 19: onnx's reference evaluator has no older QuantizeLinear / DequantizeLinear
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model.SerializeToString(), ints


def _inputs(n, seed=3):
    return (np.random.default_rng(seed).standard_normal((n, 3, 9, 11)) * 1.5).astype(np.float32)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("n", [1, 3])
def test_qdq_import_equals_onnx_reference_and_compiles_exactly(dtype, n):
    from onnx.reference import ReferenceEvaluator
    data, _ = _qdq_net(dtype)
    x = _inputs(n)
    want = ReferenceEvaluator(onnx.load_from_string(data)).run(None, {"x": x})[0]
    model = cnx.load(data, input_shape=(n, 3, 9, 11))
    model.eval()
    eager = np.asarray(model(x))
    # ONNX divides by the scale, the engine multiplies by its reciprocal: at an exact half-way
    # point one step apart (the output grid is 0.02), otherwise equal
    assert np.abs(eager - want).max() <= 0.02 * 1.001
    assert np.mean(eager == want) > 0.9
    compiled = cn.compile(data, (n, 3, 9, 11))
    np.testing.assert_array_equal(compiled(x), eager)
    assert "quantize" in compiled.summary() and "dequantize" in compiled.summary()


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_qdq_model_runs_int8_with_its_own_scales(dtype):
    data, ints = _qdq_net(dtype)
    x = _inputs(4)
    eager = np.asarray(cnx.load(data, input_shape=(4, 3, 9, 11)).eval()(x))
    q = cn.quantize(data, None, input_shape=(4, 3, 9, 11))
    y = q(x)
    # every conv / linear ran int8, reading and writing the model's grids
    rows = {r["layer"]: r for r in q.layers if r["op"] in ("conv2d", "linear")}
    assert all(r["mode"] == "int8" for r in rows.values()), q.report()
    c1 = next(r for r in q.layers if r["op"] == "conv2d")
    assert c1["in_zero"] == 128 and abs(c1["in_scale"] - 0.03) < 1e-9
    assert c1["out_scale"] == pytest.approx(0.02) and c1["out_zero"] == 0
    assert sum(r["op"] == "conv2d" and r.get("residual") == "uint8" for r in q.layers) == 1  # add fused
    assert "conv_int8" in q.summary() and "linear_int8" in q.summary()
    # the int8 result is the QDQ model's up to a few steps of the output grid (the residual
    # add skips one rounding, see quantization/qdq.py), and picks the same class
    assert np.abs(y - eager).max() <= 4 * 0.02
    np.testing.assert_array_equal(y.argmax(1), eager.argmax(1))
    # the weights the kernels use are the file's integers
    from cnnnative.quantization.lower import quantize_weight
    model = cnx.load(data, input_shape=(4, 3, 9, 11))
    weights = {n: p for n, p in model.named_parameters() if n.endswith("weight")}
    for layer, wq in ints.items():
        w = next(v for k, v in weights.items() if k.startswith(layer))
        np.testing.assert_array_equal(quantize_weight(np.asarray(w), True)[0], wq)


def test_qdq_int8_plan_file_round_trip(tmp_path):
    data, _ = _qdq_net()
    x = _inputs(2)
    q = cn.quantize(data, None, input_shape=(2, 3, 9, 11), exportable=True)
    path = tmp_path / "qdq.cnn"
    cn.export_plan(q, str(path), (2, 3, 9, 11))
    np.testing.assert_array_equal(cn.load_plan(str(path))(x), q(x))


def test_quantize_needs_calibration_or_qdq():
    model = cn.nn.Sequential(cn.nn.Conv2d(3, 4, 3), cn.nn.ReLU())
    with pytest.raises(ValueError, match="calibration_data is required"):
        cn.quantize(model, None, input_shape=(1, 3, 8, 8))
    with pytest.raises(ValueError, match="input_shape"):
        cn.quantize(model, None)


def _tiny(nodes, inits, extra_outputs=()):
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, 4, 4])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["n", 2, 4, 4]) for o in ("y", *extra_outputs)],
                              inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_qdq_import_errors_name_the_node():
    s = numpy_helper.from_array(np.array(0.1, np.float32), "s")
    s2 = numpy_helper.from_array(np.array(0.2, np.float32), "s2")
    z = helper.make_tensor("z", TensorProto.UINT8, [], [3])
    q = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="quant")
    # an integer tensor read by a float op
    bad = _tiny([q, helper.make_node("Relu", ["q"], ["y"])], [s, z])
    with pytest.raises(cnx.ConversionError, match="integer output of QuantizeLinear 'quant'"):
        cnx.load(bad, input_shape=(1, 2, 4, 4))
    # a pair whose scales differ
    bad = _tiny([q, helper.make_node("DequantizeLinear", ["q", "s2", "z"], ["y"], name="deq")], [s, s2, z])
    with pytest.raises(cnx.ConversionError, match="'deq'.*other parameters"):
        cnx.load(bad, input_shape=(1, 2, 4, 4))
    # per-axis quantization of a run-time value
    sa = numpy_helper.from_array(np.array([0.1, 0.2], np.float32), "sa")
    za = numpy_helper.from_array(np.array([0, 0], np.uint8), "za")
    bad = _tiny([helper.make_node("QuantizeLinear", ["x", "sa", "za"], ["q"], axis=1),
                 helper.make_node("DequantizeLinear", ["q", "sa", "za"], ["y"], axis=1)], [sa, za])
    with pytest.raises(cnx.ConversionError, match="per-axis"):
        cnx.load(bad, input_shape=(1, 2, 4, 4))
    # the integer tensor as the graph's output
    bad = _tiny([q, helper.make_node("Identity", ["x"], ["y"])], [s, z], extra_outputs=("q",))
    with pytest.raises(ValueError, match="integer output of QuantizeLinear"):
        cnx.load(bad, input_shape=(1, 2, 4, 4))
    # a non-positive scale
    sn = numpy_helper.from_array(np.array(-0.1, np.float32), "sn")
    bad = _tiny([helper.make_node("QuantizeLinear", ["x", "sn", "z"], ["q"]),
                 helper.make_node("DequantizeLinear", ["q", "sn", "z"], ["y"])], [sn, z])
    with pytest.raises(cnx.ConversionError, match="scale must be positive"):
        cnx.load(bad, input_shape=(1, 2, 4, 4))


def test_onnxruntime_quantizer_model_imports_and_runs_int8(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    quant = pytest.importorskip("onnxruntime.quantization")
    rng = np.random.default_rng(5)
    # the float model: conv-relu, conv + residual, relu, pool, gemm (written with onnx.helper)
    w1 = numpy_helper.from_array((rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32), "c1.weight")
    b1 = numpy_helper.from_array((rng.standard_normal(8) * 0.1).astype(np.float32), "c1.bias")
    w2 = numpy_helper.from_array((rng.standard_normal((8, 8, 3, 3)) * 0.1).astype(np.float32), "c2.weight")
    b2 = numpy_helper.from_array((rng.standard_normal(8) * 0.1).astype(np.float32), "c2.bias")
    wf = numpy_helper.from_array((rng.standard_normal((5, 8)) * 0.5).astype(np.float32), "fc.weight")
    bf = numpy_helper.from_array(np.zeros(5, np.float32), "fc.bias")
    we = numpy_helper.from_array((rng.standard_normal((8, 8, 1, 1)) * 0.3).astype(np.float32), "se.weight")
    be = numpy_helper.from_array(np.zeros(8, np.float32), "se.bias")
    nodes = [helper.make_node("Conv", ["x", "c1.weight", "c1.bias"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["a"], ["as"]), helper.make_node("Mul", ["a", "as"], ["a1"]),  # SiLU
             helper.make_node("GlobalAveragePool", ["a1"], ["sq"]),  # squeeze-and-excitation
             helper.make_node("Conv", ["sq", "se.weight", "se.bias"], ["ex"]),
             helper.make_node("Sigmoid", ["ex"], ["gate"]), helper.make_node("Mul", ["a1", "gate"], ["ar"]),
             helper.make_node("Conv", ["ar", "c2.weight", "c2.bias"], ["b"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["b", "ar"], ["s"]), helper.make_node("Relu", ["s"], ["sr"]),
             helper.make_node("MaxPool", ["sr"], ["m"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("GlobalAveragePool", ["m"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "f", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 12, 12])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 5])],
                              [w1, b1, w2, b2, wf, bf, we, be])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    f32 = tmp_path / "f32.onnx"
    onnx.save(model, str(f32))
    calib = [rng.standard_normal((1, 3, 12, 12)).astype(np.float32) for _ in range(8)]

    class Reader(quant.CalibrationDataReader):
        def __init__(self):
            self.it = iter(calib)

        def get_next(self):
            v = next(self.it, None)
            return None if v is None else {"x": v}

    for act in (quant.QuantType.QUInt8, quant.QuantType.QInt8):
        path = tmp_path / f"qdq_{act.name}.onnx"
        quant.quantize_static(str(f32), str(path), Reader(), quant_format=quant.QuantFormat.QDQ, per_channel=True,
                              activation_type=act, weight_type=quant.QuantType.QInt8)
        x = rng.standard_normal((3, 3, 12, 12)).astype(np.float32)
        theirs = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        eager = np.asarray(cnx.load(str(path), input_shape=(3, 3, 12, 12)).eval()(x))
        quantized = cn.quantize(str(path), None, input_shape=(3, 3, 12, 12))
        ours = quantized(x)
        modes = {r["layer"]: r["mode"] for r in quantized.layers if r["op"] in ("conv2d", "linear")}
        assert sorted(modes.values()) == ["fp32", "int8", "int8", "int8"], quantized.report()  # the SE gate: fp32
        out_step = float(np.abs(np.diff(np.unique(theirs))).min()) if np.unique(theirs).size > 1 else 1.0
        assert np.abs(eager - theirs).max() <= out_step * 1.001
        assert np.abs(ours - theirs).max() <= 4 * out_step
        np.testing.assert_array_equal(ours.argmax(1), theirs.argmax(1))


def test_qdq_pairs_inside_a_silu_are_dropped_for_int8_only():
    """conv -> QDQ -> x * Sigmoid(x) (each piece QDQ'd, as ORT writes SiLU) -> QDQ -> conv:
    load/compile keep every pair (float islands included); quantize drops the pairs only
    float ops read, so the SiLU is recognised and fuses into the first conv's int8 stage."""
    rng = np.random.default_rng(7)
    nodes, inits = [], []
    x = _qdq(nodes, inits, "in", "x", 0.03, 128, np.uint8)
    w, b, _ = _weight(nodes, inits, "c1", rng.standard_normal((6, 3, 3, 3)).astype(np.float32) * 0.3, 0.03)
    nodes.append(helper.make_node("Conv", [x, w, b], ["c1o"], pads=[1, 1, 1, 1]))
    y = _qdq(nodes, inits, "y", "c1o", 0.02, 100, np.uint8)
    nodes.append(helper.make_node("Sigmoid", [y], ["sig"]))
    s = _qdq(nodes, inits, "sig", "sig", 1 / 255, 0, np.uint8)
    nodes.append(helper.make_node("Mul", [y, s], ["silu"]))
    h = _qdq(nodes, inits, "h", "silu", 0.01, 30, np.uint8)
    w, b, _ = _weight(nodes, inits, "c2", rng.standard_normal((4, 6, 1, 1)).astype(np.float32) * 0.4, 0.01)
    nodes.append(helper.make_node("Conv", [h, w, b], ["c2o"]))
    out = _qdq(nodes, inits, "out", "c2o", 0.02, 128, np.uint8)
    nodes.append(helper.make_node("Identity", [out], ["y_out"]))
    graph = helper.make_graph(nodes, "silu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 6, 5])],
                              [helper.make_tensor_value_info("y_out", TensorProto.FLOAT, ["n", 4, 6, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    data = model.SerializeToString()
    xin = (rng.standard_normal((2, 3, 6, 5)) * 1.5).astype(np.float32)
    eager = np.asarray(cnx.load(data, input_shape=(2, 3, 6, 5)).eval()(xin))
    assert cn.compile(data, (2, 3, 6, 5)).summary().count(" quantize ->") == 5  # every pair kept
    q = cn.quantize(data, None, input_shape=(2, 3, 6, 5))
    assert q.summary().count("conv_int8") == 2, q.summary()
    assert [r["mode"] for r in q.layers if r["op"] == "conv2d"] == ["int8", "int8"]
    # int8 computes the model without the island's pairs (up to its own output rounding) ...
    islands_dropped = np.asarray(cnx._load(data, (2, 3, 6, 5), for_int8=True).eval()(xin))
    assert np.abs(q(xin) - islands_dropped).max() <= 2 * 0.02
    # ... which differs from the full QDQ model by the dropped roundings, carried through c2
    assert np.abs(q(xin) - eager).max() <= 10 * 0.02
    assert len(model.graph.node) == len(onnx.load_from_string(data).graph.node)  # the caller's model unchanged
