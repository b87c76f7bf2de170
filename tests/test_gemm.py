"""SGEMM against a float64 numpy reference, under every ISA this CPU has.

Tolerance: a dot product of length K summed in float32 (any order, with or without FMA)
has error at most ~K * eps32 * sum_k |a_ik| |b_kj| (Higham, Accuracy and Stability, 3.1).
We assert that rigorous elementwise bound (with a few extra roundings for alpha, beta and
the epilogue) rather than a guessed constant: it never fails for a correct kernel and a
wrong element (a missed k, a stale tile, NaN) violates it by orders of magnitude.
"""
import threading

import numpy as np
import pytest

from cnnnative import _core, ops

EPS32 = np.finfo(np.float32).eps


def _kernels_per_isa():
    before = _core.get_isa()
    pairs = []
    for isa_name in _core.available_isas():
        _core.set_isa(isa_name)
        pairs += [(isa_name, k) for k in _core.sgemm_kernels()]
    _core.set_isa(before)
    return pairs


@pytest.fixture(params=_kernels_per_isa(), ids=lambda p: p[1])
def kernel(request):
    """Every ISA x every tile it can choose (forced), yielding that tile's blocking."""
    isa_name, name = request.param
    before = _core.get_isa()
    _core.set_isa(isa_name)
    _core._force_sgemm_kernel(name)
    try:
        blk = _core.sgemm_blocking()
        assert blk["kernel"] == name
        yield blk
    finally:
        _core._force_sgemm_kernel("")
        _core.set_isa(before)


@pytest.fixture(autouse=True)
def poison_scratch():
    # Pack buffers start as NaN, so reading scratch the packer did not write shows up.
    _core._set_sgemm_poison_scratch(True)
    yield
    _core._set_sgemm_poison_scratch(False)


def op(x, trans):
    return x.T if trans else x


def reference(a, b, ta, tb, alpha=1.0, beta=0.0, c0=None, row_bias=None, col_bias=None,
              clamp=(-np.inf, np.inf)):
    """float64 result and its elementwise error bound for a float32 computation."""
    A = op(a, ta).astype(np.float64)
    B = op(b, tb).astype(np.float64)
    K = A.shape[1]
    exact = alpha * (A @ B)
    scale = abs(alpha) * (np.abs(A) @ np.abs(B))
    if beta != 0.0:
        exact = exact + beta * c0.astype(np.float64)
        scale = scale + abs(beta) * np.abs(c0.astype(np.float64))
    if row_bias is not None:
        exact = exact + np.asarray(row_bias, np.float64)[:, None]
        scale = scale + np.abs(np.asarray(row_bias, np.float64))[:, None]
    if col_bias is not None:
        exact = exact + np.asarray(col_bias, np.float64)[None, :]
        scale = scale + np.abs(np.asarray(col_bias, np.float64))[None, :]
    exact = np.clip(exact, clamp[0], clamp[1])
    bound = (K + 5) * EPS32 * scale + 1e-30
    return exact, bound


def check(c, a, b, ta=False, tb=False, **kw):
    exact, bound = reference(a, b, ta, tb, **kw)
    assert c.dtype == np.float32 and c.shape == exact.shape
    assert np.all(np.isfinite(c)), "non-finite output (forgotten element or NaN leak)"
    err = np.abs(c.astype(np.float64) - exact)
    worst = np.unravel_index(np.argmax(err - bound), err.shape) if err.size else None
    assert np.all(err <= bound), f"error {err[worst]} > bound {bound[worst]} at {worst}"


def operands(rng, M, N, K, ta, tb):
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
    return a, b


def run(a, b, ta, tb, alpha=1.0, beta=0.0, out=None, **kw):
    return ops.gemm(a, b, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, out=out, **kw)


TRANS = [(False, False), (False, True), (True, False), (True, True)]


@pytest.mark.parametrize("ta,tb", TRANS)
def test_tile_edge_sizes(kernel, rng, ta, tb):
    blk = kernel
    mr, nr = blk["mr"], blk["nr"]
    ms = sorted({1, max(1, mr - 1), mr, mr + 1, 2 * mr + 3, 17})
    ns = sorted({1, max(1, nr - 1), nr, nr + 1, 2 * nr + 5, 23})
    for M in ms:
        for N in ns:
            for K in (1, 7, 31):
                a, b = operands(rng, M, N, K, ta, tb)
                out = np.full((M, N), np.nan, np.float32)  # beta == 0: never read
                c = run(a, b, ta, tb, out=out)
                assert c is out
                check(c, a, b, ta, tb)


