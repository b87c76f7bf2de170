"""Write the small ONNX models of tests/data/onnx/ and their expected outputs, so that
tests/test_onnx_testdata.py checks import, compile and fine-tuning without torch.

How they were made (rerun to regenerate; the files are committed, the test never runs this):

    pip install torch==2.13.0 onnx      # CPU wheel; onnx 1.23
    python tools/make_onnx_testdata.py  # from the repository root

Each model is a seeded torch module in eval mode (BatchNorm with non-trivial running
statistics), exported by the TorchScript exporter (torch.onnx.export(..., dynamo=False))
with a dynamic batch dim 'N', input 'x' and output 'y', 16x16 inputs and few channels so
every file stays well under 100 KB:

    resnet_block_op13.onnx     conv-BN-ReLU-conv-BN + identity, ReLU, GAP, Linear (opset 13)
    shufflenet_unit_op17.onnx  a ShuffleNet-v2 unit: chunk, 1x1 / depthwise 3x3 / 1x1 branch,
                               concat, channel shuffle by view-transpose-view (opset 17)
    mobilenet_v3_op13.onnx     a MobileNet-v3 block: expand 1x1 + Hardswish, depthwise 3x3 +
    mobilenet_v3_op17.onnx     Hardswish, squeeze-excitation (ReLU, Hardsigmoid), project
                               1x1, residual (opset 13: Hardswish as x * HardSigmoid; 17:
                               the HardSwish op)
    resnet_block_external.onnx the resnet block at opset 17 with every initializer in
    + resnet_block_external.data   the external-data file beside it

<name>.npz holds torch's output for two inputs: x1 / y1 (batch 1) and x3 / y3 (batch 3),
float32, from numpy.random.default_rng(0).
"""
from __future__ import annotations

import io
import os
import warnings

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "onnx")


def _modules():
    import torch
    from torch import nn

    def bn(c):
        layer = nn.BatchNorm2d(c)
        with torch.no_grad():
            layer.running_mean.uniform_(-0.5, 0.5)
            layer.running_var.uniform_(0.5, 2.0)
            layer.weight.uniform_(0.5, 1.5)
            layer.bias.uniform_(-0.5, 0.5)
        return layer

    class ResNetBlock(nn.Module):
        def __init__(self, c=8, classes=3):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), bn(c), nn.ReLU())
            self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), bn(c)
            self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), bn(c)
            self.fc = nn.Linear(c, classes)

        def forward(self, x):
            x = self.stem(x)
            y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            y = torch.relu(x + y)
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))

    class ShuffleUnit(nn.Module):
        def __init__(self, c=8):
            super().__init__()
            h = c // 2
            self.branch = nn.Sequential(nn.Conv2d(h, h, 1, bias=False), bn(h), nn.ReLU(),
                                        nn.Conv2d(h, h, 3, padding=1, groups=h, bias=False), bn(h),
                                        nn.Conv2d(h, h, 1, bias=False), bn(h), nn.ReLU())

        def forward(self, x):
            a, b = x.chunk(2, dim=1)
            y = torch.cat([a, self.branch(b)], dim=1)
            n, c, hh, ww = y.shape
            return y.view(n, 2, c // 2, hh, ww).transpose(1, 2).contiguous().view(n, c, hh, ww)

    class SE(nn.Module):
        def __init__(self, c, squeeze):
            super().__init__()
            self.fc1, self.fc2 = nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1)

        def forward(self, x):
            s = nn.functional.adaptive_avg_pool2d(x, 1)
            return x * nn.functional.hardsigmoid(self.fc2(torch.relu(self.fc1(s))))

    class MobileNetV3Block(nn.Module):
        def __init__(self, c=8, expanded=16):
            super().__init__()
            self.expand = nn.Sequential(nn.Conv2d(c, expanded, 1, bias=False), bn(expanded), nn.Hardswish())
            self.depthwise = nn.Sequential(nn.Conv2d(expanded, expanded, 3, padding=1, groups=expanded, bias=False),
                                           bn(expanded), nn.Hardswish())
            self.se = SE(expanded, 4)
            self.project = nn.Sequential(nn.Conv2d(expanded, c, 1, bias=False), bn(c))

        def forward(self, x):
            return x + self.project(self.se(self.depthwise(self.expand(x))))

    torch.manual_seed(0)
    return {"resnet_block": (ResNetBlock().eval(), 3), "shufflenet_unit": (ShuffleUnit().eval(), 8),
            "mobilenet_v3": (MobileNetV3Block().eval(), 8)}


def _export(module, channels, opset):
    import torch
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, torch.zeros(1, channels, 16, 16), buf, opset_version=opset, dynamo=False,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    return buf.getvalue()


def _expected(module, channels, path):
    import torch
    rng = np.random.default_rng(0)
    arrays = {}
    for batch in (1, 3):
        x = rng.standard_normal((batch, channels, 16, 16)).astype(np.float32)
        with torch.no_grad():
            arrays[f"x{batch}"], arrays[f"y{batch}"] = x, module(torch.from_numpy(x)).numpy()
    np.savez_compressed(path, **arrays)


def main():
    import onnx
    os.makedirs(OUT, exist_ok=True)
    modules = _modules()
    plan = [("resnet_block_op13", "resnet_block", 13), ("shufflenet_unit_op17", "shufflenet_unit", 17),
            ("mobilenet_v3_op13", "mobilenet_v3", 13), ("mobilenet_v3_op17", "mobilenet_v3", 17)]
    for name, key, opset in plan:
        module, channels = modules[key]
        model = onnx.load_from_string(_export(module, channels, opset))
        onnx.checker.check_model(model, full_check=True)
        onnx.save_model(model, os.path.join(OUT, f"{name}.onnx"))
        _expected(module, channels, os.path.join(OUT, f"{name}.npz"))

    module, channels = modules["resnet_block"]
    model = onnx.load_from_string(_export(module, channels, 17))
    onnx.save_model(model, os.path.join(OUT, "resnet_block_external.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="resnet_block_external.data", size_threshold=0)
    _expected(module, channels, os.path.join(OUT, "resnet_block_external.npz"))

    for f in sorted(os.listdir(OUT)):
        size = os.path.getsize(os.path.join(OUT, f))
        assert size < 100_000, f"{f} is {size} bytes: keep test data under 100 KB"
        print(f"{f:32s} {size:7d} bytes")


if __name__ == "__main__":
    main()
