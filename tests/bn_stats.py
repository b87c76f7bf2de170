"""Non-trivial BatchNorm parameters and running statistics for model tests, so that folding
BatchNorm into the convolutions (compile) and loading it (state_dicts) are really tested."""
from cnnnative import nn


def randomize_bn(model, rng):
    """Every BatchNorm2d of `model`: weight U(0.5, 1.5), bias U(-0.2, 0.2), running mean
    U(-0.2, 0.2), running variance U(0.5, 1.5), drawn from `rng`."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data[...] = rng.uniform(0.5, 1.5, c)
            m.bias.data[...] = rng.uniform(-0.2, 0.2, c)
            m.running_mean[...] = rng.uniform(-0.2, 0.2, c)
            m.running_var[...] = rng.uniform(0.5, 1.5, c)
