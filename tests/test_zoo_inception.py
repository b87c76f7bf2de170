"""Inception-v3 (models/inception.py): torchvision's state_dict layout (from the committed
tests/data/zoo_layouts/inception_v3.json, made by tools/torchvision_reference.py), output
shapes at the smallest inputs, the training-mode auxiliary output and its size limit,
transform_input, compile == eager, one training step, weights= round trip. Outputs equal
to torchvision's are checked offline by tools/check_zoo_torchvision.py (at 299x299)."""
import json
import os

import numpy as np
import pytest

import cnnnative as cn
from bn_stats import randomize_conv_and_bn
from cnnnative import models, nn, ops
from cnnnative.models.inception import InceptionOutputs

LAYOUT = os.path.join(os.path.dirname(__file__), "data", "zoo_layouts", "inception_v3.json")


@pytest.fixture(scope="module")
def model():
    nn.init.manual_seed(0)
    return randomize_conv_and_bn(models.inception_v3(num_classes=10), np.random.default_rng(0)).eval()


def test_state_dict_layout_matches_torchvision():
    with open(LAYOUT) as f:
        ref = json.load(f)
    with nn.init.skip_random_init():  # only the layout matters here
        m = models.inception_v3(init_weights=False)
    layout = [[k, list(np.shape(v))] for k, v in m.state_dict().items()]
    assert layout == ref["state_dict"]  # keys, their order and shapes, buffers included
    assert sum(p.data.size for p in m.parameters()) == ref["params"] == 27161264


def test_without_aux_head_has_no_aux_entries():
    with nn.init.skip_random_init():
        m = models.inception_v3(aux_logits=False, init_weights=False)
    assert m.AuxLogits is None
    assert not any(k.startswith("AuxLogits") for k in m.state_dict())


@pytest.mark.parametrize("size", [75, 107])
@pytest.mark.parametrize("batch", [1, 2])
def test_eval_output_shape(model, size, batch, rng):
    x = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
    with cn.no_grad():
        y = model(x)
    assert np.shape(y) == (batch, 10)
    assert np.all(np.isfinite(np.asarray(y)))


def test_in_channels_and_num_classes(rng):
    m = models.inception_v3(num_classes=4, in_channels=1, aux_logits=False, init_weights=False).eval()
    assert m.Conv2d_1a_3x3.conv.weight.shape == (32, 1, 3, 3)
    with cn.no_grad():
        y = m(rng.standard_normal((1, 1, 75, 90)).astype(np.float32))  # not square
    assert np.shape(y) == (1, 4)


def test_bad_input_is_a_clear_error(model):
    with pytest.raises(ValueError, match="H, W >= 75"):
        model(np.zeros((1, 3, 74, 74), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model(np.zeros((1, 3, 75), np.float32))
    with pytest.raises(ValueError, match="transform_input"):
        models.inception_v3(in_channels=1, transform_input=True, init_weights=False)


def test_train_mode_aux_head_needs_299(model):
    # Its 5x5/3 average pool and 5x5 conv need Mixed_6e's 17x17 grid (torchvision fails too).
    model.train()
    try:
        with pytest.raises(ValueError, match="aux_logits=False"):
            model(cn.tensor(np.zeros((1, 3, 298, 298), np.float32)))
    finally:
        model.eval()


def test_train_mode_aux_head_shape(model, rng):
    # The aux head alone on Mixed_6e's 17x17 grid (the whole net at 299 is too slow here).
    aux = model.AuxLogits.train()
    try:
        y = aux(cn.tensor(rng.standard_normal((2, 768, 17, 17)).astype(np.float32)))
    finally:
        aux.eval()
    assert np.shape(y.data) == (2, 10)
    assert InceptionOutputs._fields == ("logits", "aux_logits")


def test_transform_input_is_the_per_channel_rescale(model, rng):
    x = rng.standard_normal((1, 3, 75, 75)).astype(np.float32)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    x_scaled = (x * (std / 0.5)[None, :, None, None] + ((mean - 0.5) / 0.5)[None, :, None, None]).astype(np.float32)
    with_transform = models.inception_v3(num_classes=10, transform_input=True, weights=model.state_dict()).eval()
    with cn.no_grad():
        got, want = np.asarray(with_transform(x)), np.asarray(model(x_scaled))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


def test_compile_matches_eager_without_host_nodes(model, rng):
    m = models.inception_v3(num_classes=10, transform_input=True, weights=model.state_dict()).eval()
    x = rng.standard_normal((2, 3, 75, 75)).astype(np.float32)
    with cn.no_grad():
        expected = np.asarray(m(x))
    assert np.abs(expected).max() > 1e-2
    compiled = cn.compile(m, x.shape)
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    hosted = [n["op"] for n in compiled.nodes if n["op"].startswith("host:")]
    assert not hosted  # the engine runs it all, the nested branch concatenations included


def test_one_training_step_reaches_every_parameter(rng):
    nn.init.manual_seed(1)
    m = randomize_conv_and_bn(models.inception_v3(num_classes=5, aux_logits=False), rng).train()
    x = cn.tensor(rng.standard_normal((2, 3, 75, 75)).astype(np.float32))
    loss = ops.cross_entropy(m(x), np.array([0, 4]))
    loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and np.any(p.grad != 0), name
    opt = cn.optim.SGD(m.parameters(), lr=0.01)
    before = m.Mixed_7c.branch_pool.conv.weight.data.copy()
    opt.step()
    assert not np.array_equal(before, m.Mixed_7c.branch_pool.conv.weight.data)


def test_weights_path_round_trip(model, tmp_path, rng):
    path = tmp_path / "inception_v3.npz"
    np.savez(path, **{k: np.asarray(v) for k, v in model.state_dict().items()})
    loaded = models.build("inception_v3", weights=str(path), num_classes=10).eval()
    x = rng.standard_normal((1, 3, 80, 80)).astype(np.float32)
    with cn.no_grad():
        np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
