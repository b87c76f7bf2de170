"""The ResNet family of the model zoo (cnnnative.models.resnet): torchvision's state_dict
layout (committed reference files, no torchvision needed), output shapes, compile equal to
eager, a training step, weights= files, and the older names (the nn.Graph form, resnet20,
cnnnative.resnet) still working.

The big ones (ResNet-101/152, ResNeXt-101, Wide ResNet-50-2) are built without random
initialisation (skip_random_init) for the layout and one tiny forward: drawing ~100M normal
numbers is seconds and checks nothing here. Outputs equal to torchvision's with its weights
are checked offline (tools/check_zoo_torchvision.py)."""
import json
import os

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import models, nn
from cnnnative.models import resnet as zoo_resnet
from bn_stats import randomize_bn

LAYOUTS = os.path.join(os.path.dirname(__file__), "data", "zoo_layouts")
BUILDERS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x8d",
            "wide_resnet50_2"]


def _layout(name):
    with open(os.path.join(LAYOUTS, f"{name}.json")) as f:
        return json.load(f)



def assert_close(a, b, tol=1e-4):
    scale = float(np.abs(b).max())
    assert scale > 0
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("name", BUILDERS)
def test_layout_equals_torchvision_and_a_tiny_forward(name):
    ref = _layout(name)
    with nn.init.skip_random_init():
        m = getattr(models, name)().eval()
    sd = m.state_dict()
    assert [[k, list(v.shape)] for k, v in sd.items()] == ref["state_dict"]
    assert m.num_parameters() == ref["params"]
    assert models.MODELS[name] is getattr(models, name)
    assert m.output_shape((3, 224, 224)) == (1000,)
    with cn.no_grad():
        assert np.asarray(m(np.zeros((1, 3, 32, 32), np.float32))).shape == (1, 1000)


@pytest.mark.parametrize("name,kw,size,classes", [
    ("resnet18", dict(num_classes=10), 32, 10),
    ("resnet18", dict(num_classes=7, in_channels=1), 64, 7),
    ("resnet18", dict(num_classes=5, small_input=True), 32, 5),
    ("resnet50", dict(num_classes=3, in_channels=2), 32, 3),
    ("resnext50_32x4d", dict(num_classes=4), 64, 4),
    ("resnet20", dict(), 32, 10),
    ("resnet20", dict(num_classes=6, in_channels=1), 64, 6),
])
def test_output_shapes(name, kw, size, classes, rng):
    m = getattr(models, name)(**kw).eval()
    c = kw.get("in_channels", 3)
    assert m.output_shape((c, size, size)) == (classes,)
    for batch in (1, 2):
        with cn.no_grad():
            y = np.asarray(m(rng.standard_normal((batch, c, size, size)).astype(np.float32)))
        assert y.shape == (batch, classes) and np.all(np.isfinite(y))


def test_the_stem_and_stage_resolutions():
    """The ImageNet stem divides by 4 and the stages by 8 more; small_input keeps layer1 at
    the input resolution (the CIFAR stem); replace_stride_with_dilation keeps stages'
    resolution (torchvision's argument, for dense prediction)."""
    with nn.init.skip_random_init():  # shapes only
        m = models.resnet50(num_classes=2)
        small = models.resnet18(small_input=True)
        dil = models.resnet50(num_classes=2, replace_stride_with_dilation=[False, True, True])
    s = m.maxpool.output_shape(m.bn1.output_shape(m.conv1.output_shape((3, 64, 64))))
    assert s == (64, 16, 16)
    assert m.layer4.output_shape(m.layer3.output_shape(m.layer2.output_shape(m.layer1.output_shape(s)))) == (2048, 2, 2)
    assert tuple(small.conv1.weight.shape) == (64, 3, 3, 3) and isinstance(small.maxpool, nn.Identity)
    assert small.layer1.output_shape(small.conv1.output_shape((3, 32, 32))) == (64, 32, 32)
    # torchvision: a dilated stage's first block keeps the previous stage's dilation
    assert dil.layer3[0].conv2.dilation == (1, 1) and dil.layer3[1].conv2.dilation == (2, 2)
    assert dil.layer4[0].conv2.dilation == (2, 2) and dil.layer4[1].conv2.dilation == (4, 4)
    s = dil.maxpool.output_shape(dil.bn1.output_shape(dil.conv1.output_shape((3, 64, 64))))
    s = dil.layer4.output_shape(dil.layer3.output_shape(dil.layer2.output_shape(dil.layer1.output_shape(s))))
    assert s == (2048, 8, 8)
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    with cn.no_grad():
        assert np.asarray(dil.eval()(x)).shape == (1, 2)


