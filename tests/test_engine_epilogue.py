"""Activations fused into the engine's conv / linear output stage (SiLU, Hardswish, GELU
erf and tanh, Sigmoid, PReLU beside ReLU/ReLU6), and Conv1d lowered to the engine's conv.

The rule tested: a fused result equals the unfused op applied to the unfused node's
output -- bit for bit, NaN included -- for every conv method the engine picks, with and
without a residual, under every ISA this CPU has. Then `compile` fuses the activation
ops (no separate node) and gives the eager model's output.
"""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import _core, nn, ops
from cnnnative.inference import _lower, CompiledModel
from cnnnative.ir import fuse as ir_fuse
from cnnnative.ir.graph import OpGraph


def _prelu(y, slope):
    slope = np.asarray(slope, np.float32).reshape((1, -1) + (1,) * (y.ndim - 2))
    return np.where(y > 0, y, y * slope)


# name -> (the engine's activation, the unfused op on a numpy array; slope for prelu)
ACTIVATIONS = {
    "relu": lambda y, s: ops.relu(y),
    "relu6": lambda y, s: ops.relu6(y),
    "silu": lambda y, s: ops.silu(y),
    "hardswish": lambda y, s: ops.hardswish(y),
    "gelu": lambda y, s: ops.gelu(y),
    "gelu_tanh": lambda y, s: ops.gelu(y, approximate="tanh"),
    "sigmoid": lambda y, s: ops.sigmoid(y),
    "hardsigmoid": lambda y, s: ops.hardsigmoid(y),
    "prelu": lambda y, s: _prelu(y, s),
}

# (label, input (N, C, H, W), weight (K, C/g, R, S), stride, padding t,b,l,r, dilation, groups,
#  env): each shape lands on another conv method of the heuristic (asserted below).
CONVS = [
    ("gemm_1x1", (2, 8, 5, 7), (12, 8, 1, 1), 1, (0, 0, 0, 0), 1, 1, None),
    ("im2col_gemm", (2, 16, 7, 9), (10, 16, 3, 3), 1, (2, 2, 1, 3), 2, 1, None),
    ("winograd", (2, 16, 9, 11), (16, 16, 3, 3), 1, (1, 1, 1, 1), 1, 1, None),
    ("direct_smallc", (2, 3, 13, 15), (8, 3, 5, 5), 2, (2, 2, 2, 2), 1, 1, None),
    # direct_smallc_wino on AVX2/AVX-512 (direct_smallc under scalar): odd output width
    ("direct_smallc_wino", (2, 3, 40, 45), (8, 3, 7, 7), 2, (3, 3, 3, 3), 1, 1, None),
    ("depthwise", (2, 6, 9, 10), (6, 1, 3, 3), 1, (1, 1, 1, 1), 1, 6, None),
    ("gemm_prepacked", (2, 16, 6, 5), (72, 16, 3, 3), 1, (2, 2, 2, 2), 2, 1, "always"),
    ("conv1d_dilated", (2, 16, 1, 37), (24, 16, 1, 3), 1, (0, 0, 8, 0), 4, 1, None),
]


def _conv_plan(shape, w, b, stride, pad, dilation, groups, act, slope, residual):
    plan = _core.EnginePlan(list(shape))
    res = -1
    x_id = 0
    if residual:
        # the residual buffer: a first conv of the input to the output's shape
        res = plan.add_conv(0, w, b[::-1].copy(), (stride, stride), pad, (dilation, dilation), groups)
    y = plan.add_conv(x_id, w, b, (stride, stride), pad, (dilation, dilation), groups, act, res, slope)
    plan.finalize(y)
    return plan


