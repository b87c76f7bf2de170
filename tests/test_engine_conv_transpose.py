"""Transposed convolutions as engine nodes: `compile` runs nn.ConvTranspose2d/1d on the
engine's conv_transpose node (the eager op's C++ path into the arena, then bias and the
fused activation per plane), folds a following BatchNorm into its weights per OUTPUT
channel (dim 1 of the (C_in, C_out/groups, kH, kW) weight, per group) and gives the
eager output, under every ISA this CPU has, for batches up to the compiled one.
"""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import _core, nn


def _eager(model, x):
    model.eval()
    with cn.no_grad():
        return np.asarray(model(x))


def _ops(compiled):
    return [(n["op"], n["activation"]) for n in compiled.nodes]


def _randomize_bn(bn, rng):
    c = bn.running_mean.shape[0]
    bn.running_mean[...] = rng.standard_normal(c).astype(np.float32)
    bn.running_var[...] = rng.uniform(0.5, 2.0, c).astype(np.float32)
    bn.weight.data[...] = rng.uniform(-1.5, 1.5, c).astype(np.float32)
    bn.bias.data[...] = rng.standard_normal(c).astype(np.float32)
    return bn


# (label, input shape, ConvTranspose2d kwargs). The last ones have output_padding >= stride
# (allowed below the dilation): the node zero-extends its input in its arena scratch.
CASES = [
    ("stride1_pad1", (2, 4, 5, 6), dict(in_channels=4, out_channels=6, kernel_size=3, padding=1)),
    ("stride2_outpad1", (3, 4, 5, 4), dict(in_channels=4, out_channels=5, kernel_size=3, stride=2, padding=1,
                                           output_padding=1)),
    ("dcgan_k4s2", (2, 8, 4, 4), dict(in_channels=8, out_channels=4, kernel_size=4, stride=2, padding=1)),
    ("groups_dilation_nobias", (2, 6, 5, 7), dict(in_channels=6, out_channels=4, kernel_size=3, groups=2,
                                                  dilation=2, padding=1, bias=False)),
    ("rect", (2, 3, 4, 5), dict(in_channels=3, out_channels=7, kernel_size=(3, 2), stride=(2, 3),
                                padding=(1, 0), output_padding=(1, 2))),
    ("outpad_over_stride", (2, 4, 5, 6), dict(in_channels=4, out_channels=3, kernel_size=3, dilation=3,
                                              output_padding=2, padding=1)),
]
ACTS = {"none": None, "relu": nn.ReLU, "silu": nn.SiLU}


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_conv_transpose2d_compiles_to_one_fused_node(case, act, isa, rng):
    label, shape, kwargs = case
    nn.init.manual_seed(1)
    layers = [nn.ConvTranspose2d(**kwargs)] + ([ACTS[act]()] if ACTS[act] else [])
    model = nn.Sequential(*layers)
    x = rng.standard_normal(shape).astype(np.float32)
    expected = _eager(model, x)
    compiled = cn.compile(model, shape, poison=True)
    assert _ops(compiled) == [("conv_transpose", act)]
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-5, atol=1e-6)
    # a smaller batch than planned
    np.testing.assert_allclose(compiled(x[:1]), expected[:1], rtol=1e-5, atol=1e-6)


def test_conv_transpose1d_runs_at_height_one(isa, rng):
    nn.init.manual_seed(2)
    model = nn.Sequential(nn.ConvTranspose1d(4, 6, 4, stride=2, padding=1, output_padding=1), nn.ReLU(),
                          nn.ConvTranspose1d(6, 3, 3, dilation=2, groups=3), nn.SiLU())
    x = rng.standard_normal((3, 4, 9)).astype(np.float32)
    expected = _eager(model, x)
    compiled = cn.compile(model, (3, 4, 9), poison=True)
    assert _ops(compiled) == [("conv_transpose", "relu"), ("conv_transpose", "silu")]
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(compiled(x[:2]), expected[:2], rtol=1e-5, atol=1e-6)


