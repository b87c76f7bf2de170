"""conv2d, conv2d_input, conv2d_weight (im2col + GEMM) against float64 references.

Every case runs the "im2col" algorithm explicitly (auto may later pick another), under
every ISA this CPU has, with 1 and 2 threads (the two ways work is split: units in
parallel with single-threaded GEMMs, or one unit at a time with threaded GEMM/im2col).
CNNNATIVE_DEBUG_NAN is set for every test here: outputs and im2col scratch start as NaN,
so an element a kernel forgets to write, or scratch it reads unwritten, fails loudly.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import cnnnative
from cnnnative import ops
from ref_conv import (conv2d_bias_ref, conv2d_input_ref, conv2d_ref, conv2d_weight_ref,
                      output_size)

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EPS32 = np.finfo(np.float32).eps
ALGO = "im2col"


@pytest.fixture(autouse=True)
def nan_poison(monkeypatch):
    monkeypatch.setenv("CNNNATIVE_DEBUG_NAN", "1")


@pytest.fixture(params=[1, 2], ids=["t1", "t2"])
def threads(request):
    before = cnnnative.get_num_threads()
    cnnnative.set_num_threads(request.param)
    try:
        yield request.param
    finally:
        cnnnative.set_num_threads(before)


# --- tolerances --------------------------------------------------------------------------
# A float32 sum of n products has error at most about n * eps * sum|terms| (recursive
# summation bound). sum|terms| is the same operation on absolute values, so the bound is
# computed elementwise from the float64 reference run on |inputs|. Blocked GEMMs do much
# better than this worst case; the bound only rules out real mistakes, which are O(1).

def assert_within_bound(got, want, abs_terms, n_terms, what):
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert np.all(np.isfinite(got)), f"{what}: non-finite values (an element was not written?)"
    bound = (n_terms + 2) * EPS32 * abs_terms + 1e-30
    err = np.abs(got.astype(np.float64) - want)
    worst = np.unravel_index(np.argmax(err - bound), err.shape) if err.size else None
    assert np.all(err <= bound), (f"{what}: error {err[worst]:.3g} > bound {bound[worst]:.3g} "
                                  f"at {worst}")


class Case:
    """One convolution: shapes and geometry, with data drawn from a generator."""

    def __init__(self, N, C, H, W, K, R, S, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1),
                 groups=1):
        self.N, self.C, self.H, self.W, self.K, self.R, self.S = N, C, H, W, K, R, S
        self.stride, self.pad, self.dilation, self.groups = stride, pad, dilation, groups
        self.OH, self.OW = output_size(H, W, R, S, stride, pad, dilation)

    @property
    def weight_size(self):
        return (self.K, self.C // self.groups, self.R, self.S)

    @property
    def geometry(self):
        return dict(stride=self.stride, padding=self.pad, dilation=self.dilation, groups=self.groups)

    @property
    def ref_geometry(self):
        return dict(stride=self.stride, pad=self.pad, dilation=self.dilation, groups=self.groups)

    def data(self, rng):
        x = rng.standard_normal((self.N, self.C, self.H, self.W)).astype(np.float32)
        w = rng.standard_normal(self.weight_size).astype(np.float32)
        b = rng.standard_normal(self.K).astype(np.float32)
        dy = rng.standard_normal((self.N, self.K, self.OH, self.OW)).astype(np.float32)
        return x, w, b, dy

    def __repr__(self):
        return (f"N{self.N} C{self.C} {self.H}x{self.W} K{self.K} {self.R}x{self.S} "
                f"s{self.stride} p{self.pad} d{self.dilation} g{self.groups}")


def check_all_passes(case, x, w, b, dy):
    """Forward (+bias), input gradient, weight and bias gradient vs the float64 references."""
    g = case.geometry
    rg = case.ref_geometry
    Cg = case.C // case.groups
    Kg = case.K // case.groups

    y = ops.conv2d(x, w, b, **g, algo=ALGO)
    assert y.dtype == np.float32 and y.flags.c_contiguous
    assert_within_bound(y, conv2d_ref(x, w, b, **rg),
                        conv2d_ref(np.abs(x), np.abs(w), np.abs(b), **rg),
                        Cg * case.R * case.S + 1, f"forward {case}")

    dx = ops.conv2d_input(x.shape, w, dy, **g, algo=ALGO)
    assert_within_bound(dx, conv2d_input_ref(x.shape, w, dy, **rg),
                        conv2d_input_ref(x.shape, np.abs(w), np.abs(dy), **rg),
                        Kg * case.R * case.S, f"input gradient {case}")

    dw, db = ops.conv2d_weight(x, w.shape, dy, **g, with_bias=True)
    assert_within_bound(dw, conv2d_weight_ref(x, w.shape, dy, **rg),
                        conv2d_weight_ref(np.abs(x), w.shape, np.abs(dy), **rg),
                        case.N * case.OH * case.OW, f"weight gradient {case}")
    assert_within_bound(db, conv2d_bias_ref(dy), conv2d_bias_ref(np.abs(dy)),
                        case.N * case.OH * case.OW, f"bias gradient {case}")
    np.testing.assert_array_equal(ops.conv2d_weight(x, w.shape, dy, **g), dw)


# Weight blocks above kDotMaxWeightBlock (16384 floats per group) run the packed GEMM, whose
# first product per group is stored into the uninitialised gradient (backward_weight.cc):
# groups 1-3, units in order and in parallel (one and two threads, one image and several),
# a band of rows per unit, and the DCGAN 512->256 layer's 8 MB gradient.
@pytest.mark.parametrize("n, c, k, h, ksize, stride, pad, groups", [
    (16, 256, 512, 8, 4, 2, 1, 1),
    (3, 256, 256, 9, 3, 1, 1, 2),
    (5, 96, 192, 11, 3, 2, 1, 3),
    (1, 200, 300, 5, 3, 1, 0, 1),
    (1, 64, 512, 40, 3, 1, 1, 1),
])
def test_weight_gradient_packed_gemm_stores_first_product(threads, n, c, k, h, ksize, stride, pad, groups):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, c, h, h)).astype(np.float32)
    oh = (h + 2 * pad - ksize) // stride + 1
    dy = rng.standard_normal((n, k, oh, oh)).astype(np.float32)
    w_shape = (k, c // groups, ksize, ksize)
    assert (k // groups) * w_shape[1] * ksize * ksize > 16384
    geometry = dict(stride=(stride, stride), padding=(pad, pad, pad, pad), groups=groups)
    rg = dict(stride=(stride, stride), pad=(pad, pad, pad, pad), groups=groups)
    dw = ops.conv2d_weight(x, w_shape, dy, **geometry)
    assert_within_bound(dw, conv2d_weight_ref(x, w_shape, dy, **rg), conv2d_weight_ref(np.abs(x), w_shape, np.abs(dy), **rg),
                        n * oh * oh, f"weight gradient {n, c, k, h, ksize, stride, pad, groups}")
    assert np.abs(dw).min(axis=(1, 2, 3)).max() > 0  # every filter's gradient is there
    np.testing.assert_array_equal(ops.conv2d_weight(x, w_shape, dy, **geometry), dw)  # same bits again


# Odd sizes around the vector widths (8, 16), primes, size 1, batch 1 and > 1, channels
# not a multiple of the vector width, every geometry feature on its own and mixed.
CASES = [
    Case(1, 1, 1, 1, 1, 1, 1),                                    # everything 1
    Case(3, 1, 13, 11, 17, 3, 3, pad=(1, 1, 1, 1)),               # grey input: weight grad by im2col
    Case(2, 3, 7, 7, 5, 3, 3, pad=(1, 1, 1, 1)),                  # small, padded
    Case(1, 17, 15, 16, 15, 3, 3, pad=(1, 1, 1, 1)),              # tile-1, tile, tile+1
    Case(3, 5, 17, 13, 16, 5, 5, pad=(2, 2, 2, 2)),               # batch 3 (odd vs threads)
    Case(2, 17, 5, 7, 33, 1, 1),                                  # 1x1 fast path
    Case(1, 16, 9, 11, 8, 1, 1),                                  # 1x1 fast path, batch 1
    Case(2, 6, 9, 9, 7, 1, 1, stride=(2, 2)),                     # 1x1 strided: im2col
    Case(2, 6, 5, 6, 7, 1, 1, pad=(1, 0, 0, 2)),                  # 1x1 padded: im2col
    Case(2, 4, 11, 13, 6, 3, 2, stride=(2, 3), pad=(2, 0, 1, 3)),  # asymmetric everything
    Case(2, 3, 13, 12, 4, 3, 3, pad=(2, 2, 2, 2), dilation=(2, 3)),  # dilation
    Case(1, 3, 19, 23, 4, 7, 7, stride=(4, 4), pad=(3, 3, 3, 3)),  # stride > 1, big kernel
    Case(2, 3, 5, 4, 2, 5, 4, stride=(3, 3), pad=(1, 1, 1, 1)),    # stride larger than... gaps
    Case(2, 2, 3, 4, 3, 5, 6, pad=(1, 1, 1, 1)),                  # kernel == padded input
    Case(2, 2, 1, 9, 3, 1, 3, pad=(0, 0, 1, 1)),                  # one input row
    Case(2, 6, 8, 9, 9, 3, 3, pad=(1, 1, 1, 1), groups=3),        # grouped
    Case(1, 5, 11, 10, 5, 3, 3, pad=(1, 1, 1, 1), groups=5),      # depthwise, batch 1
    Case(3, 7, 9, 9, 14, 3, 3, stride=(2, 2), pad=(1, 1, 1, 1), groups=7),  # depthwise x2
    # depthwise stride-2 width, kernels other than 3x3 (the even/odd split copy): 16-wide
    # vectors with an overlapping last one, a narrow plane, odd padded widths, dilation
    Case(2, 3, 13, 41, 3, 5, 5, stride=(2, 2), pad=(2, 2, 2, 2), groups=3),
    Case(1, 4, 11, 67, 4, 5, 5, stride=(1, 2), pad=(2, 1, 1, 2), groups=4),
    Case(2, 2, 9, 12, 2, 5, 5, stride=(2, 2), pad=(2, 2, 2, 2), groups=2),
    Case(1, 3, 8, 45, 3, 3, 4, stride=(3, 2), pad=(1, 1, 0, 2), dilation=(1, 2), groups=3),
    Case(2, 2, 7, 36, 4, 7, 7, stride=(2, 2), pad=(3, 3, 3, 3), groups=2),  # 2 outputs per group
    Case(8, 6, 14, 14, 16, 5, 5),                                 # LeNet conv2: images stacked
    Case(7, 1, 12, 12, 6, 5, 5, pad=(2, 2, 2, 2)),                # stacked, odd batch
    Case(5, 4, 6, 7, 6, 3, 3, pad=(1, 0, 1, 0), groups=2),        # stacked and grouped
    Case(1, 9, 6, 7, 40, 3, 3, pad=(1, 1, 1, 1)),                 # few pixels, many outputs
    Case(4, 5, 7, 5, 35, 3, 2, stride=(2, 1), pad=(1, 0, 0, 1)),  # stacked, many outputs
    Case(3, 4, 5, 5, 64, 3, 3, pad=(1, 1, 1, 1), groups=2),       # grouped, many outputs
    Case(2, 40, 9, 9, 48, 3, 3, pad=(1, 1, 1, 1)),                # weight grad by packed GEMM
    Case(1, 96, 50, 50, 8, 3, 3, pad=(1, 1, 1, 1)),               # several im2col bands
    Case(3, 40, 37, 41, 5, 3, 3, pad=(0, 1, 2, 0), stride=(1, 2)),  # bands + batch 3
    # weight blocks of >= 1M floats: the weight gradient reduces all stacked images in one
    # threaded GEMM instead of per-thread partial copies (im2col_plan.cc)
    Case(5, 128, 4, 5, 512, 4, 4, stride=(2, 2), pad=(1, 1, 1, 1)),  # DCGAN-like, odd batch
    Case(2, 233, 9, 7, 500, 3, 3, pad=(1, 1, 1, 1)),              # odd channel count
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_all_passes_match_reference(case, isa, threads, rng):
    check_all_passes(case, *case.data(rng))


@st.composite
def cases(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    C = groups * draw(st.integers(1, 4))
    K = groups * draw(st.integers(1, 4))
    R, S = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pad = tuple(draw(st.integers(0, 3)) for _ in range(4))
    # The input must be at least the dilated kernel minus the padding.
    H = draw(st.integers(max(1, dilation[0] * (R - 1) + 1 - pad[0] - pad[1]), 12))
    W = draw(st.integers(max(1, dilation[1] * (S - 1) + 1 - pad[2] - pad[3]), 12))
    N = draw(st.integers(0, 3))
    return Case(N, C, H, W, K, R, S, stride, pad, dilation, groups)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases(), seed=st.integers(0, 2 ** 32 - 1))
def test_random_geometry_matches_reference(case, seed, threads):
    check_all_passes(case, *case.data(np.random.default_rng(seed)))


# --- gradients vs central finite differences of the float64 forward ----------------------

FD_CASES = [
    Case(2, 2, 4, 5, 3, 3, 2, stride=(2, 1), pad=(1, 0, 2, 1), dilation=(1, 2)),
    Case(1, 4, 5, 4, 4, 2, 3, pad=(1, 1, 0, 1), groups=2),
]


def _central_difference(f, a, h=1e-3):
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + h
        up = f()
        a[i] = old - h
        down = f()
        a[i] = old
        g[i] = (up - down) / (2 * h)
    return g


@pytest.mark.parametrize("case", FD_CASES, ids=repr)
def test_gradients_match_finite_differences(case, rng):
    x, w, b, dy = case.data(rng)
    g, rg = case.geometry, case.ref_geometry
    x64, w64, b64 = x.astype(np.float64), w.astype(np.float64), b.astype(np.float64)

    def loss():  # L = sum(conv2d(x, w, b) * dy), in float64
        return float(np.sum(conv2d_ref(x64, w64, b64, **rg) * dy))

    fd_x = _central_difference(loss, x64)
    fd_w = _central_difference(loss, w64)
    fd_b = _central_difference(loss, b64)
    dx = ops.conv2d_input(x.shape, w, dy, **g, algo=ALGO)
    dw, db = ops.conv2d_weight(x, w.shape, dy, **g, with_bias=True)
    for name, got, fd in [("dx", dx, fd_x), ("dw", dw, fd_w), ("db", db, fd_b)]:
        assert np.count_nonzero(fd) > fd.size // 2, f"{name}: finite differences mostly zero"
        assert np.count_nonzero(got) > got.size // 2, f"{name}: gradient mostly zero"
        # float64 central differences of a linear function are exact up to rounding
        # (~1e-13 * |L| / h); the float32 kernels add ~1e-6 relative.
        np.testing.assert_allclose(got, fd, rtol=1e-4, atol=1e-4, err_msg=name)
    np.testing.assert_allclose(ops.conv2d_bias(dy), fd_b, rtol=1e-4, atol=1e-4)


# --- PyTorch cross-check ---------------------------------------------------------------

@pytest.mark.parametrize("case", [
    Case(2, 6, 12, 10, 8, 3, 3, stride=(1, 2), pad=(1, 1, 1, 1), dilation=(2, 1), groups=2),
    Case(3, 4, 9, 9, 4, 3, 3, pad=(1, 1, 1, 1), groups=4),
    Case(2, 3, 11, 11, 5, 5, 5, stride=(2, 2), pad=(2, 2, 2, 2)),
], ids=repr)
def test_matches_torch(case, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w, b, dy = case.data(rng)
    g = case.geometry
    tpad = (case.pad[0], case.pad[2])  # symmetric cases only (torch takes (h, w))
    y_t = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), case.stride,
                   tpad, case.dilation, case.groups).numpy()
    dx_t = torch.nn.grad.conv2d_input(x.shape, torch.from_numpy(w), torch.from_numpy(dy),
                                      case.stride, tpad, case.dilation, case.groups).numpy()
    dw_t = torch.nn.grad.conv2d_weight(torch.from_numpy(x), w.shape, torch.from_numpy(dy),
                                       case.stride, tpad, case.dilation, case.groups).numpy()
    # Both sides are float32 with different summation orders: agree to ~1e-5 relative.
    np.testing.assert_allclose(ops.conv2d(x, w, b, **g, algo=ALGO), y_t, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ops.conv2d_input(x.shape, w, dy, **g, algo=ALGO), dx_t,
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ops.conv2d_weight(x, w.shape, dy, **g), dw_t, rtol=1e-4, atol=1e-4)


def test_asymmetric_padding_matches_torch_pad(rng):
    torch = pytest.importorskip("torch")
    case = Case(2, 3, 10, 9, 4, 3, 4, stride=(2, 1), pad=(0, 2, 3, 1))
    x, w, b, _ = case.data(rng)
    xt = torch.nn.functional.pad(torch.from_numpy(x), (3, 1, 0, 2))  # (left, right, top, bottom)
    y_t = torch.nn.functional.conv2d(xt, torch.from_numpy(w), torch.from_numpy(b), (2, 1)).numpy()
    np.testing.assert_allclose(ops.conv2d(x, w, b, **case.geometry, algo=ALGO), y_t,
                               rtol=1e-4, atol=1e-4)


# --- empty batch, conversions, threads ---------------------------------------------------

def test_empty_batch(threads):
    x = np.zeros((0, 3, 8, 8), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    y = ops.conv2d(x, w, np.ones(4, np.float32), padding=1, algo=ALGO)
    assert y.shape == (0, 4, 8, 8)
    dy = np.zeros((0, 4, 8, 8), np.float32)
    assert ops.conv2d_input((0, 3, 8, 8), w, dy, padding=1, algo=ALGO).shape == (0, 3, 8, 8)
    dw, db = ops.conv2d_weight(x, w.shape, dy, padding=1, with_bias=True)
    assert dw.shape == w.shape and not dw.any()
    assert db.shape == (4,) and not db.any()
    assert ops.conv2d_bias(dy).shape == (4,)


def test_non_contiguous_read_only_and_float64_inputs(rng):
    case = Case(2, 4, 9, 8, 6, 3, 3, pad=(1, 1, 1, 1))
    x, w, b, dy = case.data(rng)
    want = ops.conv2d(x, w, b, padding=1, algo=ALGO)
    # Non-contiguous views with the same values.
    x_nc = np.ascontiguousarray(np.swapaxes(x, 2, 3)).swapaxes(2, 3)
    w_nc = np.asfortranarray(w)
    b_nc = np.repeat(b, 2)[::2]
    assert not x_nc.flags.c_contiguous and not w_nc.flags.c_contiguous
    np.testing.assert_array_equal(ops.conv2d(x_nc, w_nc, b_nc, padding=1, algo=ALGO), want)
    # Read-only arrays.
    for a in (x, w, b, dy):
        a.flags.writeable = False
    np.testing.assert_array_equal(ops.conv2d(x, w, b, padding=1, algo=ALGO), want)
    # float64 inputs are converted to float32 (same values since they came from float32).
    np.testing.assert_array_equal(
        ops.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), padding=1,
                   algo=ALGO), want)
    dx = ops.conv2d_input(x.shape, w, dy, padding=1, algo=ALGO)
    np.testing.assert_array_equal(ops.conv2d_input(x.shape, w.astype(np.float64), dy[:, :, :, :],
                                                   padding=1, algo=ALGO), dx)
    dw = ops.conv2d_weight(x, w.shape, dy, padding=1)
    np.testing.assert_array_equal(ops.conv2d_weight(x_nc, w.shape, dy.astype(np.float64),
                                                    padding=1), dw)


def test_concurrent_calls_from_python_threads(rng):
    cases = [Case(2, 5, 13, 11, 7, 3, 3, pad=(1, 1, 1, 1)),
             Case(3, 8, 9, 9, 8, 3, 3, stride=(2, 2), pad=(1, 1, 1, 1), groups=8),
             Case(1, 6, 16, 16, 4, 1, 1)]
    data = [c.data(rng) for c in cases]

    def run(i):
        c = cases[i % len(cases)]
        x, w, b, dy = data[i % len(cases)]
        return (ops.conv2d(x, w, b, **c.geometry, algo=ALGO),
                ops.conv2d_input(x.shape, w, dy, **c.geometry, algo=ALGO),
                ops.conv2d_weight(x, w.shape, dy, **c.geometry))

    serial = [run(i) for i in range(len(cases))]
    barrier = threading.Barrier(4)

    def racing(i):
        barrier.wait()
        return [run(i) for _ in range(3)]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(racing, range(4)))
    for i, repeats in enumerate(results):
        for got in repeats:
            for a, b_ in zip(got, serial[i % len(cases)]):
                np.testing.assert_array_equal(a, b_)


def test_result_independent_of_thread_count(rng):
    case = Case(4, 16, 20, 20, 16, 3, 3, pad=(1, 1, 1, 1))
    x, w, b, dy = case.data(rng)
    before = cnnnative.get_num_threads()
    try:
        out = {}
        for t in (1, 2, 3):
            cnnnative.set_num_threads(t)
            out[t] = (ops.conv2d(x, w, b, padding=1, algo=ALGO),
                      ops.conv2d_input(x.shape, w, dy, padding=1, algo=ALGO),
                      ops.conv2d_weight(x, w.shape, dy, padding=1))
    finally:
        cnnnative.set_num_threads(before)
    for t in (2, 3):
        for a, b_ in zip(out[t], out[1]):
            # Different splits may sum in different orders; values agree to float32 rounding.
            np.testing.assert_allclose(a, b_, rtol=1e-5, atol=1e-4)


def test_conv_algorithms_reports_im2col():
    info = ops.conv_algorithms((2, 64, 56, 56), (64, 64, 3, 3), padding=1)
    assert info["im2col"]["supported"] and info["im2col"]["backward_input"]
    assert info["im2col"]["workspace_bytes"] > 0
    assert info["auto"] in info
    pointwise = ops.conv_algorithms((2, 64, 56, 56), (256, 64, 1, 1))
    assert pointwise["im2col"]["workspace_bytes"] == 0  # GEMM straight on the input


# --- bad input: a clear exception, never a crash ------------------------------------------

X = np.zeros((2, 4, 8, 8), np.float32)
Wt = np.zeros((6, 4, 3, 3), np.float32)
DY = np.zeros((2, 6, 6, 6), np.float32)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: ops.conv2d(X[0], Wt), ValueError, "input must be 4-D"),
    (lambda: ops.conv2d(X, Wt[0]), ValueError, "weight must be 4-D"),
    (lambda: ops.conv2d(X, np.zeros((6, 3, 3, 3), np.float32)), ValueError, "input channels"),
    (lambda: ops.conv2d(X, np.zeros((6, 4, 11, 3), np.float32)), ValueError, "larger than the padded"),
    (lambda: ops.conv2d(X, Wt, stride=0), ValueError, "stride"),
    (lambda: ops.conv2d(X, Wt, stride=(1, -2)), ValueError, "stride"),
    (lambda: ops.conv2d(X, Wt, dilation=0), ValueError, "dilation"),
    (lambda: ops.conv2d(X, Wt, dilation=-1), ValueError, "dilation"),
    (lambda: ops.conv2d(X, Wt, padding=-1), ValueError, "padding"),
    (lambda: ops.conv2d(X, Wt, padding=(0, 0, -1, 0)), ValueError, "padding"),
    (lambda: ops.conv2d(X, Wt, padding=(1, 2, 3)), ValueError, "padding"),
    (lambda: ops.conv2d(X, np.zeros((6, 1, 3, 3), np.float32), groups=3), ValueError, "groups"),
    (lambda: ops.conv2d(X, np.zeros((5, 2, 3, 3), np.float32), groups=2), ValueError, "groups=2 must divide output"),
    (lambda: ops.conv2d(X, Wt, groups=0), ValueError, "groups"),
    (lambda: ops.conv2d(X, Wt, np.zeros(5, np.float32)), ValueError, "bias must have shape"),
    (lambda: ops.conv2d(X, Wt, np.zeros((6, 1), np.float32)), ValueError, "bias must have shape"),
    (lambda: ops.conv2d(X, np.zeros((0, 4, 3, 3), np.float32)), ValueError, "out_channels"),
    (lambda: ops.conv2d(np.zeros((2, 4, 0, 8), np.float32), Wt), ValueError, "height"),
    (lambda: ops.conv2d(X, Wt, algo="nope"), ValueError, "unknown convolution algorithm"),
    (lambda: ops.conv2d(X.astype(np.complex64), Wt), TypeError, "dtype"),
    (lambda: ops.conv2d(np.array([["a"]]), Wt), (TypeError, ValueError), None),
    (lambda: ops.conv2d_input((2, 4, 8, 8), Wt, DY[:, :5]), ValueError, "grad_output has shape"),
    (lambda: ops.conv2d_input((2, 4, 8, 8), Wt, DY[:1]), ValueError, "grad_output has shape"),
    (lambda: ops.conv2d_input((2, 4, 8, 8), Wt, DY[0]), ValueError, "grad_output must be 4-D"),
    (lambda: ops.conv2d_input((2, 4, 8), Wt, DY), ValueError, "input_size"),
    (lambda: ops.conv2d_input((-1, 4, 8, 8), Wt, DY), ValueError, "batch size"),
    (lambda: ops.conv2d_input((2, 4, 8, 8), Wt, DY, algo="nope"), ValueError, "unknown"),
    (lambda: ops.conv2d_weight(X, (6, 4, 3, 3), DY[:, :, :5]), ValueError, "grad_output has shape"),
    (lambda: ops.conv2d_weight(X, (6, 3, 3, 3), DY), ValueError, "input channels"),
    (lambda: ops.conv2d_weight(X, (6, 4, 3), DY), ValueError, "weight_size"),
    (lambda: ops.conv2d_weight(X, (6, -4, 3, 3), DY), ValueError, "channels"),
    (lambda: ops.conv2d_bias(DY[0]), ValueError, "4-D"),
    # Sizes whose products overflow int64.
    (lambda: ops.conv_algorithms((2 ** 40, 2 ** 20, 2 ** 10, 2 ** 10), (1, 2 ** 20, 1, 1)),
     OverflowError, "overflows"),
    (lambda: ops.conv2d_input((1, 1, 2 ** 40, 2 ** 40), np.zeros((1, 1, 1, 1), np.float32),
                              np.zeros((1, 1, 1, 1), np.float32)), (OverflowError, ValueError), None),
    (lambda: ops.conv_algorithms((1, 1, 8, 8), (1, 1, 3, 3), padding=2 ** 63 - 1),
     OverflowError, "padded"),
    (lambda: ops.conv_algorithms((1, 1, 8, 8), (1, 1, 3, 3), dilation=2 ** 62), OverflowError, None),
    (lambda: ops.conv_algorithms((1, 2 ** 64, 8, 8), (1, 1, 3, 3)), OverflowError, "int64"),
    (lambda: ops.conv2d(X, Wt, stride=2 ** 70), OverflowError, "int64"),
    (lambda: ops.conv2d(X, np.zeros((6, 1, 3, 3), np.float32), groups=2 ** 62),
     (ValueError, OverflowError), None),
])
def test_bad_input_raises(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
