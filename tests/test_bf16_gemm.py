"""The bf16 GEMM (cpp/src/gemm/sbgemm*): rounding to bf16, and c = bf16(a) @ bf16(w).T with
fp32 accumulation against a float64 reference on the rounded inputs (whose products are
exact), on every ISA: vdpbf16ps where the CPU has AVX512-BF16 and the active ISA is avx512,
else the rounded fp32 GEMM."""
import numpy as np
import pytest

from cnnnative import _core

U = 2.0 ** -24  # fp32 unit roundoff


def rne_bf16(x):
    """Reference rounding in numpy: to nearest even, NaN quiet, denormals to signed zero."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    out = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    out = np.where(nan, (u >> 16) | 0x40, out)
    tiny = (u & 0x7F800000) == 0
    out = np.where(tiny, (u >> 16) & 0x8000, out)
    return (out.astype(np.uint32) << 16).view(np.float32)


def test_round_matches_reference_on_random_bits(rng):
    bits = rng.integers(0, 2**32, size=20000, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    y = _core.bf16_round(x)
    np.testing.assert_array_equal(y.view(np.uint32), rne_bf16(x).view(np.uint32))


def test_round_examples():
    x = np.array([1.0, 1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-20, -2.5, 1e-40, -1e-40, np.inf, -np.inf,
                  3.4e38], np.float32)
    y = _core.bf16_round(x)
    want = [1.0, 1.0, 1 + 4 * 2**-8, 1 + 2**-7, -2.5, 0.0, -0.0, np.inf, -np.inf, np.inf]
    np.testing.assert_array_equal(y, np.array(want, np.float32))
    assert np.signbit(y[6]) and not np.signbit(y[5])
    assert np.isnan(_core.bf16_round(np.array([np.nan], np.float32))[0])


def reference(a, w):
    ar = _core.bf16_round(a).astype(np.float64)
    wr = _core.bf16_round(w).astype(np.float64)
    return ar @ wr.T, np.abs(ar) @ np.abs(wr).T


SIZES = [(1, 1, 1), (1, 1000, 512), (2, 7, 3), (5, 17, 3), (14, 32, 64), (15, 33, 65), (29, 48, 129),
         (49, 70, 257), (3, 16, 2), (8, 1000, 2048), (28, 144, 4608)]


@pytest.mark.parametrize("m,n,k", SIZES)
def test_gemm_against_float64(isa, rng, m, n, k):
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    ref, absprod = reference(a, w)
    for threads in (1, 2):
        c = _core.bf16_gemm(a, w, threads)
        assert c.shape == (m, n) and c.dtype == np.float32
        # fp32 summation of k exact products: |error| <= k u sum|products| (plus the final rounding).
        err = np.abs(c - ref)
        assert np.all(err <= (k + 1) * U * absprod + 1e-30), (isa, threads, float((err / (absprod + 1e-30)).max()))


def test_gemm_is_not_the_fp32_product(rng):
    """The inputs really are rounded: far from the fp32 product, close to the rounded one."""
    a = rng.standard_normal((16, 256)).astype(np.float32)
    w = rng.standard_normal((32, 256)).astype(np.float32)
    c = _core.bf16_gemm(a, w)
    exact = a.astype(np.float64) @ w.astype(np.float64).T
    ref, _ = reference(a, w)
    assert np.abs(c - ref).max() < 1e-4 < np.abs(c - exact).max()


def test_gemm_nan_and_inf_propagate(isa, rng):
    m, n, k = 17, 40, 33
    a = rng.uniform(0.5, 1.0, (m, k)).astype(np.float32)
    w = rng.uniform(0.5, 1.0, (n, k)).astype(np.float32)
    a[1, 5] = np.nan
    a[3, 0] = np.inf
    a[4, 7], a[4, 8] = np.inf, -np.inf  # +inf + -inf = NaN
    w[6, 31] = -np.inf
    w[9, 32] = 0.0
    a[10, 32] = np.inf  # inf * 0 = NaN in row 10, column 9
    c = _core.bf16_gemm(a, w)
    with np.errstate(invalid="ignore"):
        ref, _ = reference(a, w)
    np.testing.assert_array_equal(np.isnan(c), np.isnan(ref))
    np.testing.assert_array_equal(np.isposinf(c), np.isposinf(ref))
    np.testing.assert_array_equal(np.isneginf(c), np.isneginf(ref))
    assert np.isnan(c[1]).all() and np.isnan(c[4]).all() and np.isnan(c[10, 9])
    assert np.isneginf(c[0, 6]) and np.isposinf(c[3, 0])


def test_native_and_fallback_agree(rng):
    if not _core.bf16_supported():
        pytest.skip("no AVX512-BF16 on this CPU")
    a = rng.standard_normal((33, 300)).astype(np.float32)
    w = rng.standard_normal((70, 300)).astype(np.float32)
    before = _core.get_isa()
    try:
        _core.set_isa("avx512")
        assert _core.bf16_native()
        native = _core.bf16_gemm(a, w)
        _core.set_isa("avx2")
        assert not _core.bf16_native()
        emulated = _core.bf16_gemm(a, w)
    finally:
        _core.set_isa(before)
    _, absprod = reference(a, w)
    assert np.all(np.abs(native - emulated) <= 2 * 301 * U * absprod)


def test_gemm_bad_shapes():
    with pytest.raises(ValueError, match="columns"):
        _core.bf16_gemm(np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError):
        _core.bf16_gemm(np.zeros(3, np.float32), np.zeros((4, 3), np.float32))


def test_peak_probe():
    peak = _core.measure_bf16_peak(0.02)
    assert (peak > 0) == _core.bf16_supported()
