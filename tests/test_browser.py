"""The widgets as learners meet them: JupyterLab in headless Chromium, every widget notebook run and its sliders moved.

For every course notebook with a widget cell (found by :mod:`vaecourse.authoring.course`, no hand-kept list), the test opens
it in a JupyterLab started here, runs all cells in FAST mode, waits for the kernel, moves each slider of each widget
with the keyboard and checks that the image the widget shows is different image data afterwards. Screenshots of
every step are kept in the test's temporary directory and named in failure messages.

The server runs on 127.0.0.1 with a random free port and token, in its own process group, with isolated
config/data/runtime/settings/workspace directories (no news pop-up, no notebook windowing, no autosave) and a
copy of the course folders as its root, so nothing here writes into the checkout; the notebook's kernel starts
without the "Select Kernel" dialog (``autoStartDefaultKernel``). It is stopped with its kernels
(which jupyter_client starts in sessions of their own) when the tests end, pass or fail; the browser is closed
by Playwright's context manager. Set ``VAECOURSE_CHROMIUM`` to use another Chromium than ``/usr/bin/chromium``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from vaecourse.authoring.course import NOTEBOOK_DIRS, find_notebooks

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("VAECOURSE_CHROMIUM", "/usr/bin/chromium")
RUN_TIMEOUT_S = 300  # one notebook, all cells, FAST mode, on a loaded 2-core machine (01 takes about 45 s)
WIDGET_TIMEOUT_S = 60  # one slider move: the kernel re-renders the figure

WIDGET_NOTEBOOKS = [nb for nb in find_notebooks(ROOT) if nb.widget_cells()]

# ----------------------------------------------------------------------------------------------- processes
def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc (Linux)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (kernels included: they run in sessions of their own)."""
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _settings(directory: Path) -> None:
    """JupyterLab user settings for a quiet, fully attached, never-saving notebook view."""
    settings = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                           "checkForUpdates": False},
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none",
                                                                       "autoStartDefaultKernel": True},
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    }
    for name, values in settings.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


class JupyterLab:
    """A JupyterLab server on 127.0.0.1 for one test session; ``stop()`` ends it and every process below it."""

    def __init__(self, workdir: Path, source_root: Path = ROOT):
        self.workdir = workdir
        self.root_dir = workdir / "course"
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "jupyterlab.log"
        for folder in NOTEBOOK_DIRS:  # a copy: whatever the session writes stays out of the checkout
            if (source_root / folder).is_dir():
                shutil.copytree(source_root / folder, self.root_dir / folder,
                                ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        self.root_dir.mkdir(parents=True, exist_ok=True)
        dirs = {name: workdir / name for name in ("config", "data", "runtime", "settings", "workspaces", "ipython")}
        for directory in dirs.values():
            directory.mkdir(parents=True, exist_ok=True)
        _settings(dirs["settings"])
        self.env = {
            **os.environ,
            "VAECOURSE_FAST": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(source_root), os.environ.get("PYTHONPATH")])),
            "JUPYTER_CONFIG_DIR": str(dirs["config"]),
            "JUPYTER_DATA_DIR": str(dirs["data"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
            "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
            "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
            "IPYTHONDIR": str(dirs["ipython"]),
            "MPLBACKEND": "Agg",
        }
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> None:
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                   f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                   f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root_dir}",
                   "--LabApp.news_url=", "--ServerApp.open_browser=False"]
        if os.geteuid() == 0:
            command.append("--ServerApp.allow_root=True")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with status {self.process.returncode} before answering; "
                                   f"log {self.log}:\n{self.log.read_text()[-3000:]}")
            try:
                self.api("GET", "status")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.25)
        raise RuntimeError(f"JupyterLab did not answer on {self.url} within {timeout:.0f} s; log {self.log}")

    def api(self, method: str, path: str, timeout: float = 10.0):
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def lab_url(self, relpath: str) -> str:
        return f"{self.url}/lab/tree/{relpath}?token={self.token}&reset"

    def kernels(self, attempts: int = 20) -> list[dict]:
        """The server's kernels. While a kernel is starting, jupyter_server can answer 500 (its model has no
        'last_activity' yet: KeyError in the server, seen once in CI); that is the server's race, so ask again."""
        for attempt in range(attempts):
            try:
                return self.api("GET", "kernels")
            except urllib.error.HTTPError as error:
                if error.code != 500 or attempt == attempts - 1:
                    raise
                time.sleep(0.25)
        return []

    def shutdown_sessions(self) -> None:
        for session in self.api("GET", "sessions"):
            self.api("DELETE", f"sessions/{session['id']}", timeout=30)

    def stop(self) -> set[int]:
        """Stop the server and everything it started; return the pids that were still alive after SIGKILL."""
        if self.process is None:
            return set()
        pids = descendants(self.process.pid) | {self.process.pid}
        if self.process.poll() is None:
            try:  # the polite way first: the server shuts its kernels down
                self.api("POST", "shutdown", timeout=5)
                self.process.wait(timeout=10)
            except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
                pass
        pids |= descendants(self.process.pid)
        for pid in sorted(pids):  # kernels have their own process group: signal each group, then each pid
            for kill in (lambda p: os.killpg(os.getpgid(p), signal.SIGKILL), lambda p: os.kill(p, signal.SIGKILL)):
                try:
                    kill(pid)
                except (ProcessLookupError, PermissionError):
                    pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.1)
        return {p for p in pids if alive(p)}


