"""The classic zoo: AlexNet, ZFNet, VGG-11/13/16/19 (with and without BatchNorm), SqueezeNet
1.0 / 1.1. Layouts (state_dict keys in order, shapes, parameter counts) against the committed
torchvision files in tests/data/zoo_layouts (no torchvision needed); ZFNet, which torchvision
lacks, against a count by hand. Models whose numbers do not matter here (shapes, layouts) are
built under nn.init.skip_random_init: VGG's classifier alone is 120M random draws."""
import json
import os

import numpy as np
import pytest

import cnnnative
from cnnnative import models, nn, ops

LAYOUTS = os.path.join(os.path.dirname(__file__), "data", "zoo_layouts")
TORCHVISION = ["alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
               "squeezenet1_0", "squeezenet1_1"]
ALL = TORCHVISION + ["zfnet"]


def _zeros(name, **kwargs):
    with nn.init.skip_random_init():
        return models.build(name, **kwargs)


def _randomize(model, seed=0):
    """Cheap float32 random weights (He-scaled) for a model built with zeros."""
    rng = np.random.default_rng(seed)
    state = model.state_dict()
    for k, v in state.items():
        if k.endswith("num_batches_tracked"):
            continue
        if k.endswith("running_var"):
            v[...] = rng.uniform(0.5, 1.5, v.shape)
        elif v.ndim > 1:
            v[...] = rng.standard_normal(v.shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / np.prod(v.shape[1:])))
        else:
            v[...] = rng.uniform(-0.1, 0.1, v.shape)
    model.load_state_dict(state)
    return model


def _forward(model, x):
    with cnnnative.no_grad():
        return np.asarray(model.eval()(x))


@pytest.mark.parametrize("name", TORCHVISION)
def test_state_dict_layout_is_torchvisions(name):
    with open(os.path.join(LAYOUTS, f"{name}.json")) as f:
        ref = json.load(f)
    model = _zeros(name)
    # state_dict's keys and arrays without its copies (VGG: 550 MB)
    got = [[k, list(np.shape(v))] for k, v in model._state_items()]
    if name.startswith("squeezenet"):  # small enough to check the real state_dict too
        assert [[k, list(v.shape)] for k, v in model.state_dict().items()] == got
    assert got == ref["state_dict"]
    assert model.num_parameters() == ref["params"]


def test_zfnet_parameter_count_by_hand():
    conv = lambda cin, cout, k: cin * cout * k * k + cout  # noqa: E731
    fc = lambda i, o: i * o + o  # noqa: E731
    count = (conv(3, 96, 7) + conv(96, 256, 5) + conv(256, 384, 3) + conv(384, 384, 3) + conv(384, 256, 3)
             + fc(256 * 6 * 6, 4096) + fc(4096, 4096) + fc(4096, 1000))
    assert count == 62_357_608
    assert _zeros("zfnet").num_parameters() == count
    assert _zeros("zfnet", num_classes=10, local_response_norm=False).num_parameters() == count - 990 * 4097
    # The paper's feature maps at 224 x 224: 110, 55, 26, 13, 13, 6 (figure 3).
    model = _zeros("zfnet")
    x = np.zeros((1, 3, 224, 224), np.float32)
    sizes = []
    with cnnnative.no_grad():
        for layer in model.features:
            x = layer(x)
            if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
                sizes.append(np.shape(x)[-1])
    assert sizes == [110, 55, 26, 13, 13, 13, 13, 6]


# The VGGs share one class: the shallowest and the deepest stand for the rest here.
@pytest.mark.parametrize("name", ["alexnet", "zfnet", "squeezenet1_0", "squeezenet1_1", "vgg11", "vgg19_bn"])
def test_output_shapes(name):
    small = models.MIN_INPUT_SIZE[name]
    model = _zeros(name, num_classes=7)
    for size, batch in ((small, 1), (small + 8, 2)):
        assert _forward(model, np.zeros((batch, 3, size, size), np.float32)).shape == (batch, 7)
    model = _zeros(name, num_classes=5, in_channels=1)
    assert _forward(model, np.zeros((2, 1, small, small + 3), np.float32)).shape == (2, 5)


