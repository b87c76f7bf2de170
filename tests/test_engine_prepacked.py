"""The engine's gemm_prepacked convolution (cpp/src/engine/conv_prepacked.cc): the
transposed product pixels x channels = unfold^T * W^T with W^T packed once at build time.

Checked against the float64 reference in tests/ref_conv.py under every ISA, in poisoned
mode (the arena, the node's workspace and its output are NaN-filled before it runs, so an
element the kernel forgot to write, or scratch it read before writing, shows up as NaN):
pixel counts 1, 7 (a tile), 49, 50 (a tile + 1), primes; channels not a multiple of 16;
groups > 1; 1x1 with and without stride; several pixel blocks and channel chunks; batch 1
and > 1; bias + residual + relu/relu6 epilogues; every 7-row and sgemm tile.

CNNNATIVE_ENGINE_PREPACK=always/never (read when a conv is added to a plan) forces the
method either way; CNNNATIVE_ENGINE_PREPACK_KERNEL names the tile.

Tolerance: float32 dot products of D <= ~1200 terms of size O(1): the rounding error is
about D * 2^-24 * sum|terms| ~ 1e-4 of the output scale at most; 1e-4 relative plus 1e-4 x
the output scale absolute still catches any wrong index or tap (errors O(1)).
"""
import numpy as np
import pytest

import cnnnative
from cnnnative import _core
from ref_conv import conv2d_ref
from ref_ops import activation as act_ref

RTOL = 1e-4


def close(actual, expected, rtol=RTOL):
    expected = np.asarray(expected, np.float64)
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert np.all(np.isfinite(actual)), "NaN/inf in output (unwritten output or scratch?)"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture
def prepack(monkeypatch):
    monkeypatch.setenv("CNNNATIVE_ENGINE_PREPACK", "always")
    monkeypatch.delenv("CNNNATIVE_ENGINE_PREPACK_KERNEL", raising=False)
    return monkeypatch


def build(x_shape, w, b, stride, pad, dil, groups, act, residual):
    """A plan of one conv (plus, with residual, a conv of ones feeding it, so the residual
    lives in the arena too); returns (plan, methods)."""
    plan = _core.EnginePlan(list(x_shape), "gemm")
    res_id = -1
    if residual:
        res_id = plan.add_conv(0, np.ones(w.shape, np.float32), None, stride, pad, dil, groups, "none", -1)
    out = plan.add_conv(0, w, b, stride, pad, dil, groups, act, res_id)
    plan.finalize(out)
    return plan, [n["method"] for n in plan.nodes()]


def expected_output(x, w, b, stride, pad, dil, groups, act, residual):
    y = conv2d_ref(x, w, b, stride, pad, dil, groups)
    if residual:
        y = y + conv2d_ref(x, np.ones(w.shape), None, stride, pad, dil, groups)
    return act_ref(y, act)


