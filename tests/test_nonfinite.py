"""NaN and infinity are propagated, never invented or hidden (README "Conventions").

The rule, as PyTorch: relu(NaN) = relu6(NaN) = NaN; a max-pool window holding NaN gives
NaN; a conv output is NaN or +-inf exactly where the float64 direct sum says, and the
outputs whose receptive field holds no non-finite value stay finite and correct (the
transform algorithms -- Winograd, FFT, direct_smallc_wino -- must not spread a NaN over
a tile or turn inf into inf - inf = NaN); BatchNorm statistics of a batch holding NaN
are NaN, running ones included. Every conv algorithm on every ISA, eager and compiled.
"""
import numpy as np
import pytest

import ref_conv as ref
from cnnnative import nn, ops
from cnnnative.inference import compile as cn_compile
from cnnnative.ops import fastconv
from cnnnative.resnet import BasicBlock, inverted_residual

NAN, INF = np.float32(np.nan), np.float32(np.inf)

# The float64 references meet inf - inf on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")


def assert_same_nonfinite(got, expected, atol=1e-3):
    """NaN, +inf and -inf at exactly the expected places; the finite values close."""
    expected = np.asarray(expected, np.float64)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    for kind in (np.isnan, np.isposinf, np.isneginf):
        wrong = kind(got) != kind(expected)
        assert not wrong.any(), (f"{kind.__name__} differs at {wrong.sum()} of {wrong.size} places, "
                                 f"first {np.argwhere(wrong)[:3].tolist()}")
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-3, atol=atol)


def poke(x, case):
    """x with non-finite values put in: one NaN, one +inf, or a -inf next to a +inf (the
    outputs that see both get inf - inf = NaN or +-inf, by the weights' signs)."""
    x = x.copy()
    N, C, H, W = x.shape
    n, c, h, w = N - 1, C // 2, H // 2, W // 2
    if case == "nan":
        x[n, c, h, w] = NAN
    elif case == "inf":
        x[n, c, h, w] = INF
    else:
        x[n, c, h, w] = -INF
        x[n, c, h, w + 1] = INF
        x[0, 0, 0, W - 1] = NAN  # and one at a corner
    return x


# (C, K, H, W, R, S, stride, padding, groups): odd sizes; 3x3 for Winograd, 5x5 for FFT,
# the stem's 7x7/2 for direct_smallc_wino, groups, no padding, depthwise (stride 1 and 2).
SHAPES = [
    (5, 7, 11, 13, 3, 3, 1, 1, 1),
    (4, 6, 12, 9, 3, 3, 1, 1, 2),
    (6, 5, 10, 11, 3, 3, 1, 0, 1),
    (3, 8, 19, 17, 5, 5, 1, 2, 1),
    (3, 8, 23, 21, 7, 7, 2, 3, 1),
    (6, 6, 9, 11, 3, 3, 1, 1, 6),
    (8, 8, 13, 10, 3, 3, 2, 1, 8),
]
CASES = ["nan", "inf", "inf_pair"]


