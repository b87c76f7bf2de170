"""load_state_dict_file: round trips through every format (torch only where installed),
dtype conversion (float16 / bfloat16 / float64 -> float32, integers kept), and damaged files:
always a ValueError naming the file, never another exception or a crash."""
import json
import os
import struct

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import load_state_dict_file


def _state():
    rng = np.random.default_rng(0)
    return {"conv.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
            "bn.running_var": rng.random(4, dtype=np.float32),
            "bn.num_batches_tracked": np.array(7, np.int64),
            "fc.bias": np.zeros(0, np.float32)}


def _same(got, want):
    assert sorted(got) == sorted(want)
    for k, v in want.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
        np.testing.assert_array_equal(got[k], v)


def write_safetensors(path, entries, metadata=None):
    """entries: {name: (dtype name, shape, raw bytes)}: the format written by hand (8-byte
    little-endian header length, JSON header, data), so any dtype can be tested."""
    header, blob = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in entries.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + blob)


def test_npz_round_trip_plain_compressed_and_checkpoint(tmp_path):
    state = _state()
    np.savez(tmp_path / "a.npz", **state)
    np.savez_compressed(tmp_path / "b.npz", **state)
    _same(load_state_dict_file(tmp_path / "a.npz"), state)
    _same(load_state_dict_file(str(tmp_path / "b.npz")), state)
    assert list(load_state_dict_file(tmp_path / "a.npz")) == list(state)  # the file's order

    model = cn.models.digits_net(num_classes=3)
    cn.save(tmp_path / "ck.npz", model)                 # a cnnnative checkpoint: its model entries
    _same(load_state_dict_file(tmp_path / "ck.npz"), model.state_dict())


def test_npz_float64_and_float16_become_float32_ints_kept(tmp_path):
    np.savez(tmp_path / "w.npz", w=np.arange(6, dtype=np.float64).reshape(2, 3) / 3,
             h=np.array([0.5, -2.0], np.float16), n=np.array(3, np.int64), i=np.array([1, 2], np.int32))
    got = load_state_dict_file(tmp_path / "w.npz")
    assert got["w"].dtype == np.float32 and got["h"].dtype == np.float32
    np.testing.assert_allclose(got["w"], np.arange(6).reshape(2, 3) / 3, rtol=1e-7)
    np.testing.assert_array_equal(got["h"], [0.5, -2.0])
    assert got["n"].dtype == np.int64 and got["n"] == 3 and got["i"].dtype == np.int32


def test_safetensors_round_trip_with_the_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    state = _state()
    st.save_file(state, str(tmp_path / "w.safetensors"), metadata={"format": "np"})
    _same(load_state_dict_file(tmp_path / "w.safetensors"), state)


def test_safetensors_dtypes(tmp_path):
    x = np.array([1.0, -0.5, 3.140625, 0.0], np.float32)
    bf16 = (x.view(np.uint32) >> 16).astype("<u2")          # exact in bfloat16
    write_safetensors(tmp_path / "d.safetensors", {
        "bf": ("BF16", (2, 2), bf16.tobytes()),
        "h": ("F16", (4,), x.astype("<f2").tobytes()),
        "d": ("F64", (4,), x.astype("<f8").tobytes()),
        "f": ("F32", (4,), x.astype("<f4").tobytes()),
        "n": ("I64", (), np.array(5, "<i8").tobytes()),
        "b": ("BOOL", (2,), np.array([True, False]).tobytes()),
        "e": ("F32", (0, 3), b""),
    }, metadata={"source": "test"})
    got = load_state_dict_file(tmp_path / "d.safetensors")
    assert list(got) == ["bf", "h", "d", "f", "n", "b", "e"]
    np.testing.assert_array_equal(got["bf"], x.reshape(2, 2))
    for k in ("bf", "h", "d", "f", "e"):
        assert got[k].dtype == np.float32, k
    for k in ("h", "d", "f"):
        np.testing.assert_array_equal(got[k], x)
    assert got["n"].dtype == np.int64 and got["n"].shape == () and got["n"] == 5
    assert got["b"].dtype == np.bool_ and got["e"].shape == (0, 3)


def test_torch_files_round_trip_and_dtypes(tmp_path):
    torch = pytest.importorskip("torch")
    state = _state()
    tensors = {k: torch.from_numpy(v) for k, v in state.items()}
    torch.save(tensors, tmp_path / "w.pth")
    _same(load_state_dict_file(tmp_path / "w.pth"), state)
    torch.save({"state_dict": tensors, "epoch": 3}, tmp_path / "w.pt")        # a training checkpoint
    _same(load_state_dict_file(tmp_path / "w.pt"), state)
    torch.save({"model_state_dict": tensors}, tmp_path / "pytorch_model.bin")  # a hub's .bin
    _same(load_state_dict_file(tmp_path / "pytorch_model.bin"), state)

    x = torch.tensor([1.0, -0.5, 3.140625])
    torch.save({"bf": x.bfloat16(), "h": x.half(), "d": x.double(), "n": torch.tensor(2)}, tmp_path / "d.pth")
    got = load_state_dict_file(tmp_path / "d.pth")
    for k in ("bf", "h", "d"):
        assert got[k].dtype == np.float32
        np.testing.assert_array_equal(got[k], x.numpy())
    assert got["n"].dtype == np.int64


