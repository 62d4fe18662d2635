"""MIC/TIC on known cases, structural Hamming distance, intervention fidelity against the simulator itself."""

import math

import numpy as np
import pytest
import torch

from vaecourse.data.pendulum import TRUE_GRAPH, Pendulum
from vaecourse.metrics.causal import (ConceptRegressor, causal_model_report, free_concepts, free_ranges,
                                      intervention_fidelity, label_values, structural_hamming_distance,
                                      train_concept_regressor)
from vaecourse.data.pendulum import split_concepts
from vaecourse.metrics.mic import characteristic_matrix, equipartition, grid_bound, mic, mic_tic, mic_tic_matrices


def test_mic_noiseless_functions_are_near_one():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 1000)
    for y in (x, 3 * x + 2, x ** 2, np.sin(6 * x), np.exp(x), np.abs(x)):
        assert mic(x, y) > 0.97
    # a balanced two-valued step function is noiseless too; an unbalanced one tops out at H(Y) / log 2
    assert mic(x, (x > np.median(x)).astype(float)) > 0.99
    p = (x > 0.3).mean()
    assert mic(x, (x > 0.3).astype(float)) == pytest.approx(-(p * np.log2(p) + (1 - p) * np.log2(1 - p)), abs=1e-6)


def test_mic_independent_is_near_zero_and_falls_with_n():
    rng = np.random.default_rng(1)
    small = mic(rng.uniform(size=300), rng.uniform(size=300))
    large = mic(rng.uniform(size=3000), rng.uniform(size=3000))
    assert large < 0.12 and large < small < 0.3
    m, t = mic_tic(rng.normal(size=1000), rng.normal(size=1000))
    assert t < m < 0.2


def test_mic_is_symmetric_and_orders_noise_levels():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=800)
    y = x + 0.3 * rng.normal(size=800)
    assert mic(x, y) == mic(y, x)
    assert mic(x, x + 0.05 * rng.normal(size=800)) > mic(x, y) > mic(x, x + 3 * rng.normal(size=800))
    M = characteristic_matrix(x, y)
    assert np.allclose(M, characteristic_matrix(y, x).T, equal_nan=True)  # transposed roles


def test_mic_is_invariant_to_monotone_transformations():
    rng = np.random.default_rng(3)
    x = rng.uniform(size=500)
    y = x + 0.2 * rng.normal(size=500)
    assert mic(x, y) == pytest.approx(mic(np.exp(3 * x), y ** 3 + 5 * y))


def test_equipartition_and_ties():
    rows = equipartition(np.arange(12.0), 3)
    assert rows.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    rows = equipartition(np.array([0, 0, 0, 0, 0, 0, 1, 2.0]), 4)  # ties stay in one row
    assert len(set(rows[:6].tolist())) == 1
    assert grid_bound(7308) == int(7308 ** 0.6)


def test_mic_matrices_and_bad_input():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(400, 2))
    mics, tics = mic_tic_matrices(z, np.stack([z[:, 1] ** 2, rng.normal(size=400)], 1))
    assert mics.shape == (2, 2) and mics[1, 0] > 0.9 and mics[0, 0] < 0.3 and (tics <= mics + 1e-12).all()
    with pytest.raises(ValueError, match="same number of points"):
        mic(np.zeros(10), np.zeros(11))
    with pytest.raises(ValueError, match="finite"):
        mic(np.r_[np.nan, np.zeros(9)], np.zeros(10))
    with pytest.raises(ValueError, match="4 to 10,000 finite points"):
        mic([1, 2], [1, 2])


