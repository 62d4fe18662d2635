"""The simulators beside the real data: simulated frames next to official reference frames.  N frames, H/W."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vaecourse import values as kinds
from vaecourse.viz import figure as checks
from vaecourse.viz.figure import CourseFigure as Figure

# frames in [0, 1] (floats, or the official 0/1 bytes): a pixel is "on" above 0.5, so 0..255 would all be on
_frame_kind = kinds.numbers(f"finite images (N, H, W) or (N, 1, H, W) in [0, 1] (bytes 0..255: divide by 255 "
                            f"first), 1 to {kinds.MAX_PANELS:,} of them",
                            lambda t: (t.dim() == 3 or t.dim() == 4 and t.shape[1] == 1)
                            and 1 <= len(t) <= kinds.MAX_PANELS and min(t.shape[-2:]) >= 1
                            and bool(((t >= 0) & (t <= 1)).all()))


def _frames(images, name: str) -> np.ndarray:
    """(N, H, W) or (N, 1, H, W) images in [0, 1] -> float array (N, H, W)."""
    array = _frame_kind.check(f"simulated_vs_official_figure's {name}", images).detach().float().cpu().numpy()
    return array[:, 0] if array.ndim == 4 else array


def simulated_vs_official_figure(official, simulated, row_labels: Sequence[str], column_labels: Sequence[str],
                                 title: str = "official (top of each pair) and simulated", size: float = 1.0) -> Figure:
    """Official frames and the simulator's frames of the same factors, in pairs of rows.

    ``official`` and ``simulated`` are (N, H, W) (or (N, 1, H, W)) with N = len(row_labels) x len(column_labels),
    row-major: frame r * columns + c shows row label r at column label c. Each simulated frame is titled
    with the number of pixels that differ from the official one ("exact" when none).
    """
    official, simulated = _frames(official, "official"), _frames(simulated, "simulated")
    row_labels = checks.names("simulated_vs_official_figure", "row_labels", row_labels)
    column_labels = checks.names("simulated_vs_official_figure", "column_labels", column_labels)
    title = checks.figure_text("simulated_vs_official_figure", "title", title)
    size = kinds.inches.check("simulated_vs_official_figure's size", size)
    rows, cols = len(row_labels), len(column_labels)
    if official.shape != simulated.shape or official.shape[0] != rows * cols:
        raise ValueError(f"simulated_vs_official_figure needs len(row_labels) x len(column_labels) = {rows} x {cols} "
                         f"= {rows * cols} official and simulated frames of one shape, got {official.shape} and "
                         f"{simulated.shape}")
    checks.panel_count("simulated_vs_official_figure", "official", 2 * rows * cols, "two per frame: official and simulated")
    fig = Figure(figsize=checks.figure_size("simulated_vs_official_figure", "size, row_labels and column_labels",
                                            size * cols, size * 2 * rows + 0.5))
    axes = fig.subplots(2 * rows, cols, squeeze=False)
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            wrong = int(((official[i] > 0.5) != (simulated[i] > 0.5)).sum())
            for k, (image, label) in enumerate(((official[i], "official"), (simulated[i], "simulated"))):
                ax = axes[2 * r + k, c]
                ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if k == 1:
                    ax.set_title("exact" if wrong == 0 else f"{wrong} px differ", fontsize=7, pad=2)
                elif r == 0:
                    ax.set_title(column_labels[c], fontsize=8)
                if c == 0:
                    ax.set_ylabel(f"{row_labels[r]}\n{label}", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


__all__ = ["simulated_vs_official_figure"]
