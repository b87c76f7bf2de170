"""Bounded reading of a checkpoint .npz (a zip of .npy files) from an untrusted file.

np.load would trust the archive: a deflated member may expand to gigabytes before its size
is checked, a deep JSON raises RecursionError. Here every size is checked before it is
used, in this order:

1. the zip's end record: member count and central-directory size under fixed limits;
2. each member's name, compression and declared size (central directory);
3. each member's .npy header (numpy's parser, no pickle): dtype allowed for that entry,
   header + shape x itemsize == the declared size, then the caller's check of all headers
   (shapes against the model) - before any data is decompressed;
4. the data, decompressed into an array of exactly that size: never more than declared,
   and the zip's CRC is verified;
5. the metadata JSON: size and nesting depth limited before json parses it.

Every problem in the file is a ValueError naming the file and the member or field.
"""
from __future__ import annotations

import json
import os
import re
import struct
import zipfile

import numpy as np
from numpy.lib import format as npy_format

__all__ = ["read_checkpoint", "MAX_MEMBERS", "MAX_META_CHARS", "MAX_META_DEPTH"]

MAX_MEMBERS = 16384                 # a ResNet-50 with momentum has about 500
MAX_CENTRAL_DIRECTORY = 16 << 20    # bytes of zip directory
MAX_META_CHARS = 16 << 20           # JSON metadata (a long training history is ~100 KB)
MAX_META_DEPTH = 64                 # nesting of JSON objects/arrays
MAX_META_ITEMS = 500_000            # JSON values: bounds the memory of the parsed objects
MAX_SMALL_ENTRY_CHARS = 64          # __format__
_MAX_NPY_HEADER = 10000             # numpy's own default limit
_CHUNK = 1 << 20

_EOCD = b"PK\x05\x06"
# optim/<state name>/<parameter position>: SGD's optim/momentum/<i>, Adam's optim/exp_avg/<i>...
_OPTIM_KEY = re.compile(r"optim/([a-z][a-z0-9_]{0,31})/(0|[1-9][0-9]{0,8})")


def _error(path, field, message):
    return ValueError(f"{path}: {field}: {message}")


def _check_end_record(path, f):
    """Member count and directory size from the zip's end record, before zipfile builds
    an object per member."""
    size = f.seek(0, os.SEEK_END)
    tail_len = min(size, 22 + 65535)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        raise _error(path, "archive", "not a zip archive (no end-of-directory record)")
    count, cd_size = struct.unpack("<HI", tail[at + 10:at + 16])
    if count > MAX_MEMBERS:
        raise _error(path, "archive", f"{count} members, more than the limit {MAX_MEMBERS}")
    if cd_size > MAX_CENTRAL_DIRECTORY:
        raise _error(path, "archive", f"directory of {cd_size} bytes, more than {MAX_CENTRAL_DIRECTORY}")
    f.seek(0)


def _allowed(key, dtype, shape):
    """Why this dtype/shape is not allowed for this entry, or None."""
    if key in ("__format__", "meta"):
        if dtype.kind != "U" or shape != ():
            return f"expected a unicode scalar, got {dtype}{list(shape)}"
        limit = MAX_META_CHARS if key == "meta" else MAX_SMALL_ENTRY_CHARS
        if dtype.itemsize // 4 > limit:
            return f"{dtype.itemsize // 4} characters, more than the limit {limit}"
        return None
    if key == "__version__":
        return None if dtype.kind in "iu" and shape == () else f"expected an integer scalar, got {dtype}{list(shape)}"
    if key.startswith("model/"):
        ok = (np.float32, np.int64)
        what = "float32 (or int64 counters)"
    else:
        ok = (np.float32,)
        what = "float32"
    if dtype.hasobject:
        return "not a readable cnnnative checkpoint: object arrays (pickles) are not allowed"
    if dtype.fields is not None or dtype.newbyteorder("=") not in ok:
        return f"has dtype {dtype}; expected {what}"
    return None


