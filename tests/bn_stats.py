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


def randomize_conv_and_bn(model, rng):
    """He-normal convolutions (randomize_bn for the BatchNorms): activations stay of order
    one through a deep net (the default init shrinks them towards the classifier's bias), so
    comparing two outputs means something. Returns `model`."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight.data, nonlinearity="relu", rng=rng)
    randomize_bn(model, rng)
    return model
