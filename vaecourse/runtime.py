"""Run-time switches shared by notebooks, the command line and tests: FAST mode, device, seeds."""

from __future__ import annotations

import os
import random
import re

import numpy as np
import torch

from vaecourse import values

FAST_ENV = "VAECOURSE_FAST"
SITE_ENV = "VAECOURSE_SITE"


def fast_mode() -> bool:
    """True when ``VAECOURSE_FAST`` is set to a true value (CI sets it): shrink data and steps."""
    return os.environ.get(FAST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def site_mode() -> bool:
    """True when ``VAECOURSE_SITE`` is set to a true value: the course site is being built in normal mode.

    The site shows the real course, so a notebook whose normal mode would train a model that the course ships
    (same recipe, same seed) loads the shipped checkpoint instead, and says so in its output.
    """
    return os.environ.get(SITE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def default_device(preference: str | torch.device | None = "auto") -> torch.device:
    """Resolve ``"auto"`` to cuda, then mps, then cpu; pass any other name through, checked.

    >>> default_device("cpu")
    device(type='cpu')
    """
    if isinstance(preference, torch.device):
        return preference
    name = "auto" if preference is None else str(preference).strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = name.split(":")[0]
    if kind not in {"cpu", "cuda", "mps"} or not re.fullmatch(r"(cpu|cuda|mps)(:\d{1,4})?", name):
        raise ValueError(f"unknown device {values.shown(preference)}: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {preference!r} was asked for but CUDA is not available on this machine")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {preference!r} was asked for but MPS is not available on this machine")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch; return a CPU ``torch.Generator`` seeded the same way."""
    seed = values.seed.check("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)  # NumPy's legacy seed is 32 bits; torch and the course's seeds go to 2**63 - 1
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
