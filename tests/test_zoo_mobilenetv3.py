"""MobileNet V3 builders (cnnnative.models.mobilenetv3): torchvision's state_dict layout
(and the parameter counts of the width / reduced-tail / dilated options), BN eps and
momentum, output shapes, torchvision's output at seeded weights, compiled == eager with no
host node (the SE gate as channel_scale, Hardswish / Hardsigmoid epilogues), one training
step, weights= round trip."""
import pytest

from cnnnative import models, nn
from cnnnative.models import mobilenetv3

from zoo_mobile_common import (assert_compiled_equals_eager, assert_layout, assert_matches_torchvision,
                               assert_trains, assert_weights_round_trip, eager, seeded_input)

NAMES = ["mobilenet_v3_small", "mobilenet_v3_large"]


@pytest.mark.parametrize("name", NAMES)
def test_layout_is_torchvisions(name):
    model = models.MODELS[name]()
    assert_layout(model, name)
    assert models.MODELS[name] is getattr(mobilenetv3, name)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.eps == 0.001 and m.momentum == 0.01 for m in bns)


# torchvision 0.29's parameter counts for these options
@pytest.mark.parametrize("name, kwargs, params", [
    ("mobilenet_v3_large", dict(width_mult=0.75), 3377576),
    ("mobilenet_v3_small", dict(reduced_tail=True, dilated=True), 1099672),
    ("mobilenet_v3_large", dict(reduced_tail=True, dilated=True), 2569352)])
def test_option_parameter_counts(name, kwargs, params):
    assert models.MODELS[name](**kwargs).num_parameters() == params


@pytest.mark.parametrize("size, batch", [(32, 1), (45, 2)])
def test_output_shapes(size, batch):
    nn.init.manual_seed(0)
    model = models.mobilenet_v3_small(num_classes=6, in_channels=2)
    assert eager(model, seeded_input((batch, 2, size, size))).shape == (batch, 6)


@pytest.mark.parametrize("label", ["mobilenet_v3_small", "mobilenet_v3_large_dilated"])
def test_matches_torchvision_at_seeded_weights(label):
    assert_matches_torchvision(label)


def test_compiles_whole_with_engine_gates_and_epilogues():
    import cnnnative as cn
    nn.init.manual_seed(0)
    model = models.mobilenet_v3_small(num_classes=10)
    assert assert_compiled_equals_eager(model, (2, 3, 64, 64)) == []
    nodes = cn.compile(model, (1, 3, 64, 64)).nodes
    ops = [n["op"] for n in nodes]
    acts = [n["activation"] for n in nodes]
    assert ops.count("channel_scale") == 9  # one per SE block
    assert acts.count("hardsigmoid") == 9 and "hardswish" in acts


def test_one_training_step():
    nn.init.manual_seed(0)
    assert_trains(models.mobilenet_v3_small(num_classes=5), (2, 3, 32, 32), 5)


def test_weights_round_trip(tmp_path):
    assert_weights_round_trip(models.mobilenet_v3_small, tmp_path, (2, 3, 32, 32), num_classes=4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="activation"):
        mobilenetv3.InvertedResidualConfig(16, 3, 16, 16, False, "XX", 1, 1, 1.0)
    with pytest.raises(ValueError, match="inverted_residual_setting"):
        mobilenetv3.MobileNetV3([], 1024)
    with pytest.raises(TypeError, match="InvertedResidualConfig"):
        mobilenetv3.MobileNetV3([[16, 3, 16, 16, False, "RE", 1, 1]], 1024)
