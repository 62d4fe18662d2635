"""Colab: every notebook found on disk opens from its own badge and installs the course only on Colab.

Each ``.ipynb`` of notebooks/, solutions/ and exercises/ (a new chapter is covered as soon as it exists) must have
an "Open In Colab" badge in its first cell pointing at its own path in the repository, and as its first code cell
the guarded install cell: on Colab it pip-installs vaecourse from the repository, leaving Colab's torch and numpy
alone; anywhere else it does nothing.
"""

import ast
import subprocess
import sys
import types
from pathlib import Path

import pytest

from vaecourse.authoring.course import BADGE, COLAB_BADGE, REPOSITORY, colab_url, find_notebooks, install_requirement

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = find_notebooks(ROOT)
IDS = [nb.relpath for nb in NOTEBOOKS]
FORBIDDEN = ("torch", "numpy", "--upgrade", "-U", "--force-reinstall", "--upgrade-strategy", "--no-deps")


def test_every_course_folder_is_covered():
    folders = {nb.folder for nb in NOTEBOOKS}
    assert {"notebooks", "solutions", "exercises"} <= folders, folders


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_the_badge_opens_this_notebook(notebook):
    first = notebook.sources()[0]
    badges = list(BADGE.finditer(first))
    assert len(badges) == 1, f"{notebook.relpath}: expected one Open In Colab badge in the first cell, found {len(badges)}"
    assert badges[0]["image"] == COLAB_BADGE
    assert badges[0]["url"] == notebook.colab_url, (
        f"{notebook.relpath}: the badge opens {badges[0]['url']}, expected {notebook.colab_url}")
    prefix = colab_url("")
    for url in notebook.badge_urls():  # any other Colab badge must open a notebook that exists
        assert url.startswith(prefix) and (ROOT / url[len(prefix):]).is_file(), f"{notebook.relpath}: dead badge {url}"


def _is_colab_guard(test: ast.expr) -> bool:
    """``"google.colab" in sys.modules``."""
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Constant) and test.left.value == "google.colab"
            and len(test.ops) == 1 and isinstance(test.ops[0], ast.In)
            and ast.unparse(test.comparators[0]) == "sys.modules")


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_the_first_code_cell_installs_the_course_only_on_colab(notebook):
    source = notebook.first_code_cell()
    assert source is not None, f"{notebook.relpath}: no code cell"
    tree = ast.parse(source)  # no !pip or %pip magics: plain Python that runs everywhere
    guarded = [node for node in tree.body if isinstance(node, ast.If) and _is_colab_guard(node.test)]
    assert len(guarded) == 1, f"{notebook.relpath}: the first code cell needs one `if \"google.colab\" in sys.modules:`"
    for node in tree.body:  # outside the guard: imports only
        assert isinstance(node, (ast.Import, ast.ImportFrom)) or node is guarded[0], (
            f"{notebook.relpath}: line {node.lineno} of the install cell runs outside the Colab guard")
    assert not guarded[0].orelse, f"{notebook.relpath}: the install cell does something when not on Colab"
    strings = _strings(guarded[0])
    assert install_requirement() in strings and "install" in strings and "pip" in strings
    assert f"github.com/{REPOSITORY}" in install_requirement()
    for word in FORBIDDEN:
        assert not any(s == word or s.startswith(f"{word}=") or s.startswith(f"{word}<") or s.startswith(f"{word}>")
                       for s in strings), f"{notebook.relpath}: the install cell touches {word!r}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_the_install_cell_runs_pip_on_colab_and_nothing_elsewhere(notebook, monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: calls.append(list(args)))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    code = compile(notebook.first_code_cell(), f"{notebook.relpath}[install cell]", "exec")
    exec(code, {})
    assert calls == [], f"{notebook.relpath}: the install cell ran {calls} outside Colab"
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    exec(code, {})
    assert len(calls) == 1, calls
    args = calls[0]
    assert args[:4] == [sys.executable, "-m", "pip", "install"] and install_requirement() in args
    assert not any(a.split("[")[0].split("=")[0].split("<")[0].split(">")[0] in FORBIDDEN for a in args), args


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_nothing_else_installs_packages(notebook):
    for number, source in enumerate(notebook.sources("code")[1:], start=2):
        assert "pip install" not in source and "conda install" not in source, (
            f"{notebook.relpath}: code cell {number} installs packages; only the guarded first cell may")
