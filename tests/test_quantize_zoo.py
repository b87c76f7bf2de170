"""cnnnative.quantize on zoo models with random weights and BatchNorm statistics, calibrated
on their own input distribution: MobileNet-v2 (depthwise, ReLU6, linear bottlenecks with
residuals) and ResNet-18 at 32x32. Agreement with float32 is reported; with random weights
the logits are close together, so the asserted bound is the honest measured floor."""
import numpy as np
import pytest

import cnnnative
from cnnnative import models, nn

from bn_stats import randomize_bn


@pytest.mark.parametrize("name,floor", [("mobilenet_v2", 0.9), ("resnet18", 0.85)])
def test_zoo_int8_agreement(name, floor):
    rng = np.random.default_rng(0)
    nn.init.manual_seed(0)
    model = getattr(models, name)(num_classes=100)
    randomize_bn(model, rng)
    model.eval()
    x = rng.normal(size=(40, 3, 32, 32)).astype(np.float32)
    y = cnnnative.compile(model, (24, 3, 32, 32))(x[16:])
    qm = cnnnative.quantize(model, x[:16], input_shape=(24, 3, 32, 32))
    yq = qm(x[16:])
    agree = float((yq.argmax(1) == y.argmax(1)).mean())
    rel = float((np.abs(yq - y).max(1) / np.abs(y).max(1)).max())
    print(f"{name} 32x32 random weights: top-1 agreement {agree:.4f}, max relative logit error {rel:.4f}")
    assert agree >= floor
    assert rel < 0.2
    convs = [r for r in qm.layers if r["op"] == "conv2d"]
    assert sum(r["mode"] == "int8" for r in convs) == len(convs) - 1