def test_grouped_and_wide_bottlenecks():
    """ResNeXt: 32 groups in the 3x3 (width planes * base_width / 64 * groups); Wide ResNet:
    the 3x3 twice as wide, the block's output unchanged."""
    with nn.init.skip_random_init():
        x50 = models.resnext50_32x4d()
        w50 = models.wide_resnet50_2()
    conv = x50.layer1[0].conv2
    assert conv.groups == 32 and tuple(conv.weight.shape) == (128, 4, 3, 3)
    assert tuple(w50.layer1[0].conv2.weight.shape) == (128, 128, 3, 3)
    assert tuple(w50.layer1[0].conv3.weight.shape) == (256, 128, 1, 1)


def test_zero_init_residual_and_init():
    with nn.init.skip_random_init():  # BatchNorm's ones are no random numbers
        m = models.resnet50(num_classes=3, zero_init_residual=True)
        r = models.resnet18(num_classes=3, zero_init_residual=True)
    assert all(not np.any(b.bn3.weight.data) for layer in (m.layer1, m.layer4) for b in layer)
    assert np.all(m.bn1.weight.data == 1) and np.all(m.layer1[0].bn2.weight.data == 1)
    assert not np.any(r.layer2[1].bn2.weight.data) and np.all(r.layer2[1].bn1.weight.data == 1)
    # kaiming_normal_(fan_out, relu): std sqrt(2 / (64 * 9)) for layer1's 3x3 convolutions
    w = models.resnet18().layer1[0].conv1.weight.data
    assert abs(w.std() - np.sqrt(2 / (64 * 9))) < 0.1 * np.sqrt(2 / (64 * 9))


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="input_size"):
        models.resnet18(input_size=0)
    with pytest.raises(ValueError, match="input_size"):
        models.resnet18(input_size=(1, 2, 3))
    with pytest.raises(ValueError, match="num_classes"):
        models.resnet50(num_classes=0)
    with pytest.raises(ValueError, match="in_channels"):
        models.resnet34(in_channels=-1)
    with pytest.raises(ValueError, match="replace_stride_with_dilation"):
        models.resnet50(replace_stride_with_dilation=[True])
    with pytest.raises(ValueError, match="layers"):
        zoo_resnet.ResNet(zoo_resnet.BasicBlock, [2, 2, 2])
    with pytest.raises(TypeError, match="block"):
        zoo_resnet.ResNet(nn.Conv2d, [2, 2, 2, 2])
    with pytest.raises(ValueError, match="groups=1"):
        zoo_resnet.BasicBlock(8, 8, groups=2)
    with pytest.raises(NotImplementedError, match="dilation"):
        models.resnet18(replace_stride_with_dilation=[False, False, True])
    # a shortcut that does not fit the body is named in the shape check
    with pytest.raises(ValueError, match="shortcut"):
        zoo_resnet.Bottleneck(64, 64).output_shape((64, 8, 8))


def test_compiled_equals_eager_and_one_training_step(rng):
    nn.init.manual_seed(0)
    m = models.resnext50_32x4d(num_classes=5)  # grouped convolutions, Bottlenecks
    randomize_bn(m, rng)
    m.eval()
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    with cn.no_grad():
        expected = np.asarray(m(x))
    compiled = cn.compile(m, x.shape, poison=True)
    assert not [n["op"] for n in compiled.nodes if n["op"].startswith("host:")]
    assert_close(compiled(x), expected)
    assert sum(1 for n in compiled.nodes if n["op"] == "conv" and n["residual"]) == 16

    m.train()
    m.zero_grad()
    loss = cn.ops.cross_entropy(m(cn.tensor(x)), np.array([1, 3]))
    loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and np.all(np.isfinite(p.grad)), name
    assert np.any(m.conv1.weight.grad) and np.any(m.layer4[2].conv2.weight.grad) and np.any(m.fc.weight.grad)


