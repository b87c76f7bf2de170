"""interpolate, pixel_shuffle, pixel_unshuffle and channel_shuffle as engine nodes: a compiled
model runs them between arena buffers (no host node) and gives the eager output, under every
ISA, for odd sizes, non-integer scale factors and a batch smaller than the compiled one, on
one thread (small nodes) and on the library's threads (large ones)."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import _core, nn, ops

F32 = np.float32


class _Op(nn.Module):
    """One functional op (with fixed keyword arguments) as a layer."""

    def __init__(self, fn, **kw):
        super().__init__()
        self.fn, self.kw = fn, kw

    def forward(self, x):
        return self.fn(x, **self.kw)


def _check_engine(model, shape, rng, want_op, exact=True):
    """Compile (NaN-poisoned arena), compare with eager on the full and a smaller batch, and
    check the op runs as an engine node and nothing runs on the host. The layout ops run the
    eager kernels themselves (bit-equal); models with convs may sum in another order."""
    model = model.eval()
    x = rng.standard_normal(shape).astype(F32)
    compiled = cn.compile(model, shape, poison=True)
    ops_run = [n["op"] for n in compiled.nodes]
    assert not [o for o in ops_run if o.startswith("host:")], ops_run
    assert want_op in ops_run, ops_run
    want = np.asarray(model(x))
    tol = dict(rtol=0, atol=0) if exact else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(compiled(x), want, **tol)
    np.testing.assert_allclose(compiled(x[:1]), want[:1], **tol)
    return compiled


INTERPOLATE_CASES = [
    # (input shape, interpolate arguments)
    ((3, 4, 5, 7), dict(scale_factor=2, mode="nearest")),
    ((3, 4, 5, 7), dict(scale_factor=1.7, mode="nearest")),
    ((3, 4, 9, 7), dict(scale_factor=(0.6, 1.3), mode="nearest")),
    ((3, 4, 5, 7), dict(size=(11, 4), mode="nearest-exact")),
    ((3, 4, 5, 7), dict(scale_factor=2.5, mode="nearest-exact")),
    ((3, 4, 5, 7), dict(scale_factor=1.5, mode="bilinear")),
    ((3, 4, 5, 7), dict(scale_factor=1.5, mode="bilinear", recompute_scale_factor=True)),
    ((3, 4, 5, 7), dict(scale_factor=(2.3, 0.7), mode="bilinear", align_corners=True)),
    ((3, 4, 5, 7), dict(size=(9, 13), mode="bilinear", align_corners=False)),
    ((3, 4, 5, 7), dict(size=(9, 13), mode="bilinear", align_corners=True)),
    ((3, 4, 5, 7), dict(size=(5, 7), mode="bilinear")),  # the identity size
    ((3, 4, 11), dict(scale_factor=1.7, mode="linear")),  # 1-D: the height-1 image
    ((3, 4, 11), dict(size=6, mode="linear", align_corners=True)),
    ((3, 4, 11), dict(scale_factor=2, mode="nearest")),
    ((2, 8, 41, 37), dict(scale_factor=2, mode="bilinear")),  # large: on the library's threads
    ((2, 8, 41, 37), dict(scale_factor=1.5, mode="nearest")),
]


@pytest.mark.parametrize("shape,kw", INTERPOLATE_CASES, ids=[f"{s}-{k}" for s, k in INTERPOLATE_CASES])
def test_interpolate_compiles_to_an_engine_node(isa, rng, shape, kw):
    _check_engine(_Op(ops.interpolate, **kw), shape, rng, "interpolate")


@pytest.mark.parametrize("shape,r", [((3, 8, 5, 7), 2), ((2, 18, 3, 5), 3), ((2, 64, 33, 31), 2)])
def test_pixel_shuffle_compiles_to_an_engine_node(isa, rng, shape, r):
    _check_engine(nn.PixelShuffle(r), shape, rng, "pixel_shuffle")


@pytest.mark.parametrize("shape,r", [((3, 3, 6, 10), 2), ((2, 5, 9, 3), 3), ((2, 16, 66, 62), 2)])
def test_pixel_unshuffle_compiles_to_an_engine_node(isa, rng, shape, r):
    _check_engine(nn.PixelUnshuffle(r), shape, rng, "pixel_unshuffle")


@pytest.mark.parametrize("shape,groups", [((3, 6, 5, 7), 2), ((3, 12, 3, 5), 3), ((3, 6, 9), 3),
                                          ((2, 64, 31, 33), 4)])
def test_channel_shuffle_compiles_to_an_engine_node(isa, rng, shape, groups):
    _check_engine(nn.ChannelShuffle(groups), shape, rng, "channel_shuffle")


class _UNetDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.reduce = nn.Conv2d(3, 8, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.fuse = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x):
        return self.fuse(self.up(ops.relu(self.reduce(x))))


class _ShuffleBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.expand = nn.Conv2d(4, 12, 1, groups=2)
        self.shuffle = nn.ChannelShuffle(3)
        self.depthwise = nn.Conv2d(12, 12, 3, padding=1, groups=12)
        self.project = nn.Conv2d(12, 8, 1, groups=4)

    def forward(self, x):
        return self.project(self.depthwise(self.shuffle(ops.relu(self.expand(x)))))


def test_unet_decoder_and_shuffle_block_compile_host_free(isa, rng):
    nn.init.manual_seed(0)
    _check_engine(_UNetDecoder(), (2, 3, 9, 7), rng, "interpolate", exact=False)
    _check_engine(_ShuffleBlock(), (2, 4, 7, 9), rng, "channel_shuffle", exact=False)


def test_upsampling_layers_and_sub_pixel_chain(isa, rng):
    model = nn.Sequential(nn.UpsamplingNearest2d(scale_factor=2), nn.PixelUnshuffle(2), nn.PixelShuffle(2),
                          nn.UpsamplingBilinear2d(size=(13, 11)))
    compiled = _check_engine(model, (2, 3, 5, 4), rng, "interpolate")
    assert [n["op"] for n in compiled.nodes] == ["interpolate", "pixel_unshuffle", "pixel_shuffle", "interpolate"]


def test_engine_plan_writes_every_output_element_and_checks_its_arguments(rng):
    x = rng.standard_normal((2, 8, 5, 7)).astype(F32)
    plan = _core.EnginePlan([2, 8, 5, 7], "auto")
    a = plan.add_interpolate(0, (9, 13), "linear", True, (0.0, 0.0))
    b = plan.add_pixel_unshuffle(plan.add_pixel_shuffle(plan.add_channel_shuffle(a, 4), 2), 2)
    plan.finalize(plan.add_activation(b, "relu"))
    y = ops.interpolate(x, size=(9, 13), mode="bilinear", align_corners=True)
    want = np.maximum(ops.channel_shuffle(y, 4), 0)
    np.testing.assert_array_equal(plan.run(x, poison=True), want)
    np.testing.assert_array_equal(plan.run(x[:1], poison=True), want[:1])

    bad = _core.EnginePlan([2, 8, 5, 7], "auto")
    with pytest.raises(ValueError, match=r"pixel_shuffle: the 8 input channels are not divisible by .* = 9"):
        bad.add_pixel_shuffle(0, 3)
    with pytest.raises(ValueError, match=r"pixel_unshuffle: height 5 and width 7 .* downscale_factor=2"):
        bad.add_pixel_unshuffle(0, 2)
    with pytest.raises(ValueError, match=r"channel_shuffle: the 8 channels are not divisible by groups=3"):
        bad.add_channel_shuffle(0, 3)
    with pytest.raises(ValueError, match=r"channel_shuffle: the 8 channels are not divisible by groups=0"):
        bad.add_channel_shuffle(0, 0)
    with pytest.raises(ValueError, match=r"interpolate: input and output sizes must be > 0, got height 5 -> 0"):
        bad.add_interpolate(0, (0, 3), "nearest", False, (0.0, 0.0))
    with pytest.raises(ValueError, match="interpolate: mode must be"):
        bad.add_interpolate(0, (3, 3), "bicubic", False, (0.0, 0.0))
    with pytest.raises(ValueError, match="align_corners is only meaningful with the linear mode"):
        bad.add_interpolate(0, (3, 3), "nearest", True, (0.0, 0.0))
    flat = _core.EnginePlan([2, 8], "auto")
    with pytest.raises(ValueError, match=r"interpolate: input must be \(N, C, H, W\), got \(2, 8\)"):
        flat.add_interpolate(0, (3, 3), "nearest", False, (0.0, 0.0))
