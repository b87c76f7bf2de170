"""MNASNet builders (cnnnative.models.mnasnet): torchvision's state_dict layout, BN momentum
1 - 0.9997, output shapes, torchvision's output at seeded weights, compiled == eager with no
host node, one training step (the running statistics move by torchvision's momentum),
weights= round trip."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import models, nn
from cnnnative.models import mnasnet

from zoo_mobile_common import (assert_compiled_equals_eager, assert_layout, assert_matches_torchvision,
                               assert_trains, assert_weights_round_trip, eager, seeded_input)

NAMES = ["mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"]


@pytest.mark.parametrize("name", NAMES)
def test_layout_is_torchvisions(name):
    model = models.MODELS[name]()
    assert_layout(model, name)
    assert models.MODELS[name] is getattr(mnasnet, name)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.momentum == 1 - 0.9997 for m in bns)


@pytest.mark.parametrize("size, batch", [(32, 1), (45, 2)])
def test_output_shapes(size, batch):
    nn.init.manual_seed(0)
    model = models.mnasnet0_5(num_classes=3, in_channels=1)
    assert eager(model, seeded_input((batch, 1, size, size))).shape == (batch, 3)


def test_matches_torchvision_at_seeded_weights():
    assert_matches_torchvision("mnasnet0_5")


def test_compiles_whole_and_equals_eager():
    nn.init.manual_seed(0)
    assert assert_compiled_equals_eager(models.mnasnet0_75(num_classes=10), (2, 3, 64, 64)) == []


def test_one_training_step():
    nn.init.manual_seed(0)
    assert_trains(models.mnasnet0_5(num_classes=5), (2, 3, 32, 32), 5)


def test_running_statistics_move_by_the_small_momentum():
    nn.init.manual_seed(0)
    model = models.mnasnet0_5(num_classes=5).train()
    x = seeded_input((2, 3, 32, 32))
    with cn.no_grad():
        model(x)
    bn = model.layers[1]
    with cn.no_grad():
        batch_mean = np.asarray(model.layers[0](x)).mean(axis=(0, 2, 3))
    # one step from running_mean = 0: running_mean = momentum * batch mean
    np.testing.assert_allclose(bn.running_mean, (1 - 0.9997) * batch_mean, rtol=1e-4, atol=1e-9)
    assert int(bn.num_batches_tracked) == 1


def test_weights_round_trip(tmp_path):
    assert_weights_round_trip(models.mnasnet0_5, tmp_path, (2, 3, 32, 32), num_classes=4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="alpha"):
        mnasnet.MNASNet(0.0)
    with pytest.raises(ValueError, match="kernel_size"):
        mnasnet.InvertedResidual(16, 16, 7, 1, 3)
    with pytest.raises(ValueError, match="stride"):
        mnasnet.InvertedResidual(16, 16, 3, 3, 3)
