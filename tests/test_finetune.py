"""cnnnative.finetune and the transfer-learning scenarios on generated data: feature
extraction (cached features) equals training the head on the frozen full model, frozen
layers stay unchanged, per-group learning rates apply, the `train` command end to end."""
import json

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import cli, finetune, models, nn, optim
import cnnnative.nn.functional as F


def _data(n=24, c=3, size=32, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, c, size, size), dtype=np.float32), rng.integers(0, classes, n)


def _pretrained(tmp_path, name, **kw):
    """A 'pretrained' file: the builder's 10-class weights with BatchNorm statistics that
    differ from a fresh model's (so a change to them would show)."""
    nn.init.manual_seed(1)
    state = models.build(name, num_classes=10, **kw).state_dict()
    rng = np.random.default_rng(5)
    for k in state:
        if k.endswith("running_mean"):
            state[k] = rng.standard_normal(state[k].shape).astype(np.float32) * 0.1
        elif k.endswith("running_var"):
            state[k] = (1 + rng.random(state[k].shape)).astype(np.float32)
    path = tmp_path / f"{name}.npz"
    np.savez(path, **state)
    return path, state


def _snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


# -- head, freeze, unfreeze ------------------------------------------------------------------
def test_head_names():
    assert finetune.head(models.resnet18(num_classes=3, input_size=32)) == "fc"
    assert finetune.head(models.resnet20(num_classes=3)) == "fc"
    assert finetune.head(models.vgg_small(input_size=16)) == "23"
    assert finetune.head(models.all_conv_net(input_size=16)) == "16"   # a conv head, pooling after it


