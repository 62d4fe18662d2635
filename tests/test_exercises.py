"""The exercise build: stubs replace solutions, the tree is in sync, and unsolved notebooks still run."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vaecourse.authoring.exercises import (BEGIN, END, TITLE, ExerciseBuildError, build_all, build_exercises,
                                           build_notebooks, check_built, ipynb_text, main, stub_solutions)

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


def test_one_exercise_may_fence_several_regions_of_its_cell_and_titles_do_not_leak_across_cells():
    text = ("# %%\ndef f(x):\n    # Exercise 2.3: two steps — fill both\n    # BEGIN SOLUTION\n    y = x\n"
            "    # END SOLUTION\n    z = y\n    # BEGIN SOLUTION\n    return z\n    # END SOLUTION\n")
    stubbed = stub_solutions(text)
    assert stubbed.count('raise NotImplementedError("Exercise 2.3: two steps — fill both")') == 2
    assert "    z = y\n" in stubbed  # the code between the regions is kept
    leaking = "# %%\n# Exercise 2.3: t\nx = 1\n\n# %%\ndef g():\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n"
    with pytest.raises(ExerciseBuildError, match=r"99_x.py:7: .*in the same cell"):
        stub_solutions(leaking, "solutions/99_x.py")


def test_quotes_in_a_title_stay_valid_python_and_markdown_regions_become_an_answer_prompt():
    text = ('# %%\ndef f():\n    # Exercise 1.9: return "yes" \\o/\n    # BEGIN SOLUTION\n    return "yes"\n'
            '    # END SOLUTION\n\n# %% [markdown]\n# Exercise 1.10: explain why\n# BEGIN SOLUTION\n'
            '# Because the KL is never negative.\n# END SOLUTION\n')
    stubbed = stub_solutions(text)
    namespace: dict = {}
    exec(compile(stubbed.split("# %% [markdown]")[0], "<ex>", "exec"), namespace)
    with pytest.raises(NotImplementedError) as raised:
        namespace["f"]()
    assert str(raised.value) == 'Exercise 1.9: return "yes" \\o/'
    assert "# *Exercise 1.10: explain why — write your answer here.*\n" in stubbed
    assert "never negative" not in stubbed


@pytest.mark.parametrize("broken, message", [
    ("    # Exercise 1.1: t\n    # BEGIN SOLUTION\n    pass\n", r"99_x.py:2: .*never closed"),
    ("    # END SOLUTION\n", r"99_x.py:1: .*without a matching"),
    ("    # Exercise 1.1: t\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    # END SOLUTION\n", r"99_x.py:3: nested"),
    ("def f():\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n", "without a '# Exercise N.M: title'"),
    ("# %%\n# Exercise 1.1: t\n# BEGIN SOLUTION\nx = 1\n# %%\n# END SOLUTION\n", r"99_x.py:3: .*before the next cell"),
    ("# Exercise 1.1: t\n# BEGIN SOLUTION 1.1\n# END SOLUTION\n", "unexpected text after"),
])
def test_bad_markers_are_reported_with_their_line(broken, message):
    with pytest.raises(ExerciseBuildError, match=message):
        stub_solutions(broken, "solutions/99_x.py")


def test_a_marker_error_writes_nothing_and_check_reports_it(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "01_good.py").write_text(SOLUTION)
    (tmp_path / "solutions" / "02_bad.py").write_text("# %%\n# END SOLUTION\n")
    with pytest.raises(ExerciseBuildError, match="02_bad.py:2"):
        build_all(tmp_path)
    assert not (tmp_path / "exercises").exists() and not (tmp_path / "solutions" / "01_good.ipynb").exists()
    assert check_built(tmp_path) == ["cannot build: solutions/02_bad.py:2: '# END SOLUTION' without a matching "
                                     "'# BEGIN SOLUTION'"]
    assert main(tmp_path, check=True) == 2
    assert main(tmp_path) == 2


def test_build_notebooks_and_build_exercises_each_write_their_own_part(tmp_path, capsys):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "solutions" / "09_double.py").write_text(SOLUTION)
    (tmp_path / "notebooks" / "09_double.py").write_text("# %%\nprint('lecture')\n")
    assert {p.relative_to(tmp_path).as_posix() for p in build_exercises(tmp_path)} == {
        "exercises/09_double.py", "exercises/09_double.ipynb"}
    assert {p.relative_to(tmp_path).as_posix() for p in build_notebooks(tmp_path)} == {
        "notebooks/09_double.ipynb", "solutions/09_double.ipynb"}
    assert build_exercises(tmp_path) == [] and build_notebooks(tmp_path) == []
    assert main(tmp_path, check=True) == 0
    assert "up to date" in capsys.readouterr().out
    (tmp_path / "notebooks" / "10_lonely.ipynb").write_text("{}")
    assert main(tmp_path, check=True) == 1
    assert "notebooks/10_lonely.ipynb: has no .py twin" in capsys.readouterr().out


def test_a_notebook_with_outputs_or_an_edited_cell_is_out_of_date_but_json_layout_is_not(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_a.py").write_text("# %%\nprint(1)\n")
    build_all(tmp_path)
    target = tmp_path / "notebooks" / "01_a.ipynb"
    notebook = json.loads(target.read_text())
    target.write_text(json.dumps(notebook, indent=2, sort_keys=True))  # another JSON layout, same notebook
    assert check_built(tmp_path) == [] and build_all(tmp_path) == []
    notebook["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}]
    target.write_text(json.dumps(notebook))
    assert check_built(tmp_path) == ["notebooks/01_a.ipynb: differs from what its .py source builds (edit the .py, "
                                     "then rebuild)"]
    assert build_all(tmp_path) == [target] and check_built(tmp_path) == []


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


def test_kernelspec_and_no_outputs_in_every_committed_notebook():
    for path in sorted(ROOT.glob("*/[0-9]*.ipynb")):
        if path.parent.name == "rendered":  # executed copies, outputs kept on purpose (docs/rendered.md)
            continue
        notebook = json.loads(path.read_text())
        assert notebook["metadata"]["kernelspec"]["name"] == "python3", path
        assert all(not cell.get("outputs") for cell in notebook["cells"]), f"{path} was committed with outputs"


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "solutions").glob("[0-9]*.py")))
def test_every_solution_region_becomes_a_stub_in_exercises(name):
    solution = (ROOT / "solutions" / f"{name}.py").read_text()
    exercise = (ROOT / "exercises" / f"{name}.py").read_text()
    regions = solution.count("# BEGIN SOLUTION")
    assert regions >= 4, "each chapter has at least four exercises"
    assert exercise.count("raise NotImplementedError(\"Exercise") == regions
    assert "# BEGIN SOLUTION" not in exercise


THINKING_TITLE = re.compile(r"^[ \t]*# Exercise (?P<number>\d+\.\d+): \[(?P<kind>predict|vary and measure|interpret)\]",
                            re.MULTILINE)
THINKING_CHECK = re.compile(r"\bcheck\.(?P<name>(?:predict|vary|interpret)_\w+)\(")


def test_the_course_has_thirty_exercises_ten_of_them_to_think_through_and_each_is_checked():
    """At least 30 exercises; at least 10 of the kinds that make a learner think ([predict], [vary and measure],
    [interpret] at the start of the title), every kind used, at least two per chapter, each with its check call."""
    from vaecourse import check

    numbers, thinking = set(), {}
    for path in sorted((ROOT / "solutions").glob("[0-9]*.py")):
        text = path.read_text()
        numbers |= {m.group(1) for m in re.finditer(r"^[ \t]*# Exercise (\d+\.\d+): ", text, re.MULTILINE)}
        mine = {m["number"]: m["kind"] for m in THINKING_TITLE.finditer(text)}
        assert len(mine) >= 2, f"{path.name}: at least two predict / vary / interpret exercises per chapter"
        checked = {getattr(check, m["name"]).__doc__.split(":")[0] for m in THINKING_CHECK.finditer(text)}
        assert checked == {f"Exercise {n}" for n in mine}, f"{path.name}: each thinking exercise has its own check"
        thinking.update(mine)
    assert len(numbers) >= 30, sorted(numbers)
    assert len(thinking) >= 10 and set(thinking.values()) == {"predict", "vary and measure", "interpret"}, thinking


# ---- stubs state the task, never the answer (issue 24) ----------------------------------------------------------
GIVEAWAY = re.compile(r"\b(exp|log|mean|max|min|sum|abs|tr|var|softplus|sigmoid|sqrt)\s*\(|\|\s*\w+\s*-\s*\w+\s*\||"
                      r"\^\{?-1|\)\^n")  # code-like maths in a title: exp(...), min(1, ...), |z1 - z2|, (...)^{-1}


def _normalised(code):
    """Whitespace removed, a leading `return` dropped, torch./np./F./math. prefixes dropped."""
    text = re.sub(r"\s+", "", code)
    return re.sub(r"\b(torch|np|F|math)\.", "", re.sub(r"^return", "", text))


def _reference_expressions(solution):
    """Each code line inside a solution fence (comments, i.e. the explanations, left out), normalised, and the
    right-hand side of each assignment; only those longer than 15 characters (more than a trivial `return x`)."""
    inside = False
    for line in solution.splitlines():
        if BEGIN.match(line) or END.match(line):
            inside = BEGIN.match(line) is not None
            continue
        code = line.split("  #")[0]
        if not inside or not code.strip() or code.strip().startswith("#"):
            continue
        assignment = re.match(r"^\s*[\w\[\]:, .]+?=(?!=)(.*)$", code)
        for expression in (code, assignment and assignment.group(1)):
            if expression and len(_normalised(expression)) > 15:
                yield _normalised(expression)


def leaked_answers(solution, exercise):
    """The reference expressions of ``solution`` that occur, normalised, anywhere in the generated ``exercise``."""
    haystack = _normalised(exercise)
    return sorted({e for e in _reference_expressions(solution) if e in haystack})


GIVING = """# %%
def reparameterize(mu, logvar, eps):
    # Exercise 9.2: sampling — TITLE
    # BEGIN SOLUTION
    # Why: sigma = exp(logvar / 2) is the standard deviation.
    return mu + torch.exp(0.5 * logvar) * eps
    # END SOLUTION
