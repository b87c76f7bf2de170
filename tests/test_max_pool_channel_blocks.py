"""Max pooling with 16 planes per AVX-512 vector (pool/max_pool_cblock.h) against a numpy
reference, compiled and eager, both layouts forced in turn (under ISAs without AVX-512
'channels' falls back to the separable kernel, so every case runs under every ISA).
Shapes: plane counts that leave a partial block, odd sizes, ceil mode, padding, kernels
2 and 3 and taller ones, strides 1 and 2, batch 1 and 3; NaN and -inf inputs.
"""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import _core, nn, ops

# (C, H, W, kernel (kh, kw), stride, padding, ceil_mode)
CASES = [
    (3, 9, 9, (3, 3), 2, 1, True),
    (16, 14, 14, (2, 2), 2, 0, False),
    (17, 13, 13, (3, 3), 2, 0, True),
    (20, 27, 27, (3, 3), 2, 0, True),
    (33, 11, 19, (3, 3), 1, 1, False),
    (8, 7, 6, (5, 3), 1, 1, False),
    (40, 31, 29, (2, 2), 2, 0, True),
]


@pytest.fixture
def layout():
    yield _core._force_max_pool_layout
    _core._force_max_pool_layout("auto")


def _reference(x, k, s, p, ceil):
    kh, kw = k
    N, C, H, W = x.shape

    def out(n, kk):
        size = (n + 2 * p - kk + (s - 1 if ceil else 0)) // s + 1
        if ceil and (size - 1) * s >= n + p:  # torch: the last window must start inside the input or left padding
            size -= 1
        return size
    OH, OW = out(H, kh), out(W, kw)
    pad_b = max(0, (OH - 1) * s + kh - H - p)
    pad_r = max(0, (OW - 1) * s + kw - W - p)
    xp = np.pad(x, ((0, 0), (0, 0), (p, pad_b), (p, pad_r)), constant_values=-np.inf)
    y = np.full((N, C, OH, OW), -np.inf, np.float32)
    for r in range(kh):
        for c in range(kw):
            win = xp[:, :, r:r + s * (OH - 1) + 1:s, c:c + s * (OW - 1) + 1:s]
            y = np.where(np.isnan(win) | (win > y), win, y)
    return y


@pytest.mark.parametrize("case", CASES, ids=lambda c: "C{}_{}x{}_k{}_s{}_p{}_ceil{}".format(*c))
@pytest.mark.parametrize("batch", [1, 3])
def test_max_pool_channel_blocks(case, batch, isa, layout, rng):
    C, H, W, k, s, p, ceil = case
    x = rng.standard_normal((batch, C, H, W)).astype(np.float32)
    x.reshape(-1)[::37] = np.nan
    x.reshape(-1)[5::41] = -np.inf
    want = _reference(x, k, s, p, ceil)
    compiled = cn.compile(nn.Sequential(nn.MaxPool2d(k, s, p, ceil_mode=ceil)), x.shape)
    for name in ("channels", "planes", "auto"):
        layout(name)
        got = compiled(x)
        np.testing.assert_array_equal(got, want, err_msg=f"compiled {name}")
        np.testing.assert_array_equal(ops.max_pool2d(x, k, s, p, ceil_mode=ceil), want, err_msg=f"eager {name}")


def test_max_pool_matches_torch_with_nan(layout, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 21, 17, 17)).astype(np.float32)
    x[0, 3, 4, 4] = np.nan
    layout("channels")
    for k, s, p, ceil in [(3, 2, 1, False), (3, 2, 0, True), (2, 2, 0, True), (3, 1, 1, False)]:
        want = torch.nn.functional.max_pool2d(torch.from_numpy(x), k, s, p, ceil_mode=ceil).numpy()
        np.testing.assert_array_equal(ops.max_pool2d(x, k, s, p, ceil_mode=ceil), want)


def test_max_pool_layout_names_are_checked():
    with pytest.raises(ValueError, match="layout"):
        _core._force_max_pool_layout("nhwc")
