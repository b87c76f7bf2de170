"""In-place activations and reused gradient buffers.

ops: `out=` on the ReLU family (may be exactly the input) and on max_pool2d_backward, under
every ISA, against float64 references; bad `out` arrays give clear errors.
nn: ReLU/ReLU6/LeakyReLU(inplace=True) give the same results and gradients (autograd's
walk, with ReLU's in-place backward into private gradients) as out-of-place layers, over
several steps, never touch the caller's gradient nor hand back an array that changes later;
a finite-difference check on a tiny in-place net; state_dict keys are unchanged.
"""
import copy

import numpy as np
import pytest

import ref_ops as ref
import cnnnative as cn
from cnnnative import models, nn, ops
from ref_ops import nan_fill  # noqa: F401  (autouse: NaN-filled outputs)

# Around the vector widths (8, 16 floats) and the threading grain (32768).
SIZES = [1, 7, 8, 15, 16, 17, 31, 97, 32768 * 2 + 13]

# (name, forward(x, out), reference, backward(g, saved, out), saves): the backward's exact
# expected value is computed from float64 references of the masks.
FAMILY = [
    ("relu", lambda x, out=None: ops.relu(x, out=out), ref.relu,
     lambda g, s, out=None: ops.relu_backward(g, s, out=out), "output"),
    ("relu6", lambda x, out=None: ops.relu6(x, out=out), ref.relu6,
     lambda g, s, out=None: ops.relu6_backward(g, s, out=out), "output"),
    ("leaky_relu", lambda x, out=None: ops.leaky_relu(x, 0.1, out=out),
     lambda x: ref.leaky_relu(x, 0.1),
     lambda g, s, out=None: ops.leaky_relu_backward(g, s, 0.1, out=out), "input"),
]
IDS = [f[0] for f in FAMILY]


def _backward_reference(name, g, saved):
    g, s = g.astype(np.float64), saved.astype(np.float64)
    if name == "relu":
        return np.where(s > 0, g, 0.0)
    if name == "relu6":
        return np.where((s > 0) & (s < 6), g, 0.0)
    return np.where(s > 0, g, g * np.float32(0.1))


@pytest.mark.parametrize("op", FAMILY, ids=IDS)
@pytest.mark.parametrize("n", SIZES)
def test_forward_out_aliasing_input(isa, rng, op, n):
    name, fwd, reference, _, _ = op
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    x[::5] = 0.0  # the boundary
    expected = reference(x.astype(np.float64))
    y = fwd(x, out=x)
    assert y is x or np.shares_memory(y, x)
    # relu/relu6 are exact; leaky multiplies by float32(0.1) once (<= 1 rounding).
    np.testing.assert_allclose(x, expected, rtol=1e-7, atol=0)


@pytest.mark.parametrize("op", FAMILY, ids=IDS)
@pytest.mark.parametrize("n", SIZES)
def test_forward_out_separate(isa, rng, op, n):
    name, fwd, reference, _, _ = op
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    x0 = x.copy()
    out = np.full(n, np.nan, dtype=np.float32)  # every element must be written
    y = fwd(x, out=out)
    assert y is out or np.shares_memory(y, out)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_allclose(out, reference(x.astype(np.float64)), rtol=1e-7, atol=0)


@pytest.mark.parametrize("op", FAMILY, ids=IDS)
@pytest.mark.parametrize("n", SIZES)
def test_backward_out_aliasing_grad(isa, rng, op, n):
    name, fwd, _, bwd, saves = op
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    x[::7] = 6.0 if name == "relu6" else 0.0
    saved = fwd(x) if saves == "output" else x
    g = rng.standard_normal(n).astype(np.float32)
    expected = _backward_reference(name, g, saved)
    fresh = bwd(g, saved)
    r = bwd(g, saved, out=g)
    assert r is g or np.shares_memory(r, g)
    np.testing.assert_allclose(g, expected, rtol=1e-7, atol=0)
    np.testing.assert_array_equal(g, fresh)


def test_out_may_be_the_other_input(isa, rng):
    # relu_backward(g, y, out=y): each slot's y is read before it is overwritten.
    y = ops.relu(rng.standard_normal(1000).astype(np.float32))
    g = rng.standard_normal(1000).astype(np.float32)
    expected = ops.relu_backward(g, y)
    ops.relu_backward(g, y, out=y)
    np.testing.assert_array_equal(y, expected)


def test_out_multidimensional_and_empty():
    x = np.arange(-6, 6, dtype=np.float32).reshape(2, 3, 2)
    ops.relu(x, out=x)
    np.testing.assert_array_equal(x, np.maximum(np.arange(-6, 6).reshape(2, 3, 2), 0))
    e = np.zeros((0, 3), np.float32)
    assert ops.relu(e, out=e).shape == (0, 3)