def test_freeze_up_to_a_stage_graph_and_module_forms():
    for model in (models.resnet18(num_classes=3, input_size=32), models.resnet20(num_classes=3)):
        finetune.freeze(model, up_to="layer2")
        for name, p in model.named_parameters():
            frozen = name.startswith(("conv1", "bn1", "layer1", "layer2"))
            assert p.requires_grad is not frozen, name
        model.train()
        bns = {n: m.training for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
        assert not bns["layer2.1.bn2"] and bns["layer3.0.bn1"]          # frozen ones stay in eval
        finetune.unfreeze(model)
        assert all(p.requires_grad for p in model.parameters())
        assert all(m.training for m in model.modules())


def test_freeze_all_but_the_head_and_errors():
    model = models.vgg_small(num_classes=3, input_size=16, width=8)
    finetune.freeze(model)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["23.weight", "23.bias"]
    with pytest.raises(ValueError, match=r"no layer 'layer3'; its top-level layers are \['0', '1'"):
        finetune.freeze(model, "layer3")
    with pytest.raises(ValueError, match="would freeze the head '23'"):
        finetune.freeze(model, "23")
    plain = finetune.freeze(models.vgg_small(num_classes=3, input_size=16, width=8), keep_eval=False)
    plain.train()
    assert all(m.training for m in plain.modules())


# -- per-group learning rates ------------------------------------------------------------------
def test_param_groups_apply_their_learning_rates():
    x, y = _data(4, size=32)
    model = models.resnet18(num_classes=3, input_size=32)
    finetune.freeze(model, "layer1")
    groups = finetune.param_groups(model, lr=0.1, backbone_lr=0.01)
    assert [g["lr"] for g in groups] == [0.01, 0.1]
    assert groups[1]["params"] == [model.fc.weight, model.fc.bias]
    assert sum(len(g["params"]) for g in groups) == sum(p.requires_grad for p in model.parameters())
    opt = optim.SGD(groups)
    before = _snapshot(model)
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    grads = {n: np.array(p.grad) for n, p in model.named_parameters() if p.grad is not None}
    opt.step()
    after = model.state_dict()
    for n, p in model.named_parameters():
        if not p.requires_grad:
            np.testing.assert_array_equal(after[n], before[n])
        else:
            lr = 0.1 if n.startswith("fc.") else 0.01
            np.testing.assert_allclose(after[n], before[n] - lr * grads[n], rtol=1e-5, atol=1e-7, err_msg=n)

    model = models.resnet18(num_classes=3, input_size=32)
    adam = optim.Adam(finetune.param_groups(model, lr=1e-2, backbone_lr=1e-3))
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    before = _snapshot(model)
    adam.step()                                   # Adam's first step moves each weight by about lr
    after = model.state_dict()
    assert np.abs(after["fc.weight"] - before["fc.weight"]).max() == pytest.approx(1e-2, rel=1e-2)
    assert np.abs(after["layer4.1.conv2.weight"] - before["layer4.1.conv2.weight"]).max() == \
        pytest.approx(1e-3, rel=1e-2)
    with pytest.raises(ValueError, match="backbone_lr must be"):
        finetune.param_groups(model, 0.1, -1)


# -- scenario 1: the cached features ---------------------------------------------------------------
@pytest.mark.parametrize("name, kw, size", [("vgg_small", {"input_size": 16, "width": 8}, 16),
                                            ("all_conv_net", {"input_size": 16, "width": 8}, 16),
                                            ("resnet18", {"input_size": 32}, 32)])
def test_feature_cache_training_equals_the_frozen_full_model(tmp_path, name, kw, size):
    path, pretrained = _pretrained(tmp_path, name, **kw)
    x, y = _data(24, size=size)
    full = models.build(name, weights=path, num_classes=3, **kw)
    cached = models.build(name, num_classes=3, **kw)
    cached.load_state_dict(full.state_dict())
    initial = _snapshot(cached)

    finetune.freeze(full)                                  # backbone frozen, in eval mode
    cn.Trainer(full, optim.SGD([p for p in full.parameters() if p.requires_grad], lr=0.05, momentum=0.9),
               seed=3, quiet=True).fit((x, y), epochs=2, batch_size=8)

    cache = finetune.extract_features(cached, (x, y), batch_size=10)
    assert cache.compiled and len(cache) == 24 and cache.head_name == finetune.head(cached)
    head_params = list(cache.head.parameters())
    cn.Trainer(cache.head, optim.SGD(head_params, lr=0.05, momentum=0.9), seed=3, quiet=True).fit(
        cache, epochs=2, batch_size=8)

    a, b = full.state_dict(), cached.state_dict()
    h = cache.head_name + "."
    for k in a:
        if k.startswith(h):
            np.testing.assert_allclose(b[k], a[k], rtol=1e-4, atol=1e-5, err_msg=k)
        else:       # the backbone, BatchNorm statistics included, is the pretrained one in both
            want = pretrained[k]
            np.testing.assert_array_equal(a[k], want, err_msg=k)
            np.testing.assert_array_equal(b[k], want, err_msg=k)
    assert not np.allclose(b[h + "weight"], initial[h + "weight"])     # the head did train
    # The trained head is the model's: the full model predicts with it.
    cached.eval()
    with cn.no_grad():
        np.testing.assert_allclose(np.asarray(cached(x[:5])), np.asarray(cache.head(cache.features[:5])),
                                   rtol=1e-4, atol=1e-5)


def test_extract_features_eager_equals_compiled_and_keeps_modes():
    x, y = _data(6, size=16)
    model = models.vgg_small(num_classes=3, input_size=16, width=8)
    model.train()
    before = _snapshot(model)
    a = finetune.extract_features(model, (x, y), batch_size=4)
    b = finetune.extract_features(model, (x, y), batch_size=4, compiled=False)
    assert a.compiled and not b.compiled and a.features.shape == (6, 32)
    np.testing.assert_allclose(a.features, b.features, rtol=1e-4, atol=1e-5)
    assert all(m.training for m in model.modules())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    digits = cn.data.load_digits("test").subset(np.arange(20))         # a Dataset (uint8, scaled)
    cache = finetune.extract_features(models.digits_net(num_classes=10), digits)
    assert cache.features.shape == (20, 128) and cache.targets.dtype == np.int64


class _Doubled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        h = F.adaptive_avg_pool2d(self.conv(x), 1)
        return self.fc(h.reshape(h.shape[0], -1)) * 2.0      # more work after the head


class _SqueezeLike(nn.Module):
    """A convolutional head inside a Sequential with pooling after it, and a flatten in
    forward (SqueezeNet's layout)."""

    def __init__(self, k=3):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(8, k, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))

    def forward(self, x):
        h = self.classifier(self.features(x))
        return h.reshape(h.shape[0], -1)


def test_extract_features_with_a_conv_head_and_a_flatten_in_forward():
    x, y = _data(6, size=8)
    model = _SqueezeLike()
    cache = finetune.extract_features(model, (x, y), batch_size=4)
    assert cache.head_name == "classifier.1" and cache.features.shape == (6, 8, 6, 6)
    model.eval()
    with cn.no_grad():
        np.testing.assert_allclose(np.asarray(cache.head(cache.features)), np.asarray(model(x)), rtol=1e-4,
                                   atol=1e-6)


def test_extract_features_refuses_a_model_that_works_after_its_head():
    x, y = _data(4, size=8)
    with pytest.raises(ValueError, match="does not give _Doubled's output"):
        finetune.extract_features(_Doubled(), (x, y))


# -- scenarios 2-4 on ResNet-18 ---------------------------------------------------------------------
def _train_steps(model, opt, x, y, steps=2):
    trainer = cn.Trainer(model, opt, seed=0, quiet=True)
    for i in range(steps):
        trainer.step(x[i * 4:(i + 1) * 4], y[i * 4:(i + 1) * 4])


