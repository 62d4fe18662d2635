"""The course site: every lecture and solutions notebook executed (normal mode by default) and rendered to static HTML.

``python -m vaecourse site [--out DIR] [--rendered DIR2] [--fast]`` writes

    DIR/index.html                 the course map: each chapter's title, learning goals, pages, Colab badges, build times
    DIR/notebooks/NN_name.html     each lecture, executed, with its figures embedded as PNG (data: URLs)
    DIR/solutions/NN_name.html     each exercise notebook with its solutions, executed
    DIR/mathjax/                   MathJax 2, copied from the ``jupyter-server-mathjax`` package: equations render offline
    DIR2/NN_name.ipynb             (with ``--rendered``) each executed lecture, outputs kept: what the repository's
                                   ``rendered/`` folder holds, so GitHub shows the figures (docs/rendered.md)

so a learner can read the course, figures included, without a kernel. Notebooks are found on disk
(:func:`vaecourse.authoring.course.find_notebooks`): a new chapter appears on the site as soon as its notebook exists.
A widget needs a kernel, so its output is replaced by a note pointing at the static figure every widget cell
is preceded by (DESIGN.md §4) and at Colab; other widget outputs (tqdm's progress bars) are left out.

Normal mode is the default, so the site shows the real course: the kernel gets ``VAECOURSE_FAST=0`` and
``VAECOURSE_SITE=1`` (:func:`vaecourse.runtime.site_mode`), and a notebook whose normal mode would train a model the
course ships loads the shipped checkpoint instead and prints that it did. ``fast=True`` (``--fast``, what the tests
and CI use) runs the tiny FAST-mode versions; those pages say that their figures come from tiny runs. Every page
shows how long its execution took, and the course map the total.

The rendering is nbconvert's HTML export (``lab`` template) with MathJax served from the site itself; execution is
nbclient with the ``python3`` kernel and this package's checkout first on the kernel's ``PYTHONPATH``.
"""

from __future__ import annotations

import datetime
import html
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vaecourse.authoring.course import COLAB_BADGE, Notebook, colab_url, course_root, find_notebooks, repository_root
from vaecourse import values
from vaecourse._starting import handlers_kept
from vaecourse.files import atomic_write, check_folder, shown_path

TIMEOUT_S = {True: 900, False: 3600}  # per cell, FAST and normal mode: a normal-mode cell on a loaded 2-core machine
# ran past 900 s (chapter 1's training loop, before the site loaded its shipped run)
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
# MathJax 2 as jupyter-server-mathjax ships it (HTML-CSS output with the STIX-Web fonts; no CommonHTML, no TeX
# fonts): these settings are the classic Jupyter notebook's for that copy.
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
MATHJAX_FONTS = """<script type="text/x-mathjax-config">
MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], imageFont: null, preferredFont: null, webFont: "STIX-Web",
                                 linebreaks: {automatic: true}}});
</script>"""
MATHJAX_SKIP = ("extensions/a11y", "jax/output/SVG")  # not used by the HTML-CSS output (3.7 and 2.9 MB)


DEPTH = values.integer("a folder depth between 0 and 64 (how many folders a page is below the site's root)", 0, 64)
SECONDS = values.real("a duration in seconds >= 0", lambda v: v >= 0, 1e9, "about 30 years").or_none()


def _notebook(name: str, nb):
    """``nb`` if it is a notebook as nbformat reads it (``cells``, a list, and ``metadata``, a dict), else one
    ValueError line naming ``name``."""
    if not (isinstance(getattr(nb, "cells", None), list) and isinstance(getattr(nb, "metadata", None), dict)):
        raise ValueError(f"{name} must be a notebook as nbformat.read gives it (with cells and metadata), got "
                         f"{values.shown(nb)}")
    return nb


class SiteBuildError(RuntimeError):
    """A notebook could not be executed or rendered (the message names it and the failing cell)."""


@dataclass(frozen=True)
class Page:
    """One rendered notebook: where it came from, where it went, how long its execution took."""

    notebook: Notebook
    path: Path
    seconds: float


