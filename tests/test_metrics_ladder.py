"""Chapter 4 diagnostics: active units, per-unit KL over training, importance-sampled log-likelihood, figures."""

import numpy as np
import pytest
import torch

from vaecourse.metrics import KLRecorder, active_units, kl_active_units, kl_per_unit, test_log_likelihood, unit_activity
from vaecourse.models import LadderVAE
from vaecourse.objectives import importance_weighted_bound, ladder_elbo
from vaecourse.train import fit
from vaecourse.viz import active_units_figure, depth_figure, kl_heatmap_figure, layer_pca_figure, pca_2d
from vaecourse.viz.figure import CourseFigure


def _model(**kw):
    torch.manual_seed(0)
    return LadderVAE(**({"latent_sizes": [4, 2], "hidden_sizes": [16, 8], "image_shape": (1, 6, 6)} | kw))


def _images(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.rand(n, 1, 6, 6, generator=g), generator=g)


def test_unit_activity_is_the_variance_over_examples_of_the_posterior_means():
    means = torch.randn(50, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    np.testing.assert_allclose(unit_activity(means).numpy(), np.cov(means.numpy().T).diagonal())
    with pytest.raises(ValueError, match=r"\(N >= 2, D\)"):
        unit_activity(torch.zeros(1, 3))


def test_active_units_counts_the_units_that_move_with_x():
    x = torch.linspace(0, 1, 30).view(30, 1, 1, 1)

    def representation(batch):  # unit 0 moves a lot, unit 1 a little (var 0.0009 < 0.01), unit 2 never
        t = batch.view(-1, 1)
        return [torch.cat([3 * t, 0.1 * t, torch.ones_like(t)], 1), 2 * t]

    result = active_units(x, representation, batch_size=7)
    assert result["active_per_layer"] == [1, 1] and result["active"] == 2 and result["units_per_layer"] == [3, 1]
    np.testing.assert_allclose(result["activity"][0], np.var(np.c_[3 * x.view(-1), 0.1 * x.view(-1), np.ones(30)],
                                                             axis=0, ddof=1), rtol=1e-6)
    # a single tensor is one layer; the batch size does not change the answer
    assert active_units(x, lambda b: representation(b)[0], batch_size=30)["active_per_layer"] == [1]
    with pytest.raises(ValueError, match="batch_size"):
        active_units(x, representation, batch_size=0)


def test_a_fresh_model_on_random_inputs_and_its_layer_means():
    model, x = _model(), _images()
    model.eval()
    result = active_units(x, lambda b: model.layer_means(b, n_samples=2, generator=torch.Generator().manual_seed(0)))
    assert result["units_per_layer"] == [4, 2]
    assert all(0 <= a <= d for a, d in zip(result["active_per_layer"], [4, 2]))


def test_kl_recorder_averages_each_epoch():
    recorder = KLRecorder(steps_per_epoch=2)

    class T:
        def __init__(self, v):
            self.extras = {"kl_units": torch.tensor([[v, 2 * v], [v, 2 * v]])}

    for step, v in enumerate([1.0, 3.0, 5.0, 7.0, 9.0]):
        recorder(step, None, T(v))
    np.testing.assert_allclose(recorder.epochs, [[2.0, 4.0], [6.0, 12.0]])  # the unfinished 3rd epoch is not a row
    with pytest.raises(ValueError, match="kl_units"):
        recorder(5, None, object())
    with pytest.raises(ValueError, match="steps_per_epoch"):
        KLRecorder(0)


def test_kl_recorder_inside_fit_matches_the_objective():
    model, data = _model(), _images(32)
    recorder = KLRecorder(steps_per_epoch=4)
    fit(model, ladder_elbo, data, epochs=2, batch_size=8, callbacks=[recorder], progress=False)
    assert recorder.epochs.shape == (2, 6) and (recorder.epochs >= 0).all()
    model.eval()
    per_unit = kl_per_unit(model, data, batch_size=5, generator=torch.Generator().manual_seed(0))
    assert per_unit.shape == (6,) and (per_unit >= 0).all()


def test_test_log_likelihood_is_the_chunked_bound_in_eval_mode():
    model, x = _model(), _images(10)
    model.train()
    result = test_log_likelihood(model, x, k=30, chunk_size=7, batch_size=4, generator=torch.Generator().manual_seed(1))
    assert model.training  # restored
    model.eval()
    direct = importance_weighted_bound(model, x, 30, chunk_size=30, generator=torch.Generator().manual_seed(1))
    # same generator, same order of draws over batches of 4 -> compare batch by batch
    expected = torch.cat([importance_weighted_bound(model, x[s:s + 4], 30, chunk_size=30,
                                                    generator=g) for g in [torch.Generator().manual_seed(1)]
                          for s in range(0, 10, 4)])
    torch.testing.assert_close(result["per_example"], expected.double())
    assert result["log_likelihood"] == pytest.approx(float(expected.double().mean()))
    assert direct.shape == (10,)
    # the bound with k samples sits above the ELBO's average
    elbo = ladder_elbo(model(x, generator=torch.Generator().manual_seed(2)), x).elbo.mean().item()
    big = test_log_likelihood(model, x, k=500, chunk_size=100, generator=torch.Generator().manual_seed(3))
    assert big["log_likelihood"] > elbo
    with pytest.raises(ValueError, match="k \\(the number"):
        test_log_likelihood(model, x, k=0)


def test_figures_render():
    kl = np.abs(np.random.default_rng(0).normal(size=(5, 6)))
    kl[:, 4:] = 0.0  # a collapsed top layer
    for fig in [kl_heatmap_figure({"VAE": kl, "LVAE": kl + 0.1}, [4, 2], title="t"),
                kl_heatmap_figure({"VAE": kl}, [4, 2], threshold=0.01),
                active_units_figure({"VAE": [3, 0], "LVAE": [4, 2]}, [4, 2]),
                active_units_figure({"VAE": [3, 0]}, [4, 2], kl_runs={"VAE": [2, 0]}),
                depth_figure({"VAE": {1: (-100.0, 1.0), 2: (-99.0, 1.0)}, "LVAE": {1: (-100.0, 1.0)}}, k=10),
                layer_pca_figure([torch.randn(50, 4), torch.randn(50, 1)], labels=torch.arange(50) % 10)]:
        assert isinstance(fig, CourseFigure)
        assert fig._repr_png_()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match=r"shape \(epochs, 6\)"):
        kl_heatmap_figure({"VAE": kl[:, :5]}, [4, 2])
    with pytest.raises(ValueError, match="one per layer"):
        active_units_figure({"VAE": [1]}, [4, 2])
    with pytest.raises(ValueError, match="same runs"):
        active_units_figure({"VAE": [1, 0]}, [4, 2], kl_runs={"LVAE": [1, 0]})
    with pytest.raises(ValueError, match="threshold must be > 0"):
        kl_heatmap_figure({"VAE": kl}, [4, 2], threshold=0.0)


