"""The package's face: ``vaecourse``'s docstring names every submodule the notebooks and exercises import, and
``import vaecourse`` loads none of them."""

import ast
import subprocess
import sys
from pathlib import Path

import vaecourse

ROOT = Path(__file__).resolve().parents[1]


def _imported_submodules(path: Path) -> set[str]:
    """``vaecourse.X`` for every ``import vaecourse.X...``, ``from vaecourse.X... import ...`` and
    ``from vaecourse import X`` in the file, X a submodule (not one of the names ``vaecourse.__all__`` gives)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "vaecourse":
            names = [f"vaecourse.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        else:
            continue
        for parts in (name.split(".") for name in names):
            if parts[0] == "vaecourse" and len(parts) > 1 and parts[1] not in vaecourse.__all__:
                found.add(f"vaecourse.{parts[1]}")
    return found


def test_the_docstring_names_every_submodule_a_notebook_or_exercise_imports():
    files = sorted((ROOT / "notebooks").glob("*.py")) + sorted((ROOT / "exercises").glob("*.py"))
    imported = set().union(*(_imported_submodules(f) for f in files))
    assert {"vaecourse.data", "vaecourse.models", "vaecourse.viz"} <= imported, sorted(imported)  # the parse works
    missing = sorted(m for m in imported if f":mod:`{m}`" not in vaecourse.__doc__)
    assert not missing, f"vaecourse/__init__.py's docstring does not name {missing}, which the notebooks import"


def test_importing_the_package_loads_no_submodule_beyond_the_switches():
    loaded = subprocess.run([sys.executable, "-c", "import sys, vaecourse; print(*sorted(m for m in sys.modules "
                             "if m.startswith('vaecourse.')))"], capture_output=True, text=True, check=True).stdout
    assert set(loaded.split()) == {"vaecourse.runtime", "vaecourse.threads", "vaecourse.values"}
