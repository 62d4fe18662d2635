"""The course site: every notebook found on disk is executed (FAST mode here) and rendered with its figures, its
build times and its own MathJax; normal mode with the shipped models is the command's default."""

import base64
import html
import re
from pathlib import Path

import nbformat
import pytest

from vaecourse.cli import main
from vaecourse.authoring.course import colab_url, find_notebooks
from vaecourse.authoring.site import (MATHJAX_CONFIG, SITE_FOLDERS, WIDGET_MIME, build_site, kernel_environment,
                                      replace_widgets)

ROOT = Path(__file__).resolve().parents[1]
PNG = re.compile(r'<img[^>]+src="data:image/png;base64,(?P<data>[A-Za-z0-9+/=\s]+)"')


def _notebook(cells: list[str]) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Chapter 9 — a test\n\nyou will be able to\n1. pass")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The real course, built once for this module (every notebook of notebooks/ and solutions/, FAST mode)."""
    out = tmp_path_factory.mktemp("site")
    pages = build_site(out, ROOT, fast=True, log=lambda line: None)
    return out, pages


def test_every_current_notebook_becomes_a_page_with_an_embedded_png_figure(site):
    out, pages = site
    expected = {nb.relpath for nb in find_notebooks(ROOT, SITE_FOLDERS)}
    assert expected and {p.notebook.relpath for p in pages} == expected
    for page in pages:
        text = page.path.read_text(encoding="utf-8")
        figures = PNG.findall(text)
        assert figures, f"{page.path}: no embedded PNG figure"
        assert base64.b64decode(figures[0])[:8] == b"\x89PNG\r\n\x1a\n", f"{page.path}: embedded data is not a PNG"
        assert "Traceback" not in text and "Error</span>" not in text, f"{page.path}: an error output was rendered"
        assert page.notebook.title in text and colab_url(page.notebook.relpath) in text
        assert "../index.html" in text and "FAST mode" in text
        assert re.search(r"Executed in FAST mode[^<]* in \d+ s, \d{4}-\d\d-\d\d", text), f"{page.path}: no build time"
        assert f'src="../mathjax/MathJax.js?config={MATHJAX_CONFIG}"' in text and "libs/mathjax" not in text


def test_the_site_serves_its_own_mathjax_and_states_its_build_times(site):
    out, pages = site
    assert (out / "mathjax" / "MathJax.js").is_file()
    assert (out / "mathjax" / "config" / "TeX-AMS-MML_HTMLorMML-full.js").is_file()
    assert (out / "mathjax" / "fonts" / "HTML-CSS" / "STIX-Web" / "woff").is_dir()
    assert not (out / "mathjax" / "jax" / "output" / "SVG").exists()  # left out: the pages use HTML-CSS
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'src="mathjax/MathJax.js' in index and "libs/mathjax" not in index
    total = sum(page.seconds for page in pages)
    assert f"{len(pages)} notebooks executed in {total:.0f} s" in index
    for page in pages:
        assert f"{page.notebook.folder}: {page.seconds:.0f} s" in index


def test_normal_mode_asks_notebooks_to_load_what_the_course_ships():
    normal, fast = kernel_environment(fast=False), kernel_environment(fast=True)
    assert (normal["VAECOURSE_FAST"], normal["VAECOURSE_SITE"]) == ("0", "1")
    assert (fast["VAECOURSE_FAST"], fast["VAECOURSE_SITE"]) == ("1", "0")


def test_widgets_show_their_static_figure_and_a_note_instead(site):
    out, pages = site
    for page in pages:
        widget_cells = page.notebook.widget_cells()
        text = page.path.read_text(encoding="utf-8")
        assert text.count("vaecourse-widget-note\"><b>") == len(widget_cells), page.path
        assert WIDGET_MIME not in text and "html-manager" not in text  # no widget JavaScript pulled from a CDN
    assert any(p.notebook.widget_cells() for p in pages), "chapter 1's traversal explorer should be on the site"


def test_index_maps_every_chapter_to_its_pages_and_colab(site):
    out, pages = site
    index = (out / "index.html").read_text(encoding="utf-8")
    for page in pages:
        assert f'href="{page.notebook.folder}/{page.path.name}"' in index
        assert (out / page.notebook.folder / page.path.name).is_file()
    for notebook in find_notebooks(ROOT, ("exercises",)):
        assert colab_url(notebook.relpath) in index
    lecture = next(p for p in pages if p.notebook.folder == "notebooks")
    for goal in lecture.notebook.goals:
        assert html.escape(goal) in index


def test_replace_widgets_notes_widget_cells_and_drops_other_widget_outputs():
    nb = nbformat.reads(_notebook(["1", "2"]), as_version=4)
    png = nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})
    nb.cells[1].outputs = [png,  # a progress bar in an ordinary cell: frozen at 0 % without a kernel
                           nbformat.v4.new_output("display_data", data={WIDGET_MIME: {"model_id": "a"},
                                                                        "text/plain": "  0%|   | 0/300"})]
    nb.cells[2].outputs = [nbformat.v4.new_output("display_data", data={WIDGET_MIME: {"model_id": "b"},
                                                                        "text/plain": "VBox()"})]
    nb.metadata["widgets"] = {"state": {}}
    assert replace_widgets(nb, "https://colab/x", {2}) == 1
    assert nb.cells[1].outputs == [png]
    (note,) = nb.cells[2].outputs
    assert "Interactive widget" in note.data["text/html"] and "https://colab/x" in note.data["text/html"]
    assert WIDGET_MIME not in note.data and "widgets" not in nb.metadata


