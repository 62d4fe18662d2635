"""The sixth held-out probe (issue 25) and the fifth's leftovers: every case here was accepted silently or refused
in words that did not name what was wrong."""

import math

import pytest
import torch

from vaecourse import widgets
from vaecourse.data import DSprites, Pendulum
from vaecourse.metrics import factor_latent_correlations
from vaecourse.models import VAE
from vaecourse.objectives import elbo
from vaecourse.train import fit

PEND = Pendulum(size=8)


def _vae():
    return VAE(latent_dim=2, image_shape=(1, 4, 4), encoder="mlp", decoder="mlp")


def _fit(**kw):
    base = {"model": _vae(), "objective": elbo, "data": [torch.rand(4, 1, 4, 4)], "steps": 1, "progress": False,
            "device": "cpu"}
    base.update(kw)
    return fit(base.pop("model"), base.pop("objective"), base.pop("data"), **base)


# ---- the fifth probe's leftovers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("transform, words", [
    (lambda x: x * math.nan, r"the VAE, reading fit's transform output, expected finite pixel values, got .*NaN"),
    (lambda x: x * 3, r"the VAE, reading fit's transform output, expected pixel values in \[0, 1\]"),
    (lambda x: x[:, :, :2], r"the VAE, reading fit's transform output, expected images of shape \(B, 1, 4, 4\)"),
], ids=["NaN", "outside [0, 1]", "cropped"])
def test_fit_names_its_transform_when_the_transform_output_cannot_be_read(transform, words):
    """The refusal was the model's ("VAE expected finite pixel values"), as if the data had been wrong."""
    with pytest.raises(ValueError, match=words):
        _fit(transform=transform)


def test_fit_with_a_transform_that_is_fine_still_trains():
    history = _fit(transform=lambda x: (x > 0.5).float(), steps=2)
    assert len(history.steps) == 2


def test_factor_latent_correlations_refuses_a_factor_named_twice():
    """['posX', 'posX'] was matched to two distinct latents, one of them by force."""
    with pytest.raises(ValueError, match=r"factors must name each factor once .* got \['posX'\] more than once"):
        factor_latent_correlations(DSprites(), lambda x: torch.zeros(x.shape[0], 3), factors=["posX", "posX"], n=8)


def test_intervention_ranges_refuses_an_include_the_simulator_does_not_accept():
    """A slider was widened to a shadow length the simulator refuses (the widget-range class of issue 25)."""
    (lo, hi), *_ = PEND.label_ranges()
    inside = [lo, 0.0, 0.0, 0.0]
    assert widgets.intervention_ranges(PEND, 0.3, include=inside)[0][0] <= lo + 0.01
    for bad in (lo - 0.05, hi + 0.05):
        with pytest.raises(ValueError, match=r"include must be label values the simulator accepts .* got "
                                             + PEND.concept_names[0]):
            widgets.intervention_ranges(PEND, 0.3, include=[bad, 0.0, 0.0, 0.0])


# ---- the sixth probe: metrics --------------------------------------------------------------------------------------
import numpy as np  # noqa: E402

from vaecourse import check  # noqa: E402
from vaecourse.data import FactorImages  # noqa: E402
from vaecourse.metrics import CodeCache, KLRecorder, active_units, kl_per_dimension, mig, sap  # noqa: E402
from vaecourse.metrics import causal as causal_metrics  # noqa: E402
from vaecourse.metrics.dci import completeness, disentanglement  # noqa: E402
from vaecourse.metrics.sap import sap_from_scores  # noqa: E402
from vaecourse.prose import say  # noqa: E402

GRID = FactorImages((1, 3, 6, 8))


def _gen():
    return torch.Generator().manual_seed(0)


@pytest.mark.parametrize("fn, words", [
    (lambda x: torch.empty(x.shape[0], 3, device="meta"), r"representation_fn's codes is a meta tensor \(no values\): "
                                                          r"expected codes \(batch, D\) with values, got .* on the meta device"),
    (lambda x: None, r"representation_fn must return a \(batch, D\) tensor or array of codes, got None \(does the "
                     r"function end with `return ...`\?\)"),
    (lambda x: x.flatten(1).double() * 1e200, r"representation_fn returned .* codes must be at most 1e\+30 in size"),
], ids=["meta", "None", "1e200"])
@pytest.mark.parametrize("metric", [
    lambda fn: mig(GRID, fn, generator=_gen(), n_points=60),
    lambda fn: sap(GRID, fn, generator=_gen(), n_train=60, n_eval=30),
], ids=["mig", "sap"])
def test_metrics_refuse_codes_that_are_no_codes(metric, fn, words):
    """Meta codes were NotImplementedError, None 'got shape ()', 1e200 scikit-learn's 'contains NaN' or a hang."""
    with pytest.raises(ValueError, match=words):
        metric(fn)


