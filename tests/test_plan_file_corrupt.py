"""The plan loader never trusts the file: truncations, bit flips, overflowing header and
section fields, huge counts, negative sizes, unknown op kinds, buffer ids out of range and
inconsistent shapes each raise a ValueError that says what is wrong -- never a crash, never
a read out of bounds (the libFuzzer target, fuzz/plan_loader_fuzzer.cc, checks the latter
under ASan)."""
import struct

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import _core
from plan_file_layout import fix, parse, put
from plan_file_nets import build, quantized


@pytest.fixture(scope="module")
def plan():
    model, shape = build("residual")
    return cn.export_plan(model, None, shape)


def _refused(data, match=None):
    with pytest.raises(ValueError, match=match) as e:
        cn.load_plan(data)
    assert str(e.value).startswith("plan file: "), str(e.value)
    return str(e.value)


def test_the_untouched_plan_loads(plan):
    assert cn.load_plan(plan).output_shape == (2, 5)


def test_truncation_at_every_section_boundary_and_random_offsets(plan):
    layout = parse(plan)
    cuts = {0, 1, 7, 8, 63, 64, len(plan) - 1}
    for _, _, offset, size in layout["sections"]:
        cuts |= {offset - 1, offset, offset + 1, offset + size - 1, offset + size}
    cuts |= {t["offset_at"] for t in layout["tensors"]} | {n["at"] for n in layout["nodes"]}
    rng = np.random.default_rng(0)
    cuts |= set(rng.integers(0, len(plan), 150).tolist())
    for cut in sorted(c for c in cuts if 0 <= c < len(plan)):
        _refused(plan[:cut])
        if cut >= 64:
            # Sealed (size and checksum fixed): the section parsing itself must catch it.
            _refused(fix(plan[:cut]))


def test_bit_flips_fail_the_checksum(plan):
    rng = np.random.default_rng(1)
    for at in rng.integers(64, len(plan), 100):
        data = bytearray(plan)
        data[at] ^= 1 << int(rng.integers(0, 8))
        _refused(bytes(data), "checksum mismatch")


def test_bit_flips_behind_a_fixed_checksum_never_crash(plan):
    """A flipped bit with the checksum recomputed: loads (a weight changed) or a ValueError."""
    rng = np.random.default_rng(2)
    for at in rng.integers(64, len(plan), 300):
        data = bytearray(plan)
        data[at] ^= 1 << int(rng.integers(0, 8))
        try:
            cn.load_plan(fix(bytes(data)))
        except ValueError as e:
            assert str(e).startswith("plan file: ")


def test_header_fields(plan):
    _refused(b"", "fewer than the 64-byte header")
    _refused(b"NOTAPLAN" + plan[8:], "magic")
    _refused(put(plan, 8, "H", 2), r"format version 2\.1 is newer than this reader \(1\.1\)")
    _refused(put(plan, 8, "H", 0), "not a released version")
    _refused(put(plan, 12, "I", 4), "flags")
    _refused(put(plan, 16, "Q", 2**64 - 1, seal=False), "truncated")
    _refused(put(plan, 16, "Q", len(plan) - 1, seal=False), "trailing bytes")
    _refused(plan + b"\0", "trailing bytes")
    _refused(put(plan, 24, "I", 32), "header size")
    _refused(put(plan, 28, "I", 2**32 - 1), "section count")
    _refused(put(plan, 28, "I", 3), "section count")
    _refused(put(plan, 32, "Q", 2**63), "section table")
    _refused(put(plan, 32, "Q", 2**64 - 8), "section table")
    _refused(put(plan, 32, "Q", len(plan) - 16), "section table")


def test_minor_version_is_accepted(plan):
    assert cn.load_plan(put(plan, 10, "H", 7)).output_shape == (2, 5)


def test_section_table(plan):
    layout = parse(plan)
    (meta_at, _, meta_off, meta_size), (tens_at, *_), (graph_at, *_), (data_at, _, data_off, _) = layout["sections"]
    _refused(put(plan, meta_at + 8, "Q", 2**64 - 1), "lie outside")       # offset
    _refused(put(plan, meta_at + 16, "Q", 2**64 - 1), "lie outside")      # size
    _refused(put(plan, meta_at + 16, "Q", 2**63 + 5), "lie outside")
    _refused(put(plan, meta_at + 8, "Q", 0), "lie outside")               # over the header
    _refused(put(plan, meta_at + 16, "Q", meta_size + 8), "overlap")
    _refused(put(plan, tens_at, "I", 1), "a second section of type 1")
    _refused(put(plan, graph_at, "I", 99), "graph.*missing")              # unknown type: skipped
    _refused(put(plan, data_at + 8, "Q", data_off + 8), "64|overlap|lie outside")
    _refused(put(plan, meta_at + 4, "I", 1), "flags")
    _refused(put(plan, meta_at + 16, "Q", 3), "meta section truncated")


