"""RegNetY-400MF, RegNetY-800MF, RegNetX-400MF (cnnnative.models.regnet): torchvision's
state_dict layout (committed tests/data/zoo_layouts/*.json), the stage parameters from
(depth, w_0, w_a, w_m, group width), output shapes, compile == eager, a training step and
weights=. The outputs against torchvision's: tools/check_zoo_torchvision.py (offline)."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import models, nn
from cnnnative.models.regnet import BlockParams
from zoo_mobile_common import assert_layout, assert_trains, assert_weights_round_trip, engine_nodes

NAMES = ["regnet_y_400mf", "regnet_y_800mf", "regnet_x_400mf"]


@pytest.fixture(scope="module")
def y400():
    nn.init.manual_seed(0)
    return models.regnet_y_400mf(num_classes=10)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_layout_is_torchvisions(name):
    with nn.init.skip_random_init():  # the layout only
        assert_layout(models.MODELS[name](), name)
    assert name in models.__all__


def test_block_params():
    # RegNetY-400MF's stages (the paper's and torchvision's numbers).
    p = BlockParams.from_init_params(depth=16, w_0=48, w_a=27.89, w_m=2.09, group_width=8, se_ratio=0.25)
    assert p.depths == [1, 3, 6, 6]
    assert p.widths == [48, 104, 208, 440]
    assert p.group_widths == [8, 8, 8, 8] and p.strides == [2, 2, 2, 2] and p.se_ratio == 0.25
    p = BlockParams.from_init_params(depth=22, w_0=24, w_a=24.48, w_m=2.54, group_width=16)
    assert p.depths == [1, 2, 7, 12] and p.widths == [32, 64, 160, 400] and p.se_ratio is None
    with pytest.raises(ValueError, match="w_0"):
        BlockParams.from_init_params(depth=4, w_0=20, w_a=10.0, w_m=2.0, group_width=8)


@pytest.mark.parametrize("size,batch", [(32, 1), (47, 2)])
def test_output_shapes(y400, size, batch):
    x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
    with cn.no_grad():
        assert np.asarray(y400.eval()(x)).shape == (batch, 10)
    assert y400.output_shape((3, size, size)) == (10,)


def test_in_channels_and_regnet_x():
    nn.init.manual_seed(1)
    model = models.regnet_x_400mf(num_classes=3, in_channels=1).eval()
    with cn.no_grad():
        assert np.asarray(model(np.zeros((2, 1, 40, 33), np.float32))).shape == (2, 3)


def test_compiles_on_the_engine_and_matches_eager(y400):
    nodes = engine_nodes(y400, (2, 3, 48, 48))
    # 16 blocks, each SE gate a channel_scale after a sigmoid-epilogue 1x1 conv of the
    # pooled 1x1 map (run as a linear node); the residual add and its ReLU fused into the
    # block's last conv; 4 projection shortcuts.
    assert nodes.count(("channel_scale", "none")) == 16
    assert nodes.count(("linear", "sigmoid")) == 16 and nodes.count(("linear", "relu")) == 16
    assert nodes.count(("conv", "none")) == 4
    assert "add" not in {op for op, _ in nodes}


def test_one_training_step(y400):
    assert_trains(y400, (2, 3, 32, 32), 10)


def test_weights_path_round_trip(tmp_path):
    assert_weights_round_trip(models.regnet_y_400mf, tmp_path, (1, 3, 32, 32), num_classes=10)


