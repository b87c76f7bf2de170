"""The DenseNet family of the model zoo (cnnnative.models.densenet): torchvision's state_dict
layout (committed reference files, no torchvision needed), output shapes, compile equal to
eager (the engine runs the channel concatenations), a training step and weights= files.
Outputs equal to torchvision's with its weights are checked offline
(tools/check_zoo_torchvision.py)."""
import json
import os

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import models, nn
from cnnnative.models import densenet
from bn_stats import randomize_bn

LAYOUTS = os.path.join(os.path.dirname(__file__), "data", "zoo_layouts")
BUILDERS = ["densenet121", "densenet161", "densenet169", "densenet201"]



@pytest.mark.parametrize("name", BUILDERS)
def test_layout_equals_torchvision_and_a_tiny_forward(name):
    with open(os.path.join(LAYOUTS, f"{name}.json")) as f:
        ref = json.load(f)
    with nn.init.skip_random_init():  # the layout only
        m = getattr(models, name)().eval()
    assert [[k, list(v.shape)] for k, v in m.state_dict().items()] == ref["state_dict"]
    assert m.num_parameters() == ref["params"]
    assert models.MODELS[name] is getattr(models, name)
    assert m.output_shape((3, 224, 224)) == (1000,)
    with cn.no_grad():
        assert np.asarray(m(np.zeros((1, 3, 32, 32), np.float32))).shape == (1, 1000)


@pytest.mark.parametrize("kw,size,classes", [
    (dict(num_classes=10), 32, 10),
    (dict(num_classes=3, in_channels=1), 64, 3),
    (dict(num_classes=4, drop_rate=0.2), 29, 4),  # the smallest input the four poolings allow
])
def test_output_shapes(kw, size, classes, rng):
    m = models.densenet121(**kw).eval()
    c = kw.get("in_channels", 3)
    assert m.output_shape((c, size, size)) == (classes,)
    for batch in (1, 2):
        with cn.no_grad():
            y = np.asarray(m(rng.standard_normal((batch, c, size, size)).astype(np.float32)))
        assert y.shape == (batch, classes) and np.all(np.isfinite(y))


def test_block_widths_and_init():
    """Block k's output has its input's channels plus layers * growth_rate; transitions
    halve them (densenet121: 64 -> 256 -> 128 -> 512 -> 256 -> 1024 -> 512 -> 1024)."""
    with nn.init.skip_random_init():
        m = models.densenet121()
    f = m.features
    assert f.denseblock1.output_shape((64, 8, 8)) == (256, 8, 8)
    assert f.transition1.output_shape((256, 8, 8)) == (128, 4, 4)
    assert tuple(f.denseblock4.denselayer16.conv2.weight.shape) == (32, 128, 3, 3)
    assert m.classifier.in_features == 1024 and tuple(f.norm5.weight.shape) == (1024,)
    m = models.densenet121(num_classes=3)
    assert not np.any(m.classifier.bias.data) and np.all(f.norm0.weight.data == 1)
    w = m.features.conv0.weight.data  # kaiming_normal_ (fan_in): std sqrt(2 / (3 * 49))
    assert abs(w.std() - np.sqrt(2 / 147)) < 0.1 * np.sqrt(2 / 147)


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="num_classes"):
        models.densenet121(num_classes=0)
    with pytest.raises(ValueError, match="block_config"):
        densenet.DenseNet(block_config=())
    with pytest.raises(ValueError, match="drop_rate"):
        models.densenet169(drop_rate=1.0)
    with nn.init.skip_random_init():
        m = models.densenet121()
    with pytest.raises(ValueError):  # four halvings and a 2x2 pool: 28x28 is too small
        m.output_shape((3, 28, 28))
    assert all(getattr(models, n).min_input_size == 29 for n in BUILDERS)  # what the CLI checks


def test_compiled_equals_eager_and_one_training_step(rng):
    nn.init.manual_seed(0)
    m = densenet.DenseNet(growth_rate=8, block_config=(2, 3, 2), num_init_features=16, num_classes=5)
    randomize_bn(m, rng)
    m.eval()
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    with cn.no_grad():
        expected = np.asarray(m(x))
    compiled = cn.compile(m, x.shape, poison=True)
    assert not [n["op"] for n in compiled.nodes if n["op"].startswith("host:")]
    scale = np.abs(expected).max()
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-4, atol=1e-4 * scale)

    m.train()
    m.zero_grad()
    loss = cn.ops.cross_entropy(m(cn.tensor(x)), np.array([0, 4]))
    loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and np.all(np.isfinite(p.grad)), name
    assert np.any(m.features.conv0.weight.grad) and np.any(m.features.denseblock1.denselayer1.conv1.weight.grad)
    assert np.any(m.classifier.weight.grad)


def test_densenet121_compiles_without_host_nodes(rng):
    m = models.densenet121(num_classes=4)
    randomize_bn(m, rng)
    m.eval()
    x = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    compiled = cn.compile(m, x.shape)
    assert not [n["op"] for n in compiled.nodes if n["op"].startswith("host:")]
    with cn.no_grad():
        expected = np.asarray(m(x))
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_weights_file_round_trip(tmp_path, rng):
    nn.init.manual_seed(1)
    a = models.densenet121(num_classes=4)
    randomize_bn(a, rng)
    path = tmp_path / "densenet121.npz"
    np.savez(path, **a.state_dict())
    with nn.init.skip_random_init():
        b = models.densenet121(weights=str(path), num_classes=4)
        c = models.build("densenet121", weights=str(path), num_classes=4)
    x = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    with cn.no_grad():
        ya = np.asarray(a.eval()(x))
        np.testing.assert_array_equal(np.asarray(b.eval()(x)), ya)
        np.testing.assert_array_equal(np.asarray(c.eval()(x)), ya)
    with pytest.raises(KeyError, match="missing"):
        models.densenet169(weights=str(path), num_classes=4)
