"""Issue 25, the sixth probe (figures and widgets): unbounded panel counts refused up front naming the argument,
integer images refused by every figure that draws images in [0, 1], values outside what a figure's axis or colour
scale shows refused, refusals that name the argument the caller passed, and valid input (a scene on the
simulator's bounds, non-string model labels, a 0-d tensor score) accepted."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

pytest.importorskip("ipywidgets")

from vaecourse import viz, widgets  # noqa: E402
from vaecourse.data import Pendulum  # noqa: E402
from vaecourse.data.pendulum import CONCEPTS, RANGES  # noqa: E402
from vaecourse.models import VAE  # noqa: E402
from vaecourse.train import History  # noqa: E402


def vae(d: int = 2) -> VAE:
    torch.manual_seed(0)
    return VAE(latent_dim=d, image_shape=(1, 4, 4), encoder="mlp", decoder="mlp").eval()


X = torch.rand(3, 1, 4, 4)
BYTES = (torch.rand(3, 1, 4, 4) * 255).byte()
PEND = Pendulum(size=8)


def quiet(build):
    """Build an explorer (its output area prints a figure's repr outside a notebook)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return build()


def run(history: dict):
    return {"steps": history["steps"], "records": {k: history.get(k, [1.0] * len(history["steps"]))
                                                   for k in ("beta", "kl", "log_px_z")}}


# ---- integer images: one refusal, the one image_grid gives, for every figure of images in [0, 1] -------------------
INTEGER_IMAGES = [
    ("image_grid's images", lambda: viz.image_grid(np.full((2, 1, 4, 4), 200, dtype=np.int64))),
    ("image_grid's images", lambda: viz.image_grid(BYTES)),
    ("reconstruction_figure's x", lambda: viz.reconstruction_figure(BYTES, BYTES)),
    ("reconstruction_figure's x_hat", lambda: viz.reconstruction_figure(X, BYTES)),
    ("sweep_model_figure's x", lambda: viz.sweep_model_figure(vae(), BYTES, "b")),
    ("beta_explorer's x", lambda: widgets.beta_explorer({"a": vae()}, BYTES)),
    ("sweep_traversal_explorer's x", lambda: widgets.sweep_traversal_explorer({"a": vae()}, BYTES)),
    ("intervention_grid_figure's model_images", lambda: viz.intervention_grid_figure(
        (torch.rand(2, 3, 1, 4, 4) * 255).byte(), torch.rand(2, 3, 1, 4, 4), ["a", "b"])),
    ("intervention_grid_figure's true_images", lambda: viz.intervention_grid_figure(
        torch.rand(2, 3, 1, 4, 4), (torch.rand(2, 3, 1, 4, 4) * 255).byte(), ["a", "b"])),
    ("pendulum_reference_figure's official", lambda: viz.pendulum_reference_figure(
        (torch.rand(2, 3, 4, 4) * 255).byte(), torch.rand(2, 3, 4, 4))),
    ("pendulum_reference_figure's simulated", lambda: viz.pendulum_reference_figure(
        torch.rand(2, 3, 4, 4), (torch.rand(2, 3, 4, 4) * 255).byte())),
    ("pendulum_reference_figure's small", lambda: viz.pendulum_reference_figure(
        torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4), np.full((2, 3, 2, 2), 9, dtype=np.uint8))),
    ("ownership_figure's image", lambda: viz.ownership_figure(torch.rand(2, 4, 4) / 2, ["a", "b"],
                                                               (torch.rand(1, 4, 4) * 255).byte())),
    ("image_grid's images", lambda: viz.image_grid(torch.rand(2, 1, 4, 4) > 0.5)),  # a bool mask: .float() it
]


@pytest.mark.parametrize("name, call", INTEGER_IMAGES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(INTEGER_IMAGES)])
def test_integer_images_are_refused_by_every_image_figure(name, call):
    with pytest.raises(ValueError, match=rf"{name} must be floating .* divide bytes by 255 first"):
        call()


def test_simulated_frames_must_be_in_0_1_but_the_official_bytes_0_1_draw():
    bytes_ = (torch.rand(4, 4, 4) * 255).byte()
    for frames in (bytes_, bytes_.float()):  # 0..255: every pixel would count as "on" in the "px differ" titles
        with pytest.raises(ValueError, match=r"simulated_vs_official_figure's official must be finite images .* in "
                                             r"\[0, 1\] \(bytes 0\.\.255: divide by 255 first\)"):
            viz.simulated_vs_official_figure(frames, frames, ["r1", "r2"], ["c1", "c2"])
    ones = (torch.rand(4, 4, 4) > 0.5).to(torch.uint8)  # the official dSprites frames are 0/1 bytes (lecture 01)
    viz.simulated_vs_official_figure(ones, ones, ["r1", "r2"], ["c1", "c2"])


