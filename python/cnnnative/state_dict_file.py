"""Weights from files: `load_state_dict_file(path)` reads a state_dict (name -> numpy array)
from the formats weights travel in, with no hub and no download:

  .npz           a plain archive of arrays (np.savez of a state_dict), or a cnnnative
                 checkpoint (`cnnnative.save`), whose model/<key> entries are taken
  .safetensors   the format most hubs ship; read here (8-byte header length, JSON header,
                 raw little-endian data), no package needed
  .pth / .pt /   PyTorch's pickled state_dict (.bin: a hub's pytorch_model.bin), read with
  .bin           torch.load(weights_only=True) when torch is installed; a {"state_dict": ...},
                 {"model": ...} or {"model_state_dict": ...} wrapper is unwrapped

Floating-point entries of any precision (float16, bfloat16, float64) come back as float32,
the engine's type; integer entries (BatchNorm's int64 num_batches_tracked) and bools are
kept. Nothing is executed while loading (no pickle outside torch's weights-only loader),
every size is checked before it is used, and a damaged or truncated file is a ValueError
naming the file and the entry, never a crash or a numpy/zipfile/JSON exception.
"""
from __future__ import annotations

import errno
import json
import math
import os
import struct
import zipfile
from collections import OrderedDict

import numpy as np

from .checkpoint_reader import MAX_MEMBERS, _check_end_record, _read_data, _read_header

__all__ = ["load_state_dict_file"]

# safetensors' own limit on the JSON header (100 MB).
MAX_SAFETENSORS_HEADER = 100_000_000

# safetensors dtype names -> numpy dtypes (little-endian); BF16 is read as its uint16 bits.
_SAFETENSORS_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}


def _error(path, field, message):
    return ValueError(f"{path}: {field}: {message}")


def _state_dtype_problem(key, dtype, shape):
    """Why an entry of a weights file is refused (None: numbers of any width)."""
    if dtype.hasobject:
        return "object arrays (pickles) are not allowed"
    if dtype.fields is not None or dtype.kind not in "fiub":
        return f"has dtype {dtype}; expected floating-point, integer or bool arrays"
    return None


def _as_engine_dtype(a: np.ndarray) -> np.ndarray:
    """Floats of any width -> float32 (C-contiguous); integers and bools unchanged."""
    if a.dtype.kind == "f" and a.dtype != np.float32:
        return np.ascontiguousarray(a, np.float32)
    return a


def _bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 is the upper half of a float32: shift the 16 bits into place."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


# -- .npz ----------------------------------------------------------------------------------
def _from_npz(path):
    try:
        f = open(path, "rb")
    except OSError:
        raise  # the file system's answer (missing, a directory, permissions), not the file's
    with f:
        try:
            _check_end_record(path, f)
            zf = zipfile.ZipFile(f)
        except ValueError:
            raise
        except Exception as e:  # BadZipFile, EOFError, struct.error, ... on damaged bytes
            raise _error(path, "archive", f"not a readable .npz archive: {type(e).__name__}: {e}") from None
        with zf:
            if "__format__.npy" not in zf.namelist():
                return _npz_members(path, zf)
    # A cnnnative checkpoint: its model's entries, read by the checkpoint reader.
    from .checkpoint_reader import read_checkpoint
    from .io import FORMAT, READABLE_VERSIONS
    arrays, _ = read_checkpoint(path, FORMAT, READABLE_VERSIONS)
    return OrderedDict((k[len("model/"):], v) for k, v in arrays.items() if k.startswith("model/"))


def _npz_members(path, zf):
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _error(path, "archive", f"{len(infos)} members, more than the limit {MAX_MEMBERS}")
    out = OrderedDict()
    for info in infos:
        name = info.filename
        if not name.endswith(".npy"):
            raise _error(path, name, "not a .npy member (an .npz of a state_dict holds one per entry)")
        key = name[:-4]
        if key in out:
            raise _error(path, key, "appears twice in the archive")
        if info.flag_bits & 0x1:
            raise _error(path, key, "encrypted member")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _error(path, key, f"unsupported compression method {info.compress_type}")
        try:
            with zf.open(info) as stream:
                dtype, shape, fortran = _read_header(path, key, stream, info.file_size, _state_dtype_problem)
                arr = _read_data(path, key, stream, dtype, shape, fortran)
        except ValueError as e:
            if str(e).startswith(f"{path}: "):
                raise
            raise _error(path, key, f"damaged: {e}") from None
        except Exception as e:  # zlib.error, BadZipFile (CRC), EOFError on damaged bytes
            raise _error(path, key, f"damaged: {type(e).__name__}: {e}") from None
        out[key] = _as_engine_dtype(arr)
    return out


