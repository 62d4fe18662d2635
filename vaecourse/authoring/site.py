"""The course site: every lecture and solutions notebook executed (FAST mode by default) and rendered to static HTML.

``python -m vaecourse site [--out DIR]`` writes

    DIR/index.html                 the course map: each chapter's title, learning goals, pages and Colab badges
    DIR/notebooks/NN_name.html     each lecture, executed, with its figures embedded as PNG (data: URLs)
    DIR/solutions/NN_name.html     each exercise notebook with its solutions, executed

so a learner can read the course, figures included, without a kernel. Notebooks are found on disk
(:func:`vaecourse.authoring.course.find_notebooks`): a new chapter appears on the site as soon as its notebook exists.
A widget needs a kernel, so its output is replaced by a note pointing at the static figure every widget cell
is preceded by (DESIGN.md §4) and at Colab; other widget outputs (tqdm's progress bars) are left out. FAST-mode pages say that their figures come from tiny runs.

The rendering is nbconvert's HTML export (``lab`` template); execution is nbclient with the ``python3`` kernel,
``VAECOURSE_FAST`` set for it, and this package's checkout first on the kernel's ``PYTHONPATH``.
"""

from __future__ import annotations

import html
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from vaecourse.authoring.course import COLAB_BADGE, Notebook, colab_url, find_notebooks, repository_root
from vaecourse.files import atomic_write

SITE_FOLDERS = ("notebooks", "solutions")  # exercises/ are the same pages with the answers cut out
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ("<div class=\"vaecourse-widget-note\"><b>Interactive widget.</b> It needs a running kernel: the "
               "static figure above shows the same thing. To move the sliders, open this notebook in JupyterLab or "
               "<a href=\"{colab}\">Colab</a>.</div>")
STYLE = """<style>
.vaecourse-nav { font: 14px/1.5 system-ui, sans-serif; padding: 8px 16px; background: #f3f5f8;
                 border-bottom: 1px solid #d0d7de; }
.vaecourse-nav a { margin-right: 1em; }
.vaecourse-widget-note { font: 14px/1.5 system-ui, sans-serif; border-left: 4px solid #f0ad4e;
                         background: #fff8e6; padding: 6px 12px; margin: 4px 0; }
</style>"""


class SiteBuildError(RuntimeError):
    """A notebook could not be executed or rendered (the message names it and the failing cell)."""


@dataclass(frozen=True)
class Page:
    """One rendered notebook: where it came from, where it went, how long its execution took."""

    notebook: Notebook
    path: Path
    seconds: float


# ------------------------------------------------------------------------------------------- execution
def kernel_environment(fast: bool = True) -> dict[str, str]:
    """The executing kernel's environment: FAST mode on (or off), this checkout first on PYTHONPATH."""
    env = dict(os.environ)
    env["VAECOURSE_FAST"] = "1" if fast else "0"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repository_root()), os.environ.get("PYTHONPATH")]))
    env.setdefault("MPLBACKEND", "Agg")
    return env


