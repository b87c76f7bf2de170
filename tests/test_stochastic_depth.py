"""nn.StochasticDepth (torchvision.ops semantics): per-sample ('row') or per-batch ('batch')
drops scaled by 1 / (1 - p) in training, the identity in eval mode and when compiled."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops


def _x(shape=(4000, 3, 2, 2)):
    return np.random.default_rng(0).uniform(0.5, 1.5, shape).astype(np.float32)


def test_row_mode_statistics():
    x = _x()
    sd = nn.StochasticDepth(0.3, "row", seed=1).train()
    y = np.asarray(sd(x))
    ratio = y / x
    # Each sample is either dropped whole or kept whole and scaled by 1 / (1 - p).
    per_sample = ratio.reshape(len(x), -1)
    assert np.allclose(per_sample, per_sample[:, :1])
    kept = per_sample[:, 0] > 0
    np.testing.assert_allclose(per_sample[kept, 0], 1 / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.03  # 4000 samples: 4 standard deviations ~ 0.029
    assert abs(y.mean() / x.mean() - 1) < 0.05  # the expectation is kept


def test_batch_mode_drops_the_whole_batch_together():
    x = _x((8, 3, 2, 2))
    sd = nn.StochasticDepth(0.5, "batch", seed=3).train()
    outcomes = set()
    for _ in range(60):
        ratio = np.asarray(sd(x)) / x
        assert np.allclose(ratio, ratio.flat[0])  # one draw for the whole batch
        outcomes.add(round(float(ratio.flat[0]), 5))
    assert outcomes == {0.0, 2.0}


def test_eval_and_zero_p_are_the_identity():
    x = _x((2, 3, 4, 4))
    np.testing.assert_array_equal(np.asarray(nn.StochasticDepth(0.9, "row").eval()(x)), x)
    np.testing.assert_array_equal(np.asarray(nn.StochasticDepth(0.0, "batch").train()(x)), x)
    np.testing.assert_array_equal(np.asarray(nn.stochastic_depth(x, 0.5, "row", training=False)), x)


def test_p_one_drops_everything():
    x = _x((3, 2, 2, 2))
    np.testing.assert_array_equal(np.asarray(nn.StochasticDepth(1.0, "row").train()(x)), 0)


def test_seed_repeats_and_gradient_follows_the_mask():
    x = _x((16, 2, 3, 3))
    a = np.asarray(nn.StochasticDepth(0.5, "row", seed=7).train()(x))
    b = np.asarray(nn.StochasticDepth(0.5, "row", seed=7).train()(x))
    np.testing.assert_array_equal(a, b)
    t = cn.tensor(x, requires_grad=True)
    y = nn.StochasticDepth(0.5, "row", seed=7).train()(t)
    ops.sum(y).backward()
    np.testing.assert_allclose(t.grad, a / x, rtol=1e-6)  # d(x * mask)/dx = mask


def test_bad_arguments():
    with pytest.raises(ValueError, match="p"):
        nn.StochasticDepth(1.5, "row")
    with pytest.raises(ValueError, match="mode"):
        nn.StochasticDepth(0.1, "col")
    assert repr(nn.StochasticDepth(0.2, "row")) == "StochasticDepth(p=0.2, mode=row)"


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.stochastic_depth = nn.StochasticDepth(0.5, "row")

    def forward(self, x):
        return ops.add(self.stochastic_depth(self.conv(x)), x)


def test_compile_treats_it_as_the_identity():
    model = _Residual().eval()
    x = _x((2, 3, 8, 8))
    compiled = cn.compile(model, x.shape)
    ops_run = [n["op"] for n in compiled.nodes]
    assert ops_run == ["conv"], ops_run  # the residual add fused into the conv, nothing else
    with cn.no_grad():
        np.testing.assert_allclose(compiled(x), np.asarray(model(x)), rtol=1e-5, atol=1e-5)