# -- .safetensors -----------------------------------------------------------------------------
def _safetensors_entry(path, key, spec, data_size):
    """(numpy dtype, shape, start, stop, is_bf16) of one header entry, every field checked."""
    if not isinstance(spec, dict) or not {"dtype", "shape", "data_offsets"} <= set(spec):
        raise _error(path, key, "header entry must be an object with dtype, shape and data_offsets")
    name = spec["dtype"]
    if name not in _SAFETENSORS_DTYPES:
        raise _error(path, key, f"dtype {name!r} is not supported (known: {', '.join(_SAFETENSORS_DTYPES)})")
    shape, offsets = spec["shape"], spec["data_offsets"]
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise _error(path, key, f"shape must be a list of non-negative integers, got {shape!r:.80}")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(type(o) is int for o in offsets) or not 0 <= offsets[0] <= offsets[1] <= data_size):
        raise _error(path, key, f"data_offsets {offsets!r:.80} do not lie within the {data_size} data bytes")
    dtype = np.dtype(_SAFETENSORS_DTYPES[name])
    nbytes = math.prod(shape) * dtype.itemsize  # Python integers: no wrap-around
    if offsets[1] - offsets[0] != nbytes:
        raise _error(path, key, f"{name}{shape} needs {nbytes} bytes, data_offsets span {offsets[1] - offsets[0]}")
    return dtype, tuple(shape), offsets[0], offsets[1], name == "BF16"


def _from_safetensors(path):
    try:
        f = open(path, "rb")
    except OSError:
        raise
    with f:
        size = f.seek(0, os.SEEK_END)
        f.seek(0)
        head = f.read(8)
        if len(head) < 8:
            raise _error(path, "header", f"not a safetensors file: {size} bytes, shorter than the 8-byte header length")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > min(size - 8, MAX_SAFETENSORS_HEADER):
            raise _error(path, "header", f"declares a {header_len}-byte header in a {size}-byte file "
                                         f"(limit {MAX_SAFETENSORS_HEADER}): truncated or not a safetensors file")
        try:
            header = json.loads(f.read(header_len).decode("utf-8"))
        except (ValueError, RecursionError) as e:  # also UnicodeDecodeError
            raise _error(path, "header", f"damaged JSON header: {type(e).__name__}: {e}") from None
        if not isinstance(header, dict):
            raise _error(path, "header", f"expected a JSON object, got {type(header).__name__}")
        data_start = 8 + header_len
        data_size = size - data_start
        entries = [(k, _safetensors_entry(path, k, v, data_size)) for k, v in header.items()
                   if k != "__metadata__"]
        out = OrderedDict()
        for key, (dtype, shape, start, stop, bf16) in entries:
            arr = np.empty(shape, dtype)
            if stop > start:
                f.seek(data_start + start)
                if f.readinto(memoryview(arr.reshape(-1).view(np.uint8))) != stop - start:
                    raise _error(path, key, "truncated data")
            if not dtype.isnative:
                arr = arr.astype(dtype.newbyteorder("="))
            out[key] = _bfloat16_to_float32(arr) if bf16 else _as_engine_dtype(arr)
        return out


# -- PyTorch pickles ---------------------------------------------------------------------------
def _first_line(e: BaseException, limit=300) -> str:
    text = str(e).strip().splitlines()
    text = text[0] if text else ""
    return f"{type(e).__name__}: {text[:limit]}"


def _from_torch(path):
    try:
        import torch
    except ImportError:
        raise ImportError(f"reading {path!r} (a PyTorch file) needs torch; save it as .safetensors "
                          "or .npz to load it without torch") from None
    if not os.path.exists(path) or os.path.isdir(path):
        open(path, "rb").close()  # the file system's own error
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError, RuntimeError (bad zip), EOFError (truncated), ...
        raise _error(path, "file", f"not a readable PyTorch state_dict: {_first_line(e)}") from None
    for wrapper in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict):
        raise _error(path, "file", f"holds a {type(obj).__name__}, not a state_dict")
    out = OrderedDict()
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            raise _error(path, k, f"is a {type(v).__name__}, not a tensor")
        t = v.detach().cpu()
        if t.is_complex():
            raise _error(path, k, f"has dtype {t.dtype}; expected floating-point, integer or bool tensors")
        if t.is_floating_point():
            t = t.float()  # float16 / bfloat16 / float64 -> the engine's float32
        out[str(k)] = t.contiguous().numpy()
    return out


_READERS = {".npz": _from_npz, ".safetensors": _from_safetensors,
            ".pth": _from_torch, ".pt": _from_torch, ".bin": _from_torch}


def load_state_dict_file(path) -> "OrderedDict[str, np.ndarray]":
    """The state_dict stored in `path` (.npz, .safetensors, .pth/.pt/.bin) as numpy arrays,
    in the file's order: floats as float32, integers and bools as stored.

    FileNotFoundError (or the file system's OSError) when the file cannot be opened;
    ValueError naming the file (and the entry) for an unknown extension, a damaged or
    truncated file, an unsupported dtype, or a file that holds no arrays."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in _READERS:
        raise ValueError(f"load_state_dict_file: cannot tell the format of {path!r} from its extension; "
                         f"expected one of {sorted(_READERS)}")
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    state = _READERS[ext](path)
    if not state:
        raise _error(path, "file", "holds no arrays")
    return state
