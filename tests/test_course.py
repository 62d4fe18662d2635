"""Discovering the course from its files: notebooks, titles, goals and widget cells (used by site, Colab and browser tests)."""

import json
from pathlib import Path

import pytest

from vaecourse.authoring.course import find_notebooks, widget_calls

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = find_notebooks(ROOT)


def _write(path: Path, cells: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": [{"cell_type": kind, "source": source, "metadata": {}}
                                          for kind, source in cells], "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))


@pytest.mark.parametrize("source, expected", [
    ("traversal_explorer(model, z)", ["traversal_explorer"]),
    ("display(beta_explorer(models))", ["beta_explorer"]),
    ("w.intervention_explorer(scm)", ["intervention_explorer"]),
    ("render_traversal(model, z, 0, 1.0)", []),  # a figure, not a widget
    ("other_explorer(model)", []),  # not imported from vaecourse.widgets
    ("%%time\ntraversal_explorer(model, z)", []),  # a cell magic does not parse: no claim
])
def test_widget_calls(source, expected):
    names = {"traversal_explorer", "beta_explorer", "render_traversal"}
    assert widget_calls(source, names, {"w"}) == expected


def test_a_new_chapter_is_discovered_with_its_widgets(tmp_path):
    _write(tmp_path / "notebooks" / "07_new.ipynb", [
        ("markdown", "# Chapter 7 — new\n\n**By the end you will be able to**\n1. one;\n2. two,\n   continued.\n\nMore text."),
        ("code", "from vaecourse import widgets as w\nfrom vaecourse.widgets import render_beta, beta_explorer as be"),
        ("code", "display(render_beta(1))"),
        ("code", "# NBVAL_IGNORE_OUTPUT\nbe(models)"),
        ("code", "w.intervention_explorer(scm)"),
    ])
    _write(tmp_path / "notebooks" / "helper.ipynb", [("code", "1")])  # not NN_name: not a chapter
    (notebook,) = find_notebooks(tmp_path)
    assert (notebook.relpath, notebook.chapter, notebook.title) == ("notebooks/07_new.ipynb", 7, "Chapter 7 — new")
    assert notebook.goals == ["one;", "two, continued."]  # an indented line continues the goal above it
    assert [(c.index, c.calls) for c in notebook.widget_cells()] == [(3, ("be",)), (4, ("intervention_explorer",))]


def test_chapter_one_is_found_in_every_folder():
    assert {nb.relpath for nb in NOTEBOOKS} >= {"notebooks/01_elbo.ipynb", "solutions/01_elbo.ipynb",
                                                "exercises/01_elbo.ipynb"}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.relpath for nb in NOTEBOOKS])
def test_widget_cells_are_ignored_by_nbval(notebook):
    """An interactive_output widget's output differs run to run: nbval must not compare it."""
    for cell in notebook.widget_cells():
        assert cell.source.lstrip().startswith("# NBVAL_IGNORE_OUTPUT"), (
            f"{notebook.relpath} cell {cell.index} shows {', '.join(cell.calls)}: start it with # NBVAL_IGNORE_OUTPUT")