def test_meta_fields(plan):
    meta = parse(plan)["meta"]
    _refused(put(plan, meta["input_name"] - 16, "I", 3), "conv choice")
    _refused(put(plan, meta["input_name"] - 12, "I", 2), "inputs")
    _refused(put(plan, meta["precision_at"], "I", 2), r"precision 2 is unknown \(0 float32, 1 bf16\)")
    _refused(put(plan, meta["input_name"], "I", 2**32 - 1), "input name length")
    _refused(put(plan, meta["input_name"], "I", 0), "name is empty")
    _refused(put(plan, meta["input_shape"], "I", 1000), "input shape rank")
    _refused(put(plan, meta["input_shape"] + 4, "q", -2), "input shape dimension 0 is -2")
    _refused(put(plan, meta["input_shape"] + 4, "q", 2**62), "dimension")
    _refused(put(plan, meta["input_shape"] + 12, "q", 0), "empty sample dimension")
    _refused(put(plan, meta["input_shape"] + 12, "q", 4), "does not match the plan's input")
    _refused(put(plan, meta["output_shape"] + 4, "q", 3), "does not match the plan's output")


def test_tensor_table(plan):
    layout = parse(plan)
    t0 = layout["tensors"][0]
    _refused(put(plan, layout["tensor_count"], "I", 2**32 - 1), "tensor count")
    _refused(put(plan, t0["name"], "I", 2**31), "tensor 0 name length")
    _refused(put(plan, t0["dtype_at"], "I", 77), "unknown dtype code 77")
    _refused(put(plan, t0["dtype_at"], "I", 4), "int8 .* needs 108 bytes")
    _refused(put(plan, t0["dtype_at"], "I", 5), "int32; this reader takes float32")  # reserved codes
    _refused(put(plan, t0["shape"], "I", 9), "rank")
    _refused(put(plan, t0["shape"] + 4, "q", -1), "dimension 0 is -1")
    _refused(put(plan, t0["shape"] + 4, "q", 2**40), "needs")
    _refused(put(plan, t0["offset_at"], "Q", 2**64 - 64), "outside the data section")
    _refused(put(plan, t0["offset_at"], "Q", 8), "not a multiple of 64")
    _refused(put(plan, t0["nbytes_at"], "Q", 2**64 - 1), "outside the data section")
    _refused(put(plan, t0["nbytes_at"], "Q", t0["nbytes"] - 4), "needs")
    # Dimensions whose product overflows int64.
    data = put(plan, t0["shape"] + 4, "q", 2**40)
    data = put(data, t0["shape"] + 12, "q", 2**40)
    _refused(data, "overflow|needs")


def test_graph_fields(plan):
    layout = parse(plan)
    g, nodes = layout["graph"], layout["nodes"]
    _refused(put(plan, g["count"], "I", 2**32 - 1), "node count")
    _refused(put(plan, g["count"], "I", len(nodes) - 1), "bytes after the last node")
    _refused(put(plan, g["count"] - 4, "i", 99), "output buffer 99 does not exist")
    _refused(put(plan, g["count"] - 4, "i", 0), "output buffer 0")
    _refused(put(plan, g["input_shape"], "I", 3), "plan input shape")
    _refused(put(plan, g["input_shape"] + 4, "q", 2**40), "does not match|limit")


def _node(plan, op):
    return next(n for n in parse(plan)["nodes"] if n["opcode"] == op)


