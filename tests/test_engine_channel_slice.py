"""The engine's channel_slice node: x[:, a:b] of a 3-D/4-D value (ShuffleNet-v2's split,
an imported ONNX Split along channels) runs in the arena, bit-equal to eager; any other
index stays a host node."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import _core, nn


class Take(nn.Module):
    def __init__(self, index):
        super().__init__()
        self.index = index

    def forward(self, x):
        return x[self.index]


class SplitJoin(nn.Module):  # ShuffleNet-v2's unit shape: split, transform one half, join, shuffle
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c // 2, c // 2, 1)
        self.shuffle = nn.ChannelShuffle(2)

    def forward(self, x):
        half = x.shape[1] // 2
        a, b = x[:, :half], x[:, half:]  # how an imported ONNX Split along channels reads
        return self.shuffle(cn.ops.cat([a, self.conv(b)], 1))


def _hosts(compiled):
    return [n["op"] for n in compiled.nodes if n["op"].startswith("host:")]


@pytest.mark.parametrize("shape, index", [((3, 6, 4, 5), (slice(None), slice(1, 4))),
                                          ((3, 6, 4, 5), (slice(None), slice(-2, None), slice(None))),
                                          ((2, 7, 9), (slice(None), slice(0, 3)))])
def test_channel_range_is_an_engine_node_equal_to_eager(shape, index):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    model = Take(index)
    compiled = cn.compile(model, shape)
    assert _hosts(compiled) == [] and "channel_slice" in [n["op"] for n in compiled.nodes]
    for n in (1, shape[0]):
        np.testing.assert_array_equal(compiled(x[:n]), x[:n][index])


def test_split_unit_runs_entirely_on_the_engine():
    nn.init.manual_seed(0)
    model = SplitJoin(8).eval()
    x = np.random.default_rng(1).standard_normal((2, 8, 5, 5)).astype(np.float32)
    compiled = cn.compile(model, x.shape)
    assert _hosts(compiled) == []
    np.testing.assert_allclose(compiled(x), model(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("index", [(slice(None), slice(0, 6, 2)), (slice(None), 2),
                                   (slice(None), slice(None), slice(0, 2))])
def test_other_indices_stay_on_the_host(index):
    x = np.random.default_rng(2).standard_normal((2, 6, 4, 4)).astype(np.float32)
    compiled = cn.compile(Take(index), x.shape)
    assert _hosts(compiled) == ["host:getitem"]
    np.testing.assert_array_equal(compiled(x), x[index])


def test_plan_refuses_a_range_outside_the_channels():
    plan = _core.EnginePlan([1, 4, 3, 3])
    with pytest.raises(ValueError, match=r"channel_slice: channels \[3, 3 \+ 2\) are not inside the input's 4"):
        plan.add_channel_slice(0, 3, 2)
    with pytest.raises(ValueError, match="channel_slice"):
        plan.add_channel_slice(0, -1, 2)