def test_sap_from_scores_needs_accuracies_and_dci_survives_large_importances():
    scores = np.array([[0.9, 0.2], [0.3, 0.8], [0.1, 0.1]])
    assert sap_from_scores(scores) == pytest.approx(0.6)
    for bad in (scores * 100, -scores):
        with pytest.raises(ValueError, match=r"sap_from_scores' scores must be accuracies or R\^2 in \[0, 1\]"):
            sap_from_scores(bad)
    huge = np.array([[1e308, 1e308], [1e308, 0.0]])  # R's scale does not change the scores
    assert disentanglement(huge) == pytest.approx(disentanglement(huge / 1e308))
    assert completeness(huge) == pytest.approx(completeness(huge / 1e308))
    assert 0 <= disentanglement(huge) <= 1


def test_code_cache_takes_a_tensor_and_says_what_shape_it_needs():
    cache = CodeCache(GRID, torch.zeros(GRID.num_combinations, 2))
    assert cache.codes.dtype == np.float64 and cache.dim == 2
    with pytest.raises(ValueError, match=r"one row per combination of the dataset's grid \(N = 144\), got shape \(20, 2\)"):
        CodeCache(GRID, torch.zeros(20, 2))


class _Terms:
    def __init__(self, units):
        self.extras = {"kl_units": units}


@pytest.mark.parametrize("step, units, words", [
    (0, -torch.ones(2, 3), r"as finite KLs >= 0"),
    (0, torch.ones(2, 3, dtype=torch.bool), r"floating point"),
    (True, torch.ones(2, 3), r"KLRecorder's step must be an integer >= 0"),
    (-1, torch.ones(2, 3), r"KLRecorder's step must be an integer >= 0"),
    (2.5, torch.ones(2, 3), r"KLRecorder's step must be an integer >= 0"),
], ids=["negative KL", "bool KL", "step True", "step -1", "step 2.5"])
def test_kl_recorder_refuses_what_is_no_kl_or_no_step(step, units, words):
    with pytest.raises(ValueError, match=words):
        KLRecorder(1)(step, None, _Terms(units))


def test_active_units_reads_one_numpy_array_as_one_layer():
    out = active_units(torch.rand(6, 1, 2, 2), lambda x: x.flatten(1).numpy())
    assert out["units_per_layer"] == [4]


def test_kl_per_dimension_refuses_a_kl_that_overflows():
    with pytest.raises(ValueError, match=r"kl_per_dimension's mu and logvar give a KL that overflows torch.float64"):
        kl_per_dimension(torch.zeros(2, 2, dtype=torch.float64), torch.full((2, 2), 1000.0, dtype=torch.float64))


def test_shd_needs_an_acyclic_truth_and_ink_left_images_in_unit_range():
    G = torch.zeros(4, 4)
    G[0, 2] = G[1, 2] = G[2, 3] = 1
    assert causal_metrics.structural_hamming_distance(G, G) == 0
    with pytest.raises(ValueError, match=r"structural_hamming_distance's true graph must be a DAG"):
        causal_metrics.structural_hamming_distance(G, G + G.t())
    observed, rows = torch.rand(3, 1, 8, 8), torch.arange(8) >= 5
    with pytest.raises(ValueError, match=r"ink_left's erased must be images \(n, C, H, W\) of finite values in \[0, 1\]"):
        causal_metrics.ink_left(observed, observed * 0 + 5.0, observed.clone(), rows)


# ---- the sixth probe: the thinking checks give no verdict on values that are no outcome ----------------------------
def _ans(a):
    return lambda *args: a


def _moving_grid():
    grid = torch.zeros(4, 5, 1, 8, 8)
    for v in range(5):
        grid[0, v, 0, v, :] = 1
        grid[2, v, 0, :, v] = 1
    return grid


