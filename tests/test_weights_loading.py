"""models' weights=: strict loading, a new head when num_classes differs (and only then),
remap= for near-miss layouts, and errors that name missing / unexpected keys."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import models, nn, ops
from cnnnative.io import CheckpointKeyError
from cnnnative.models import load_weights


def _fresh(builder, seed, **kw):
    nn.init.manual_seed(seed)
    return builder(**kw)


def test_same_classes_loads_everything(tmp_path):
    src = _fresh(models.digits_net, 1, num_classes=10)
    np.savez(tmp_path / "w.npz", **src.state_dict())
    model = models.digits_net(weights=tmp_path / "w.npz")
    for k, v in src.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k], v)


@pytest.mark.parametrize("name, kw", [("digits_net", {}), ("vgg_small", {"input_size": 16, "width": 8}),
                                      ("all_conv_net", {"input_size": 16, "width": 8}),
                                      ("resnet18", {"input_size": 32}), ("resnet20", {})])
def test_new_num_classes_keeps_the_fresh_head(tmp_path, name, kw):
    builder = models.MODELS[name]
    src = _fresh(builder, 1, num_classes=10, **kw).state_dict()
    np.savez(tmp_path / "w.npz", **src)
    fresh = _fresh(builder, 2, num_classes=3, **kw).state_dict()       # what the new model starts as
    nn.init.manual_seed(2)
    model = models.build(name, weights=tmp_path / "w.npz", num_classes=3, **kw)
    head = cn.finetune.head(model)
    loaded = model.state_dict()
    assert [k for k in loaded if loaded[k].shape != src[k].shape] == [f"{head}.weight", f"{head}.bias"]
    for k, v in loaded.items():
        want = fresh[k] if k.startswith(head + ".") else src[k]
        np.testing.assert_array_equal(v, want, err_msg=k)


class _Aux(nn.Module):
    def __init__(self, c, k):
        super().__init__()
        self.conv = nn.Conv2d(c, 4, 1)
        self.fc = nn.Linear(4, k)

    def forward(self, x):
        return self.fc(ops.flatten(ops.adaptive_avg_pool2d(self.conv(x), 1), 1))


class _AuxNet(nn.Module):
    """A main head and an auxiliary one (Inception / GoogLeNet style)."""

    def __init__(self, k=10, width=6):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1)
        self.aux = _Aux(width, k)
        self.conv2 = nn.Conv2d(width, 8, 3, padding=1)
        self.fc = nn.Linear(8, k)

    def forward(self, x):
        h = self.conv1(x)
        out = self.fc(ops.flatten(ops.adaptive_avg_pool2d(self.conv2(h), 1), 1))
        return (out, self.aux(h)) if self.training else out


def test_auxiliary_heads_are_new_too():
    src = _AuxNet(10).state_dict()
    model = load_weights(_AuxNet(4), src)
    assert model.fc.weight.shape == (4, 8) and model.aux.fc.weight.shape == (4, 4)
    np.testing.assert_array_equal(model.aux.conv.weight.data, src["aux.conv.weight"])
    np.testing.assert_array_equal(model.conv2.weight.data, src["conv2.weight"])


def test_other_shape_mismatches_are_refused():
    src = models.digits_net(num_classes=10).state_dict()
    model = models.digits_net(in_channels=3, num_classes=4)
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"shapes differ for 0.weight \(32, 1, 3, 3\) in the weights, "
                                         r"\(32, 3, 3, 3\) in the model.*Only the classifier head \(8\)"):
        load_weights(model, src)
    for k, v in model.state_dict().items():          # nothing changed
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(ValueError, match=r"conv1.weight \(6, 3, 3, 3\) in the weights"):
        load_weights(_AuxNet(10, width=5), _AuxNet(10).state_dict())  # conv1 6 -> 5 channels
    with pytest.raises(ValueError, match="shapes differ"):
        load_weights(_AuxNet(10, width=5), _AuxNet(4).state_dict())


def test_missing_and_unexpected_keys_name_the_nearest():
    src = models.digits_net().state_dict()
    src["0.wieght"] = src.pop("0.weight")
    with pytest.raises(CheckpointKeyError) as e:
        load_weights(models.digits_net(), src)
    text = str(e.value)
    assert "1 missing and 1 unexpected keys" in text
    assert "missing '0.weight' (nearest: '0.wieght')" in text
    assert "unexpected '0.wieght' (nearest: '0.weight')" in text
    assert isinstance(e.value, ValueError) and isinstance(e.value, KeyError)


def test_a_prefix_gets_a_remap_hint_and_remap_fixes_it(tmp_path):
    src = models.resnet18(num_classes=10, input_size=32).state_dict()
    wrapped = {"module." + k: v for k, v in src.items()}              # saved from DataParallel
    with pytest.raises(CheckpointKeyError, match=r"prefix 'module\.': remap=\{r'\^module\\\.': ''\}"):
        load_weights(models.resnet18(num_classes=10, input_size=32), wrapped)
    np.savez(tmp_path / "w.npz", **wrapped)
    model = models.build("resnet18", weights=tmp_path / "w.npz", remap={r"^module\.": ""}, input_size=32,
                         num_classes=10)
    np.testing.assert_array_equal(model.state_dict()["layer4.1.conv2.weight"], src["layer4.1.conv2.weight"])


def test_remap_callable_dict_and_drop():
    src = models.digits_net().state_dict()
    renamed = {k.replace("8.", "head.") if k.startswith("8.") else k: v for k, v in src.items()}
    renamed["extra.counter"] = np.array(1, np.int64)
    m1 = load_weights(models.digits_net(), renamed,
                      remap=lambda k: None if k.startswith("extra.") else k.replace("head.", "8."))
    m2 = load_weights(models.digits_net(), renamed, remap={r"^extra\.": None, r"^head\.": "8."})
    for m in (m1, m2):
        np.testing.assert_array_equal(m.state_dict()["8.weight"], src["8.weight"])


def test_remap_errors():
    src = models.digits_net().state_dict()
    with pytest.raises(ValueError, match="both become"):
        load_weights(models.digits_net(), src, remap=lambda k: "same")
    with pytest.raises(ValueError, match="not a regular expression"):
        load_weights(models.digits_net(), src, remap={"(": ""})
    with pytest.raises(TypeError, match="remap must be"):
        load_weights(models.digits_net(), src, remap=["a"])
    with pytest.raises(TypeError, match="returned a int"):
        load_weights(models.digits_net(), src, remap=lambda k: 3)


def test_safetensors_weights_through_a_builder(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    src = models.vgg_small(num_classes=10, input_size=16, width=8).state_dict()
    st.save_file(src, str(tmp_path / "w.safetensors"))
    model = models.vgg_small(input_size=16, width=8, num_classes=2, weights=tmp_path / "w.safetensors")
    np.testing.assert_array_equal(model.state_dict()["1.running_var"], src["1.running_var"])
    assert model.state_dict()["1.num_batches_tracked"].dtype == np.int64


def test_a_torch_state_dict_loads_directly_half_precision_too():
    torch = pytest.importorskip("torch")
    src = models.digits_net(num_classes=10).state_dict()
    tensors = {k: torch.from_numpy(v) for k, v in src.items()}
    tensors["0.weight"] = tensors["0.weight"].bfloat16()
    tensors["8.bias"] = tensors["8.bias"].half()
    model = load_weights(models.digits_net(num_classes=10), tensors)
    np.testing.assert_array_equal(model.state_dict()["0.weight"], tensors["0.weight"].float().numpy())
    np.testing.assert_array_equal(model.state_dict()["2.weight"], src["2.weight"])
    model = load_weights(models.digits_net(num_classes=4), tensors)               # and a new head
    assert model.state_dict()["8.weight"].shape == (4, 128)


def test_a_head_built_without_random_init_is_initialised():
    """A builder may skip the random draws when weights are given (they overwrite every
    parameter... except a new head's): that head must not stay all zeros."""
    src = models.all_conv_net(num_classes=10, input_size=16, width=8).state_dict()
    with nn.init.skip_random_init():
        model = models.all_conv_net(num_classes=3, input_size=16, width=8)
    load_weights(model, src)
    head = model[16]                                 # conv head: zeros before the pooling would not learn
    bound = 1 / np.sqrt(16)
    assert np.abs(head.weight.data).max() > 0 and np.abs(head.bias.data).max() > 0
    assert np.abs(head.bias.data).max() <= bound
    np.testing.assert_array_equal(model[14].weight.data, src["14.weight"])
