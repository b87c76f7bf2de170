"""Batch augmentation (cnnnative.data.augment) against per-image numpy references, the
validation split, Dataset / Trainer transforms, and `cnnnative train --dataset cifar10` end
to end on small generated CIFAR-10 binary files."""
import json
import os

import numpy as np
import pytest

from cnnnative import cli, data, models, nn, optim
from cnnnative.data import Compose, Normalize, RandomCrop, RandomHorizontalFlip, channel_stats, split_validation
from cnnnative.train import Trainer

from test_data import write_cifar


def _batch(n=5, c=3, h=8, w=10, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, c, h, w)).astype(dtype)


# --- RandomCrop --------------------------------------------------------------------------

@pytest.mark.parametrize("padding, mode", [(2, "constant"), ((1, 3), "constant"), ((1, 2, 3, 0), "reflect"),
                                           (2, "edge"), (None, "constant")])
def test_random_crop_equals_per_image_reference(padding, mode):
    x = _batch()
    crop = RandomCrop((6, 7), padding=padding, fill=9, padding_mode=mode)
    top, left = crop.offsets(x.shape, np.random.default_rng(3))
    out = crop(x, generator=np.random.default_rng(3))  # the same generator state: the same offsets
    p = 0 if padding is None else padding
    p = (p,) * 4 if np.isscalar(p) else (p * 2 if len(p) == 2 else p)
    left_pad, top_pad, right_pad, bottom_pad = p
    assert out.shape == (5, 3, 6, 7) and out.dtype == x.dtype
    for n in range(len(x)):
        kw = {"constant_values": 9} if mode == "constant" else {}
        padded = np.pad(x[n], ((0, 0), (top_pad, bottom_pad), (left_pad, right_pad)), mode=mode, **kw)
        np.testing.assert_array_equal(out[n], padded[:, top[n]:top[n] + 6, left[n]:left[n] + 7])


def test_random_crop_offsets_cover_the_range_independently():
    crop = RandomCrop(32, padding=4, seed=0)
    top, left = crop.offsets((4000, 3, 32, 32))
    assert top.min() == 0 and top.max() == 8 and left.min() == 0 and left.max() == 8
    assert abs(np.corrcoef(top, left)[0, 1]) < 0.1  # one independent draw per image and axis
    counts = np.bincount(top, minlength=9)
    assert counts.min() > 4000 / 9 * 0.7


def test_random_crop_without_padding_at_full_size_is_identity_and_seeded():
    x = _batch()
    np.testing.assert_array_equal(RandomCrop((8, 10))(x), x)
    a = RandomCrop(5, padding=2, seed=7)(x)
    b = RandomCrop(5, padding=2, seed=7)(x)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="larger than the padded"):
        RandomCrop(20, padding=1)(x)
    with pytest.raises(ValueError, match="padding_mode"):
        RandomCrop(4, padding_mode="wrap")
    with pytest.raises(ValueError, match="batch"):
        RandomCrop(4)(x[0])


# --- RandomHorizontalFlip ----------------------------------------------------------------

def test_horizontal_flip_equals_per_image_reference():
    x = _batch(n=64)
    flip = RandomHorizontalFlip(0.5)
    which = flip.flips(64, np.random.default_rng(5))
    out = flip(x, generator=np.random.default_rng(5))
    assert 0 < which.sum() < 64
    for n in range(64):
        np.testing.assert_array_equal(out[n], x[n, :, :, ::-1] if which[n] else x[n])
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(x), x[..., ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0)(x), x)
    with pytest.raises(ValueError, match="p must be"):
        RandomHorizontalFlip(1.5)


# --- Normalize, channel_stats, Compose -----------------------------------------------------

def test_normalize_is_exact_float32():
    x = _batch(dtype=np.float32) / np.float32(255)
    mean, std = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]
    out = Normalize(mean, std)(x)
    ref = (x - np.float32(mean).reshape(3, 1, 1)) / np.float32(std).reshape(3, 1, 1)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, ref)
    with pytest.raises(ValueError, match="2 mean values for 3 channels"):
        Normalize([0.5, 0.5], [1, 1, 1])(x)
    with pytest.raises(ValueError, match="positive"):
        Normalize([0.5], [0.0])


