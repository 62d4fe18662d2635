"""Build the notebooks from their text twins, and exercises/ from solutions/ (one source of truth).

Sources are jupytext "percent" files, edited by hand:
    notebooks/NN_name.py   ->  notebooks/NN_name.ipynb
    solutions/NN_name.py   ->  solutions/NN_name.ipynb
                           ->  exercises/NN_name.py + exercises/NN_name.ipynb   (solutions replaced by stubs)

In a solutions file, each exercise's code is fenced like this (see docs/exercises.md):

    def gaussian_kl(mu, logvar):
        # Exercise 1.2: closed-form KL(q || N(0, I)) per example, summed over latent dimensions
        # BEGIN SOLUTION
        return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)
        # END SOLUTION

and the build turns the fenced lines into
        raise NotImplementedError("Exercise 1.2: closed-form KL(q || N(0, I)) per example, ...")
at the indentation of the BEGIN line. The nearest ``# Exercise N.M: title`` comment above a BEGIN line
names it. ``.ipynb`` files carry no outputs; a build writes a file only when its content changes, through a
temporary file and a rename.
"""

from __future__ import annotations

import re
from pathlib import Path

SOURCE_DIRS = ("notebooks", "solutions")
BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^[ \t]*# END SOLUTION\s*$")
TITLE = re.compile(r"^[ \t]*# (?P<title>Exercise \d+\.\d+: .+?)\s*$")


class ExerciseBuildError(ValueError):
    """A solutions file whose markers cannot be turned into exercises."""


def stub_solutions(text: str, source: str = "<solutions>") -> str:
    """Replace every ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region by a NotImplementedError stub."""
    out: list[str] = []
    title: str | None = None
    inside: tuple[int, str] | None = None  # (line number of BEGIN, indentation)
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if inside is None:
            if (match := TITLE.match(line)) is not None:
                title = match["title"]
            if (match := BEGIN.match(line)) is not None:
                if title is None:
                    raise ExerciseBuildError(f"{source}:{number}: '# BEGIN SOLUTION' without a '# Exercise N.M: title' "
                                             "comment above it to name the exercise")
                inside = (number, match["indent"])
                message = title.replace("\\", "\\\\").replace('"', '\\"')
                out.append(f'{match["indent"]}raise NotImplementedError("{message}")\n')
                title = None
                continue
            if END.match(line):
                raise ExerciseBuildError(f"{source}:{number}: '# END SOLUTION' without a matching '# BEGIN SOLUTION'")
            out.append(line)
        else:
            if BEGIN.match(line):
                raise ExerciseBuildError(f"{source}:{number}: nested '# BEGIN SOLUTION' (the one at line "
                                         f"{inside[0]} is still open)")
            if END.match(line):
                inside = None
    if inside is not None:
        raise ExerciseBuildError(f"{source}:{inside[0]}: '# BEGIN SOLUTION' is never closed by '# END SOLUTION'")
    return "".join(out)


def exercise_text(solution_text: str, source: str = "<solutions>") -> str:
    """The exercise notebook's text: stubs for solutions, and links that point at exercises/."""
    return stub_solutions(solution_text, source).replace("/blob/main/solutions/", "/blob/main/exercises/")


def ipynb_text(py_text: str) -> str:
    """The ``.ipynb`` twin of a percent-format text, without outputs, byte-stable across builds."""
    import jupytext

    notebook = jupytext.reads(py_text, fmt="py:percent")
    notebook.metadata.pop("jupytext", None)  # pairing info lives in the .py header only
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook.metadata["language_info"] = {"name": "python"}
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{number:03d}"  # nbformat would draw random ids: keep rebuilds byte-identical
    return jupytext.writes(notebook, fmt="ipynb")


def planned_files(root: str | Path) -> dict[Path, str]:
    """Every generated file and the content the build gives it."""
    root = Path(root)
    files: dict[Path, str] = {}
    for folder in SOURCE_DIRS:
        for source in sorted((root / folder).glob("[0-9]*.py")):
            text = source.read_text(encoding="utf-8")
            files[source.with_suffix(".ipynb")] = ipynb_text(text)
            if folder == "solutions":
                exercise = exercise_text(text, str(source.relative_to(root)))
                target = root / "exercises" / source.name
                files[target] = exercise
                files[target.with_suffix(".ipynb")] = ipynb_text(exercise)
    return files


def _write_if_changed(path: Path, content: str) -> bool:
    from vaecourse.checkpoints import atomic_write

    if path.exists() and path.read_text(encoding="utf-8") == content:
        return False
    atomic_write(path, lambda tmp: Path(tmp).write_text(content, encoding="utf-8"))
    return True


def build_all(root: str | Path = ".") -> list[Path]:
    """Write every generated file whose content changed; return the paths written."""
    return [path for path, content in planned_files(root).items() if _write_if_changed(path, content)]


def check_built(root: str | Path = ".") -> list[str]:
    """What is out of date: generated files that differ from a fresh build, are missing, or have no source."""
    root = Path(root)
    planned = planned_files(root)
    problems = []
    for path, content in planned.items():
        name = path.relative_to(root)
        if not path.exists():
            problems.append(f"{name}: missing (generated from its .py source)")
        elif path.read_text(encoding="utf-8") != content:
            problems.append(f"{name}: differs from what its .py source builds (edit the .py, then rebuild)")
    for stray in sorted((root / "exercises").glob("*")) if (root / "exercises").is_dir() else []:
        if stray.suffix in {".py", ".ipynb"} and stray not in planned:
            problems.append(f"{stray.relative_to(root)}: has no source in solutions/")
    return problems


__all__ = ["ExerciseBuildError", "build_all", "check_built", "exercise_text", "ipynb_text", "planned_files",
           "stub_solutions"]