"""


@pytest.mark.parametrize("where, giveaway", [
    ("title", GIVING.replace("TITLE", "return mu + torch.exp(0.5 * logvar) * eps")),
    ("markdown", "# %% [markdown]\n# Return `mu + torch.exp(0.5*logvar) * eps`.\n\n" + GIVING.replace("TITLE", "z")),
    ("fallback", GIVING.replace("TITLE", "z") + "\n\n# %%\ndef fallback(mu, logvar, eps):\n"
                 "    return mu + torch.exp(0.5 * logvar) * eps\n"),
])
def test_a_stub_that_gives_the_answer_is_found(where, giveaway):
    assert leaked_answers(giveaway, stub_solutions(giveaway)) == ["mu+exp(0.5*logvar)*eps"], where
    clean = GIVING.replace("TITLE", "compute z from mu, logvar and the noise eps you are given")
    assert leaked_answers(clean, stub_solutions(clean)) == []
    assert GIVEAWAY.search("Exercise 1.1: reparameterised sampling — return mu + exp(logvar / 2) * eps")
    assert GIVEAWAY.search("Exercise 3.2: z_diff — return the mean over the L pairs of |z1 - z2|, shape (D,)")
    assert GIVEAWAY.search("Exercise 5.3: the acyclicity constraint H(A) — return tr((I + A * A)^n) - n")
    assert not GIVEAWAY.search("Exercise 1.4: the ELBO of a model — compute the ELBO of Eq. (1), p(x|z) - KL(q(z|x)")


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "solutions").glob("[0-9]*.py")))
def test_no_stub_contains_its_answer(name):
    """No reference expression of a solution fence stands anywhere in the generated exercise (its stub messages, its
    markdown, a fallback cell), and no exercise's title writes the answer as code-like maths."""
    solution = (ROOT / "solutions" / f"{name}.py").read_text()
    exercise = (ROOT / "exercises" / f"{name}.py").read_text()
    assert leaked_answers(solution, exercise) == []
    titles = [m["title"] for line in solution.splitlines() if (m := TITLE.match(line))]
    assert titles and not [t for t in titles if GIVEAWAY.search(t)]