# ------------------------------------------------------------------------------------------- MathJax
def mathjax_source() -> Path:
    """The MathJax 2 folder of the ``jupyter-server-mathjax`` package (BSD-3; MathJax itself is Apache-2.0)."""
    try:
        import jupyter_server_mathjax
    except ImportError as error:
        raise SiteBuildError("the site serves MathJax itself so equations render offline, and takes it from the "
                             "jupyter-server-mathjax package, which is not installed: pip install -e '.[test]' "
                             "(or pip install jupyter-server-mathjax)") from error
    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (source / "MathJax.js").is_file():
        raise SiteBuildError(f"expected MathJax.js in {shown_path(source)} (jupyter-server-mathjax), found none")
    return source


def copy_mathjax(out: Path) -> Path:
    """Copy MathJax into ``out/mathjax`` (HTML-CSS output, English only: about 3 MB); return the folder."""
    out = check_folder(out, "copy_mathjax's out (the site's folder)")
    source, target = mathjax_source(), out / "mathjax"

    def ignore(folder: str, names: list[str]) -> set[str]:
        relative = Path(folder).relative_to(source).as_posix()
        skipped = {name for name in names if f"{relative}/{name}".lstrip("./") in MATHJAX_SKIP}
        if relative == "localization":
            skipped |= {name for name in names if name != "en"}
        return skipped

    try:
        shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)
    except OSError as error:  # a read-only or full disk (shutil.Error lists each file that failed)
        failed = error.args[0] if isinstance(error, shutil.Error) and error.args else None  # [(src, dst, why)]
        why = failed[0][2] if isinstance(failed, list) and failed else error
        raise SiteBuildError(f"cannot copy MathJax into {target}: {why}") from None
    return target


def mathjax_url(depth: int) -> str:
    """The site's own MathJax, relative to a page ``depth`` folders below the site's root."""
    depth = DEPTH.check("mathjax_url's depth", depth)
    return f"{'../' * depth}mathjax/MathJax.js?config={MATHJAX_CONFIG}"


# ------------------------------------------------------------------------------------------- execution
def kernel_environment(fast: bool = True) -> dict[str, str]:
    """The executing kernel's environment: FAST mode on (or off, with the site's load-what-ships switch on), this
    checkout first on PYTHONPATH."""
    fast = values.boolean.check("kernel_environment's fast", fast)
    env = dict(os.environ)
    env["VAECOURSE_FAST"] = "1" if fast else "0"
    env["VAECOURSE_SITE"] = "0" if fast else "1"
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
        with handlers_kept():  # nbclient's loop, removing its handlers, leaves Python's defaults
            # the kernel's own log (its transport warning; a traceback when a timed-out cell's kernel is shut down) is
            # not the build's: cells' errors come back as messages, each in one line below
            client.execute(env=kernel_environment(fast), stderr=subprocess.DEVNULL)
    except CellTimeoutError:  # nbclient's words preview the cell over a dozen lines
        raise SiteBuildError(f"{notebook.relpath}: a cell ran past the timeout of {timeout} s while building the "
                             f"site; give a larger --timeout") from None
    except CellExecutionError as error:  # the cell's own traceback is in the notebook; its last line here
        raise SiteBuildError(f"{notebook.relpath}: a cell failed while building the site: {error.ename}: "
                             + " ".join(str(error.evalue).split())[:300]) from None
    except BaseException:
        # nbclient answers Ctrl-C and SIGTERM itself (its loop's handlers shut the kernel down), then fails in its own
        # words ("Kernel died", "assert self.km is not None"): the interrupt it was
        if getattr(client, "_async_cleanup_kernel_future", None) is not None:
            raise KeyboardInterrupt from None
        raise
    return nb


def replace_widgets(nb, colab: str, widget_cells: set[int] = frozenset()) -> int:
    """Widget outputs need a kernel: in a widget cell (index in ``widget_cells``) swap each for the note about its
    static figure; elsewhere (a tqdm progress bar, frozen at 0 %) drop it. Return how many notes were placed."""
    _notebook("replace_widgets' nb", nb)
    values.text.check("replace_widgets' colab (the notebook's Colab URL)", colab)
    widget_cells = set(values.indices.check("replace_widgets' widget_cells (indices of cells)", widget_cells))
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
def build_note(seconds: float | None, fast: bool) -> str:
    """One line: the mode, how long the execution took and when (UTC)."""
    seconds = SECONDS.check("build_note's seconds", seconds)
    fast = values.boolean.check("build_note's fast", fast)
    mode = ("FAST mode (tiny runs that prove the code works; run the notebook for the real results)" if fast else
            "normal mode (the chapter's real results; a model the course ships was loaded rather than retrained)")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    took = f" in {seconds:.0f} s" if seconds is not None else ""
    return f"Executed in {mode}{took}, {when}."


