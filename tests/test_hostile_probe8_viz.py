"""Issue 25, the eighth probe (figures and widgets): every number a figure draws at most values.MAX_MEASURED in size
(values, matrices, samples, steps, log-likelihoods, PCA inputs, graph weights, depth results, ylim ends, thresholds),
refused naming the argument before matplotlib's margins overflow; correlations on standardised values; 0-d tensors
where a number is asked; the whole figure's inches and panel count bounded, tick-label counts bounded, the marker
checked, concept names given twice refused; valid odd input (values at the bound, the course's own inputs) drawn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("ipywidgets")

from vaecourse import values as kinds, viz, widgets  # noqa: E402
from vaecourse.data import Pendulum  # noqa: E402
from vaecourse.models import VAE  # noqa: E402
from vaecourse.train import History  # noqa: E402
from vaecourse.viz import beta, causal, data, figure, images, ladder, metrics, training  # noqa: E402

torch.manual_seed(0)
M = VAE(latent_dim=3, image_shape=(1, 4, 4), encoder="mlp", decoder="mlp").eval()
X = torch.rand(3, 1, 4, 4)
P = Pendulum(size=8)
SCENE = P.from_labels(torch.zeros(1, 4))[0]
NAMES = ["angle", "light", "length", "position"]
BIG = 1e31  # just beyond MAX_MEASURED
HUGE = 1.7e308  # the probe's: float64's margins overflow


def run(value, steps=(1, 2, 3), **records) -> dict:
    out = {"beta": [1.0] * 3, "kl": [1.0] * 3, "log_px_z": [-1.0] * 3}
    out.update(records)
    return {"r": {"steps": list(steps), "records": out}}


def refused(call, words: str) -> None:
    """call() raises one ValueError of one line holding ``words`` (the argument it names)."""
    with pytest.raises(ValueError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and words in message, message


def pendulum_cf(x, u, iv):
    return x.clone()


# ---- magnitudes: each (call, the argument the message must name) ------------------------------------------------
def magnitude_cases(v):
    return [
        (lambda: viz.rate_distortion_figure([{"label": "a", "kl": v, "log_px_z": -10.0}]), "points' kl"),
        (lambda: viz.rate_distortion_figure([{"label": "a", "kl": 1.0, "log_px_z": -v}]), "points' log_px_z"),
        (lambda: viz.kl_per_dimension_figure({"a": [1.0, v]}), "kls['a']"),
        (lambda: viz.multiplier_figure(run(v, kl=[v] * 3)), "records['kl']"),
        (lambda: viz.multiplier_figure(run(v, log_px_z=[-1.0, -v, -1.0])), "records['log_px_z']"),
        (lambda: viz.multiplier_figure(run(v, steps=(1.0, 2.0, v))), "steps"),
        (lambda: viz.score_bars({"a": [v, -v]}, ylim=None), "scores['a']"),
        (lambda: viz.score_bars({"a": [0.5]}, ylim=(0.0, v)), "ylim"),
        (lambda: viz.score_bars({"a": [0.5]}, chance=v, ylim=None), "chance"),
        (lambda: viz.grouped_score_bars({"r": {"m": [v]}}, ylim=None), "table['r']['m']"),
        (lambda: viz.grouped_score_bars({"r": {"m": [0.5]}}, ylim=(-v, 1.0)), "ylim"),
        (lambda: viz.matrix_figure({"a": np.array([[v, -v]])}, ["u", "w"]), "matrices['a']"),
        (lambda: viz.zdiff_figure(np.array([[v, 0.0]]), np.array([0]), ["f"]), "features"),
        (lambda: viz.kl_heatmap_figure({"a": np.full((2, 3), v)}, [3]), "runs['a']"),
        (lambda: viz.kl_heatmap_figure({"a": np.ones((2, 3))}, [3], vmin=-v), "vmin"),
        (lambda: viz.kl_heatmap_figure({"a": np.ones((2, 3))}, [3], vmax=v), "vmax"),
        (lambda: viz.kl_heatmap_figure({"a": np.ones((2, 3))}, [3], threshold=v), "threshold"),
        (lambda: ladder.pca_2d(np.full((5, 3), v)), "pca_2d's z"),
        (lambda: viz.layer_pca_figure([np.full((3, 2), -v)]), "samples[0]"),
        (lambda: ladder.depth_figure({"a": {1: (-v, 1.0)}}, k=1), "results['a'][1]"),
        (lambda: ladder.depth_figure({"a": {1: (-90.0, v)}}, k=1), "results['a'][1]"),
        (lambda: viz.kl_estimator_figure([1], [np.full(3, v)], 0.5), "estimates"),
        (lambda: viz.kl_estimator_figure([1], [np.ones(3)], v), "exact"),
        (lambda: viz.history_figure(History(steps=[1, 2], records={"elbo": [-1.0, -min(v, 3e38)]}),
                                    panels=[["elbo"]]), "history['elbo']"),  # a History holds up to float32's max
        (lambda: viz.adjacency_figure(torch.full((4, 4), v, dtype=torch.float64), torch.zeros(4, 4), NAMES),
         "learned"),
        (lambda: viz.adjacency_figure(torch.zeros(4, 4), torch.full((4, 4), -v, dtype=torch.float64), NAMES), "true"),
        (lambda: viz.scm_scatter_figure({"o": {"a": torch.randn(20, dtype=torch.float64) * v, "b": torch.randn(20)}},
                                        "a", "b"), "panels['o']['a']"),
        (lambda: viz.scm_scatter_figure({"o": {"a": torch.randn(20), "b": torch.full((20,), v, dtype=torch.float64)}},
                                        "a", "b"), "panels['o']['b']"),
        (lambda: viz.intervention_grid_figure(torch.rand(1, 2, 1, 2, 2), torch.rand(1, 2, 1, 2, 2), ["a"],
                                              values=[[0.0, v]]), "values"),
        (lambda: causal.render_intervention(pendulum_cf, P, torch.tensor([0.0, v, 0.0, 0.0], dtype=torch.float64),
                                            {0: 0.5}), "concepts"),
        (lambda: widgets.intervention_explorer(pendulum_cf, P, torch.tensor([v, 0.0, 0.0, 0.0], dtype=torch.float64)),
         "concepts"),
    ]


MAGNITUDES = [(v, i) for v in (BIG, 3e35, HUGE) for i in range(len(magnitude_cases(v)))]


@pytest.mark.parametrize("v, i", MAGNITUDES, ids=[f"{v:g}-{i}" for v, i in MAGNITUDES])
def test_a_number_beyond_what_a_figure_draws_is_refused_by_name(v, i):
    call, name = magnitude_cases(v)[i]
    with pytest.raises(ValueError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and name in message, message


def test_values_at_the_bound_and_the_course_s_own_magnitudes_are_drawn():
    top = kinds.MAX_MEASURED
    viz.score_bars({"a": [top, -top]}, ylim=None)._repr_png_()
    viz.score_bars({"a": [0.5]}, ylim=(-top, top))
    viz.rate_distortion_figure([{"label": "a", "kl": top, "log_px_z": -1e4},
                                {"label": "b", "kl": 20.0, "log_px_z": -100.0, "marker": "s"}])._repr_png_()
    viz.kl_per_dimension_figure({"a": [top, 0.0]})
    viz.multiplier_figure(run(1.0, steps=(1, 10 ** 8, 10 ** 9), kl=[top] * 3, log_px_z=[-1e4] * 3))._repr_png_()
    viz.matrix_figure({"a": np.array([[top, -top]])}, ["u", "w"])._repr_png_()
    viz.adjacency_figure(torch.full((4, 4), top, dtype=torch.float64), torch.zeros(4, 4), NAMES)
    ladder.depth_figure({"a": {1: (-1e4, 0.5), 2: (-95.0, 0.1)}}, k=5000)._repr_png_()
    ladder.pca_2d(np.full((5, 3), top))
    viz.kl_estimator_figure([1, 10], [np.full(3, top), np.ones(3)], top)
    viz.history_figure(History(steps=[1, 2], records={"elbo": [-1.0, -top]}), panels=[["elbo"]])


@pytest.mark.parametrize("scale", [1e29, 1e-200, 1.0])
def test_correlations_are_computed_on_standardised_values(scale):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(50, dtype=torch.float64, generator=g) * scale
    b = a + 0.5 * scale * torch.randn(50, dtype=torch.float64, generator=g)
    title = viz.scm_scatter_figure({"obs": {"a": a, "b": b}}, "a", "b").axes[0].get_title()
    expected = float(np.corrcoef((a / scale).numpy(), (b / scale).numpy())[0, 1])
    assert "nan" not in title and f"{expected:+.2f}" in title, title
    const = viz.scm_scatter_figure({"obs": {"a": a, "b": torch.full((50,), scale, dtype=torch.float64)}}, "a", "b")
    assert "constant" in const.axes[0].get_title()


@pytest.mark.parametrize("low, high", [(0.0, torch.tensor(1.05)), (torch.tensor(0.0), torch.tensor(1.0)),
                                       (np.float32(0.0), torch.tensor(1.0, dtype=torch.float64)), (0, 1)])
def test_0d_tensors_and_numpy_scalars_are_numbers_in_ylim(low, high):
    viz.score_bars({"a": [0.5, 0.6]}, chance=torch.tensor(0.5), ylim=(low, high))
    fig = viz.grouped_score_bars({"r": {"m": [0.5]}}, ylim=[low, high])
    assert fig.axes[0].get_ylim() == (float(low), float(high))


@pytest.mark.parametrize("ylim", [(1.0, 0.0), (0.0,), "01", (0.0, float("nan")), (torch.zeros(2), 1.0), (True, 2.0),
                                  (0.0, None), (0.0, 10 ** 400)])
def test_a_bad_ylim_is_refused_by_name(ylim):
    for call in (lambda: viz.score_bars({"a": [0.5]}, ylim=ylim), lambda: viz.grouped_score_bars({"r": {"m": [0.5]}},
                                                                                                  ylim=ylim)):
        with pytest.raises(ValueError, match="ylim must be"):
            call()


# ---- the whole figure: inches and panels --------------------------------------------------------------------------
SIZES = [
    (lambda: viz.image_grid(torch.rand(1024, 1, 2, 2), ncols=1, size=100), "size and ncols"),
    (lambda: viz.image_grid(torch.rand(64, 1, 2, 2), ncols=8, size=90), "size and ncols"),
    (lambda: viz.image_grid(torch.rand(1, 1, 2, 2), ncols=700, size=1), "size and ncols"),
    (lambda: data.simulated_vs_official_figure(np.zeros((4, 2, 2)), np.zeros((4, 2, 2)), list("abcd"), ["x"],
                                               size=100), "size, row_labels and column_labels"),
    (lambda: viz.traversal_figure(M, torch.zeros(3), dims=[0], values=np.linspace(-1, 1, 700)), "dims and values"),
    (lambda: viz.traversal_row_figure(M, torch.zeros(3), 0, 0.0, steps=700), "steps"),
    (lambda: viz.sweep_model_figure(M, X, "m", n_latents=1, steps=652), "x, steps and n_latents"),
    (lambda: causal.pendulum_reference_figure(torch.rand(450, 1, 1, 1), torch.rand(450, 1, 1, 1)), "official"),
    (lambda: viz.grouped_score_bars({str(i): {"m": [0.5]} for i in range(510)}), "table"),
]
PANELS = [
    (lambda: viz.image_grid(torch.rand(1024, 1, 2, 2), ncols=1000, size=0.1), "ncols"),
    (lambda: viz.reconstruction_figure(torch.rand(600, 1, 2, 2), torch.rand(600, 1, 2, 2), n=600), "n"),
    (lambda: data.simulated_vs_official_figure(np.zeros((1024, 2, 2)), np.zeros((1024, 2, 2)),
                                               [str(i) for i in range(32)], [str(i) for i in range(32)]), "official"),
    (lambda: data.simulated_vs_official_figure(np.zeros((600, 2, 2)), np.zeros((600, 2, 2)),
                                               [str(i) for i in range(600)], ["x"], size=0.1), "official"),
    (lambda: causal.pendulum_reference_figure(torch.rand(1024, 1, 1, 1), torch.rand(1024, 1, 1, 1)), "official"),
    (lambda: causal.pendulum_reference_figure(torch.rand(400, 1, 1, 1), torch.rand(400, 1, 1, 1),
                                              torch.rand(400, 1, 1, 1)), "official"),
    (lambda: viz.grouped_score_bars({str(i): {str(j): [0.5] for j in range(40)} for i in range(40)}), "table"),
    (lambda: causal.score_figure({str(i): {str(j): 0.5 for j in range(40)} for i in range(40)},
                                 keys=[str(j) for j in range(40)]), "scores and keys"),
    (lambda: viz.adjacency_figure(torch.zeros(30, 30), torch.zeros(30, 30), [str(i) for i in range(30)]), "names"),
    (lambda: viz.active_units_figure({str(i): [1] * 64 for i in range(20)}, [2] * 64), "runs and layer_sizes"),
]


# ---- labels: tick labels, bars and cell texts ------------------------------------------------------------------
many = [f"n{i}" for i in range(600)]
LABELS = [
    (lambda: viz.matrix_figure({"a": np.ones((1, 600))}, many), "factor_names and matrices"),
    (lambda: viz.matrix_figure({"a": np.ones((600, 2))}, ["u", "w"]), "factor_names and matrices"),
    (lambda: viz.zdiff_figure(np.ones((2, 600)), np.array([0, 0]), ["f"]), "features and factor_names"),
    (lambda: viz.zdiff_figure(np.ones((600, 1)), np.arange(600), many), "factor_names"),
    (lambda: viz.kl_per_dimension_figure({"a": [1.0] * 600}), "kls"),
    (lambda: viz.kl_per_dimension_figure({str(i): [1.0] * 100 for i in range(10)}), "kls"),
    (lambda: viz.kl_heatmap_figure({"a": np.ones((1, 600))}, [1] * 600), "layer_sizes"),
    (lambda: viz.active_units_figure({"a": [1] * 600}, [1] * 600), "layer_sizes"),
    (lambda: causal.score_figure({"m": {k: 0.5 for k in many}}, keys=many), "keys"),
    (lambda: viz.mic_matrix_figure({"a": np.ones((8, 600))}, many), "concept_names"),
    (lambda: viz.kl_estimator_figure(list(range(1, 601)), [np.ones(2)] * 600, 0.5), "sample_counts"),
    (lambda: viz.score_bars({k: [0.5] for k in many}), "scores"),
    (lambda: viz.grouped_score_bars({k: {"m": [0.5]} for k in many}), "table"),
]


@pytest.mark.parametrize("call, name", SIZES + PANELS + LABELS, ids=[f"size{i}" for i in range(len(SIZES))]
                         + [f"panels{i}" for i in range(len(PANELS))] + [f"labels{i}" for i in range(len(LABELS))])
def test_a_figure_too_large_to_draw_is_refused_before_drawing(call, name):
    refused(call, f"{name} must")


def test_counts_within_the_bounds_still_draw():
    viz.image_grid(torch.rand(16, 1, 2, 2), ncols=4, size=0.5)._repr_png_()
    viz.reconstruction_figure(torch.rand(8, 1, 2, 2), torch.rand(8, 1, 2, 2))
    data.simulated_vs_official_figure(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), ["a"], ["x", "y"])
    causal.pendulum_reference_figure(torch.rand(4, 3, 2, 2), torch.rand(4, 3, 2, 2), torch.rand(4, 3, 2, 2))
    viz.matrix_figure({"a": np.ones((10, 5)), "b": np.ones((10, 5))}, list("abcde"))
    viz.adjacency_figure(torch.zeros(4, 4), torch.zeros(4, 4), NAMES)
    viz.active_units_figure({"a": [3, 1]}, [4, 2], kl_runs={"a": [2, 1]})


# ---- the marker ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("marker", ["not-a-marker", True, None, 3.5, "None", "", " ", ["o"], "$x$"])
def test_a_marker_matplotlib_does_not_draw_is_refused_by_name(marker):
    with pytest.raises(ValueError, match=r"points\[1\]\['marker'\] must be one of matplotlib's marker styles"):
        viz.rate_distortion_figure([{"label": "a", "kl": 1.0, "log_px_z": -1.0},
                                    {"label": "b", "kl": 2.0, "log_px_z": -1.0, "marker": marker}])


@pytest.mark.parametrize("marker", ["o", "s", "^", "x", "*", "D", 4])
def test_matplotlib_s_markers_are_drawn(marker):
    viz.rate_distortion_figure([{"label": "a", "kl": 1.0, "log_px_z": -1.0, "marker": marker}])


# ---- names given twice -------------------------------------------------------------------------------------------
TWICE = [
    (lambda: causal.render_intervention(pendulum_cf, P, SCENE, {0: 0.5, 1: 0.5}, concept_names=["a", "a", "b", "c"]),
     "concept_names"),
    (lambda: viz.matrix_figure({"a": np.ones((2, 2))}, ["u", "u"]), "factor_names"),
    (lambda: viz.zdiff_figure(np.ones((2, 2)), np.array([0, 1]), ["f", "f"]), "factor_names"),
    (lambda: viz.adjacency_figure(torch.zeros(2, 2), torch.zeros(2, 2), ["a", "a"]), "names"),
    (lambda: viz.ownership_figure(torch.rand(2, 2, 2), ["a", "a"]), "names"),
    (lambda: causal.score_figure({"m": {"mic": 0.5}}, keys=["mic", "mic"]), "keys"),
    (lambda: viz.mic_matrix_figure({"a": np.ones((2, 2))}, ["c", "c"]), "concept_names"),
    (lambda: viz.intervention_grid_figure(torch.rand(2, 1, 1, 2, 2), torch.rand(2, 1, 1, 2, 2), ["a", "a"]),
     "concept_names"),
]


@pytest.mark.parametrize("call, name", TWICE, ids=[f"twice{i}" for i in range(len(TWICE))])
def test_names_given_twice_are_refused(call, name):
    refused(call, f"{name} must be a list of distinct strings")


def test_render_intervention_with_distinct_names_draws_them():
    fig = causal.render_intervention(pendulum_cf, P, SCENE, {0: 0.5, 1: 0.5}, concept_names=["a", "b", "c", "d"])
    assert "do(a = +0.50, b = +0.50)" in fig.axes[1].get_title()


def test_figure_helpers_name_their_arguments():
    with pytest.raises(ValueError, match="^f's size must give a figure of at most 655 inches"):
        figure.figure_size("f", "size", 1000.0, 1.0)
    with pytest.raises(ValueError, match="^f's size must give"):
        figure.figure_size("f", "size", 200.0, 200.0)  # 4e8 pixels at 100 dpi
    assert figure.figure_size("f", "size", 100.0, 100.0) == (100.0, 100.0)
    with pytest.raises(ValueError, match="^f's n must need at most 1,024 panels"):
        figure.panel_count("f", "n", 1025, "one each")
    assert figure.label_count("f", "names", figure.MAX_LABELS, "one each") == figure.MAX_LABELS
    with pytest.raises(ValueError, match="at 1$"):
        figure.measured("values").check("f's v", [0.0, -2e30])
    with pytest.raises(ValueError, match=r"at \(0, 1\)$"):
        figure.measured("values").check("f's v", [[0.0, -2e30]])
    assert beta is not None and images is not None and metrics is not None and training is not None
