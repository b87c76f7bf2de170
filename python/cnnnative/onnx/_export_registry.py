"""Exporters by cnnnative op name: `@exporter("relu")` registers fn(ctx, node), which writes
the ONNX nodes for one OpGraph node (see `_export_context.ExportContext`)."""
from __future__ import annotations

__all__ = ["exporter", "exportable_ops", "EXPORTERS"]

EXPORTERS: dict = {}


def exporter(*op_names):
    def register(fn):
        for name in op_names:
            if name in EXPORTERS:
                raise RuntimeError(f"two exporters for op {name!r}")
            EXPORTERS[name] = fn
        return fn
    return register


def exportable_ops() -> list[str]:
    """The cnnnative ops `cnnnative.onnx.export` can write, sorted."""
    from .export import _register_exporters
    _register_exporters()
    return sorted(EXPORTERS)
