"""Tiled FFT convolution ("fft8", "fft16", "fft") against float64 references: the
butterfly transforms at every window position (interior windows take the fast gather,
border windows the clipped one), every kernel size a window holds, block edges (32
windows per block), both thread layouts, the input gradient and the window choice.

Error measure (as in test_conv_fast.py):
    max|y - y_exact| / (max|x| * max|w| * sqrt(reduction length))
The DFT entries are bounded by 1 and Gauss's 3-multiply product adds one rounding per
plane, so the float32 error stays ~5e-8 (measured, kernels 3x3..11x11); the documented
bound 1e-6 (README.md, cnnnative/fft.h) leaves >10x margin.
"""
import numpy as np
import pytest

import cnnnative
import ref_conv_fast as ref
from ref_conv_fast import normalized_error
from cnnnative import _core, ops

FFT_BOUND = 1e-6


# Every scratch buffer starts as NaN (conftest.nan_scratch).
pytestmark = pytest.mark.usefixtures("nan_scratch")


def check_forward_and_input_gradient(rng, algo, N, C, H, W, K, R, S, pad, groups=1):
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C // groups, R, S)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    y = ops.conv2d(x, w, b, padding=pad, groups=groups, algo=algo)
    exact = ref.conv2d(x, w, b, padding=pad, groups=groups)
    assert y.shape == exact.shape
    assert np.isfinite(y).all(), "forgotten output element or NaN scratch read"
    assert normalized_error(y, exact, x, w, C // groups * R * S) <= FFT_BOUND
    dy = rng.standard_normal(exact.shape).astype(np.float32)
    dx = ops.conv2d_input(x.shape, w, dy, padding=pad, groups=groups, algo=algo)
    exact_dx = ref.conv2d_input(x.shape, w, dy, padding=pad, groups=groups)
    assert np.isfinite(dx).all()
    assert normalized_error(dx, exact_dx, dy, w, K // groups * R * S) <= FFT_BOUND


# Output sizes around the window steps (T - R + 1): step-1, step, step+1, primes, 1x1.
# (N, C, H, W, K, R, S, padding)
STEP_SHAPES = [
    (1, 3, 3, 3, 2, 3, 3, 0),        # 1x1 output
    (2, 5, 9, 10, 4, 3, 3, 0),       # 7 x 8 outputs: step-1 and step of fft8 with 3x3
    (1, 7, 13, 13, 6, 5, 5, 0),      # 9x9: step+1 of fft8 (step 4 -> 3 windows per row)
    (3, 13, 16, 16, 9, 5, 5, 0),     # 12x12 = one fft16 window exactly
    (1, 6, 17, 18, 5, 5, 5, 0),      # 13 x 14: one fft16 window plus one more
    (2, 11, 31, 29, 13, 7, 7, 3),    # primes, padded
    (1, 4, 23, 19, 3, 3, 7, (1, 1, 3, 3)),  # rectangular kernel
    (2, 5, 6, 7, 3, 5, 5, (6, 5, 7, 4)),    # padding past the kernel: the input gradient
                                            # crops (negative effective padding)
]


@pytest.mark.parametrize("algo", ["fft8", "fft16", "fft"])
@pytest.mark.parametrize("shape", STEP_SHAPES)
def test_window_steps(isa, rng, algo, shape):
    N, C, H, W, K, R, S, pad = shape
    if algo == "fft8" and max(R, S) > 8:
        pytest.skip("kernel larger than the 8x8 window")
    check_forward_and_input_gradient(rng, algo, N, C, H, W, K, R, S, pad)


@pytest.mark.parametrize("R", [3, 5, 7, 8, 9, 11, 16])
def test_kernel_sizes_fft16(isa, rng, R):
    # Kernel 16 = window 16: one output per window (step 1).
    H = R + 6
    check_forward_and_input_gradient(rng, "fft16", 2, 5, H, H + 1, 7, R, R, R // 2)


@pytest.mark.parametrize("algo", ["fft8", "fft16"])
def test_interior_windows_and_several_blocks(isa, rng, algo):
    # 40x40 without padding: most windows lie inside the image (fast gather); with
    # batch 3 the windows fill 2+ blocks of 32, the last one partly.
    check_forward_and_input_gradient(rng, algo, 3, 17, 40, 37, 14, 5, 5, 0)


def test_groups_and_channels_not_multiple_of_vector(isa, rng):
    check_forward_and_input_gradient(rng, "fft", 2, 18, 21, 15, 27, 5, 5, 2, groups=3)
    check_forward_and_input_gradient(rng, "fft16", 1, 26, 14, 14, 26, 7, 7, 3, groups=13)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("batch", [1, 4, 9])
def test_thread_layouts_agree(rng, threads, batch):
    # fft16 on 28x28 with 5x5 (step 12): 9 windows per image, so batch 1 gives one
    # partly filled block, batch 4 two blocks and batch 9 three (uneven over 2 threads);
    # each must match the reference and the 1-thread result.
    x = rng.standard_normal((batch, 20, 28, 28)).astype(np.float32)
    w = rng.standard_normal((24, 20, 5, 5)).astype(np.float32)
    before = cnnnative.get_num_threads()
    try:
        cnnnative.set_num_threads(1)
        y1 = ops.conv2d(x, w, padding=2, algo="fft16")
        cnnnative.set_num_threads(threads)
        yt = ops.conv2d(x, w, padding=2, algo="fft16")
        dxt = ops.conv2d_input(x.shape, w, yt, padding=2, algo="fft16")
    finally:
        cnnnative.set_num_threads(before)
    exact = ref.conv2d(x, w, padding=2)
    assert normalized_error(yt, exact, x, w, 500) <= FFT_BOUND
    # Same arithmetic in every layout: only the summation split may differ (none here).
    np.testing.assert_allclose(yt, y1, rtol=0, atol=1e-6 * np.abs(y1).max())
    exact_dx = ref.conv2d_input(x.shape, w, yt.astype(np.float64), padding=2)
    assert normalized_error(dxt, exact_dx, yt, w, 24 * 25) <= FFT_BOUND


def test_empty_batch():
    w = np.ones((4, 3, 5, 5), np.float32)
    y = ops.conv2d(np.zeros((0, 3, 12, 12), np.float32), w, padding=2, algo="fft")
    assert y.shape == (0, 4, 12, 12)
    dx = ops.conv2d_input((0, 3, 12, 12), w, np.zeros((0, 4, 12, 12), np.float32), padding=2, algo="fft")
    assert dx.shape == (0, 3, 12, 12)


def test_input_gradient_matches_finite_differences(rng):
    # d/dx sum(conv2d(x, w) * dy) by central differences of the float64 reference,
    # against the FFT input gradient; the gradient must not be zero.
    x = rng.standard_normal((1, 2, 7, 6))
    w = rng.standard_normal((3, 2, 5, 5)).astype(np.float32)
    dy = rng.standard_normal((1, 3, 7, 6)).astype(np.float32)
    dx = ops.conv2d_input(x.shape, w, dy, padding=2, algo="fft8").astype(np.float64)
    assert np.abs(dx).max() > 0.1
    eps = 1e-4
    fd = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        fd[idx] = (np.sum(ref.conv2d(xp, w, padding=2) * dy) - np.sum(ref.conv2d(xm, w, padding=2) * dy)) / (2 * eps)
    # float32 FFT vs float64 FD: the FFT's own error (<= 1e-6 * |dy| |w| sqrt(75)) dominates.
    assert np.abs(dx - fd).max() <= 1e-5 * np.abs(dy).max() * np.abs(w).max() * np.sqrt(75)


@pytest.mark.parametrize("threads", [1, 2])
def test_window_choice(threads):
    # "fft" runs the window its cost model prefers: bitwise the same as that window.
    # The 5x5 layer (5 blocks of 16x16 windows) runs in 16x16 windows on one
    # thread and on two (2 whole blocks each plus half of the fifth: measured 6.3 ms
    # against 7.5 ms in 8x8 windows); 28x28 at batch 1 in 8x8 windows (16x16 windows
    # would leave most of their block's lanes empty).
    rng = np.random.default_rng(0)
    big = rng.standard_normal((16, 64, 32, 32)).astype(np.float32)
    w = rng.standard_normal((64, 64, 5, 5)).astype(np.float32)
    small = rng.standard_normal((1, 64, 28, 28)).astype(np.float32)
    before = cnnnative.get_num_threads()
    try:
        cnnnative.set_num_threads(threads)
        assert np.array_equal(ops.conv2d(big, w, padding=2, algo="fft"), ops.conv2d(big, w, padding=2, algo="fft16"))
        assert np.array_equal(ops.conv2d(small, w, padding=2, algo="fft"), ops.conv2d(small, w, padding=2, algo="fft8"))
    finally:
        cnnnative.set_num_threads(before)


def test_auto_choice():
    rng = np.random.default_rng(0)
    big = rng.standard_normal((16, 64, 32, 32)).astype(np.float32)  # the 5x5 layer
    w = rng.standard_normal((64, 64, 5, 5)).astype(np.float32)
    small = rng.standard_normal((1, 64, 28, 28)).astype(np.float32)
    assert ops.conv_algorithms(big.shape, w.shape, padding=2)["auto"] == "fft"
    assert ops.conv_algorithms(small.shape, w.shape, padding=2)["auto"] == "fft"
    # Few windows with many channels: the filter DFTs cost more than im2col's GEMM.
    assert ops.conv_algorithms((1, 128, 7, 7), (128, 128, 5, 5), padding=2)["auto"] == "im2col"
    # 3x3 stays with Winograd / im2col.
    assert ops.conv_algorithms((16, 64, 32, 32), (64, 64, 3, 3), padding=1)["auto"] != "fft"
    # Few input channels, stride 1, 5x5 / 7x7: the FFT where its cost model beats
    # direct_smallc (LeNet conv2, a 3-channel 7x7 at 224x224) ...
    assert ops.conv_algorithms((64, 6, 14, 14), (16, 6, 5, 5))["auto"] == "fft"
    assert ops.conv_algorithms((1, 3, 224, 224), (64, 3, 7, 7), padding=3)["auto"] == "fft"
    # ... but not with 3 input and 64 output channels (the output transforms dominate), nor
    # with one input channel (LeNet conv1), nor strided (the ResNet stem).
    assert ops.conv_algorithms((16, 3, 32, 32), (64, 3, 5, 5))["auto"] == "direct_smallc"
    assert ops.conv_algorithms((64, 1, 28, 28), (6, 1, 5, 5), padding=2)["auto"] == "direct_smallc"
    assert ops.conv_algorithms((1, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3)["auto"].startswith("direct_smallc")


def test_bad_arguments_name_the_problem():
    x = np.ones((1, 3, 12, 12), np.float32)
    with pytest.raises(ValueError, match="stride 1"):
        ops.conv2d(x, np.ones((4, 3, 5, 5), np.float32), stride=2, algo="fft16")
    with pytest.raises(ValueError, match="larger than the 16x16"):
        ops.conv2d(np.ones((1, 3, 20, 20), np.float32), np.ones((4, 3, 17, 17), np.float32), algo="fft16")
    with pytest.raises(ValueError):
        ops.conv2d(x, np.ones((4, 2, 5, 5), np.float32), algo="fft")  # channel mismatch
    # Read-only, non-contiguous, float64 input is converted, not rejected.
    xd = np.asfortranarray(np.random.default_rng(1).standard_normal((1, 3, 12, 12)))
    xd.setflags(write=False)
    w = np.random.default_rng(2).standard_normal((4, 3, 5, 5)).astype(np.float32)
    y = ops.conv2d(xd, w, padding=2, algo="fft")
    assert normalized_error(y, ref.conv2d(xd, w, padding=2), xd, w, 75) <= FFT_BOUND