def test_structural_hamming_distance():
    assert structural_hamming_distance(TRUE_GRAPH * 0.9, TRUE_GRAPH) == 0
    assert structural_hamming_distance(torch.zeros(4, 4), TRUE_GRAPH) == 4  # four missing edges
    assert structural_hamming_distance(TRUE_GRAPH.T, TRUE_GRAPH) == 4  # four reversals
    learned = TRUE_GRAPH.clone()
    learned[0, 1] = -0.8  # one extra edge (a negative weight is an edge too)
    learned[1, 3] = 0.1  # one below the threshold: missing
    assert structural_hamming_distance(learned, TRUE_GRAPH, threshold=0.3) == 2
    with pytest.raises(ValueError, match=r"\(4, 4\)"):
        structural_hamming_distance(torch.zeros(3, 3), TRUE_GRAPH)


def test_intervention_fidelity_of_the_simulator_itself_is_perfect():
    data = Pendulum(size=32)

    def simulator(x, u, i, v):  # the true counterfactual: what a perfect model would decode
        concepts = data.from_labels(u)
        value = float(data.from_labels(torch.full((1, 4), v))[0, i])
        return data.counterfactual(concepts, **{data.concept_names[i]: value})[0]

    def ignore(x, u, i, v):  # a model that ignores the intervention
        return x

    regressor = ConceptRegressor()
    g = torch.Generator().manual_seed(0)
    perfect = intervention_fidelity(data, simulator, regressor, n=8, generator=g)
    lazy = intervention_fidelity(data, ignore, regressor, n=8, generator=torch.Generator().manual_seed(0))
    assert perfect["pixel_mse"] < 1e-10 and lazy["pixel_mse"] > 1e-4
    assert np.allclose(perfect["theta"]["concept_mae"], perfect["theta"]["reference_mae"])
    values = label_values(data, 0, 3)
    assert values.shape == (3,) and values[0] < 0 < values[2] and abs(values[2].item()) <= 1 + 1e-6
    assert math.isfinite(lazy["intervened_concept_mae"])


def test_causal_model_report_of_a_model_whose_graph_is_the_truth():
    from vaecourse.models import VAE, CausalVAE
    torch.manual_seed(0)
    model = CausalVAE(n_concepts=4, concept_dim=2, encoder="conv32", image_shape=(3, 32, 32)).eval()
    with torch.no_grad():
        model.A_raw.copy_(TRUE_GRAPH)  # set by hand here to test the report, never as an initialisation
    data = Pendulum(size=32)
    r = causal_model_report(model, data, n=16, generator=torch.Generator().manual_seed(0))
    assert r["shd"] == 0 and r["H"] == 0 and r["n"] == 16
    assert r["elbo"] == pytest.approx(r["log_px_z"] - r["kl_eps"] - r["kl_z"], rel=1e-5)
    assert 0 <= r["tic"] <= r["mic"] <= 1 and r["l_u"] > 0 and r["l_m"] >= 0
    assert r["label_fit"] == "tanh"
    masked = causal_model_report(model, data, n=16, generator=torch.Generator().manual_seed(0), label_fit="mask")
    u = data.labels(split_concepts(data, "test", 16, torch.Generator().manual_seed(0)))
    with torch.no_grad():  # the mask fit's l_u is the model's own label equations' squared error on the same labels
        assert masked["l_u"] == pytest.approx(float((u - model.predict_labels(u)).pow(2).sum(1).mean()), rel=1e-5)
    assert masked["label_fit"] == "mask" and masked["l_u"] != pytest.approx(r["l_u"])
    with pytest.raises(ValueError, match="label_fit must be one of"):
        causal_model_report(model, data, n=16, label_fit="sigmoid")
    with pytest.raises(ValueError, match="needs a CausalVAE or ConditionalVAE"):
        causal_model_report(VAE(latent_dim=4, encoder="conv32", image_shape=(3, 32, 32)), data)
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        causal_model_report(model, data, n=1)


