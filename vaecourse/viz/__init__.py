"""Pure plotting functions: each takes data (or a model and numbers) and returns a matplotlib Figure.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot, so nothing is drawn twice
in a notebook and nothing leaks between calls; widgets call these and only wire sliders to them.
"""

from vaecourse.viz.images import image_grid, reconstruction_figure, traversal_figure, traversal_images
from vaecourse.viz.training import history_figure, kl_estimator_figure
from vaecourse.viz.ladder import active_units_figure, kl_heatmap_figure, layer_pca_figure, pca_2d  # chapter 4

__all__ = ["history_figure", "image_grid", "kl_estimator_figure", "reconstruction_figure", "traversal_figure",
           "traversal_images"]

# chapter 2 (beta-VAE)
from vaecourse.viz.beta import (kl_per_dimension_figure, multiplier_figure, rate_distortion_figure,  # noqa: E402
                                sweep_model_figure, traversal_row_figure)

__all__ += ["kl_per_dimension_figure", "multiplier_figure", "rate_distortion_figure", "sweep_model_figure",
            "traversal_row_figure"]
__all__ += ["active_units_figure", "kl_heatmap_figure", "layer_pca_figure", "pca_2d"]
from vaecourse.viz.causal import (adjacency_figure, intervention_grid_figure, mic_matrix_figure,  # noqa: E402
                                  render_intervention, score_figure, scm_scatter_figure)  # chapter 5

__all__ += ["adjacency_figure", "intervention_grid_figure", "mic_matrix_figure", "render_intervention", "score_figure",
            "scm_scatter_figure"]
# chapter 3: disentanglement metrics
from vaecourse.viz.metrics import grouped_score_bars, matrix_figure, score_bars, zdiff_figure  # noqa: E402

__all__ += ["grouped_score_bars", "matrix_figure", "score_bars", "zdiff_figure"]