def execute(notebook: Notebook, fast: bool = True, timeout: int = 900, kernel_name: str = "python3"):
    """Run every cell of ``notebook`` in a fresh kernel started in its folder; return the executed notebook."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    nb = nbformat.read(notebook.path, as_version=4)
    # store_widget_state stays on: nbclient's Output-widget capture needs it (KeyError without);
    # replace_widgets() drops the stored state before rendering.
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(notebook.path.parent)}})
    try:
        client.execute(env=kernel_environment(fast))
    except (CellExecutionError, CellTimeoutError) as error:
        raise SiteBuildError(f"{notebook.relpath}: a cell failed while building the site:\n{error}") from error
    return nb


def replace_widgets(nb, colab: str, widget_cells: set[int] = frozenset()) -> int:
    """Widget outputs need a kernel: in a widget cell (index in ``widget_cells``) swap each for the note about its
    static figure; elsewhere (a tqdm progress bar, frozen at 0 %) drop it. Return how many notes were placed."""
    notes = 0
    for index, cell in enumerate(nb.cells):
        kept = []
        for output in cell.get("outputs", []):
            if WIDGET_MIME not in output.get("data", {}):
                kept.append(output)
            elif index in widget_cells:
                output["data"] = {"text/html": WIDGET_NOTE.format(colab=html.escape(colab))}
                kept.append(output)
                notes += 1
        if "outputs" in cell:
            cell["outputs"] = kept
    nb.metadata.pop("widgets", None)
    return notes


# ------------------------------------------------------------------------------------------- rendering
def _nav(notebook: Notebook, fast: bool, depth: int = 1) -> str:
    up = "../" * depth
    mode = ("Figures on this page come from FAST mode (tiny runs that prove the code works); run the notebook "
            "for the real results." if fast else "Rendered in normal mode: the chapter's real results.")
    return (f'<nav class="vaecourse-nav"><a href="{up}index.html">&larr; Course map</a>'
            f'<a href="{html.escape(colab_url(notebook.relpath))}"><img src="{COLAB_BADGE}" alt="Open In Colab" '
            f'style="vertical-align: middle"></a><span>{html.escape(notebook.relpath)}. {mode}</span></nav>')


def _link_pages(body: str, built: set[str], folder: str) -> str:
    """Relative links to ``.ipynb`` files that became pages point at the pages."""
    def swap(match: re.Match) -> str:
        target = match["target"]
        resolved = os.path.normpath(os.path.join(folder, target)).replace(os.sep, "/")
        return f'href="{target[:-len(".ipynb")]}.html"' if resolved in built else match.group(0)

    return re.sub(r'href="(?P<target>(?!https?:|/)[^"#?]+\.ipynb)"', swap, body)


def render(nb, notebook: Notebook, fast: bool, built: set[str] = frozenset()) -> str:
    """The HTML page of an executed notebook: nbconvert's lab template, a navigation bar, widget notes."""
    from nbconvert import HTMLExporter

    replace_widgets(nb, colab_url(notebook.relpath), {cell.index for cell in notebook.widget_cells()})
    exporter = HTMLExporter(template_name="lab", embed_images=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": notebook.title}})
    body = body.replace("</head>", f"{STYLE}\n</head>", 1)
    body = re.sub(r"(<body[^>]*>)", lambda m: f"{m.group(1)}\n{_nav(notebook, fast)}", body, count=1)
    return _link_pages(body, set(built), notebook.folder)


def index_html(pages: list[Page], root: Path, fast: bool) -> str:
    """The course map: one row per chapter, lecture and exercises side by side, with the learning goals."""
    by_chapter: dict[int, dict[str, Page]] = {}
    for page in pages:
        by_chapter.setdefault(page.notebook.chapter, {})[page.notebook.folder] = page
    exercises = {nb.chapter: nb for nb in find_notebooks(root, ("exercises",))}

    def badge(relpath: str) -> str:
        return (f'<a href="{html.escape(colab_url(relpath))}"><img src="{COLAB_BADGE}" alt="Open In Colab"></a>')

    rows = []
    for chapter in sorted(by_chapter):
        entry = by_chapter[chapter]
        lecture, solutions = entry.get("notebooks"), entry.get("solutions")
        main = lecture or solutions
        cells = [f"<td>{chapter}</td>"]
        if lecture:
            cells.append(f'<td><a href="{lecture.path.relative_to(lecture.path.parents[1]).as_posix()}">'
                         f"{html.escape(lecture.notebook.title)}</a><br>{badge(lecture.notebook.relpath)}</td>")
        else:
            cells.append("<td>(lecture not written yet)</td>")
        work = []
        if chapter in exercises:
            work.append(f"exercises {badge(exercises[chapter].relpath)}")
        if solutions:
            work.append(f'<a href="solutions/{solutions.path.name}">solutions</a>')
        cells.append(f"<td>{'<br>'.join(work) or '&ndash;'}</td>")
        goals = "".join(f"<li>{html.escape(g)}</li>" for g in main.notebook.goals)
        cells.append(f"<td><ul>{goals}</ul></td>" if goals else "<td></td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    mode = ("These pages were executed in FAST mode: tiny runs that show every figure but not the chapter's real "
            "results. Run a notebook (locally or on Colab) for those." if fast else
            "These pages were executed in normal mode and show the chapters' real results.")
    from nbconvert import HTMLExporter

    mathjax = HTMLExporter().mathjax_url  # the same MathJax as the pages, for the goals' inline maths
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>vaecourse: the course</title>
<script type="text/x-mathjax-config">
MathJax.Hub.Config({{tex2jax: {{inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], processEscapes: true}}}});
</script>
<script src="{mathjax}"></script>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #d0d7de; padding: 6px 10px; vertical-align: top; }}
ul {{ margin: 0; padding-left: 1.2em; }}
</style></head>
<body>
<h1>vaecourse: variational auto-encoders and disentanglement, runnable</h1>
<p>Each chapter is a notebook; read it here, figures included, or open it on Colab to run and change it.
The exercises check your code and explain what is wrong. {mode}</p>
<h2>Course map</h2>
<table>
<tr><th>Chapter</th><th>Lecture</th><th>Exercises</th><th>You will be able to</th></tr>
{chr(10).join(rows)}
</table>
</body></html>
"""


# ------------------------------------------------------------------------------------------- the build
def build_site(out: str | Path = "_site", root: str | Path | None = None, folders: tuple[str, ...] = SITE_FOLDERS,
               fast: bool = True, timeout: int = 900, log=print) -> list[Page]:
    """Execute and render every notebook of ``folders`` under ``root`` into ``out``; write the index last.

    Raises :class:`SiteBuildError` when there is no notebook or one of them fails (nothing is half-written: each
    page goes through a temporary file and a rename).
    """
    root = Path(root) if root is not None else repository_root()
    out = Path(out)
    notebooks = find_notebooks(root, folders)
    if not notebooks:
        raise SiteBuildError(f"no notebooks found under {root} in {', '.join(folders)}/ (expected NN_name.ipynb)")
    built = {nb.relpath for nb in notebooks}
    pages = []
    for notebook in notebooks:
        started = time.perf_counter()
        executed = execute(notebook, fast=fast, timeout=timeout)
        seconds = time.perf_counter() - started
        target = out / notebook.folder / f"{notebook.name}.html"
        text = render(executed, notebook, fast, built)
        atomic_write(target, lambda tmp, text=text: Path(tmp).write_text(text, encoding="utf-8"))
        pages.append(Page(notebook, target, seconds))
        log(f"{notebook.relpath:36s} executed in {seconds:6.1f} s -> {target}")
    index = out / "index.html"
    text = index_html(pages, root, fast)
    atomic_write(index, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    log(f"wrote {index} ({len(pages)} pages)")
    return pages


def main(out: str | Path = "_site", root: str | Path | None = None, fast: bool = True, timeout: int = 900) -> int:
    """``python -m vaecourse site``: build, print one line per page, return an exit code (1 on failure)."""
    try:
        build_site(out, root, fast=fast, timeout=timeout)
    except SiteBuildError as error:
        print(f"error: {error}")
        return 1
    return 0


__all__ = ["Page", "SITE_FOLDERS", "SiteBuildError", "build_site", "execute", "index_html", "kernel_environment",
           "main", "render", "replace_widgets"]
