"""The exercise build: stubs replace solutions, the tree is in sync, and unsolved notebooks still run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vaecourse.exercises import ExerciseBuildError, build_all, check_built, ipynb_text, stub_solutions

ROOT = Path(__file__).resolve().parents[1]

SOLUTION = '''# %% [markdown]
# Fill in the function.

# %%
def double(x):
    # Exercise 9.1: double a number — return twice x
    # BEGIN SOLUTION
    y = 2 * x
    return y
    # END SOLUTION


# %%
print(double(2))
'''


def test_stub_replaces_the_region_and_keeps_the_instructions():
    text = stub_solutions(SOLUTION)
    assert "y = 2 * x" not in text and "BEGIN SOLUTION" not in text
    assert '    raise NotImplementedError("Exercise 9.1: double a number — return twice x")\n' in text
    assert "# Exercise 9.1: double a number" in text and "# Fill in the function." in text
    namespace: dict = {}
    exec(compile(text.split("# %%")[2], "<ex>", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="Exercise 9.1"):
        namespace["double"](3)


@pytest.mark.parametrize("broken, message", [
    ("    # Exercise 1.1: t\n    # BEGIN SOLUTION\n    pass\n", "never closed"),
    ("    # END SOLUTION\n", "without a matching"),
    ("    # Exercise 1.1: t\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    # END SOLUTION\n", "nested"),
    ("def f():\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n", "without a '# Exercise N.M: title'"),
])
def test_bad_markers_are_reported_with_their_line(broken, message):
    with pytest.raises(ExerciseBuildError, match=message):
        stub_solutions(broken, "solutions/99_x.py")


def test_build_on_a_fresh_tree_is_complete_and_idempotent(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "solutions" / "09_double.py").write_text(SOLUTION)
    (tmp_path / "notebooks" / "09_double.py").write_text("# %%\nprint('lecture')\n")
    written = {p.relative_to(tmp_path).as_posix() for p in build_all(tmp_path)}
    assert written == {"notebooks/09_double.ipynb", "solutions/09_double.ipynb", "exercises/09_double.py",
                       "exercises/09_double.ipynb"}
    assert build_all(tmp_path) == []  # nothing changes the second time
    assert check_built(tmp_path) == []
    notebook = json.loads((tmp_path / "exercises" / "09_double.ipynb").read_text())
    assert all(not cell.get("outputs") for cell in notebook["cells"])
    (tmp_path / "exercises" / "09_double.py").write_text("edited by hand\n")
    (tmp_path / "exercises" / "10_orphan.ipynb").write_text("{}")
    problems = check_built(tmp_path)
    assert any("exercises/09_double.py: differs" in p for p in problems)
    assert any("10_orphan.ipynb: has no source" in p for p in problems)


def test_ipynb_twins_are_byte_stable():
    text = (ROOT / "notebooks" / "01_elbo.py").read_text()
    assert ipynb_text(text) == ipynb_text(text)


def test_repository_notebooks_match_their_sources():
    """Every .ipynb equals what its .py twin builds, and exercises/ equals the build of solutions/."""
    assert check_built(ROOT) == [], "run `python -m vaecourse build-exercises` and commit the result"


def test_command_line_check_reports_up_to_date():
    result = subprocess.run([sys.executable, "-m", "vaecourse", "build-exercises", "--check", "--root", str(ROOT)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "solutions").glob("[0-9]*.py")))
def test_every_solution_region_becomes_a_stub_in_exercises(name):
    solution = (ROOT / "solutions" / f"{name}.py").read_text()
    exercise = (ROOT / "exercises" / f"{name}.py").read_text()
    regions = solution.count("# BEGIN SOLUTION")
    assert regions >= 4, "each chapter has at least four exercises"
    assert exercise.count("raise NotImplementedError(\"Exercise") == regions
    assert "# BEGIN SOLUTION" not in exercise
