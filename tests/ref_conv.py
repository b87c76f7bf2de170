"""Float64 numpy references for conv2d and its two gradients: the truth the native
kernels are tested against. Written directly from the definition, one kernel tap at a
time, with no im2col and no shared code with the library.

Shapes: x (N, C, H, W); w (K, C/groups, R, S); y, dy (N, K, OH, OW);
pad = (top, bottom, left, right); stride, dilation = (h, w).
"""
import numpy as np


def output_size(H, W, R, S, stride, pad, dilation):
    OH = (H + pad[0] + pad[1] - dilation[0] * (R - 1) - 1) // stride[0] + 1
    OW = (W + pad[2] + pad[3] - dilation[1] * (S - 1) - 1) // stride[1] + 1
    return OH, OW


def _tap(xp, r, s, OH, OW, stride, dilation):
    """The padded-input values kernel tap (r, s) sees at every output pixel: (N, C, OH, OW)."""
    h0, w0 = r * dilation[0], s * dilation[1]
    return xp[:, :, h0:h0 + stride[0] * (OH - 1) + 1:stride[0],
              w0:w0 + stride[1] * (OW - 1) + 1:stride[1]]


def conv2d_ref(x, w, b=None, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    Kg = K // groups
    OH, OW = output_size(H, W, R, S, stride, pad, dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[1]), (pad[2], pad[3])))
    y = np.zeros((N, K, OH, OW))
    for g in range(groups):
        xg = xp[:, g * Cg:(g + 1) * Cg]
        for r in range(R):
            for s in range(S):
                patch = _tap(xg, r, s, OH, OW, stride, dilation)
                y[:, g * Kg:(g + 1) * Kg] += np.einsum("nchw,kc->nkhw", patch,
                                                       w[g * Kg:(g + 1) * Kg, :, r, s])
    if b is not None:
        y += np.asarray(b, np.float64)[None, :, None, None]
    return y


def conv2d_input_ref(input_size, w, dy, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """dL/dx for L = sum(conv2d(x, w) * dy): each tap scatters dy * w back where it read."""
    w = np.asarray(w, np.float64)
    dy = np.asarray(dy, np.float64)
    N, C, H, W = input_size
    K, Cg, R, S = w.shape
    Kg = K // groups
    OH, OW = dy.shape[2:]
    dxp = np.zeros((N, C, H + pad[0] + pad[1], W + pad[2] + pad[3]))
    for g in range(groups):
        dyg = dy[:, g * Kg:(g + 1) * Kg]
        for r in range(R):
            for s in range(S):
                view = _tap(dxp[:, g * Cg:(g + 1) * Cg], r, s, OH, OW, stride, dilation)
                view += np.einsum("nkhw,kc->nchw", dyg, w[g * Kg:(g + 1) * Kg, :, r, s])
    return dxp[:, :, pad[0]:pad[0] + H, pad[2]:pad[2] + W]


def conv2d_weight_ref(x, weight_size, dy, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """dL/dw: for each tap, the correlation of dy with what that tap saw."""
    x = np.asarray(x, np.float64)
    dy = np.asarray(dy, np.float64)
    K, Cg, R, S = weight_size
    Kg = K // groups
    OH, OW = dy.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[1]), (pad[2], pad[3])))
    dw = np.zeros((K, Cg, R, S))
    for g in range(groups):
        xg = xp[:, g * Cg:(g + 1) * Cg]
        for r in range(R):
            for s in range(S):
                patch = _tap(xg, r, s, OH, OW, stride, dilation)
                dw[g * Kg:(g + 1) * Kg, :, r, s] = np.einsum("nkhw,nchw->kc",
                                                             dy[:, g * Kg:(g + 1) * Kg], patch)
    return dw


def conv2d_bias_ref(dy):
    return np.asarray(dy, np.float64).sum(axis=(0, 2, 3))
