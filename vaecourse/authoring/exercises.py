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

and the build turns the fenced lines (markers included) into
        raise NotImplementedError("Exercise 1.2: closed-form KL(q || N(0, I)) per example, ...")
at the indentation of the BEGIN line (in a markdown cell, a written-answer region becomes
``# *Exercise N.M: title — write your answer here.*``). The exercise is named by the nearest ``# Exercise N.M: title`` comment
above the BEGIN line *in the same cell* (a cell may hold several regions of one exercise). ``.ipynb`` files
carry no outputs and fixed cell ids; a build writes a file only when its content changes, through a temporary
file and a rename, so rebuilding an up-to-date tree writes nothing.

Command line (``python -m vaecourse build-exercises [--check] [--root DIR]``) calls :func:`main`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from vaecourse.authoring.course import COURSE_DIRS, course_root
from vaecourse.files import atomic_write, readable_file, shown_path

SOURCE_DIRS = COURSE_DIRS  # ("notebooks", "solutions")
EXERCISE_DIR = "exercises"
SOURCE_GLOB = "[0-9]*.py"  # NN_name.py; helper modules without a leading number are not notebooks

CELL = re.compile(r"^# %%(?P<header>.*)$")  # a percent cell boundary: "# %%", "# %% [markdown]", "# %% tags=[...]"
BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION\b(?P<rest>.*)$")
END = re.compile(r"^[ \t]*# END SOLUTION\b.*$")
TITLE = re.compile(r"^[ \t]*# (?P<title>Exercise (?P<number>\d+\.\d+): .+?)\s*$")
NEAR_MARKER = re.compile(r"^[ \t]*#+[ \t]*(?P<word>BEGIN|END)[ \t_-]*SOLUTION", re.IGNORECASE)  # "#BEGIN SOLUTION", ...


class ExerciseBuildError(ValueError):
    """A solutions file whose markers cannot be turned into exercises (the message names file and line)."""


# ------------------------------------------------------------------------------------------- the transformation
def stub_solutions(text: str, source: str = "<solutions>") -> str:
    """Replace every ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region by a NotImplementedError stub.

    Raises :class:`ExerciseBuildError` for a BEGIN with no ``# Exercise N.M: title`` above it in its cell,
    a nested BEGIN, an END without a BEGIN, a region left open at the end of its cell or file, and text after
    the BEGIN marker (``# BEGIN SOLUTION 1.2`` is not a form this build knows: name the exercise in the
    ``# Exercise N.M:`` comment instead).
    """
    if not isinstance(text, str) or not isinstance(source, str):
        raise TypeError(f"stub_solutions expected the text of a solutions file and its name as strings, got "
                        f"{type(text).__name__} and {type(source).__name__}")
    out: list[str] = []
    title: str | None = None  # the exercise named in the current cell
    inside: int | None = None  # line number of the open BEGIN
    markdown = False  # the current cell is a markdown cell (a written answer, not code)
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        bare = line.rstrip("\r\n")
        if (near := NEAR_MARKER.match(bare)) is not None and not (BEGIN.match(bare) or END.match(bare)):
            marker = f"# {near['word'].upper()} SOLUTION"  # a marker mistyped would ship (or swallow) a solution
            raise ExerciseBuildError(f"{shown_path(source)}:{number}: {bare.strip()!r} looks like a solution marker "
                                     f"but is not written {marker!r} (exactly, at the start of the comment): write "
                                     f"it so")
        if (cell := CELL.match(bare)) is not None:
            if inside is not None:
                raise ExerciseBuildError(f"{shown_path(source)}:{inside}: '# BEGIN SOLUTION' is not closed by '# END "
                                         f"SOLUTION' before the next cell starts (line {number})")
            title = None
            markdown = "[markdown]" in cell["header"] or "[md]" in cell["header"]
        if inside is not None:
            if BEGIN.match(bare):
                raise ExerciseBuildError(f"{shown_path(source)}:{number}: nested '# BEGIN SOLUTION' (the one at line "
                                         f"{inside} is still open)")
            if END.match(bare):
                inside = None
            continue
        if (match := TITLE.match(bare)) is not None:
            title = match["title"]
        if (match := BEGIN.match(bare)) is not None:
            if match["rest"].strip():
                raise ExerciseBuildError(f"{shown_path(source)}:{number}: unexpected text after '# BEGIN SOLUTION' "
                                         f"({match['rest'].strip()!r}): name the exercise in a "
                                         "'# Exercise N.M: title' comment above the marker")
            if title is None:
                raise ExerciseBuildError(f"{shown_path(source)}:{number}: '# BEGIN SOLUTION' without a '# Exercise "
                                         f"N.M: title' comment above it in the same cell to name the exercise")
            inside = number
            if markdown:  # a written answer: leave a visible place for it
                out.append(f'{match["indent"]}# *{title} — write your answer here.*\n')
            else:
                message = title.replace("\\", "\\\\").replace('"', '\\"')
                out.append(f'{match["indent"]}raise NotImplementedError("{message}")\n')
            continue
        if END.match(bare):
            raise ExerciseBuildError(f"{shown_path(source)}:{number}: '# END SOLUTION' without a matching '# BEGIN "
                                     f"SOLUTION'")
        out.append(line)
    if inside is not None:
        raise ExerciseBuildError(f"{shown_path(source)}:{inside}: '# BEGIN SOLUTION' is never closed by '# END "
                                 f"SOLUTION'")
    return "".join(out)


def exercise_text(solution_text: str, source: str = "<solutions>") -> str:
    """The exercise notebook's text: stubs for solutions, and links that point at exercises/."""
    return stub_solutions(solution_text, source).replace("/blob/main/solutions/", "/blob/main/exercises/")


def ipynb_text(py_text: str) -> str:
    """The ``.ipynb`` twin of a percent-format text, without outputs, byte-stable across builds."""
    import jupytext

    if not isinstance(py_text, str):
        raise TypeError(f"ipynb_text expected the text of a percent-format .py file, got {type(py_text).__name__}")

    notebook = jupytext.reads(py_text, fmt="py:percent")
    notebook.metadata.pop("jupytext", None)  # pairing info lives in the .py header only
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook.metadata["language_info"] = {"name": "python"}
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{number:03d}"  # nbformat would draw random ids: keep rebuilds byte-identical
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return jupytext.writes(notebook, fmt="ipynb")


def _notebook_content(text: str) -> object:
    """What makes two .ipynb texts the same notebook: cells (type, source, metadata, no outputs) and metadata.

    Comparing this instead of bytes keeps the drift check independent of the JSON layout a given
    jupytext/nbformat version writes (indentation, key order, nbformat_minor).
    """
    notebook = json.loads(text)
    cells = []
    for cell in notebook.get("cells", []):
        source = cell.get("source", "")
        cells.append((cell.get("cell_type"), "".join(source) if isinstance(source, list) else source,
                      cell.get("metadata", {}), cell.get("outputs", []), cell.get("execution_count")))
    metadata = {k: v for k, v in notebook.get("metadata", {}).items() if k != "jupytext"}
    return notebook.get("nbformat"), metadata, cells


def _same(path: Path, content: str) -> bool:
    """True when the file at ``path`` already holds ``content`` (for .ipynb: the same notebook); a target that is
    no regular file (a folder, a FIFO) is refused, naming it."""
    try:
        current = readable_file(path, "generated file").read_text(encoding="utf-8")  # (a FIFO, EACCES: one line)
    except FileNotFoundError:
        return False
    except ValueError as err:
        raise ExerciseBuildError(f"{err}: move it away, then rebuild") from None
    if current == content:
        return True
    if path.suffix == ".ipynb":
        try:
            return _notebook_content(current) == _notebook_content(content)
        except (ValueError, TypeError, AttributeError):
            return False
    return False


# ------------------------------------------------------------------------------------------- planning and writing
def _root(root) -> Path:
    """``root`` as the folder of a course tree (:func:`~vaecourse.authoring.course.course_root`), or an
    ExerciseBuildError: a missing root, or a folder without the course, would build nothing and say nothing."""
    try:
        return course_root(root)
    except ValueError as err:
        raise ExerciseBuildError(str(err)) from None


def _sources(root: Path, folder: str) -> list[Path]:
    return sorted((root / folder).glob(SOURCE_GLOB)) if (root / folder).is_dir() else []


def _source_text(source: Path, root: Path) -> str:
    """A source's text, refused (one line naming it) when it is not a regular file (a FIFO would be read for ever),
    not UTF-8 text, or not Python (a syntax error would be built into notebooks and exercises that cannot run)."""
    name = source.relative_to(root).as_posix()
    try:
        readable_file(source, "source")  # a FIFO, a link to nothing, no r permission: one line
    except (ValueError, FileNotFoundError) as err:
        raise ExerciseBuildError(str(err)) from None
    try:
        text = source.read_text(encoding="utf-8")
        compile(text, name, "exec")
    except UnicodeDecodeError:
        raise ExerciseBuildError(f"{shown_path(name)} is not UTF-8 text: a notebook's .py source is expected") from None
    except SyntaxError as err:
        where = f"{shown_path(name)}:{err.lineno}" if err.lineno else shown_path(name)
        raise ExerciseBuildError(f"{where}: {err.msg}: fix the source before building") from None
    return text


def planned_notebooks(root: str | Path) -> dict[Path, str]:
    """The ``.ipynb`` twin of every ``notebooks/NN_*.py`` and ``solutions/NN_*.py``, and its content."""
    root = _root(root)
    return {source.with_suffix(".ipynb"): ipynb_text(_source_text(source, root))
            for folder in SOURCE_DIRS for source in _sources(root, folder)}


def planned_exercises(root: str | Path) -> dict[Path, str]:
    """``exercises/NN_*.py`` and ``.ipynb`` for every ``solutions/NN_*.py``, and their content."""
    root = _root(root)
    files: dict[Path, str] = {}
    for source in _sources(root, "solutions"):
        exercise = exercise_text(_source_text(source, root), source.relative_to(root).as_posix())
        target = root / EXERCISE_DIR / source.name
        files[target] = exercise
        files[target.with_suffix(".ipynb")] = ipynb_text(exercise)
    return files


def planned_files(root: str | Path) -> dict[Path, str]:
    """Every generated file and the content the build gives it."""
    return {**planned_notebooks(root), **planned_exercises(root)}


def _write_if_changed(path: Path, content: str) -> bool:
    if _same(path, content):
        return False

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(content)

    atomic_write(path, write)
    return True


def _write(files: dict[Path, str]) -> list[Path]:
    return [path for path, content in files.items() if _write_if_changed(path, content)]


def build_notebooks(root: str | Path = ".") -> list[Path]:
    """Write the ``.ipynb`` twins of notebooks/ and solutions/ that changed; return the paths written."""
    return _write(planned_notebooks(root))


def build_exercises(root: str | Path = ".") -> list[Path]:
    """Write exercises/ (``.py`` and ``.ipynb``) from solutions/ where it changed; return the paths written.

    Every solutions file is stubbed before anything is written, so a marker error leaves the tree untouched.
    """
    return _write(planned_exercises(root))


def build_all(root: str | Path = ".") -> list[Path]:
    """Write every generated file whose content changed; return the paths written.

    All contents are computed first: a bad marker anywhere raises before any file is written.
    """
    return _write(planned_files(root))


def check_built(root: str | Path = ".") -> list[str]:
    """What is out of date, one line per file (empty when the tree is what a build would produce).

    Reports generated files that are missing or differ from a fresh build, files in exercises/ with no
    source in solutions/, and ``.ipynb`` files in notebooks/ or solutions/ that have no ``.py`` twin.
    A marker error in a solutions file is reported as a problem too, not raised.
    """
    root = _root(root)
    problems: list[str] = []
    try:
        planned = planned_notebooks(root)
        planned.update(planned_exercises(root))
    except ExerciseBuildError as error:
        return [f"cannot build: {error}"]
    for path, content in planned.items():
        name = path.relative_to(root).as_posix()
        if not path.exists():
            problems.append(f"{shown_path(name)}: missing (generated from its .py source)")
        elif not _same(path, content):
            problems.append(f"{shown_path(name)}: differs from what its .py source builds (edit the .py, then rebuild)")
    if (root / EXERCISE_DIR).is_dir():
        for stray in sorted((root / EXERCISE_DIR).iterdir()):
            if stray.suffix in {".py", ".ipynb"} and stray not in planned:
                problems.append(f"{shown_path(stray.relative_to(root).as_posix())}: has no source in solutions/ "
                                "(exercises/ is generated: delete it, or add solutions/" f"{stray.stem}.py)")
    return problems + _orphans(root, planned)


def _orphans(root: Path, planned: dict[Path, str]) -> list[str]:
    """The ``.ipynb`` files in notebooks/ or solutions/ that no ``.py`` source builds (a build would leave them)."""
    return [f"{shown_path(notebook.relative_to(root).as_posix())}: has no .py twin (the .py percent file is the "
            f"source: `jupytext --to py:percent` it, then rebuild)"
            for folder in SOURCE_DIRS
            for notebook in (sorted((root / folder).glob("*.ipynb")) if (root / folder).is_dir() else [])
            if notebook not in planned]


def main(root: str | Path = ".", check: bool = False) -> int:
    """``python -m vaecourse build-exercises [--check]``: rebuild (or only report), print, return an exit code.

    Exit 0 when the build succeeded or, with ``check``, when everything is up to date; 1 when ``check``
    found files out of date; 2 when a solutions file has marker errors.
    """
    try:
        root = _root(root)
    except ExerciseBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    folder = next((root / d for d in (*SOURCE_DIRS, EXERCISE_DIR) if (root / d).exists() and not (root / d).is_dir()),
                  None)
    if folder is not None:  # each exercise would be "missing", each write "Not a directory"
        print(f"error: {shown_path(folder)} is a file, not a folder: build-exercises reads and writes the notebooks "
              f"in the folders {', '.join(f'{d}/' for d in (*SOURCE_DIRS, EXERCISE_DIR))}; move the file "
              f"away", file=sys.stderr)
        return 2
    if check:
        problems = check_built(root)
        for problem in problems:
            print(problem)
        if problems:
            print(f"{len(problems)} problem(s): run `python -m vaecourse build-exercises` and commit the result")
            return 2 if any(p.startswith("cannot build:") for p in problems) else 1
        print("notebooks and exercises are up to date")
        return 0
    try:
        files = planned_files(root)  # every content first: a bad source anywhere writes nothing
        orphans = _orphans(root, files)
        if orphans:  # what --check reports is refused here too, before anything is written
            raise ExerciseBuildError(f"{orphans[0]}" + (f" (and {len(orphans) - 1} more)" if len(orphans) > 1 else "")
                                     + "; nothing was written")
        written = _write(files)
    except ExerciseBuildError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path.relative_to(root).as_posix() if path.is_relative_to(root) else path}")
    print(f"{len(written)} file(s) written" if written else "notebooks and exercises are up to date")
    return 0


__all__ = ["ExerciseBuildError", "build_all", "build_exercises", "build_notebooks", "check_built", "exercise_text",
           "ipynb_text", "main", "planned_exercises", "planned_files", "planned_notebooks", "stub_solutions"]
