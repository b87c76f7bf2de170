"""End-to-end: small torch twins of each CNN family the issue names (the blocks that
define them), exported by torch at opset 17 with a dynamic batch, imported, run eager and
compiled: outputs equal torch's within 1e-4 relative, the fast layers are lifted, and an
imported model fine-tunes."""
import io
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
tnn = torch.nn

import cnnnative as cn  # noqa: E402
import cnnnative.onnx as cnx  # noqa: E402


class SE(tnn.Module):
    def __init__(self, c, r, act, gate):
        super().__init__()
        self.fc1, self.fc2 = tnn.Conv2d(c, r, 1), tnn.Conv2d(r, c, 1)
        self.act, self.gate = act, gate

    def forward(self, x):
        s = torch.nn.functional.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))


class MBConv(tnn.Module):  # EfficientNet / MobileNet-v3 / MnasNet inverted residual
    def __init__(self, c, e, act, gate, se=True):
        super().__init__()
        h = c * e
        layers = [tnn.Conv2d(c, h, 1, bias=False), tnn.BatchNorm2d(h), act(),
                  tnn.Conv2d(h, h, 3, padding=1, groups=h, bias=False), tnn.BatchNorm2d(h), act()]
        if se:
            layers.append(SE(h, max(1, c // 4), act(), gate()))
        layers += [tnn.Conv2d(h, c, 1, bias=False), tnn.BatchNorm2d(c)]
        self.block = tnn.Sequential(*layers)

    def forward(self, x):
        return x + self.block(x)


class ShuffleUnit(tnn.Module):
    def __init__(self, c):
        super().__init__()
        b = c // 2
        self.branch = tnn.Sequential(tnn.Conv2d(b, b, 1, bias=False), tnn.BatchNorm2d(b), tnn.ReLU(),
                                     tnn.Conv2d(b, b, 3, padding=1, groups=b, bias=False), tnn.BatchNorm2d(b),
                                     tnn.Conv2d(b, b, 1, bias=False), tnn.BatchNorm2d(b), tnn.ReLU())

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        out = torch.cat((a, self.branch(b)), 1)
        n, c, h, w = out.size()
        return out.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)


class Inception(tnn.Module):
    def __init__(self, c):
        super().__init__()
        self.b1 = tnn.Conv2d(c, 8, 1)
        self.b2 = tnn.Sequential(tnn.Conv2d(c, 4, 1), tnn.ReLU(), tnn.Conv2d(4, 8, 3, padding=1))
        self.b3 = tnn.Sequential(tnn.AvgPool2d(3, 1, 1, count_include_pad=False), tnn.Conv2d(c, 8, 1))
        self.b4 = tnn.Sequential(tnn.MaxPool2d(3, 1, 1, ceil_mode=True), tnn.Conv2d(c, 8, 1))

    def forward(self, x):
        return torch.relu(torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1))


class DenseLayer(tnn.Module):
    def __init__(self, c, g):
        super().__init__()
        self.f = tnn.Sequential(tnn.BatchNorm2d(c), tnn.ReLU(), tnn.Conv2d(c, 4 * g, 1, bias=False),
                                tnn.BatchNorm2d(4 * g), tnn.ReLU(), tnn.Conv2d(4 * g, g, 3, padding=1, bias=False))

    def forward(self, x):
        return torch.cat([x, self.f(x)], 1)


class Fire(tnn.Module):
    def __init__(self, c, s, e):
        super().__init__()
        self.squeeze = tnn.Sequential(tnn.Conv2d(c, s, 1), tnn.ReLU())
        self.e1, self.e3 = tnn.Conv2d(s, e, 1), tnn.Conv2d(s, e, 3, padding=1)

    def forward(self, x):
        x = self.squeeze(x)
        return torch.cat([torch.relu(self.e1(x)), torch.relu(self.e3(x))], 1)


def _head(c, k=10):
    return [tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Dropout(0.2), tnn.Linear(c, k)]


def _stem(c, act=tnn.ReLU):
    return [tnn.Conv2d(3, c, 3, stride=2, padding=1, bias=False), tnn.BatchNorm2d(c), act()]


FAMILIES = {
    "lenet": lambda: tnn.Sequential(tnn.Conv2d(3, 6, 5), tnn.Tanh(), tnn.AvgPool2d(2), tnn.Conv2d(6, 16, 5),
                                    tnn.Tanh(), tnn.AvgPool2d(2), tnn.Flatten(), tnn.Linear(16 * 5 * 5, 10)),
    "alexnet": lambda: tnn.Sequential(tnn.Conv2d(3, 16, 5, stride=2, padding=2), tnn.ReLU(),
                                      tnn.LocalResponseNorm(5), tnn.MaxPool2d(3, 2), tnn.Conv2d(16, 16, 3, padding=1),
                                      tnn.ReLU(), tnn.AvgPool2d(3, 2), tnn.Flatten(), tnn.Linear(144, 10)),
    "vgg": lambda: tnn.Sequential(tnn.Conv2d(3, 8, 3, padding=1), tnn.BatchNorm2d(8), tnn.ReLU(),
                                  tnn.MaxPool2d(2), tnn.Conv2d(8, 16, 3, padding=1), tnn.ReLU(),
                                  tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(16 * 8 * 8, 10)),
    "inception": lambda: tnn.Sequential(*_stem(8), Inception(8), *_head(32)),
    "densenet": lambda: tnn.Sequential(*_stem(8), DenseLayer(8, 4), DenseLayer(12, 4), *_head(16)),
    "squeezenet": lambda: tnn.Sequential(*_stem(8), tnn.MaxPool2d(3, 2, ceil_mode=True), Fire(8, 4, 8), *_head(16)),
    "shufflenet": lambda: tnn.Sequential(*_stem(8), ShuffleUnit(8), *_head(8)),
    "mobilenet_v2": lambda: tnn.Sequential(*_stem(8, tnn.ReLU6), MBConv(8, 4, tnn.ReLU6, None, se=False), *_head(8)),
    "mobilenet_v3": lambda: tnn.Sequential(*_stem(8, tnn.Hardswish), MBConv(8, 3, tnn.Hardswish, tnn.Hardsigmoid),
                                           *_head(8)),
    "efficientnet": lambda: tnn.Sequential(*_stem(8, tnn.SiLU), MBConv(8, 4, tnn.SiLU, tnn.Sigmoid), *_head(8)),
    "regnet": lambda: tnn.Sequential(*_stem(8), tnn.Conv2d(8, 16, 3, padding=1, groups=2), tnn.BatchNorm2d(16),
                                     tnn.ReLU(), SE(16, 4, tnn.ReLU(), tnn.Sigmoid()), *_head(16)),
    "resnet_gelu": lambda: tnn.Sequential(*_stem(8, tnn.GELU), *_head(8)),
}


def _randomised(m):
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, tnn.BatchNorm2d):
                mod.running_mean.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
                mod.running_var.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
                mod.weight.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
    return m.eval()