def test_node_fields(plan):
    conv = parse(plan)["nodes"][0]
    assert conv["opcode"] == 1
    at = conv["at"]
    _refused(put(plan, at, "I", 0), "node 0: unknown op kind 0")
    _refused(put(plan, at, "I", 999), "unknown op kind 999")
    _refused(put(plan, at + 4, "I", 2**32 - 1), "node 0 input count")
    _refused(put(plan, at + 8, "i", -1), r"node 0 \(conv\): input 0 is buffer -1")
    _refused(put(plan, at + 8, "i", 5), "input 0 is buffer 5, which does not exist yet")
    ints = at + 12 + 4  # after op, input count, one input, int count
    _refused(put(plan, at + 12, "I", 2**31), "integer attribute count")
    _refused(put(plan, ints, "q", 0), "stride_h is 0")
    _refused(put(plan, ints, "q", -5), "stride_h is -5")
    _refused(put(plan, ints, "q", 2**62), "stride_h")
    _refused(put(plan, ints + 16, "q", 2**63 - 1), "padding top")
    _refused(put(plan, ints + 16, "q", 2**31 - 1), "limit")             # an output of ~700 GB
    _refused(put(plan, ints + 64, "q", 3), "groups|channels")           # groups that do not divide
    _refused(put(plan, ints + 72, "q", 42), "activation code 42")
    _refused(put(plan, ints + 72, "q", 8), "prelu")                     # prelu without slopes
    tensors = ints + 80 + 4 + 4  # ints, real count, tensor count
    _refused(put(plan, tensors, "i", 1000), "weight is tensor 1000")
    _refused(put(plan, tensors, "i", -1), "weight is tensor -1")
    _refused(put(plan, tensors, "i", 1), "weight .* expected 4-D|shape")  # the BN-folded bias as weight
    _refused(put(plan, tensors + 8, "i", 0), "slope")
    _refused(put(plan, conv["end"] - 4, "i", 7), "writes buffer 7 but replaying it wrote buffer 1")


def test_inconsistent_shapes(plan):
    layout = parse(plan)
    conv = layout["nodes"][1]  # conv(4 -> 4) with the residual
    assert conv["opcode"] == 1 and len(conv["inputs"]) == 2
    w = layout["tensors"][conv["tensors"][0]]
    # (4, 4, 3, 3) -> (4, 2, 3, 6): the same bytes, the wrong input channels.
    data = put(plan, w["shape"] + 4 + 8, "q", 2)
    _refused(put(data, w["shape"] + 4 + 24, "q", 6), "input channels")
    # The residual input: a buffer of another shape (the input image).
    _refused(put(plan, conv["at"] + 12, "i", 0), "residual")
    # A linear layer whose weight does not fit the features.
    linear = _node(plan, 6)
    fc = layout["tensors"][linear["tensors"][0]]
    data = put(plan, fc["shape"] + 4, "q", 2)
    _refused(put(data, fc["shape"] + 12, "q", 10), "linear expects")
    # Bias of the wrong length (its table entry says 2 values: byte size follows).
    b = layout["tensors"][linear["tensors"][1]]
    data = put(plan, b["shape"] + 4, "q", 2)
    _refused(put(data, b["nbytes_at"], "Q", 8), "bias")
    # add of buffers of different shapes.
    transposed, shape = build("transposed")
    tplan = cn.export_plan(transposed, None, shape)
    add = _node(tplan, 7)
    _refused(put(tplan, add["at"] + 12, "i", 0), "add inputs differ")


def test_pool_and_layout_attributes():
    model, shape = build("layout")
    data = cn.export_plan(model, None, shape)
    shuffle = _node(data, 17)
    _refused(put(data, shuffle["at"] + 16, "q", 3), "channel_shuffle")
    interp = _node(data, 14)
    ints = interp["at"] + 16
    _refused(put(data, ints, "q", 0), "out_h is 0")
    _refused(put(data, ints + 16, "q", 3), "mode is 3")
    _refused(put(data, ints + 24, "q", 2), "align_corners is 2")
    _refused(put(data, ints + 8 * 4 + 4, "d", float("nan")), "scale_h")
    _refused(put(data, ints + 8 * 4 + 4, "d", -1.0), "scale_h")
    _refused(put(data, ints, "q", 2**31 - 1), "limit|out_h")
    sl = _node(data, 18)
    _refused(put(data, sl["at"] + 16 + 8, "q", 100), "channel_slice")
    model, shape = build("residual")
    data = cn.export_plan(model, None, shape)
    pool = _node(data, 3)
    _refused(put(data, pool["at"] + 16, "q", 0), "kernel_h is 0")
    _refused(put(data, pool["at"] + 16 + 80, "q", 2), "ceil_mode is 2")
    _refused(put(data, pool["at"] + 16 + 32, "q", 2**31 - 1), "padding")


def test_the_loader_limit_refuses_huge_buffers(plan):
    old = _core._plan_loader_max_buffer_bytes(1024)
    try:
        _refused(plan, "limit")
    finally:
        _core._plan_loader_max_buffer_bytes(old)
    assert cn.load_plan(plan).output_shape == (2, 5)


def test_load_from_a_missing_or_unreadable_path(tmp_path):
    _refused(str(tmp_path / "missing.cnn"), "cannot open")
    (tmp_path / "dir.cnn").mkdir()
    _refused(str(tmp_path / "dir.cnn"), "cannot")


def test_error_names_the_path(tmp_path, plan):
    p = tmp_path / "bad.cnn"
    p.write_bytes(plan[:100])
    assert "bad.cnn" in _refused(p)


