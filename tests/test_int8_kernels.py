"""int8 kernels (cnnnative/quant.h): exact int32 results against a numpy int64 reference,
on every ISA this CPU has (the `isa` fixture), on one and two threads."""
import os

import numpy as np
import pytest

from cnnnative import _core
from int8_settings import SETTINGS, int8_setting, isa_with_int8_kernels  # noqa: F401 (`isa`: every int8 kernel)

SIZES = [1, 3, 17, 63, 64, 65, 129]


@pytest.fixture(params=[1, 2])
def threads(request):
    before = _core.get_num_threads()
    _core.set_num_threads(request.param)
    try:
        yield request.param
    finally:
        _core.set_num_threads(before)


def ref_gemm(w, x):
    return w.astype(np.int64) @ x.astype(np.int64)


def check_gemm(w, x, single_thread=False, n_hint=0):
    c = _core.int8_gemm(w, x, single_thread=single_thread, n_hint=n_hint)
    assert c.dtype == np.int32 and c.shape == (w.shape[0], x.shape[1])
    np.testing.assert_array_equal(c.astype(np.int64), ref_gemm(w, x))


def avx2_class_kernel():
    """The kernel the avx2 ISA picks now (set_avx2_int8_kernel, else by the CPU)."""
    chosen = _core.avx2_int8_kernel()
    if chosen != "auto":
        return chosen
    return "avx_vnni" if _core.cpu_has_avx_vnni() and _core.avx_vnni_kernel_built() else "avx2"


def test_int8_isa_names_the_dispatch(isa):
    if isa == "scalar":
        assert _core.int8_isa() == "scalar"
    elif isa == "avx2" or not _core.cpu_has_avx512_vnni():
        assert _core.int8_isa() == avx2_class_kernel()
    else:
        assert _core.int8_isa() == "avx512_vnni"


def test_avx2_int8_kernel_choice_is_checked():
    with pytest.raises(ValueError, match="must be 'auto', 'avx2', 'avx_vnni' or 'avx_vnni_evex', got 'vnni'"):
        _core.set_avx2_int8_kernel("vnni")
    if not (_core.cpu_has_avx_vnni() and _core.avx_vnni_kernel_built()):
        with pytest.raises(ValueError, match="avx_vnni needs a CPU with AVX-VNNI"):
            _core.set_avx2_int8_kernel("avx_vnni")
    if not _core.cpu_has_avx512_vnni():
        with pytest.raises(ValueError, match="avx_vnni_evex needs a CPU with AVX512-VNNI"):
            _core.set_avx2_int8_kernel("avx_vnni_evex")
    assert _core.avx2_int8_kernel() == "auto"


@pytest.mark.skipif(not _core.cpu_has_avx512_vnni(), reason="the EVEX twin needs AVX512-VNNI")
def test_avx2_int8_kernel_from_the_environment():
    import subprocess
    import sys
    code = ("from cnnnative import _core; _core.set_isa('avx2'); "
            "print(_core.avx2_int8_kernel(), _core.int8_isa())")
    env = dict(os.environ, CNNNATIVE_AVX2_INT8_KERNEL="avx_vnni_evex")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["avx_vnni_evex", "avx_vnni_evex"]
    env["CNNNATIVE_AVX2_INT8_KERNEL"] = "vnni"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "got 'vnni'" in bad.stderr


@pytest.mark.parametrize("M", SIZES)
def test_gemm_odd_sizes(isa, rng, M):
    # Every K and N size with this M; K not a multiple of 4 (or 2) included. With n_hint=N
    # small N packs for the VNNI kernel with lanes along M where it is chosen.
    for K in SIZES:
        for N in (1, 6, 7, 17, 65, 130):
            w = rng.integers(-128, 128, (M, K), dtype=np.int8)
            x = rng.integers(0, 256, (K, N), dtype=np.uint8)
            check_gemm(w, x)
            check_gemm(w, x, n_hint=N)


def test_gemm_small_n_kernel(isa, threads, rng):
    # The VNNI kernel with lanes along M (chosen for small N), on sizes where it is chosen,
    # with several k blocks and weight blocks, and its output transposed back.
    for M, N, K in [(512, 49, 1100), (300, 1, 700), (130, 8, 257), (1000, 13, 64)]:
        w = rng.integers(-128, 128, (M, K), dtype=np.int8)
        x = rng.integers(0, 256, (K, N), dtype=np.uint8)
        pw = _core.Int8PackedWeights(w, n_hint=N)
        if _core.int8_isa() == "avx512_vnni":
            assert pw.tile_rows == 64
        np.testing.assert_array_equal(_core.int8_gemm_packed(pw, x), ref_gemm(w, x))
        np.testing.assert_array_equal(_core.int8_gemm_packed(pw, x[:, :1].copy()), ref_gemm(w, x[:, :1]))


