"""The typed stub shipped for _core (python/cnnnative/_core.pyi) must name every public
function and class the compiled module has, so editors and type checkers see the whole API.
Regenerate with: pybind11-stubgen cnnnative._core -o /tmp/stubs && cp /tmp/stubs/cnnnative/_core.pyi python/cnnnative/
"""
import ast
import pathlib

import cnnnative
from cnnnative import _core


def test_core_stub_lists_every_public_name():
    stub = pathlib.Path(cnnnative.__file__).with_name("_core.pyi")
    assert stub.exists(), "python/cnnnative/_core.pyi is missing from the package"
    tree = ast.parse(stub.read_text())
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    public = {n for n in dir(_core) if not n.startswith("_")}
    missing = sorted(public - names)
    assert not missing, f"_core.pyi lacks {missing}; regenerate it (see this file's docstring)"