def test_simulated_vs_official_names_the_labels_when_the_counts_differ():
    with pytest.raises(ValueError, match=r"simulated_vs_official_figure needs len\(row_labels\) x "
                                         r"len\(column_labels\) = 1 x 2 = 2 official and simulated frames"):
        viz.simulated_vs_official_figure(torch.rand(4, 4, 4), torch.rand(4, 4, 4), ["r1"], ["c1", "c2"])


# ---- panel counts bounded up front, naming the argument ------------------------------------------------------------
PANELS = [
    (r"sweep_model_figure's x must be at most 505 images \(two panels each, beside 2 x 7 traversal cells: at most "
     r"1,024 panels\), got 1,000", lambda: viz.sweep_model_figure(vae(), torch.rand(1000, 1, 4, 4), "b")),
    (r"beta_explorer's x must be at most 505 images .* got 600",
     lambda: widgets.beta_explorer({"a": vae()}, torch.rand(600, 1, 4, 4))),
    (r"rate_distortion_figure's points must be 1 to 1,024 points, got 10,000",
     lambda: viz.rate_distortion_figure([{"label": str(i), "kl": float(i), "log_px_z": -5.0} for i in range(10 ** 4)])),
    (r"kl_per_dimension_figure's kls must hold 1 to 64 models, got 1,000",
     lambda: viz.kl_per_dimension_figure({str(i): [1.0] for i in range(1000)})),
    (r"ownership_figure's names must name 1 to 64 concepts .* got 2,000",
     lambda: viz.ownership_figure(torch.rand(2000, 1, 1), [str(i) for i in range(2000)])),
    (r"intervention_grid_figure's model_images must be finite images \(K, V, C, H, W\).* K x \(2 V \+ 1\) at most "
     r"1,024 panels", lambda: viz.intervention_grid_figure(torch.rand(2, 500, 1, 2, 2), torch.rand(2, 500, 1, 2, 2),
                                                          ["a", "b"])),
]


@pytest.mark.parametrize("words, call", PANELS, ids=[w.split(" ")[0] for w, _ in PANELS])
def test_panel_counts_are_refused_up_front(words, call):
    with pytest.raises(ValueError, match=words):
        call()


def test_sweep_model_figure_and_beta_explorer_take_the_lecture_sizes():
    viz.sweep_model_figure(vae(3), torch.rand(6, 1, 4, 4), "b")  # lecture 02 draws x_eval[:6]
    viz.sweep_model_figure(vae(3), torch.rand(60, 1, 4, 4), "b", n_latents=2, steps=3)
    quiet(lambda: widgets.beta_explorer({"a": vae(), "b": vae(3)}, torch.rand(6, 1, 4, 4)))


def test_sweep_model_figure_refuses_a_span_by_its_name():
    for span in (5000.0, 1e30):
        with pytest.raises(ValueError, match=r"sweep_model_figure's span must be a finite number > 0 .*at most 1000"):
            viz.sweep_model_figure(vae(), X, "b", span=span)


def test_intervention_grid_figure_takes_a_grid_that_fits():
    viz.intervention_grid_figure(torch.rand(2, 7, 1, 2, 2), torch.rand(2, 7, 1, 2, 2), ["a", "b"])


