"""Test-wide settings: FAST mode for every notebook kernel nbval starts, the thread governor before each test,
and the gpu / browser markers."""

import os
import sys

import pytest

# nbval's kernels inherit this process's environment: notebooks run their FAST (CI-sized) path.
os.environ.setdefault("VAECOURSE_FAST", "1")


def pytest_runtest_setup(item):
    """Re-check the load before each test: torch's CPU threads follow the cores other processes leave free
    (vaecourse/threads.py, docs/performance.md). Here only between tests, not after optimiser steps, so that a
    test that trains twice and compares sees one thread count. Notebook kernels re-check before each cell and
    after optimiser steps."""
    threads = sys.modules.get("vaecourse.threads")  # only once a test has imported vaecourse (and torch)
    if threads is not None:
        threads.STEP_CHECKS = False
        threads.follow_load()


CHROMIUM = os.environ.get("VAECOURSE_CHROMIUM", "/usr/bin/chromium")  # Debian's Chromium (apt-get install chromium)


def _browser_missing() -> str | None:
    """Why browser tests cannot run here (None when Playwright can launch the system Chromium headless)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "needs playwright (pip install -e '.[browser]')"
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        return "needs jupyterlab (pip install -e '.[widgets]')"
    if not os.path.exists(CHROMIUM):
        return f"needs Chromium at {CHROMIUM} (apt-get install chromium, or set VAECOURSE_CHROMIUM)"
    try:
        with sync_playwright() as p:
            p.chromium.launch(executable_path=CHROMIUM, headless=True).close()
    except Exception as error:  # present but cannot start on this machine
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"Playwright cannot launch {CHROMIUM} headless: {first}"
    return None


def pytest_collection_modifyitems(config, items):
    if any("gpu" in item.keywords for item in items):
        import torch

        if not torch.cuda.is_available():
            skip = pytest.mark.skip(reason="needs a CUDA device")
            for item in items:
                if "gpu" in item.keywords:
                    item.add_marker(skip)
    if any("browser" in item.keywords for item in items):
        reason = _browser_missing()
        if reason is not None and os.environ.get("VAECOURSE_REQUIRE_BROWSER", "") == "1":
            raise pytest.UsageError(f"VAECOURSE_REQUIRE_BROWSER=1 but the browser tests cannot run: {reason}")
        if reason is not None:
            skip = pytest.mark.skip(reason=reason)
            for item in items:
                if "browser" in item.keywords:
                    item.add_marker(skip)