@pytest.mark.parametrize("case", CONVS, ids=[c[0] for c in CONVS])
def test_conv_epilogue_equals_unfused_activation(case, isa, rng, monkeypatch):
    label, xs, ws, stride, pad, dilation, groups, prepack = case
    if prepack:
        monkeypatch.setenv("CNNNATIVE_ENGINE_PREPACK", prepack)
    x = (rng.standard_normal(xs) * 2).astype(np.float32)
    x[0, 0, 0, min(2, xs[3] - 1)] = np.nan  # NaN in: the same outputs are NaN fused or not
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    K = ws[0]
    for residual in (False, True):
        plain = _conv_plan(xs, w, b, stride, pad, dilation, groups, "none", None, residual)
        method = plain.nodes()[-1]["method"]
        if label in ("gemm_1x1", "im2col_gemm", "winograd", "depthwise", "gemm_prepacked"):
            assert method == label
        elif label == "direct_smallc":
            assert method == "direct_smallc"
        elif label == "direct_smallc_wino":
            assert method == (label if isa != "scalar" else "direct_smallc")
        ref = plain.run(x)
        assert np.isnan(ref).any() and np.isfinite(ref).any()
        for name, unfused in ACTIVATIONS.items():
            slopes = [None] if name != "prelu" else [np.float32([0.25]), rng.uniform(-1, 1, K).astype(np.float32)]
            for slope in slopes:
                plan = _conv_plan(xs, w, b, stride, pad, dilation, groups, name, slope, residual)
                assert plan.nodes()[-1]["activation"] == name and plan.nodes()[-1]["method"] == method
                got = plan.run(x, poison=True)
                np.testing.assert_array_equal(got, unfused(ref, slope), err_msg=f"{label} {name} residual={residual}")


def test_conv_epilogue_matches_float64_reference(isa, rng):
    """One method end to end against numpy float64: conv + bias + residual, then GELU."""
    x = rng.standard_normal((1, 16, 8, 9)).astype(np.float32)
    w = (rng.standard_normal((16, 16, 3, 3)) / 12).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    plan = _core.EnginePlan([1, 16, 8, 9])
    y = plan.add_conv(0, w, b, (1, 1), (1, 1, 1, 1), (1, 1), 1, "gelu", 0)  # residual: the input itself
    plan.finalize(y)
    conv = ops.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 1, 1)
    from math import erf
    z = conv + x
    want = z * 0.5 * (1 + np.vectorize(erf)(z / np.sqrt(2)))
    np.testing.assert_allclose(plan.run(x), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_linear_epilogue_equals_unfused_activation(name, isa, rng):
    x = rng.standard_normal((5, 19)).astype(np.float32)
    x[1, 3] = np.nan
    w = rng.standard_normal((13, 19)).astype(np.float32)
    b = rng.standard_normal(13).astype(np.float32)
    plain = _core.EnginePlan([5, 19])
    plain.finalize(plain.add_linear(0, w, b))
    ref = plain.run(x)
    slopes = [None] if name != "prelu" else [np.float32([-0.5]), rng.uniform(-1, 1, 13).astype(np.float32)]
    for slope in slopes:
        plan = _core.EnginePlan([5, 19])
        plan.finalize(plan.add_linear(0, w, b, name, slope))
        np.testing.assert_array_equal(plan.run(x, poison=True), ACTIVATIONS[name](ref, slope))


@pytest.mark.parametrize("name", [n for n in ACTIVATIONS if n != "prelu"])
def test_standalone_activation_and_add_nodes(name, isa, rng):
    """An activation the engine cannot fuse (after a pool) is its own SIMD node; add fuses it."""
    x = rng.standard_normal((2, 3, 40, 50)).astype(np.float32) * 4
    x[0, 1, 2, 3] = np.nan
    plan = _core.EnginePlan(list(x.shape))
    plan.finalize(plan.add_activation(0, name))
    np.testing.assert_array_equal(plan.run(x), ACTIVATIONS[name](x, None))
    plan = _core.EnginePlan(list(x.shape))
    plan.finalize(plan.add_add(0, 0, name))
    np.testing.assert_array_equal(plan.run(x), ACTIVATIONS[name](x + x, None))


def test_bad_activation_arguments():
    w = np.zeros((4, 3, 3, 3), np.float32)
    plan = _core.EnginePlan([1, 3, 8, 8])
    with pytest.raises(ValueError, match="prelu slope must have 1 or 4 values.*got 3"):
        plan.add_conv(0, w, None, (1, 1), (0, 0, 0, 0), (1, 1), 1, "prelu", -1, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="prelu slope must have 1 or 4"):
        plan.add_conv(0, w, None, (1, 1), (0, 0, 0, 0), (1, 1), 1, "prelu", -1)
    with pytest.raises(ValueError, match="slope is only for activation 'prelu'"):
        plan.add_conv(0, w, None, (1, 1), (0, 0, 0, 0), (1, 1), 1, "silu", -1, np.ones(4, np.float32))
    with pytest.raises(ValueError, match="activation must be one of .*'gelu_tanh'.*got 'swish'"):
        plan.add_conv(0, w, None, (1, 1), (0, 0, 0, 0), (1, 1), 1, "swish", -1)
    with pytest.raises(ValueError, match="prelu needs its slopes"):
        plan.add_activation(0, "prelu")


# -- compile: the activation ops fuse into the conv / linear before them ----------------------------

def _layer(name):
    return {"relu": nn.ReLU(), "relu6": nn.ReLU6(), "silu": nn.SiLU(), "hardswish": nn.Hardswish(),
            "gelu": nn.GELU(), "gelu_tanh": nn.GELU(approximate="tanh"), "sigmoid": nn.Sigmoid(),
            "hardsigmoid": nn.Hardsigmoid()}[name]


class _Residual(nn.Module):
    def __init__(self, conv, act):
        super().__init__()
        self.conv, self.act = conv, act

    def forward(self, x):
        return self.act(self.conv(x) + x)


COMPILED = [n for n in ACTIVATIONS if n != "prelu"]


@pytest.mark.parametrize("algo", ["auto", "gemm", "autotune"])
@pytest.mark.parametrize("name", COMPILED)
def test_compiled_conv_with_activation_fuses_and_matches_eager(name, algo, rng):
    nn.init.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), _layer(name),
                          _Residual(nn.Conv2d(16, 16, 3, padding=1), _layer(name)),
                          nn.Flatten(), nn.Linear(16 * 36, 10), _layer(name))
    model.eval()
    x = rng.standard_normal((2, 16, 6, 6)).astype(np.float32)
    compiled = cn.compile(model, x.shape, algo=algo)
    ops_run = [(n["op"], n["activation"]) for n in compiled.nodes]
    assert ops_run == [("conv", name), ("conv", name), ("flatten", "none"), ("linear", name)]
    np.testing.assert_allclose(compiled(x), model(x), rtol=1e-4, atol=1e-5)


