"""Small excerpts of the official data sets, shipped with the package (see README.md here for provenance).

``dsprites_orientation0()``: the 18 official dSprites frames [matthey2017] at orientation 0 and position
(0, 0), one per shape and scale, from github.com/deepmind/dsprites-dataset (commit fa310c6, Apache-2.0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaecourse.files import verify_sha256

__all__ = ["dsprites_orientation0", "DSPRITES_ORIENTATION0_FILE", "DSPRITES_ORIENTATION0_SHA256"]

DSPRITES_ORIENTATION0_FILE = Path(__file__).with_name("dsprites_orientation0_reference.npz")
DSPRITES_ORIENTATION0_SHA256 = "3c13de90471a14eeb7afda50e9ec08a12376eec56d17639ad15c569265e43283"


def dsprites_orientation0() -> dict[str, np.ndarray]:
    """The 18 frames: ``imgs`` (18, 64, 64) uint8 0/1, ``latents_classes`` and ``latents_values`` (18, 6).

    Rows are square, ellipse, heart, each at scales 0.5 .. 1 (official factor order and values). The file
    is checked against its SHA-256 first; a changed file is a ValueError.
    """
    verify_sha256(DSPRITES_ORIENTATION0_FILE, DSPRITES_ORIENTATION0_SHA256)
    with np.load(DSPRITES_ORIENTATION0_FILE, allow_pickle=False) as npz:
        return {key: npz[key] for key in ("imgs", "latents_classes", "latents_values")}