_SCORES = {"factor_names": ["posX", "posY", "scale"], "latent": [0, 1, 2], "abs_rho": [0.95, 0.93, 0.97],
           "threshold": 0.9}
_LOG_W = torch.randn(50, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 3 - 100
_ROWS = torch.arange(8) >= 6
_IMGS = torch.full((4, 1, 8, 8), 0.5)

THINK_NO_VERDICT = {
    "prior mean: logits": lambda: check.predict_prior_mean(_ans("blank"), torch.full((16, 16), -6.0),
                                                           torch.full((16, 16), 0.05)),
    "prior mean: bytes": lambda: check.predict_prior_mean(_ans("centre"), torch.full((16, 16), 200.0),
                                                          torch.full((16, 16), 12.0)),
    "prior mean: sizes": lambda: check.predict_prior_mean(_ans("blank"), torch.zeros(16, 16), torch.zeros(4, 4)),
    "traversals: bytes": lambda: check.interpret_traversals(_ans(2), _moving_grid() * 255,
                                                            torch.tensor([2.0, 0.0, 1.5, 0.01])),
    "traversals: KL length": lambda: check.interpret_traversals(_ans(2), _moving_grid(), torch.ones(7)),
    "traversals: negative KL": lambda: check.interpret_traversals(_ans(2), _moving_grid(),
                                                                  -torch.tensor([2.0, 0.0, 1.5, 0.01])),
    "dropped: signed rho": lambda: check.interpret_dropped_factor(_ans("posX"), {**_SCORES,
                                                                                 "abs_rho": [-0.95, 0.93, 0.97]}),
    "dropped: rho 1.5": lambda: check.interpret_dropped_factor(_ans("none"), {**_SCORES, "abs_rho": [1.5, 0.93, 0.97]}),
    "dropped: threshold 2": lambda: check.interpret_dropped_factor(_ans("posX"), {**_SCORES, "threshold": 2.0}),
    "dropped: negative KL": lambda: check.interpret_dropped_factor(_ans("none"), _SCORES, torch.tensor([1.0, -3.0])),
    "rotation: ideal 0": lambda: check.predict_rotation(_ans("neither"), {"ideal code": {"Higgins": 0.0, "MIG": 0.0},
                                                                          "rotated": {"Higgins": 0.9, "MIG": 0.1}}),
    "rotation: percent": lambda: check.predict_rotation(_ans("both"), {"ideal code": {"Higgins": 100.0, "MIG": 0.9},
                                                                       "rotated": {"Higgins": 0.98, "MIG": 0.1}}),
    "pairs: NaN baseline": lambda: check.vary_pairs(_ans(0.7), {8: {"eval_accuracy": 0.7},
                                                                32: {"eval_accuracy": math.nan}}, 8),
    "pairs: accuracy 1.5": lambda: check.vary_pairs(_ans(1.5), {8: {"eval_accuracy": 1.5},
                                                                32: {"eval_accuracy": 0.9}}, 8),
    "pairs: NaN run": lambda: check.vary_pairs(_ans(0.7), {8: {"eval_accuracy": math.nan},
                                                           32: {"eval_accuracy": 0.9}}, 8),
    "warm-up: fractions": lambda: check.predict_warmup(_ans("same"), {"with warm-up": {"kl": [0.5, 0.3]},
                                                                      "without warm-up": {"kl": [0.2, 0.1]}}),
    "warm-up: negative": lambda: check.predict_warmup(_ans("fewer"), {"with warm-up": {"kl": [3, 2, 1]},
                                                                      "without warm-up": {"kl": [-5, 0, 0]}}),
    "warm-up: layers": lambda: check.predict_warmup(_ans("fewer"), {"with warm-up": {"kl": [3, 2, 1]},
                                                                    "without warm-up": {"kl": [2]}}),
    "samples: 1-D": lambda: check.vary_samples(_ans(0.0), _LOG_W[:, 0], 20),
    "samples: NaN": lambda: check.vary_samples(_ans(0.5), _LOG_W * math.nan, 20),
    "effect: empty mask": lambda: check.predict_effect_intervention(
        _ans("nothing"), {"shadow_position": _IMGS, "theta": _IMGS}, {"shadow_position": _IMGS},
        torch.zeros(8, dtype=torch.bool)),
    "effect: NaN images": lambda: check.predict_effect_intervention(
        _ans("nothing"), {"shadow_position": _IMGS * math.nan, "theta": _IMGS}, {"shadow_position": _IMGS}, _ROWS),
    "effect: one value": lambda: check.predict_effect_intervention(
        _ans("nothing"), {"shadow_position": _IMGS[:1], "theta": _IMGS[:1]}, {"shadow_position": _IMGS[:1]}, _ROWS),
    "multiplier: negative beta": lambda: check.predict_multiplier(
        _ans("lower"), {4.0: {"beta": [-5.0] * 10, "kl": [1.0] * 10}, 8.0: {"beta": [1.0] * 10, "kl": [1.0] * 10}}),
    "multiplier: bool beta": lambda: check.predict_multiplier(
        _ans("same"), {4.0: {"beta": [True] * 10, "kl": [1.0] * 10}, 8.0: {"beta": [True] * 10, "kl": [1.0] * 10}}),
}


@pytest.mark.parametrize("name", sorted(THINK_NO_VERDICT))
def test_thinking_checks_give_no_verdict_on_values_that_are_no_outcome(name, capsys):
    """Each gave a ✅ (or blamed the learner for a NaN run); now it is the guarded one line, and False."""
    assert THINK_NO_VERDICT[name]() is False
    out = capsys.readouterr().out
    assert "the check could not read the run's results" in out and "✅" not in out, out


def test_vary_pairs_no_longer_passes_a_reading_one_percent_off(capsys):
    results = {8: {"eval_accuracy": 0.71, "n_eval": 5000}, 32: {"eval_accuracy": 0.9}}
    assert check.vary_pairs(_ans(0.705), results, 8) is False
    assert check.vary_pairs(_ans(0.7102), results, 8) is True  # three decimals are the run's
    capsys.readouterr()


def test_vary_independence_refuses_a_weight_that_is_no_weight(capsys):
    G = torch.zeros(4, 4)
    G[0, 2] = G[1, 2] = 1
    assert check.vary_independence(_ans(0), G, G, math.nan) is False
    assert "vary_independence's weight" in capsys.readouterr().out


# ---- the sixth probe: say ------------------------------------------------------------------------------------------
def test_say_prints_a_large_decimal_and_refuses_an_object_that_prints_nan():
    from decimal import Decimal

    assert say("{x}", x=Decimal("1e400"), show=False).text == "1E+400"

    class Odd:
        def __format__(self, spec):
            return "nan"

    with pytest.raises(ValueError, match=r"say's x must print as a finite figure \(the sentence would read 'nan'\)"):
        say("{x}", x=Odd(), show=False)


# ---- the sixth probe: models, objectives, graphs, data -------------------------------------------------------------
from vaecourse.data.views import Pooled  # noqa: E402
from vaecourse.graph_fit import learn_graph_from_labels  # noqa: E402
from vaecourse.models import CausalVAE  # noqa: E402
from vaecourse.models.causal_layers import MaskLayer  # noqa: E402
from vaecourse.objectives import causal_vae_loss  # noqa: E402
from vaecourse.objectives.elbo import importance_weighted_bound  # noqa: E402


def _cv(**kw):
    return CausalVAE(n_concepts=3, concept_dim=2, encoder="mlp", image_shape=(1, 8, 8), **kw).eval()


def test_causal_vae_refuses_labels_and_interventions_beyond_any_concept_value():
    """Labels of 1e30 passed the finiteness test and overflowed the label prior to inf."""
    model, x = _cv(), torch.rand(3, 1, 8, 8).round()
    with pytest.raises(ValueError, match=r"expected finite real labels u at most 1e\+06 in size .* got 1e\+30"):
        model(x, torch.randn(3, 3) * 0 + 1e30)
    with pytest.raises(ValueError, match=r"interventions\[0\] must be a finite number at most 1e\+06 in size"):
        model.intervene(x, torch.randn(3, 3), {0: 1e30})
    dropped = _cv(label_dropout=0.5)
    with pytest.raises(ValueError, match=r"encode's given must be a floating-point tensor \(3, 1\) of 0/1"):
        dropped.encode(x, torch.randn(3, 3), given=torch.full((3, 1), 0.5))


def test_importance_weighted_bound_names_a_model_that_reads_labels():
    with pytest.raises(ValueError, match=r"importance_weighted_bound's model must encode images alone .* got CausalVAE"):
        importance_weighted_bound(_cv(), torch.rand(3, 1, 8, 8).round(), k=3)


def test_causal_loss_refuses_pixel_weights_of_all_zeros():
    model, x = _cv(), torch.rand(3, 1, 8, 8).round()
    with pytest.raises(ValueError, match=r"pixel_weights must be a non-negative .* not all 0"):
        causal_vae_loss(model(x, torch.randn(3, 3)), x, pixel_weights=torch.zeros(1, 8, 8))


def test_learn_graph_from_labels_names_its_predictor_and_a_support_that_is_no_mask():
    u = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"predictor must be a MaskLayer of the labels' 3 concepts .* MaskLayer of 4"):
        learn_graph_from_labels(u, steps=2, predictor=MaskLayer(4, 1))
    with pytest.raises(ValueError, match=r"support must be an \(3, 3\) mask of 0/1"):
        learn_graph_from_labels(u, steps=2, support=torch.full((3, 3), 0.5))


