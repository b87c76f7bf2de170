"""Export the torchvision models of the CNN families (random weights, seed 0, eval mode,
BatchNorm running statistics randomised so folding is exercised) to ONNX at opset 17
with a dynamic batch, for benchmarks/bench_onnx.py --dir and the accuracy check; beside
each model.onnx a model.npz holds a batch-2 input and torchvision's output for it.

torchvision is not a dependency (nor needed by the tests); run this in its own venv:

    python -m venv /tmp/tvenv && /tmp/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 onnx
    /tmp/tvenv/bin/python benchmarks/export_torchvision_onnx.py /tmp/tv \
        alexnet,vgg16,googlenet,inception_v3,resnet50,resnext50_32x4d,densenet121,squeezenet1_1,\
shufflenet_v2_x1_0,mobilenet_v2,mobilenet_v3_large,efficientnet_b0,regnet_y_400mf,mnasnet1_0
    PYTHONPATH=python python benchmarks/bench_onnx.py --dir /tmp/tv
"""
import os
import sys
import warnings

import numpy as np
import torch
import torchvision

warnings.simplefilter("ignore")
out = sys.argv[1]
names = sys.argv[2].split(",")
os.makedirs(out, exist_ok=True)
for name in names:
    torch.manual_seed(0)
    kw = {"aux_logits": False, "init_weights": True} if name in ("googlenet", "inception_v3") else {}
    m = getattr(torchvision.models, name)(weights=None, **kw).eval()
    size = 299 if name == "inception_v3" else 224
    # BatchNorm running stats are 0/1 at init: randomise them so folding is exercised
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
                mod.running_var.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
    x = torch.randn(2, 3, size, size, generator=g)
    torch.onnx.export(m, x[:1], f"{out}/{name}.onnx", opset_version=17, dynamo=False, input_names=["x"],
                      dynamic_axes={"x": {0: "N"}})
    with torch.no_grad():
        y = m(x).numpy()
    np.savez(f"{out}/{name}.npz", x=x.numpy(), y=y)
    print(name, "ok", flush=True)
