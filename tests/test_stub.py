"""The typed stub shipped for _core (python/cnnnative/_core.pyi) must describe the compiled
module exactly: every function and class it has (private helpers too), every public method
and property of its classes, and nothing it lacks, so editors and type checkers see the
whole API. Regenerate after changing a binding:
    pip install pybind11-stubgen && PYTHONPATH=python python tools/gen_stubs.py
"""
import ast
import pathlib

import cnnnative
from cnnnative import _core

STUB = pathlib.Path(cnnnative.__file__).with_name("_core.pyi")
HINT = "regenerate it: PYTHONPATH=python python tools/gen_stubs.py"


def _stub_tree():
    assert STUB.exists(), "python/cnnnative/_core.pyi is missing from the package"
    return ast.parse(STUB.read_text())


def _defined(body):
    names = set()
    for n in body:
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
            names.add(n.target.id)
        elif isinstance(n, ast.Assign):
            names.update(t.id for t in n.targets if isinstance(t, ast.Name))
    return names


def test_core_stub_lists_every_name_and_no_other():
    tree = _stub_tree()
    names = _defined(tree.body) - {"__all__"}
    module = {n for n in dir(_core) if not (n.startswith("__") and n.endswith("__"))} | {"__version__"}
    assert not sorted(module - names), f"_core.pyi lacks {sorted(module - names)}; {HINT}"
    assert not sorted(names - module), f"_core.pyi names what _core lacks: {sorted(names - module)}; {HINT}"


def test_core_stub_all_matches_the_public_names():
    all_ = None
    for n in _stub_tree().body:
        target = n.target if isinstance(n, ast.AnnAssign) else n.targets[0] if isinstance(n, ast.Assign) else None
        if isinstance(target, ast.Name) and target.id == "__all__":
            all_ = ast.literal_eval(n.value)
    public = sorted(n for n in dir(_core) if not n.startswith("_"))
    assert all_ is not None and sorted(all_) == public, f"_core.pyi's __all__ differs from the module's public names; {HINT}"


def test_core_stub_classes_list_every_public_member():
    tree = _stub_tree()
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    for name, node in classes.items():
        members = _defined(node.body)
        actual = {m for m in dir(getattr(_core, name)) if not m.startswith("_")}
        assert actual <= members, f"_core.pyi's {name} lacks {sorted(actual - members)}; {HINT}"
        assert members - {"__init__"} <= actual | {m for m in members if m.startswith("_")}, \
            f"_core.pyi's {name} names what it lacks: {sorted(members - actual)}; {HINT}"


def test_package_is_marked_typed():
    assert pathlib.Path(cnnnative.__file__).with_name("py.typed").exists()