# ---- values a figure's axis or colour scale cannot show ------------------------------------------------------------
OUT_OF_RANGE = [
    (r"rate_distortion_figure's points' kl must be KLs >= 0 \(nats\), one finite number per point \(1\), got "
     r"\[\[1\.0, 2\.0\]\]", lambda: viz.rate_distortion_figure([{"label": "a", "kl": [1.0, 2.0], "log_px_z": -5.0}])),
    (r"rate_distortion_figure's points' kl must be KLs >= 0",
     lambda: viz.rate_distortion_figure([{"label": "a", "kl": -5.0, "log_px_z": -50.0}])),
    (r"rate_distortion_figure's points' log_px_z must be log-likelihoods \(nats\), one finite number per point",
     lambda: viz.rate_distortion_figure([{"label": "a", "kl": 1.0, "log_px_z": [1.0, 2.0]}])),
    (r"multiplier_figure's runs\['a'\]'s steps must be finite steps in increasing order",
     lambda: viz.multiplier_figure({"a": run({"steps": [5, 1, 3]})})),
    (r"multiplier_figure's runs\['a'\]'s records\['beta'\] must be multipliers >= 0, got -1 at step 1",
     lambda: viz.multiplier_figure({"a": run({"steps": [0, 1], "beta": [1.0, -1.0]})})),
    (r"multiplier_figure's epsilon must be a finite number >= 0",
     lambda: viz.multiplier_figure({"a": run({"steps": [0, 1]})}, epsilon=-3.0)),
    (r"zdiff_figure's features must be finite z_diff features \(n, D\) >= 0",
     lambda: viz.zdiff_figure(-np.ones((2, 3)), np.array([0, 1]), ["a", "b"])),
    (r"kl_estimator_figure's exact must be the closed-form KL: a finite number >= 0",
     lambda: viz.kl_estimator_figure([1], [np.random.rand(5)], -1.0)),
    (r"ownership_figure's owned must be finite shares \(K, H, W\) in \[0, 1\]",
     lambda: viz.ownership_figure(torch.rand(2, 4, 4) + 1, ["a", "b"])),
    (r"ownership_figure's owned must be finite shares \(K, H, W\) in \[0, 1\]",
     lambda: viz.ownership_figure(-torch.rand(2, 4, 4) - 0.01, ["a", "b"])),
    (r"score_figure's scores\['m'\]\['mic'\] must be a score in \[0, 1\]",
     lambda: viz.score_figure({"m": {"mic": 5.0, "tic": 0.3}})),
    (r"score_figure's scores\['m'\]\['tic'\] must be a score in \[0, 1\]",
     lambda: viz.score_figure({"m": {"mic": 0.5, "tic": -1.0}})),
    (r"kl_heatmap_figure's vmax must be a finite number above log10\(threshold\) \(1\)",
     lambda: viz.kl_heatmap_figure({"r": np.random.rand(5, 5)}, [3, 2], vmax=-3.0, threshold=10.0)),
    (r"layer_pca_figure's labels must be one digit label 0\.\.9 per sample \(10\)",
     lambda: viz.layer_pca_figure([np.random.randn(10, 3)], labels=np.arange(10) + 20)),
    (r"pca_2d's z must be finite samples \(N >= 2, D\) of one layer, at most 2\*\*24",
     lambda: viz.pca_2d(torch.zeros(2 ** 12 + 1, 2 ** 12))),
    (r"traversal_figure's highlight names latent dimension 1, which is not drawn: dims are \[0\]",
     lambda: viz.traversal_figure(vae(), torch.zeros(2), dims=[0], highlight=(1, 0.0))),
    (r"render_traversal's value must be a finite number in \[-span, span\] = \[-3, 3\]",
     lambda: widgets.render_traversal(vae(), torch.zeros(2), 0, 5000.0)),
]


@pytest.mark.parametrize("words, call", OUT_OF_RANGE, ids=[w.split(" ")[0] + str(i) for i, (w, _) in
                                                            enumerate(OUT_OF_RANGE)])
def test_values_outside_what_the_figure_shows_are_refused(words, call):
    with pytest.raises(ValueError, match=words):
        call()


def test_values_inside_what_the_figure_shows_still_draw():
    viz.rate_distortion_figure([{"label": "a", "kl": torch.tensor(3.0), "log_px_z": torch.tensor(50.0)},
                                {"label": "b", "kl": np.float32(1.0), "log_px_z": -5}])  # log p(x|z) > 0: a density
    fig = viz.rate_distortion_figure([{"label": "a", "kl": 1.0, "log_px_z": 50.0}])
    low, high = fig.axes[0].get_ylim()
    assert low < -50 < high  # the distortion -50 is inside the axis, not cut by an inverted one
    viz.multiplier_figure({"a": run({"steps": [0, 1, 2], "beta": [0.0, 1.0, 2.0]})}, epsilon=0.0)
    h = History()
    for step in range(3):
        h.append(step, {"beta": 1.0, "kl": 2.0, "log_px_z": -3.0})
    viz.multiplier_figure({"a": h})
    viz.kl_heatmap_figure({"r": np.random.rand(5, 5)}, [3, 2], vmax=2.0, threshold=10.0)
    viz.layer_pca_figure([np.random.randn(10, 3)], labels=np.arange(10))
    viz.traversal_figure(vae(), torch.zeros(2), dims=[1], highlight=(1, 0.0))
    widgets.render_traversal(vae(), torch.zeros(2), 0, 3.0)
    viz.ownership_figure(torch.rand(2, 4, 4) / 2, ["a", "b"])
    viz.kl_estimator_figure([1, 10], [np.random.rand(2000), np.random.rand(2000)], 0.0)  # lecture 01's 2,000 values


def test_signed_matrices_are_drawn_on_a_scale_that_holds_them():
    matrix = -np.array([[2.0, 1.5], [1.0, 1.2], [1.8, 1.1]])  # signed scores (e.g. correlations) below 0
    fig = viz.matrix_figure({"m": matrix}, ["a", "b"])
    low, high = fig.axes[0].images[0].get_clim()
    assert low <= -2 and high >= -1  # every cell inside the colour scale, none clipped to the colour of 0
    fig = viz.matrix_figure({"m": np.random.rand(3, 2)}, ["a", "b"])
    assert fig.axes[0].images[0].get_clim()[0] == 0.0  # scores >= 0 keep their scale from 0