def test_causal_model_report_scores_mic_tic_on_the_images_it_renders_once(monkeypatch):
    """The report renders its n images once and its MIC/TIC are mic_tic_score's on those same images (equal
    generators draw equal images); it used to render a second, different draw of n images for MIC/TIC."""
    from vaecourse.metrics.mic import mic_tic_score
    from vaecourse.models import CausalVAE
    torch.manual_seed(0)
    model = CausalVAE(n_concepts=4, concept_dim=2, encoder="conv32", image_shape=(3, 32, 32)).eval()
    data = Pendulum(size=32)
    rendered = []
    render = data.render_concepts
    monkeypatch.setattr(data, "render_concepts", lambda concepts, **kw: rendered.append(len(concepts)) or
                        render(concepts, **kw))
    r = causal_model_report(model, data, n=24, generator=torch.Generator().manual_seed(3))
    assert rendered == [24]
    alone = mic_tic_score(data, model.concept_latents, generator=torch.Generator().manual_seed(3), n=24)
    assert (r["mic"], r["tic"]) == (alone["mic"], alone["tic"])
    other = mic_tic_score(data, model.concept_latents, generator=torch.Generator().manual_seed(4), n=24)
    assert (other["mic"], other["tic"]) != (alone["mic"], alone["tic"])  # another draw scores differently


def test_free_concepts_redraw_only_their_columns_within_the_train_range():
    data = Pendulum(size=32, shadow_noise=1.0)
    concepts = split_concepts(data, "test", 500, torch.Generator().manual_seed(0))
    moved = free_concepts(concepts, free_ranges(data, (2, 3)), torch.Generator().manual_seed(1))
    assert torch.equal(moved[:, :2], concepts[:, :2])  # the angles are kept
    train = split_concepts(data, "train", generator=torch.Generator().manual_seed(0))
    for i in (2, 3):
        lo, hi = torch.quantile(train[:, i], torch.tensor([0.01, 0.99], dtype=torch.float64))
        assert lo <= moved[:, i].min() and moved[:, i].max() <= hi
        # independent of the angles now: the shadow no longer follows theta (it did before)
        assert abs(np.corrcoef(moved[:, 0], moved[:, i])[0, 1]) < 0.15
    assert abs(np.corrcoef(concepts[:, 1], concepts[:, 3])[0, 1]) > 0.5
    again = free_concepts(concepts, free_ranges(data, (2, 3)), torch.Generator().manual_seed(1))
    assert torch.equal(moved, again)


def test_concept_regressor_with_free_concepts_reports_both_r2_and_refuses_bad_indices():
    data = Pendulum(size=32, shadow_noise=1.0)
    regressor, report = train_concept_regressor(data, steps=2, batch_size=8, free=(2, 3),
                                                generator=torch.Generator().manual_seed(0))
    assert set(report) == {"r2", "r2_free"} and set(report["r2_free"]) == set(data.concept_names)
    _, plain = train_concept_regressor(data, steps=2, batch_size=8, generator=torch.Generator().manual_seed(0))
    assert set(plain) == {"r2"}
    again, report_again = train_concept_regressor(data, steps=2, batch_size=8, free=(2, 3),
                                                  generator=torch.Generator().manual_seed(0))
    assert report_again == report  # equal generators, equal instruments (weights, batches, test noise)
    assert all(torch.equal(a, b) for a, b in zip(regressor.state_dict().values(), again.state_dict().values()))
    for free in ((4,), (True,), (1.5,), (-1,)):
        with pytest.raises(ValueError, match=r"free must be a concept index between 0 and 3 \(theta, phi"):
            train_concept_regressor(data, steps=1, free=free)
    for bad, message in ((dict(lr=0.0), "lr must be a learning rate"), (dict(lr=float("nan")), "lr must be"),
                         (dict(steps=2.5), "steps must be a number of steps"), (dict(steps=True), "steps must be"),
                         (dict(batch_size=10 ** 9), "batch_size must be a batch size")):
        with pytest.raises(ValueError, match=message):
            train_concept_regressor(data, **({"steps": 1} | bad))
    for concept, count in ((9, 5), (-1, 5), (True, 5), (2, 2.5), (2, 0), (2, 10 ** 12)):
        with pytest.raises(ValueError, match="concept must be a concept index|count must be a number"):
            label_values(data, concept, count)