@pytest.mark.parametrize("ta,tb", TRANS)
def test_cache_block_boundaries(kernel, rng, ta, tb):
    """Sizes just across MC, KC and NC, so every block loop runs a partial last block."""
    blk = kernel
    mr, nr, mc, kc, nc = blk["mr"], blk["nr"], blk["mc"], blk["kc"], blk["nc"]
    shapes = [(mc + 1, 2 * nr + 3, kc + 1),
              (mc - 1, nr + 1, 2 * kc + 3),
              (mr + 3, nc + nr + 5, 67),
              (97, 89, 83)]  # primes
    for M, N, K in shapes:
        a, b = operands(rng, M, N, K, ta, tb)
        c = run(a, b, ta, tb, out=np.full((M, N), np.nan, np.float32))
        check(c, a, b, ta, tb)


@pytest.mark.parametrize("alpha", [1.0, -0.5, 2.5, 0.0])
@pytest.mark.parametrize("beta", [0.0, 1.0, -1.5])
def test_alpha_beta(isa, rng, alpha, beta):
    blk = _core.sgemm_blocking(7, 33)
    M, N, K = blk["mr"] + 2, blk["nr"] + 3, blk["kc"] + 9  # crosses a K block: beta once
    for ta, tb in TRANS:
        a, b = operands(rng, M, N, K, ta, tb)
        c0 = rng.standard_normal((M, N)).astype(np.float32)
        out = c0.copy() if beta != 0.0 else np.full((M, N), np.nan, np.float32)
        c = run(a, b, ta, tb, alpha=alpha, beta=beta, out=out)
        check(c, a, b, ta, tb, alpha=alpha, beta=beta, c0=c0)


def test_tile_choice_follows_padding():
    """AVX-512 picks the tile that pads M and N least (any ISA: the choice is consistent)."""
    for M, N in [(64, 3136), (256, 196), (1024, 1024), (1, 5)]:
        blk = _core.sgemm_blocking(M, N)
        assert blk["kernel"] in _core.sgemm_kernels()
        assert blk["mc"] % blk["mr"] == 0 and blk["nc"] % blk["nr"] == 0
    if _core.get_isa() == "avx512":
        assert _core.sgemm_blocking(64, 3136)["kernel"] == "8x48__avx512"
        assert _core.sgemm_blocking(256, 196, 8)["kernel"] == "14x32__avx512"
    with pytest.raises(ValueError, match="unknown sgemm kernel"):
        _core._force_sgemm_kernel("3x3__nothing")


@pytest.mark.parametrize("ta,tb", TRANS)
def test_transposed_path_for_narrow_n(isa, rng, ta, tb):
    """Narrow N (e.g. 256 x 196) is computed as C^T = op(B)^T op(A)^T when that pads
    less; beta, alpha and the epilogue must still land on C correctly."""
    shapes = [(300, 100, 200), (256, 196, 70), (1000, 97, 65), (64, 200, 300), (7, 130, 99)]
    if isa == "avx512":
        assert _core.sgemm_blocking(256, 196, 2304)["transposed"]
        assert _core.sgemm_blocking(300, 100, 200)["transposed"]
        assert not _core.sgemm_blocking(512, 49, 4608)["transposed"]  # A too big to repack
        assert not _core.sgemm_blocking(1024, 1024, 1024)["transposed"]
        assert not _core.sgemm_blocking(512, 49, 8)["transposed"]  # short K: not worth it
        assert _core.sgemm_blocking(64, 576, 3136, True)["transposed"]  # big B^T packed as A
        assert not _core.sgemm_blocking(64, 576, 3136, False)["transposed"]
    for M, N, K in shapes:
        a, b = operands(rng, M, N, K, ta, tb)
        c0 = rng.standard_normal((M, N)).astype(np.float32)
        rb = rng.standard_normal(M).astype(np.float32)
        cb = rng.standard_normal(N).astype(np.float32)
        c = run(a, b, ta, tb, out=np.full((M, N), np.nan, np.float32))
        check(c, a, b, ta, tb)
        c = run(a, b, ta, tb, alpha=-2.0, beta=0.5, out=c0.copy(), row_bias=rb, col_bias=cb,
                activation="relu6")
        check(c, a, b, ta, tb, alpha=-2.0, beta=0.5, c0=c0, row_bias=rb, col_bias=cb,
              clamp=(0.0, 6.0))