def test_compile_unfused_activation_runs_in_the_engine(rng):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2), nn.SiLU())
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    compiled = cn.compile(model, x.shape)
    assert [n["op"] for n in compiled.nodes] == ["conv", "max_pool", "activation"]
    np.testing.assert_allclose(compiled(x), model(x), rtol=1e-5, atol=1e-6)


def test_prelu_fuses_through_the_ir(rng):
    """An OpGraph with conv2d -> prelu (per channel) and linear -> prelu (shared), as the
    tracer writes it: both fuse, the node list shows it, and the result is the reference."""
    g = OpGraph()
    x = g.input((None, 4, 7, 7))
    w = (rng.standard_normal((6, 4, 3, 3)) / 6).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    slope_c = rng.uniform(-1, 1, 6).astype(np.float32)
    wl = rng.standard_normal((5, 6 * 25)).astype(np.float32)
    c = g.add_node("conv2d", {"input": x, "weight": w, "bias": b, "stride": 1, "padding": 0,
                              "dilation": 1, "groups": 1})
    p = g.add_node("prelu", {"input": c, "weight": slope_c}, shapes=[c.shape])
    f = g.add_node("flatten", {"input": p, "start_dim": 1})
    lin = g.add_node("linear", {"input": f, "weight": wl, "bias": None})
    out = g.add_node("prelu", {"input": lin, "weight": np.float32([0.1])}, shapes=[lin.shape])
    g.set_outputs(out)
    ir_fuse.simplify(g)
    assert [n.op for n in g.nodes] == ["conv2d", "flatten", "linear"]
    assert g.nodes[0].epilogue[-1][0] == "prelu" and g.nodes[2].epilogue[-1][0] == "prelu"
    compiled = CompiledModel(_lower(g, 3, "auto"), g, (3, 4, 7, 7), True, False)
    assert [(n["op"], n["activation"]) for n in compiled.nodes] == [
        ("conv", "prelu"), ("flatten", "none"), ("linear", "prelu")]
    xv = rng.standard_normal((3, 4, 7, 7)).astype(np.float32)
    y = _prelu(ops.conv2d(xv, w, b), slope_c).reshape(3, -1) @ wl.T
    np.testing.assert_allclose(compiled(xv), _prelu(y, [0.1]), rtol=1e-4, atol=1e-4)


def test_prelu_with_a_graph_value_weight_is_not_fused():
    g = OpGraph()
    x = g.input((None, 4, 5, 5))
    s = g.input((4,))
    c = g.add_node("conv2d", {"input": x, "weight": np.ones((4, 4, 1, 1), np.float32), "bias": None})
    p = g.add_node("prelu", {"input": c, "weight": s}, shapes=[c.shape])
    g.set_outputs(p)
    ir_fuse.simplify(g)
    assert [n.op for n in g.nodes] == ["conv2d", "prelu"] and not g.nodes[0].epilogue