@pytest.mark.parametrize("bad, err, words", [
    (np.zeros(9, np.float32), ValueError, "shape"),
    (np.zeros((2, 5), np.float32), ValueError, "dimensions"),
    (np.zeros(10, np.float64), TypeError, "float32"),
    (np.zeros(20, np.float32)[::2], ValueError, "contiguous"),
    ([0.0] * 10, TypeError, "numpy"),
])
def test_bad_out_is_a_clear_error(bad, err, words):
    x = np.ones(10, np.float32)
    with pytest.raises(err, match=words):
        ops.relu(x, out=bad)
    with pytest.raises(err, match=words):
        ops.relu_backward(x, x, out=bad)


def test_read_only_and_partly_overlapping_out_rejected():
    x = np.ones(10, np.float32)
    ro = np.zeros(10, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        ops.relu(x, out=ro)
    buf = np.arange(-10, 10, dtype=np.float32)
    with pytest.raises(ValueError, match="overlap"):
        ops.relu(buf[:10], out=buf[5:15])
    np.testing.assert_array_equal(buf, np.arange(-10, 10))  # untouched


# --- max_pool2d_backward(out=) --------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1, 4, 4), (2, 3, 7, 5), (3, 17, 9, 9)])
def test_max_pool_backward_into_reused_garbage_buffer(isa, rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    _, idx = ops.max_pool2d(x, 2, return_indices=True)
    buf = np.full(shape, np.nan, dtype=np.float32)  # the kernel must clear every element
    for step in range(2):
        g = rng.standard_normal(idx.shape).astype(np.float32)
        expected = ops.max_pool2d_backward(g, idx, shape)
        r = ops.max_pool2d_backward(g, idx, shape, out=buf)
        assert r is buf or np.shares_memory(r, buf)
        np.testing.assert_array_equal(buf, expected)
        buf[...] = 123.0  # stale values from a previous step must not leak


def test_max_pool_backward_out_errors():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    _, idx = ops.max_pool2d(x, 2, return_indices=True)
    g = np.ones(idx.shape, np.float32)
    with pytest.raises(ValueError, match="shape"):
        ops.max_pool2d_backward(g, idx, x.shape, out=np.zeros((1, 1, 4, 5), np.float32))
    with pytest.raises(TypeError, match="float32"):
        ops.max_pool2d_backward(g, idx, x.shape, out=np.zeros(x.shape, np.float64))
    big = np.zeros(32, np.float32)
    g_in_big = big[:4].reshape(idx.shape)
    with pytest.raises(ValueError, match="overlap"):
        ops.max_pool2d_backward(g_in_big, idx, x.shape, out=big[:16].reshape(x.shape))


# --- layers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda ip: nn.ReLU(inplace=ip), lambda ip: nn.ReLU6(inplace=ip),
                                  lambda ip: nn.LeakyReLU(0.2, inplace=ip),
                                  lambda ip: nn.LeakyReLU(-0.5, inplace=ip)],
                         ids=["relu", "relu6", "leaky", "leaky_negative_slope"])
def test_inplace_layer_matches_out_of_place(rng, make):
    x = (rng.standard_normal((3, 5, 7)) * 4).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    plain, inplace = make(False), make(True)
    # Nothing recorded (a plain array): written in place, as torch's inplace=True.
    y_plain = plain.forward(x.copy())
    xi = x.copy()
    y_in = inplace.forward(xi)
    np.testing.assert_array_equal(y_in, y_plain)
    assert np.shares_memory(y_in, xi)
    # Recorded: the input is an op's output (a private array) of a leaf requiring grad.
    grads, outs = [], []
    for layer in (plain, inplace):
        leaf = cn.Tensor(x, requires_grad=True)
        h = ops.leaky_relu(leaf, 1.0)  # identity, into a fresh array
        y = layer(h)
        outs.append((y.numpy().copy(), np.shares_memory(y.numpy(), h.numpy())))
        g0 = g.copy()
        y.backward(g)
        np.testing.assert_array_equal(g, g0)  # the caller's gradient is never overwritten
        grads.append(leaf.grad)
    np.testing.assert_array_equal(outs[1][0], outs[0][0])
    np.testing.assert_array_equal(outs[1][0], y_plain)
    assert not outs[0][1]
    # ReLU and ReLU6 overwrite a private input when recording; LeakyReLU (whose backward
    # reads its input) never does.
    assert outs[1][1] == (not isinstance(inplace, nn.LeakyReLU))
    np.testing.assert_array_equal(grads[1], grads[0])
    assert np.abs(grads[0]).max() > 0


def _tiny_net(inplace):
    # Seeded: the finite-difference test skips probes near a kink, and which probes those
    # are must not depend on how many initialisers ran before this test.
    nn.init.manual_seed(11)
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(inplace=inplace), nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.1, inplace=inplace), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 2 * 2, 5), nn.ReLU6(inplace=inplace), nn.Linear(5, 3))


