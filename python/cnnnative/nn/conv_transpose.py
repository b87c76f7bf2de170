"""ConvTranspose1d and ConvTranspose2d: ops.conv_transpose1d/2d on their weight and bias
(autograd records them). Parameter names, shapes and default init are torch's, so a
torch state_dict loads."""
from __future__ import annotations

from .. import ops
from ..ops.conv1d import single
from ..ops.conv_transpose import output_padding_for, output_size_of
from ._util import as_input, non_negative, pair, positive, weights_for
from .conv import _init_conv_parameters
from .module import Module

__all__ = ["ConvTranspose1d", "ConvTranspose2d"]


class _ConvTransposeNd(Module):
    """Shared by the 1-D and 2-D layers: arguments are kept as tuples of `dims` ints."""

    _dims = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias,
                 dilation, padding_mode, rng) -> None:
        super().__init__()
        name = type(self).__name__
        as_tuple = (lambda v, n: (single(v, n),)) if self._dims == 1 else pair
        self.in_channels = positive(in_channels, "in_channels")
        self.out_channels = positive(out_channels, "out_channels")
        self.kernel_size = tuple(positive(v, "kernel_size") for v in as_tuple(kernel_size, "kernel_size"))
        self.stride = tuple(positive(v, "stride") for v in as_tuple(stride, "stride"))
        self.padding = tuple(non_negative(v, "padding") for v in as_tuple(padding, "padding"))
        self.output_padding = tuple(non_negative(v, "output_padding")
                                    for v in as_tuple(output_padding, "output_padding"))
        self.dilation = tuple(positive(v, "dilation") for v in as_tuple(dilation, "dilation"))
        self.groups = positive(groups, "groups")
        if padding_mode != "zeros":
            raise ValueError(f"{name} padding_mode must be 'zeros' (as torch's), got {padding_mode!r}")
        self.padding_mode = padding_mode
        if any(op >= max(s, d) for op, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise ValueError(f"{name}: output_padding {self.output_padding} must be smaller than either "
                             f"stride {self.stride} or dilation {self.dilation}")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{name}: in_channels ({self.in_channels}) and out_channels "
                             f"({self.out_channels}) must both be divisible by groups ({self.groups})")
        _init_conv_parameters(self, (self.in_channels, self.out_channels // self.groups) + self.kernel_size,
                              bias, rng, name, bias_size=self.out_channels)

    def _output_padding(self, x, output_size):
        if output_size is None:
            return self.output_padding
        return output_padding_for(output_size, tuple(x.shape), self.kernel_size, self.stride, self.padding,
                                  self.dilation, self._dims, type(self).__name__)

    def _checked_input(self, x):
        x = as_input(x, self, (self._dims + 1, self._dims + 2))
        channels = x.shape[-self._dims - 1]
        if channels != self.in_channels:
            raise ValueError(f"{self!r}: input has {channels} channels, expected "
                             f"{self.in_channels} (input shape {tuple(x.shape)})")
        return x

    def output_shape(self, input_shape):
        if len(input_shape) != self._dims + 1:
            raise self._shape_error(input_shape, f"expected (C, {'L' if self._dims == 1 else 'H, W'})")
        if input_shape[0] != self.in_channels:
            raise self._shape_error(input_shape, f"expected {self.in_channels} channels, got {input_shape[0]}")
        sizes = tuple(output_size_of(input_shape[1 + d], self.kernel_size[d], self.stride[d], self.padding[d],
                                     self.dilation[d]) + self.output_padding[d] for d in range(self._dims))
        if min(sizes) <= 0:
            raise self._shape_error(input_shape, f"the output size would be {sizes}")
        return (self.out_channels,) + sizes

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if any(self.padding):
            s += f", padding={self.padding}"
        if any(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class ConvTranspose2d(_ConvTransposeNd):
    """torch.nn.ConvTranspose2d: (N, in_channels, H, W) or (in_channels, H, W) ->
    (N, out_channels, OH, OW), OH = (H-1)*stride - 2*padding + dilation*(kH-1) + output_padding + 1.

    weight (in_channels, out_channels/groups, kH, kW), bias (out_channels,), initialised as
    torch does. forward(x, output_size=None): output_size (OH, OW) (or with the leading dims)
    picks the output_padding that reaches it, as torch."""

    _dims = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", *, rng=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias,
                         dilation, padding_mode, rng)

    def forward(self, x, output_size=None):
        x = self._checked_input(x)
        output_padding = self._output_padding(x, output_size)
        weight, bias = weights_for(x, self.weight, self.bias)
        return ops.conv_transpose2d(x, weight, bias, self.stride, self.padding, output_padding, self.groups,
                                    self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """torch.nn.ConvTranspose1d: (N, in_channels, L) or (in_channels, L) -> (N, out_channels, OL),
    OL = (L-1)*stride - 2*padding + dilation*(kernel_size-1) + output_padding + 1.

    weight (in_channels, out_channels/groups, kernel_size), bias (out_channels,), initialised
    as torch does; forward(x, output_size=None) as torch. Runs the 2-D kernels with height 1."""

    _dims = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", *, rng=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias,
                         dilation, padding_mode, rng)

    def forward(self, x, output_size=None):
        x = self._checked_input(x)
        (output_padding,) = self._output_padding(x, output_size)
        weight, bias = weights_for(x, self.weight, self.bias)
        return ops.conv_transpose1d(x, weight, bias, self.stride[0], self.padding[0], output_padding, self.groups,
                                    self.dilation[0])