@pytest.mark.parametrize("wv", [-128, 127])
def test_gemm_extremes(isa, threads, wv):
    # The worst case for int16 intermediate sums (vpmaddubsw would saturate here).
    M, K, N = 19, 1031, 67
    w = np.full((M, K), wv, np.int8)
    x = np.full((K, N), 255, np.uint8)
    for n_hint in (0, 1):
        check_gemm(w, x, n_hint=n_hint)
        check_gemm(w, np.zeros((K, N), np.uint8), n_hint=n_hint)
    # Alternating extremes so every pair of products has the largest magnitude sum.
    w[:, 1::2] = -128 if wv == 127 else 127
    check_gemm(w, x)
    check_gemm(w, x, n_hint=1)


def test_gemm_longest_exact_sum(isa):
    K = 65793  # (2^31 - 1) // (255 * 128)
    w = np.full((2, K), -128, np.int8)
    x = np.full((K, 3), 255, np.uint8)
    check_gemm(w, x)
    with pytest.raises(ValueError, match="65793"):
        _core.int8_gemm(np.zeros((1, K + 1), np.int8), np.zeros((K + 1, 1), np.uint8))


def test_gemm_threads_and_many_columns(isa, threads, rng):
    # Large enough to open a parallel region (M*N*K >= 2^22), batch-like N.
    M, K, N = 67, 147, 3 * 196 * 2 + 5
    w = rng.integers(-128, 128, (M, K), dtype=np.int8)
    x = rng.integers(0, 256, (K, N), dtype=np.uint8)
    check_gemm(w, x)
    check_gemm(w, x, single_thread=True)


def test_gemm_empty_and_k_zero(isa):
    np.testing.assert_array_equal(_core.int8_gemm(np.zeros((3, 0), np.int8), np.zeros((0, 5), np.uint8)),
                                  np.zeros((3, 5), np.int32))
    assert _core.int8_gemm(np.zeros((0, 4), np.int8), np.zeros((4, 5), np.uint8)).shape == (0, 5)
    assert _core.int8_gemm(np.zeros((3, 4), np.int8), np.zeros((4, 0), np.uint8)).shape == (3, 0)


def test_packed_weights_row_sums_and_cross_isa(rng):
    w = rng.integers(-128, 128, (37, 75), dtype=np.int8)
    x = rng.integers(0, 256, (75, 41), dtype=np.uint8)
    for pack_setting in SETTINGS:
        for n_hint in (0, 1):
            with int8_setting(pack_setting):
                pw = _core.Int8PackedWeights(w, n_hint=n_hint)
            assert pw.shape == (37, 75)
            np.testing.assert_array_equal(pw.row_sums, w.astype(np.int64).sum(1))
            for run_setting in SETTINGS:  # packed for another kernel: shared or repacked, same result
                with int8_setting(run_setting):
                    np.testing.assert_array_equal(_core.int8_gemm_packed(pw, x), ref_gemm(w, x))


def test_dtypes_are_not_converted():
    with pytest.raises(ValueError, match="int8"):
        _core.int8_gemm(np.zeros((2, 2), np.int64), np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        _core.int8_gemm(np.zeros((2, 2), np.int8), np.zeros((2, 2), np.int8))
    with pytest.raises(ValueError, match=r"expected \(3, N\)"):
        _core.int8_gemm(np.zeros((2, 3), np.int8), np.zeros((2, 2), np.uint8))


def pad_zp(x, ph, pw, zp):
    return np.pad(x.astype(np.int64), ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=zp)


def ref_depthwise(x, w, zp, stride, pad, dil):
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    m = K // C
    xp = pad_zp(x, pad[0], pad[1], zp)
    OH = (H + 2 * pad[0] - dil[0] * (R - 1) - 1) // stride[0] + 1
    OW = (W + 2 * pad[1] - dil[1] * (S - 1) - 1) // stride[1] + 1
    xk = np.repeat(xp, m, axis=1)  # output channel k reads input channel k // m
    y = np.zeros((N, K, OH, OW), np.int64)
    for r in range(R):
        for s in range(S):
            h0, w0 = r * dil[0], s * dil[1]
            patch = xk[:, :, h0:h0 + stride[0] * (OH - 1) + 1:stride[0], w0:w0 + stride[1] * (OW - 1) + 1:stride[1]]
            y += patch * w[None, :, 0, r, s, None, None].astype(np.int64)
    return y


DW_CASES = [
    # (C, m, H, W, R, S, stride, pad, dil)
    (5, 1, 13, 21, 3, 3, (1, 1), (1, 1), (1, 1)),
    (4, 1, 16, 35, 3, 3, (2, 2), (1, 1), (1, 1)),
    (3, 1, 17, 19, 5, 5, (1, 1), (2, 2), (1, 1)),
    (3, 1, 18, 40, 5, 5, (2, 2), (2, 2), (1, 1)),
    (2, 2, 9, 33, 3, 3, (1, 1), (2, 2), (2, 2)),
    (3, 1, 11, 12, 7, 7, (3, 3), (3, 3), (1, 1)),
    (2, 1, 1, 1, 3, 3, (1, 1), (1, 1), (1, 1)),
    (2, 1, 6, 70, 1, 4, (1, 2), (0, 3), (1, 1)),
    (2, 1, 4, 5, 2, 3, (2, 1), (0, 0), (1, 2)),
    # Taps of 16 outputs beyond 64 bytes: the vpmaddwd kernel even on VNNI + VBMI CPUs
    # (stride 1; stride 2 single taps; stride 2 paired taps), and a kernel over 64 taps.
    (2, 1, 3, 70, 1, 3, (1, 1), (0, 0), (1, 25)),
    (2, 1, 3, 90, 1, 3, (1, 2), (0, 1), (1, 17)),
    (2, 1, 2, 80, 1, 35, (1, 2), (0, 2), (1, 1)),
    (1, 1, 12, 12, 9, 9, (1, 1), (4, 4), (1, 1)),
]


@pytest.mark.parametrize("case", DW_CASES, ids=lambda c: "x".join(map(str, c[:6])) + f"_s{c[6][0]}{c[6][1]}")
def test_depthwise_exact(isa, threads, rng, case):
    C, m, H, W, R, S, stride, pad, dil = case
    x = rng.integers(0, 256, (2, C, H, W), dtype=np.uint8)
    w = rng.integers(-128, 128, (C * m, 1, R, S), dtype=np.int8)
    zp = int(rng.integers(0, 256))
    y = _core.int8_depthwise(x, w, zp, stride, pad, dil)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y.astype(np.int64), ref_depthwise(x, w, zp, stride, pad, dil))