def test_kl_active_units_counts_what_the_thresholded_heatmap_shows_white():
    kl = np.array([0.5, 0.011, 0.009, 0.0, 2.0, 0.001])  # layer z1: 4 units, z2: 2 units
    out = kl_active_units(kl, [4, 2])
    assert out["active_per_layer"] == [2, 1] and out["active"] == 3 and out["units_per_layer"] == [4, 2]
    assert kl_active_units(kl, [4, 2], threshold=0.1)["active_per_layer"] == [1, 1]
    # the heatmap with the same threshold draws exactly the inactive units below its colour scale (white)
    fig = kl_heatmap_figure({"run": kl[None, :]}, [4, 2], threshold=0.01)
    image = fig.axes[0].images[0]
    below = image.get_array().data[:, 0] < image.norm.vmin
    assert below.tolist() == [k < 0.01 for k in kl] and tuple(image.cmap.get_under()[:3]) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        kl_active_units(kl[:5], [4, 2])


def test_pca_finds_the_direction_of_largest_spread():
    t = np.linspace(-1, 1, 20)
    z = np.c_[t, 2 * t, np.zeros(20)]  # all points on one line
    xy = pca_2d(z)
    np.testing.assert_allclose(np.abs(xy[:, 0]), np.abs(t) * np.sqrt(5), atol=1e-9)
    np.testing.assert_allclose(xy[:, 1], 0, atol=1e-9)
    assert pca_2d(np.c_[t]).shape == (20, 2)