def _export(m, x):
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, x, buf, opset_version=17, dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "N"}})
    return buf.getvalue()


def _rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_imports_runs_compiles_like_torch(family):
    torch.manual_seed(0)
    m = _randomised(FAMILIES[family]())
    x = torch.randn(3, 3, 32, 32)
    g = cnx.load(_export(m, x[:1]))
    want = m(x).detach().numpy()
    assert _rel(g(x.numpy()), want) < 1e-4
    assert _rel(cn.compile(g, (3, 3, 32, 32))(x.numpy()), want) < 1e-4


@pytest.mark.parametrize("family,layer", [("efficientnet", "SiLU"), ("mobilenet_v3", "Hardswish"),
                                          ("mobilenet_v2", "ReLU6"), ("shufflenet", "ChannelShuffle"),
                                          ("resnet_gelu", "GELU")])
def test_patterns_are_lifted_to_fast_layers(family, layer):
    torch.manual_seed(0)
    m = _randomised(FAMILIES[family]())
    g = cnx.load(_export(m, torch.randn(1, 3, 32, 32)))
    assert layer in {type(mod).__name__ for mod in g.modules()}, repr(g)


def test_imported_model_fine_tunes_with_a_new_head():
    torch.manual_seed(0)
    m = _randomised(FAMILIES["efficientnet"]())
    g = cnx.load(_export(m, torch.randn(1, 3, 32, 32)))
    head_name = [n.name for n in g.ir.nodes if type(n.module).__name__ == "Linear"][-1]
    for p in g.parameters():
        p.requires_grad = False                       # feature extractor frozen
    g.replace_layer(head_name, cn.nn.Linear(8, 2))    # a new 2-class head, trainable
    assert g.state_dict()[head_name + ".weight"].shape == (2, 8)
    opt = cn.optim.SGD([p for p in g.parameters() if p.requires_grad], lr=0.5)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 2, 8)
    frozen = {k: v.copy() for k, v in g.state_dict().items() if not k.startswith(head_name)}
    g.train()
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = cn.nn.functional.cross_entropy(g(cn.Tensor(x)), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.numpy()))
    assert losses[-1] < losses[0]
    g.eval()
    after = g.state_dict()
    for k, v in frozen.items():
        if "running" not in k and "num_batches" not in k:
            np.testing.assert_array_equal(after[k], v, err_msg=k)
    assert cn.compile(g, (8, 3, 32, 32))(x).shape == (8, 2)


def test_replace_layer_refuses_a_shape_change_that_others_read():
    torch.manual_seed(0)
    g = cnx.load(_export(_randomised(FAMILIES["vgg"]()), torch.randn(1, 3, 32, 32)))
    first_conv = [n.name for n in g.ir.nodes if type(n.module).__name__ == "Conv2d"][0]
    with pytest.raises(ValueError, match="read it"):
        g.replace_layer(first_conv, cn.nn.Conv2d(3, 4, 3, padding=1))
    with pytest.raises(KeyError, match="no layer node"):
        g.replace_layer("nope", cn.nn.ReLU())
