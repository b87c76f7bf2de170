"""Pooling: max / avg / global-avg, forward and backward, against the float64 reference
(tests/ref_ops.py) under every ISA, against PyTorch when it is installed, by finite
differences, and on bad input."""
import itertools

import numpy as np
import pytest

import ref_ops as ref
from cnnnative import ops
from ref_ops import nan_fill  # noqa: F401  (autouse: NaN-filled outputs)

# (N, C, H, W, kernel, stride, padding, dilation, ceil_mode). Widths chosen so the output
# row is 1, 15, 16, 17 or a prime number of columns (vector tails), channels odd.
MAX_CASES = [
    (1, 1, 1, 1, 1, 1, 0, 1, False),
    (2, 3, 8, 8, 2, 2, 0, 1, False),
    (1, 5, 7, 31, 3, 2, 1, 1, False),       # ResNet stem style, OW = 16
    (3, 2, 9, 33, 3, 2, 1, 1, True),        # ceil mode, OW = 17
    (2, 3, 6, 17, 3, 1, 1, 1, False),       # stride 1, OW = 17
    (1, 3, 10, 29, 3, 2, 1, 2, False),      # dilation
    (2, 1, 5, 15, 2, 3, 1, 1, True),        # stride > kernel, ceil drops last window
    (1, 2, 13, 23, (3, 2), (2, 1), (1, 0), (1, 2), True),
    (1, 17, 4, 4, 4, 4, 2, 1, False),       # kernel equal to the input, padding 2
]


def _run_cases(cases):
    return pytest.mark.parametrize("case", cases, ids=[str(c) for c in cases])


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@_run_cases(MAX_CASES)
def test_max_pool2d_matches_reference(isa, rng, case):
    N, C, H, W, k, s, p, d, ceil = case
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    out, idx = ops.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
    r_out, r_idx = ref.max_pool2d(x, _pair(k), _pair(s), _pair(p), _pair(d), ceil)
    # Max pooling selects an input value: exact equality, and the exact same index.
    np.testing.assert_array_equal(out, r_out.astype(np.float32))
    np.testing.assert_array_equal(idx, r_idx)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(ops.max_pool2d(x, k, s, p, d, ceil), out)


AVG_CASES = [
    (1, 1, 1, 1, 1, 1, 0, False),
    (2, 3, 8, 8, 2, 2, 0, False),
    (1, 5, 7, 31, 3, 2, 1, False),
    (3, 2, 9, 33, 3, 2, 1, True),
    (2, 3, 6, 17, 3, 1, 1, False),
    (2, 1, 5, 15, 2, 3, 1, True),
    (1, 2, 13, 23, (3, 2), (2, 1), (1, 0), True),
    (1, 7, 5, 5, 5, 5, 2, True),
]


