"""The inference engine (cnnnative.compile / _core.EnginePlan) against float64 numpy
references written here, independently of the engine.

Every engine node is run under every ISA, with odd sizes, batch 1 and > 1, and in
poisoned mode (arena NaN-filled whenever memory is dead, outputs NaN-filled before a node
writes them), so a forgotten element or an aliased buffer shows up as NaN.

Tolerances: the engine computes in float32. A dot product of D terms has rounding error
of about D * 2^-24 times the sum of |terms|; with D <= ~600 here and terms O(1), 1e-4
relative + 1e-4 * scale absolute is safe while still catching any wrong index (errors O(1)).
"""
import os
import threading

import numpy as np
import pytest

import cnnnative
from cnnnative import _core, nn
from cnnnative import cuda as _cuda_pkg
from cnnnative.inference import compile as cn_compile
from ref_ops import activation as ref_act

RTOL = 1e-4


def close(actual, expected, rtol=RTOL):
    expected = np.asarray(expected, np.float64)
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert np.all(np.isfinite(actual)), "NaN/inf in output (unwritten or aliased memory?)"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


# -- float64 references ------------------------------------------------------------------------

def ref_conv(x, w, b, stride, pad, dilation, groups):
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    t, bo, l, r = pad
    sh, sw = stride
    dh, dw = dilation
    xp = np.zeros((N, C, H + t + bo, W + l + r))
    xp[:, :, t:t + H, l:l + W] = x
    OH = (H + t + bo - dh * (R - 1) - 1) // sh + 1
    OW = (W + l + r - dw * (S - 1) - 1) // sw + 1
    y = np.zeros((N, K, OH, OW))
    Kg = K // groups
    for g in range(groups):
        xs = xp[:, g * Cg:(g + 1) * Cg]
        for i in range(R):
            for j in range(S):
                patch = xs[:, :, i * dh: i * dh + sh * (OH - 1) + 1: sh, j * dw: j * dw + sw * (OW - 1) + 1: sw]
                y[:, g * Kg:(g + 1) * Kg] += np.einsum("nchw,kc->nkhw", patch, w[g * Kg:(g + 1) * Kg, :, i, j])
    if b is not None:
        y += np.asarray(b, np.float64)[None, :, None, None]
    return y


def pool_out(n, k, s, p0, p1, d, ceil_mode):
    span = n + p0 + p1 - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p0:
        out -= 1
    return out


def ref_max_pool(x, k, s, pad, d, ceil_mode):
    N, C, H, W = x.shape
    OH = pool_out(H, k[0], s[0], pad[0], pad[1], d[0], ceil_mode)
    OW = pool_out(W, k[1], s[1], pad[2], pad[3], d[1], ceil_mode)
    y = np.full((N, C, OH, OW), -np.inf)
    for oh in range(OH):
        for ow in range(OW):
            for i in range(k[0]):
                for j in range(k[1]):
                    ih, iw = oh * s[0] - pad[0] + i * d[0], ow * s[1] - pad[2] + j * d[1]
                    if 0 <= ih < H and 0 <= iw < W:
                        y[:, :, oh, ow] = np.maximum(y[:, :, oh, ow], x[:, :, ih, iw])
    return y


def ref_avg_pool(x, k, s, pad, ceil_mode, count_include_pad):
    N, C, H, W = x.shape
    OH = pool_out(H, k[0], s[0], pad[0], pad[1], 1, ceil_mode)
    OW = pool_out(W, k[1], s[1], pad[2], pad[3], 1, ceil_mode)
    y = np.zeros((N, C, OH, OW))
    for oh in range(OH):
        for ow in range(OW):
            h0, w0 = oh * s[0] - pad[0], ow * s[1] - pad[2]
            h1, w1 = min(h0 + k[0], H + pad[1]), min(w0 + k[1], W + pad[3])
            area = (h1 - h0) * (w1 - w0)
            hs, ws = slice(max(h0, 0), min(h1, H)), slice(max(w0, 0), min(w1, W))
            win = x[:, :, hs, ws].astype(np.float64)
            cnt = area if count_include_pad else win.shape[2] * win.shape[3]
            y[:, :, oh, ow] = win.sum(axis=(2, 3)) / cnt
    return y


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


# -- the arena planner ---------------------------------------------------------------------------

def test_arena_planner_never_overlaps_live_buffers(rng):
    for _ in range(20):
        n = int(rng.integers(1, 40))
        reqs = []
        for _ in range(n):
            first = int(rng.integers(0, 30))
            reqs.append((int(rng.integers(1, 5000)), first, first + int(rng.integers(0, 6))))
        offsets, total = _core._engine_plan_arena(reqs, 64)
        for i, (bi, fi, li) in enumerate(reqs):
            assert offsets[i] % 64 == 0 and offsets[i] + bi <= total
            for j, (bj, fj, lj) in enumerate(reqs[:i]):
                if fi <= lj and fj <= li:  # alive at the same time
                    assert offsets[i] + bi <= offsets[j] or offsets[j] + bj <= offsets[i], (reqs[i], reqs[j])