def _nav(notebook: Notebook, fast: bool, depth: int = 1, seconds: float | None = None) -> str:
    up = "../" * depth
    return (f'<nav class="vaecourse-nav"><a href="{up}index.html">&larr; Course map</a>'
            f'<a href="{html.escape(colab_url(notebook.relpath))}"><img src="{COLAB_BADGE}" alt="Open In Colab" '
            f'style="vertical-align: middle"></a><span>{html.escape(notebook.relpath)}. '
            f'{html.escape(build_note(seconds, fast))}</span></nav>')


def _link_pages(body: str, built: set[str], folder: str) -> str:
    """Relative links to ``.ipynb`` files that became pages point at the pages."""
    def swap(match: re.Match) -> str:
        target = match["target"]
        resolved = os.path.normpath(os.path.join(folder, target)).replace(os.sep, "/")
        return f'href="{target[:-len(".ipynb")]}.html"' if resolved in built else match.group(0)

    return re.sub(r'href="(?P<target>(?!https?:|/)[^"#?]+\.ipynb)"', swap, body)


def render(nb, notebook: Notebook, fast: bool, built: set[str] = frozenset(), seconds: float | None = None) -> str:
    """The HTML page of an executed notebook: nbconvert's lab template with the site's MathJax, a navigation bar with
    the build time, widget notes."""
    from nbconvert import HTMLExporter

    replace_widgets(nb, colab_url(notebook.relpath), {cell.index for cell in notebook.widget_cells()})
    exporter = HTMLExporter(template_name="lab", embed_images=True, mathjax_url=mathjax_url(1))
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": notebook.title}})
    body = body.replace("</head>", f"{MATHJAX_FONTS}\n{STYLE}\n</head>", 1)
    body = re.sub(r"(<body[^>]*>)", lambda m: f"{m.group(1)}\n{_nav(notebook, fast, seconds=seconds)}", body, count=1)
    return _link_pages(body, set(built), notebook.folder)


def rendered_notebook(nb, notebook: Notebook, fast: bool, seconds: float | None = None):
    """The executed notebook as the repository's ``rendered/`` folder keeps it: outputs kept (widgets already
    replaced by :func:`render`), nbclient's per-cell timestamps dropped, a first cell saying how it was made."""
    import nbformat

    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    header = (f"> **Rendered copy** of [`{notebook.relpath}`](../{notebook.relpath}), made by "
              f"`python -m vaecourse site --rendered rendered`. {build_note(seconds, fast)} To run it, open the "
              f"notebook itself (or [Colab]({colab_url(notebook.relpath)})); do not edit this copy.")
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(header))
    return nb


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
        cells.append("<td>" + "<br>".join(f"{page.notebook.folder}: {page.seconds:.0f} s"
                                          for page in (lecture, solutions) if page) + "</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    mode = ("These pages were executed in FAST mode: tiny runs that show every figure but not the chapter's real "
            "results. Run a notebook (locally or on Colab) for those." if fast else
            "These pages were executed in normal mode and show the chapters' real results; where a chapter's normal "
            "mode would train a model the course ships, the page loaded the shipped checkpoint instead.")
    total = sum(page.seconds for page in pages)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    timing = (f"Built {when}: {len(pages)} notebooks executed in {total:.0f} s ({total / 60:.1f} minutes) in all; "
              "the last column gives each page's time.")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>vaecourse: the course</title>
