#!/usr/bin/env python3
"""Fuzz checkpoint loading: mutate valid checkpoints and load them with cnnnative.load and
Trainer.load (model + SGD with momentum, or --optimizer adam: Adam with amsgrad, + StepLR +
Dropout generator).

Checks for every case:
  * the only exceptions are ValueError (incl. CheckpointKeyError) and FileNotFoundError;
  * after a failed load the model, optimizer, scheduler, generator and trainer state are
    bit-identical to before (no partial load);
  * peak traced memory of the load <= 2 x the content the archive declares (sum of the
    members' declared sizes) + a fixed allowance for the interpreter's own structures.

A seeded mutation loop (deterministic for a given --seed; atheris is not needed):

    PYTHONPATH=python python tools/fuzz_checkpoint.py --seconds 600 --seed 1
    PYTHONPATH=python python tools/fuzz_checkpoint.py --cases 300

Cases that break a check are written to --crash-dir for reproduction.
"""
from __future__ import annotations

import argparse
import io as bytes_io
import json
import math
import os
import random
import sys
import tempfile
import time
import tracemalloc
import traceback
import warnings
import zipfile
import zlib

import numpy as np

import cnnnative
from cnnnative import io, nn, optim

ALLOWANCE = 4 << 20  # bytes of zipfile / json / numpy bookkeeping allowed on top of 2x


# -- the target ----------------------------------------------------------------------------
OPTIMIZERS = {"sgd": lambda m: optim.SGD(m, lr=0.1, momentum=0.9, weight_decay=1e-4),
              "adam": lambda m: optim.Adam(m, lr=0.01, amsgrad=True)}
OPTIMIZER = "sgd"  # --optimizer


def build_trainer(seed=0):
    nn.init.manual_seed(seed)
    m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                      nn.Dropout(0.25, seed=seed + 7), nn.Linear(4 * 6 * 6, 10))
    opt = OPTIMIZERS[OPTIMIZER](m)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)
    return cnnnative.Trainer(m, opt, scheduler=sched, seed=seed, quiet=True)


def snapshot(t):
    """Everything a load may change, as comparable plain values."""
    m, opt, sched = t.model, t.optimizer, t.scheduler
    return {
        "model": [(k, v.dtype.str, v.shape, v.tobytes()) for k, v in m.state_dict().items()],
        "groups": [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups],
        "momentum": {k: v.tobytes() for k, v in getattr(opt, "momentum_buffers", {}).items()},
        "state": {k: {n: (v.tobytes() if isinstance(v, np.ndarray) else v) for n, v in st.items()}
                  for k, st in opt.state.items()},
        "step_count": opt.step_count, "last_epoch": sched.last_epoch,
        "rng": json.dumps(m[4]._rng.bit_generator.state, sort_keys=True),
        "trainer": (t.epoch, t.seed, json.dumps(t.history)),
    }


def trained(seed, epochs):
    t = build_trainer(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 16)
    t.fit((x, y), epochs=epochs, batch_size=8)
    return t


def seed_files(workdir):
    """Valid checkpoints (a trained one with everything, a model-only one of another
    model) and the reference state the target is reset to, which differs from both in
    every field, so a partial load of either always shows."""
    full = os.path.join(workdir, "full.npz")
    trained(1, 2).save(full)
    model_only = os.path.join(workdir, "model_only.npz")
    io.save(model_only, build_trainer(3).model)
    base = os.path.join(workdir, "base.npz")
    trained(2, 1).save(base)
    return [open(full, "rb").read(), open(model_only, "rb").read()], base


# -- mutations ------------------------------------------------------------------------------
def members(data):
    with zipfile.ZipFile(bytes_io.BytesIO(data)) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


def build_zip(items, compress=zipfile.ZIP_STORED):
    buf = bytes_io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as z:
        for name, payload in items:
            z.writestr(name, payload)
    return buf.getvalue()


def npy_bytes(arr):
    buf = bytes_io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def npy_header_only(shape, descr="<f4"):
    buf = bytes_io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


WEIRD_VALUES = [None, float("nan"), float("inf"), -1, 0, 2 ** 70, -2 ** 70, "x", "", [], {}, True,
                False, 1.5, 1e308, [1, 2], {"a": 1}, "StepLR", "SGD", "Adam", 10 ** 12, 2 ** 63, -1]


def json_paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from json_paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from json_paths(v, prefix + (i,))


def mutate_meta(r, meta):
    paths = [p for p in json_paths(meta) if p]
    p = r.choice(paths)
    parent = meta
    for k in p[:-1]:
        parent = parent[k]
    choice = r.random()
    if choice < 0.15 and isinstance(parent, dict):
        del parent[p[-1]]
    elif choice < 0.25:
        depth = r.choice([65, 200, 5000, 100000])
        parent[p[-1]] = "DEEP"
        text = json.dumps(meta)
        return text.replace('"DEEP"', "[" * depth + "]" * depth)
    elif choice < 0.35 and isinstance(parent[p[-1]], (int, float)) and not isinstance(parent[p[-1]], bool):
        parent[p[-1]] = parent[p[-1]] * r.choice([-1, 0, 2, 1e300, 0.5]) + r.choice([0, 1, -1])
    else:
        parent[p[-1]] = r.choice(WEIRD_VALUES)
    return json.dumps(meta)  # NaN/Infinity written as json.dumps does