def test_data_views_take_numpy_sizes_and_render_values_keeps_the_sprite_on_the_canvas():
    assert Pooled(DSprites(image_size=16), np.int64(4)).image_shape == (1, 4, 4)
    data = DSprites(image_size=16)
    one = [torch.tensor([v]) for v in (0.0, 1.0, 0.0)]
    assert data.render_values(torch.tensor([0]), one[1], one[0], torch.tensor([1.2]), torch.tensor([0.5])).shape == \
        (1, 1, 16, 16)
    with pytest.raises(ValueError, match=r"pos_x must be positions from -0.5 to 1.5 .* got values from 100 to 100"):
        data.render_values(torch.tensor([0]), one[1], one[0], torch.tensor([100.0]), torch.tensor([0.5]))


def test_a_zero_dim_tensor_is_a_number_where_a_number_is_asked():
    from vaecourse import values

    assert values.positive.check("beta", torch.tensor(2.0)) == 2.0
    assert values.positive_int.check("n", torch.tensor(3)) == 3
    for bad in (torch.tensor(True), torch.tensor(2.5), torch.tensor([2.0])):
        with pytest.raises(ValueError):
            values.positive_int.check("n", bad)


def test_a_dense_body_too_large_names_image_shape():
    with pytest.raises(ValueError, match=r"the mlp body for image_shape=\(4, 1024, 1024\) \(layers"):
        VAE(latent_dim=2, image_shape=(4, 1024, 1024), encoder="mlp")


