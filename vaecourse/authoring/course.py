"""The course as files: its notebooks, their titles, Colab badges, install cells and widget cells.

Everything is discovered from the repository (``notebooks/NN_*.ipynb``, ``solutions/``, ``exercises/``), never
from a hand-kept list, so a new chapter is picked up by the course site (:mod:`vaecourse.authoring.site`), the Colab test
and the browser test as soon as its notebook exists.

A *widget cell* is a code cell that calls a widget of :mod:`vaecourse.widgets`: a name the notebook imports from
that module (``from vaecourse.widgets import traversal_explorer``) or reaches through it
(``widgets.traversal_explorer(...)``), other than its pure ``render_*`` functions, which return figures.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from vaecourse import values
from vaecourse.files import check_folder, readable_file, shown_path

COURSE_DIRS = ("notebooks", "solutions")  # the sources: a course's folder holds at least one of them
NOTEBOOK_DIRS = ("notebooks", "solutions", "exercises")  # lectures, exercises with solutions, generated exercises
NOTEBOOK_GLOB = "[0-9]*.ipynb"  # NN_name.ipynb
REPOSITORY = "vaecourse/vaecourse"  # owner/name on GitHub
BRANCH = "main"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE = re.compile(r"\[!\[Open In Colab\]\((?P<image>[^)\s]+)\)\]\((?P<url>[^)\s]+)\)")
WIDGETS_MODULE = "vaecourse.widgets"


RELPATH = values.Kind("a POSIX path relative to the repository root (a string: no leading /, no '..' part, no "
                      "backslash, whitespace or control character; '' gives the prefix)",
                      lambda v: isinstance(v, str) and not v.startswith("/") and ".." not in v.split("/")
                      and v.isprintable() and not any(c in " \\" for c in v))  # printable: no control
# character, no lone surrogate, no whitespace but ' ' (refused on its own: a URL holds none)
NAMES = values.sequence("a set of names (strings)", lambda v: all(isinstance(n, str) for n in v)).or_none()


def colab_url(relpath: str) -> str:
    """Where Colab opens the repository file ``relpath`` (a POSIX path from the repository root, :data:`RELPATH`)."""
    RELPATH.check("colab_url's relpath", relpath)
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{relpath}"


def install_requirement() -> str:
    """What the Colab install cell hands pip: the package, from the repository."""
    return f"vaecourse @ git+https://github.com/{REPOSITORY}"


def _parsed(source: str, what: str) -> ast.Module | None:
    """``source``'s syntax tree, or None for a cell that does not parse (a cell magic, ``%%bash``: it calls no
    widget); a ValueError naming ``what`` for text that is no code Python could ever run: a NUL character or a lone
    surrogate (ValueError, UnicodeEncodeError), or nesting deeper than the parser's stack (RecursionError)."""
    try:
        if "\0" in source:  # (Python 3.11 says so in a SyntaxError or a ValueError, by version)
            raise ValueError("it holds a NUL character")
        return ast.parse(source)
    except SyntaxError:
        return None
    except (ValueError, RecursionError, MemoryError) as err:
        why = ("it holds a NUL character" if "\0" in source else "it holds a lone surrogate (no UTF-8 text)"
               if isinstance(err, UnicodeError) else "it is nested deeper than Python's parser reads")
        raise ValueError(f"{what} must be a cell's code (text Python can parse), got text it cannot read: {why}") \
            from None


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


@dataclass(frozen=True)
class WidgetCell:
    """A code cell that shows a widget: its index among all cells, the widget functions it calls, its source."""

    index: int
    calls: tuple[str, ...]
    source: str


def widget_calls(source: str, widget_names: set[str] | None = None, aliases: set[str] | None = None) -> list[str]:
    """The widget functions a cell calls.

    ``widget_names``: bare names imported from :mod:`vaecourse.widgets`; ``aliases``: names bound to the module
    itself (``from vaecourse import widgets`` binds ``widgets``). Calls to ``render_*`` and private names are
    figures or helpers, not widgets. A cell that does not parse (cell magics) calls nothing.
    """
    values.text.check("widget_calls' source (a cell's code)", source)
    names = set(NAMES.check("widget_calls' widget_names", widget_names) or ())
    aliases = set(NAMES.check("widget_calls' aliases", aliases) or ())
    tree = _parsed(source, "widget_calls' source")
    if tree is None:
        return []
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in names:
            name = func.id
        elif (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in aliases):
            name = func.attr
        else:
            continue
        if not name.startswith(("render_", "_")):
            found.append(name)
    return found


