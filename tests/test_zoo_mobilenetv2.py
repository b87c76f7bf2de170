"""MobileNet V2 builder (cnnnative.models.mobilenetv2): torchvision's state_dict layout
(width 1.0, and the parameter counts of other widths), output shapes, torchvision's output
at seeded weights, compiled == eager with no host node, one training step, weights= round
trip."""
import pytest

from cnnnative import models, nn
from cnnnative.models import mobilenetv2

from zoo_mobile_common import (assert_compiled_equals_eager, assert_layout, assert_matches_torchvision,
                               assert_trains, assert_weights_round_trip, eager, seeded_input)


def test_layout_is_torchvisions():
    assert_layout(models.mobilenet_v2(), "mobilenet_v2")
    assert models.MODELS["mobilenet_v2"] is mobilenetv2.mobilenet_v2


# torchvision 0.29's mobilenet_v2(width_mult=w) parameter counts
@pytest.mark.parametrize("width_mult, params", [(0.5, 1968680), (1.4, 6108776)])
def test_width_mult_parameter_count(width_mult, params):
    model = models.mobilenet_v2(width_mult=width_mult)
    assert model.num_parameters() == params and len(model.state_dict()) == 314


@pytest.mark.parametrize("size, batch", [(32, 1), (45, 2)])
def test_output_shapes(size, batch):
    nn.init.manual_seed(0)
    model = models.mobilenet_v2(num_classes=6, in_channels=4, width_mult=0.35)
    assert eager(model, seeded_input((batch, 4, size, size))).shape == (batch, 6)


def test_matches_torchvision_at_seeded_weights():
    assert_matches_torchvision("mobilenet_v2_w0_5")


def test_compiles_whole_and_equals_eager():
    nn.init.manual_seed(0)
    model = models.mobilenet_v2(num_classes=10)
    assert assert_compiled_equals_eager(model, (2, 3, 64, 64)) == []


def test_one_training_step():
    nn.init.manual_seed(0)
    assert_trains(models.mobilenet_v2(num_classes=5, width_mult=0.5), (2, 3, 32, 32), 5)


def test_weights_round_trip(tmp_path):
    assert_weights_round_trip(models.mobilenet_v2, tmp_path, (2, 3, 32, 32), num_classes=4, width_mult=0.5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="inverted_residual_setting"):
        models.mobilenet_v2(inverted_residual_setting=[[1, 16, 1]])
    with pytest.raises(ValueError, match="width_mult"):
        models.mobilenet_v2(width_mult=0)
    with pytest.raises(ValueError, match="stride"):
        mobilenetv2.InvertedResidual(8, 8, 3, 6)