def test_image_grid_refuses_a_figure_beyond_a_hundred_million_pixel_values():
    from vaecourse import viz

    with pytest.raises(ValueError, match=r"at most 100,000,000 pixel values in all"):
        viz.image_grid(torch.zeros(1, 1, 1, 1).expand(1, 1, 20000, 20000))  # (a view: no memory)


def test_unit_activity_refuses_means_whose_variance_overflows():
    from vaecourse.metrics import unit_activity

    assert torch.isfinite(unit_activity(torch.randn(6, 3, dtype=torch.float64))).all()
    with pytest.raises(ValueError, match=r"unit_activity's means are too large for a variance"):
        unit_activity(torch.randn(6, 3, dtype=torch.float64) * 1e200)


# ---- the seventh probe (held-out siblings of the sixth's classes) --------------------------------------------------
from vaecourse import scm  # noqa: E402
from vaecourse.metrics.higgins import z_diff  # noqa: E402
from vaecourse.metrics.codes import encode_grid  # noqa: E402
from vaecourse.metrics.mig import histogram_discretize, mig_from_mutual_info  # noqa: E402
from vaecourse.metrics.sap import sap_score_matrix  # noqa: E402
from vaecourse.objectives.causal import dag_constraint_grad, label_loss  # noqa: E402


def _xy(scale=1.0):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 2, generator=g, dtype=torch.float64) * scale
    y = torch.randint(0, 2, (40, 1), generator=g)
    return x, y


