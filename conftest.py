"""Test-wide settings: FAST mode for every notebook kernel nbval starts, and the gpu marker."""

import os

import pytest

# nbval's kernels inherit this process's environment: notebooks run their FAST (CI-sized) path.
os.environ.setdefault("VAECOURSE_FAST", "1")


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