def test_a_zero_dimensional_tensor_score_draws():
    viz.score_figure({"m": {"mic": torch.tensor(0.4), "tic": 0.3}, "n": {"mic": np.float64(1.0), "tic": 0}})
    with pytest.raises(ValueError, match=r"score_figure's scores\['m'\]\['mic'\] must be a score in \[0, 1\]"):
        viz.score_figure({"m": {"mic": torch.tensor([0.4]), "tic": 0.3}})


# ---- names and labels: none lost, none drawn twice -----------------------------------------------------------------
TWICE = [
    (r"score_bars' scores must have keys that read differently as labels, got \[1, '1'\] all shown as \['1'\]",
     lambda: viz.score_bars({1: [0.5], "1": [0.7]})),
    (r"grouped_score_bars' table must have keys that read differently as labels",
     lambda: viz.grouped_score_bars({1: {"m": [0.1]}, "1": {"m": [0.2]}})),
    (r"grouped_score_bars' table\['a'\] must have keys that read differently as labels",
     lambda: viz.grouped_score_bars({"a": {1: [0.1], "1": [0.2]}})),
    (r"beta_explorer's models must have keys that read differently as labels",
     lambda: widgets.beta_explorer({1: vae(), "1": vae()}, X)),
    (r"matrix_figure's factor_names must be a list of distinct strings",
     lambda: viz.matrix_figure({"m": np.random.rand(3, 2)}, ["a", "a"])),
    (r"zdiff_figure's factor_names must be a list of distinct strings",
     lambda: viz.zdiff_figure(np.ones((2, 3)), np.array([0, 1]), ["a", "a"])),
    (r"mic_matrix_figure's concept_names must be a list of distinct strings",
     lambda: viz.mic_matrix_figure({"m": np.random.rand(3, 2)}, ["a", "a"])),
    (r"adjacency_figure's names must be a list of distinct strings",
     lambda: viz.adjacency_figure(torch.zeros(2, 2), torch.zeros(2, 2), ["a", "a"])),
    (r"history_figure's panels must be 1 to 16 groups of terms, each a list of distinct term names",
     lambda: viz.history_figure(History(steps=[0, 1], records={"elbo": [1.0, 2.0]}), panels=[["elbo", "elbo"]])),
]


@pytest.mark.parametrize("words, call", TWICE, ids=[w.split(" ")[0] + str(i) for i, (w, _) in enumerate(TWICE)])
def test_names_read_alike_are_refused(words, call):
    with pytest.raises(ValueError, match=words):
        call()


def test_non_string_model_labels_work_in_beta_explorer_as_in_sweep_traversal_explorer():
    models = {1: vae(), 2: vae(3)}
    quiet(lambda: widgets.sweep_traversal_explorer(models, X))
    quiet(lambda: widgets.beta_explorer(models, X))
    viz.score_bars({1: [0.5], 2: [0.7]})
    viz.history_figure(History(steps=[0, 1], records={"elbo": [1.0, 2.0]}), panels=[["elbo"], ["elbo"]])


# ---- the intervention explorer: a scene on the simulator's bounds, and a scene outside them ------------------------
BOUNDS = {"hi": [RANGES[n][1] for n in CONCEPTS], "lo": [RANGES[n][0] for n in CONCEPTS]}


@pytest.mark.parametrize("bound", sorted(BOUNDS))
def test_a_scene_on_the_simulators_bounds_is_explored(bound):
    scene = torch.tensor([BOUNDS[bound]], dtype=torch.float64)
    labels = PEND.labels(scene)[0]  # float32: 4.400000095 for the bound 4.4
    ranges = widgets.intervention_ranges(PEND, include=labels)
    assert all(lo <= round(v, 2) <= hi for v, (lo, hi) in zip(labels.tolist(), ranges))
    quiet(lambda: widgets.intervention_explorer(lambda x, u, i: x.clone(), PEND, scene))


def test_a_scene_outside_the_ranges_is_refused_by_its_own_name():
    with pytest.raises(ValueError, match=r"intervention_explorer's concepts must be a scene inside the simulator's "
                                         r"ranges .* got labels theta .*\(scene value 1e\+03\)"):
        widgets.intervention_explorer(lambda x, u, i: x.clone(), PEND, torch.tensor([1000.0, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"intervention_ranges' include must be label values the simulator accepts"):
        widgets.intervention_ranges(PEND, include=[5.0, 0.0, 0.0, 0.0])  # out of range: still refused
