"""The README's tutorial runs as written: its Python blocks in order, as one session, and
its `cnnnative ...` command lines (shortened with extra arguments, never altered). A block
whose first line is `# requires: torch` runs only when PyTorch is installed; a command line
whose comment says `needs network` is not run (tests/test_cli_failures.py downloads from a
loopback server instead), one that says `needs matplotlib` runs when matplotlib is installed."""
import importlib.util
import os
import re
import shlex

import numpy as np
import pytest

import cnnnative
from cnnnative import cli, data

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def _blocks(language):
    """(line number, code) of every fenced block in the given language, in order."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    return [(text.count("\n", 0, m.start()) + 2, m.group(1))
            for m in re.finditer(rf"^```{language}\n(.*?)^```$", text, re.S | re.M)]


def _requirement(code):
    first = code.splitlines()[0] if code.strip() else ""
    m = re.match(r"#\s*requires:\s*(\w+)", first)
    return m.group(1) if m else None


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    threads = cnnnative.get_num_threads()
    yield tmp_path
    cnnnative.set_num_threads(threads)


def test_python_blocks_run_in_order(in_tmp, capsys):
    blocks = _blocks("python")
    assert len(blocks) >= 8
    namespace = {"__name__": "__readme__"}
    skipped = []
    for line, code in blocks:
        needs = _requirement(code)
        assert needs in (None, "torch"), f"README line {line}: unknown requirement {needs!r}"
        if needs == "torch" and importlib.util.find_spec("torch") is None:
            skipped.append(line)
            continue
        try:
            exec(compile(code, f"README.md:{line}", "exec"), namespace)
        except Exception as e:
            pytest.fail(f"README block at line {line} fails: {type(e).__name__}: {e}")
    out = capsys.readouterr().out
    assert "(10,)" in out and "(2, 24, 32, 32)" in out and "(1, 1000)" in out
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert accuracy > 0.9  # the tutorial's model really learned
    if skipped:  # said, not hidden: the rest passed
        print(f"README blocks at lines {skipped} need torch, which is not installed")


def test_torch_blocks_are_marked():
    """Every block that imports torch says so on its first line, visibly."""
    for line, code in _blocks("python"):
        if re.search(r"^\s*import torch|^\s*from torch", code, re.M):
            assert _requirement(code) == "torch", f"README line {line} imports torch without '# requires: torch'"


# Extra arguments that keep each command short; appended, so the README's words run as written.
_SHORTEN = {"train": ["--epochs", "1", "--limit", "128", "--no-plots"],
            "bench": ["--repeats", "1", "--layers", "lenet5.c3"]}


def test_console_lines_run(in_tmp, capsys):
    lines = [(ln, cmd) for ln, code in _blocks("console") for cmd in code.splitlines()]
    commands = []
    for line, text in lines:
        assert text.startswith("$ cnnnative "), f"README line {line}: console lines are cnnnative commands"
        command, _, comment = text[2:].partition("#")
        if "needs network" in comment:
            continue
        if "needs matplotlib" in comment and importlib.util.find_spec("matplotlib") is None:
            continue  # the optional figure; the rest of the line's command runs elsewhere
        commands.append((line, shlex.split(command)[1:]))
    assert [c[1][0] for c in commands][:3] == ["train", "train", "predict"]
    for line, argv in commands:
        if argv[0] == "predict":  # the user's images: some of the digits, 0..16 like training
            np.save("images.npy", data.load_digits("test").images[:5, 0])
        argv = argv + _SHORTEN.get(argv[0], [])
        try:
            status = cli.main(argv)
        except SystemExit as e:
            status = e.code
        assert status == 0, f"README line {line}: `cnnnative {' '.join(argv)}` -> {status}"
    out = capsys.readouterr().out
    assert f"cnnnative {cnnnative.__version__}" in out and "4: " in out


def test_ci_markers():
    """.ci/run extracts the test command by its exact format; the main command keeps its."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    assert len(re.findall(r"^    \$ (.*)  # test-command$", text, re.M)) == 1
    assert re.findall(r"^    \$ (.*)  # main-command$", text, re.M) == ["pip install . && cnnnative train"]
