"""Float64 numpy references for the fast convolution tests (written independently of
the C++ code: a direct sum over kernel taps, with explicit zero padding).

Shapes: x (N, C, H, W), w (K, C/groups, R, S), y (N, K, OH, OW); padding is
(top, bottom, left, right); stride and dilation are (h, w) pairs.
"""
import numpy as np


def _pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)


def _quad(v):
    if np.isscalar(v):
        return (v,) * 4
    v = tuple(v)
    return (v[0], v[0], v[1], v[1]) if len(v) == 2 else v


def _norm(stride, padding, dilation):
    return _pair(stride), _quad(padding), _pair(dilation)


def _pad(x, padding):
    top, bottom, left, right = padding
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def out_size(H, W, R, S, stride, padding, dilation):
    stride, padding, dilation = _norm(stride, padding, dilation)
    top, bottom, left, right = padding
    OH = (H + top + bottom - dilation[0] * (R - 1) - 1) // stride[0] + 1
    OW = (W + left + right - dilation[1] * (S - 1) - 1) // stride[1] + 1
    return OH, OW


def conv2d(x, w, bias=None, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    stride, padding, dilation = _norm(stride, padding, dilation)
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    OH, OW = out_size(H, W, R, S, stride, padding, dilation)
    xp = _pad(x, padding)
    Kg = K // groups
    y = np.zeros((N, K, OH, OW))
    for g in range(groups):
        xg = xp[:, g * Cg:(g + 1) * Cg]
        wg = w[g * Kg:(g + 1) * Kg]
        for r in range(R):
            for s in range(S):
                h0, w0 = r * dilation[0], s * dilation[1]
                patch = xg[:, :, h0:h0 + stride[0] * (OH - 1) + 1:stride[0],
                           w0:w0 + stride[1] * (OW - 1) + 1:stride[1]]
                y[:, g * Kg:(g + 1) * Kg] += np.einsum("nchw,kc->nkhw", patch, wg[:, :, r, s])
    if bias is not None:
        y += np.asarray(bias, np.float64)[None, :, None, None]
    return y


def conv2d_input(input_shape, w, dy, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    stride, padding, dilation = _norm(stride, padding, dilation)
    """dx: every dy element scatters w back onto the padded input window it came from."""
    N, C, H, W = input_shape
    w = np.asarray(w, np.float64)
    dy = np.asarray(dy, np.float64)
    K, Cg, R, S = w.shape
    _, _, OH, OW = dy.shape
    top, bottom, left, right = padding
    dxp = np.zeros((N, C, H + top + bottom, W + left + right))
    Kg = K // groups
    for g in range(groups):
        for r in range(R):
            for s in range(S):
                h0, w0 = r * dilation[0], s * dilation[1]
                contrib = np.einsum("nkhw,kc->nchw", dy[:, g * Kg:(g + 1) * Kg], w[g * Kg:(g + 1) * Kg, :, r, s])
                dxp[:, g * Cg:(g + 1) * Cg, h0:h0 + stride[0] * (OH - 1) + 1:stride[0],
                    w0:w0 + stride[1] * (OW - 1) + 1:stride[1]] += contrib
    return dxp[:, :, top:top + H, left:left + W]


def conv2d_weight(x, weight_shape, dy, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    stride, padding, dilation = _norm(stride, padding, dilation)
    x = np.asarray(x, np.float64)
    dy = np.asarray(dy, np.float64)
    K, Cg, R, S = weight_shape
    _, _, OH, OW = dy.shape
    xp = _pad(x, padding)
    Kg = K // groups
    dw = np.zeros(weight_shape)
    for g in range(groups):
        for r in range(R):
            for s in range(S):
                h0, w0 = r * dilation[0], s * dilation[1]
                patch = xp[:, g * Cg:(g + 1) * Cg, h0:h0 + stride[0] * (OH - 1) + 1:stride[0],
                           w0:w0 + stride[1] * (OW - 1) + 1:stride[1]]
                dw[g * Kg:(g + 1) * Kg, :, r, s] = np.einsum("nchw,nkhw->kc", patch, dy[:, g * Kg:(g + 1) * Kg])
    return dw


def normalized_error(y, exact, x, w, reduction):
    """max|y - exact| over sqrt(reduction) * max|x| * max|w|: the scale the fast
    algorithms' error bounds are written in (README, 'Convolution algorithms')."""
    scale = max(np.abs(x).max(), 1e-30) * max(np.abs(w).max(), 1e-30) * np.sqrt(reduction)
    return np.abs(np.asarray(y, np.float64) - exact).max() / scale