def test_a_failing_notebook_stops_the_build_with_its_name_and_cell(tmp_path, capsys):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "09_broken.ipynb").write_text(_notebook(["x = 1", "raise ValueError('kaput 42')"]))
    assert main(["site", "--fast", "--root", str(tmp_path), "--out", str(tmp_path / "out"), "--timeout", "60"]) == 1
    text = capsys.readouterr().err  # an error is on stderr, as every verb's
    assert "notebooks/09_broken.ipynb" in text and "kaput 42" in text
    assert not (tmp_path / "out" / "index.html").exists()


def test_no_notebooks_is_an_error_not_an_empty_site(tmp_path, capsys):
    """Refused before any work, as every bad input is: one line on stderr, status 2 (issue 25's fourth probe: it was
    status 1 on stdout, and a notebooks/ that is a file or a --root of '' read as '.')."""
    assert main(["site", "--fast", "--root", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "is not the repository root" in capsys.readouterr().err
    (tmp_path / "solutions").mkdir()
    (tmp_path / "notebooks").write_text("")
    assert main(["site", "--fast", "--root", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "holds no notebooks in notebooks/, solutions/" in capsys.readouterr().err
    assert main(["site", "--fast", "--root", "", "--out", str(tmp_path / "out")]) == 2
    assert "argument --root: expected a folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_small_notebook_builds_end_to_end_through_the_command_line(tmp_path, capsys):
    """Without --fast the site runs in normal mode (site mode on); --rendered keeps the executed lecture with its
    outputs and a first cell saying how it was made."""
    (tmp_path / "notebooks").mkdir()
    code = ["import vaecourse\nprint('FAST', vaecourse.fast_mode(), 'SITE', vaecourse.site_mode())",
            "from vaecourse.viz import image_grid\nimport torch\nimage_grid(torch.rand(4, 1, 8, 8), ncols=2)"]
    (tmp_path / "notebooks" / "09_small.ipynb").write_text(_notebook(code))
    assert main(["site", "--root", str(tmp_path), "--out", str(tmp_path / "out"),
                 "--rendered", str(tmp_path / "rendered")]) == 0
    page = (tmp_path / "out" / "notebooks" / "09_small.html").read_text()
    assert "FAST False SITE True" in page and PNG.search(page) and "Executed in normal mode" in page
    index = (tmp_path / "out" / "index.html").read_text()
    assert "Chapter 9 — a test" in index and "<li>pass</li>" in index
    kept = nbformat.read(tmp_path / "rendered" / "09_small.ipynb", as_version=4)
    assert "Rendered copy" in kept.cells[0].source and "notebooks/09_small.ipynb" in kept.cells[0].source
    assert [o["text"] for o in kept.cells[2].outputs] == ["FAST False SITE True\n"]
    assert "image/png" in kept.cells[3].outputs[0]["data"]
    assert all("execution" not in cell.metadata for cell in kept.cells)


def test_lectures_only_executes_the_lectures_and_not_the_solutions(tmp_path, capsys):
    """Refreshing rendered/ needs the lectures only: --lectures-only leaves solutions/ unexecuted."""
    for folder in ("notebooks", "solutions"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "09_small.ipynb").write_text(_notebook(["print('ran')"]))
    assert main(["site", "--root", str(tmp_path), "--out", str(tmp_path / "out"), "--fast", "--lectures-only",
                 "--rendered", str(tmp_path / "rendered")]) == 0
    assert (tmp_path / "out" / "notebooks" / "09_small.html").is_file()
    assert not (tmp_path / "out" / "solutions").exists() and (tmp_path / "rendered" / "09_small.ipynb").is_file()


def test_the_readme_links_a_rendered_copy_of_every_lecture():
    """One click from the README to each lecture's real figures: rendered/NN_name.ipynb, executed, outputs kept."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for lecture in find_notebooks(ROOT, ("notebooks",)):
        target = f"rendered/{lecture.name}.ipynb"
        assert f"]({target})" in readme, f"README.md does not link {target}"
        copy = ROOT / target
        assert copy.is_file(), f"{target} is missing: python -m vaecourse site --rendered rendered (docs/rendered.md)"
        nb = nbformat.read(copy, as_version=4)
        assert "Rendered copy" in nb.cells[0].source and lecture.relpath in nb.cells[0].source, target
        assert lecture.title in "".join(cell.source for cell in nb.cells[1:3]), f"{target} is not {lecture.relpath}"
        outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
        assert any("image/png" in o.get("data", {}) for o in outputs), f"{target} has no figure"
        assert not any(o.get("output_type") == "error" for o in outputs), f"{target} holds an error"
