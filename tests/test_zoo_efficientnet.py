"""EfficientNet B0-B3 (cnnnative.models.efficientnet): torchvision's state_dict layout (the
committed tests/data/zoo_layouts/*.json, written by tools/torchvision_reference.py), output
shapes, compile == eager with the SE gates on the engine, a training step and weights=.
The outputs against torchvision's: tools/check_zoo_torchvision.py (offline)."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import models, nn
from cnnnative.models import efficientnet
from zoo_mobile_common import assert_layout, assert_trains, assert_weights_round_trip, engine_nodes

NAMES = ["efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3"]


@pytest.fixture(scope="module")
def b0():
    nn.init.manual_seed(0)
    return models.efficientnet_b0(num_classes=10)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_layout_is_torchvisions(name):
    with nn.init.skip_random_init():  # the layout only
        assert_layout(models.MODELS[name](), name)
    assert name in models.__all__


def test_torchvision_hyperparameters():
    dropouts = {"efficientnet_b0": 0.2, "efficientnet_b1": 0.2, "efficientnet_b2": 0.3, "efficientnet_b3": 0.3}
    for name, p in dropouts.items():
        with nn.init.skip_random_init():
            model = models.MODELS[name]()
        assert model.classifier[0].p == p
        # Stochastic depth grows linearly over the blocks: 0.2 * i / number of blocks.
        blocks = [m for m in model.modules() if isinstance(m, efficientnet.MBConv)]
        probs = [b.stochastic_depth.p for b in blocks]
        np.testing.assert_allclose(probs, [0.2 * i / len(blocks) for i in range(len(blocks))])
        assert all(b.stochastic_depth.mode == "row" for b in blocks)
        # torchvision's B0-B4 keep BatchNorm2d's defaults (B5-B7 would use eps 1e-3, momentum 0.01).
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        assert {(m.eps, m.momentum) for m in bns} == {(1e-5, 0.1)}
    assert efficientnet.make_divisible(32 * 1.1) == 32 and efficientnet.make_divisible(16 * 1.2) == 24


@pytest.mark.parametrize("size,batch", [(32, 1), (45, 2)])
def test_output_shapes(b0, size, batch):
    x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
    with cn.no_grad():
        assert np.asarray(b0.eval()(x)).shape == (batch, 10)
    assert b0.output_shape((3, size, size)) == (10,)


def test_in_channels_and_a_wider_variant():
    nn.init.manual_seed(1)
    model = models.efficientnet_b2(num_classes=4, in_channels=1).eval()
    with cn.no_grad():
        assert np.asarray(model(np.zeros((2, 1, 33, 40), np.float32))).shape == (2, 4)


def test_compiles_on_the_engine_and_matches_eager(b0):
    nodes = engine_nodes(b0, (2, 3, 48, 48))
    # 16 MBConv blocks: each SE gate one channel_scale after a sigmoid-epilogue 1x1 conv of
    # the pooled 1x1 map (run as a linear node, as is SE fc1 with SiLU); SiLU in the conv
    # epilogues (stem, expand, depthwise, head); residual adds fused.
    assert nodes.count(("channel_scale", "none")) == 16
    assert nodes.count(("linear", "sigmoid")) == 16 and nodes.count(("linear", "silu")) == 16
    assert nodes.count(("conv", "silu")) == 33
    assert "add" not in {op for op, _ in nodes}


def test_one_training_step(b0):
    assert_trains(b0, (2, 3, 32, 32), 10)


def test_weights_path_round_trip(tmp_path):
    assert_weights_round_trip(models.efficientnet_b0, tmp_path, (1, 3, 32, 32), num_classes=10)


