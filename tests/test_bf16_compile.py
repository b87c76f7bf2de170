"""compile(model, shape, precision="bf16"): conv and linear layers as bf16 GEMMs with fp32
accumulation. Single layers against a float64 reference on bf16-rounded input and weights
(fp32 epilogue on top), every ISA; small nets and zoo nets against fp32 within bf16's
bounds; which layers take bf16; argument checks."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import _core, models, nn
from bn_stats import randomize_bn

U = 2.0 ** -24


def conv_ref(x, w, bias, stride, pad, groups):
    """float64 conv2d of the bf16-rounded x and w, and the same of |x|, |w| (error scale)."""
    x = _core.bf16_round(x).astype(np.float64)
    w = _core.bf16_round(w).astype(np.float64)
    n, c, h, wd = x.shape
    k, cg, r, s = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - r) // stride + 1, (wd + 2 * pad - s) // stride + 1
    out, mag = np.zeros((n, k, oh, ow)), np.zeros((n, k, oh, ow))
    kg = k // groups
    for g in range(groups):
        for i in range(r):
            for j in range(s):
                patch = xp[:, g * cg:(g + 1) * cg, i:i + stride * oh:stride, j:j + stride * ow:stride]
                wg = w[g * kg:(g + 1) * kg, :, i, j]
                out[:, g * kg:(g + 1) * kg] += np.einsum("nchw,kc->nkhw", patch, wg)
                mag[:, g * kg:(g + 1) * kg] += np.einsum("nchw,kc->nkhw", np.abs(patch), np.abs(wg))
    return out + bias.astype(np.float64)[None, :, None, None], mag + np.abs(bias)[None, :, None, None]


class Residual(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv(x) + x)


CONVS = [  # (C, K, kernel, stride, pad, groups, H)
    (16, 32, 3, 1, 1, 1, 13),
    (7, 33, 1, 1, 0, 1, 9),     # odd depth, a 16-channel last panel
    (24, 48, 3, 2, 1, 2, 15),   # grouped, strided
    (3, 20, 5, 1, 2, 1, 11),    # odd depth 75
    (64, 96, 3, 1, 1, 1, 7),    # 49 pixels = 3 x 14 + 7
    # >= 1024 output pixels: output channels on the broadcast side, NCHW rows written directly
    (16, 40, 3, 1, 1, 1, 33),   # 1089 pixels = 34 x 32 + 1, 40 channels = 2 x 14 + 12
    (9, 30, 1, 1, 0, 1, 40),    # 1x1, odd depth, 1600 pixels
    (12, 20, 3, 2, 1, 2, 65),   # grouped, strided: 33 x 33
]


@pytest.mark.parametrize("c,k,ks,stride,pad,groups,h", CONVS)
def test_single_conv_against_float64(isa, rng, c, k, ks, stride, pad, groups, h):
    conv = nn.Conv2d(c, k, ks, stride=stride, padding=pad, groups=groups)
    model = nn.Sequential(conv, nn.ReLU())
    x = rng.standard_normal((2, c, h, h)).astype(np.float32)
    compiled = cn.compile(model, x.shape, precision="bf16", algo="gemm")
    assert compiled.precision == "bf16"
    assert compiled.nodes[0]["precision"] == "bf16"
    y = compiled(x)
    ref, mag = conv_ref(x, conv.weight.data, conv.bias.data, stride, pad, groups)
    depth = c // groups * ks * ks
    bound = (depth + 2) * U * mag + 1e-30
    assert np.all(np.abs(y - np.maximum(ref, 0)) <= bound), isa


@pytest.mark.parametrize("size", [10, 33])
def test_residual_epilogue_stays_fp32(isa, rng, size):
    model = Residual(64)
    x = rng.standard_normal((2, 64, size, size)).astype(np.float32)
    compiled = cn.compile(model, x.shape, precision="bf16")
    node = compiled.nodes[0]
    assert node["precision"] == "bf16" and node["residual"]
    ref, mag = conv_ref(x, model.conv.weight.data, model.conv.bias.data, 1, 0, 1)
    ref = np.maximum(ref + x, 0)  # the residual itself is not rounded
    assert np.all(np.abs(compiled(x) - ref) <= 66 * U * (mag + np.abs(x)) + 1e-30)


def test_linear_against_float64(isa, rng):
    lin = nn.Linear(37, 50)
    x = rng.standard_normal((3, 37)).astype(np.float32)
    compiled = cn.compile(lin, x.shape, precision="bf16")
    assert compiled.nodes[-1]["op"] == "linear" and compiled.nodes[-1]["precision"] == "bf16"
    xr, wr = _core.bf16_round(x).astype(np.float64), _core.bf16_round(lin.weight.data).astype(np.float64)
    ref = xr @ wr.T + lin.bias.data
    mag = np.abs(xr) @ np.abs(wr).T + np.abs(lin.bias.data)
    y = compiled(x)
    assert np.all(np.abs(y - ref) <= 39 * U * mag)
    assert np.all(np.abs(compiled(x[:1]) - y[:1]) <= 39 * U * mag[:1])  # a smaller batch


def test_which_layers_take_bf16(rng):
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),                # stem: few channels, fp32 direct
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1),               # Winograd F(4x4) in fp32
        nn.Conv2d(32, 32, 3, padding=1, groups=32),    # depthwise: fp32
        nn.Conv2d(32, 64, 1),                          # 1x1: bf16
        nn.Conv2d(64, 64, 3, stride=2, padding=1),     # strided 3x3: bf16
        nn.Flatten(),
        nn.Linear(64 * 8 * 8, 10),                     # bf16
    )
    x = rng.standard_normal((1, 3, 16, 16)).astype(np.float32)
    auto = [n["precision"] for n in cn.compile(model, x.shape, precision="bf16").nodes if "precision" in n]
    assert auto == ["fp32", "fp32", "fp32", "bf16", "bf16", "bf16"]
    gemm = [n["precision"] for n in cn.compile(model, x.shape, precision="bf16", algo="gemm").nodes
            if "precision" in n]
    assert gemm == ["bf16", "bf16", "fp32", "bf16", "bf16", "bf16"]
    assert all(n.get("precision", "fp32") == "fp32" for n in cn.compile(model, x.shape).nodes)
    report = cn.bf16_report(model, x)
    assert report.bf16_layers == 3 and report.fp32_layers == 3
    assert "depthwise" in str(report) and report.top1_agreement == 1.0


def test_bf16_weights_take_half_the_memory():
    model = nn.Sequential(nn.Conv2d(64, 128, 1), nn.Flatten(), nn.Linear(128 * 4 * 4, 64))
    fp32 = cn.compile(model, (1, 64, 4, 4))
    bf16 = cn.compile(model, (1, 64, 4, 4), precision="bf16")
    assert bf16.weight_bytes < 0.55 * fp32.weight_bytes


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_zoo_net_against_fp32(rng, name):
    model = models.build(name)
    randomize_bn(model, rng)
    model.eval()
    x = rng.standard_normal((2, 3, 64, 64)).astype(np.float32)
    report = cn.bf16_report(model, x)
    assert report.bf16_layers >= 10
    # Measured ~5e-3 (resnet18) and ~1e-2 (mobilenet_v2): a few bf16 roundings (2**-9
    # relative each) per layer, partly averaging out over the depth.
    assert report.max_rel_error < 4e-2, str(report)
    ref = cn.compile(model, x.shape)(x)
    y = cn.compile(model, x.shape, precision="bf16")(x)
    # Top-1 agrees wherever fp32's margin exceeds twice the bf16 error.
    top2 = np.sort(ref, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 2 * np.abs(y - ref).max(axis=1)
    assert np.all(y.argmax(1)[clear] == ref.argmax(1)[clear])


def test_fallback_isa_runs_the_same_plan(rng):
    """A plan built with the bf16 kernels runs under every ISA (the rounded fp32 GEMM where
    vdpbf16ps does not): each layer agrees to fp32 summation order, the net to bf16 flips."""
    model = nn.Sequential(nn.Conv2d(8, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 16, 1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(16 * 9 * 9, 10))
    x = rng.standard_normal((2, 8, 9, 9)).astype(np.float32)
    compiled = cn.compile(model, x.shape, precision="bf16", algo="gemm")
    before = _core.get_isa()
    outs = []
    try:
        for isa in _core.available_isas():
            _core.set_isa(isa)
            outs.append(compiled(x))
    finally:
        _core.set_isa(before)
    for y in outs[1:]:
        assert np.abs(y - outs[0]).max() <= 2e-2 * np.abs(outs[0]).max()


@pytest.mark.parametrize("bad", ["fp16", "BF16", "int8", None, 16, ""])
def test_bad_precision_raises(bad):
    with pytest.raises(ValueError, match="precision"):
        cn.compile(nn.Linear(4, 2), (1, 4), precision=bad)


def test_bf16_is_cpu_only():
    with pytest.raises(ValueError, match="cpu"):
        cn.compile(nn.Linear(4, 2), (1, 4), precision="bf16", device="cuda")


def test_plan_precision_set_before_nodes():
    plan = _core.EnginePlan([1, 4])
    assert plan.precision == "fp32"
    plan.set_precision("bf16")
    plan.add_linear(0, np.ones((2, 4), np.float32), None)
    with pytest.raises(ValueError, match="before adding"):
        plan.set_precision("fp32")
    with pytest.raises(ValueError, match="precision"):
        _core.EnginePlan([1, 4]).set_precision("fp64")