@_run_cases(AVG_CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_matches_reference(isa, rng, case, count_include_pad):
    N, C, H, W, k, s, p, ceil = case
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    out = ops.avg_pool2d(x, k, s, p, ceil, count_include_pad)
    r = ref.avg_pool2d(x, _pair(k), _pair(s), _pair(p), ceil, count_include_pad)
    # A float32 sum of at most kh*kw terms of size ~1: error below kh*kw ulp.
    kk = np.prod(_pair(k))
    np.testing.assert_allclose(out, r, rtol=0, atol=kk * 2e-7)


def test_ceil_mode_drops_window_starting_in_right_padding():
    # H=3, k=2, s=2, p=1: floor gives 2 windows, plain ceil 3, but the third would start
    # at 4 >= H + p = 4, inside the right padding, so PyTorch keeps 2.
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    assert ops.max_pool2d(x, 2, 2, 1, ceil_mode=True).shape == (1, 1, 2, 2)
    # H=4: ceil gives 3 windows and the third starts at 3 < 5: kept.
    x = np.zeros((1, 1, 4, 4), np.float32)
    assert ops.avg_pool2d(x, 2, 2, 1, ceil_mode=True).shape == (1, 1, 3, 3)
    assert ops.avg_pool2d(x, 2, 2, 1, ceil_mode=False).shape == (1, 1, 3, 3)
    # H=5, k=2, s=2, p=0: 2 windows floor, 3 with ceil (last window holds one column).
    x = np.arange(25, dtype=np.float32).reshape(1, 1, 5, 5)
    y = ops.avg_pool2d(x, 2, ceil_mode=True)
    assert y.shape == (1, 1, 3, 3)
    # Last window clipped to the input: count_include_pad only counts padding, not the
    # part beyond it, so the corner divides by 1.
    assert y[0, 0, 2, 2] == 24.0


def test_pool_vs_torch_sweep(isa, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    checked = 0
    for H, W, k, s, p, d, ceil in itertools.product([5, 8], [7, 18], [2, 3], [1, 2, 3], [0, 1],
                                                    [1, 2], [False, True]):
        if p > k // 2:
            continue
        x = rng.standard_normal((2, 3, H, W)).astype(np.float32)
        try:
            t_out, t_idx = F.max_pool2d(torch.from_numpy(x), k, s, p, d, ceil, return_indices=True)
        except RuntimeError:  # output too small for this shape: we must refuse it too
            with pytest.raises(ValueError):
                ops.max_pool2d(x, k, s, p, d, ceil)
            continue
        out, idx = ops.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
        np.testing.assert_array_equal(out, t_out.numpy())
        np.testing.assert_array_equal(idx, t_idx.numpy())
        if d == 1:
            for cip in (False, True):
                t_avg = F.avg_pool2d(torch.from_numpy(x), k, s, p, ceil, cip).numpy()
                np.testing.assert_allclose(ops.avg_pool2d(x, k, s, p, ceil, cip), t_avg,
                                           rtol=0, atol=2e-6)  # same sum order; slack for FMA
        checked += 1
    assert checked > 50


def test_max_pool_nan_and_inf_follow_torch():
    torch = pytest.importorskip("torch")
    x = np.array([[[[1.0, np.nan, 3.0, np.nan],
                    [-np.inf, -np.inf, 2.0, 0.0],
                    [-np.inf, -np.inf, np.inf, 1.0],
                    [-np.inf, -np.inf, 0.0, 1.0]]]], np.float32)
    out, idx = ops.max_pool2d(x, 2, return_indices=True)
    t_out, t_idx = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, return_indices=True)
    np.testing.assert_array_equal(out, t_out.numpy())
    np.testing.assert_array_equal(idx, t_idx.numpy())


# --- backward --------------------------------------------------------------------------------

@_run_cases(MAX_CASES)
def test_max_pool2d_backward_scatters_to_indices(isa, rng, case):
    N, C, H, W, k, s, p, d, ceil = case
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    out, idx = ops.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
    g = rng.standard_normal(out.shape).astype(np.float32)
    dx = ops.max_pool2d_backward(g, idx, x.shape)
    # Overlapping windows add several float32 terms into one element.
    np.testing.assert_allclose(dx, ref.max_pool2d_backward(g, idx, x.shape), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("k,s,p,d,ceil", [(2, 2, 0, 1, False), (3, 2, 1, 1, True), (3, 1, 1, 2, False)])
def test_max_pool2d_backward_finite_differences(isa, rng, k, s, p, d, ceil):
    N, C, H, W = 2, 2, 5, 6
    # Distinct values at least 0.01 apart: no tie flips under a 1e-6 nudge.
    x = (rng.permutation(N * C * H * W).reshape(N, C, H, W) * 0.01).astype(np.float64)
    out, idx = ops.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
    g = rng.standard_normal(out.shape)
    kd = (_pair(k), _pair(s), _pair(p), _pair(d), ceil)
    num = ref.numeric_grad(lambda z: float(np.sum(ref.max_pool2d(z, *kd)[0] * g)), x)
    dx = ops.max_pool2d_backward(g.astype(np.float32), idx, x.shape)
    assert np.abs(dx).max() > 0.1
    np.testing.assert_allclose(dx, num, rtol=1e-5, atol=1e-5)  # float32 g vs float64 FD


def test_max_pool2d_backward_ties_go_to_first_maximum(isa):
    torch = pytest.importorskip("torch")
    x = np.ones((2, 3, 6, 7), np.float32)  # every window is one big tie
    out, idx = ops.max_pool2d(x, 3, 2, 1, return_indices=True)
    g = np.arange(out.size, dtype=np.float32).reshape(out.shape)
    dx = ops.max_pool2d_backward(g, idx, x.shape)
    xt = torch.from_numpy(x).requires_grad_()
    torch.nn.functional.max_pool2d(xt, 3, 2, 1).backward(torch.from_numpy(g))
    np.testing.assert_array_equal(dx, xt.grad.numpy())
    np.testing.assert_array_equal(dx, ref.max_pool2d_backward(g, idx, x.shape))


@pytest.mark.parametrize("k,s,p,ceil,cip", [(2, 2, 0, False, True), (3, 2, 1, True, True),
                                            (3, 2, 1, True, False), (3, 1, 1, False, False),
                                            ((2, 3), (1, 2), (1, 1), True, True)])
def test_avg_pool2d_backward_finite_differences(isa, rng, k, s, p, ceil, cip):
    x = rng.standard_normal((2, 3, 5, 7))
    out = ops.avg_pool2d(x, k, s, p, ceil, cip)
    g = rng.standard_normal(out.shape)
    args = (_pair(k), _pair(s), _pair(p), ceil, cip)
    num = ref.numeric_grad(lambda z: float(np.sum(ref.avg_pool2d(z, *args) * g)), x)
    dx = ops.avg_pool2d_backward(g, x.shape, k, s, p, ceil, cip)
    assert np.abs(dx).max() > 0.05
    np.testing.assert_allclose(dx, num, rtol=1e-5, atol=1e-5)


def test_avg_pool2d_backward_vs_torch(isa, rng):
    torch = pytest.importorskip("torch")
    for k, s, p, ceil, cip in [(3, 2, 1, True, False), (2, 1, 1, False, True), (3, 3, 1, True, True)]:
        x = rng.standard_normal((3, 5, 11, 17)).astype(np.float32)
        xt = torch.from_numpy(x).requires_grad_()
        yt = torch.nn.functional.avg_pool2d(xt, k, s, p, ceil, cip)
        g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
        yt.backward(torch.from_numpy(g))
        np.testing.assert_allclose(ops.avg_pool2d_backward(g, x.shape, k, s, p, ceil, cip),
                                   xt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 17, 7, 7), (3, 5, 1, 33)])
