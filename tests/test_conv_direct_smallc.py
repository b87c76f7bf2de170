"""The small-channel direct convolution ("direct_smallc": ResNet stem, AlexNet conv1) and
its 1-D Winograd F(2,3) / F(2,4) variant ("direct_smallc_wino") against the float64 reference in
ref_conv.py, under every ISA, and their use by algo="auto", algo="direct" and the
inference engine.

Outputs start as NaN (CNNNATIVE_DEBUG_NAN) and so does every scratch buffer (the tap
planes), so an output element the kernel forgets, or a plane element it reads before
writing, fails the comparison. The `isa` fixture runs the scalar, AVX2 and AVX-512 kernels
of both algorithms (each has all three).

Tolerance: each output is one float32 sum of n = C*R*S products (plus the bias), as
im2col computes it; its rounding error is below ~n * 2^-24 * sum|x*w| in the worst case
and ~sqrt(n) * 2^-24 * max|x| * max|w| typically. We assert
    max|y - exact| <= 5e-6 * sqrt(n) * max|x| * max|w| + 1e-6 * |bias|
(the DIRECT_BOUND of test_conv_fast.py), which holds with a margin of ~10x. The Winograd
variant sums transformed products (F(2,4): transform coefficients <= 3, filter ones <= 8/6,
error measured 1.1-3x the direct kernel's; F(2,3): coefficients 1 and 1/2, tighter), so it
gets twice the bound.
"""
import numpy as np
import pytest

import cnnnative
from cnnnative import _core, ops
from ref_conv import conv2d_input_ref, conv2d_ref
from ref_ops import activation as ref_act

DIRECT_BOUND = 5e-6
ALGOS = ["direct_smallc", "direct_smallc_wino"]
# ISAs with a vector kernel of the Winograd variant, where auto and the engine prefer it.
WINO_ISAS = ("avx2", "avx512")
BOUND = {"direct_smallc": DIRECT_BOUND, "direct_smallc_wino": 2 * DIRECT_BOUND}


@pytest.fixture(autouse=True)
def nan_everywhere(monkeypatch):
    monkeypatch.setenv("CNNNATIVE_DEBUG_NAN", "1")
    _core.set_scratch_nan(True)
    yield
    _core.set_scratch_nan(False)


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def quad(pad):
    return (pad,) * 4 if np.isscalar(pad) else tuple(pad)


def pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)


def check_close(y, exact, x, w, bias=None, algo="direct_smallc"):
    assert y.shape == exact.shape
    assert np.isfinite(y).all(), "NaN left in the output (forgotten element or unwritten plane read)"
    n = w.shape[1] * w.shape[2] * w.shape[3]
    scale = max(np.abs(x).max(initial=0), 1e-30) * max(np.abs(w).max(initial=0), 1e-30)
    bound = BOUND[algo] * np.sqrt(n) * scale + (1e-6 * np.abs(bias).max() if bias is not None else 0)
    err = np.abs(np.asarray(y, np.float64) - exact).max(initial=0)
    assert err <= bound, f"max error {err:.3g} > bound {bound:.3g}"


