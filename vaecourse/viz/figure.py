"""The Figure class every viz function returns: a matplotlib Figure that shows itself in notebooks.

It is built without pyplot (so nothing is drawn twice and nothing leaks between calls) and
carries ``_repr_png_``, so ``display(fig)`` or a figure left as a cell's last value renders as a
PNG in JupyterLab, Colab, nbconvert and the static course site, with or without ``%matplotlib``.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure


class CourseFigure(Figure):
    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=self.dpi, bbox_inches="tight")
        return buffer.getvalue()