# (C, K, H, W, R, S, stride, pad, dilation, groups): OH*OW pixels in the comment.
CASES = [
    (16, 64, 1, 1, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),     # 1 pixel
    (19, 70, 1, 7, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),     # 7: one 7-row tile
    (37, 67, 7, 7, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),     # 49, K not a multiple of 16
    (33, 65, 5, 10, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),    # 50: a tile + 1
    (24, 48, 13, 11, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),   # 42, stride 2, panels across rows
    (20, 36, 14, 14, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),   # 49, stride 2, a panel per row (ResNet)
    (9, 20, 28, 28, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),    # 196, stride 2, two panels per row
    (11, 17, 15, 15, 3, 3, (3, 3), (1, 1, 1, 1), (1, 1), 1),   # 25, stride 3
    (17, 31, 11, 13, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),   # 143 = 11*13, plain 1x1 (no unfold)
    (40, 72, 14, 14, 1, 1, (2, 2), (0, 0, 0, 0), (1, 1), 1),   # 49, strided 1x1 (downsample)
    (30, 96, 8, 8, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 3),     # groups: one packed W^T each
    (12, 40, 9, 9, 3, 3, (1, 2), (0, 2, 1, 0), (2, 1), 1),     # asymmetric stride/pad, dilation
    (64, 24, 29, 23, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),   # 667 pixels x 576 deep: 2 pixel blocks
    (8, 130, 3, 3, 3, 3, (1, 1), (0, 0, 0, 0), (1, 1), 1),     # kernel == input: 1 pixel, 130 channels
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "C{}K{}H{}W{}R{}S{}s{}p{}d{}g{}".format(*c))
@pytest.mark.parametrize("act,residual", [("relu", True), ("relu6", False), ("none", True)])
def test_prepacked_conv_node_matches_reference(isa, rng, prepack, case, act, residual):
    """Planned for batch 3, run at 3 and at 1 (the planned arena and workspace serve
    smaller batches), poisoned and plain."""
    C, K, H, W, R, S, stride, pad, dil, groups = case
    x = randn(rng, 3, C, H, W)
    w = randn(rng, K, C // groups, R, S)
    b = randn(rng, K)
    plan, methods = build(x.shape, w, b, stride, pad, dil, groups, act, residual)
    assert methods[-1] == "gemm_prepacked"
    expected = expected_output(x, w, b, stride, pad, dil, groups, act, residual)
    close(plan.run(x, poison=True), expected)
    close(plan.run(x), expected)
    close(plan.run(x[:1], poison=True), expected[:1])


@pytest.mark.parametrize("kernel", ["7x64__avx512", "7x48__avx512", "7x32__avx512", "6x64__avx512",
                                    "8x48__avx512", "14x32__avx512"])
@pytest.mark.parametrize("batch", [1, 2])
def test_every_avx512_tile(rng, prepack, kernel, batch):
    """Each tile a PrepackedB can take, forced by name, on pixel counts that leave partial
    row panels (50) and channels that leave partial column panels (100)."""
    if "avx512" not in _core.available_isas():
        pytest.skip("no AVX-512 on this CPU")
    prepack.setenv("CNNNATIVE_ENGINE_PREPACK_KERNEL", kernel)
    before = _core.get_isa()
    _core.set_isa("avx512")
    try:
        x = randn(rng, batch, 40, 5, 10)
        w = randn(rng, 100, 40, 3, 3)
        b = randn(rng, 100)
        plan, methods = build(x.shape, w, b, (1, 1), (1, 1, 1, 1), (1, 1), 1, "relu", True)
        assert methods[-1] == "gemm_prepacked"
        close(plan.run(x, poison=True), expected_output(x, w, b, (1, 1), (1, 1, 1, 1), (1, 1), 1, "relu", True))
    finally:
        _core.set_isa(before)


def test_unknown_tile_name_is_a_value_error(rng, prepack):
    prepack.setenv("CNNNATIVE_ENGINE_PREPACK_KERNEL", "3x3__nowhere")
    plan = _core.EnginePlan([1, 16, 7, 7], "gemm")
    with pytest.raises(ValueError, match="3x3__nowhere"):
        plan.add_conv(0, randn(rng, 64, 16, 3, 3), None, (1, 1), (1, 1, 1, 1), (1, 1), 1, "none", -1)


def test_other_isa_at_run_time_falls_back_to_plain_gemm(rng, prepack):
    """Weights are packed for the ISA active at build time; under another ISA the node
    runs the im2col / 1x1 GEMM path on its OIHW copy, with the same results."""
    isas = list(_core.available_isas())
    if len(isas) < 2:
        pytest.skip("one ISA only")
    before = _core.get_isa()
    try:
        for build_isa in isas:
            _core.set_isa(build_isa)
            for case in [(37, 67, 7, 7, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),
                         (17, 31, 11, 13, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1)]:
                C, K, H, W, R, S, stride, pad, dil, groups = case
                x = randn(rng, 2, C, H, W)
                w = randn(rng, K, C, R, S)
                b = randn(rng, K)
                plan, methods = build(x.shape, w, b, stride, pad, dil, groups, "relu", True)
                assert methods[-1] == "gemm_prepacked"
                expected = expected_output(x, w, b, stride, pad, dil, groups, "relu", True)
                for run_isa in isas:
                    _core.set_isa(run_isa)
                    close(plan.run(x, poison=True), expected)
                _core.set_isa(build_isa)
    finally:
        _core.set_isa(before)


def test_heuristic_takes_small_deep_convs_only(rng, monkeypatch):
    """Without the override: ResNet's 7x7 stage conv (49 pixels, 512 channels), the
    14 -> 7 and 56 -> 28 downsampling 3x3 convs take gemm_prepacked; the shallow 56 -> 28
    1x1 and a large image with few channels (the ResNet stem) do not; "never" keeps
    im2col_gemm."""
    monkeypatch.delenv("CNNNATIVE_ENGINE_PREPACK", raising=False)
    plan = _core.EnginePlan([1, 256, 14, 14], "auto")
    down = plan.add_conv(0, randn(rng, 512, 256, 3, 3), None, (2, 2), (1, 1, 1, 1), (1, 1), 1, "relu", -1)
    deep = plan.add_conv(down, randn(rng, 512, 512, 3, 3), None, (1, 1), (1, 1, 1, 1), (1, 1), 1, "relu", -1)
    plan.finalize(deep)
    # The stride-1 7x7 conv has 16 tiles of 2x2: Winograd F(2x2) with prepared filters
    # (0.79 vs 1.12 ms prepacked at 2 threads, measured side by side); without Winograd
    # ("gemm") it takes gemm_prepacked.
    assert [n["method"] for n in plan.nodes()] == ["gemm_prepacked", "winograd"]
    no_wino = _core.EnginePlan([1, 512, 7, 7], "gemm")
    no_wino.finalize(no_wino.add_conv(0, randn(rng, 512, 512, 3, 3), None, (1, 1), (1, 1, 1, 1), (1, 1), 1,
                                      "relu", -1))
    assert no_wino.nodes()[0]["method"] == "gemm_prepacked"
    stem = _core.EnginePlan([1, 3, 64, 64], "auto")
    stem.finalize(stem.add_conv(0, randn(rng, 16, 3, 7, 7), None, (2, 2), (3, 3, 3, 3), (1, 1), 1, "relu", -1))
    assert stem.nodes()[0]["method"] != "gemm_prepacked"
    # 56 -> 28: the deep 3x3 (576) takes it, the shallow 1x1 downsample (64) does not.
    mid = _core.EnginePlan([1, 64, 56, 56], "auto")
    c3 = mid.add_conv(0, randn(rng, 128, 64, 3, 3), None, (2, 2), (1, 1, 1, 1), (1, 1), 1, "relu", -1)
    c1 = mid.add_conv(0, randn(rng, 128, 64, 1, 1), None, (2, 2), (0, 0, 0, 0), (1, 1), 1, "none", c3)
    mid.finalize(c1)
    # (direct_smallc claims strided convs with <= 64 input channels first: measured as fast.)
    assert [n["method"] for n in mid.nodes()] == ["direct_smallc", "im2col_gemm"]
    monkeypatch.setenv("CNNNATIVE_ENGINE_PREPACK", "never")
    plain = _core.EnginePlan([1, 512, 7, 7], "gemm")  # (auto would take Winograd here)
    plain.finalize(plain.add_conv(0, randn(rng, 512, 512, 3, 3), None, (1, 1), (1, 1, 1, 1), (1, 1), 1, "none", -1))
    assert plain.nodes()[0]["method"] == "im2col_gemm"


def test_workspace_and_weights_are_accounted(rng, prepack):
    """The node's workspace is planned in the arena, and its packed weights replace the
    OIHW copy in weight_bytes (128 channels fill whole panels of the tile chosen here on
    every ISA, so the packed copy is the same size; a run under another ISA unpacks it)."""
    x_shape = [2, 64, 7, 7]
    w = randn(rng, 128, 64, 3, 3)
    plan, _ = build(x_shape, w, None, (1, 1), (1, 1, 1, 1), (1, 1), 1, "none", False)
    node = plan.nodes()[0]
    assert node["scratch_bytes"] > 0
    assert plan.arena_bytes >= node["scratch_bytes"]
    bias_bytes = 128 * 4
    assert plan.weight_bytes == w.nbytes + bias_bytes


def test_fewer_threads_than_planned(rng, prepack):
    """The workspace is planned per thread at build time; a run on fewer threads (or a
    plan built for one thread run with more) uses at most the planned count."""
    x = randn(rng, 2, 48, 7, 7)
    w = randn(rng, 96, 48, 3, 3)
    expected = expected_output(x, w, None, (1, 1), (1, 1, 1, 1), (1, 1), 1, "none", False)
    before = cnnnative.get_num_threads()
    try:
        for planned, run in [(2, 1), (1, 2)]:
            cnnnative.set_num_threads(planned)
            plan, _ = build(x.shape, w, None, (1, 1), (1, 1, 1, 1), (1, 1), 1, "none", False)
            cnnnative.set_num_threads(run)
            close(plan.run(x, poison=True), expected)
    finally:
        cnnnative.set_num_threads(before)


def test_empty_batch(rng, prepack):
    plan, _ = build([2, 16, 7, 7], randn(rng, 64, 16, 3, 3), None, (1, 1), (1, 1, 1, 1), (1, 1), 1, "relu", False)
    y = plan.run(np.zeros((0, 16, 7, 7), np.float32))
    assert y.shape == (0, 64, 7, 7)


def test_compiled_resnet18_equals_plain_gemm_and_model(rng, monkeypatch):
    """ResNet-18 on a 64x64 image (its last stage 2x2): the compiled model with the
    prepacked convs (the default) equals the same model compiled without them and the
    uncompiled model, batch 2 and 1, poisoned arena."""
    model = cnnnative.models.resnet18(num_classes=10, input_size=64).eval()
    x = randn(rng, 2, 3, 64, 64)
    monkeypatch.delenv("CNNNATIVE_ENGINE_PREPACK", raising=False)
    fast = cnnnative.compile(model, x.shape, poison=True)
    assert sum(n["op"] == "conv" and n["method"] == "gemm_prepacked" for n in fast.nodes) >= 3
    monkeypatch.setenv("CNNNATIVE_ENGINE_PREPACK", "never")
    plain = cnnnative.compile(model, x.shape, poison=True)
    assert not any(n["op"] == "conv" and n["method"] == "gemm_prepacked" for n in plain.nodes)
    expected = model(x)
    y = fast(x)
    scale = float(np.abs(expected).max())
    # 20 layers of float32 rounding on O(1) activations: 1e-4 of the output scale.
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(y, plain(x), rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(fast(x[:1]), y[:1], rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("case", [(32, 80, 14, 14, 1), (20, 70, 28, 28, 2), (64, 100, 7, 7, 1), (48, 64, 12, 11, 1)],
                         ids=lambda c: "C{}K{}H{}W{}s{}".format(*c))
def test_batch_one_split_across_threads(isa, rng, prepack, case):
    """Planned for one image on 3 threads: the image is cut into a pixel block per thread
    when it has enough panels (196 pixels), else the channels into chunks (49 pixels);
    a plan for 3 threads also runs on 2 and 1. (Each >= 2^21 multiply-adds, so the
    engine runs it on the team.)"""
    C, K, H, W, s = case
    x = randn(rng, 1, C, H, W)
    w = randn(rng, K, C, 3, 3)
    b = randn(rng, K)
    expected = expected_output(x, w, b, (s, s), (1, 1, 1, 1), (1, 1), 1, "relu6", True)
    before = cnnnative.get_num_threads()
    try:
        cnnnative.set_num_threads(3)
        plan, methods = build(x.shape, w, b, (s, s), (1, 1, 1, 1), (1, 1), 1, "relu6", True)
        assert methods[-1] == "gemm_prepacked"
        for threads in (3, 2, 1):
            cnnnative.set_num_threads(threads)
            close(plan.run(x, poison=True), expected)
    finally:
        cnnnative.set_num_threads(before)


def test_autotune_considers_prepacked_and_matches_reference(rng, monkeypatch):
    """algo="autotune" times gemm_prepacked beside im2col / Winograd; whichever it keeps,
    the result equals the reference, and a kept Winograd node carries no packed copy."""
    monkeypatch.delenv("CNNNATIVE_ENGINE_PREPACK", raising=False)
    x = randn(rng, 1, 64, 7, 7)
    w1, w2 = randn(rng, 96, 64, 3, 3), randn(rng, 80, 96, 1, 1)
    plan = _core.EnginePlan(list(x.shape), "autotune")
    a = plan.add_conv(0, w1, None, (1, 1), (1, 1, 1, 1), (1, 1), 1, "relu", -1)
    plan.finalize(plan.add_conv(a, w2, None, (1, 1), (0, 0, 0, 0), (1, 1), 1, "none", -1))
    methods = [n["method"] for n in plan.nodes()]
    assert set(methods) <= {"gemm_prepacked", "im2col_gemm", "gemm_1x1", "winograd", "direct_smallc",
                            "direct_smallc_wino"}
    expected = conv2d_ref(act_ref(conv2d_ref(x, w1, None, (1, 1), (1, 1, 1, 1)), "relu"), w2)
    close(plan.run(x, poison=True), expected)


# -- op level: cnnnative.ops.conv2d(algo="im2col") on small images takes sgemm_small_n ------------

@pytest.mark.parametrize("case", [(32, 64, 7, 7, 1, 1, 1), (40, 67, 5, 10, 1, 2, 1), (64, 130, 14, 14, 2, 1, 1),
                                  (36, 128, 3, 3, 1, 1, 2), (90, 198, 11, 11, 1, 1, 3)],
                         ids=lambda c: "C{}K{}H{}W{}s{}N{}g{}".format(*c))
def test_op_conv2d_small_n_gemm(isa, rng, case):
    """Few output pixels (<= 128) and a deep unfold (C/g*9 >= 256): the op-level im2col
    forward computes pixels x channels in 7-row tiles (AVX-512; the other ISAs keep
    sgemm), per call, with bias. Odd channel counts leave partial column panels."""
    C, K, H, W, s, N, g = case
    x = randn(rng, N, C, H, W)
    w = randn(rng, K, C // g, 3, 3)
    b = randn(rng, K)
    y = cnnnative.ops.conv2d(x, w, b, stride=s, padding=1, groups=g, algo="im2col")
    close(y, conv2d_ref(x, w, b, (s, s), (1, 1, 1, 1), (1, 1), g))