# (N, C, H, W, K, R, S, stride, padding, dilation): the two real layers shrunk, every
# stride 1..4 (also different per axis), asymmetric and large padding, dilation, C = 1..4,
# K = 1, 7, 8, 9, 17 (tails of the 8-channel tile and the 16-lane vector), odd sizes, a
# 1x1 output, output widths below, at and above one vector (15, 16, 17 pixels).
SHAPES = [
    (1, 3, 30, 30, 64, 7, 7, 2, 3, 1),        # stem-like
    (2, 3, 31, 31, 96, 11, 11, 4, 0, 1),      # AlexNet-like, batch 2
    (1, 1, 5, 5, 1, 3, 3, 1, 1, 1),
    (3, 2, 9, 7, 17, 3, 5, 3, (1, 0, 2, 1), 1),
    (1, 4, 13, 11, 9, 5, 5, 1, (0, 2, 1, 0), 1),
    (2, 3, 17, 19, 7, 5, 3, (2, 3), (2, 1, 0, 3), 1),
    (1, 3, 16, 33, 8, 4, 4, (1, 2), 1, 1),    # OW = 16: exactly one vector
    (1, 2, 15, 29, 8, 3, 3, (1, 2), 0, 1),    # OW = 14 -> rows straddle the vectors
    (1, 3, 11, 12, 5, 3, 3, 2, 1, 2),         # dilation 2
    (1, 1, 12, 14, 3, 3, 2, (3, 1), (1, 2, 0, 1), (3, 2)),  # dilation per axis
    (2, 3, 7, 7, 16, 7, 7, 2, 0, 1),          # kernel == input: 1x1 output
    (1, 2, 3, 3, 4, 7, 7, 4, 3, 1),           # padding larger than the image
    (1, 3, 47, 34, 12, 7, 7, 2, 3, 1),        # several bands, ragged last tile
    # shapes for the Winograd variant's families and phases (F(2,4): a phase with 4 slots;
    # F(2,3) otherwise; "reduced" phases lack the last slot), odd output widths (a pad
    # column per row that must not be stored):
    (2, 3, 40, 44, 64, 7, 7, 2, 3, 1),        # stem-like, OW = 22, K = 64 (4-channel tiles)
    (1, 3, 29, 14, 7, 7, 7, 2, (3, 2, 3, 3), 1),  # K = 7 (channel tails); OW = 7, odd
    (1, 2, 9, 12, 5, 4, 4, 1, (0, 1, 2, 1), 1),   # 4x4/1: 4 taps per phase, OW = 12
    (1, 1, 10, 10, 3, 3, 3, 1, 1, 1),         # 3x3/1: 3 taps per phase (one zero slot), OW = 10
    (3, 4, 33, 64, 17, 5, 5, 2, 2, 1),        # 5x5/2 over two phases, OW = 32 (two pair vectors)
    (1, 3, 12, 13, 9, 3, 3, 1, 1, (1, 2)),    # dilation 2 along the width: slots 0, 2 of 4, OW = 10
    (1, 3, 8, 70, 4, 3, 7, (1, 2), (1, 1, 3, 3), 1),  # OW = 35, odd
    (1, 2, 6, 63, 5, 2, 8, (1, 2), 0, 1),     # 8 columns at stride 2: 4 per phase, OW = 28
    # AlexNet conv1 11x11/4 (F(2,3): 3 full phases + 1 reduced) at odd and even widths
    # around the 16-pair vector: OW = 1, 2, 15, 16, 17, 31, 33, 55 (rows straddle vectors)
    (2, 3, 13, 11, 9, 11, 11, 4, 0, 1),       # OW = 1: a single pad-completed pair per row
    (1, 3, 15, 15, 5, 11, 11, 4, 0, 1),       # OW = 2
    (2, 3, 19, 67, 17, 11, 11, 4, 0, 1),      # OW = 15, batch 2, K = 17
    (1, 3, 23, 71, 8, 11, 11, 4, 0, 1),       # OW = 16
    (1, 3, 23, 75, 12, 11, 11, 4, 0, 1),      # OW = 17
    (1, 2, 15, 131, 4, 11, 11, 4, 0, 1),      # OW = 31
    (1, 3, 14, 135, 7, 11, 11, 4, (1, 2, 3, 2), 1),  # OW = 33, padded
    (1, 3, 63, 227, 13, 11, 11, 4, 0, 1),     # OW = 55 (the real width), 14 rows
    # other strides and phase mixes
    (1, 3, 17, 20, 6, 2, 2, 1, 0, 1),         # 2x2/1: F(2,3) family, one reduced phase (3 points), OW = 19
    (2, 2, 14, 21, 5, 3, 3, 1, 1, 1),         # 3x3/1, OW = 21 odd
    (1, 3, 21, 25, 9, 5, 5, 2, 1, 1),         # 5x5/2: one full + one reduced F(2,3) phase, OW = 12
    (1, 3, 22, 25, 9, 5, 5, 2, 0, 1),         # 5x5/2, OW = 11
    (2, 5, 13, 15, 7, 4, 4, 2, 1, 1),         # 4x4/2 pad 1 (DCGAN's input gradient): 2 reduced phases, OW = 7
    (1, 3, 19, 25, 11, 7, 7, 2, 3, 1),        # 7x7/2: F(2,4) full + reduced, OW = 13 odd
    (1, 3, 30, 37, 6, 9, 9, 3, 0, 1),         # 9x9/3: 3 full F(2,3) phases, OW = 10
    (1, 3, 26, 43, 6, 9, 9, 4, 0, 1),         # 9x9/4: 1 full + 3 reduced, OW = 9
    (1, 2, 31, 49, 5, 12, 12, 3, 0, 1),       # 12x12/3: F(2,4) all full, OW = 13
    (1, 2, 33, 53, 5, 13, 13, 4, 0, 1),       # 13x13/4: F(2,4) 1 full + 3 reduced, OW = 11
    (1, 2, 17, 29, 5, 3, 5, (2, 4), 1, 1),    # 3x5/(2,4): slots 0, 1 only, F(2,3) reduced, OW = 7
    (1, 2, 14, 33, 5, 3, 4, (1, 3), 0, (1, 2)),  # dilation 2 at stride 3: phases 0, 2, 1 (gaps), OW = 9
    # edges of the AVX2 Winograd tile (a whole 6- or 4-channel block x 2 vectors of 8
    # pairs, 8 outputs per store): channel tails and widths within one 8-output vector
    (1, 3, 23, 23, 1, 11, 11, 4, 0, 1),       # AlexNet-like, K = 1, OW = 4
    (2, 3, 19, 39, 2, 11, 11, 4, 0, 1),       # K = 2, OW = 8 (one vector per row), batch 2
    (1, 3, 15, 43, 11, 11, 11, 4, 0, 1),      # K = 11 (6 + 5), OW = 9
    (1, 3, 15, 19, 5, 11, 11, 4, 0, 1),       # OW = 3: 8 outputs span 3 rows
    (1, 3, 21, 35, 1, 7, 7, 2, 3, 1),         # stem-like F(2,4), K = 1, OW = 18
    (2, 3, 17, 37, 6, 7, 7, 2, 3, 1),         # K = 6 (4 + 2), OW = 19 odd, batch 2
    (1, 3, 13, 9, 3, 7, 7, 2, 3, 1),          # K = 3, OW = 5
]


