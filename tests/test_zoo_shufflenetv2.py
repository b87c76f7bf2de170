"""ShuffleNet V2 builders (cnnnative.models.shufflenetv2): torchvision's state_dict layout,
output shapes, torchvision's output at seeded weights, compiled == eager with no host node
(split = channel_slice, shuffle = channel_shuffle), one training step, weights= round trip."""
import numpy as np
import pytest

from cnnnative import models, nn
from cnnnative.models import shufflenetv2

from zoo_mobile_common import (assert_compiled_equals_eager, assert_layout, assert_matches_torchvision,
                               assert_trains, assert_weights_round_trip, eager, seeded_input)

NAMES = ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]


@pytest.mark.parametrize("name", NAMES)
def test_layout_is_torchvisions(name):
    assert_layout(models.MODELS[name](), name)


@pytest.mark.parametrize("name", NAMES)
def test_registered(name):
    assert models.MODELS[name] is getattr(shufflenetv2, name) is getattr(models, name)


@pytest.mark.parametrize("size, batch", [(32, 1), (45, 2)])
def test_output_shapes(size, batch):
    nn.init.manual_seed(0)
    model = models.shufflenet_v2_x0_5(num_classes=7, in_channels=1)
    assert eager(model, seeded_input((batch, 1, size, size))).shape == (batch, 7)
    assert model.conv1[0].weight.shape == (24, 1, 3, 3)


def test_matches_torchvision_at_seeded_weights():
    assert_matches_torchvision("shufflenet_v2_x0_5")


def test_compiles_whole_and_equals_eager():
    nn.init.manual_seed(0)
    model = models.shufflenet_v2_x1_0(num_classes=10)
    assert assert_compiled_equals_eager(model, (2, 3, 64, 64)) == []


def test_one_training_step():
    nn.init.manual_seed(0)
    assert_trains(models.shufflenet_v2_x0_5(num_classes=5), (2, 3, 32, 32), 5)


def test_weights_round_trip(tmp_path):
    assert_weights_round_trip(models.shufflenet_v2_x0_5, tmp_path, (2, 3, 32, 32), num_classes=4)


def test_bad_unit_arguments():
    with pytest.raises(ValueError, match="stride"):
        shufflenetv2.InvertedResidual(24, 24, 4)
    with pytest.raises(ValueError, match="inp == oup"):
        shufflenetv2.InvertedResidual(24, 48, 1)
    with pytest.raises(ValueError, match="stages_repeats"):
        shufflenetv2.ShuffleNetV2([4, 8], [24, 48, 96, 192, 1024])