@pytest.mark.parametrize("ta,tb", TRANS)
def test_square_ish_products_do_not_transpose_forever(isa, rng, ta, tb):
    """Where the padded areas of C and C^T are within 2% of each other (square tiles, as the
    scalar 4x4, or M and N both near whole tiles), the transposed path must not hand the
    problem back: ops.linear(128 x 512, 128 x 512) used to recurse until the stack
    overflowed (a segfault) under every ISA."""
    for M, N, K in [(128, 128, 512), (96, 96, 300), (108, 128, 500), (128, 108, 500), (120, 112, 64)]:
        a, b = operands(rng, M, N, K, ta, tb)
        check(run(a, b, ta, tb, out=np.full((M, N), np.nan, np.float32)), a, b, ta, tb)
    x = rng.standard_normal((128, 512)).astype(np.float32)
    w = rng.standard_normal((128, 512)).astype(np.float32)
    np.testing.assert_allclose(ops.linear(x, w), x.astype(np.float64) @ w.T.astype(np.float64), rtol=1e-4, atol=1e-3)


def test_tuning_variants(rng):
    """The alternative tiles kept for benchmarks compute the right thing too."""
    try:
        for name in _core._sgemm_variants():
            if not name.split("/")[0].endswith("__" + _core.get_isa()):
                continue  # forcing applies only to the active ISA's tables
            _core._force_sgemm_kernel(name)
            for ta, tb in [(False, False), (True, True)]:
                a, b = operands(rng, 37, 101, 400, ta, tb)
                check(_core.gemm(a, b, ta, tb, single_thread=True), a, b, ta, tb)
    finally:
        _core._force_sgemm_kernel("")


def test_alpha_zero_does_not_read_a_and_b(isa, rng):
    a = np.full((5, 7), np.nan, np.float32)
    b = np.full((7, 3), np.inf, np.float32)
    c0 = rng.standard_normal((5, 3)).astype(np.float32)
    c = ops.gemm(a, b, alpha=0.0, beta=2.0, out=c0.copy())
    np.testing.assert_array_equal(c, 2.0 * c0)


def test_beta_zero_does_not_propagate_nan(isa, rng):
    for M, N, K in [(1, 1, 1), (30, 70, 300), (3, 5, 0)]:
        a, b = operands(rng, M, N, K, False, False)
        out = np.full((M, N), np.nan, np.float32)
        c = ops.gemm(a, b, out=out, beta=0.0)
        assert np.all(np.isfinite(c))
        check(c, a, b)


@pytest.mark.parametrize("ta,tb", TRANS)
def test_epilogue_bias_and_clamp(kernel, rng, ta, tb):
    blk = kernel
    for M, N, K in [(blk["mr"] + 1, blk["nr"] * 2 + 1, blk["kc"] + 5), (1, 1, 3), (7, 3, 0)]:
        a, b = operands(rng, M, N, K, ta, tb)
        rb = rng.standard_normal(M).astype(np.float32)
        cb = rng.standard_normal(N).astype(np.float32)
        c0 = rng.standard_normal((M, N)).astype(np.float32)
        for act, clamp in [(None, (-np.inf, np.inf)), ("relu", (0.0, np.inf)), ("relu6", (0.0, 6.0))]:
            c = run(a, b, ta, tb, row_bias=rb, col_bias=cb, activation=act,
                    out=np.full((M, N), np.nan, np.float32))
            check(c, a, b, ta, tb, row_bias=rb, col_bias=cb, clamp=clamp)
            # The epilogue applies once, after beta, even when K spans several blocks.
            c = run(a, b, ta, tb, alpha=1.5, beta=0.5, out=c0.copy(), row_bias=rb, activation=act)
            check(c, a, b, ta, tb, alpha=1.5, beta=0.5, c0=c0, row_bias=rb, clamp=clamp)
            c = run(a, b, ta, tb, col_bias=cb, activation=act)
            check(c, a, b, ta, tb, col_bias=cb, clamp=clamp)
        # Fused ReLU must actually clip something in this data.
        c = run(a, b, ta, tb, activation="relu6", row_bias=rb)
        assert c.min() >= 0.0 and c.max() <= 6.0