<script type="text/x-mathjax-config">
MathJax.Hub.Config({{tex2jax: {{inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], processEscapes: true}}}});
</script>
{MATHJAX_FONTS}
<script src="{mathjax_url(0)}"></script>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #d0d7de; padding: 6px 10px; vertical-align: top; }}
ul {{ margin: 0; padding-left: 1.2em; }}
</style></head>
<body>
<h1>vaecourse: variational auto-encoders and disentanglement, runnable</h1>
<p>Each chapter is a notebook; read it here, figures included, or open it on Colab to run and change it.
The exercises check your code and explain what is wrong. {mode}</p>
<p class="vaecourse-build">{timing}</p>
<h2>Course map</h2>
<table>
<tr><th>Chapter</th><th>Lecture</th><th>Exercises</th><th>You will be able to</th><th>Executed in</th></tr>
{chr(10).join(rows)}
</table>
</body></html>
"""


# ------------------------------------------------------------------------------------------- the build
def build_site(out: str | Path = "_site", root: str | Path | None = None, folders: tuple[str, ...] = SITE_FOLDERS,
               fast: bool = False, timeout: int | None = None, log=print,
               rendered: str | Path | None = None) -> list[Page]:
    """Execute and render every notebook of ``folders`` under ``root`` into ``out``; write the index last.

    Normal mode unless ``fast``; ``timeout`` is per cell (default :data:`TIMEOUT_S` of the mode). With
    ``rendered``, each executed lecture (``notebooks/``) is also written there as ``NN_name.ipynb`` with its outputs
    (:func:`rendered_notebook`). A ``root``, ``out`` or ``rendered`` that is no folder is a ValueError
    (:func:`vaecourse.files.check_folder`). Raises :class:`SiteBuildError` when there is no
    notebook, MathJax is missing, or a notebook fails (nothing is half-written: each page goes through a temporary
    file and a rename).
    """
    import nbformat

    root = repository_root() if root is None else course_root(root, "build_site's root (the course's folder)")
    out = check_folder(out, "build_site's out (the site's folder)")
    if rendered is not None:
        rendered = check_folder(rendered, "build_site's rendered (the folder of executed lectures)")
    notebooks = find_notebooks(root, folders)
    if not notebooks:
        raise SiteBuildError(f"no notebooks found under {shown_path(root)} in {', '.join(folders)}/ (expected "
                             f"NN_name.ipynb)")
    mathjax_source()  # fail before hours of execution, not after
    timeout = timeout or TIMEOUT_S[bool(fast)]
    built = {nb.relpath for nb in notebooks}
    pages = []
    for notebook in notebooks:
        started = time.perf_counter()
        executed = execute(notebook, fast=fast, timeout=timeout)
        seconds = time.perf_counter() - started
        target = out / notebook.folder / f"{notebook.name}.html"
        text = render(executed, notebook, fast, built, seconds)
        atomic_write(target, lambda tmp, text=text: Path(tmp).write_text(text, encoding="utf-8"))
        if rendered is not None and notebook.folder == "notebooks":
            copy = nbformat.writes(rendered_notebook(executed, notebook, fast, seconds)) + "\n"
            atomic_write(Path(rendered) / f"{notebook.name}.ipynb",
                         lambda tmp, copy=copy: Path(tmp).write_text(copy, encoding="utf-8"))
        pages.append(Page(notebook, target, seconds))
        log(f"{notebook.relpath:36s} executed in {seconds:6.1f} s -> {target}")
    copy_mathjax(out)
    index = out / "index.html"
    text = index_html(pages, root, fast)
    atomic_write(index, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    log(f"wrote {index} ({len(pages)} pages, {sum(p.seconds for p in pages):.0f} s of execution)")
    return pages


def main(out: str | Path = "_site", root: str | Path | None = None, fast: bool = False, timeout: int | None = None,
         rendered: str | Path | None = None, folders: tuple[str, ...] = SITE_FOLDERS) -> int:
    """``python -m vaecourse site``: build, print one line per page, return an exit code (1 on failure)."""
    try:
        build_site(out, root, folders=folders, fast=fast, timeout=timeout, rendered=rendered)
    except SiteBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


__all__ = ["Page", "SITE_FOLDERS", "TIMEOUT_S", "SiteBuildError", "build_note", "build_site", "copy_mathjax", "execute", "index_html",
           "kernel_environment", "main", "mathjax_source", "mathjax_url", "render", "rendered_notebook",
           "replace_widgets"]