@contextmanager
def running_jupyterlab(workdir: Path):
    lab = JupyterLab(workdir)
    try:
        lab.start()
        yield lab
    finally:
        survivors = lab.stop()
        if survivors:
            raise RuntimeError(f"processes of the test JupyterLab survived SIGKILL: {sorted(survivors)}")


# ----------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    with running_jupyterlab(tmp_path_factory.mktemp("jupyterlab")) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


# ----------------------------------------------------------------------------------------------- page helpers
CELLS = ".jp-Notebook .jp-Cell"
PROMPTS_JS = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell'))
                     .map(c => (c.querySelector('.jp-InputArea-prompt') || {}).textContent || '')"""
IMAGE_JS = """(index) => {  // every image the cell's output shows, as one string of data: URLs (null: none yet)
    const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[index];
    const images = cell ? Array.from(cell.querySelectorAll('.jp-OutputArea img')) : [];
    return images.length ? images.map(img => img.getAttribute('src')).join('\\n') : null;
}"""


class Shots:
    """Screenshots of one test, numbered in order, in its temporary directory."""

    def __init__(self, page, directory: Path, stem: str):
        self.page, self.directory, self.stem, self.taken = page, directory, stem, []

    def __call__(self, label: str) -> Path:
        path = self.directory / f"{self.stem}-{len(self.taken):02d}-{label}.png"
        try:
            self.page.screenshot(path=str(path), full_page=False)
        except Exception as error:  # a dead page still deserves a message, not a second failure
            path = self.directory / f"{self.stem}-{len(self.taken):02d}-{label}.screenshot-failed.txt"
            path.write_text(str(error))
        self.taken.append(path)
        return path

    def fail(self, message: str):
        path = self("failure")
        pytest.fail(f"{message}\n  screenshot: {path}\n  all screenshots: {self.directory}", pytrace=False)


def _error_text(page) -> str:
    """Tracebacks shown in the notebook (error outputs render as stderr text in JupyterLab)."""
    texts = page.eval_on_selector_all(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
        "nodes => nodes.map(n => n.textContent)")
    return "\n".join(t for t in texts if "Error" in t or "Traceback" in t)[-2000:]


def wait_for_idle_kernel(page, lab: JupyterLab, shots: Shots, timeout: float = 90.0) -> None:
    """Wait until the notebook's kernel is connected and idle, in the page and on the server, for a second."""
    deadline = time.monotonic() + timeout
    steady = 0
    while time.monotonic() < deadline:
        status = " ".join(page.locator(".jp-StatusBar-TextItem").all_inner_texts())
        kernels = lab.kernels()
        ok = "Idle" in status and kernels and all(k.get("execution_state") == "idle" for k in kernels)
        steady = steady + 1 if ok else 0
        if steady >= 4:
            return
        time.sleep(0.25)
    shots.fail(f"the kernel was not idle within {timeout:.0f} s (status bar: {status!r})")


def run_all_cells(page, lab: JupyterLab, shots: Shots, timeout: float = RUN_TIMEOUT_S) -> int:
    """Run > Run All Cells, then wait until every code cell has an execution count and the kernel is idle."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    deadline = time.monotonic() + timeout
    started = False
    stalled = 0
    while time.monotonic() < deadline:
        prompts = [p.strip() for p in page.evaluate(PROMPTS_JS)]
        busy = any(p.startswith("[*]") for p in prompts)
        done = bool(prompts) and all(p[1:-2].isdigit() for p in prompts)
        started = started or busy or any(p[1:-2].isdigit() for p in prompts)
        idle = all(k.get("execution_state") == "idle" for k in lab.kernels())
        if done and idle:
            return len(prompts)
        if not started and time.monotonic() > deadline - timeout + 30:
            shots.fail("Run All Cells did not start any cell within 30 s")
        stalled = stalled + 1 if (started and idle and not busy) else 0
        if stalled >= 6:  # idle, nothing queued, cells left unrun: a cell raised and Run All stopped
            shots.fail(f"Run All stopped before the end (prompts {prompts}); errors shown:\n{_error_text(page)}")
        time.sleep(0.5)
    shots.fail(f"the notebook did not finish within {timeout:.0f} s; errors shown:\n{_error_text(page)}")


def wait_for_image(page, index: int, shots: Shots, differs_from: str | None = None,
                   timeout: float = WIDGET_TIMEOUT_S) -> str:
    """The image data (the data: URLs of its images) cell ``index`` shows once it differs from ``differs_from``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        src = page.evaluate(IMAGE_JS, index)
        if src and src != differs_from:
            return src
        time.sleep(0.2)
    what = "a new image" if differs_from else "an image"
    shots.fail(f"cell {index} did not show {what} within {timeout:.0f} s; errors shown:\n{_error_text(page)}")