def test_strided_and_fortran_inputs(isa, rng):
    """Views with a row stride bigger than the row (lda > K) and other layouts are copied
    to C-contiguous float32 first; the answer must not change."""
    big_a = rng.standard_normal((40, 90)).astype(np.float32)
    big_b = rng.standard_normal((70, 50))  # float64: converted
    a = big_a[3:26, 5:66]        # (23, 61), lda = 90
    b = big_b[2:63, 1:48]        # (61, 47), ldb = 50
    check(ops.gemm(a, b), a, b.astype(np.float32))
    a2 = big_a[::2, ::3]         # (20, 30) with strides in both axes
    b2 = np.asfortranarray(rng.standard_normal((30, 19)).astype(np.float32))
    check(ops.gemm(a2, b2), np.ascontiguousarray(a2), np.ascontiguousarray(b2))
    at = big_a[:31, :17]         # used transposed: op(a) = at.T (17 x 31), a view
    bt = rng.standard_normal((31, 4)).astype(np.float32)
    check(ops.gemm(at, bt, trans_a=True), at, bt, True, False)
    ints = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(ops.matmul(ints, ints.T), (ints @ ints.T).astype(np.float32))
    ro = rng.standard_normal((8, 9)).astype(np.float32)
    ro.setflags(write=False)
    check(ops.matmul(ro, ro.T.copy()), ro, ro.T.copy())


def test_out_may_alias_an_input(isa, rng):
    a = rng.standard_normal((20, 20)).astype(np.float32)
    b = rng.standard_normal((20, 20)).astype(np.float32)
    a0 = a.copy()
    c = ops.gemm(a, b, beta=1.0, out=a)
    assert c is a
    check(c, a0, b, beta=1.0, c0=a0)


