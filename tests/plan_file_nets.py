"""Small networks that together use every op a plan file holds (tests and the fuzz seed
corpus, tools/plan_fuzz_corpus.py): name -> (builder, input shape); and a quantized one for
the int8 ops (quantized())."""
import numpy as np

import cnnnative as cn
from cnnnative import nn


def _bn(c, seed):
    m = nn.BatchNorm2d(c)
    rng = np.random.default_rng(seed)
    m.running_mean[...] = rng.uniform(-0.5, 0.5, c)
    m.running_var[...] = rng.uniform(0.5, 2, c)
    m.weight.data[...] = rng.uniform(0.5, 1.5, c)
    m.bias.data[...] = rng.uniform(-0.5, 0.5, c)
    return m


class Residual(nn.Module):
    """conv+BN (folded), residual add fused into the second conv, max/avg pools, PReLU,
    global pool, linear, softmax."""

    def __init__(self, c=4):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1, bias=False)
        self.bn = _bn(c, 1)
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.pw = nn.Conv2d(c, c, 1)
        self.prelu = nn.PReLU(c)
        self.pool = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
        self.avg = nn.AvgPool2d(2, count_include_pad=False)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, 5)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        y = cn.ops.relu(self.bn(self.stem(x)))
        y = cn.ops.relu(cn.ops.add(self.conv(y), y))
        y = self.prelu(self.pw(y))  # prelu fuses into the conv before it
        y = self.avg(self.pool(y))
        return self.softmax(self.fc(cn.ops.flatten(self.gap(y), 1)))


class Layout(nn.Module):
    """concat, channel slice, channel shuffle, pixel (un)shuffle, interpolate, an unfolded
    BatchNorm (channel affine), standalone activations, squeeze-and-excitation."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 4, 1)
        self.b = nn.Conv2d(2, 4, 3, padding=1, groups=2)
        self.shuffle = nn.ChannelShuffle(2)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.unshuffle = nn.PixelUnshuffle(2)
        self.ps = nn.PixelShuffle(2)
        self.bn = _bn(8, 2)
        self.se = nn.SqueezeExcitation(8, 2)
        self.act = nn.Hardswish()
        self.near = nn.Upsample(size=(5, 7), mode="nearest")

    def forward(self, x):
        y = cn.ops.cat([self.a(x), self.b(x)], dim=1)
        y = self.shuffle(y)
        y = self.up(y[:, 2:6])
        y = self.ps(self.unshuffle(y))
        y = self.act(self.bn(cn.ops.cat([y, y], dim=1)))
        y = self.se(y)
        return self.near(y)


class Transposed(nn.Module):
    """conv_transpose (+ bias, activation), a dilated strided conv, a standalone add and
    a standalone activation (after pools: nothing to fuse them into)."""

    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)
        self.conv = nn.Conv2d(4, 2, 3, stride=2, dilation=2, padding=2)
        self.pool = nn.MaxPool2d(3, 1, 1)

    def forward(self, x):
        y = self.conv(cn.ops.relu(self.up(x)))
        return cn.ops.sigmoid(self.pool(cn.ops.add(self.pool(y), y)))


class Sequence(nn.Module):
    """conv1d on (N, C, L): the plan's input is the (N, C, 1, L) image."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv1d(4, 2, 1)

    def forward(self, x):
        return self.conv2(cn.ops.relu(self.conv(x)))


def mlp():
    return nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.Linear(8, 3))


NETS = {
    "residual": (Residual, (2, 3, 12, 12)),
    "layout": (Layout, (2, 2, 6, 6)),
    "transposed": (Transposed, (1, 3, 5, 5)),
    "sequence": (Sequence, (2, 3, 9)),
    "mlp": (mlp, (3, 6)),
}


def build(name):
    nn.init.manual_seed(0)
    make, shape = NETS[name]
    return make().eval(), shape


class Int8Net(nn.Module):
    """What cnnnative.quantize lowers to int8 nodes: quantize, conv_int8 (a residual in
    uint8, ReLU6, SiLU, hardswish, grouped, stride 2), max_pool_u8, avg_pool_u8, concat_u8,
    global_avg_pool_u8, linear_int8, dequantize."""

    def __init__(self, c=8):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.group = nn.Conv2d(c, c, 3, stride=2, padding=1, groups=2)
        self.pw = nn.Conv2d(c, c, 1)
        self.pw2 = nn.Conv2d(c, c, 1)
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AvgPool2d(3, 1, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * c, 5)

    def forward(self, x):
        y = cn.ops.relu(self.stem(x))
        y = cn.ops.relu(cn.ops.add(self.conv(y), y))
        a = cn.ops.relu6(self.group(y))
        a = cn.ops.hardswish(self.pw2(cn.ops.silu(self.pw(a))))
        y = cn.ops.cat([self.pool(y), self.avg(a)], dim=1)
        return self.fc(cn.ops.flatten(self.gap(y), 1))


def quantized(per_channel=True, fp32_layers=()):
    """Int8Net quantized for a (2, 3, 12, 12) input, exportable; and that input's shape."""
    nn.init.manual_seed(0)
    shape = (2, 3, 12, 12)
    calib = np.random.default_rng(3).standard_normal((8, *shape[1:])).astype(np.float32)
    return cn.quantize(Int8Net().eval(), calib, input_shape=shape, per_channel=per_channel, fp32_layers=fp32_layers,
                       exportable=True), shape