def test_global_avg_pool2d(isa, rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    y = ops.global_avg_pool2d(x)
    assert y.shape == shape[:2] + (1, 1)
    np.testing.assert_allclose(y[:, :, 0, 0], x.astype(np.float64).mean(axis=(2, 3)), rtol=1e-5, atol=1e-6)
    g = rng.standard_normal(y.shape)
    num = ref.numeric_grad(lambda z: float(np.sum(z.mean(axis=(2, 3), keepdims=True) * g)), x)
    dx = ops.global_avg_pool2d_backward(g, shape)
    assert np.abs(dx).max() > 0
    np.testing.assert_allclose(dx, num, rtol=1e-5, atol=1e-6)


# --- conversions, empty batch, 3-D -----------------------------------------------------------

def test_pool_converts_noncontiguous_readonly_float64(rng):
    base = rng.standard_normal((2, 3, 9, 20))
    x = base[:, :, :, ::2]  # non-contiguous float64
    x.flags.writeable = False
    expect = ops.max_pool2d(np.ascontiguousarray(x, np.float32), 3, 2, 1)
    np.testing.assert_array_equal(ops.max_pool2d(x, 3, 2, 1), expect)
    np.testing.assert_array_equal(ops.avg_pool2d(x, 3, 2, 1),
                                  ops.avg_pool2d(np.ascontiguousarray(x, np.float32), 3, 2, 1))


def test_pool_empty_batch_and_3d_input(rng):
    x = np.zeros((0, 3, 8, 8), np.float32)
    out, idx = ops.max_pool2d(x, 2, return_indices=True)
    assert out.shape == (0, 3, 4, 4) and idx.shape == (0, 3, 4, 4)
    assert ops.max_pool2d_backward(out, idx, x.shape).shape == x.shape
    assert ops.avg_pool2d(x, 2).shape == (0, 3, 4, 4)
    assert ops.avg_pool2d_backward(out, x.shape, 2).shape == x.shape
    assert ops.global_avg_pool2d(x).shape == (0, 3, 1, 1)
    x3 = rng.standard_normal((3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(ops.max_pool2d(x3, 2), ops.max_pool2d(x3[None], 2)[0])
    np.testing.assert_array_equal(ops.avg_pool2d(x3, 2), ops.avg_pool2d(x3[None], 2)[0])


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,match", [
    (dict(kernel_size=3, padding=2), "padding must be at most half"),
    (dict(kernel_size=0), "kernel_size must be >= 1"),
    (dict(kernel_size=2, stride=0), "stride must be >= 1"),
    (dict(kernel_size=2, padding=-1), "padding must be >= 0"),
    (dict(kernel_size=2, dilation=0), "dilation must be >= 1"),
    (dict(kernel_size=9), "too small"),
    (dict(kernel_size=(2, 3, 4)), "kernel_size"),
])
def test_max_pool_bad_arguments(kwargs, match):
    x = np.zeros((1, 2, 5, 5), np.float32)
    with pytest.raises(ValueError, match=match):
        ops.max_pool2d(x, **kwargs)


def test_pool_bad_inputs():
    with pytest.raises(ValueError, match="4-D"):
        ops.max_pool2d(np.zeros((5, 5), np.float32), 2)
    with pytest.raises(ValueError, match="4-D"):
        ops.global_avg_pool2d(np.zeros((5, 5), np.float32))
    with pytest.raises(ValueError, match="channels, height and width"):
        ops.avg_pool2d(np.zeros((1, 0, 5, 5), np.float32), 2)
    with pytest.raises((OverflowError, ValueError)):
        ops.max_pool2d(np.zeros((1, 1, 5, 5), np.float32), 2**62, dilation=2**62)
    with pytest.raises(TypeError):
        ops.max_pool2d(np.full((1, 1, 2, 2), "a"), 1)


def test_pool_backward_bad_inputs(rng):
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    out, idx = ops.max_pool2d(x, 2, return_indices=True)
    bad = idx.copy()
    bad[0, 1, 2, 2] = 36
    with pytest.raises(ValueError, match=r"indices\[.*\] = 36"):
        ops.max_pool2d_backward(out, bad, x.shape)
    bad[0, 1, 2, 2] = -1
    with pytest.raises(ValueError, match="outside the input plane"):
        ops.max_pool2d_backward(out, bad, x.shape)
    with pytest.raises(ValueError, match="indices has shape"):
        ops.max_pool2d_backward(out, idx[:, :, :2], x.shape)
    with pytest.raises(ValueError, match="batch and channels"):
        ops.max_pool2d_backward(out, idx, (1, 3, 6, 6))
    with pytest.raises(TypeError, match="integer"):
        ops.max_pool2d_backward(out, idx.astype(np.float32), x.shape)
    with pytest.raises(ValueError, match="grad_output has shape"):
        ops.avg_pool2d_backward(out[:, :, :2], x.shape, 2)
    with pytest.raises(ValueError, match="grad_output has shape"):
        ops.global_avg_pool2d_backward(out, x.shape)


def test_empty_dilated_window_matches_torch_and_backward_refuses(rng):
    # k=2, dilation=3, padding=1 on a 2x2 input: the only window's taps (-1 and 2) are both
    # outside. PyTorch gives -inf and index 6 (outside the plane); so do we, and the
    # backward refuses that index with a ValueError instead of writing out of bounds.
    x = rng.standard_normal((1, 1, 2, 2)).astype(np.float32)
    out, idx = ops.max_pool2d(x, 2, 1, 1, 3, return_indices=True)
    assert out[0, 0, 0, 0] == -np.inf and idx[0, 0, 0, 0] == 6
    with pytest.raises(ValueError, match="outside the input plane"):
        ops.max_pool2d_backward(np.ones_like(out), idx, x.shape)


def test_pool_same_result_for_any_thread_count_and_concurrent_callers(rng):
    import threading

    from cnnnative import _core
    x = rng.standard_normal((4, 6, 23, 29)).astype(np.float32)
    before = _core.get_num_threads()
    try:
        _core.set_num_threads(1)
        one = ops.max_pool2d(x, 3, 2, 1, return_indices=True), ops.avg_pool2d(x, 3, 2, 1)
        _core.set_num_threads(2)
        two = ops.max_pool2d(x, 3, 2, 1, return_indices=True), ops.avg_pool2d(x, 3, 2, 1)
    finally:
        _core.set_num_threads(before)
    np.testing.assert_array_equal(one[0][0], two[0][0])
    np.testing.assert_array_equal(one[0][1], two[0][1])
    np.testing.assert_array_equal(one[1], two[1])
    # Reentrant kernels, GIL released: several Python threads at once get the same answers.
    results = [None] * 4

    def work(i):
        results[i] = ops.avg_pool2d(x, 3, 2, 1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, two[1])


def test_pool_random_shapes_against_reference():
    """Random shapes and arguments (bounded, derandomized) against the float64 reference."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=40, deadline=None, derandomize=True)
    @hypothesis.given(st.integers(1, 9), st.integers(1, 19), st.integers(1, 4), st.integers(1, 4),
                      st.integers(1, 3), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2),
                      st.booleans(), st.booleans(), st.integers(0, 2**31 - 1))
    def check(H, W, kh, kw, sh, sw, pad, dil, ceil, cip, seed):
        ph, pw = min(pad, kh // 2), min(pad, kw // 2)
        x = np.random.default_rng(seed).standard_normal((2, 3, H, W)).astype(np.float32)
        args = ((kh, kw), (sh, sw), (ph, pw))
        try:
            r_out, r_idx = ref.max_pool2d(x, *args, (dil, dil), ceil)
            ok = r_out.size > 0
        except ValueError:
            ok = False
        if not ok:
            with pytest.raises(ValueError):
                ops.max_pool2d(x, *args, dil, ceil)
            return
        out, idx = ops.max_pool2d(x, *args, dil, ceil, return_indices=True)
        np.testing.assert_array_equal(out, r_out.astype(np.float32))
        np.testing.assert_array_equal(idx, r_idx)
        if ref.pool_out_size(H, kh, sh, ph, 1, ceil) >= 1 and ref.pool_out_size(W, kw, sw, pw, 1, ceil) >= 1:
            np.testing.assert_allclose(ops.avg_pool2d(x, *args, ceil, cip),
                                       ref.avg_pool2d(x, *args, ceil, cip), rtol=0, atol=kh * kw * 2e-7)

    check()


# --- the specialised 2x2 / stride 2 / unpadded kernel ------------------------------------------
# Output widths 1, 7, 15, 16, 17, 33 hit the 16-lane AVX-512 body and its masked tails; odd
# input sizes leave a last row/column no window reaches. Values are drawn from a few levels so
# windows hold ties (first maximum in row-major order wins) and some NaN / -inf.

@pytest.mark.parametrize("N,C,H,W", [(1, 1, 2, 2), (2, 3, 5, 15), (3, 2, 4, 30), (1, 5, 6, 32),
                                     (2, 1, 7, 35), (1, 2, 3, 67), (2, 7, 28, 28)])
def test_max_pool2d_2x2_fast_path_matches_reference(isa, rng, N, C, H, W):
    x = rng.integers(-2, 3, (N, C, H, W)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan
    x[rng.random(x.shape) < 0.05] = -np.inf
    out, idx = ops.max_pool2d(x, 2, return_indices=True)
    r_out, r_idx = ref.max_pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(out, r_out.astype(np.float32))  # selects inputs: exact
    np.testing.assert_array_equal(idx, r_idx)
    np.testing.assert_array_equal(ops.max_pool2d(x, 2), out)


def test_max_pool2d_2x2_fast_path_nan_ties_follow_torch(isa, rng):
    torch = pytest.importorskip("torch")
    x = rng.integers(-1, 2, (2, 3, 9, 37)).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    out, idx = ops.max_pool2d(x, 2, return_indices=True)
    t_out, t_idx = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, return_indices=True)
    np.testing.assert_array_equal(out, t_out.numpy())
    np.testing.assert_array_equal(idx, t_idx.numpy())


# Huge kernels, strides, padding and dilations: each call must return (with the right
# values) or raise ValueError / OverflowError at once. The windows used to be walked tap by
# tap (kernel=2**62 never returned, and Ctrl-C could not stop it) and UBSan found signed
# overflow in the size arithmetic. A child process with a timeout makes a hang a failure.
HUGE_GEOMETRY_SCRIPT = r'''
import sys, time
import numpy as np
from cnnnative import ops

x = np.random.default_rng(0).standard_normal((1, 2, 9, 9)).astype(np.float32)
big, top = 2**62, 2**63 - 1
for isa in sys.argv[1:]:
    ops_isa = __import__("cnnnative")._core
    ops_isa.set_isa(isa)
    def check(name, call, expected):
        t, why = time.perf_counter(), ""
        try:
            got = call()
        except (ValueError, OverflowError) as e:
            got, why = type(e), str(e)
        dt = time.perf_counter() - t
        assert dt < 1.0, f"{isa} {name}: {dt:.2f} s"
        if isinstance(expected, type):
            assert got is expected, f"{isa} {name}: expected {expected.__name__}, got {got!r}"
        else:
            assert not isinstance(got, type), f"{isa} {name}: raised {got.__name__}: {why}"
            np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=f"{isa} {name}")

    cols = np.stack([x[..., 3 * j:3 * j + 3] for j in range(3)], axis=-1)  # (1, 2, 9, 3, 3)
    # The window covers every row (it starts 2**61 rows above the input): one output row.
    check("max kernel 2**62 padded", lambda: ops.max_pool2d(x, (big, 3), padding=(big // 2, 0)),
          cols.max(axis=(2, 3))[:, :, None, :])
    check("avg kernel 2**62 padded, real elements", lambda: ops.avg_pool2d(
        x, (big, 3), padding=(big // 2, 0), count_include_pad=False), cols.mean(axis=(2, 3))[:, :, None, :])
    check("avg kernel 2**62 padded, padded divisor", lambda: ops.avg_pool2d(x, (big, 3), padding=(big // 2, 0)),
          cols.sum(axis=(2, 3))[:, :, None, :] / (3 * float(big)))
    # ceil mode keeps a window that starts in the input even when it is far larger.
    check("max ceil kernel 2**62", lambda: ops.max_pool2d(x, (big, 9), ceil_mode=True),
          x.max(axis=(2, 3))[:, :, None, None])
    check("avg ceil kernel 2**62 x top", lambda: ops.avg_pool2d(x, (big, top), ceil_mode=True,
                                                                count_include_pad=False),
          x.mean(axis=(2, 3), dtype=np.float64)[:, :, None, None])
    # Strides near INT64_MAX: one window per axis.
    check("max stride top padded", lambda: ops.max_pool2d(x, 3, stride=top, padding=1),
          x[..., :2, :2].max(axis=(2, 3))[:, :, None, None])
    check("avg stride top padded", lambda: ops.avg_pool2d(x, 3, stride=top, padding=1),
          x[..., :2, :2].sum(axis=(2, 3))[:, :, None, None] / 9)
    check("max dilation 2**62", lambda: ops.max_pool2d(x, 2, dilation=big), ValueError)
    check("max dilation top kernel 3", lambda: ops.max_pool2d(x, 3, dilation=top), OverflowError)
    check("max padding overflow", lambda: ops.max_pool2d(x, top, padding=top // 2 + 1), ValueError)
    check("avg backward kernel 2**62", lambda: ops.avg_pool2d_backward(
        np.ones((1, 2, 1, 3), np.float32), x.shape, (big, 3), padding=(big // 2, 0), count_include_pad=False),
        np.ones_like(x) / 27)
    check("conv stride top", lambda: ops.conv2d(x, np.ones((1, 2, 3, 3), np.float32), stride=top, padding=1),
          x[:, :, :2, :2].sum(axis=(1, 2, 3))[:, None, None, None])
    # im2col stepped a row pointer by stride_h * W past the last row (UBSan: overflow).
    win = np.lib.stride_tricks.sliding_window_view(x[:, :, :3, :], 3, axis=3)  # (1, 2, 3, 7, 3)
    check("conv im2col stride (top, 1)", lambda: ops.conv2d(x, np.ones((1, 2, 3, 3), np.float32),
                                                            stride=(top, 1), algo="im2col"),
          win.sum(axis=(1, 2, 4))[:, None, None, :])
    check("conv padding overflow", lambda: ops.conv2d(x, np.ones((1, 2, 3, 3), np.float32), padding=top),
          OverflowError)
print("ok")
'''


def test_pool_huge_geometry_returns_or_raises_at_once():
    import os
    import subprocess
    import sys

    from cnnnative import _core

    isas = [i for i in ("scalar", "avx2", "avx512") if i in _core.available_isas()]
    timeout = 300 if "LD_PRELOAD" in os.environ else 30
    proc = subprocess.run([sys.executable, "-c", HUGE_GEOMETRY_SCRIPT, *isas], capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout[-3000:] + proc.stderr[-6000:]