def test_label_values_are_the_same_on_every_call_with_shadow_noise():
    """The shadow's noise of the train split was drawn unseeded, so the do() values (and chapter 5's fidelity
    figures) moved by up to 0.003 label units from one run to the next."""
    data = Pendulum(size=32, shadow_noise=1.0)
    for concept in (2, 3):  # the shadow's two concepts carry the noise
        assert torch.equal(label_values(data, concept, 5), label_values(data, concept, 5))


def test_ink_left_is_the_share_of_the_observed_darkness_an_erasure_leaves():
    from vaecourse.metrics.causal import ink_left
    observed = torch.ones(2, 3, 4, 4)
    observed[:, :, 3, :2] = 0.0  # a black bar of 2 pixels on row 3 of each image: ink 2 images x 3 channels x 2
    truth = torch.ones_like(observed)  # the truth erases it
    rows = torch.tensor([False, False, True, True])
    assert ink_left(observed, observed, truth, rows) == 1.0  # nothing removed
    assert ink_left(observed, truth, truth, rows) == 0.0  # removed as in the truth
    half = observed.clone()
    half[:, :, 3, :2] = 0.5  # half as dark
    assert ink_left(observed, half, truth, rows) == 0.5
    grey = truth.clone()
    grey[0, :, 2] = 0.75  # erased, but the model darkened row 2 of one image (ink 3 channels x 4 x 0.25 = 3)
    assert ink_left(observed, grey, truth, rows) == 3 / 12
    assert ink_left(observed, grey, truth, torch.tensor([False, False, False, True])) == 0.0  # row 2 not counted
    for bad_rows in (torch.zeros(4, dtype=torch.bool), torch.ones(3, dtype=torch.bool), torch.ones(4)):
        with pytest.raises(ValueError, match="rows must be a boolean mask of the 4 image rows"):
            ink_left(observed, truth, truth, bad_rows)
    with pytest.raises(ValueError, match="one shape"):
        ink_left(observed, truth[:1], truth, rows)
    with pytest.raises(ValueError, match="no darkness"):
        ink_left(truth, truth, truth, rows)


def test_quantile_ranges_refuse_what_is_not_a_range_naming_the_argument():
    from vaecourse.metrics.causal import free_ranges, label_values
    data = Pendulum(size=32)
    for low, high, words in ((float("nan"), 0.9, "low must be a quantile"), (0.1, 1.5, "high must be a quantile"),
                             (0.9, 0.1, "low must be below high"), (True, 0.9, "low must be a quantile")):
        with pytest.raises(ValueError, match=words):
            label_values(data, 0, 3, low=low, high=high)
        with pytest.raises(ValueError, match=words):
            free_ranges(data, [2], low=low, high=high)
    with pytest.raises(ValueError, match=r"free \(a concept index\) must be a concept index between 0 and 3"):
        free_ranges(data, [9])
    ranges = free_ranges(data, [2, 3], low=0.0, high=1.0)
    assert set(ranges) == {2, 3} and all(r[0] < r[1] for r in ranges.values())


def test_causal_scores_refuse_meaningless_thresholds_sizes_and_concepts():
    from vaecourse.metrics.causal import free_concepts, free_ranges, label_reliance
    data = Pendulum(size=32)
    for bad in (float("nan"), -0.1, True):
        with pytest.raises(ValueError, match="threshold must be a finite number >= 0"):
            structural_hamming_distance(torch.zeros(4, 4), TRUE_GRAPH, threshold=bad)
    with pytest.raises(ValueError, match="concepts must be finite concept values of shape"):
        free_concepts(torch.full((2, 4), float("nan")), free_ranges(data, [2]))
    with pytest.raises(ValueError, match="n must be a number of examples between 1 and"):
        label_reliance(object(), data, n=10 ** 12)