def shape_id(s):
    return "N{}C{}H{}W{}K{}R{}S{}st{}p{}d{}".format(*s).replace(" ", "")


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_forward_matches_float64_reference(isa, rng, shape, algo):
    N, C, H, W, K, R, S, stride, pad, dil = shape
    support = ops.conv_algorithms((N, C, H, W), (K, C, R, S), stride=stride, padding=quad(pad), dilation=dil)
    if not support[algo]["supported"]:
        assert algo == "direct_smallc_wino" and support["direct_smallc"]["supported"]
        assert "columns per stride phase" in support[algo]["reason"]
        with pytest.raises(ValueError, match="direct_smallc_wino"):
            ops.conv2d(np.zeros((N, C, H, W), np.float32), np.zeros((K, C, R, S), np.float32), None, stride,
                       quad(pad), dil, algo=algo)
        return
    x, w, b = randn(rng, N, C, H, W), randn(rng, K, C, R, S), randn(rng, K)
    y = ops.conv2d(x, w, b, stride, quad(pad), dil, algo=algo)
    check_close(y, conv2d_ref(x, w, b, pair(stride), quad(pad), pair(dil)), x, w, b, algo)
    y0 = ops.conv2d(x, w, None, stride, quad(pad), dil, algo=algo)
    check_close(y0, conv2d_ref(x, w, None, pair(stride), quad(pad), pair(dil)), x, w, None, algo)


@pytest.mark.parametrize("shape", [(2, 3, 45, 47, 20, 7, 7, 2, 3), (2, 3, 71, 67, 13, 11, 11, 4, 0)],
                         ids=["stem-F24-OW24", "alexnet-F23-OW15"])
