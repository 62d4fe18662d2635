"""Issue 25, the seventh probe (figures and widgets): refusals naming the argument the caller passed (render_traversal's
dim, traversal_figure's dims, traversal_row_figure's z, the explorers' x in the caller's words), dict keys that read
alike (1 and '1') refused and tuple keys drawn as text in every figure titled by its keys, a counterfactual of bytes,
a float index, display names and out-of-range do() values in render_intervention, negative KLs, scores off the axes,
codes beyond float32, "corr = +nan", bool titles and an unbounded adjacency figure; valid input still accepted."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

pytest.importorskip("ipywidgets")

from vaecourse import viz, widgets  # noqa: E402
from vaecourse.data import Pendulum  # noqa: E402
from vaecourse.models import VAE  # noqa: E402
from vaecourse.train import History  # noqa: E402
from vaecourse.viz import beta, causal, images, ladder, metrics  # noqa: E402


def vae(d: int = 3) -> VAE:
    torch.manual_seed(0)
    return VAE(latent_dim=d, image_shape=(1, 4, 4), encoder="mlp", decoder="mlp").eval()


M = vae()
X = torch.rand(3, 1, 4, 4)
P = Pendulum(size=16)
SCENE = P.from_labels(torch.zeros(1, 4))[0]
H = History(steps=[1, 2, 3], records={"beta": [1., 1., 1.], "kl": [1., 2., 3.], "log_px_z": [-1., -2., -3.]})
KL = np.random.default_rng(0).random((3, 6))
MAT = np.random.default_rng(0).random((3, 2))
S = {"x1": torch.randn(50), "x2": torch.randn(50)}
NAMES = ["angle", "light", "length", "position"]


def same(x, u, iv):
    return x.clone()


def quiet(f):
    with contextlib.redirect_stdout(io.StringIO()):
        return f()


REFUSED = [
    ("render_traversal dim", lambda: widgets.render_traversal(M, torch.zeros(3), 3, 0.0),
     r"^render_traversal's dim must be a latent dimension 0\.\.2 of the model, got 3$"),
    ("sweep tuple key alike", lambda: widgets.sweep_traversal_explorer({1: M, "1": M}, X),
     r"^sweep_traversal_explorer's models must have keys that read differently"),
    ("sweep x pixels", lambda: widgets.sweep_traversal_explorer({"a": M}, X * 2),
     r"^sweep_traversal_explorer's x expected pixel values in \[0, 1\]"),
    ("beta_explorer x pixels", lambda: widgets.beta_explorer({"a": M}, X * 2),
     r"^beta_explorer's x expected pixel values"),
    ("bytes counterfactual", lambda: causal.render_intervention(lambda x, u, iv: (x * 255).int(), P, SCENE, {0: 0.5}),
     r"^render_intervention's counterfactual_fn must return finite images .*floating .*dtype torch.int32$"),
    ("bytes explorer", lambda: quiet(lambda: widgets.intervention_explorer(lambda x, u, iv: (x * 255).int(), P, SCENE)),
     r"^intervention_explorer's counterfactual_fn must return finite images .*floating"),  # at the call (probe 10)
    ("float index", lambda: causal.render_intervention(same, P, SCENE, {1.0: 0.5}),
     r"^render_intervention's interventions must map concept indices 0\.\.3 .*got \[1\.0\]$"),
    ("bool index", lambda: causal.render_intervention(same, P, SCENE, {True: 0.5}),
     r"^render_intervention's interventions must map concept indices"),
    ("label out of range", lambda: causal.render_intervention(same, P, SCENE, {0: 100.0}),
     r"^render_intervention's interventions\[0\] must be a label value of theta .*got 100$"),
    ("traversal_figure dims", lambda: viz.traversal_figure(M, torch.zeros(3), dims=[3]),
     r"^traversal_figure's dims: latent dimension 3 does not exist"),
    ("traversal_figure no dims", lambda: viz.traversal_figure(M, torch.zeros(3), dims=[]),
     r"^traversal_figure draws len\(dims\) x len\(values\) images"),
    ("highlight -1", lambda: viz.traversal_figure(M, torch.zeros(3), highlight=(-1, 0.0)),
     r"^traversal_figure's highlight must be \(dim, value\)"),
    ("row figure dim", lambda: beta.traversal_row_figure(M, torch.zeros(3), 3, 0.0),
     r"^traversal_row_figure's dim must be a latent dimension 0\.\.2"),
    ("row figure value", lambda: beta.traversal_row_figure(M, torch.zeros(3), 0, 1e6),
     r"^traversal_row_figure's value must be a finite latent value"),
    ("code 1e300 images", lambda: images.traversal_images(M, torch.full((3,), 1e300, dtype=torch.float64), [0], [0.]),
     r"^traversal_images' z must be one latent code: .*at most 3\.4e\+38"),
    ("code 1e300 row", lambda: beta.traversal_row_figure(M, torch.full((3,), 1e300, dtype=torch.float64), 0, 0.0),
     r"^traversal_row_figure's z must be one latent code"),
    ("code 1e39 row", lambda: beta.traversal_row_figure(M, np.full(3, 1e39), 0, 0.0),
     r"^traversal_row_figure's z must be one latent code"),
    ("code 1e300 figure", lambda: viz.traversal_figure(M, torch.full((3,), 1e300, dtype=torch.float64)),
     r"^traversal_figure's z must be one latent code.*float64$"),
    ("multiplier alike", lambda: beta.multiplier_figure({1: H, "1": H}), r"^multiplier_figure's runs must have keys"),
    ("kl per dim alike", lambda: beta.kl_per_dimension_figure({1: [0.1], "1": [0.2]}),
     r"^kl_per_dimension_figure's kls must have keys"),
    ("matrix alike", lambda: metrics.matrix_figure({1: MAT, "1": MAT}, ["f1", "f2"]),
     r"^matrix_figure's matrices must have keys"),
    ("heatmap alike", lambda: ladder.kl_heatmap_figure({1: KL, "1": KL}, [4, 2]), r"^kl_heatmap_figure's runs must have"),
    ("active alike", lambda: ladder.active_units_figure({1: [2, 1], "1": [1, 1]}, [4, 2]),
     r"^active_units_figure's runs must have keys"),
    ("depth alike", lambda: ladder.depth_figure({1: {1: (-90., .5)}, "1": {1: (-90., .5)}}, k=10),
     r"^depth_figure's results must have keys"),
    ("score alike", lambda: causal.score_figure({1: {"mic": .5, "tic": .5}, "1": {"mic": .5, "tic": .5}}),
     r"^score_figure's scores must have keys"),
    ("mic alike", lambda: causal.mic_matrix_figure({1: MAT, "1": MAT}, ["a", "b"]),
     r"^mic_matrix_figure's matrices must have keys"),
    ("scatter alike", lambda: causal.scm_scatter_figure({1: S, "1": S}, "x1", "x2"),
     r"^scm_scatter_figure's panels must have keys"),
    ("negative kl", lambda: beta.multiplier_figure({"a": {"steps": [1, 2], "records": {
        "beta": [1., 1.], "kl": [-5., -1.], "log_px_z": [-1., -1.]}}}),
     r"^multiplier_figure's runs\['a'\]'s records\['kl'\] must be KLs >= 0 \(nats\), got -5 at step 1$"),
    ("score above", lambda: metrics.score_bars({"a": [1.5]}), r"^score_bars' scores\['a'\] must hold scores inside ylim"),
    ("score below", lambda: metrics.score_bars({"a": [-0.1]}), r"^score_bars' scores\['a'\] must hold scores inside"),
    ("score ylim", lambda: metrics.score_bars({"a": [0.5]}, ylim=(0, 0.3)), r"inside ylim \(0, 0\.3\)"),
    ("chance above", lambda: metrics.score_bars({"a": [0.5]}, chance=1.5), r"^score_bars' chance must lie inside ylim"),
    ("chance below", lambda: metrics.score_bars({"a": [0.5]}, chance=-1), r"^score_bars' chance must lie inside ylim"),
    ("grouped above", lambda: metrics.grouped_score_bars({"r": {"m": [2.0]}}),
     r"^grouped_score_bars' table\['r'\]\['m'\] must hold scores inside ylim"),
    ("bool values", lambda: causal.intervention_grid_figure(torch.rand(1, 3, 1, 4, 4), torch.rand(1, 3, 1, 4, 4), ["a"],
                                                            values=[[True, 0.2, 0.3]]),
     r"^intervention_grid_figure's values must be finite numbers .*not bools"),
    ("adjacency 2000", lambda: causal.adjacency_figure(torch.rand(2000, 2000), torch.zeros(2000, 2000),
                                                       [str(i) for i in range(2000)]),
     r"^adjacency_figure's names must name 1 to 64 concepts .*got 2,000$"),
]


@pytest.mark.parametrize("case, call, message", REFUSED, ids=[row[0] for row in REFUSED])
def test_refused_in_the_callers_words(case, call, message):
    with pytest.raises(ValueError, match=message):
        call()


ACCEPTED = [
    ("render_traversal last dim", lambda: widgets.render_traversal(M, torch.zeros(3), 2, 0.0)),
    ("highlight", lambda: viz.traversal_figure(M, torch.zeros(3), highlight=(1, 0.0))),
    ("row figure", lambda: beta.traversal_row_figure(M, torch.zeros(3, dtype=torch.float64), 2, 0.5)),
    ("sweep tuple key", lambda: widgets.sweep_traversal_explorer({(1, 2): M}, X)),
    ("sweep int key", lambda: widgets.sweep_traversal_explorer({4: M, "b": vae(2)}, X)),
    ("multiplier tuple key", lambda: beta.multiplier_figure({(1, 2): H})),
    ("scatter tuple key", lambda: causal.scm_scatter_figure({(1, 2): S}, "x1", "x2")),
    ("display names", lambda: causal.render_intervention(same, P, SCENE, {0: 0.2}, concept_names=NAMES)),
    ("numpy index", lambda: causal.render_intervention(same, P, SCENE, {np.int64(1): 0.0})),
    ("lecture intervention", lambda: causal.render_intervention(same, P, SCENE, {1: 0.0})),
    ("explorer", lambda: widgets.intervention_explorer(same, P, SCENE)),
    ("score inside", lambda: metrics.score_bars({"a": [0.5, 1.0]}, chance=0.25)),
    ("score no ylim", lambda: metrics.score_bars({"a": [1.5]}, chance=-1, ylim=None)),
    ("grouped inside", lambda: metrics.grouped_score_bars({"r": {"m": [0.2], "n": [1.0]}})),
    ("multiplier kl rounding", lambda: beta.multiplier_figure({"a": {"steps": [1, 2], "records": {
        "beta": [1., 1.], "kl": [-1e-9, 1.], "log_px_z": [-1., -1.]}}})),
    ("grid values", lambda: causal.intervention_grid_figure(torch.rand(1, 3, 1, 4, 4), torch.rand(1, 3, 1, 4, 4), ["a"],
                                                            values=[[0.1, 0.2, 0.3]])),
    ("adjacency 64", lambda: causal.adjacency_figure(torch.zeros(3, 3), torch.zeros(3, 3), ["a", "b", "c"])),
]


@pytest.mark.parametrize("case, call", ACCEPTED, ids=[row[0] for row in ACCEPTED])
def test_valid_input_still_accepted(case, call):
    assert quiet(call) is not None


@pytest.mark.parametrize("panels, words", [({"obs": S}, "one point"),
                                           ({"o": {"x1": np.random.randn(50), "x2": [0.0] * 50}}, "a constant variable")])
def test_scatter_corr_undefined_not_nan(panels, words):
    fig = causal.scm_scatter_figure(panels, "x1", "x2", max_points=1 if words == "one point" else 1500)
    title = fig.axes[0].get_title()
    assert "nan" not in title and f"corr undefined ({words})" in title


def test_tuple_key_drawn_as_its_text():
    fig = beta.multiplier_figure({(1, 2): H})
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["(1, 2)"]
