"""No silent wrong results (issue 11, item 6): integer arguments reject floats, bools and
strings (PyTorch's rule) instead of truncating them; hyper-parameters must be finite and in
range; dropout masks must be 0/1; CompiledModel's out= is written or refused; IDX sizes
cannot wrap."""
import math
import struct

import numpy as np
import pytest

import cnnnative
from cnnnative import nn, ops, optim
from cnnnative.data.idx import read_idx

x4 = np.ones((1, 4, 6, 6), np.float32)


def _trainer(**kw):
    model = cnnnative.models.build("digits_net")
    return cnnnative.Trainer(model, optim.SGD(model, lr=0.1), quiet=True, **kw)


def _digits():
    rng = np.random.default_rng(0)
    return rng.random((8, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, 8)
w4 = np.ones((4, 2, 3, 3), np.float32)


@pytest.mark.parametrize("call,name", [
    (lambda: ops.conv2d(x4, w4, groups=1.5), "groups"),
    (lambda: ops.conv2d(x4, w4, groups=2.0), "groups"),
    (lambda: ops.conv2d(x4, w4[:, :1].repeat(1, 1), groups=True), "groups"),
    (lambda: ops.conv2d(x4, np.ones((4, 4, 3, 3), np.float32), stride=(1.5, 1)), "stride"),
    (lambda: ops.conv2d(x4, np.ones((4, 4, 3, 3), np.float32), padding=(1, 0.5)), "padding"),
    (lambda: ops.max_pool2d(x4, (2, 2.5)), "kernel_size"),
    (lambda: ops.softmax(np.ones((2, 3), np.float32), dim="1"), "dim"),
    (lambda: ops.softmax(np.ones((2, 3), np.float32), dim=1.0), "dim"),
    (lambda: ops.log_softmax(np.ones((2, 3), np.float32), dim=0.5), "dim"),
    (lambda: nn.Conv2d(3, out_channels=1.5, kernel_size=3), "out_channels"),
    (lambda: nn.Conv2d(3.0, 4, 3), "in_channels"),
    (lambda: nn.Conv2d(4, 4, 3, groups=2.0), "groups"),
    (lambda: nn.Conv2d(3, 4, (3, 3.5)), "kernel_size"),
    (lambda: nn.Conv2d(3, 4, 3, dilation=(1, True)), "dilation"),
    (lambda: nn.Linear(4.5, 2), "in_features"),
    (lambda: nn.BatchNorm2d(True), "num_features"),
    (lambda: nn.BatchNorm2d("4"), "num_features"),
    (lambda: nn.GroupNorm(2.0, 4), "num_groups"),
    (lambda: nn.LayerNorm(4.0), "normalized_shape"),
    (lambda: nn.LayerNorm("4"), "normalized_shape"),
    (lambda: nn.Softmax(dim=1.5), "dim"),
    (lambda: optim.StepLR(optim.SGD([nn.Parameter(np.zeros(2, np.float32))]), step_size=1.5), "step_size"),
    (lambda: optim.CosineAnnealingLR(optim.SGD([nn.Parameter(np.zeros(2, np.float32))]), T_max=2.0), "T_max"),
    (lambda: ops.dropout(x4, 0.5, seed=1.5), "seed"),
    (lambda: ops.set_dropout_seed(2.5), "seed"),
    (lambda: nn.Dropout(0.5, seed=1.5), "seed"),
    (lambda: nn.init.manual_seed(0.5), "seed"),
    (lambda: _trainer(seed=1.5), "seed"),
    (lambda: _trainer().fit(_digits(), epochs=1.5), "epochs"),
    (lambda: _trainer().fit(_digits(), batch_size=32.5), "batch_size"),
    (lambda: _trainer().evaluate(_digits(), batch_size=8.0), "batch_size"),
    (lambda: _trainer().predict(_digits()[0], batch_size=8.0), "batch_size"),
])
def test_non_integer_arguments_are_a_type_error(call, name):
    with pytest.raises(TypeError, match=name):
        call()


@pytest.mark.parametrize("kw", [{"epochs": -1}, {"batch_size": 0}])
def test_fit_counts_must_be_in_range(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        _trainer().fit(_digits(), **kw)


def test_numpy_integers_are_accepted():
    conv = nn.Conv2d(np.int64(4), np.int32(4), np.int64(3), groups=np.int64(2), padding=(np.int8(1), 1))
    assert (conv.in_channels, conv.groups, conv.padding[0]) == (4, 2, 1)
    assert ops.softmax(np.ones((2, 3), np.float32), dim=np.int64(1)).shape == (2, 3)
    y = ops.conv2d(x4, w4, groups=np.int64(2))
    np.testing.assert_array_equal(y, ops.conv2d(x4, w4, groups=2))


@pytest.mark.parametrize("call,err,match", [
    (lambda: nn.BatchNorm2d(4, momentum=math.nan), ValueError, "momentum must be finite"),
    (lambda: nn.BatchNorm2d(4, momentum=1.5), ValueError, "momentum must be <= 1"),
    (lambda: nn.BatchNorm2d(4, momentum=-0.1), ValueError, "momentum must be >= 0"),
    (lambda: nn.BatchNorm1d(4, eps=math.inf), ValueError, "eps must be finite"),
    (lambda: nn.InstanceNorm2d(4, momentum=math.nan), ValueError, "momentum"),
    (lambda: nn.LayerNorm(4, eps=-1.0), ValueError, "eps"),
    (lambda: optim.SGD([nn.Parameter(np.zeros(2, np.float32))], lr=math.nan), ValueError, "lr must be finite"),
    (lambda: optim.SGD([nn.Parameter(np.zeros(2, np.float32))], lr=math.inf), ValueError, "lr must be finite"),
    (lambda: optim.SGD([nn.Parameter(np.zeros(2, np.float32))], lr=-0.1), ValueError, "lr must be >= 0"),
    (lambda: optim.SGD([nn.Parameter(np.zeros(2, np.float32))], momentum=math.nan), ValueError, "momentum"),
    (lambda: optim.SGD([nn.Parameter(np.zeros(2, np.float32))], weight_decay=math.inf), ValueError, "weight_decay"),
    (lambda: optim.SGD([nn.Parameter(np.zeros(2, np.float32))], max_grad_norm=math.nan), ValueError, "max_grad_norm"),
    (lambda: optim.SGD([nn.Parameter(np.zeros(2, np.float32))], max_grad_norm=0), ValueError, "max_grad_norm"),
    (lambda: optim.SGD([nn.Parameter(np.zeros(2, np.float32))], lr="0.1"), TypeError, "lr"),
    (lambda: optim.StepLR(optim.SGD([nn.Parameter(np.zeros(2, np.float32))]), 1, gamma=math.nan), ValueError,
     "gamma"),
])
def test_hyper_parameters_must_be_finite_and_in_range(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_batchnorm_momentum_none_and_bounds_still_work():
    assert nn.BatchNorm2d(4, momentum=None).momentum is None
    assert nn.BatchNorm2d(4, momentum=0).momentum == 0.0
    assert nn.BatchNorm2d(4, momentum=1).momentum == 1.0


def test_sgd_load_state_dict_rejects_nan_lr_and_changes_nothing():
    p = nn.Parameter(np.zeros(2, np.float32))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    state = opt.state_dict()
    state["param_groups"][0]["lr"] = math.nan
    with pytest.raises(ValueError, match="lr must be finite"):
        opt.load_state_dict(state)
    assert opt.param_groups[0]["lr"] == 0.1


def test_dropout_backward_rejects_masks_that_are_not_0_or_1():
    g = np.ones(4, np.float32)
    with pytest.raises(ValueError, match=r"mask values must be 0 or 1.*-1, 256"):
        ops.dropout_backward(g, [1, 256, -1, 2], 0.5)  # was silently [2, 0, 2, 2]
    with pytest.raises(ValueError, match="mask values"):
        ops.dropout_backward(g, np.array([1, 0, 2, 1], np.uint8), 0.5)
    with pytest.raises(TypeError, match="mask"):
        ops.dropout_backward(g, np.array([1.0, 0.0, 1.0, 0.5]), 0.5)
    expect = np.array([2, 0, 2, 2], np.float32)
    np.testing.assert_array_equal(ops.dropout_backward(g, np.array([1, 0, 1, 1], np.uint8), 0.5), expect)
    np.testing.assert_array_equal(ops.dropout_backward(g, np.array([True, False, True, True]), 0.5), expect)
    np.testing.assert_array_equal(ops.dropout_backward(g, [1, 0, 1, 1], 0.5), expect)
    y, mask = ops.dropout(np.ones(64, np.float32), 0.5, seed=3, return_mask=True)
    np.testing.assert_array_equal(ops.dropout_backward(np.ones(64, np.float32), mask, 0.5), y)


def _compiled():
    nn.init.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    return cnnnative.compile(m, (4, 1, 6, 6)), np.random.default_rng(0).standard_normal((4, 1, 6, 6)).astype(np.float32)


def test_compiled_model_out_is_written_or_refused():
    cm, x = _compiled()
    ref = cm(x)
    out = np.full((4, 3), np.nan, np.float32)
    assert cm(x, out=out) is out
    np.testing.assert_array_equal(out, ref)
    for bad, match in [(np.zeros((4, 3), np.float64), "float32"), (np.zeros((4, 4), np.float32), r"shape \(4, 4\)"),
                       (np.zeros((3, 4), np.float32).T, "C-contiguous"), ([[0.0] * 3] * 4, "numpy"),
                       (np.zeros((2, 3), np.float32), "shape")]:
        with pytest.raises(ValueError, match="out"):
            cm(x, out=bad)
        with pytest.raises(ValueError, match=match):
            cm(x, out=bad)
    small = np.zeros((2, 3), np.float32)  # a smaller batch writes a smaller out
    assert cm(x[:2], out=small) is small
    np.testing.assert_array_equal(small, ref[:2])


def test_engine_binding_refuses_an_out_it_would_have_to_convert():
    """The engine's own run(out=) (below CompiledModel's check) writes the caller's array
    or refuses it: a float64 out used to be converted into a copy that was then dropped."""
    cm, x = _compiled()
    plan = cm._plan
    with pytest.raises(TypeError, match="float32"):
        plan.run(x, out=np.zeros((4, 3), np.float64))
    with pytest.raises(ValueError, match="overlap"):
        plan.run(x, out=x.reshape(-1)[:12].reshape(4, 3))
    out = np.zeros((4, 3), np.float32)
    assert plan.run(x, out=out) is out


def test_idx_dims_whose_product_wraps_2_to_64_are_rejected(tmp_path):
    path = tmp_path / "wrap.idx"
    path.write_bytes(bytes([0, 0, 8, 4]) + struct.pack(">4i", *(65536,) * 4))  # 2^64 elements, 0 bytes
    with pytest.raises(ValueError, match=r"wrap.idx: IDX dims .* need 18446744073709551616 data bytes"):
        read_idx(str(path))


@pytest.mark.parametrize("momentum", [math.nan, math.inf, -0.5, 1.5])
def test_functional_batch_norm_momentum_must_be_in_0_1(momentum):
    x = np.ones((2, 3, 2, 2), np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    with pytest.raises(ValueError, match="momentum"):
        ops.batch_norm(x, rm, rv, training=True, momentum=momentum)
    np.testing.assert_array_equal(rm, 0)  # running statistics untouched