def test_avx2_wino_kernel_is_reached_and_matches_avx512(rng, shape):
    """The AVX2 kernel (not the scalar fallback) runs under isa="avx2": its sums are the
    AVX-512 kernel's in the same order (same planes, same per-point tap order, same output
    transform), so the outputs agree bit for bit where both ISAs exist, and they differ
    from the scalar kernel's (no FMA there) in some element."""
    if "avx2" not in _core.available_isas():
        pytest.skip("no AVX2 on this CPU")
    N, C, H, W, K, R, S, st, pad = shape
    x, w, b = randn(rng, N, C, H, W), randn(rng, K, C, R, S), randn(rng, K)
    before = _core.get_isa()
    out = {}
    try:
        for isa in _core.available_isas():
            _core.set_isa(isa)
            out[isa] = ops.conv2d(x, w, b, st, pad, algo="direct_smallc_wino")
    finally:
        _core.set_isa(before)
    check_close(out["avx2"], conv2d_ref(x, w, b, (st, st), quad(pad)), x, w, b, "direct_smallc_wino")
    assert not np.array_equal(out["avx2"], out["scalar"]), "isa=avx2 ran the scalar kernel"
    if "avx512" in out:
        np.testing.assert_array_equal(out["avx2"], out["avx512"])


def test_the_wino_variant_covers_the_listed_shapes():
    """Guard against the skip above hiding everything: the Winograd kernel must run most shapes."""
    runs = [s for s in SHAPES if ops.conv_algorithms(s[:4], (s[4], s[1], s[5], s[6]), stride=s[7], padding=quad(s[8]),
                                                     dilation=s[9])["direct_smallc_wino"]["supported"]]
    assert len(runs) >= len(SHAPES) - 6


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_thread_counts_give_the_same_result(isa, rng, threads, algo):
    """Chunks depend on the thread count; each output is the same sum in the same order."""
    x, w, b = randn(rng, 2, 3, 41, 39), randn(rng, 20, 3, 7, 7), randn(rng, 20)
    before = cnnnative.get_num_threads()
    try:
        cnnnative.set_num_threads(1)
        one = ops.conv2d(x, w, b, 2, 3, algo=algo)
        cnnnative.set_num_threads(threads)
        many = ops.conv2d(x, w, b, 2, 3, algo=algo)
    finally:
        cnnnative.set_num_threads(before)
    np.testing.assert_array_equal(one, many)


def test_full_size_layers_once(rng):
    """The real stem and AlexNet conv1 shapes (best ISA only: they are the slow cases)."""
    for (C, H, K, R, stride, pad, algo) in [(3, 224, 64, 7, 2, 3, "direct_smallc"), (3, 227, 96, 11, 4, 0, "direct_smallc"),
                                            (3, 224, 64, 7, 2, 3, "direct_smallc_wino"),
                                            (3, 227, 96, 11, 4, 0, "direct_smallc_wino")]:
        x, w, b = randn(rng, 1, C, H, H), randn(rng, K, C, R, R) * 0.1, randn(rng, K)
        y = ops.conv2d(x, w, b, stride, pad, algo=algo)
        check_close(y, conv2d_ref(x, w, b, (stride, stride), quad(pad)), x, w, b, algo)


@pytest.mark.parametrize("algo", ALGOS)
def test_empty_batch(isa, algo):
    y = ops.conv2d(np.zeros((0, 3, 20, 20), np.float32), np.ones((8, 3, 7, 7), np.float32), None, 2, 3, algo=algo)
    assert y.shape == (0, 8, 10, 10)


def test_noncontiguous_and_float64_inputs_are_converted(rng):
    x = rng.standard_normal((1, 3, 24, 40))[:, :, :, ::2]  # float64, strided
    w = rng.standard_normal((10, 3, 5, 5))
    y = ops.conv2d(x, w, None, 2, 2, algo="direct_smallc")
    check_close(y, conv2d_ref(x.astype(np.float32), w.astype(np.float32), None, (2, 2), quad(2)), x, w)


