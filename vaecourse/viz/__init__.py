"""Pure plotting functions: each takes data (or a model and numbers) and returns a matplotlib Figure.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot, so nothing is drawn twice
in a notebook and nothing leaks between calls; widgets call these and only wire sliders to them.
"""

# chapter 1: images, reconstructions, traversals, training curves
from vaecourse.viz.images import image_grid, reconstruction_figure, traversal_figure, traversal_images
from vaecourse.viz.data import simulated_vs_official_figure
from vaecourse.viz.training import history_figure, kl_estimator_figure
# chapter 2: the beta sweep
from vaecourse.viz.beta import (kl_per_dimension_figure, multiplier_figure, rate_distortion_figure,
                                sweep_model_figure, traversal_row_figure)
# chapter 3: metric scores
from vaecourse.viz.metrics import grouped_score_bars, matrix_figure, score_bars, zdiff_figure
# chapter 4: the hierarchy
from vaecourse.viz.ladder import active_units_figure, depth_figure, kl_heatmap_figure, layer_pca_figure, pca_2d
# chapter 5: SCMs and CausalVAE
from vaecourse.viz.causal import (adjacency_figure, intervention_grid_figure, mic_matrix_figure, ownership_figure,
                                  pendulum_reference_figure, render_intervention, score_figure, scm_scatter_figure)

__all__ = [
    "image_grid", "reconstruction_figure", "traversal_figure", "traversal_images", "history_figure",
    "kl_estimator_figure", "simulated_vs_official_figure",
    "kl_per_dimension_figure", "multiplier_figure", "rate_distortion_figure", "sweep_model_figure",
    "traversal_row_figure",
    "grouped_score_bars", "matrix_figure", "score_bars", "zdiff_figure",
    "active_units_figure", "depth_figure", "kl_heatmap_figure", "layer_pca_figure", "pca_2d",
    "adjacency_figure", "intervention_grid_figure", "mic_matrix_figure", "ownership_figure", "pendulum_reference_figure",
    "render_intervention", "score_figure", "scm_scatter_figure",
]
