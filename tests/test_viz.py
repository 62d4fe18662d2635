"""Figures and widget render functions, headless: they show what they claim to show."""

import numpy as np
import pytest
import torch

from vaecourse.models import VAE
from vaecourse.train import History
from vaecourse.viz import history_figure, image_grid, kl_estimator_figure, reconstruction_figure, traversal_images
from vaecourse.widgets import render_traversal, traversal_explorer


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return VAE(latent_dim=3, encoder="mlp28", image_shape=(1, 28, 28)).eval()


def test_figures_render_to_png_for_notebooks():
    fig = image_grid(torch.rand(5, 1, 8, 8), ncols=3)
    assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len([ax for ax in fig.axes if ax.images]) == 5  # 5 images drawn, the sixth cell blank


def test_traversal_images_vary_exactly_one_dimension(model):
    z = torch.tensor([0.5, -1.0, 2.0])
    values = torch.linspace(-2, 2, 5)
    grid = traversal_images(model, z, dims=[1], values=values)
    assert grid.shape == (1, 5, 1, 28, 28)
    for j, v in enumerate(values):
        expected = model.decode(torch.tensor([[0.5, v.item(), 2.0]])).mean
        assert torch.allclose(grid[0, j], expected[0], atol=1e-6)


def test_traversal_rejects_unknown_dimension(model):
    with pytest.raises(ValueError, match="latent dimension 7 does not exist: the model has 3"):
        traversal_images(model, torch.zeros(3), dims=[7], values=[0.0])


def test_render_traversal_depends_on_the_slider_values(model):
    z = torch.zeros(3)
    a = render_traversal(model, z, dim=0, value=-3.0)._repr_png_()
    b = render_traversal(model, z, dim=0, value=3.0)._repr_png_()
    c = render_traversal(model, z, dim=0, value=-3.0)._repr_png_()
    assert a == c  # pure: same sliders, same picture
    assert a != b  # the highlighted cell moves with the value slider


def test_traversal_explorer_wires_two_sliders(model):
    box = traversal_explorer(model, torch.zeros(3))
    sliders = box.children[0].children
    assert [s.description for s in sliders] == ["latent", "value"]
    assert sliders[0].max == 2 and not sliders[0].continuous_update and not sliders[1].continuous_update


def test_history_and_estimator_figures():
    history = History()
    for step in range(40):
        history.append(step, {"elbo": -100.0 + step, "log_px_z": -90.0 + step, "kl": 10.0})
    fig = history_figure(history, smooth=5)
    assert len(fig.axes) == 3
    smoothed = fig.axes[0].lines[1].get_ydata()
    assert np.allclose(smoothed, -100 + np.arange(2, 38), atol=1e-9)  # moving average of a line is the line
    fig = kl_estimator_figure([1, 4], [np.random.randn(50), np.random.randn(50) / 2], exact=0.0)
    assert len(fig.axes) == 2


def test_reconstruction_figure_has_two_rows():
    fig = reconstruction_figure(torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8), n=3)
    assert len([ax for ax in fig.axes if ax.images]) == 6


# ---- chapter 3: metric figures -----------------------------------------------------------------------------
def test_score_bars_show_mean_and_spread_over_seeds():
    from vaecourse.viz import score_bars

    fig = score_bars({"PCA": [0.6, 0.7, 0.8], "beta-VAE": [0.9]}, chance=0.2)
    ax = fig.axes[0]
    bars = [p for p in ax.patches]
    assert [round(b.get_height(), 6) for b in bars] == [0.7, 0.9]  # means over seeds
    assert [t.get_text() for t in ax.get_xticklabels()] == ["PCA", "beta-VAE"]
    assert any(line.get_linestyle() == "--" and line.get_ydata()[0] == 0.2 for line in ax.lines)  # chance line
    assert fig._repr_png_()[:4] == b"\x89PNG"


def test_grouped_score_bars_one_bar_per_metric_and_representation():
    from vaecourse.viz import grouped_score_bars

    fig = grouped_score_bars({"a": {"higgins": [0.9, 0.8], "mig": [0.1]}, "b": {"higgins": [0.5], "mig": [0.4, 0.2]}})
    heights = sorted(round(p.get_height(), 6) for p in fig.axes[0].patches)
    assert heights == [0.1, 0.3, 0.5, 0.85]


def test_matrix_and_zdiff_figures_draw_the_matrices():
    from vaecourse.viz import matrix_figure, zdiff_figure

    mi = np.arange(6.0).reshape(3, 2)
    fig = matrix_figure({"MI": mi}, ["shape", "scale"])
    assert np.array_equal(fig.axes[0].images[0].get_array(), mi)
    features = np.array([[0.0, 1.0], [0.0, 3.0], [2.0, 0.0]])
    fig = zdiff_figure(features, np.array([0, 0, 1]), ["a", "b"])
    assert np.array_equal(fig.axes[0].images[0].get_array(), [[0.0, 2.0], [2.0, 0.0]])  # row y: mean z_diff
