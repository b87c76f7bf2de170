"""Batch-1 plans lay a concat's parts out inside its output so their producers write in place
(engine/concat_in_place.cc). Every compiled graph here must match eager mode (float32
tolerance) with the arena NaN-poisoned: a part overwritten, or a slice read before it is
written, shows up as NaN. Covered: fire modules (the
SqueezeNet case), parts read again by later nodes or joined twice (copied, not in place), the
plan input as a part, a concat as the plan output, nested concats, a squeeze-and-excitation
scale in place on a concat, odd channel counts (slices not 64-byte aligned), batch 2 plans,
NaN inputs; DenseNet's chains of concats (each joins the previous one's parts and one more)
and the chains the rule must leave alone; under every ISA."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops


class Fire(nn.Module):
    def __init__(self, cin, squeeze, expand):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.e1 = nn.Conv2d(squeeze, expand, 1)
        self.e3 = nn.Conv2d(squeeze, expand, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        s = self.relu(self.squeeze(x))
        return ops.cat([self.relu(self.e1(s)), self.relu(self.e3(s))], 1)


class Fires(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.a = Fire(3, 8, c)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.b = Fire(2 * c, 8, c)
        self.head = nn.Conv2d(2 * c, 5, 1)

    def forward(self, x):
        return self.head(self.b(self.pool(self.a(x))))


class Reused(nn.Module):
    """A part read after the concat, a part joined twice, the input as a part."""
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.c2 = nn.Conv2d(3, 16, 1)
        self.mix = nn.Conv2d(16 + 16 + 3 + 16, 16, 1)

    def forward(self, x):
        a, b = self.c1(x), self.c2(x)
        y = self.mix(ops.cat([a, b, x, b], 1))
        return ops.add(y, a)


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.ModuleList([nn.Conv2d(3, k, 1) for k in (16, 16, 5, 7)])

    def forward(self, x):
        inner = ops.cat([self.c[0](x), self.c[1](x)], 1)
        return ops.cat([inner, self.c[2](x), self.c[3](x)], 1)  # the plan output is a concat


class ScaledConcat(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(3, 16, 1)
        self.se = nn.SqueezeExcitation(32, 8)
        self.out = nn.Conv2d(32, 8, 1)

    def forward(self, x):
        return self.out(self.se(ops.cat([self.c1(x), self.c2(x)], 1)))


class DenseBlock(nn.Module):
    """DenseNet's block: layer j reads cat(x0, y1, ..., y_{j-1}) (pre-activation BN-ReLU-conv)."""
    def __init__(self, cin=16, growth=16, layers=4, read_x0_after=False, branch=False):
        super().__init__()
        self.layers = nn.ModuleList([
            nn.Sequential(nn.BatchNorm2d(cin + j * growth), nn.ReLU(), nn.Conv2d(cin + j * growth, growth, 3, padding=1))
            for j in range(layers)])
        self.stem = nn.Conv2d(3, cin, 3, padding=1)
        self.read_x0_after, self.branch = read_x0_after, branch
        self.tail = nn.Sequential(nn.BatchNorm2d(cin + layers * growth), nn.ReLU())

    def forward(self, x):
        features = [self.stem(x)]
        for layer in self.layers:
            features.append(layer(ops.cat(features, 1)))
        out = self.tail(ops.cat(features, 1))
        if self.branch:  # a second concat extending the same prefix: not one chain
            out = ops.add(out, ops.cat(features[:-1] + [features[1]], 1))
        if self.read_x0_after:  # a part read after the chain's last concat
            out = ops.add(out, ops.cat([features[0]] * (len(features)), 1))
        return out


def _in_place(compiled):
    return [n["in_place"] for n in compiled.nodes if n["op"] == "concat"]


def _compiled_and_checked(model, shape, rng, nan=False):
    """model compiled with the arena NaN-poisoned and checked against eager mode (and a second
    run): (outputs, compiled model)."""
    model.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    if nan:
        x[0, 0, 2, 3] = np.nan
    with cn.no_grad():
        want = np.asarray(model(x))
    compiled = cn.compile(model, shape, poison=True)
    assert not [n["op"] for n in compiled.nodes if n["op"].startswith("host:")]  # all in the engine
    got = np.asarray(compiled(x))
    scale = max(1.0, float(np.nanmax(np.abs(want))))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale)  # NaN where eager has NaN
    np.testing.assert_array_equal(np.asarray(compiled(x)), got)  # a second run: same bits
    return got, compiled


def _check(model, shape, rng, nan=False):
    return _compiled_and_checked(model, shape, rng, nan)[0]


@pytest.mark.parametrize("size", [(16, 16), (13, 11), (9, 20)], ids=str)
def test_fire_modules_in_place_equal_eager(isa, rng, size):
    _check(Fires(), (1, 3) + size, rng)
    _check(Fires(c=7), (1, 3) + size, rng)  # 7-channel parts: slices not 64-byte aligned


def test_reused_parts_input_part_and_batch_two(isa, rng):
    _check(Reused(), (1, 3, 10, 12), rng)
    _check(Reused(), (2, 3, 10, 12), rng)
    _check(Fires(), (2, 3, 15, 15), rng)


def test_nested_concat_and_concat_output(isa, rng):
    _check(Nested(), (1, 3, 8, 8), rng)


def test_scale_in_place_on_a_concat(isa, rng):
    _check(ScaledConcat(), (1, 3, 9, 9), rng)


def test_nan_reaches_the_concat_slices(isa, rng):
    got = _check(Fires(), (1, 3, 12, 12), rng, nan=True)
    assert np.isnan(got).any() and not np.isnan(got).all()


@pytest.mark.parametrize("size", [(16, 16), (13, 11)], ids=str)
def test_dense_block_chain_in_place_equals_eager(isa, rng, size):
    _, compiled = _compiled_and_checked(DenseBlock(), (1, 3) + size, rng)
    assert all(_in_place(compiled))  # every concat of the chain copies nothing
    _, compiled = _compiled_and_checked(DenseBlock(), (2, 3) + size, rng)  # batch 2: copied per sample
    assert not any(_in_place(compiled))


def test_dense_block_chains_left_alone(isa, rng):
    for model in (DenseBlock(cin=16, growth=7),  # 7-channel parts of 13x11: slices not aligned
                  DenseBlock(read_x0_after=True),  # a part read after the chain
                  DenseBlock(branch=True)):  # two concats extend one prefix
        _, compiled = _compiled_and_checked(model, (1, 3, 13, 11), rng)
        assert not any(_in_place(compiled))


def test_dense_block_nan_reaches_every_layer(isa, rng):
    got = _check(DenseBlock(), (1, 3, 12, 12), rng, nan=True)
    assert np.isnan(got).any() and not np.isnan(got).all()
