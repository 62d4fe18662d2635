"""Test-wide settings: FAST mode for every notebook kernel nbval starts, and the gpu / browser markers."""

import os

import pytest

# nbval's kernels inherit this process's environment: notebooks run their FAST (CI-sized) path.
os.environ.setdefault("VAECOURSE_FAST", "1")


def _browser_missing() -> str | None:
    """Why browser tests cannot run here (None when Playwright can launch a headless Chromium)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "needs playwright (pip install -e '.[browser]')"
    try:
        with sync_playwright() as p:
            p.chromium.launch(headless=True).close()
    except Exception as error:  # no browser build installed, or it cannot start on this machine
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"needs a Chromium that Playwright can launch (`playwright install chromium`): {first}"
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
        if reason is not None:
            skip = pytest.mark.skip(reason=reason)
            for item in items:
                if "browser" in item.keywords:
                    item.add_marker(skip)