def test_rejects_groups_and_many_channels_clearly():
    with pytest.raises(ValueError, match="groups"):
        ops.conv2d(np.ones((1, 4, 8, 8), np.float32), np.ones((4, 2, 3, 3), np.float32), None, 1, 1, groups=2,
                   algo="direct_smallc")
    with pytest.raises(ValueError, match="C=65"):
        ops.conv2d(np.ones((1, 65, 8, 8), np.float32), np.ones((4, 65, 3, 3), np.float32), None, 1, 1,
                   algo="direct_smallc")
    with pytest.raises(ValueError, match="channels"):  # the ordinary shape checks come first
        ops.conv2d(np.ones((1, 3, 8, 8), np.float32), np.ones((4, 2, 3, 3), np.float32), None,
                   algo="direct_smallc")


def test_registry_reports_it_and_auto_picks_it_for_stem_and_alexnet(isa):
    stem = ops.conv_algorithms((1, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3)
    # The Winograd variant only where its AVX-512 or AVX2 kernel runs (scalar: the direct
    # kernel's fewer loop overheads win).
    wino_or_direct = "direct_smallc_wino" if isa in WINO_ISAS else "direct_smallc"
    assert stem["auto"] == wino_or_direct
    for algo in ALGOS:
        e = stem[algo]
        assert e["supported"] and not e["backward_input"] and e["workspace_bytes"] > 0
    # AlexNet conv1 11x11/4 (odd width 55): the F(2,3) variant, 1.47x fewer multiplies.
    alex = ops.conv_algorithms((1, 3, 227, 227), (96, 3, 11, 11), stride=4)["auto"]
    assert alex == wino_or_direct
    # 3x3/1 with few channels (VGG conv1_1): F(2,3), 1.5x fewer multiplies.
    vgg = ops.conv_algorithms((1, 3, 224, 224), (64, 3, 3, 3), padding=1)["auto"]
    assert vgg == wino_or_direct
    # 5x5/2 saves only 1.43x: not worth the transforms.
    assert ops.conv_algorithms((1, 3, 64, 64), (16, 3, 5, 5), stride=2, padding=2)["auto"] == "direct_smallc"
    # Many channels stay on the GEMM / Winograd paths.
    assert ops.conv_algorithms((1, 64, 56, 56), (64, 64, 3, 3), padding=1)["auto"] != "direct_smallc"
    grouped = ops.conv_algorithms((1, 4, 8, 8), (4, 2, 3, 3), groups=2)["direct_smallc"]
    assert not grouped["supported"] and "groups" in grouped["reason"]
    wide = ops.conv_algorithms((1, 64, 16, 100000), (64, 64, 11, 11), stride=4)["direct_smallc"]
    assert not wide["supported"] and "MiB" in wide["reason"]
    with pytest.raises(OverflowError):
        ops.conv_algorithms((1, 3, 2**40, 2**40), (64, 3, 7, 7), stride=2, padding=3)


def test_auto_picks_it_for_wide_4x4_stride2_under_avx2(isa):
    """4x4/2 and 5x5/2 save 1.33x / 1.43x multiplies: under AVX2 that pays from K = 64
    output channels and 2048 output pixels (the input gradient of DCGAN's transposed
    convolutions, 1.13-1.2x faster than direct_smallc); smaller layers, AVX-512
    (not measured) and scalar keep the direct kernel."""
    wide = "direct_smallc_wino" if isa == "avx2" else "direct_smallc"
    assert ops.conv_algorithms((16, 64, 32, 32), (128, 64, 4, 4), stride=2, padding=1)["auto"] == wide
    assert ops.conv_algorithms((8, 32, 64, 64), (64, 32, 4, 4), stride=2, padding=1)["auto"] == wide
    assert ops.conv_algorithms((8, 64, 32, 32), (64, 64, 5, 5), stride=2, padding=2)["auto"] == wide
    assert ops.conv_algorithms((16, 16, 32, 32), (32, 16, 4, 4), stride=2, padding=1)["auto"] == "direct_smallc"
    assert ops.conv_algorithms((1, 64, 56, 56), (64, 64, 4, 4), stride=2, padding=1)["auto"] == "direct_smallc"
    assert ops.conv_algorithms((16, 64, 8, 8), (128, 64, 4, 4), stride=2, padding=1)["auto"] == "direct_smallc"


def test_algo_direct_reaches_it_for_dense_shapes(isa, rng):
    x, w = randn(rng, 1, 3, 20, 18), randn(rng, 11, 3, 5, 5)
    np.testing.assert_array_equal(ops.conv2d(x, w, None, 2, 2, algo="direct"),
                                  ops.conv2d(x, w, None, 2, 2, algo="direct_smallc"))
    # Depthwise shapes keep the depthwise kernel under the same name.
    xd, wd = randn(rng, 1, 4, 9, 9), randn(rng, 4, 1, 3, 3)
    check_close(ops.conv2d(xd, wd, None, 1, 1, groups=4, algo="direct"),
                conv2d_ref(xd, wd, None, (1, 1), quad(1), groups=4), xd, wd)


def test_gradients_with_auto_run_on_im2col(isa, rng, monkeypatch):
    """Forward-only: with algo="auto" the input gradient of a shape auto runs directly is
    computed by im2col (checked against the float64 reference and non-zero); a forced
    algo="direct_smallc" input gradient is a clear error."""
    monkeypatch.delenv("CNNNATIVE_ALGO", raising=False)
    xs, ws = (2, 3, 19, 17), (16, 3, 5, 5)
    assert ops.conv_algorithms(xs, ws, stride=2, padding=2)["auto"] == "direct_smallc"
    w, dy = randn(rng, *ws), randn(rng, 2, 16, 10, 9)
    dx = ops.conv2d_input(xs, w, dy, 2, 2)
    exact = conv2d_input_ref(xs, w, dy, (2, 2), quad(2))
    assert np.abs(exact).max() > 0
    assert np.abs(dx - exact).max() <= 1e-5 * np.abs(exact).max()
    with pytest.raises(ValueError, match="input-gradient"):
        ops.conv2d_input(xs, w, dy, 2, 2, algo="direct_smallc")


def test_finite_differences_through_auto_forward(rng):
    """d/dw of sum(conv2d(x, w) * g) with the direct forward, by central differences in
    float64 against the analytic weight gradient (conv2d_weight): the forward the layer
    runs is the function being differentiated."""
    x, w, g = randn(rng, 1, 2, 9, 8), randn(rng, 8, 2, 5, 5), randn(rng, 1, 8, 4, 3)
    f = lambda wv: float(np.sum(ops.conv2d(x, wv.astype(np.float32), None, 2, 1, algo="direct_smallc")
                                .astype(np.float64) * g))
    analytic = ops.conv2d_weight(x, w.shape, g, 2, 1)
    eps = 1e-2  # float32 forward: a large step keeps the rounding noise (~1e-6 * |f|) small next to eps^2
    idx = [(0, 0, 0, 0), (3, 1, 2, 4), (7, 1, 4, 4), (5, 0, 3, 1)]
    for i in idx:
        wp, wm = w.astype(np.float64), w.astype(np.float64)
        wp[i] += eps
        wm[i] -= eps
        numeric = (f(wp) - f(wm)) / (2 * eps)
        assert abs(numeric - analytic[i]) <= 2e-3 * max(1.0, abs(analytic[i])), (i, numeric, analytic[i])
    assert np.abs(analytic).max() > 0


# --- the inference engine -------------------------------------------------------------------


# (N, H, W, kernel, stride, pad, output width): the ResNet stem's 7x7/2 (even width 10:
# F(2,4) on AVX-512) and AlexNet conv1's 11x11/4 (odd width 13: F(2,3) with a pad column).
ENGINE_SHAPES = {"stem": (3, 21, 19, 7, 2, 3, 10), "alexnet": (2, 59, 61, 11, 4, 0, 13)}


@pytest.mark.parametrize("shape", list(ENGINE_SHAPES))
@pytest.mark.parametrize("act", ["none", "relu", "relu6"])
@pytest.mark.parametrize("residual", [False, True])
def test_engine_node_fused_epilogue(isa, rng, shape, act, residual):
    """A plan's conv with few input channels runs direct_smallc (its Winograd variant on
    AVX-512 and AVX2) with bias, residual and activation fused; NaN-poisoned arena; the planned
    batch, then batch 1."""
    N, H, W, k, st, pad, ow = ENGINE_SHAPES[shape]
    C, K = 3, 20
    x, w, b = randn(rng, N, C, H, W), randn(rng, K, C, k, k), randn(rng, K)
    plan = _core.EnginePlan([N, C, H, W], "auto")
    expected = conv2d_ref(x, w, b, (st, st), quad(pad))
    assert expected.shape[3] == ow
    res_id = -1
    if residual:
        w1 = randn(rng, K, C, k, k)
        res_id = plan.add_conv(0, w1, None, (st, st), quad(pad), (1, 1), 1, "none", -1)
        expected = expected + conv2d_ref(x, w1, None, (st, st), quad(pad))
    out = plan.add_conv(0, w, b, (st, st), quad(pad), (1, 1), 1, act, res_id)
    plan.finalize(out)
    expect = "direct_smallc_wino" if isa in WINO_ISAS else "direct_smallc"
    assert all(n["method"] == expect for n in plan.nodes())
    expected = ref_act(expected, act)
    scale = np.abs(expected).max()
    for y in (plan.run(x, poison=True), plan.run(x)):
        assert np.isfinite(y).all()
        assert np.abs(y - expected).max() <= 1e-5 * scale
    y1 = plan.run(x[:1], poison=True)
    assert np.abs(y1 - expected[:1]).max() <= 1e-5 * scale


def _alexnet_head():
    nn = cnnnative.nn
    return nn.Sequential(nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), nn.MaxPool2d(3, stride=2),
                         nn.Conv2d(96, 16, 5, padding=2))


