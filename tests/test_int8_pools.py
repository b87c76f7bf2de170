"""max_pool_u8 against a numpy reference, exactly: kernel sizes, strides, padding,
dilation, ceil_mode (windows hanging past the image), uint8 and dequantized float32
output, batch 1 and 2, planes split over two threads."""
import numpy as np
import pytest

from cnnnative import _core

f32 = np.float32


def out_size(n, k, s, p0, p1, d, ceil):
    span = n + p0 + p1 - d * (k - 1) - 1
    o = (-(-span // s) if ceil else span // s) + 1
    if ceil and (o - 1) * s >= n + p0:  # PyTorch: the last window starts inside the image or left padding
        o -= 1
    return o


def max_pool_ref(x, k, s, pad, d, ceil, zero):
    """Max over each window's taps inside the image; a window with none gives `zero`."""
    n, c, h, w = x.shape
    oh = out_size(h, k[0], s[0], pad[0], pad[1], d[0], ceil)
    ow = out_size(w, k[1], s[1], pad[2], pad[3], d[1], ceil)
    y = np.full((n, c, oh, ow), -1, np.int64)
    for i in range(oh):
        for j in range(ow):
            for r in range(k[0]):
                ih = i * s[0] - pad[0] + r * d[0]
                if not 0 <= ih < h:
                    continue
                for t in range(k[1]):
                    iw = j * s[1] - pad[2] + t * d[1]
                    if 0 <= iw < w:
                        y[:, :, i, j] = np.maximum(y[:, :, i, j], x[:, :, ih, iw])
    return np.where(y < 0, zero, y)


@pytest.mark.parametrize("shape,k,s,pad,d,ceil", [
    ((1, 3, 55, 55), (3, 3), (2, 2), (0, 0, 0, 0), (1, 1), True),    # SqueezeNet's pools
    ((2, 5, 13, 17), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False),   # ResNet's, odd sizes
    ((1, 4, 9, 10), (2, 3), (1, 2), (1, 0, 1, 1), (2, 1), True),     # dilation, uneven padding
    ((2, 2, 8, 8), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False),
    ((1, 2, 7, 30), (5, 1), (3, 1), (2, 2, 0, 0), (1, 1), True),
    # rows wide enough for the vector loops of every tap pass: stride 2, 3 and 1
    ((1, 3, 11, 113), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True),
    ((1, 2, 9, 70), (3, 4), (3, 3), (1, 1, 2, 1), (1, 2), True),
    ((1, 2, 6, 67), (1, 5), (1, 1), (0, 0, 2, 2), (1, 1), False),
])
@pytest.mark.parametrize("out_u8", [True, False])
def test_max_pool_u8(shape, k, s, pad, d, ceil, out_u8):
    rng = np.random.default_rng(4)
    x8 = rng.integers(0, 256, shape).astype(np.uint8)
    q = (0.1, 30)
    xf = (f32(q[0]) * (x8.astype(np.int32) - q[1])).astype(f32)
    plan = _core.EnginePlan(list(shape))
    xb = _core.plan_add_quantize(plan, 0, *q)
    mp = _core.plan_add_max_pool_u8(plan, xb, k, s, pad, d, ceil, q, out_u8)
    plan.finalize(_core.plan_add_dequantize(plan, mp, *q) if out_u8 else mp)
    got = plan.run(xf)
    want = max_pool_ref(x8.astype(np.int64), k, s, pad, d, ceil, q[1])
    np.testing.assert_array_equal(got, (f32(q[0]) * (want - q[1]).astype(f32)).astype(f32))


def test_max_pool_u8_two_threads():
    before = _core.get_num_threads()
    _core.set_num_threads(2)
    try:
        rng = np.random.default_rng(5)
        x8 = rng.integers(0, 256, (2, 48, 33, 33)).astype(np.uint8)
        q = (0.05, 0)
        plan = _core.EnginePlan([2, 48, 33, 33])
        xb = _core.plan_add_quantize(plan, 0, *q)
        mp = _core.plan_add_max_pool_u8(plan, xb, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True, q, True)
        plan.finalize(_core.plan_add_dequantize(plan, mp, *q))
        got = plan.run((f32(q[0]) * x8.astype(f32)).astype(f32))
        want = max_pool_ref(x8.astype(np.int64), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True, 0)
        np.testing.assert_array_equal(got, (f32(q[0]) * want.astype(f32)).astype(f32))
    finally:
        _core.set_num_threads(before)
