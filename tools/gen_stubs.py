"""Regenerate python/cnnnative/_core.pyi, the typed stub of the compiled module, from the
built _core (run after a C++ change that adds or changes a binding):

    pip install pybind11-stubgen && PYTHONPATH=python python tools/gen_stubs.py

pybind11-stubgen writes the signatures pybind11 reports; this script then spells bare
generics (`list`, `dict`, `tuple` from py::list/py::dict/py::tuple) with `Any` parameters
so the stub passes `mypy --strict` (tests/test_typing.py checks it, tests/test_stub.py
checks it names everything the module has).
"""
import pathlib
import re
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent.parent
STUB = HERE / "python" / "cnnnative" / "_core.pyi"
_BARE = {"list": "list[typing.Any]", "dict": "dict[str, typing.Any]", "tuple": "tuple[typing.Any, ...]"}


def spell_generics(text: str) -> str:
    # A bare name used as a type: after '->' or ': ', not followed by '['.
    return re.sub(r"(->\s*|:\s*)(list|dict|tuple)\b(?!\[)", lambda m: m.group(1) + _BARE[m.group(2)], text)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pybind11_stubgen", "cnnnative._core", "-o", tmp], check=True)
        text = (pathlib.Path(tmp) / "cnnnative" / "_core.pyi").read_text()
    STUB.write_text(spell_generics(text))
    print(f"wrote {STUB}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
