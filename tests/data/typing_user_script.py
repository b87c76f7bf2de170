"""A small user program, type-checked by tests/test_typing.py with `mypy --strict` (and run
by it too): a custom module, training, the model zoo and the inference compiler, written
as a PyTorch user would."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

import cnnnative
from cnnnative import models, nn, ops, optim


class SmallNet(nn.Module):
    """(N, 1, 8, 8) images -> (N, 10) logits."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x: cnnnative.Tensor) -> cnnnative.Tensor:
        h: cnnnative.Tensor = self.features(x)
        logits: cnnnative.Tensor = self.fc(h)
        return logits


def train_and_compile(steps: int = 2) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 4)
    model = SmallNet()
    trainer = cnnnative.Trainer(model, optim.SGD(model, lr=0.05, momentum=0.9), quiet=True)
    losses: list[float] = [trainer.step(x, y) for _ in range(steps)]
    assert all(np.isfinite(losses))
    model.eval()
    compiled = cnnnative.compile(model, (4, 1, 8, 8))
    out: npt.NDArray[np.float32] = compiled(x)
    with cnnnative.no_grad():
        eager = model(cnnnative.tensor(x))
    assert np.allclose(out, eager.numpy(), atol=1e-4)
    probs: npt.NDArray[np.float32] = ops.softmax(out, dim=1)  # the functional API on arrays
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    return out


def zoo_logits() -> tuple[int, ...]:
    net = models.resnet18(num_classes=5)
    net.eval()
    compiled = cnnnative.compile(net, (1, 3, 32, 32))
    image = np.zeros((1, 3, 32, 32), np.float32)
    return tuple(compiled(image).shape)


if __name__ == "__main__":
    cnnnative.set_num_threads(1)
    print(train_and_compile().shape, zoo_logits(), cnnnative.__version__)