_BOMBS = {}


def bomb(size):
    """(npy header, raw-deflated header + `size` bytes of zeros, CRC of the expansion),
    cached: compressing takes a moment."""
    if size not in _BOMBS:
        header = npy_header_only((size // 4,))
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        chunks = [comp.compress(header)]
        crc = zlib.crc32(header)
        zeros = bytes(1 << 20)
        for _ in range(size // len(zeros)):
            chunks.append(comp.compress(zeros))
            crc = zlib.crc32(zeros, crc)
        chunks.append(comp.flush())
        _BOMBS[size] = (header, b"".join(chunks), crc)
    return _BOMBS[size]


def raw_zip_with_deflated(items, name, header, deflated, declared_size, crc):
    """Zip with `items` stored and one deflated member written by hand (so its declared
    size can differ from what the stream expands to)."""
    import struct
    out = bytes_io.BytesIO()
    central = []
    for n, payload in items:
        nb = n.encode()
        off = out.tell()
        c = zlib.crc32(payload)
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, c, len(payload), len(payload), len(nb), 0))
        out.write(nb)
        out.write(payload)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, c, len(payload),
                                   len(payload), len(nb), 0, 0, 0, 0, 0, off) + nb)
    nb = name.encode()
    off = out.tell()
    out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(deflated), declared_size, len(nb), 0))
    out.write(nb)
    out.write(deflated)
    central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(deflated),
                               declared_size, len(nb), 0, 0, 0, 0, 0, off) + nb)
    cd_off = out.tell()
    for c in central:
        out.write(c)
    cd_size = out.tell() - cd_off
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), cd_size, cd_off, 0))
    return out.getvalue()


def mutate(r, seeds, bomb_sizes=(16 << 20, 64 << 20)):
    data = r.choice(seeds)
    kind = r.choice(["flip", "flip", "truncate", "splice", "member_bytes", "member_header", "member_set",
                     "meta", "meta", "meta", "bomb", "deep", "deflate_all"])
    if kind == "flip":
        b = bytearray(data)
        for _ in range(r.randint(1, 8)):
            b[r.randrange(len(b))] = r.randrange(256)
        return kind, bytes(b)
    if kind == "truncate":
        return kind, data[:r.randrange(len(data))]
    if kind == "splice":
        other = r.choice(seeds)
        a, b = r.randrange(len(data)), r.randrange(len(other))
        return kind, data[:a] + other[b:b + r.randint(0, 4096)] + data[a:]
    items = members(data)
    if kind == "member_bytes":
        i = r.randrange(len(items))
        name, payload = items[i]
        b = bytearray(payload)
        for _ in range(r.randint(1, 4)):
            if b:
                b[r.randrange(min(len(b), 128) if r.random() < 0.7 else len(b))] = r.randrange(256)
        items[i] = (name, bytes(b))
        return kind, build_zip(items)
    if kind == "member_header":
        i = r.randrange(len(items))
        name, payload = items[i]
        choices = [(r.randint(0, 2 ** 31),), (2 ** 62, 2 ** 62), (), (0,), (-1,), (3, 3, 3)]
        descr = r.choice(["<f4", "<f8", "<i8", ">f4", "|O", "<U10", "|u1", "<c8"])
        items[i] = (name, npy_header_only(r.choice(choices), descr) + payload[128:])
        return kind, build_zip(items)
    if kind == "member_set":
        op = r.choice(["drop", "dup", "add", "rename"])
        i = r.randrange(len(items))
        if op == "drop":
            items.pop(i)
        elif op == "dup":
            items.append(items[i])
        elif op == "add":
            items.append((r.choice(["optim/momentum/99.npy", "model/x.npy", "evil.npy", "meta",
                                    "optim/momentum/01.npy", "optim/exp_avg/0.npy", "optim/Exp/0.npy",
                                    "optim/max_exp_avg_sq/5.npy"]), npy_bytes(np.zeros(3, np.float32))))
        else:
            items[i] = (r.choice(["model/0.weight.npy", "optim/momentum/0.npy", "x.npy", "__version__.npy",
                                  "optim/exp_avg_sq/1.npy"]),
                        items[i][1])
        return kind, build_zip(items)
    if kind in ("meta", "deep"):
        i = [n for n, _ in items].index("meta.npy")
        meta = json.loads(str(np.load(bytes_io.BytesIO(items[i][1]))))
        if kind == "deep":
            text = "[" * 100000 + "]" * 100000 if r.random() < 0.5 else json.dumps(
                {**meta, "extra": "X"}).replace('"X"', '{"a":' * 3000 + "1" + "}" * 3000)
        else:
            text = mutate_meta(r, meta)
        items[i] = ("meta.npy", npy_bytes(np.array(text)))
        return kind, build_zip(items)
    if kind == "deflate_all":
        return kind, build_zip(items, zipfile.ZIP_DEFLATED)
    # bomb: a deflated member of zeros, declared honestly or understated
    size = r.choice(bomb_sizes)
    lie = r.random() < 0.5
    header, deflated, crc = bomb(size)
    name = r.choice(["model/0.weight.npy", "model/huge.npy", "optim/momentum/0.npy"])
    keep = [(n, p) for n, p in items if n != name]
    declared = 4096 if lie else len(header) + size
    return kind, raw_zip_with_deflated(keep, name, header, deflated, declared, crc)