def _dcgan(rng, groups=1):
    """The DCGAN generator's shape: ConvTranspose2d + BatchNorm2d + ReLU, then Tanh."""
    nn.init.manual_seed(3)
    return nn.Sequential(
        nn.ConvTranspose2d(8, 16, 4, 1, 0, bias=False), _randomize_bn(nn.BatchNorm2d(16), rng), nn.ReLU(),
        nn.ConvTranspose2d(16, 8, 4, 2, 1, bias=False, groups=groups), _randomize_bn(nn.BatchNorm2d(8), rng),
        nn.ReLU(),
        nn.ConvTranspose2d(8, 3, 4, 2, 1), nn.Tanh())


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_dcgan_stack_folds_batchnorm_per_output_channel(groups, isa, rng):
    model = _dcgan(rng, groups)
    x = rng.standard_normal((4, 8, 1, 1)).astype(np.float32)
    expected = _eager(model, x)
    compiled = cn.compile(model, (4, 8, 1, 1), poison=True)
    # BatchNorm folded into the weights (no channel_affine), ReLU fused; Tanh is a host node
    assert _ops(compiled) == [("conv_transpose", "relu"), ("conv_transpose", "relu"), ("conv_transpose", "none"),
                              ("host:tanh", "none")]
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(compiled(x[:3]), expected[:3], rtol=1e-4, atol=1e-5)


def test_dcgan_stack_unfused_keeps_batchnorm_as_its_own_node(rng):
    model = _dcgan(rng, groups=2)
    x = rng.standard_normal((2, 8, 1, 1)).astype(np.float32)
    compiled = cn.compile(model, (2, 8, 1, 1), fuse=False, poison=True)
    ops = [op for op, _ in _ops(compiled)]
    assert ops.count("conv_transpose") == 3 and "channel_affine" in ops
    np.testing.assert_allclose(compiled(x), _eager(model, x), rtol=1e-4, atol=1e-5)


def test_grouped_batchnorm_fold_scales_output_channels_not_input_channels(rng):
    """Regression guard for the fold: with groups and C_in != C_out, scaling dim 0 (as for
    conv2d) would be wrong or fail; every output channel has its own scale here."""
    nn.init.manual_seed(4)
    model = nn.Sequential(nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2), _randomize_bn(nn.BatchNorm2d(6), rng),
                          nn.SiLU())
    x = rng.standard_normal((2, 4, 3, 5)).astype(np.float32)
    compiled = cn.compile(model, (2, 4, 3, 5), poison=True)
    assert _ops(compiled) == [("conv_transpose", "silu")]
    np.testing.assert_allclose(compiled(x), _eager(model, x), rtol=1e-4, atol=1e-5)


def test_plan_builder_rejects_bad_conv_transpose_arguments():
    plan = _core.EnginePlan([1, 4, 5, 5])
    w = np.zeros((3, 2, 3, 3), np.float32)  # weight.shape[0] must be the input's 4 channels
    with pytest.raises(ValueError, match=r"conv_transpose weight \(3, 2, 3, 3\).*\(1, 4, 5, 5\)"):
        plan.add_conv_transpose(0, w, None, (1, 1), (0, 0), (0, 0), (1, 1), 1)
    w = np.zeros((4, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="output_padding 2x0 must be smaller than either stride or dilation"):
        plan.add_conv_transpose(0, w, None, (2, 2), (0, 0), (2, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="bias must have 2 values"):
        plan.add_conv_transpose(0, w, np.zeros(3, np.float32), (1, 1), (0, 0), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="output size would be"):
        plan.add_conv_transpose(0, w, None, (1, 1), (4, 4), (0, 0), (1, 1), 1)


def test_prelu_after_conv_transpose_fuses_with_per_channel_slopes(isa, rng):
    nn.init.manual_seed(5)
    prelu = nn.PReLU(6)
    prelu.weight.data[...] = rng.uniform(-1, 1, 6).astype(np.float32)
    model = nn.Sequential(nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1), prelu)
    x = rng.standard_normal((2, 4, 4, 5)).astype(np.float32)
    compiled = cn.compile(model, (2, 4, 4, 5), poison=True)
    assert _ops(compiled) == [("conv_transpose", "prelu")]
    np.testing.assert_allclose(compiled(x), _eager(model, x), rtol=1e-5, atol=1e-6)


def test_plan_builder_size_overflow_is_a_clear_error():
    plan = _core.EnginePlan([1, 4, 5, 5])
    w = np.zeros((4, 2, 3, 3), np.float32)
    with pytest.raises(OverflowError, match="conv_transpose output size"):
        plan.add_conv_transpose(0, w, None, (2 ** 62, 1), (0, 0), (0, 0), (1, 1), 1)
    with pytest.raises(OverflowError, match="conv_transpose output size"):
        plan.add_conv_transpose(0, w, None, (1, 1), (2 ** 62, 0), (0, 0), (1, 1), 1)