def algorithms(x_shape, w_shape, stride, padding, groups, backward=False):
    table = ops.conv_algorithms(x_shape, w_shape, stride=stride, padding=padding, groups=groups)
    names = [a for a, v in table.items() if a != "auto" and v["supported"] and (v["backward_input"] or not backward)]
    assert "im2col" in names
    return names


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("shape", SHAPES)
def test_conv_forward_every_algorithm(isa, rng, shape, case, batch):
    C, K, H, W, R, S, stride, pad, g = shape
    x = poke(rng.standard_normal((batch, C, H, W)).astype(np.float32), case)
    w = rng.standard_normal((K, C // g, R, S)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    expected = ref.conv2d_ref(x, w, b, (stride, stride), (pad,) * 4, groups=g)
    assert np.isfinite(expected).any() and not np.isfinite(expected).all()
    for algo in algorithms(x.shape, w.shape, stride, pad, g):
        y = ops.conv2d(x, w, b, stride=stride, padding=pad, groups=g, algo=algo)
        try:
            assert_same_nonfinite(y, expected)
        except AssertionError as e:
            raise AssertionError(f"algo={algo}: {e}") from None


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("shape", SHAPES[:4])
def test_conv_input_gradient_every_algorithm(isa, rng, shape, case):
    C, K, H, W, R, S, stride, pad, g = shape
    w = rng.standard_normal((K, C // g, R, S)).astype(np.float32)
    OH, OW = ref.output_size(H, W, R, S, (stride, stride), (pad,) * 4, (1, 1))
    dy = poke(rng.standard_normal((2, K, OH, OW)).astype(np.float32), case)
    expected = ref.conv2d_input_ref((2, C, H, W), w, dy, (stride, stride), (pad,) * 4, groups=g)
    assert np.isfinite(expected).any() and not np.isfinite(expected).all()
    for algo in algorithms((2, C, H, W), w.shape, stride, pad, g, backward=True):
        dx = ops.conv2d_input((2, C, H, W), w, dy, stride=stride, padding=pad, groups=g, algo=algo)
        try:
            assert_same_nonfinite(dx, expected)
        except AssertionError as e:
            raise AssertionError(f"algo={algo}: {e}") from None


@pytest.mark.parametrize("bad", [NAN, INF])
@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[3], SHAPES[4]])
def test_conv_nonfinite_weight(isa, rng, shape, bad):
    # No padding: every output uses every tap, so the algorithms that multiply the zero
    # padding (im2col) and those that skip it agree (0 * inf is NaN).
    C, K, H, W, R, S, stride, _, g = shape
    x = rng.standard_normal((2, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C // g, R, S)).astype(np.float32)
    w[1, 0, R // 2, 0] = bad
    expected = ref.conv2d_ref(x, w, None, (stride, stride), groups=g)
    for algo in algorithms(x.shape, w.shape, stride, 0, g):
        y = ops.conv2d(x, w, stride=stride, groups=g, algo=algo)
        try:
            assert_same_nonfinite(y, expected)
        except AssertionError as e:
            raise AssertionError(f"algo={algo}: {e}") from None


@pytest.mark.parametrize("activation", ["none", "relu", "relu6"])
@pytest.mark.parametrize("tile", [2, 4, 6])
def test_winograd_prepared_with_epilogue(isa, rng, tile, activation):
    x = poke(rng.standard_normal((2, 6, 11, 9)).astype(np.float32), "inf_pair")
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)  # groups=2
    b = rng.standard_normal(8).astype(np.float32)
    res = rng.standard_normal((2, 8, 11, 9)).astype(np.float32)
    res[0, 3, 4, 4] = NAN
    prepared = fastconv.winograd_prepare(w, groups=2, tile=tile)
    y = fastconv.winograd_conv2d_prepared(x, prepared, padding=1, bias=b, residual=res, activation=activation)
    expected = ref.conv2d_ref(x, w, b, pad=(1, 1, 1, 1), groups=2) + res
    if activation != "none":
        expected = np.where(expected < 0, 0, expected)
    if activation == "relu6":
        expected = np.where(expected > 6, 6, expected)
    assert_same_nonfinite(y, expected)


@pytest.mark.parametrize("op", ["relu", "relu6"])
def test_eager_activations_keep_nan(op):
    x = np.array([NAN, -1, 0, 3, 7, INF, -INF], np.float32)
    y = getattr(ops, op)(x)
    assert np.isnan(y[0]) and y[5] == (INF if op == "relu" else 6) and y[6] == 0


def conv_bn_act(rng, channels, act):
    net = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), act)
    bn = net[1]
    bn.running_mean[:] = rng.standard_normal(channels).astype(np.float32)
    bn.running_var[:] = rng.uniform(0.5, 2, channels).astype(np.float32)
    return net.eval()


def compiled_matches_eager(net, x, algo="auto"):
    eager = net(x)
    compiled = cn_compile(net, x.shape, algo=algo)(x)
    assert np.isnan(eager).any() and np.isfinite(eager).any(), "the test needs both"
    assert_same_nonfinite(compiled, eager)


@pytest.mark.parametrize("algo", ["auto", "gemm"])
@pytest.mark.parametrize("act", [nn.ReLU, nn.ReLU6])
def test_compiled_conv_bn_relu_keeps_nan(isa, rng, act, algo):
    # 16 channels: "auto" takes Winograd with prepared filters, "gemm" the fused GEMM epilogue.
    net = conv_bn_act(rng, 16, act())
    x = rng.standard_normal((2, 16, 9, 10)).astype(np.float32)
    x[1, 3, 4, 5] = NAN
    compiled_matches_eager(net, x, algo)
    everything = np.full_like(x, NAN)
    assert np.isnan(cn_compile(net, x.shape, algo=algo)(everything)).all()


def test_compiled_residual_block_keeps_nan(isa, rng):
    block = BasicBlock(16, 16)
    x = rng.standard_normal((2, 16, 10, 9)).astype(np.float32)
    x[0, 5, 2, 7] = NAN
    x[1, 2, 6, 1] = INF
    compiled_matches_eager(block.eval(), x)
    assert np.isnan(cn_compile(block.eval(), x.shape)(np.full_like(x, NAN))).all()


def test_compiled_depthwise_block_keeps_nan(isa, rng):
    block = inverted_residual(8, 8, 1, 2).eval()
    x = rng.standard_normal((1, 8, 9, 11)).astype(np.float32)
    x[0, 3, 4, 4] = NAN
    compiled_matches_eager(block, x)


@pytest.mark.parametrize("algo", ["auto", "autotune"])
def test_compiled_stem_keeps_nonfinite(isa, rng, algo):
    # 7x7/2 with 3 input channels: the engine's direct_smallc(_wino) kernels.
    net = nn.Sequential(nn.Conv2d(3, 8, 7, stride=2, padding=3), nn.ReLU()).eval()
    x = poke(rng.standard_normal((2, 3, 23, 21)).astype(np.float32), "inf_pair")
    compiled_matches_eager(net, x, algo)


def test_max_pool_window_with_nan(isa):
    x = np.arange(2 * 3 * 6 * 6, dtype=np.float32).reshape(2, 3, 6, 6)
    x[1, 2, 3, 3] = NAN
    y = ops.max_pool2d(x, 2)
    assert np.isnan(y[1, 2, 1, 1]) and np.isnan(y).sum() == 1
    net = nn.Sequential(nn.MaxPool2d(2)).eval()
    assert_same_nonfinite(cn_compile(net, x.shape)(x), y)


def test_batch_norm_running_stats_with_nan_in_batch(rng):
    bn = nn.BatchNorm2d(3)
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    x[2, 1, 3, 3] = NAN
    y = bn(x)
    assert np.isnan(bn.running_mean[1]) and np.isnan(bn.running_var[1])
    assert np.isfinite(bn.running_mean[[0, 2]]).all() and np.isfinite(bn.running_var[[0, 2]]).all()
    assert np.isnan(y[:, 1]).all() and np.isfinite(y[:, [0, 2]]).all()


def test_batch_norm_statistics_with_inf_in_batch(rng):
    # Large channels take the blocked (mean, M2) path; inf - inf makes the variance NaN.
    x = rng.standard_normal((2, 2, 200, 200)).astype(np.float32)
    x[1, 0, 7, 9] = INF
    bn = nn.BatchNorm2d(2)
    bn(x)
    assert np.isnan(bn.running_var[0]) and np.isfinite(bn.running_var[1])


def test_layer_group_instance_norm_with_nan(rng):
    x = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    x[1, 2, 3, 3] = NAN
    y = nn.LayerNorm([4, 6, 6])(x)
    assert np.isnan(y[1]).all() and np.isfinite(y[0]).all()
    y = nn.GroupNorm(2, 4)(x)
    assert np.isnan(y[1, 2:]).all() and np.isfinite(y[1, :2]).all() and np.isfinite(y[0]).all()
    y = nn.InstanceNorm2d(4)(x)
    assert np.isnan(y[1, 2]).all() and np.isfinite(np.delete(y.reshape(8, 36), 6, axis=0)).all()


def test_compiled_resnet_all_nan_image_gives_nan_logits(rng):
    # The report: a compiled ResNet returned finite logits for an all-NaN image.
    from cnnnative.resnet import resnet20
    net = resnet20().eval()
    x = np.full((1, 3, 32, 32), NAN, np.float32)
    assert np.isnan(net(x)).all()
    assert np.isnan(cn_compile(net, x.shape)(x)).all()