@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_extremes(isa, stride):
    x = np.full((1, 3, 20, 37), 255, np.uint8)
    for wv in (-128, 127):
        w = np.full((3, 1, 5, 5), wv, np.int8)
        y = _core.int8_depthwise(x, w, 255, [stride], [2], [1])
        np.testing.assert_array_equal(y.astype(np.int64), ref_depthwise(x, w, 255, (stride,) * 2, (2, 2), (1, 1)))


def test_depthwise_threads_large(isa, threads, rng):
    # Enough work for a parallel region: 32 channels of 56 x 56, 3x3.
    x = rng.integers(0, 256, (1, 32, 56, 56), dtype=np.uint8)
    w = rng.integers(-128, 128, (32, 1, 3, 3), dtype=np.int8)
    for stride in (1, 2):
        y = _core.int8_depthwise(x, w, 7, [stride], [1], [1])
        np.testing.assert_array_equal(y.astype(np.int64), ref_depthwise(x, w, 7, (stride,) * 2, (1, 1), (1, 1)))


def test_depthwise_rejects_non_depthwise():
    with pytest.raises(ValueError):
        _core.int8_depthwise(np.zeros((1, 4, 5, 5), np.uint8), np.zeros((6, 1, 3, 3), np.int8))


@pytest.mark.parametrize("stride,pad,dil,groups", [(1, 1, 1, 1), (2, 1, 1, 1), (2, 3, 1, 2), (1, 2, 2, 3)])
def test_im2col_u8_pads_with_zero_point(rng, stride, pad, dil, groups):
    C, H, W, R, S, zp = 6, 9, 11, 3, 3, 113
    x = rng.integers(0, 256, (C, H, W), dtype=np.uint8)
    xp = pad_zp(x[None], pad, pad, zp)[0]
    OH = (H + 2 * pad - dil * (R - 1) - 1) // stride + 1
    OW = (W + 2 * pad - dil * (S - 1) - 1) // stride + 1
    cg = C // groups
    for g in range(groups):
        col = _core.int8_im2col(x, R, S, [stride], [pad], [dil], groups, g, zp)
        ref = np.stack([xp[g * cg + c, r * dil:r * dil + stride * (OH - 1) + 1:stride,
                           s * dil:s * dil + stride * (OW - 1) + 1:stride].reshape(-1)
                        for c in range(cg) for r in range(R) for s in range(S)])
        np.testing.assert_array_equal(col, ref)


def test_int8_conv_via_im2col_matches_reference(isa, rng):
    # im2col_u8 + int8 GEMM = the integer convolution, padding included.
    C, H, W, K, zp = 5, 10, 12, 7, 31
    x = rng.integers(0, 256, (C, H, W), dtype=np.uint8)
    w = rng.integers(-128, 128, (K, C, 3, 3), dtype=np.int8)
    col = _core.int8_im2col(x, 3, 3, [1], [1], [1], 1, 0, zp)
    y = _core.int8_gemm(w.reshape(K, -1), col)
    xp = pad_zp(x[None], 1, 1, zp)[0]
    ref = np.zeros((K, H * W), np.int64)
    for r in range(3):
        for s in range(3):
            ref += w[:, :, r, s].astype(np.int64) @ xp[:, r:r + H, s:s + W].reshape(C, -1)
    np.testing.assert_array_equal(y, ref)


def test_int8_peak_probe():
    assert _core.measure_int8_peak(0.02, 1) > 0