def move_slider(page, slider, shots: Shots, label: str) -> tuple[str, str]:
    """Give the slider's handle the keyboard focus and press End (Home if it is already at its maximum);
    return its readout before and after."""
    readout = slider.locator(".widget-readout")
    before = readout.inner_text().strip()
    handle = slider.locator(".noUi-handle")
    handle.focus()
    for key in ("End", "Home"):
        handle.press(key)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and readout.inner_text().strip() == before:
            time.sleep(0.05)
        if (after := readout.inner_text().strip()) != before:
            return before, after
    shots.fail(f"slider {label!r} did not move with End/Home (readout stayed {before!r})")


# ----------------------------------------------------------------------------------------------- the tests
def test_every_notebook_with_widgets_is_found():
    """The discovery the browser test relies on sees chapter 1's traversal explorer (no browser needed)."""
    found = {nb.relpath: [c.calls for c in nb.widget_cells()] for nb in WIDGET_NOTEBOOKS}
    assert ("traversal_explorer",) in found.get("notebooks/01_elbo.ipynb", []), found
    assert ("intervention_explorer",) in found.get("notebooks/05_causalvae.ipynb", []), found


# sliders that must be among those moved, per notebook: chapter 5's explorer must draw do(shadow length) (issue 13)
REQUIRED_SLIDERS = {"notebooks/05_causalvae.ipynb": ("theta", "phi", "shadow_length", "shadow_positio")}


@pytest.mark.browser
@pytest.mark.parametrize("notebook", WIDGET_NOTEBOOKS, ids=[nb.relpath for nb in WIDGET_NOTEBOOKS])
def test_widget_sliders_change_the_image(notebook, lab, browser, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    shots = Shots(page, tmp_path, notebook.name)
    try:
        page.goto(lab.lab_url(notebook.relpath))
        page.locator(CELLS).first.wait_for(timeout=60_000)
        page.wait_for_function("() => document.querySelector('.jp-Notebook .jp-CodeCell') !== null")
        wait_for_idle_kernel(page, lab, shots)
        shots("opened")
        started = time.monotonic()
        n_code = run_all_cells(page, lab, shots)
        ran = time.monotonic() - started
        shots("ran-all")
        assert n_code == len(notebook.sources("code"))
        moved, labels = 0, []
        for cell in notebook.widget_cells():
            container = page.locator(CELLS).nth(cell.index)
            container.scroll_into_view_if_needed()
            sliders = container.locator(".widget-slider")
            image = wait_for_image(page, cell.index, shots)
            if sliders.count() == 0:
                shots.fail(f"cell {cell.index} ({', '.join(cell.calls)}) shows no slider")
            for k in range(sliders.count()):
                slider = sliders.nth(k)
                label = slider.locator(".widget-label").inner_text().strip() or f"slider {k}"
                before, after = move_slider(page, slider, shots, label)
                new_image = wait_for_image(page, cell.index, shots, differs_from=image)
                shots(f"cell{cell.index}-{label}-{after}")
                assert new_image != image, f"{label}: {before} -> {after} left the image unchanged ({shots.taken[-1]})"
                image = new_image
                moved += 1
                labels.append(label)
        assert moved > 0
        missing = [name for name in REQUIRED_SLIDERS.get(notebook.relpath, ()) if name not in labels]
        assert not missing, f"sliders {missing} were not found and moved (moved: {labels})"
        print(f"{notebook.relpath}: Run All {ran:.1f} s, {moved} slider moves {time.monotonic() - started - ran:.1f} s")
    except Exception as error:  # an assertion or a Playwright timeout: name the screenshots (pytest.fail passes by)
        shots.fail(f"{type(error).__name__}: {error}")
    finally:
        context.close()
        lab.shutdown_sessions()


@pytest.mark.browser
def test_the_server_and_its_kernels_are_stopped_also_after_a_failure(tmp_path):
    """The fixture's clean-up, checked on a server of its own: a test that fails inside leaves no process."""
    pids: set[int] = set()
    with pytest.raises(ZeroDivisionError):
        with running_jupyterlab(tmp_path) as server:
            server.api("POST", "kernels")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(descendants(server.process.pid)) == 0:
                time.sleep(0.2)
            pids = descendants(server.process.pid) | {server.process.pid}
            assert len(pids) >= 2, "the kernel did not start"
            1 / 0  # the test body fails
    assert pids and not any(alive(p) for p in pids), f"left running: {sorted(p for p in pids if alive(p))}"


FROZEN = [  # a widget whose slider moves but whose image never changes: the check above must catch it
    "import ipywidgets as w\nimport torch\nfrom IPython.display import display\nfrom vaecourse.viz import image_grid",
    "figure = image_grid(torch.zeros(1, 1, 8, 8))\nslider = w.IntSlider(value=0, min=0, max=3, description='k', "
    "continuous_update=False)\nw.VBox([slider, w.interactive_output(lambda k: display(figure), {'k': slider})])",
]


@pytest.mark.browser
def test_a_slider_that_leaves_the_image_unchanged_is_caught(lab, browser, tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in FROZEN])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (lab.root_dir / "scratch").mkdir(exist_ok=True)
    nbformat.write(nb, lab.root_dir / "scratch" / "frozen.ipynb")
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    shots = Shots(page, tmp_path, "frozen")
    try:
        page.goto(lab.lab_url("scratch/frozen.ipynb"))
        page.locator(CELLS).first.wait_for(timeout=60_000)
        wait_for_idle_kernel(page, lab, shots)
        assert run_all_cells(page, lab, shots) == 2
        image = wait_for_image(page, 1, shots)
        before, after = move_slider(page, page.locator(CELLS).nth(1).locator(".widget-slider"), shots, "k")
        assert (before, after) == ("0", "3")
        with pytest.raises(pytest.fail.Exception, match=r"did not show a new image(.|\n)*screenshot: .*failure\.png"):
            wait_for_image(page, 1, shots, differs_from=image, timeout=5)
        assert shots.taken[-1].is_file()
    finally:
        context.close()
        lab.shutdown_sessions()