@pytest.mark.parametrize("name", ["alexnet", "zfnet", "squeezenet1_0", "squeezenet1_1", "vgg11"])
def test_smallest_input(name):
    small = models.MIN_INPUT_SIZE[name]
    model = _zeros(name, num_classes=3)
    _forward(model, np.zeros((1, 3, small, small), np.float32))
    with pytest.raises(ValueError):
        _forward(model, np.zeros((1, 3, small - 1, small - 1), np.float32))


def test_options_follow_torchvision():
    assert [m.p for m in _zeros("vgg11", dropout=0.2).classifier if isinstance(m, nn.Dropout)] == [0.2, 0.2]
    assert [m.p for m in _zeros("alexnet", dropout=0.3).classifier if isinstance(m, nn.Dropout)] == [0.3, 0.3]
    assert _zeros("squeezenet1_1", dropout=0.1).classifier[0].p == 0.1
    # torchvision's initialisation: VGG linear weights N(0, 0.01), zero biases; SqueezeNet's
    # final convolution N(0, 0.01).
    nn.init.manual_seed(0)
    sq = models.squeezenet1_1(num_classes=100)
    assert abs(float(np.std(sq.classifier[1].weight.data)) - 0.01) < 1e-3
    assert not np.any(sq.features[0].bias.data) and np.any(sq.features[0].weight.data)
    from cnnnative.models.squeezenet import SqueezeNet
    with pytest.raises(ValueError, match="version"):
        SqueezeNet("2_0")


@pytest.mark.parametrize("name, size", [("squeezenet1_1", 64), ("alexnet", 63), ("zfnet", 64), ("vgg11_bn", 32)])
def test_compile_matches_eager(name, size):
    model = _randomize(_zeros(name, num_classes=10))
    x = np.random.default_rng(1).standard_normal((2, 3, size, size)).astype(np.float32)
    expected = _forward(model, x)
    compiled = cnnnative.compile(model, x.shape)
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-4, atol=1e-4 * scale)
    hosted = [n["op"] for n in compiled.nodes if n["op"].startswith("host:")]
    # Only ZFNet's LocalResponseNorm runs on the host: the adaptive pools (1x1 -> 6x6 or 7x7
    # here, 6x6 -> 6x6 at 224) are engine nodes.
    assert hosted == (["host:local_response_norm"] * 2 if name == "zfnet" else [])


@pytest.mark.parametrize("name", ["squeezenet1_1", "zfnet"])
def test_one_training_step(name):
    nn.init.manual_seed(0)
    model = models.build(name, num_classes=4)
    model.train()
    size = 32 if name == "squeezenet1_1" else 64
    x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    opt = cnnnative.optim.SGD(model.parameters(), lr=0.01)
    opt.zero_grad()
    loss = ops.cross_entropy(model(cnnnative.tensor(x)), np.array([1, 3]))
    loss.backward()
    assert np.isfinite(float(loss))
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    assert np.any(np.asarray(model.features[0].weight.grad)) and np.any(np.asarray(grads[-1]))
    before = model.features[0].weight.data.copy()
    opt.step()
    assert not np.array_equal(before, model.features[0].weight.data)


def test_weights_path_round_trip(tmp_path):
    nn.init.manual_seed(1)
    model = models.squeezenet1_0(num_classes=6)
    path = str(tmp_path / "sq.npz")
    np.savez(path, **model.state_dict())
    x = np.random.default_rng(2).standard_normal((1, 3, 48, 48)).astype(np.float32)
    again = models.squeezenet1_0(weights=path, num_classes=6)
    np.testing.assert_array_equal(_forward(again, x), _forward(model, x))
    built = models.build("squeezenet1_0", weights=path, num_classes=6)
    np.testing.assert_array_equal(_forward(built, x), _forward(model, x))
    with pytest.raises((KeyError, ValueError)):
        models.squeezenet1_1(weights=path, num_classes=6)  # another layout: strict loading refuses