@pytest.mark.parametrize("shape", [(1024 // 4, 3136 // 8, 576 // 4), (64, 3136 // 4, 576 // 4),
                                   (512 // 4, 49, 4608 // 8), (301, 277, 263), (13, 5, 600)])
def test_single_thread_equals_multi_thread(isa, rng, shape):
    """Every C element is computed by the same tile over the same packed K blocks whatever
    the thread split, so the results are bitwise identical. (K < 2048 here: longer K with
    few tiles is split across threads instead, see the split-K test.)"""
    M, N, K = shape
    before = _core.get_num_threads()
    try:
        for ta, tb in [(False, False), (True, True)]:
            a, b = operands(rng, M, N, K, ta, tb)
            single = _core.gemm(a, b, ta, tb, single_thread=True)
            _core.set_num_threads(2)
            two = ops.gemm(a, b, trans_a=ta, trans_b=tb)
            _core.set_num_threads(3)  # more threads than cores: a 3-way split
            three = ops.gemm(a, b, trans_a=ta, trans_b=tb)
            np.testing.assert_array_equal(single, two)
            np.testing.assert_array_equal(single, three)
            check(two, a, b, ta, tb)
    finally:
        _core.set_num_threads(before)


@pytest.mark.parametrize("ta,tb", TRANS)
def test_split_k_for_few_tiles_and_long_k(isa, rng, ta, tb):
    """Few C tiles and a long K (a conv weight gradient's shape) split K across threads;
    the partial sums, beta and the epilogue must combine correctly."""
    before = _core.get_num_threads()
    try:
        _core.set_num_threads(2)
        for M, N, K in [(5, 7, 5000), (6, 25, 2048), (1, 1, 4099)]:
            a, b = operands(rng, M, N, K, ta, tb)
            c0 = rng.standard_normal((M, N)).astype(np.float32)
            rb = rng.standard_normal(M).astype(np.float32)
            c = run(a, b, ta, tb, out=np.full((M, N), np.nan, np.float32))
            check(c, a, b, ta, tb)
            c = run(a, b, ta, tb, alpha=0.5, beta=-1.0, out=c0.copy(), row_bias=rb, activation="relu")
            check(c, a, b, ta, tb, alpha=0.5, beta=-1.0, c0=c0, row_bias=rb, clamp=(0.0, np.inf))
    finally:
        _core.set_num_threads(before)


@pytest.mark.parametrize("use_sgemm", [False, True])
def test_called_inside_an_openmp_loop(isa, rng, use_sgemm):
    """Conv code calls sgemm_single_thread from its own parallel loop (formerly an `omp
    parallel for`, now the thread team's): each thread must use its own pack buffers. The
    threaded sgemm called there (nested) must fall back to one thread, not deadlock at its
    barriers."""
    before = _core.get_num_threads()
    try:
        _core.set_num_threads(2)
        for batch, M, N, K in [(4, 70, 150, 100), (2, 30, 20, 2100), (4, 1, 1, 1), (0, 3, 4, 5)]:
            a = rng.standard_normal((batch, M, K)).astype(np.float32)
            b = rng.standard_normal((batch, K, N)).astype(np.float32)
            c = _core._sgemm_batched_in_parallel(a, b, use_sgemm)
            assert c.shape == (batch, M, N)
            for i in range(batch):
                check(c[i], a[i], b[i])
    finally:
        _core.set_num_threads(before)


def test_concurrent_python_threads(rng):
    """8 Python threads running different GEMMs at once (the GIL is released inside):
    each gets its own pack buffers, so every result is right."""
    jobs = []
    for i in range(8):
        M, N, K = 20 + 13 * i, 150 - 11 * i, 60 + 37 * i
        ta, tb = TRANS[i % 4]
        a, b = operands(rng, M, N, K, ta, tb)
        exact, bound = reference(a, b, ta, tb)  # computed here, outside the threads
        jobs.append((a, b, ta, tb, exact, bound))
    failures = []
    start = threading.Barrier(8)

    def worker(i):
        try:
            a, b, ta, tb, exact, bound = jobs[i]
            start.wait()
            for _ in range(4):
                c = ops.gemm(a, b, trans_a=ta, trans_b=tb)
                if not np.all(np.abs(c - exact) <= bound):
                    failures.append(i)
        except Exception as e:  # reported below; an exception in a thread is otherwise lost
            failures.append((i, repr(e)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures


def test_empty_dimensions(isa):
    assert ops.matmul(np.zeros((0, 5)), np.zeros((5, 3))).shape == (0, 3)
    assert ops.matmul(np.zeros((4, 5)), np.zeros((5, 0))).shape == (4, 0)
    c = ops.matmul(np.zeros((4, 0)), np.zeros((0, 3)))  # K == 0: C = 0
    np.testing.assert_array_equal(c, np.zeros((4, 3), np.float32))
    out = np.ones((4, 3), np.float32)
    ops.gemm(np.zeros((4, 0)), np.zeros((0, 3)), beta=2.0, out=out)
    np.testing.assert_array_equal(out, np.full((4, 3), 2.0, np.float32))
    assert ops.gemm(np.zeros((0, 0)), np.zeros((0, 0))).shape == (0, 0)


def test_bad_inputs_raise_clear_errors():
    a = np.ones((3, 4), np.float32)
    b = np.ones((4, 5), np.float32)
    with pytest.raises(ValueError, match="a must be 2-D"):
        ops.gemm(np.ones(3), b)
    with pytest.raises(ValueError, match="b must be 2-D"):
        ops.gemm(a, np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="inner dimensions differ"):
        ops.gemm(a, np.ones((5, 5)))
    with pytest.raises(ValueError, match="inner dimensions differ"):
        ops.gemm(a, b, trans_a=True)
    with pytest.raises(ValueError, match="out has shape"):
        ops.gemm(a, b, out=np.zeros((3, 4), np.float32))
    with pytest.raises(TypeError, match="float32"):
        ops.gemm(a, b, out=np.zeros((3, 5), np.float64))
    with pytest.raises(TypeError, match="ndarray"):
        ops.gemm(a, b, out=[[0.0] * 5] * 3)
    with pytest.raises(ValueError, match="C-contiguous"):
        ops.gemm(a, b, out=np.zeros((5, 3), np.float32).T)
    ro = np.zeros((3, 5), np.float32)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="writeable"):
        ops.gemm(a, b, out=ro)
    with pytest.raises(ValueError, match="needs out"):
        ops.gemm(a, b, beta=1.0)
    with pytest.raises(ValueError, match="row_bias"):
        ops.gemm(a, b, row_bias=np.ones(5))
    with pytest.raises(ValueError, match="col_bias"):
        ops.gemm(a, b, col_bias=np.ones((5, 1)))
    with pytest.raises(ValueError, match="activation"):
        ops.gemm(a, b, activation="tanh")
    with pytest.raises(ValueError, match="clamp"):
        _core.gemm(a, b, clamp_min=1.0, clamp_max=0.0)
    with pytest.raises(TypeError):
        ops.gemm("not a matrix", b)
    with pytest.raises(TypeError):
        ops.gemm(a, b, out=np.zeros((3, 5), np.int32))


def test_matmul_matches_numpy(rng):
    a = rng.standard_normal((33, 65)).astype(np.float32)
    b = rng.standard_normal((65, 17)).astype(np.float32)
    check(ops.matmul(a, b), a, b)


def test_fma_peak_probe():
    one = _core.measure_fma_peak(0.05, 1)
    assert np.isfinite(one) and one > 0.1  # GFLOP/s; any working CPU does far better
    with pytest.raises(ValueError, match="seconds"):
        _core.measure_fma_peak(0.0, 1)
    with pytest.raises(ValueError, match="threads"):
        _core.measure_fma_peak(0.01, 0)
    assert _core.measure_fma_peak(0.05, 1, thread_cpu_time=True) > 0.1
    with pytest.raises(ValueError, match="one thread"):
        _core.measure_fma_peak(0.01, 2, thread_cpu_time=True)


# Products with M <= 4 rows run the skinny kernels (gemm/skinny.h), which stream B once.
@pytest.mark.parametrize("ta,tb", TRANS)
@pytest.mark.parametrize("M", [1, 2, 3, 4, 5])
def test_skinny_rows(isa, rng, ta, tb, M):
    # N around the 4-column dot block and the 64-column chunk; K around the 16-lane vector.
    for N, K in [(1, 1), (3, 15), (4, 16), (5, 17), (63, 33), (64, 64), (65, 100), (130, 7), (1000, 512)]:
        a, b = operands(rng, M, N, K, ta, tb)
        check(run(a, b, ta, tb), a, b, ta, tb)


@pytest.mark.parametrize("tb", [False, True])
def test_skinny_rows_epilogue_alpha_beta(isa, rng, tb):
    M, N, K = 3, 77, 45
    a, b = operands(rng, M, N, K, False, tb)
    c0 = rng.standard_normal((M, N)).astype(np.float32)
    rb = rng.standard_normal(M).astype(np.float32)
    cb = rng.standard_normal(N).astype(np.float32)
    for act, clamp in [(None, (-np.inf, np.inf)), ("relu6", (0.0, 6.0))]:
        c = run(a, b, False, tb, alpha=-1.5, beta=0.5, out=c0.copy(), row_bias=rb, col_bias=cb,
                activation=act)
        check(c, a, b, False, tb, alpha=-1.5, beta=0.5, c0=c0, row_bias=rb, col_bias=cb, clamp=clamp)
    # beta == 0: C is write-only, NaN in it must not leak.
    out = np.full((M, N), np.nan, np.float32)
    check(run(a, b, False, tb, out=out), a, b, False, tb)


@pytest.mark.parametrize("shape", [(1, 4096, 1024), (2, 1000, 4100), (4, 3000, 1500)])
def test_skinny_rows_thread_count_does_not_change_results(isa, rng, shape):
    """Threads split the columns of C; each element is one thread's fixed-order sum."""
    M, N, K = shape
    before = _core.get_num_threads()
    try:
        for tb in (False, True):
            a, b = operands(rng, M, N, K, False, tb)
            single = _core.gemm(a, b, False, tb, single_thread=True)
            _core.set_num_threads(2)
            two = ops.gemm(a, b, trans_b=tb)
            _core.set_num_threads(3)
            three = ops.gemm(a, b, trans_b=tb)
            np.testing.assert_array_equal(single, two)
            np.testing.assert_array_equal(single, three)
            check(two, a, b, False, tb)
    finally:
        _core.set_num_threads(before)