@pytest.mark.parametrize("build,shape", [
    (_alexnet_head, (1, 3, 227, 227)),  # conv1 11x11/4 at the real size, ReLU, max pool, a 5x5 conv
    (lambda: cnnnative.models.resnet18(num_classes=10, input_size=64), (1, 3, 64, 64)),  # the 7x7/2 stem
], ids=["alexnet_head", "resnet18"])
def test_engine_first_conv_compiled_vs_uncompiled(rng, build, shape):
    """compile() takes direct_smallc(_wino) for the few-channel first conv; the compiled
    (poisoned) network equals the uncompiled layers."""
    model = build().eval()
    x = randn(rng, *shape)
    f = cnnnative.compile(model, x.shape, poison=True)
    assert f._plan.nodes()[0]["method"].startswith("direct_smallc")
    expected = model(x)
    y = f(x)
    assert np.isfinite(y).all()
    assert np.abs(y - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())


def test_engine_autotune_can_pick_it(rng):
    plan = _core.EnginePlan([1, 3, 64, 64], "autotune")
    w = randn(rng, 32, 3, 7, 7)
    out = plan.add_conv(0, w, None, (2, 2), (3, 3, 3, 3), (1, 1), 1, "relu", -1)
    plan.finalize(out)
    x = randn(rng, 1, 3, 64, 64)
    expected = np.maximum(conv2d_ref(x, w, None, (2, 2), quad(3)), 0)
    # Autotune times every method that applies and keeps the fastest, so which one wins
    # depends on the ISA: the direct kernels under AVX-512 and AVX2, while under the scalar
    # build (CI runs the suite under each ISA) the prepacked GEMM measured fastest.
    assert plan.nodes()[0]["method"] in ("direct_smallc", "direct_smallc_wino", "im2col_gemm", "gemm_prepacked")
    assert np.abs(plan.run(x, poison=True) - expected).max() <= 1e-5 * np.abs(expected).max()


@pytest.mark.parametrize("algo", ALGOS)
def test_concurrent_calls_from_python_threads(rng, algo):
    """The GIL is released and the kernels keep no mutable globals: calls from several
    Python threads at once give each its own exact result."""
    import threading
    xs = [randn(rng, 1, 3, 36, 40) for _ in range(4)]
    w, b = randn(rng, 24, 3, 7, 7), randn(rng, 24)
    expected = [ops.conv2d(x, w, b, 2, 3, algo=algo) for x in xs]
    results, errors = [None] * 4, []

    def work(i):
        try:
            for _ in range(5):
                results[i] = ops.conv2d(xs[i], w, b, 2, 3, algo=algo)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)
