"""environment.yml (conda) and pyproject.toml (pip) name the same packages."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch", "playwright": "playwright-python"}  # pip -> conda-forge, where they differ


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower()


def test_conda_environment_lists_every_runtime_and_dev_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_names = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    text = (ROOT / "environment.yml").read_text()
    dependencies = text.split("dependencies:", 1)[1]
    conda_names = {_name(line.strip()[2:]) for line in dependencies.splitlines()
                   if line.startswith("  - ") and not line.strip().startswith("- pip")}
    conda_names.discard("python")
    assert {CONDA_NAMES.get(n, n) for n in pip_names} == conda_names
    assert "conda-forge" in text and "defaults\n" not in text.replace("nodefaults", "")


def test_python_is_not_capped():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "<" not in project["requires-python"]
    assert any(r.startswith("ipywidgets>=7.7") for r in project["dependencies"])