def test_arena_planner_reuses_memory_along_a_chain():
    # A chain a->b->c->d: each buffer lives from its writer to its reader only, so two
    # slots suffice.
    reqs = [(1024, 0, 1), (1024, 1, 2), (1024, 2, 3), (1024, 3, 4)]
    offsets, total = _core._engine_plan_arena(reqs, 64)
    assert total == 2048


def test_arena_planner_rejects_bad_alignment():
    with pytest.raises(ValueError, match="alignment"):
        _core._engine_plan_arena([(10, 0, 0)], 0)


# -- single nodes against the references -----------------------------------------------------------

CONV_CASES = [
    # (C, K, H, W, R, S, stride, pad, dilation, groups)
    (3, 5, 7, 7, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (1, 1, 1, 1, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (17, 13, 11, 5, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),      # 1x1 fast path, odd sizes
    (16, 33, 9, 10, 1, 1, (2, 2), (0, 0, 0, 0), (1, 1), 1),      # strided 1x1 (downsample)
    (5, 7, 13, 11, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),
    (4, 6, 9, 9, 3, 3, (1, 2), (0, 2, 1, 0), (2, 1), 1),        # asymmetric pad, dilation
    (6, 9, 8, 8, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 3),        # grouped
    (7, 7, 10, 9, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 7),       # depthwise
    (5, 5, 9, 8, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 5),        # depthwise strided
    (6, 6, 13, 35, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 6),      # depthwise row blocks + overlap
    (5, 5, 7, 7, 5, 5, (1, 1), (2, 2, 2, 2), (1, 1), 5),        # depthwise 5x5 narrow plane
    (4, 4, 11, 12, 3, 3, (1, 1), (1, 1, 1, 1), (2, 2), 4),      # depthwise dilated (generic)
    (3, 8, 23, 23, 7, 7, (2, 2), (3, 3, 3, 3), (1, 1), 1),      # ResNet stem, odd size
    (67, 130, 6, 7, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),     # several GEMM tiles; Winograd
    (16, 16, 1, 1, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),      # Winograd on a 1x1 image
    (33, 17, 13, 9, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),     # Winograd, partial tiles
    (8, 4, 3, 3, 3, 3, (1, 1), (0, 0, 0, 0), (1, 1), 1),        # kernel == input
    # Big enough (>= 2^21 multiply-adds) to run on the thread team, not serially:
    (24, 70, 21, 19, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (96, 96, 30, 29, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 96),
    (80, 72, 23, 25, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "C{}K{}H{}W{}R{}S{}s{}p{}d{}g{}".format(*c))
@pytest.mark.parametrize("algo", ["auto", "gemm"])
@pytest.mark.parametrize("act,residual", [("relu", True), ("relu6", False)])
def test_conv_node(isa, rng, case, algo, act, residual):
    """Batch 3 as planned, then batch 1 through the same plan; "auto" takes Winograd for
    the 3x3 stride-1 cases with >= 16 channels, "gemm" the im2col/1x1 paths."""
    C, K, H, W, R, S, stride, pad, dil, groups = case
    batch = 3
    x = randn(rng, batch, C, H, W)
    w = randn(rng, K, C // groups, R, S)
    b = randn(rng, K)
    plan = _core.EnginePlan([batch, C, H, W], algo)
    expected = ref_conv(x, w, b, stride, pad, dil, groups)
    res_id, res = -1, None
    if residual:
        # The residual comes from another conv so it lives in the arena too.
        res_id = plan.add_conv(0, np.ones((K, C // groups, R, S), np.float32), None, stride, pad, dil,
                               groups, "none", -1)
        res = ref_conv(x, np.ones((K, C // groups, R, S)), None, stride, pad, dil, groups)
        expected = expected + res
    out = plan.add_conv(0, w, b, stride, pad, dil, groups, act, res_id)
    plan.finalize(out)
    methods = [n.get("method") for n in plan.nodes()]  # a 1x1 conv of a 1x1 map is a linear node
    if algo == "gemm":
        assert "winograd" not in methods
    expected = ref_act(expected, act)
    close(plan.run(x, poison=True), expected)
    close(plan.run(x), expected)
    # A smaller batch than compiled runs too.
    close(plan.run(x[:1], poison=True), expected[:1])


# (C, K, H, W, batch): partial tiles, prime sizes, channels not a multiple of 16, and a
# plan big enough to run on the thread team (the "many blocks" path of the kernel).
WINOGRAD_ARENA_CASES = [(17, 19, 13, 11, 3), (16, 16, 12, 12, 1), (33, 24, 23, 29, 2), (64, 64, 28, 28, 2)]


@pytest.mark.parametrize("case", WINOGRAD_ARENA_CASES, ids=lambda c: "C{}K{}H{}W{}N{}".format(*c))
def test_winograd_node_uses_arena_workspace_and_equals_allocating_entry(isa, rng, case):
    """A Winograd node runs in a workspace planned inside the arena (its scratch_bytes
    count in arena_bytes) and gives what the allocating ops.winograd_conv2d_prepared
    gives with the same prepared tile. The arena is NaN-poisoned, so a workspace element
    read before being written would show."""
    C, K, H, W, batch = case
    x = randn(rng, batch, C, H, W)
    w = randn(rng, K, C, 3, 3)
    b = randn(rng, K)
    plan = _core.EnginePlan([batch, C, H, W], "auto")
    mid = plan.add_conv(0, w, b, (1, 1), (1, 1, 1, 1), (1, 1), 1, "relu", -1)
    out = plan.add_conv(mid, np.ones((K, K, 1, 1), np.float32), None, (1, 1), (0, 0, 0, 0), (1, 1), 1,
                        "none", -1)
    plan.finalize(out)
    node = plan.nodes()[0]
    assert node["method"] == "winograd"
    assert node["scratch_bytes"] > 0
    # The workspace and the (arena-held) intermediate both live in the arena.
    assert plan.arena_bytes >= node["scratch_bytes"] + batch * K * H * W * 4
    prepared = cnnnative.ops.winograd_prepare(w, 1, node["winograd_tile"])
    mid_expected = cnnnative.ops.winograd_conv2d_prepared(x, prepared, padding=1, bias=b, activation="relu")
    expected = mid_expected.sum(axis=1, keepdims=True).repeat(K, axis=1)  # the all-ones 1x1 conv
    # Same kernels and weights; only the workspace differs, so the results agree to
    # float32 rounding of the 1x1 sum (K terms).
    for n in (batch, 1):
        y = plan.run(x[:n], poison=True)
        np.testing.assert_allclose(y, expected[:n], rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    close(mid_expected, ref_act(ref_conv(x, w, b, (1, 1), (1, 1, 1, 1), (1, 1), 1), "relu"), rtol=1e-3)


@pytest.mark.parametrize("case", [
    # (H, W, k, s, pad, dilation, ceil_mode)
    ((7, 7), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False),
    ((8, 9), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True),
    ((5, 6), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), True),
    ((1, 1), (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), False),
    ((11, 13), (3, 2), (1, 3), (1, 0, 1, 1), (2, 1), False),
    ((67, 61), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False),  # threaded (>= 2^15 elements)
])
def test_max_pool_node(isa, rng, case):
    (H, W), k, s, pad, d, ceil_mode = case
    x = randn(rng, 2, 5, H, W)
    plan = _core.EnginePlan(list(x.shape))
    plan.finalize(plan.add_max_pool(0, k, s, pad, d, ceil_mode))
    close(plan.run(x, poison=True), ref_max_pool(x, k, s, pad, d, ceil_mode))


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", [
    ((7, 7), (3, 3), (2, 2), (1, 1, 1, 1), False),
    ((8, 9), (3, 3), (2, 2), (1, 1, 1, 1), True),
    ((6, 5), (2, 3), (2, 1), (0, 1, 1, 1), True),
    ((4, 4), (4, 4), (4, 4), (0, 0, 0, 0), False),
    ((61, 67), (3, 3), (2, 2), (1, 1, 1, 1), True),  # threaded
])
def test_avg_pool_node(isa, rng, case, count_include_pad):
    (H, W), k, s, pad, ceil_mode = case
    x = randn(rng, 3, 4, H, W)
    plan = _core.EnginePlan(list(x.shape))
    plan.finalize(plan.add_avg_pool(0, k, s, pad, ceil_mode, count_include_pad))
    close(plan.run(x, poison=True), ref_avg_pool(x, k, s, pad, ceil_mode, count_include_pad))


def test_small_nodes(isa, rng):
    """global avg pool, flatten, linear(+relu), softmax, add(+relu6), affine, concat, activation."""
    x = randn(rng, 3, 5, 47, 53)  # > 2^15 elements: the element-wise nodes use the team
    wl, bl = randn(rng, 7, 5), randn(rng, 7)
    scale, shift = randn(rng, 5), randn(rng, 5)
    plan = _core.EnginePlan(list(x.shape))
    aff = plan.add_channel_affine(0, scale, shift, "relu")
    act = plan.add_activation(0, "relu6")
    s = plan.add_add(aff, act, "relu6")
    cat = plan.add_concat([s, 0, aff])
    gap = plan.add_global_avg_pool(cat)
    flat = plan.add_flatten(gap)
    lin = plan.add_linear(flat, randn(rng, 4, 15), None, "none")
    lin2 = plan.add_linear(plan.add_flatten(plan.add_global_avg_pool(0)), wl, bl, "relu")
    sm = plan.add_softmax(plan.add_concat([lin, lin2]))
    plan.finalize(sm)
    x64 = x.astype(np.float64)
    r_aff = np.maximum(x64 * scale[:, None, None] + shift[:, None, None], 0)
    r_s = np.clip(r_aff + np.clip(x64, 0, 6), 0, 6)
    r_cat = np.concatenate([r_s, x64, r_aff], axis=1)
    r_flat = r_cat.mean(axis=(2, 3))
    y = plan.run(x, poison=True)
    assert y.shape == (3, 11)
    close(y.sum(axis=1), np.ones(3))
    # Check the pieces separately through small plans.
    p2 = _core.EnginePlan(list(x.shape))
    p2.finalize(p2.add_flatten(p2.add_global_avg_pool(p2.add_concat([
        p2.add_add(p2.add_channel_affine(0, scale, shift, "relu"), p2.add_activation(0, "relu6"), "relu6"),
        0, p2.add_channel_affine(0, scale, shift, "relu")]))))
    close(p2.run(x, poison=True), r_flat)
    p3 = _core.EnginePlan([3, 5])
    p3.finalize(p3.add_softmax(p3.add_linear(0, wl, bl, "relu")))
    z = np.maximum(r_flat[:, :5] @ wl.T.astype(np.float64) + bl, 0)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    close(p3.run(r_flat[:, :5].astype(np.float32), poison=True), e / e.sum(axis=1, keepdims=True))


# -- models through compile(): folding, fusion, the poisoned arena ------------------------------------

def _seq(*mods):
    return nn.Sequential(*mods)


def Conv2d(rng, cin, cout, k, stride=1, padding=0, groups=1, bias=True):
    m = nn.Conv2d(cin, cout, k, stride, padding, groups=groups, bias=bias)
    m.weight.data[...] = randn(rng, cout, cin // groups, k, k) * np.float32(1.0 / np.sqrt(cin // groups * k * k))
    if bias:
        m.bias.data[...] = randn(rng, cout)
    return m


def BatchNorm2d(rng, c):
    m = nn.BatchNorm2d(c)
    m.weight.data[...] = rng.uniform(0.5, 1.5, c)
    m.bias.data[...] = rng.uniform(-0.5, 0.5, c)
    m.running_mean[...] = rng.uniform(-0.5, 0.5, c)
    m.running_var[...] = rng.uniform(0.5, 2.0, c)
    return m


ReLU, ReLU6 = nn.ReLU, nn.ReLU6


class Residual(nn.Module):
    """relu(body(x) + shortcut(x)): a module of our own, traced through its forward."""

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        self.has_shortcut = shortcut is not None
        if self.has_shortcut:
            self.shortcut = shortcut

    def forward(self, x):
        s = self.shortcut(x) if self.has_shortcut else x
        return cnnnative.ops.relu(cnnnative.ops.add(self.body(x), s))


def _arr(p):
    return None if p is None else np.asarray(getattr(p, "data", p), np.float64)


def ref_model(m, x):
    if isinstance(m, nn.Sequential):
        for c in m.children():
            x = ref_model(c, x)
        return x
    if isinstance(m, nn.Conv2d):
        return ref_conv(x, _arr(m.weight), _arr(m.bias), m.stride, m.padding, m.dilation, m.groups)
    if isinstance(m, nn.BatchNorm2d):
        sc = _arr(m.weight) / np.sqrt(_arr(m.running_var) + m.eps)
        return (x - _arr(m.running_mean)[:, None, None]) * sc[:, None, None] + _arr(m.bias)[:, None, None]
    if isinstance(m, nn.ReLU6):
        return np.clip(x, 0, 6)
    if isinstance(m, nn.ReLU):
        return np.maximum(x, 0)
    if isinstance(m, Residual):
        s = ref_model(m.shortcut, x) if m.has_shortcut else x
        return np.maximum(ref_model(m.body, x) + s, 0)
    raise AssertionError(type(m).__name__)


def small_net(rng, c=6):
    return _seq(
        Conv2d(rng, 3, c, 3, padding=1, bias=False), BatchNorm2d(rng, c), ReLU(),
        Residual(_seq(Conv2d(rng, c, c, 3, padding=1), BatchNorm2d(rng, c), ReLU(),
                      Conv2d(rng, c, c, 3, padding=1), BatchNorm2d(rng, c))),
        Residual(_seq(Conv2d(rng, c, 2 * c, 3, stride=2, padding=1), BatchNorm2d(rng, 2 * c), ReLU6(),
                      Conv2d(rng, 2 * c, 2 * c, 3, padding=1, groups=2 * c), BatchNorm2d(rng, 2 * c)),
                 _seq(Conv2d(rng, c, 2 * c, 1, stride=2, bias=False), BatchNorm2d(rng, 2 * c))),
        BatchNorm2d(rng, 2 * c),  # follows an add: stays an affine node
        ReLU(),
    )


def test_folding_and_fusion_equal_unfused_and_reference(isa, rng):
    net = small_net(rng)
    x = randn(rng, 2, 3, 9, 11)
    expected = ref_model(net, x.astype(np.float64))
    fused = cn_compile(net, x.shape, poison=True)
    unfused = cn_compile(net, x.shape, fuse=False, poison=True)
    ops_fused = [n["op"] for n in fused.nodes]
    # Every BN after a conv folded, adds fused as residuals, ReLUs fused.
    assert ops_fused.count("conv") == 6
    assert "add" not in ops_fused and "activation" not in ops_fused
    assert ops_fused.count("channel_affine") == 1
    assert sum(n["residual"] for n in fused.nodes if n["op"] == "conv") == 2
    assert len(unfused.nodes) > len(fused.nodes)
    yf, yu = fused(x), unfused(x)
    close(yf, expected)
    close(yu, expected)
    # Folded/fused vs unfused: 1e-4 relative is the target.
    np.testing.assert_allclose(yf, yu, rtol=1e-4, atol=1e-4 * np.abs(yu).max())


def test_poisoned_arena_equals_plain_run_and_reuses_memory(rng):
    net = small_net(rng, c=5)
    x = randn(rng, 3, 3, 12, 12)
    c = cn_compile(net, x.shape, fuse=False, poison=True)
    plain = cn_compile(net, x.shape, fuse=False)
    y = c(x)
    assert np.all(np.isfinite(y))
    np.testing.assert_array_equal(y, plain(x))
    assert c.arena_bytes < c.unshared_bytes  # lifetimes let buffers share memory
    assert c.peak_bytes == c.arena_bytes + c.weight_bytes


def _basic_block(rng, c):
    body = _seq(Conv2d(rng, c, c, 3, padding=1, bias=False), BatchNorm2d(rng, c), ReLU(),
                Conv2d(rng, c, c, 3, padding=1, bias=False), BatchNorm2d(rng, c))
    return Residual(body)


def test_resnet_like_net_plans_winograd_workspace_in_arena(rng):
    """ResNet-18-like blocks (3x3, 16+ channels, stride 1) compile to Winograd nodes whose
    workspace is planned in the arena: every Winograd node has scratch_bytes > 0, the arena
    holds the largest of them, and the poisoned run still equals the reference."""
    net = _seq(Conv2d(rng, 3, 16, 3, padding=1), ReLU(), _basic_block(rng, 16), _basic_block(rng, 16),
               Conv2d(rng, 16, 24, 3, padding=1), ReLU(), _basic_block(rng, 24))
    x = randn(rng, 2, 3, 14, 13)
    c = cn_compile(net, x.shape, poison=True)
    wino = [n for n in c.nodes if n["op"] == "conv" and n["method"] == "winograd"]
    assert len(wino) >= 4
    assert all(n["scratch_bytes"] > 0 for n in wino)
    assert c.arena_bytes >= max(n["scratch_bytes"] for n in wino)
    assert c.unshared_bytes >= sum(n["scratch_bytes"] for n in wino)
    close(c(x), ref_model(net, x.astype(np.float64)))
    close(c(x[:1]), ref_model(net, x[:1].astype(np.float64)))


# -- input handling and errors -------------------------------------------------------------------

def test_input_conversion_empty_batch_and_errors(rng):
    net = _seq(Conv2d(rng, 3, 4, 3, padding=1), ReLU())
    c = cn_compile(net, (2, 3, 5, 5))
    x = randn(rng, 2, 3, 5, 5)
    y = c(x)
    np.testing.assert_array_equal(c(x.astype(np.float64)), y)              # other dtype: converted
    xt = np.asfortranarray(x)
    np.testing.assert_array_equal(c(xt), y)                                 # non-contiguous
    xr = x.copy()
    xr.setflags(write=False)
    np.testing.assert_array_equal(c(xr), y)                                 # read-only
    assert c(x[:0]).shape == (0, 4, 5, 5)                                   # empty batch
    out = np.empty((2, 4, 5, 5), np.float32)
    assert c(x, out=out) is not None and np.array_equal(out, y)
    with pytest.raises(ValueError, match="larger than the compiled batch"):
        c(randn(rng, 3, 3, 5, 5))
    with pytest.raises(ValueError, match="dimension 2"):
        c(randn(rng, 2, 3, 6, 5))
    with pytest.raises(ValueError, match="4-D"):
        c(randn(rng, 2, 3, 5))
    with pytest.raises(ValueError, match="out"):
        c(x, out=np.empty((2, 4, 5, 4), np.float32))
    with pytest.raises(TypeError):
        c(np.array([["a"]]))
    with pytest.raises(ValueError, match="4-D input, got shape"):   # (N, C, L) is for 1-D layers
        cn_compile(net, (2, 3, 5))
    with pytest.raises(ValueError, match="4-D input, got shape"):   # (N, C, D, H, W) is for 3-D layers
        cn_compile(net, (2, 3, 5, 5, 5))
    with pytest.raises(ValueError, match="input_shape"):
        cn_compile(net, (2, 3, 5, 5, 5, 5))
    with pytest.raises(ValueError, match="input_shape"):
        cn_compile(net, (2, 0, 5, 5))
    with pytest.raises(ValueError, match="input_shape"):
        cn_compile(net, (-1, 3, 5, 5))
    with pytest.raises(ValueError, match="channels"):
        cn_compile(net, (2, 4, 5, 5))
    with pytest.raises(ValueError, match="larger than the padded input"):
        cn_compile(_seq(Conv2d(rng, 3, 4, 3)), (1, 3, 2, 2))
    with pytest.raises(OverflowError):
        cn_compile(net, (2**40, 3, 2**20, 2**20))
    with pytest.raises(TypeError, match="cannot trace"):
        cn_compile(object(), (1, 3, 5, 5))
    assert cn_compile(net, (0, 3, 5, 5))(x[:0]).shape == (0, 4, 5, 5)


def test_plan_errors_name_the_problem(rng):
    p = _core.EnginePlan([1, 3, 5, 5])
    with pytest.raises(ValueError, match="unknown buffer"):
        p.add_global_avg_pool(7)
    with pytest.raises(ValueError, match="activation"):
        p.add_activation(0, "mish")  # not an engine activation
    with pytest.raises(ValueError, match="residual"):
        p.add_conv(0, randn(rng, 4, 3, 3, 3), None, (1, 1), (1, 1, 1, 1), (1, 1), 1, "none", 0)
    with pytest.raises(ValueError, match="linear expects"):
        p.add_linear(0, randn(rng, 2, 7), None)
    with pytest.raises(ValueError, match="padding"):
        p.add_max_pool(0, (2, 2), (2, 2), (2, 2, 2, 2), (1, 1), False)
    with pytest.raises(ValueError, match="add inputs differ"):
        p.add_add(0, p.add_max_pool(0, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False))
    out = p.add_activation(0, "relu")
    p.finalize(out)
    with pytest.raises(ValueError, match="finalized"):
        p.add_activation(0, "relu")
    q = _core.EnginePlan([1, 3, 5, 5])
    with pytest.raises(ValueError, match="not finalized"):
        q.run(randn(rng, 1, 3, 5, 5))


# -- concurrency ---------------------------------------------------------------------------------

def test_concurrent_calls_from_python_threads(rng):
    """Several threads call one compiled model at once; each call borrows its own arena
    (the pool keeps them), and every result equals the single-threaded one."""
    net = small_net(rng, c=16)  # convs big enough to use the thread team inside each call
    c = cn_compile(net, (2, 3, 32, 32), poison=True)
    inputs = [randn(rng, 2, 3, 32, 32) for _ in range(6)]
    expected = [c(x) for x in inputs]
    errors = []
    barrier = threading.Barrier(4)

    def worker(k):
        try:
            barrier.wait()
            for i in range(10):
                j = (k + i) % len(inputs)
                if not np.array_equal(c(inputs[j]), expected[j]):
                    errors.append(f"thread {k} call {i}: result differs")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert 1 <= c._plan.arenas_created <= 5


@pytest.mark.parametrize("algo", ["gemm", "autotune"])
def test_conv_choice_modes_match_reference(rng, algo):
    net = small_net(rng, c=16)
    x = randn(rng, 2, 3, 10, 10)
    c = cn_compile(net, x.shape, algo=algo, poison=True)
    close(c(x), ref_model(net, x.astype(np.float64)))
    if algo == "gemm":
        assert all(n["method"] != "winograd" for n in c.nodes if n["op"] == "conv")


def test_unknown_algo_is_a_value_error(rng):
    with pytest.raises(ValueError, match="algo"):
        cn_compile(small_net(rng), (1, 3, 8, 8), algo="fastest")


def test_thread_count_changed_after_compile(rng):
    """Scratch is planned per thread at compile time; running with more threads uses at
    most the planned count, with fewer runs fine."""
    net = small_net(rng, c=16)
    x = randn(rng, 2, 3, 24, 24)
    expected = ref_model(net, x.astype(np.float64))
    before = cnnnative.get_num_threads()
    try:
        cnnnative.set_num_threads(1)
        one = cn_compile(net, x.shape, algo="gemm", poison=True)
        cnnnative.set_num_threads(3)
        close(one(x), expected)
        many = cn_compile(net, x.shape, algo="gemm", poison=True)
        cnnnative.set_num_threads(1)
        close(many(x), expected)
    finally:
        cnnnative.set_num_threads(before)


def test_max_pool_propagates_nan(rng):
    x = randn(rng, 1, 2, 6, 6)
    x[0, 1, 2, 3] = np.nan
    plan = _core.EnginePlan(list(x.shape))
    plan.finalize(plan.add_max_pool(0, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False))
    y = plan.run(x)
    assert np.isnan(y[0, 1, 1, 1]) and np.isnan(y).sum() == 1


@pytest.mark.parametrize("where", [(0, 0), (2, 3), (4, 4), (6, 0), (3, 6)])
def test_max_pool_propagates_nan_through_padding_and_rows(rng, where):
    # 3x3 stride 2 pad 1 (ResNet's stem pool): a NaN in any row or column of a window --
    # first, middle, last, next to the padding -- reaches every output whose window holds it.
    x = randn(rng, 1, 1, 7, 7)
    x[0, 0, where[0], where[1]] = np.nan
    plan = _core.EnginePlan(list(x.shape))
    plan.finalize(plan.add_max_pool(0, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False))
    y = plan.run(x, poison=True)
    expected = ref_max_pool(np.nan_to_num(x, nan=1e30), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False) > 1e29
    assert np.isnan(y).sum() > 0
    np.testing.assert_array_equal(np.isnan(y), expected)


def test_summary_and_profile(rng):
    net = small_net(rng, c=4)
    c = cn_compile(net, (1, 3, 8, 8))
    text = c.summary()
    assert "arena" in text and "conv" in text and "+residual" in text
    times = c._plan.profile(randn(rng, 1, 3, 8, 8))
    assert len(times) == len(c.nodes) and all(t >= 0 for t in times)
    assert "CompiledModel" in repr(c)


def test_mlp_with_batchnorm1d_folds_into_linear(rng):
    nn = pytest.importorskip("cnnnative.nn")
    m = nn.Sequential(nn.Linear(7, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Dropout(0.5), nn.Linear(5, 3),
                      nn.Softmax(dim=1))
    bn = m[1]
    bn.running_mean[...] = rng.uniform(-1, 1, 5)
    bn.running_var[...] = rng.uniform(0.5, 2, 5)
    bn.weight.data[...] = rng.uniform(0.5, 2, 5)
    m.eval()
    x = randn(rng, 4, 7)
    c = cn_compile(m, x.shape, poison=True)
    assert [n["op"] for n in c.nodes] == ["linear", "linear", "softmax"]
    assert c.nodes[0]["activation"] == "relu"
    close(c(x), m(x))
    assert c(x[:0]).shape == (0, 3)


# -- compile(device="cuda"): the op-by-op runner (cnnnative.device_inference) ---------------------
# Its translation of every traced op into cnnnative.ops calls is checked here on host arrays
# (upload = identity; every op has a CPU path) against the C++ engine; on a GPU machine the
# last test runs the same model on the device.

def _runner(model, shape, fuse=True):
    from cnnnative.device_inference import DeviceCompiledModel
    from cnnnative.inference import trace
    graph = trace(model, shape, fuse=fuse)
    return DeviceCompiledModel(graph, shape, device="cpu-runner", upload=lambda a: a)


@pytest.mark.parametrize("fuse", [True, False])
def test_op_runner_equals_engine(rng, fuse):
    net = small_net(rng)
    x = randn(rng, 2, 3, 9, 11)
    engine = cn_compile(net, x.shape)
    runner = _runner(net, x.shape, fuse)
    np.testing.assert_allclose(runner(x), engine(x), rtol=1e-4, atol=1e-4 * np.abs(engine(x)).max())
    np.testing.assert_allclose(runner(x[:1]), engine(x[:1]), rtol=1e-4, atol=1e-4 * np.abs(engine(x)).max())
    assert runner.weight_bytes > 0


def test_op_runner_graph_with_pools_concat_linear_softmax(rng):
    from cnnnative import nn
    nn.init.manual_seed(3)
    g = nn.Graph()
    x0 = g.input((3, 7, 6))
    a = g.add_node(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()), x0)
    b = g.add_node(nn.MaxPool2d(3, 1, 1), a)
    c = g.add_node(nn.AvgPool2d(3, 1, 1, count_include_pad=False), a)
    d = g.concat([b, c])
    e = g.add_node(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5), nn.Softmax(1)), d)
    g.output(e)
    g.eval()
    x = randn(rng, 3, 3, 7, 6)
    engine = cn_compile(g, x.shape)
    runner = _runner(g, x.shape)
    np.testing.assert_allclose(runner(x), engine(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(runner(x), g.forward(x), rtol=1e-5, atol=1e-6)


def test_op_runner_runs_host_ops_and_unfolded_batch_norm(rng):
    """The GPU runner's translation of ops the engine lacks (tanh, leaky ReLU) and of a
    BatchNorm that stays a node (after an add): same as the compiled engine + host nodes."""
    from cnnnative import models
    nn.init.manual_seed(2)
    lenet = models.lenet5().eval()
    x = randn(rng, 2, 1, 28, 28)
    np.testing.assert_allclose(_runner(lenet, x.shape)(x), cn_compile(lenet, x.shape)(x), rtol=1e-5, atol=1e-6)
    net = _seq(Residual(_seq(Conv2d(rng, 4, 4, 3, padding=1))), BatchNorm2d(rng, 4), nn.LeakyReLU(0.1))
    net.eval()
    x = randn(rng, 2, 4, 5, 5)
    y = _runner(net, x.shape)(x)
    np.testing.assert_allclose(y, cn_compile(net, x.shape)(x), rtol=1e-5, atol=1e-5)
    ref = ref_model(net[:2], x.astype(np.float64))
    np.testing.assert_allclose(y, np.where(ref > 0, ref, 0.1 * ref), rtol=1e-4, atol=1e-4)


def test_op_runner_rejects_wrong_shapes(rng):
    net = small_net(rng)
    runner = _runner(net, (2, 3, 9, 11))
    with pytest.raises(ValueError, match="compiled for"):
        runner(randn(rng, 2, 3, 9, 12))
    with pytest.raises(ValueError, match="compiled for"):
        runner(randn(rng, 3, 3, 9, 11))


def test_compile_device_argument():
    from cnnnative import cuda, models
    net = models.build("digits_net").eval()
    with pytest.raises(ValueError, match="device must be"):
        cn_compile(net, (1, 1, 8, 8), device="tpu")
    if not cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA backend unavailable"):
            cn_compile(net, (1, 1, 8, 8), device="cuda")


@pytest.mark.skipif(not _cuda_pkg.is_available(), reason="no usable CUDA GPU")
def test_compile_on_gpu_equals_cpu_engine(rng):
    from cnnnative import cuda, models
    net = models.resnet18(num_classes=10).eval()
    x = randn(rng, 2, 3, 64, 64)
    on_cpu = cn_compile(net, x.shape)(x)
    compiled = cn_compile(net, x.shape, device="cuda")
    y = compiled(x)  # host in, host out
    np.testing.assert_allclose(y, on_cpu, rtol=1e-3, atol=1e-3 * np.abs(on_cpu).max())
    yd = compiled(cuda.from_numpy(x))  # device in, device out
    assert cuda.is_tensor(yd)
    np.testing.assert_allclose(yd.numpy(), y, rtol=1e-5, atol=1e-6)


_RSS_PROBE = """
import sys
def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
import numpy as np
from cnnnative import nn
from cnnnative.inference import compile as cn_compile
nn.init.manual_seed(0)
model = nn.Sequential(nn.Conv2d(256, 512, 3, padding=1, bias=False), nn.BatchNorm2d(512), nn.ReLU(),
                      nn.Conv2d(512, 512, 3, padding=1, bias=False), nn.BatchNorm2d(512), nn.ReLU(),
                      nn.Conv2d(512, 512, 3, padding=1, bias=False), nn.BatchNorm2d(512)).eval()
before = rss_mib()
compiled = cn_compile(model, (1, 256, 7, 7), algo="gemm")
print(rss_mib() - before, compiled.weight_bytes / 2**20)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmRSS from /proc")
def test_compile_does_not_keep_weight_sized_garbage():
    """Folding works 64 channels at a time, the plan takes its weight copy by move, and
    freed heap pages go back to the OS after each large layer: compiling grows a fresh
    process by about the plan's weights, not by the temporaries' high water (before:
    2.4x the weights)."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", _RSS_PROBE], capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    grown, weights = (float(v) for v in out.stdout.split())
    assert grown <= 1.3 * weights + 4, f"compile grew RSS by {grown:.1f} MiB for {weights:.1f} MiB of weights"


_SE_ACTS = {"none": lambda v: v, "relu": lambda v: np.maximum(v, 0), "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
            "silu": lambda v: v / (1 + np.exp(-v)), "hardsigmoid": lambda v: np.clip(v / 6 + 0.5, 0, 1)}


@pytest.mark.parametrize("act", sorted(_SE_ACTS))
@pytest.mark.parametrize("C,K,batch", [(1, 1, 2), (17, 5, 3), (1152, 48, 2), (48, 1152, 2)])
def test_1x1_conv_of_a_1x1_map_runs_as_linear(isa, rng, act, C, K, batch):
    """Squeeze-and-excitation's layers: the plan makes a linear node over the same memory,
    keeps the 4-D output shape, and matches the convolution's float64 reference; a NaN in
    a sample makes that sample's outputs NaN; a smaller batch runs through the same plan."""
    x = randn(rng, batch, C, 1, 1)
    x[0, 0, 0, 0] = np.nan
    w, b = randn(rng, K, C, 1, 1), randn(rng, K)
    plan = _core.EnginePlan([batch, C, 1, 1], "auto")
    out = plan.add_conv(0, w, b, (1, 1), (0, 0, 0, 0), (1, 1), 1, act, -1)
    plan.finalize(out)
    assert [n["op"] for n in plan.nodes()] == ["linear"]
    got = plan.run(x, poison=True)
    assert got.shape == (batch, K, 1, 1)
    expected = _SE_ACTS[act](ref_conv(x, w, b, (1, 1), (0, 0, 0, 0), (1, 1), 1))
    assert np.isnan(got[0]).all()
    close(got[1:], expected[1:])
    close(plan.run(x[1:2], poison=True), expected[1:2])
