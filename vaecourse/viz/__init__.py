"""Pure plotting functions: each takes data (or a model and numbers) and returns a matplotlib Figure.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot, so nothing is drawn twice
in a notebook and nothing leaks between calls; widgets call these and only wire sliders to them.
"""

from vaecourse.viz.images import image_grid, reconstruction_figure, traversal_figure, traversal_images
from vaecourse.viz.training import history_figure, kl_estimator_figure

__all__ = ["history_figure", "image_grid", "kl_estimator_figure", "reconstruction_figure", "traversal_figure",
           "traversal_images"]

# chapter 3: disentanglement metrics
from vaecourse.viz.metrics import grouped_score_bars, matrix_figure, score_bars, zdiff_figure  # noqa: E402

__all__ += ["grouped_score_bars", "matrix_figure", "score_bars", "zdiff_figure"]