# ----------------------------------------------------------------------------------------------- the site, offline
MATH_NOTEBOOK = ("# Chapter 9 — maths offline\n\nThe KL of two Gaussians, with $\\beta$ in front:\n\n"
                 "$$\\beta\\,\\mathrm{KL}\\big(q\\,\\|\\,p\\big) = \\tfrac12 \\sum_{d=1}^{D}\\big(\\mu_d^2 + \\sigma_d^2 - 1"
                 " - \\log\\sigma_d^2\\big)$$")
MATH_JS = """() => ({  // what MathJax 2 (HTML-CSS output) leaves in the page once it has typeset it
    typeset: document.querySelectorAll('.MathJax, .MathJax_Display').length,
    rawDollars: (document.body.innerText.match(/\\$/g) || []).length,
    processing: document.querySelectorAll('.MathJax_Processing, .MathJax_Preview:not(:empty)').length,
    errors: document.querySelectorAll('.MathJax_Error, merror').length,
    text: (document.querySelector('.MathJax_Display') || {}).innerText || '',
})"""


@pytest.mark.browser
def test_site_equations_render_as_math_with_the_network_blocked(browser, tmp_path):
    """A page and the course map of a built site, opened from disk with every non-file request aborted: MathJax
    (served from the site's own mathjax/ folder) turns the $...$ of a markdown cell into typeset maths."""
    import nbformat

    from vaecourse.authoring.site import build_site

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(MATH_NOTEBOOK),
                                         nbformat.v4.new_code_cell("print(1 + 1)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "course" / "notebooks").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "course" / "notebooks" / "09_maths.ipynb")
    out = tmp_path / "site"
    build_site(out, tmp_path / "course", fast=True, log=lambda line: None)

    context = browser.new_context(viewport={"width": 1200, "height": 800})
    blocked: list[str] = []

    def offline(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", offline)
    page = context.new_page()
    try:
        for html_file, wanted in ((out / "notebooks" / "09_maths.html", 2), (out / "index.html", 0)):
            page.goto(html_file.as_uri())
            page.wait_for_function("() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 "
                                   "&& !MathJax.Hub.queue.running", timeout=60_000)
            page.wait_for_timeout(500)  # the typeset queue has emptied; let the last layout settle
            state = page.evaluate(MATH_JS)
            page.screenshot(path=str(tmp_path / f"{html_file.stem}.png"), full_page=True)
            assert state["typeset"] >= wanted, f"{html_file.name}: MathJax typeset nothing offline: {state}"
            assert state["errors"] == 0, f"{html_file.name}: MathJax reported an error: {state}"
            if wanted:
                assert state["rawDollars"] == 0, f"{html_file.name}: raw $...$ still shown: {state}"
                assert "β" in state["text"] or "KL" in state["text"], state
    finally:
        context.close()
    assert not any("mathjax" in url.lower() for url in blocked), f"MathJax was asked from the network: {blocked}"
