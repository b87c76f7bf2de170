"""compile() of torch.nn modules through cnnnative.torch_adapter: torch layers become
cnnnative layers (weights copied), then trace like any model; results equal torch's."""
import numpy as np
import pytest

import cnnnative as cn

torch = pytest.importorskip("torch")
tnn = torch.nn


def _randomize_norms(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (tnn.BatchNorm1d, tnn.BatchNorm2d)):
                m.running_mean.uniform_(-0.3, 0.3, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)
            if getattr(m, "weight", None) is not None and isinstance(m, (tnn.BatchNorm2d, tnn.GroupNorm,
                                                                        tnn.LayerNorm, tnn.BatchNorm1d)):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.3, 0.3, generator=g)
    return model.eval()


def _close(compiled, model, x):
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(expected).max()))


def test_torch_layers_compile_and_match_torch(rng):
    torch.manual_seed(0)
    model = _randomize_norms(tnn.Sequential(
        tnn.Conv2d(3, 8, 3, padding=1, bias=False), tnn.BatchNorm2d(8), tnn.LeakyReLU(0.1),
        tnn.Conv2d(8, 8, 3, padding=1, groups=2), tnn.GroupNorm(4, 8), tnn.Tanh(),
        tnn.MaxPool2d(2), tnn.Conv2d(8, 6, 1), tnn.InstanceNorm2d(6, affine=True), tnn.Sigmoid(),
        tnn.LocalResponseNorm(3), tnn.AvgPool2d(2), tnn.Dropout(0.3), tnn.Flatten(),
        tnn.Linear(6 * 2 * 2, 10), tnn.BatchNorm1d(10), tnn.ReLU6(), tnn.LayerNorm(10), tnn.Linear(10, 4),
        tnn.Softmax(dim=1)))
    x = rng.standard_normal((3, 3, 8, 8)).astype(np.float32)
    compiled = cn.compile(model, x.shape, poison=True)
    _close(compiled, model, x)
    assert any(n["op"] == "host:leaky_relu" for n in compiled.nodes)


class Bottleneck(tnn.Module):
    """torchvision's Bottleneck layout (recognised by its class and attribute names)."""

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        width = planes
        self.conv1 = tnn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(width)
        self.conv2 = tnn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(width)
        self.conv3 = tnn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = tnn.BatchNorm2d(planes * 4)
        self.relu = tnn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = tnn.Sequential(tnn.Conv2d(inplanes, planes * 4, 1, stride, bias=False),
                                             tnn.BatchNorm2d(planes * 4))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


def test_torchvision_bottleneck_compiles(rng):
    torch.manual_seed(1)
    model = _randomize_norms(tnn.Sequential(Bottleneck(16, 4), Bottleneck(16, 8, stride=2)))
    x = rng.standard_normal((2, 16, 9, 9)).astype(np.float32)
    compiled = cn.compile(model, x.shape, poison=True)
    _close(compiled, model, x)
    assert sum(n.get("residual", False) for n in compiled.nodes) == 2  # both adds fused into convs


def test_unknown_torch_module_names_its_path_and_class():
    class Mystery(tnn.Module):
        def forward(self, x):
            return x * 2
    with pytest.raises(TypeError, match=r"'1' \(Mystery\)"):
        cn.compile(tnn.Sequential(tnn.ReLU(), Mystery()), (1, 3, 4, 4))


def test_padding_modes_and_padding_layers_compile_and_match_torch(rng):
    # padding_mode != 'zeros' was refused before the padding modes existed (issue 13)
    torch.manual_seed(0)
    model = tnn.Sequential(tnn.ReflectionPad2d((1, 2, 0, 1)), tnn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"),
                           tnn.ReplicationPad2d(1), tnn.Conv2d(4, 4, 2, padding="same", padding_mode="circular"),
                           tnn.ConstantPad2d((0, 1, 1, 0), 0.5), tnn.ZeroPad2d(1), tnn.CircularPad2d(1),
                           tnn.Conv2d(4, 2, 3, padding="valid")).eval()
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    _close(cn.compile(model, x.shape, poison=True), model, x)