# -- Conv1d lowered to the engine's conv (height 1) --------------------------------------------------

class _TCNBlock(nn.Module):
    """Causal dilated conv, BatchNorm, GELU, conv, residual, ReLU (a TCN block)."""

    def __init__(self, channels, dilation):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, 3, padding=(2 * dilation, 0), dilation=dilation)
        self.bn = nn.BatchNorm1d(channels)
        self.act = nn.GELU()
        self.conv2 = nn.Conv1d(channels, channels, 3, padding="same", dilation=dilation)

    def forward(self, x):
        return ops.relu(self.conv2(self.act(self.bn(self.conv1(x)))) + x)


def test_compiled_conv1d_runs_in_the_engine_with_fused_epilogues(rng):
    nn.init.manual_seed(5)
    model = nn.Sequential(_TCNBlock(8, 1), _TCNBlock(8, 4),
                          nn.Conv1d(8, 8, 5, padding=2, groups=8), nn.SiLU(),  # depthwise-separable
                          nn.Conv1d(8, 6, 1), nn.Hardswish())
    model.eval()
    for m in model.modules():  # non-trivial running statistics
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean[:] = rng.standard_normal(8)
            m.running_var[:] = rng.uniform(0.5, 2, 8)
    x = rng.standard_normal((3, 8, 29)).astype(np.float32)
    compiled = cn.compile(model, x.shape)
    assert [(n["op"], n["activation"]) for n in compiled.nodes] == [
        ("conv", "gelu"), ("conv", "relu"), ("conv", "gelu"), ("conv", "relu"), ("conv", "silu"),
        ("conv", "hardswish")]
    assert [n["residual"] for n in compiled.nodes] == [False, True] * 2 + [False, False]
    want = model(x)
    np.testing.assert_allclose(compiled(x), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(compiled(x[:2]), want[:2], rtol=1e-4, atol=1e-5)  # a smaller batch
    out = np.full((3, 6, 29), np.nan, np.float32)
    assert compiled(x, out=out) is out
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="input dimension 2 is 30, compiled for 29"):
        compiled(np.zeros((3, 8, 30), np.float32))


def test_compiled_conv1d_feeding_a_linear_and_a_host_node(rng):
    """(N, C, L) values cross engine/host boundaries: flatten to a linear; a host op between."""
    nn.init.manual_seed(6)
    model = nn.Sequential(nn.Conv1d(3, 4, 3, stride=2), nn.Tanh(), nn.Conv1d(4, 4, 3, padding=1),
                          nn.Sigmoid(), nn.Flatten(), nn.Linear(4 * 7, 2))
    x = rng.standard_normal((2, 3, 15)).astype(np.float32)
    compiled = cn.compile(model, x.shape)
    assert [n["op"] for n in compiled.nodes] == ["conv", "host:tanh", "conv", "flatten", "linear"]
    np.testing.assert_allclose(compiled(x), model(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("channels, algo", [(16, "direct_smallc"), (32, "direct_smallc"), (48, "im2col"),
                                            (64, "im2col")])
def test_conv1d_rows_from_48_channels_run_im2col(channels, algo, isa):
    """conv1d's height-1 rows: im2col's GEMM beats direct_smallc from 48 channels (measured)."""
    choice = ops.conv_algorithms((8, channels, 1, 4096), (channels, channels, 1, 3), 1, (0, 4), (1, 4))["auto"]
    assert choice == algo


@pytest.mark.parametrize("num_parameters", [1, 16])
def test_nn_prelu_after_conv_and_linear_fuses_and_matches_eager(num_parameters, rng):
    """End to end: nn.PReLU (shared or per channel) after a conv and after a linear layer
    traces as the op "prelu" and fuses into both epilogues; the result is the eager one."""
    nn.init.manual_seed(7)
    model = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.PReLU(num_parameters, init=-0.3),
                          nn.Flatten(), nn.Linear(16 * 25, 10), nn.PReLU())
    model.eval()
    model[1].weight.data[:] = rng.uniform(-1, 1, num_parameters)
    x = rng.standard_normal((3, 16, 5, 5)).astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    compiled = cn.compile(model, x.shape)
    assert [(n["op"], n["activation"]) for n in compiled.nodes] == [
        ("conv", "prelu"), ("flatten", "none"), ("linear", "prelu")]
    np.testing.assert_allclose(compiled(x), model(x), rtol=1e-4, atol=1e-5, equal_nan=True)
