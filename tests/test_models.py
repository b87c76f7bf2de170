"""Model builders: shapes and sizes, and seed_mnist_net's forward and backward equal to
PyTorch's with the same weights."""
import numpy as np
import pytest

from cnnnative import models, nn, ops


@pytest.mark.parametrize("name,kw,inp,params", [
    ("seed_mnist_net", {}, (1, 28, 28), 32 * 9 + 32 + 32 * 32 * 9 + 32 + 1568 * 500 + 500 + 5010),
    ("seed_mnist_net", dict(in_channels=3, num_classes=7, input_size=32), (3, 32, 32), None),
    ("digits_net", {}, (1, 8, 8), None),
    ("lenet5", {}, (1, 28, 28), 61706),  # the classic LeNet-5 count with full C3
    ("lenet5", dict(input_size=32), (1, 32, 32), 61706),
    ("vgg_small", {}, (3, 32, 32), None),
    ("all_conv_net", dict(in_channels=1, input_size=28), (1, 28, 28), None),
])
def test_builders_shapes(name, kw, inp, params):
    m = models.build(name, **kw)
    assert m.output_shape(inp) == (kw.get("num_classes", 10),)
    if params is not None:
        assert m.num_parameters() == params
    assert m.spec == {"builder": name, "kwargs": kw}


def test_bad_builder_arguments():
    with pytest.raises(ValueError, match="too small"):
        models.seed_mnist_net(input_size=3)
    with pytest.raises(ValueError, match="unknown model"):
        models.build("resnet1000")
    with pytest.raises(ValueError, match="Sequential layer 0"):
        models.seed_mnist_net(in_channels=3).output_shape((1, 28, 28))


def _torch_seed_mnist_net(torch):
    tn = torch.nn
    return tn.Sequential(tn.Conv2d(1, 32, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2),
                         tn.Conv2d(32, 32, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2),
                         tn.Flatten(), tn.Linear(1568, 500), tn.ReLU(), tn.Linear(500, 10))


@pytest.mark.skipif(not all(callable(getattr(ops, n, None)) for n in (
    "conv2d", "max_pool2d", "linear", "linear_backward", "cross_entropy", "cross_entropy_backward")),
    reason="ops not all merged yet")
@pytest.mark.parametrize("batch", [1, 5])
def test_seed_mnist_net_matches_pytorch(rng, batch):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = _torch_seed_mnist_net(torch)
    m = models.seed_mnist_net()
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    m.train()
    out = m.forward(x)
    tx = torch.tensor(x)
    tout = tm(tx)
    # Sums of up to 1568 float32 products in both: agree to ~1e-5 relative.
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-4, atol=1e-5)
    loss = ops.cross_entropy(out, y)
    tloss = torch.nn.functional.cross_entropy(tout, torch.tensor(y))
    assert abs(loss - tloss.item()) < 1e-5
    m.zero_grad()
    m.backward(ops.cross_entropy_backward(out, y))
    tloss.backward()
    tgrads = {k: p.grad.numpy() for k, p in tm.named_parameters()}
    for k, p in m.named_parameters():
        scale = np.abs(tgrads[k]).max()
        assert scale > 0
        np.testing.assert_allclose(p.grad, tgrads[k], rtol=1e-3, atol=1e-4 * scale, err_msg=k)