SEVENTH = {
    "sap_score_matrix of codes 1e200 (hung in LinearSVC)": (
        lambda: sap_score_matrix(*_xy(1e200), *_xy(1e200)), r"sap_score_matrix's x_train holds a code of .* at most 1e\+30"),
    "CodeCache of codes 1e200": (lambda: CodeCache(FactorImages([3, 4]), np.full((12, 2), 1e200)),
                                 r"CodeCache's codes hold a code of 1e\+200"),
    "encode_grid of 10^9 combinations": (lambda: encode_grid(FactorImages([1000, 1000, 1000]), lambda x: x.flatten(1)),
                                         r"encode_grid's grid \(the data set's combinations\) must be an int .* at most"),
    "histogram_discretize of a range of 3e308": (
        lambda: histogram_discretize(np.array([[-1.7e308], [1.7e308], [0.0]])), r"histogram_discretize's codes hold"),
    "active_units of a function returning None": (lambda: active_units(torch.rand(5, 1, 2, 2), lambda x: None),
                                                  r"active_units' representation_fn must return .* got None"),
    "active_units of a function returning a dict": (lambda: active_units(torch.rand(5, 1, 2, 2), lambda x: {"a": x}),
                                                    r"active_units' representation_fn must return .* got dict"),
    "KLRecorder of KLs of 1.7e308": (lambda: KLRecorder(1)(0, None, _Terms(torch.full((2, 3), 1.7e308,
                                                                                      dtype=torch.float64))),
                                     r"as finite KLs >= 0"),
    "z_diff of codes 3e38": (lambda: z_diff(torch.full((3, 2, 4), 3e38), torch.full((3, 2, 4), -3e38)),
                             r"z_diff's z1 and z2 are codes too large"),
    "causal_matrix of weights 1e20": (lambda: scm.causal_matrix(torch.tensor([[0.0, 1e20], [0.0, 0.0]])),
                                      r"A must be a square \(K, K\) adjacency matrix of finite numbers at most 1e\+06"),
    "linear_covariance of a scale of 1e200": (lambda: scm.linear_covariance(torch.zeros(2, 2), 1e200),
                                              r"scale must be noise standard deviations >= 0 and at most 1e\+06"),
    "do() of 1e300": (lambda: scm.collider().do(x2=1e300), r"at most 1e\+06 in size"),
    "label_loss of labels 1e20": (lambda: label_loss(torch.full((2, 3), 1e20), torch.zeros(3, 3)),
                                  r"labels u must be finite and at most 1e\+06 in size"),
    "dag_constraint_grad that overflows": (lambda: dag_constraint_grad(torch.full((6, 6), 1e6)),
                                           r"dag_constraint_grad's A has weights too large"),
    "learn_graph_from_labels of labels 1e30": (lambda: learn_graph_from_labels(torch.full((8, 3), 1e30), steps=2),
                                               r"labels u must be finite numbers at most 1e\+06 in size"),
    "say of NaT": (lambda: say("{t}", t=np.datetime64("NaT"), show=False), r"say's t must be a finite number"),
}


@pytest.mark.parametrize("name", sorted(SEVENTH))
def test_seventh_probe_refusals(name):
    call, words = SEVENTH[name]
    with pytest.raises(ValueError, match=words):
        call()


def test_seventh_probe_valid_input_still_works():
    """A MIG a hair above 1 by rounding is 1; a plug-in MI of -1e-17 is 0; a boolean support is a 0/1 mask."""
    score, per_factor = mig_from_mutual_info(np.array([[0.69 * (1 + 1e-12)], [0.0]]), np.array([0.69]))
    assert score == 1.0 and per_factor.max() <= 1.0
    assert mig_from_mutual_info(np.array([[0.5], [-1e-17]]), np.array([0.69]))[0] == pytest.approx(0.5 / 0.69)
    support = torch.ones(3, 3, dtype=torch.bool)
    A, _ = learn_graph_from_labels(torch.randn(16, 3, generator=torch.Generator().manual_seed(0)), steps=2,
                                   support=support)
    assert A.shape == (3, 3)


def test_learn_graph_from_labels_names_its_settings_when_it_diverges():
    u = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"learn_graph_from_labels diverged before step \d+: .* lower lr \(1e\+06\)"):
        learn_graph_from_labels(u, steps=50, lr=1e6, bandwidth=1e-18, independence=1.0)


def test_a_meta_tensor_is_described_as_one():
    from vaecourse import values

    assert values.shown(torch.zeros(3, device="meta")).endswith("on the meta device (shapes only, no values)")
    with pytest.raises(ValueError, match=r"on the meta device"):
        values.finite_numbers.check("z", torch.zeros(3, device="meta"))
