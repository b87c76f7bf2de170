"""cnnnative.quantize on a ResNet-20 trained briefly on generated 16x16 images (10 classes:
a colour and an oriented stripe pattern each, plus noise): top-1 agreement with float32
on held-out images, and the residual adds run inside the int8 convolutions' output stage."""
import numpy as np

import cnnnative
from cnnnative import models, nn, optim


def generated(rng, n, colors, templates):
    y = rng.integers(0, 10, n)
    return (templates[y] + rng.normal(scale=1.0, size=(n, 3, 16, 16))).astype(np.float32), y


def test_resnet20_int8_agrees_with_fp32():
    rng = np.random.default_rng(0)
    colors = rng.normal(size=(10, 3, 1, 1)) * 0.7
    ii, jj = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    ang = (np.arange(10) * np.pi / 10)[:, None, None, None]
    templates = colors + np.sin((np.cos(ang) * ii + np.sin(ang) * jj) * 0.9)
    xtr, ytr = generated(rng, 320, colors, templates)
    xte, yte = generated(rng, 128, colors, templates)
    nn.init.manual_seed(0)
    model = models.resnet20()
    opt = optim.SGD(model, lr=0.02, momentum=0.9)
    cnnnative.Trainer(model, opt, seed=0, quiet=True).fit((xtr, ytr), epochs=3, batch_size=16)
    model.eval()
    y = cnnnative.compile(model, xte.shape)(xte)
    fp32_acc = float((y.argmax(1) == yte).mean())
    assert fp32_acc > 0.5  # trained well above chance (0.1): measured 0.89-0.95 on scalar, avx2, avx512
    for method in ("minmax", "percentile"):
        qm = cnnnative.quantize(model, xtr[:64], input_shape=xte.shape, method=method)
        yq = qm(xte)
        agree = float((yq.argmax(1) == y.argmax(1)).mean())
        rel = float((np.abs(yq - y).max(1) / np.abs(y).max(1)).max())
        print(f"resnet20 {method}: top-1 agreement {agree:.4f}, max relative logit error {rel:.4f}, "
              f"accuracy fp32 {fp32_acc:.4f} int8 {(yq.argmax(1) == yte).mean():.4f}")
        assert agree >= 0.97  # measured 1.0 (minmax, percentile) on this data
        assert rel < 0.2
    convs = [r for r in qm.layers if r["op"] == "conv2d"]
    assert sum(r["mode"] == "int8" for r in convs) == len(convs) - 1  # all but the stem
    # Every block's add runs in an int8 conv's output stage: on uint8, except the first
    # block's, whose shortcut is the fp32 stem's float32 output.
    assert [r.get("residual") for r in convs if r.get("residual")] == ["float32"] + ["uint8"] * 8