def _widget_imports(sources: list[str], what: str) -> tuple[set[str], set[str]]:
    """Names imported from vaecourse.widgets, and names bound to the module, across a notebook's code cells."""
    names: set[str] = set()
    aliases: set[str] = set()
    for source in sources:
        for node in ast.walk(_parsed(source, what) or ast.Module(body=[], type_ignores=[])):
            if isinstance(node, ast.ImportFrom) and node.module == WIDGETS_MODULE:
                names.update(alias.asname or alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module == "vaecourse":
                aliases.update(alias.asname or alias.name for alias in node.names if alias.name == "widgets")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == WIDGETS_MODULE and alias.asname:
                        aliases.add(alias.asname)
    return names, aliases


@dataclass(frozen=True)
class Notebook:
    """One ``.ipynb`` of the course, read from disk."""

    root: Path
    path: Path

    @property
    def relpath(self) -> str:
        """The path from the repository root, POSIX style (what a badge URL ends with)."""
        return self.path.relative_to(self.root).as_posix()

    @property
    def folder(self) -> str:
        """``notebooks``, ``solutions`` or ``exercises``."""
        return self.path.parent.name

    @property
    def name(self) -> str:
        """``01_elbo``."""
        return self.path.stem

    @property
    def chapter(self) -> int:
        """The chapter number from the file name (``01_elbo`` -> 1)."""
        return int(re.match(r"\d+", self.name).group())

    @cached_property
    def cells(self) -> list[dict]:
        # only a regular file you can read (a FIFO named NN_x.ipynb would be read for ever): one line, as every reader
        return json.loads(readable_file(self.path, "notebook").read_text(encoding="utf-8")).get("cells", [])

    def sources(self, cell_type: str | None = None) -> list[str]:
        return [_source(c) for c in self.cells if cell_type is None or c.get("cell_type") == cell_type]

    @property
    def title(self) -> str:
        """The first markdown heading (``# Chapter 1 — ...``), or the file name."""
        for text in self.sources("markdown"):
            for line in text.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
        return self.name

    @property
    def goals(self) -> list[str]:
        """The numbered learning goals under "By the end of this notebook you will be able to" (may be empty)."""
        for text in self.sources("markdown"):
            lines = text.splitlines()
            for i, line in enumerate(lines):
                if "you will be able to" in line.lower():
                    goals = []
                    for item in lines[i + 1:]:
                        match = re.match(r"\s*(?:\d+[.)]|[-*])\s+(.*)", item)
                        if match is not None:
                            goals.append(match.group(1).strip())
                        elif goals and item[:1].isspace() and item.strip():  # an indented continuation line
                            goals[-1] += " " + item.strip()
                        else:
                            break
                    return goals
        return []

    def badge_urls(self) -> list[str]:
        """Target URLs of the "Open In Colab" badges in the notebook's markdown cells, in order."""
        return [m["url"] for text in self.sources("markdown") for m in BADGE.finditer(text)]

    @property
    def colab_url(self) -> str:
        """Where this notebook's own badge must point."""
        return colab_url(self.relpath)

    def first_code_cell(self) -> str | None:
        sources = self.sources("code")
        return sources[0] if sources else None

    def widget_cells(self) -> list[WidgetCell]:
        """The cells that show a widget, in order (empty for a notebook without widgets)."""
        names, aliases = _widget_imports(self.sources("code"), f"a code cell of {self.relpath}")
        if not names and not aliases:
            return []
        cells = []
        for index, cell in enumerate(self.cells):
            if cell.get("cell_type") != "code":
                continue
            source = _source(cell)
            if calls := widget_calls(source, names, aliases):
                cells.append(WidgetCell(index, tuple(calls), source))
        return cells


def course_root(root, what: str = "root (the course's folder)") -> Path:
    """``root`` (``~`` expanded) when it is the course's folder: an existing folder holding ``notebooks/`` or
    ``solutions/``; else one ValueError line naming ``what``. A folder that is no course (a typo, ``/tmp``) would
    otherwise be found to hold no notebook, and be reported built, up to date, with nothing stale."""
    root = check_folder(root, what, must_exist=True)
    if not any((root / folder).is_dir() for folder in COURSE_DIRS):
        raise ValueError(f"{what} {shown_path(root)} is not the course's folder: expected the course's folder, which "
                         f"holds {', '.join(f'{d}/' for d in COURSE_DIRS)}, got one with neither")
    return root


def find_notebooks(root: str | Path, folders: tuple[str, ...] = NOTEBOOK_DIRS) -> list[Notebook]:
    """Every ``NN_*.ipynb`` under ``root``'s course folders, folder by folder, sorted by name (``root``: see
    :func:`course_root`)."""
    root = course_root(root, "find_notebooks' root (the course's folder)").resolve()  # (a loop refused first)
    found = []
    for folder in folders:
        if (root / folder).is_dir():
            found.extend(Notebook(root, path) for path in sorted((root / folder).glob(NOTEBOOK_GLOB)))
    return found


def repository_root() -> Path:
    """The checkout this package was imported from (the folder holding ``vaecourse/`` and ``notebooks/``)."""
    return Path(__file__).resolve().parents[2]


__all__ = ["BADGE", "COLAB_BADGE", "COURSE_DIRS", "NOTEBOOK_DIRS", "Notebook", "WidgetCell", "colab_url", "course_root",
           "find_notebooks",
           "install_requirement", "repository_root", "widget_calls"]