def test_torch_files_that_are_not_state_dicts(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save([torch.zeros(2)], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="list.pth.*not a state_dict"):
        load_state_dict_file(tmp_path / "list.pth")
    torch.save({"w": torch.zeros(2), "lr": 0.1}, tmp_path / "mixed.pth")
    with pytest.raises(ValueError, match="mixed.pth: lr: is a float"):
        load_state_dict_file(tmp_path / "mixed.pth")
    torch.save({"c": torch.zeros(2, dtype=torch.complex64)}, tmp_path / "complex.pth")
    with pytest.raises(ValueError, match="complex.pth: c: has dtype"):
        load_state_dict_file(tmp_path / "complex.pth")


def test_names_and_extensions(tmp_path):
    with pytest.raises(ValueError, match="cannot tell the format"):
        load_state_dict_file(tmp_path / "w.h5")
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_state_dict_file(tmp_path / "missing.npz")
    np.savez(tmp_path / "empty.npz")
    with pytest.raises(ValueError, match="empty.npz: file: holds no arrays"):
        load_state_dict_file(tmp_path / "empty.npz")


def _files(tmp_path):
    """One valid file per format this machine can write."""
    state = _state()
    np.savez(tmp_path / "s.npz", **state)
    np.savez_compressed(tmp_path / "c.npz", **state)
    write_safetensors(tmp_path / "s.safetensors",
                      {k: ({np.float32: "F32", np.int64: "I64"}[v.dtype.type], v.shape, v.tobytes())
                       for k, v in state.items()})
    paths = [tmp_path / "s.npz", tmp_path / "c.npz", tmp_path / "s.safetensors"]
    try:
        import torch
        torch.save({k: torch.from_numpy(v) for k, v in state.items()}, tmp_path / "s.pth")
        paths.append(tmp_path / "s.pth")
    except ImportError:
        pass
    return paths


def test_truncated_and_damaged_files_are_value_errors(tmp_path):
    rng = np.random.default_rng(1)
    for path in _files(tmp_path):
        raw = path.read_bytes()
        ext = path.suffix
        cases = [raw[:n] for n in sorted(set(np.linspace(0, len(raw) - 1, 40).astype(int)))]
        for _ in range(40):
            b = bytearray(raw)
            b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
            cases.append(bytes(b))
        cases.append(b"\x00" * 64)
        cases.append(os.urandom(300))
        bad = tmp_path / f"bad{ext}"
        for case in cases:
            bad.write_bytes(case)
            try:
                state = load_state_dict_file(bad)
            except ValueError as e:
                assert str(bad) in str(e)
            else:  # a flipped bit in the data (or a name): still a well-formed state_dict
                assert all(isinstance(v, np.ndarray) and v.dtype.kind in "fiub" for v in state.values())


@pytest.mark.parametrize("header, message", [
    ({"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}, "dtype 'F8_E4M3' is not supported"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, r"F32\[2\] needs 8 bytes"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 800]}}, "do not lie within"),
    ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, "non-negative integers"),
    ({"w": {"dtype": "F32", "shape": [1]}}, "dtype, shape and data_offsets"),
    ([1, 2], "expected a JSON object"),
])
def test_safetensors_header_checks(tmp_path, header, message):
    text = json.dumps(header).encode()
    path = tmp_path / "h.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"\0" * 8)
    with pytest.raises(ValueError, match=message):
        load_state_dict_file(path)


def test_safetensors_header_length_and_json(tmp_path):
    path = tmp_path / "h.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 60) + b"{}")
    with pytest.raises(ValueError, match="declares a .*-byte header"):
        load_state_dict_file(path)
    path.write_bytes(struct.pack("<Q", 5) + b"{oops")
    with pytest.raises(ValueError, match="damaged JSON header"):
        load_state_dict_file(path)
    deep = b"[" * 100000 + b"]" * 100000
    path.write_bytes(struct.pack("<Q", len(deep)) + deep)
    with pytest.raises(ValueError, match="h.safetensors: header"):
        load_state_dict_file(path)


def test_npz_refuses_pickles_and_odd_members(tmp_path):
    np.savez(tmp_path / "o.npz", w=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="o.npz: w: .*pickles"):
        load_state_dict_file(tmp_path / "o.npz")
    np.savez(tmp_path / "c.npz", w=np.zeros(2, np.complex64))
    with pytest.raises(ValueError, match="c.npz: w: has dtype complex64"):
        load_state_dict_file(tmp_path / "c.npz")
    import zipfile
    with zipfile.ZipFile(tmp_path / "t.npz", "w") as z:
        z.writestr("notes.txt", "hello")
    with pytest.raises(ValueError, match="t.npz: notes.txt: not a .npy member"):
        load_state_dict_file(tmp_path / "t.npz")
