"""Chapter 2 figures and the widgets' render functions, headless: they draw what they claim."""

import numpy as np
import pytest
import torch

from vaecourse.models import VAE
from vaecourse.train import History
from vaecourse.viz import (kl_per_dimension_figure, multiplier_figure, rate_distortion_figure, sweep_model_figure,
                           traversal_row_figure)
from vaecourse.viz.images import traversal_images
from vaecourse.widgets import beta_explorer, sweep_traversal_explorer

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return VAE(latent_dim=4, encoder="mlp28", image_shape=(1, 28, 28)).eval()


def test_rate_distortion_places_each_model_at_its_kl_and_distortion():
    points = [{"label": "beta=1", "kl": 20.0, "log_px_z": -30.0}, {"label": "beta=4", "kl": 8.0, "log_px_z": -45.0}]
    fig = rate_distortion_figure(points)
    ax = fig.axes[0]
    offsets = np.concatenate([c.get_offsets() for c in ax.collections])
    assert np.allclose(offsets, [[20.0, 30.0], [8.0, 45.0]])
    assert [t.get_text() for t in ax.texts] == ["beta=1", "beta=4"]
    assert fig._repr_png_()[:8] == PNG
    with pytest.raises(ValueError, match="points must be 1 to 1,024 points, got 0"):
        rate_distortion_figure([])


def test_kl_bars_mark_the_active_latents():
    fig = kl_per_dimension_figure({"beta=1": [2.0, 0.01, 1.0], "beta=8": [3.0, 0.0, 0.05]}, threshold=0.1)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["beta=1: 2 active", "beta=8: 1 active"]
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert heights == pytest.approx([2.0, 0.01, 1.0])


def test_multiplier_figure_draws_the_trace_and_the_bound():
    h = History()
    for step, beta in enumerate([1.0, 1.5, 2.0, 2.2]):
        h.append(step, {"beta": beta, "kl": 10.0 - step, "log_px_z": -40.0 + step})
    fixed = History(steps=[0, 1, 2, 3], records={"beta": [4.0] * 4, "kl": [5.0] * 4, "log_px_z": [-50.0] * 4})
    fig = multiplier_figure({"Lagrangian": h, "beta=4": fixed}, epsilon=8.0, smooth=1)
    beta_axes, kl_axes = fig.axes[0], fig.axes[1]
    assert list(beta_axes.lines[0].get_ydata()) == [1.0, 1.5, 2.0, 2.2]
    assert list(beta_axes.lines[1].get_ydata()) == [4.0] * 4
    assert any(np.allclose(line.get_ydata(), 8.0) for line in kl_axes.lines)  # the bound epsilon
    with pytest.raises(ValueError, match="has no 'beta'"):
        multiplier_figure({"elbo": History(steps=[0], records={"kl": [1.0], "log_px_z": [1.0]})})


def test_traversal_row_shows_the_decoded_image_at_the_slider_value(model):
    z = torch.tensor([0.3, -0.2, 1.0, 0.0])
    fig = traversal_row_figure(model, z, dim=2, value=1.25, span=2.0, steps=5)
    big = fig.axes[0].images[0].get_array()
    expected = traversal_images(model, z, [2], torch.tensor([1.25]))[0, 0, 0]
    assert np.allclose(big, expected.numpy(), atol=1e-6)
    assert len(fig.axes) == 6
    framed = [ax for ax in fig.axes[1:] if ax.spines["top"].get_edgecolor()[:3] == pytest.approx((0.839, 0.153, 0.157), abs=1e-2)]
    assert len(framed) == 1 and framed[0].get_xlabel() == "1.0"  # nearest of -2, -1, 0, 1, 2


def test_sweep_model_figure_traverses_the_most_informative_latents(model):
    x = (torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    fig = sweep_model_figure(model, x, "beta=4", n_latents=2, steps=3)
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel().startswith("z")]
    q = model.encode(x)
    kl = (0.5 * (q.mu ** 2 + q.logvar.exp() - 1 - q.logvar)).mean(0)
    assert labels == [f"z{d}" for d in torch.argsort(kl, descending=True)[:2].tolist()]
    assert "beta=4" in fig._suptitle.get_text()


def test_widgets_build_with_one_slider_per_choice(model):
    x = (torch.rand(2, 1, 28, 28) > 0.5).float()
    box = sweep_traversal_explorer({"a": model, "b": model}, x)
    controls = box.children[0].children
    assert [c.description for c in controls] == ["model", "latent", "value"]
    assert all(not getattr(c, "continuous_update", False) for c in controls[1:])
    box = beta_explorer({"beta=1": model, "beta=4": model}, x)
    assert [c.description for c in box.children[0].children] == ["model", "image"]
    with pytest.raises(ValueError, match="at least one model"):
        beta_explorer({}, x)
