"""Where each field of a plan file lies (docs/plan_format.md), so tests can corrupt one
field at a time; `fix` re-seals a modified file (file size and CRC-32) so the loader's
checks behind the checksum are reached."""
import struct
import zlib


def u32(data, at):
    return struct.unpack_from("<I", data, at)[0]


def fix(data):
    """The file with its header's size and CRC-32 recomputed."""
    data = bytearray(data)
    struct.pack_into("<Q", data, 16, len(data))
    struct.pack_into("<I", data, 40, zlib.crc32(bytes(data[64:])) & 0xFFFFFFFF)
    return bytes(data)


def put(data, at, fmt, value, seal=True):
    data = bytearray(data)
    struct.pack_into("<" + fmt, data, at, value)
    return fix(data) if seal else bytes(data)


class _Cursor:
    def __init__(self, data, at):
        self.data, self.at = data, at

    def take(self, fmt):
        at = self.at
        value = struct.unpack_from("<" + fmt, self.data, at)[0]
        self.at += struct.calcsize("<" + fmt)
        return at, value

    def string(self):
        at, n = self.take("I")
        self.at += n
        return at

    def shape(self):
        at, rank = self.take("I")
        dims = [self.take("q")[0] for _ in range(rank)]
        return at, dims


def parse(data):
    """Offsets of the fields: {'sections': [(entry_at, type, offset, size)], 'meta': {...},
    'tensors': [{...}], 'graph': {...}, 'nodes': [{...}]}."""
    count, table = u32(data, 28), struct.unpack_from("<Q", data, 32)[0]
    sections = []
    for i in range(count):
        at = table + 32 * i
        kind, _, offset, size, _ = struct.unpack_from("<IIQQQ", data, at)
        sections.append((at, kind, offset, size))
    by_type = {s[1]: s for s in sections}
    out = {"sections": sections}
    c = _Cursor(data, by_type[1][2])
    meta = {"choice": c.take("I")[1], "n_in": c.take("I")[0], "n_out": c.take("I")[0]}
    meta["precision_at"], meta["precision"] = c.take("I")
    meta["input_name"] = c.string()
    meta["input_shape"] = c.shape()[0]
    meta["output_name"] = c.string()
    meta["output_shape"] = c.shape()[0]
    out["meta"] = meta
    c = _Cursor(data, by_type[2][2])
    tcount_at, tcount = c.take("I")
    c.take("I")
    tensors = []
    for _ in range(tcount):
        t = {"name": c.string(), "dtype_at": c.take("I")[0]}
        t["shape"], t["dims"] = c.shape()
        t["offset_at"], t["offset"] = c.take("Q")
        t["nbytes_at"], t["nbytes"] = c.take("Q")
        tensors.append(t)
    out["tensor_count"] = tcount_at
    out["tensors"] = tensors
    c = _Cursor(data, by_type[3][2])
    graph = {"input_shape": c.shape()[0]}
    graph["output"] = c.take("i")[0]
    graph["count"], n = c.take("I")
    nodes = []
    for _ in range(n):
        node = {"at": c.at}
        node["op"], node["opcode"] = c.take("I")
        for part, fmt in (("inputs", "i"), ("ints", "q"), ("reals", "d"), ("tensors", "i")):
            node["n_" + part], k = c.take("I")
            node[part] = [c.take(fmt)[1] for _ in range(k)]
        node["output"] = c.take("i")[1]
        node["end"] = c.at
        nodes.append(node)
    out["graph"], out["nodes"] = graph, nodes
    return out
