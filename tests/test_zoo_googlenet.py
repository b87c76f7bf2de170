"""GoogLeNet (models/googlenet.py): torchvision's state_dict layout (from the committed
tests/data/zoo_layouts/googlenet.json, made by tools/torchvision_reference.py), output
shapes, training-mode auxiliary outputs, transform_input, compile == eager, one training
step, weights= round trip. Outputs equal to torchvision's are checked offline by
tools/check_zoo_torchvision.py (torchvision is no test dependency)."""
import json
import os

import numpy as np
import pytest

import cnnnative as cn
from bn_stats import randomize_conv_and_bn
from cnnnative import models, nn, ops
from cnnnative.models.googlenet import GoogLeNetOutputs

LAYOUT = os.path.join(os.path.dirname(__file__), "data", "zoo_layouts", "googlenet.json")


@pytest.fixture(scope="module")
def model():
    nn.init.manual_seed(0)
    return randomize_conv_and_bn(models.googlenet(num_classes=10), np.random.default_rng(0))


def test_state_dict_layout_matches_torchvision():
    with open(LAYOUT) as f:
        ref = json.load(f)
    with nn.init.skip_random_init():  # only the layout matters here
        m = models.googlenet(init_weights=False)
    layout = [[k, list(np.shape(v))] for k, v in m.state_dict().items()]
    assert layout == ref["state_dict"]  # keys, their order and shapes, buffers included
    assert sum(p.data.size for p in m.parameters()) == ref["params"] == 13004888


def test_without_aux_heads_has_no_aux_entries():
    with nn.init.skip_random_init():
        m = models.googlenet(aux_logits=False, init_weights=False)
    keys = list(m.state_dict())
    assert not any(k.startswith("aux") for k in keys)
    assert m.aux1 is None and m.aux2 is None
    assert sum(p.data.size for p in m.parameters()) == 6624904  # torchvision's ImageNet weights' count


@pytest.mark.parametrize("size", [15, 64, 96])
@pytest.mark.parametrize("batch", [1, 2])
def test_eval_output_shape(model, size, batch, rng):
    model.eval()
    x = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
    with cn.no_grad():
        y = model(x)
    assert np.shape(y) == (batch, 10)
    assert np.all(np.isfinite(np.asarray(y)))


def test_in_channels_and_num_classes(rng):
    m = models.googlenet(num_classes=7, in_channels=1, aux_logits=False).eval()
    assert m.conv1.conv.weight.shape == (64, 1, 7, 7)
    with cn.no_grad():
        y = m(rng.standard_normal((2, 1, 48, 40)).astype(np.float32))  # not square
    assert np.shape(y) == (2, 7)


def test_bad_input_is_a_clear_error():
    m = models.googlenet(aux_logits=False).eval()
    with pytest.raises(ValueError, match="H, W >= 15"):
        m(np.zeros((1, 3, 14, 14), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        m(np.zeros((1, 1, 32, 32), np.float32))
    with pytest.raises(ValueError, match="transform_input"):
        models.googlenet(in_channels=1, transform_input=True)


def test_train_mode_returns_aux_outputs(model, rng):
    x = cn.tensor(rng.standard_normal((2, 3, 96, 96)).astype(np.float32))  # aux pools 6x6 -> 4x4
    model.train()
    try:
        out = model(x)
    finally:
        model.eval()
    assert isinstance(out, GoogLeNetOutputs)
    assert out._fields == ("logits", "aux_logits2", "aux_logits1")
    assert all(np.shape(o.data) == (2, 10) for o in out)


def test_transform_input_is_the_per_channel_rescale(model, rng):
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    x_scaled = (x * (std / 0.5)[None, :, None, None] + ((mean - 0.5) / 0.5)[None, :, None, None]).astype(np.float32)
    with_transform = models.googlenet(num_classes=10, transform_input=True, weights=model.state_dict()).eval()
    with cn.no_grad():
        got, want = np.asarray(with_transform(x)), np.asarray(model.eval()(x_scaled))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("transform", [False, True])
def test_compile_matches_eager_without_host_nodes(model, transform, rng):
    m = models.googlenet(num_classes=10, transform_input=transform, weights=model.state_dict()).eval()
    x = rng.standard_normal((2, 3, 64, 64)).astype(np.float32)
    with cn.no_grad():
        expected = np.asarray(m(x))
    assert np.abs(expected).max() > 1e-2  # not just the fc bias
    compiled = cn.compile(m, x.shape)
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    hosted = [n["op"] for n in compiled.nodes if n["op"].startswith("host:")]
    assert not hosted  # the engine runs it all, the branch concatenations included


def test_one_training_step_reaches_every_parameter(rng):
    nn.init.manual_seed(1)
    m = randomize_conv_and_bn(models.googlenet(num_classes=5), rng).train()
    x = cn.tensor(rng.standard_normal((2, 3, 64, 64)).astype(np.float32))
    logits, aux2, aux1 = m(x)
    labels = np.array([1, 3])
    # torchvision's reference recipe: main loss + 0.3 * each auxiliary loss
    loss = ops.add(ops.cross_entropy(logits, labels),
                   ops.mul(ops.add(ops.cross_entropy(aux1, labels), ops.cross_entropy(aux2, labels)), 0.3))
    loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and np.any(p.grad != 0), name
    opt = cn.optim.SGD(m.parameters(), lr=0.01)
    before = m.fc.weight.data.copy()
    opt.step()
    assert not np.array_equal(before, m.fc.weight.data)
    assert int(m.conv1.bn.num_batches_tracked) == 1


def test_weights_path_round_trip(model, tmp_path, rng):
    path = tmp_path / "googlenet.npz"
    np.savez(path, **{k: np.asarray(v) for k, v in model.state_dict().items()})
    loaded = models.googlenet(num_classes=10, weights=str(path)).eval()
    x = rng.standard_normal((1, 3, 40, 40)).astype(np.float32)
    with cn.no_grad():
        np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model.eval()(x)))
    assert models.build("googlenet", weights=str(path), num_classes=10).spec["builder"] == "googlenet"