def declared_content(data):
    try:
        with zipfile.ZipFile(bytes_io.BytesIO(data)) as z:
            return sum(i.file_size for i in z.infolist())
    except Exception:
        return len(data)


# -- the loop --------------------------------------------------------------------------------
def run(cases=None, seconds=None, seed=0, crash_dir=None, log=None, bomb_sizes=(16 << 20, 64 << 20)):
    r = random.Random(seed)
    warnings.simplefilter("ignore", UserWarning)  # zipfile's "Duplicate name" when we build such files
    stats = {"cases": 0, "loaded": 0, "rejected": 0, "crashes": 0, "partial_loads": 0,
             "memory_violations": 0, "max_peak_bytes": 0, "max_peak_over_declared": 0.0,
             "kinds": {}, "exceptions": {}, "failures": []}
    with tempfile.TemporaryDirectory() as work:
        seeds, base = seed_files(work)
        t = build_trainer(2)
        t.load(base)
        path = os.path.join(work, "case.npz")
        tracemalloc.start()
        start = time.monotonic()
        while True:
            if cases is not None and stats["cases"] >= cases:
                break
            if seconds is not None and time.monotonic() - start >= seconds:
                break
            kind, data = mutate(r, seeds, bomb_sizes)
            with open(path, "wb") as f:
                f.write(data)
            declared = declared_content(data)
            stats["cases"] += 1
            stats["kinds"][kind] = stats["kinds"].get(kind, 0) + 1
            for how in ("cn.load", "io.load(model, opt, sched)", "Trainer.load"):
                before = snapshot(t)
                tracemalloc.reset_peak()
                floor = tracemalloc.get_traced_memory()[0]
                problem = None
                try:
                    if how == "cn.load":
                        cnnnative.load(path)
                    elif how == "Trainer.load":
                        t.load(path)
                    else:
                        io.load(path, t.model, t.optimizer, t.scheduler)
                    ok = True
                except (ValueError, FileNotFoundError) as e:
                    ok = False
                    name = type(e).__name__
                    stats["exceptions"][name] = stats["exceptions"].get(name, 0) + 1
                except BaseException as e:  # noqa: BLE001 - that is what we look for
                    if isinstance(e, KeyboardInterrupt):
                        raise
                    ok = False
                    problem = "crash: " + "".join(traceback.format_exception_only(type(e), e)).strip()
                    stats["crashes"] += 1
                    tb = traceback.format_exc()
                peak = tracemalloc.get_traced_memory()[1] - floor
                stats["max_peak_bytes"] = max(stats["max_peak_bytes"], peak)
                if declared >= (1 << 20):
                    stats["max_peak_over_declared"] = max(stats["max_peak_over_declared"], peak / declared)
                if peak > 2 * declared + ALLOWANCE:
                    stats["memory_violations"] += 1
                    problem = problem or f"memory: peak {peak} bytes, declared {declared}"
                if ok:
                    if how != "cn.load":
                        stats["loaded"] += 1
                        t.load(base)  # back to the reference state for the next case
                else:
                    stats["rejected"] += 1
                    if snapshot(t) != before:
                        stats["partial_loads"] += 1
                        problem = problem or "partial load: state changed by a failed load"
                        t.load(base)
                if problem:
                    entry = {"case": stats["cases"], "kind": kind, "how": how, "problem": problem}
                    if problem.startswith("crash"):
                        entry["traceback"] = tb
                    stats["failures"].append(entry)
                    if crash_dir:
                        os.makedirs(crash_dir, exist_ok=True)
                        with open(os.path.join(crash_dir, f"case{stats['cases']}-{kind}.npz"), "wb") as f:
                            f.write(data)
                    if log:
                        log(f"case {stats['cases']} ({kind}, {how}): {problem}")
        tracemalloc.stop()
        stats["seconds"] = round(time.monotonic() - start, 1)
    return stats


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--cases", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crash-dir", default=None)
    ap.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="sgd")
    args = ap.parse_args(argv)
    global OPTIMIZER
    OPTIMIZER = args.optimizer
    if args.seconds is None and args.cases is None:
        args.cases = 300
    stats = run(args.cases, args.seconds, args.seed, args.crash_dir, log=lambda s: print(s, file=sys.stderr))
    failures = stats.pop("failures")
    for f in failures[:20]:
        print(json.dumps(f)[:2000], file=sys.stderr)
    stats["max_peak_MiB"] = round(stats.pop("max_peak_bytes") / 2 ** 20, 2)
    print(json.dumps(stats, indent=1))
    return 1 if (stats["crashes"] or stats["partial_loads"] or stats["memory_violations"]) else 0


if __name__ == "__main__":
    sys.exit(main())