def _entry_key(path, info, seen):
    name = info.filename
    if not name.endswith(".npy"):
        raise _error(path, name, "unknown entry (not a .npy member)")
    key = name[:-4]
    if not (key in ("__format__", "__version__", "meta") or
            (key.startswith("model/") and len(key) > len("model/")) or _OPTIM_KEY.fullmatch(key)):
        raise _error(path, key, "unknown entries in the checkpoint: "
                                "expected __format__, __version__, meta, model/*, optim/<state>/<i>")
    if key in seen:
        raise _error(path, key, "appears twice in the archive")
    seen.add(key)
    if info.flag_bits & 0x1:
        raise _error(path, key, "encrypted member")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _error(path, key, f"unsupported compression method {info.compress_type}")
    return key


def _read_header(path, key, stream, declared, allowed=_allowed):
    """(dtype, shape, fortran_order) from the .npy header; the data size it implies must
    equal what the zip declares for the member. allowed(key, dtype, shape) says why an
    entry is refused (or None): checkpoints allow float32 and int64 counters only."""
    try:
        version = npy_format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(stream, max_header_size=_MAX_NPY_HEADER)
        elif version in ((2, 0), (3, 0)):
            reader = npy_format.read_array_header_2_0
            shape, fortran, dtype = reader(stream, max_header_size=_MAX_NPY_HEADER)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except Exception as e:  # numpy's parser of untrusted text raises many types (TokenError...)
        raise _error(path, key, f"damaged .npy header: {type(e).__name__}: {e}") from None
    dtype = np.dtype(dtype)
    shape = tuple(shape)
    if any(d < 0 for d in shape):
        raise _error(path, key, f"negative dimension in shape {shape}")
    why = allowed(key, dtype, shape)
    if why:
        raise _error(path, key, why)
    count = 1
    for d in shape:  # Python integers: no wrap-around
        count *= d
    header_len = stream.tell()
    if header_len + count * dtype.itemsize != declared:
        raise _error(path, key, f"{dtype}{list(shape)} needs {header_len + count * dtype.itemsize} "
                                f"bytes with its header, the archive declares {declared}")
    return dtype, shape, fortran


def _read_data(path, key, stream, dtype, shape, fortran):
    """Decompress exactly nbytes into a new array, then check the member ends there (which
    also makes zipfile verify its CRC)."""
    if fortran:
        arr = np.empty(shape[::-1], dtype)  # the bytes are the transpose's C order
    else:
        arr = np.empty(shape, dtype)
    view = memoryview(arr.reshape(-1).view(np.uint8)) if arr.size else memoryview(b"")
    filled = 0
    while filled < len(view):
        chunk = stream.read(min(_CHUNK, len(view) - filled))
        if not chunk:
            raise _error(path, key, f"truncated: {filled} of {len(view)} data bytes")
        view[filled:filled + len(chunk)] = chunk
        filled += len(chunk)
    if stream.read(1):
        raise _error(path, key, "more data than its header declares")
    if fortran:
        arr = arr.T
    if not dtype.isnative:
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


def _json_shape(text):
    """(deepest nesting of [ and {, number of containers and separators) outside strings,
    without recursion: checked before json parses (and recurses into) the text."""
    skeleton = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    brackets = np.frombuffer(re.sub(r"[^\[\]{}]", "", skeleton).encode("ascii"), np.uint8)
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)
    deepest = int(np.cumsum(steps).max()) if steps.size else 0
    items = sum(skeleton.count(c) for c in "[{,:")
    return deepest, items