def test_scenarios_fine_tune_part_all_and_with_slower_backbone(tmp_path):
    path, pretrained = _pretrained(tmp_path, "resnet18", input_size=32)
    x, y = _data(8, size=32)

    # 2: freeze the lower stages, fine-tune layer3, layer4 and the new head.
    model = models.build("resnet18", weights=path, num_classes=3, input_size=32)
    finetune.freeze(model, up_to="layer2")
    _train_steps(model, optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05, momentum=0.9), x, y)
    after = model.state_dict()
    for k, v in after.items():
        lower = k.startswith(("conv1", "bn1", "layer1", "layer2"))
        if lower:
            np.testing.assert_array_equal(v, pretrained[k], err_msg=k)    # stats too: kept in eval
        elif k.startswith("layer4") and k.endswith(("weight", "running_mean")):
            assert not np.array_equal(v, pretrained[k]), k

    # 3: everything trains, the pretrained layers ten times slower than the head.
    model = models.build("resnet18", weights=path, num_classes=3, input_size=32)
    head_before = model.fc.weight.data.copy()
    opt = optim.SGD(finetune.param_groups(model, lr=0.05, backbone_lr=0.005), momentum=0.9)
    _train_steps(model, opt, x, y)
    after = model.state_dict()
    assert not np.array_equal(after["conv1.weight"], pretrained["conv1.weight"])
    assert not np.array_equal(after["fc.weight"], head_before)

    # 4: everything at one rate (after a freeze, unfreeze gives it all back).
    finetune.freeze(model)
    finetune.unfreeze(model)
    before = _snapshot(model)
    _train_steps(model, optim.SGD(model, lr=0.05), x, y)
    assert all(not np.array_equal(p.data, before[n]) for n, p in model.named_parameters())


# -- the train command --------------------------------------------------------------------------------
def _run(capsys, *args):
    assert cli.main(["train", "--model", "digits_net", "--limit", "64", "--epochs", "2", "--no-plots",
                     "--json", "--seed", "0", *args]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_freeze_backbone_end_to_end(tmp_path, capsys):
    nn.init.manual_seed(4)
    weights = models.digits_net(num_classes=3).state_dict()     # 'pretrained' on another task
    np.savez(tmp_path / "w.npz", **weights)
    out = tmp_path / "run"
    summary = _run(capsys, "--weights", str(tmp_path / "w.npz"), "--freeze-backbone", "--out", str(out))
    assert summary["epochs"] == 2 and 0 <= summary["test_accuracy"] <= 1
    state = cn.load_state_dict_file(out / "model.npz")
    assert state["8.weight"].shape == (10, 128)                    # the digits' 10 classes: a new head
    for k in weights:
        if not k.startswith("8."):
            np.testing.assert_array_equal(state[k], weights[k], err_msg=k)
    # The checkpoint is a full model again: predict runs it.
    x, _ = cn.data.load_digits("test").arrays()
    np.save(tmp_path / "img.npy", x[:3])
    assert cli.main(["predict", str(out / "model.npz"), str(tmp_path / "img.npy"), "--json"]) == 0


def test_cli_freeze_up_to_with_backbone_lr(tmp_path, capsys):
    weights = models.digits_net(num_classes=10).state_dict()
    np.savez(tmp_path / "w.npz", **weights)
    out = tmp_path / "run"
    _run(capsys, "--weights", str(tmp_path / "w.npz"), "--freeze-up-to", "2", "--backbone-lr", "0.01",
         "--out", str(out))
    state = cn.load_state_dict_file(out / "model.npz")
    for k in ("0.weight", "2.bias"):
        np.testing.assert_array_equal(state[k], weights[k])
    for k in ("6.weight", "8.weight"):
        assert not np.array_equal(state[k], weights[k])


def test_cli_transfer_errors(tmp_path):
    with pytest.raises(SystemExit, match="takes neither --freeze-up-to nor --backbone-lr"):
        cli.main(["train", "--model", "digits_net", "--freeze-backbone", "--backbone-lr", "0.01",
                  "--out", str(tmp_path), "--limit", "8"])
    with pytest.raises(SystemExit, match="no layer 'layer3'"):
        cli.main(["train", "--model", "digits_net", "--freeze-up-to", "layer3", "--out", str(tmp_path),
                  "--limit", "8"])
    with pytest.raises(SystemExit, match="No such file or directory: .*nope.npz"):
        cli.main(["train", "--weights", str(tmp_path / "nope.npz"), "--out", str(tmp_path), "--limit", "8"])