def test_random_garbage_never_crashes():
    rng = np.random.default_rng(3)
    for n in (0, 10, 64, 65, 200, 4096):
        for _ in range(20):
            raw = bytearray(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
            if n >= 64:
                raw[:8] = b"CNNPLAN\0"
                struct.pack_into("<HH", raw, 8, 1, 0)
            with pytest.raises(ValueError):
                cn.load_plan(fix(bytes(raw)) if n >= 64 else bytes(raw))


@pytest.fixture(scope="module")
def int8_plan():
    """Every int8 op but dequantize."""
    return cn.export_plan(quantized(True, ())[0])


@pytest.fixture(scope="module")
def dequantize_plan():
    """A float32 conv ('group') between int8 ones: dequantize before it."""
    return cn.export_plan(quantized(True, ("group",))[0])


def _fields(node):
    """Offsets of a parsed node's attribute arrays: ints, reals, tensors (first element)."""
    ints = node["at"] + 8 + 4 * len(node["inputs"]) + 4
    reals = ints + 8 * len(node["ints"]) + 4
    tensors = reals + 8 * len(node["reals"]) + 4
    return ints, reals, tensors


def test_int8_node_fields(int8_plan):
    """Quantization parameters, int8 codes, flags and weight dtypes of the int8 ops."""
    ops = {}
    for n in parse(int8_plan)["nodes"]:
        ops.setdefault(n["opcode"], n)
    assert {19, 21, 22, 23, 24, 25, 26} <= set(ops), sorted(ops)
    _refused(int8_plan[:len(int8_plan) - 1])
    # quantize: zero point and scale.
    ints, reals, _ = _fields(ops[19])
    _refused(put(int8_plan, ints, "q", 256), r"quantize\): zero point is 256")
    _refused(put(int8_plan, ints, "q", -1), "zero point is -1")
    for bad in (0.0, -1.0, float("nan"), float("inf"), 1e300):
        _refused(put(int8_plan, reals, "d", bad), "scale is .*positive finite float32")
    # conv_int8: in zero, activation code, out_u8 flag, scales, the weight's dtype.
    conv = ops[21]
    ints, reals, tensors = _fields(conv)
    _refused(put(int8_plan, ints, "q", 300), "input zero point is 300")
    _refused(put(int8_plan, ints + 8 * 10, "q", 42), "activation code 42")
    _refused(put(int8_plan, ints + 8 * 10, "q", 8), "prelu")
    _refused(put(int8_plan, ints + 8 * 12, "q", 2), "out_u8 is 2")
    _refused(put(int8_plan, reals, "d", 0.0), "input scale is 0")
    _refused(put(int8_plan, tensors, "i", conv["tensors"][1]), "weight tensor .* is float32; this reader takes int8")
    _refused(put(int8_plan, tensors + 4, "i", conv["tensors"][0]), "mult tensor .* is int8; this reader takes float32")
    _refused(put(int8_plan, ints + 8, "q", 0), "stride_h is 0")
    _refused(put(int8_plan, ints + 8 * 3, "q", 2**31 - 1), "limit")
    # linear_int8 and the pools.
    ints, reals, _ = _fields(ops[22])
    _refused(put(int8_plan, ints + 8, "q", 10), "activation code 10")
    ints, reals, _ = _fields(ops[23])
    _refused(put(int8_plan, ints, "q", 0), "kernel_h is 0")
    _refused(put(int8_plan, ints + 8 * 11, "q", 999), "zero point is 999")
    ints, reals, _ = _fields(ops[25])
    _refused(put(int8_plan, reals, "d", float("nan")), "scale is nan")


def test_int8_ops_refuse_float32_buffers_and_float_ops_refuse_uint8(int8_plan, dequantize_plan):
    nodes = parse(int8_plan)["nodes"]
    conv = next(n for n in nodes if n["opcode"] == 21)
    _refused(put(int8_plan, conv["at"] + 8, "i", 0), "conv_int8 input must be a uint8 buffer")
    nodes = parse(dequantize_plan)["nodes"]
    deq = next(n for n in nodes if n["opcode"] == 20)
    float_conv = next(n for n in nodes if n["opcode"] == 1)
    assert float_conv["inputs"][0] == deq["output"]
    _refused(put(dequantize_plan, deq["at"] + 8, "i", 0), "dequantize input must be a uint8 buffer")
    # The uint8 buffer the dequantize reads, of the same shape, fed to the float32 conv.
    _refused(put(dequantize_plan, float_conv["at"] + 8, "i", deq["inputs"][0]), "uint8|float32")