def _parse_meta(path, text):
    depth, items = _json_shape(text)
    if depth > MAX_META_DEPTH:
        raise _error(path, "meta", f"JSON nested {depth} deep, more than the limit {MAX_META_DEPTH}")
    if items > MAX_META_ITEMS:
        raise _error(path, "meta", f"JSON of about {items} values, more than the limit {MAX_META_ITEMS}")
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise _error(path, "meta", f"checkpoint metadata damaged: {e}") from None
    if not isinstance(meta, dict):
        raise _error(path, "meta", f"expected a JSON object, got {type(meta).__name__}")
    for field, kind in (("model_spec", dict), ("optimizer", dict), ("scheduler", dict),
                        ("extra", dict), ("rng_states", dict)):
        if meta.get(field) is not None and not isinstance(meta[field], kind):
            raise _error(path, f"meta.{field}", f"expected an object or null, got {type(meta[field]).__name__}")
    return meta


def read_checkpoint(path, format_name, format_version, check_headers=None):
    """(arrays {key: array}, meta dict) of a checkpoint file, validated as described above.
    format_version: the version this reader reads, or a tuple of them.
    check_headers({key: (shape, dtype)}) runs after all headers are read, before any data."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise
    except OSError:
        raise  # IsADirectoryError, PermissionError: the file system's answer, not the file's
    with f:
        try:
            _check_end_record(path, f)
            zf = zipfile.ZipFile(f)
        except ValueError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, struct.error, UnicodeDecodeError,
                NotImplementedError, OverflowError, RuntimeError) as e:
            raise _error(path, "archive", f"not a readable cnnnative checkpoint: {e}") from None
        with zf:
            return _read_members(path, zf, format_name, format_version, check_headers)


def _read_members(path, zf, format_name, format_version, check_headers):
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _error(path, "archive", f"{len(infos)} members, more than the limit {MAX_MEMBERS}")
    if "__format__.npy" not in {info.filename for info in infos}:
        raise _error(path, "__format__", f"not a cnnnative checkpoint (no {format_name!r} marker)")
    seen = set()
    keys = [_entry_key(path, info, seen) for info in infos]
    for required in ("__format__", "__version__", "meta"):
        if required not in seen:
            if required == "__format__":
                raise _error(path, required, f"not a cnnnative checkpoint (no {format_name!r} marker)")
            raise _error(path, required, "missing")

    def guarded(key, action):
        try:
            return action()
        except ValueError as e:
            if str(e).startswith(f"{path}: "):
                raise
            raise _error(path, key, f"not a readable cnnnative checkpoint: {e}") from None
        except Exception as e:  # zipfile/zlib/numpy on damaged bytes: BadZipFile, zlib.error, EOFError...
            raise _error(path, key, f"not a readable cnnnative checkpoint: {type(e).__name__}: {e}") from None

    info_of = dict(zip(keys, infos))

    # Pass 1: headers only (a few hundred bytes decompressed per member).
    headers = {}
    for key, info in zip(keys, infos):
        def header(info=info, key=key):
            with zf.open(info) as stream:
                return _read_header(path, key, stream, info.file_size)
        headers[key] = guarded(key, header)

    def small(key):
        dtype, shape, fortran = headers[key]
        info = info_of[key]
        def read():
            with zf.open(info) as stream:
                _read_header(path, key, stream, info.file_size)
                return _read_data(path, key, stream, dtype, shape, fortran)
        return guarded(key, read)

    marker = small("__format__")
    if str(marker[()]) != format_name:
        raise _error(path, "__format__", f"not a cnnnative checkpoint (no {format_name!r} marker)")
    version = int(small("__version__")[()])
    readable = format_version if isinstance(format_version, tuple) else (format_version,)
    if version not in readable:
        raise _error(path, "__version__", f"checkpoint format version {version}, this cnnnative "
                                          f"reads {' and '.join(map(str, readable))}")
    meta_text = guarded("meta", lambda: str(small("meta")[()]))
    meta = _parse_meta(path, meta_text)
    if check_headers is not None:
        check_headers({k: (shape, dtype) for k, (dtype, shape, _) in headers.items()
                       if k.startswith(("model/", "optim/"))})

    # Pass 2: the data, each member into an array of exactly its declared size.
    arrays = {}
    for key, info in zip(keys, infos):
        if key in ("__format__", "__version__", "meta"):
            continue
        arrays[key] = small(key)
    return arrays, meta