def test_inplace_sequential_matches_out_of_place_over_steps(rng):
    a = _tiny_net(False)
    b = _tiny_net(True)
    b.load_state_dict(a.state_dict())
    returned = []
    for step in range(3):
        x = rng.standard_normal((2, 2, 9, 8)).astype(np.float32)
        xa, xb = cn.Tensor(x.copy(), requires_grad=True), cn.Tensor(x.copy(), requires_grad=True)
        ya = a(xa)
        yb = b(xb)
        np.testing.assert_array_equal(yb.numpy(), ya.numpy())
        g = rng.standard_normal(ya.shape).astype(np.float32)
        g0 = g.copy()
        for m in (a, b):
            m.zero_grad()
        ya.backward(g.copy())
        yb.backward(g)
        np.testing.assert_array_equal(g, g0)  # the caller's gradient is not overwritten
        np.testing.assert_array_equal(xb.grad, xa.grad)
        for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
            np.testing.assert_array_equal(pb.grad, pa.grad, err_msg=name)
        returned.append((xb.grad, xb.grad.copy()))
    for r, snapshot in returned:  # what backward returned stays as it was
        np.testing.assert_array_equal(r, snapshot)


def test_pool_buffer_not_handed_back_through_pass_through_layer(rng):
    net = nn.Sequential(nn.Identity(), nn.MaxPool2d(2))
    results = []
    for _ in range(2):
        x = cn.Tensor(rng.standard_normal((1, 2, 4, 4)), requires_grad=True)
        net(x).backward(rng.standard_normal((1, 2, 2, 2)).astype(np.float32))
        results.append((x.grad, x.grad.copy()))
    for r, snapshot in results:
        np.testing.assert_array_equal(r, snapshot)


@pytest.mark.parametrize("inplace", [True, False])
def test_inplace_net_finite_differences(inplace):
    # Central differences of L = sum(w * net(x)) in float64 over the float32 net. eps 1e-3:
    # float32 rounding of L (|L| ~ 1, ~1e-7 relative) adds ~1e-4 to a difference, so the
    # tolerance is 1e-2 of the largest gradient; probes whose one-sided slopes disagree (a
    # ReLU kink or pool arg-max switch within eps) are skipped. Out-of-place is the control.
    rng = np.random.default_rng(7)
    net = _tiny_net(inplace)
    x = rng.standard_normal((2, 2, 9, 8)).astype(np.float32)
    w = rng.standard_normal((2, 3))

    def loss(xx):
        with cn.no_grad():
            return float(np.sum(w * net.forward(xx.copy()).astype(np.float64)))

    xt = cn.Tensor(x.copy(), requires_grad=True)
    net.zero_grad()
    net(xt).backward(w.astype(np.float32))
    gx = xt.grad
    assert np.abs(gx).max() > 0
    assert all(np.abs(p.grad).max() > 0 for p in net.parameters())
    eps = 1e-3
    tol = 1e-2 * float(np.abs(gx).max())
    checked = 0
    for flat in rng.choice(x.size, 25, replace=False):
        i = np.unravel_index(flat, x.shape)
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        fd = (loss(xp) - loss(xm)) / (2 * eps)
        # a kink inside [x-eps, x+eps] shows as one-sided slopes that disagree: skip those
        fp = (loss(xp) - loss(x)) / eps
        fm = (loss(x) - loss(xm)) / eps
        if abs(fp - fm) > tol:
            continue
        assert fd == pytest.approx(float(gx[i]), rel=1e-2, abs=tol), i
        checked += 1
    assert checked >= 15


def test_models_use_inplace_relu_and_state_dict_unchanged(rng):
    net = models.seed_mnist_net()
    relus = [m for m in net._modules.values() if isinstance(m, nn.ReLU)]
    assert relus and all(m.inplace for m in relus)
    keys = list(net.state_dict())
    plain = copy.deepcopy(net)
    for m in plain._modules.values():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    x = rng.standard_normal((3, 1, 28, 28)).astype(np.float32)
    for _ in range(2):
        net(x.copy()).backward(np.ones((3, 10), np.float32))
    assert list(net.state_dict()) == keys == list(plain.state_dict())
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, plain.state_dict()[k], err_msg=k)


@pytest.mark.parametrize("tail", [[], [nn.Identity()], [nn.Flatten()]], ids=["last", "identity", "view"])
def test_callers_grad_output_never_overwritten(rng, tail):
    # The ReLU gets the caller's array itself (or a view of it passed through): not scratch.
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(inplace=True), *tail)
    x = cn.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = net(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    g0 = g.copy()
    y.backward(g)
    np.testing.assert_array_equal(g, g0)
    assert np.abs(x.grad).max() > 0
