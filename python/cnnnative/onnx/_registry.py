"""The converter registry: one function per (ONNX op type, since-version).

An ONNX operator changes meaning across opsets (Clip's min/max move from attributes to
inputs at 11, Squeeze's axes at 13, ...). Each converter is registered under the opset
version its behaviour starts at; a model of opset V uses, for each op, the converter with
the largest since-version <= V. So every attribute-to-input move is one explicit entry.
"""
from __future__ import annotations

__all__ = ["converter", "find_converter", "supported_ops", "CONVERTERS"]

# op type -> list of (since_version, function), sorted by since_version
CONVERTERS: dict = {}


def converter(op_type: str, since: int = 1):
    """Register `fn(ctx)` as the converter of `op_type` for opsets >= `since`."""
    def register(fn):
        entries = CONVERTERS.setdefault(op_type, [])
        if any(v == since for v, _ in entries):
            raise RuntimeError(f"two converters for ONNX {op_type} since opset {since}")
        entries.append((since, fn))
        entries.sort(key=lambda e: e[0])
        return fn
    return register


def find_converter(op_type: str, opset: int):
    """The converter for `op_type` at `opset`, or None when there is none."""
    best = None
    for since, fn in CONVERTERS.get(op_type, ()):
        if since <= opset:
            best = fn
    return best


def supported_ops() -> dict:
    """{op type: [since-versions]} of every registered converter (for the docs table)."""
    return {op: [v for v, _ in entries] for op, entries in sorted(CONVERTERS.items())}