def test_weights_file_round_trip(tmp_path, rng):
    nn.init.manual_seed(1)
    a = models.resnet18(num_classes=4)
    randomize_bn(a, rng)
    path = tmp_path / "resnet18.npz"
    np.savez(path, **a.state_dict())
    with nn.init.skip_random_init():  # every weight comes from the file
        b = models.resnet18(weights=str(path), num_classes=4)
        c = models.build("resnet18", weights=str(path), num_classes=4)
    x = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    with cn.no_grad():
        ya = np.asarray(a.eval()(x))
        np.testing.assert_array_equal(np.asarray(b.eval()(x)), ya)
        np.testing.assert_array_equal(np.asarray(c.eval()(x)), ya)
    with pytest.raises(KeyError, match="layer1.2"):  # ResNet-34 has more blocks
        models.resnet34(weights=str(path), num_classes=4)


# -- the names from before the zoo ----------------------------------------------------------------

def test_graph_form_has_the_same_state_dict_and_output(rng):
    """models.resnet18 is the module form now; the nn.Graph form (models.resnet18_graph, and
    models.graph_resnet(...) for any depth) keeps the same keys, so weights move either way."""
    for small in (False, True):
        g = models.resnet18_graph(num_classes=6, input_size=32, small_input=small)
        m = models.resnet18(num_classes=6, input_size=32, small_input=small)
        assert isinstance(g, nn.Graph) and isinstance(m, zoo_resnet.ResNet)
        sd = g.state_dict()
        assert [(k, v.shape) for k, v in sd.items()] == [(k, v.shape) for k, v in m.state_dict().items()]
        randomize_bn(g, rng)
        m.load_state_dict(g.state_dict())
        x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
        with cn.no_grad():
            assert_close(np.asarray(m.eval()(x)), np.asarray(g.eval()(x)))
    assert models.resnet18_module is models.resnet18
    assert isinstance(models.graph_resnet(3, 5, 20, layers=(1, 2), width=4), nn.Graph)  # any depth and width
    assert models.resnet.resnet50 is models.resnet50


def test_graph_and_module_compile_to_the_same_plan():
    shape = (1, 3, 32, 32)
    a = cn.compile(models.resnet18_graph(input_size=32, small_input=True), shape)
    b = cn.compile(models.resnet18(small_input=True), shape)
    plan = [(n["op"], n.get("method"), n["activation"], n.get("residual")) for n in a.nodes]
    assert plan == [(n["op"], n.get("method"), n["activation"], n.get("residual")) for n in b.nodes]


def test_old_module_names():
    from cnnnative import resnet as old
    from cnnnative.models.inverted_residual import InvertedResidual
    assert old.BasicBlock is zoo_resnet.BasicBlock and old.ResNet is zoo_resnet.ResNet
    assert old.InvertedResidual is InvertedResidual
    m = old.resnet20(7, 1)  # the old positional order: num_classes, in_channels
    assert m.output_shape((1, 32, 32)) == (7,) and tuple(m.conv1.weight.shape) == (16, 1, 3, 3)
    assert old.resnet18(5).output_shape((3, 64, 64)) == (5,)
    assert "maxpool" in dict(m.named_children()) and isinstance(m.maxpool, nn.Identity)


def test_cli_kwargs_still_build_resnet18():
    """The CLI passes in_channels, num_classes and input_size; checkpoints store them."""
    m = models.build("resnet18", in_channels=1, num_classes=10, input_size=8)
    assert m.spec == {"builder": "resnet18", "kwargs": dict(in_channels=1, num_classes=10, input_size=8)}
    with cn.no_grad():
        assert np.asarray(m.eval()(np.zeros((2, 1, 8, 8), np.float32))).shape == (2, 10)
