"""Linear: y = x W^T + b, ops.linear on its weight and bias (autograd records it)."""
from __future__ import annotations

import math

import numpy as np

from .. import ops
from . import init
from ._util import as_input, empty_param, weights_for, positive
from .module import Module, Parameter

__all__ = ["Linear"]


class Linear(Module):
    """torch.nn.Linear: input (N, in_features) -> (N, out_features).

    weight (out_features, in_features), bias (out_features,); PyTorch's initialisation.
    """

    def __init__(self, in_features, out_features, bias=True, *, rng=None) -> None:
        super().__init__()
        self.in_features = positive(in_features, "in_features")
        self.out_features = positive(out_features, "out_features")
        self.weight = Parameter(init.kaiming_uniform_(
            empty_param((self.out_features, self.in_features), "Linear weight"), a=math.sqrt(5), rng=rng))
        if bias:
            bound = 1.0 / math.sqrt(self.in_features)
            self.bias = Parameter(init.uniform_(np.empty(self.out_features, np.float32), -bound, bound, rng))
        else:
            self._parameters["bias"] = None

    def output_shape(self, input_shape):
        if len(input_shape) != 1 or input_shape[0] != self.in_features:
            raise self._shape_error(input_shape, f"expected ({self.in_features},); "
                                    "put a Flatten before a Linear that follows a convolution")
        return (self.out_features,)

    def forward(self, x):
        x = as_input(x, self, 2)
        if x.shape[1] != self.in_features:
            raise ValueError(f"{self!r}: input has {x.shape[1]} features, expected {self.in_features}"
                             f" (input shape {tuple(x.shape)})")
        return ops.linear(x, *weights_for(x, self.weight, self.bias))

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