def test_channel_stats_match_numpy():
    x = _batch(n=9, dtype=np.uint8)
    mean, std = channel_stats(x, 255.0, chunk=4)  # several chunks
    f = x.astype(np.float64) / 255
    np.testing.assert_allclose(mean, f.mean(axis=(0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(std, f.std(axis=(0, 2, 3)), rtol=1e-5)


def test_compose_applies_in_order_with_one_generator():
    x = _batch()
    t = Compose([RandomCrop(8, padding=(0, 0, 0, 0)), RandomHorizontalFlip(1.0), Normalize([1.0], [2.0])])
    out = t(x[:, :, :, :8], generator=np.random.default_rng(0))
    np.testing.assert_array_equal(out, (x[:, :, :, 7::-1] - 1) / 2)
    with pytest.raises(TypeError, match="not callable"):
        Compose([1])


# --- datasets and the trainer ------------------------------------------------------------

def test_split_validation_is_seeded_disjoint_and_complete():
    ds = data.Dataset(np.arange(100, dtype=np.uint8).reshape(100, 1, 1, 1), np.arange(100) % 10, 10)
    tr, va = split_validation(ds, 0.1, seed=3)
    assert len(tr) == 90 and len(va) == 10
    seen = np.concatenate([tr.images.ravel(), va.images.ravel()])
    assert sorted(seen.tolist()) == list(range(100))
    np.testing.assert_array_equal(split_validation(ds, 0.1, seed=3)[1].images, va.images)
    assert not np.array_equal(split_validation(ds, 0.1, seed=4)[1].images, va.images)
    assert split_validation(ds, 0.0) == (ds, None)
    with pytest.raises(ValueError, match="fraction"):
        split_validation(ds, 1.0)


def test_dataset_batches_apply_the_transform_reproducibly():
    ds = data.Dataset(_batch(n=10, dtype=np.uint8), np.arange(10) % 3, 3)
    t = Compose([RandomCrop(8, padding=2), RandomHorizontalFlip()])
    a = [x for x, _ in ds.with_transform(t).batches(4, shuffle=True, seed=1)]
    b = [x for x, _ in ds.batches(4, shuffle=True, seed=1, transform=t)]
    for xa, xb in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
    plain = [x for x, _ in ds.batches(4, shuffle=True, seed=1)]
    assert a[0].shape == (4, 3, 8, 8) and not np.array_equal(a[0][:, :, :, :8], plain[0][:, :, :, :8])
    assert ds.with_transform(t).subset([0, 1]).transform is t and ds.transform is None


def test_trainer_fit_takes_a_transform():
    images = _batch(n=16, c=1, h=8, w=8, dtype=np.uint8, seed=2)
    ds = data.Dataset(images, np.arange(16) % 4, 4)
    seen = []

    def spy(x, generator=None):
        seen.append(x.shape)
        return RandomHorizontalFlip()(x, generator=generator)

    nn.init.manual_seed(0)
    model = models.digits_net(num_classes=4)
    trainer = Trainer(model, optim.SGD(model, lr=0.01), quiet=True)
    trainer.fit(ds, epochs=1, batch_size=8, transform=spy)
    assert seen == [(8, 1, 8, 8), (8, 1, 8, 8)]
    with pytest.raises(TypeError, match="transform must be callable"):
        trainer.fit(ds, epochs=1, transform=3)


# --- the command line --------------------------------------------------------------------

def _cifar(tmp_path, n=24):
    root = tmp_path / "cifar"
    write_cifar(str(root / "cifar-10-batches-bin"), n=n, rng=np.random.default_rng(0))
    return str(root)


def test_cli_trains_resnet20_on_cifar10_with_augmentation_and_a_val_split(tmp_path, capsys):
    root = _cifar(tmp_path)
    out = tmp_path / "run"
    argv = ["train", "--dataset", "cifar10", "--data-dir", root, "--model", "resnet20", "--epochs", "1",
            "--limit", "40", "--batch-size", "10", "--out", str(out), "--no-plots", "--json", "--threads", "1"]
    assert cli.main(argv) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["augment"] is True and summary["val_split"] == 0.1  # the cifar10 defaults
    assert 0 <= summary["val_accuracy"] <= 1 and 0 <= summary["test_accuracy"] <= 1
    from cnnnative import io
    extra = io.load(str(out / "model.npz"))["meta"]["extra"]
    images = data.load_cifar10(root, "train").images[:40]
    held = np.zeros(40, bool)
    held[np.random.default_rng(0).permutation(40)[:4]] = True  # --seed 0, 10% of 40
    mean, _ = channel_stats(images[~held])
    np.testing.assert_allclose(extra["normalize"]["mean"], mean, rtol=1e-6)
    # predict applies the same normalisation
    np.save(tmp_path / "x.npy", data.load_cifar10(root, "test").images[:2])
    assert cli.main(["predict", str(out / "model.npz"), str(tmp_path / "x.npy"), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["predictions"]) == 2


def test_cli_augment_and_val_split_switches(tmp_path, capsys):
    root = _cifar(tmp_path, n=8)
    base = ["train", "--dataset", "cifar10", "--data-dir", root, "--model", "squeezenet1_1", "--epochs", "1",
            "--batch-size", "8", "--out", str(tmp_path / "o"), "--no-plots", "--json", "--threads", "1"]
    assert cli.main(base + ["--no-augment", "--val-split", "0"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["augment"] is False and "val_accuracy" not in summary
    from test_cli_failures import fails
    fails(base + ["--val-split", "1"], "--val-split", "[0, 1)")
    fails(["train", "--model", "vgg11", "--out", str(tmp_path / "o")], "vgg11 needs images of at least 32x32",
          "digits has 8x8")
