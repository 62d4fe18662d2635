"""Tenth probe, library part (issue 25, probe-9 leftovers): meta tensors refused by one reader
(values.with_values) in checkpoints.save, train.fit, LadderVAE's eps, the distributions, the metrics' codes and
numbers, the SCM's values; fits_in_memory reads its count and bytes as ints; scm.constant and
metrics.checks.check_numbers use the values kinds; tail_mean of nothing and vary_samples' own k."""
import math

import numpy as np
import pytest
import torch

from vaecourse import checkpoints, distributions, scm, train, values
from vaecourse import check
from vaecourse.check import think
from vaecourse.metrics.checks import check_codes, check_numbers
from vaecourse.models import LadderVAE, VAE
from vaecourse.objectives import elbo

META = "is a meta tensor (no values): expected"


def _one_line(excinfo, *words):
    message = str(excinfo.value)
    assert "\n" not in message, message
    for word in words:
        assert word in message, (word, message)


def _vae():
    torch.manual_seed(0)
    return VAE(latent_dim=2, encoder="mlp", image_shape=(1, 4, 4))


def _ladder():
    torch.manual_seed(0)
    return LadderVAE(latent_sizes=(2, 2), hidden_sizes=(8, 8), image_shape=(1, 4, 4))


# ---- 1. meta tensors: one reader ------------------------------------------------------------------------------
def test_with_values_is_the_one_reader():
    with pytest.raises(ValueError) as excinfo:
        values.with_values("x", torch.zeros(3, device="meta"), "numbers with values")
    _one_line(excinfo, "x " + META, "numbers with values", "on the meta device")
    cpu = torch.zeros(3)
    assert values.with_values("x", cpu, "numbers") is cpu
    assert values.with_values("x", [1.0], "numbers") == [1.0]


@pytest.mark.parametrize("kind", [values.finite_numbers, values.real_numbers, values.finite, values.positive_int],
                         ids=["finite_numbers", "real_numbers", "finite", "positive_int"])
def test_every_kind_refuses_meta_in_one_line(kind):
    with pytest.raises(ValueError) as excinfo:
        kind.check("v", torch.ones((), device="meta"))
    _one_line(excinfo, "v " + META, kind.expected)


@pytest.mark.parametrize("how", ["to", "built"])
def test_save_refuses_a_model_on_meta_and_writes_nothing(tmp_path, how):
    if how == "to":
        model = _vae().to("meta")
    else:
        with torch.device("meta"):
            model = VAE(latent_dim=2, encoder="mlp", image_shape=(1, 4, 4))
    path = tmp_path / "m.pt"
    with pytest.raises(ValueError) as excinfo:
        checkpoints.save(model, path)
    _one_line(excinfo, "save's VAE's weight", META, "a model with values")
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_save_of_a_cpu_model_still_reads_back(tmp_path):
    model = _vae()
    checkpoints.save(model, tmp_path / "m.pt")
    back = checkpoints.load(tmp_path / "m.pt")
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k


def test_fit_refuses_meta_data_a_meta_batch_and_a_meta_model():
    model = _vae()
    with pytest.raises(ValueError) as excinfo:
        train.fit(model, elbo, torch.rand(8, 1, 4, 4, device="meta"), steps=1, progress=False, device="cpu")
    _one_line(excinfo, "fit's data " + META, "examples")
    with pytest.raises(ValueError) as excinfo:
        train.fit(model, elbo, [(torch.rand(8, 1, 4, 4, device="meta"),)], steps=1, progress=False, device="cpu")
    _one_line(excinfo, "fit's batch[0] " + META, "images with values")
    with pytest.raises(ValueError) as excinfo:
        train.fit(model, elbo, [{"x": torch.rand(8, 1, 4, 4, device="meta")}], steps=1, progress=False, device="cpu")
    _one_line(excinfo, "fit's batch['x'] " + META)
    with pytest.raises(ValueError) as excinfo:
        train.fit(_vae().to("meta"), elbo, torch.rand(8, 1, 4, 4), steps=1, progress=False, device="cpu")
    _one_line(excinfo, "fit's VAE's weight", META)


def test_fit_on_cpu_data_still_trains():
    history = train.fit(_vae(), elbo, torch.rand(8, 1, 4, 4).round(), steps=2, batch_size=4, progress=False,
                        device="cpu")
    assert len(history) == 2 and all(math.isfinite(v) for v in history["loss"])


def test_ladder_refuses_meta_eps_and_still_takes_cpu_eps():
    model, x = _ladder(), torch.rand(3, 1, 4, 4).round()
    with pytest.raises(ValueError) as excinfo:
        model(x, eps=[torch.randn(3, 2), torch.randn(3, 2, device="meta")])
    _one_line(excinfo, "eps[1] " + META, "standard-normal noise (3, 2)")
    eps = [torch.zeros(3, 2), torch.zeros(3, 2)]
    assert torch.equal(model(x, eps=eps).z[0], model(x, eps=eps).z[0])


def test_models_refuse_meta_images_and_latents():
    model = _vae()
    with pytest.raises(ValueError) as excinfo:
        model(torch.rand(2, 1, 4, 4, device="meta"))
    _one_line(excinfo, "VAE's images " + META)
    with pytest.raises(ValueError) as excinfo:
        model.decode(torch.zeros(2, 2, device="meta"))
    _one_line(excinfo, "decode's z " + META)


MM = torch.ones(3, device="meta")
DISTRIBUTIONS = {
    "check_kls": (lambda: distributions.check_kls(MM, "the KLs", str), "the KLs " + META),
    "precision_weighted_merge": (lambda: distributions.precision_weighted_merge(torch.ones(3), torch.ones(3), MM,
                                                                                torch.ones(3)),
                                 "precision_weighted_merge's mu_p " + META),
    "kl_standard_normal": (lambda: distributions.kl_standard_normal(MM, MM), "kl_standard_normal's mu " + META),
    "reparameterize eps": (lambda: distributions.reparameterize(torch.zeros(3), torch.zeros(3), eps=MM),
                           "reparameterize's eps " + META),
    "log_normal": (lambda: distributions.log_normal(MM), "log_normal's z " + META),
}


@pytest.mark.parametrize("case", DISTRIBUTIONS, ids=DISTRIBUTIONS.keys())
def test_distributions_refuse_meta(case):
    call, words = DISTRIBUTIONS[case]
    with pytest.raises(ValueError) as excinfo:
        call()
    _one_line(excinfo, words)


def test_distributions_still_compute_on_cpu():
    assert distributions.check_kls(torch.tensor([0.0, 1.5]), "kl", str).tolist() == [0.0, 1.5]
    mu, var = distributions.precision_weighted_merge(torch.zeros(2), torch.ones(2), torch.full((2,), 2.0),
                                                     torch.ones(2))
    assert mu.tolist() == [1.0, 1.0] and var.tolist() == [0.5, 0.5]
    assert distributions.kl_standard_normal(torch.zeros(2, 3), torch.zeros(2, 3)).tolist() == [0.0, 0.0]


def test_metrics_and_scm_refuse_meta():
    with pytest.raises(ValueError) as excinfo:
        check_numbers(MM, "kl")
    _one_line(excinfo, "kl " + META, "real numbers")
    with pytest.raises(ValueError) as excinfo:
        check_codes(torch.zeros(2, 3, device="meta"), 2)
    _one_line(excinfo, "representation_fn's codes " + META)
    with pytest.raises(ValueError) as excinfo:
        scm.constant(torch.tensor(1.0, device="meta"))
    _one_line(excinfo, "constant's value " + META)
    with pytest.raises(ValueError) as excinfo:
        scm.check_adjacency(torch.zeros(2, 2, device="meta"))
    _one_line(excinfo, "A " + META)


# ---- 2. fits_in_memory reads ints ----------------------------------------------------------------------------
@pytest.mark.parametrize("count", [torch.tensor(10), np.int64(10), 10])
def test_fits_in_memory_reads_an_integer_count(count):
    out = values.fits_in_memory("n", count, 4)
    assert out == 10 and type(out) is int
    assert values.fits_in_memory("n", 10, torch.tensor(4)) == 10 and values.fits_in_memory("n", 10, np.int32(0)) == 10


@pytest.mark.parametrize("count", [True, 2.5, torch.tensor(2.5), -1, "10", None, torch.tensor([10])],
                         ids=["True", "2.5", "float tensor", "-1", "text", "None", "1-d tensor"])
def test_fits_in_memory_refuses_a_count_that_is_no_int(count):
    with pytest.raises(ValueError) as excinfo:
        values.fits_in_memory("n", count, 4)
    _one_line(excinfo, "n (the count) must be a count (an int >= 0), got")
    with pytest.raises(ValueError) as excinfo:
        values.fits_in_memory("n", 10, count)
    _one_line(excinfo, "n (the bytes of each of its items) must be a size in bytes (an int >= 0), got")


def test_fits_in_memory_still_refuses_too_much():
    with pytest.raises(ValueError, match=r"n must be at most 4,294,967,296 items \(4 bytes each, 16 GiB at once\), "
                                         r"got 10,000,000,000"):
        values.fits_in_memory("n", torch.tensor(10 ** 10), 4)
    with pytest.raises(ValueError, match=r"got 100,000,000,000,000,000,000,000,000,000"):
        values.fits_in_memory("n", 10 ** 29, 4)  # beyond int64: still the memory refusal


# ---- 3. the kinds read by scm.constant and check_numbers ------------------------------------------------------
def test_constant_uses_the_values_kind():
    with pytest.raises(ValueError) as excinfo:
        scm.constant(1e30)
    _one_line(excinfo, "constant's value must be finite real numbers (not a bool) at most 1e+06 in size")
    with pytest.raises(ValueError, match=r"one value per sample \(n,\)"):
        scm.constant(torch.zeros(2, 2))
    assert scm.SCM({"a": scm.constant(0.5)}).sample(3)["a"].tolist() == [0.5, 0.5, 0.5]
    assert scm.SCM({"a": scm.constant(torch.tensor([1.0, 2.0]))}).sample(2)["a"].tolist() == [1.0, 2.0]


def test_check_numbers_is_the_values_kind():
    t = torch.tensor([1.0, 2.0], dtype=torch.float32)
    assert check_numbers(t, "kl") is t
    assert check_numbers([1, 2], "kl").dtype == torch.float64
    assert check_numbers(np.array([1.5]), "kl").tolist() == [1.5]
    assert math.isnan(float(check_numbers([math.nan], "kl")[0]))  # NaN stays the caller's to refuse
    for bad in (torch.tensor([True]), [True, 0.5], "1.0", None, torch.tensor([1j]), [[1.0], [2.0, 3.0]]):
        with pytest.raises(ValueError) as excinfo:
            check_numbers(bad, "kl")
        _one_line(excinfo, "kl must be real numbers (a tensor, an array or a list of floats), got")


# ---- 4. tail_mean and vary_samples' k ------------------------------------------------------------------------
@pytest.mark.parametrize("trace", [None, [], torch.zeros(0), [math.nan]], ids=["None", "[]", "empty", "nan"])
def test_tail_mean_refuses_a_trace_of_no_steps(trace):
    with pytest.raises(ValueError) as excinfo:
        think.tail_mean(trace)
    _one_line(excinfo, "tail_mean's trace must be a run's logged values: at least one finite number")


def test_tail_mean_still_reads_the_last_tenth():
    assert think.tail_mean(list(range(20))) == 18.5
    assert think.tail_mean([3.0]) == 3.0
    assert think.tail_mean(torch.tensor([1.0, 2.0])) == 2.0


def test_the_callers_never_pass_tail_mean_a_run_of_no_steps(capsys):
    runs = {4.0: {"beta": [], "kl": []}, 8.0: {"beta": [1.0] * 10, "kl": [5.0] * 10}}
    assert check.vary_epsilon(lambda r: 1.0, runs, 4.0) is False
    out = capsys.readouterr().out
    assert "the ε = 4 run's 'beta' must be finite numbers from a finished run, got nothing" in out, out  # (the caller:
    # _series refuses a trace of no steps, so tail_mean is never given one)


LOG_W = torch.randn(50, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


@pytest.mark.parametrize("k", [0, -1, 2.5, True, 10 ** 20, "5", None], ids=["0", "-1", "2.5", "True", "1e20", "text",
                                                                              "None"])
def test_vary_samples_says_your_k_is_wrong_not_the_run(k, capsys):
    assert check.vary_samples(lambda lw, k: 0.0, LOG_W, k) is False
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "could not read the run's results" not in out, out
    assert "Exercise 4.6" in out and "vary_samples' k (your k) must be a number of samples from 1 to 50 (log_w's k_max)" \
        in out, out
    assert "got " in out and "Choose it again" in out, out


RUNS = {4.0: {"beta": [1.0] * 10, "kl": [5.0] * 10}, 8.0: {"beta": [0.5] * 10, "kl": [8.0] * 10}}
RESULTS = {8: {"eval_accuracy": 0.7}, 32: {"eval_accuracy": 0.9}}
YOURS = {
    "2.6 epsilon -1": (lambda: check.vary_epsilon(lambda r: 1.0, RUNS, -1), "vary_epsilon's epsilon (your budget ε)"),
    "2.6 epsilon text": (lambda: check.vary_epsilon(lambda r: 1.0, RUNS, "4"), "vary_epsilon's epsilon (your budget ε)"),
    "3.6 pairs 2.5": (lambda: check.vary_pairs(lambda r: 0.7, RESULTS, 2.5), "vary_pairs's pairs (your L)"),
    "3.6 pairs True": (lambda: check.vary_pairs(lambda r: 0.7, RESULTS, True), "vary_pairs's pairs (your L)"),
    "5.7 weight nan": (lambda: check.vary_independence(lambda a: 0, torch.zeros(3, 3), torch.zeros(3, 3), math.nan),
                       "vary_independence's weight (your λ)"),
}


@pytest.mark.parametrize("case", YOURS, ids=YOURS.keys())
def test_the_learners_own_choice_is_named_not_the_run(case, capsys):
    call, words = YOURS[case]
    assert call() is False
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "could not read the run's results" not in out, out
    assert words + " must be" in out and "Choose it again" in out, out


def test_the_vary_checks_still_give_their_verdicts(capsys):
    assert check.vary_epsilon(lambda r: 1.0, RUNS, 4.0) is True
    assert check.vary_pairs(lambda r: 0.7, RESULTS, 8) is True
    capsys.readouterr()


def test_vary_samples_still_gives_its_verdict(capsys):
    from vaecourse.objectives import log_mean_exp
    want = float(log_mean_exp(LOG_W[:10], 0).mean()) - float(log_mean_exp(LOG_W[:1], 0).mean())
    assert check.vary_samples(lambda lw, k: want, LOG_W, 10) is True
    assert check.vary_samples(lambda lw, k: want, LOG_W, torch.tensor(10)) is True
    assert "✅" in capsys.readouterr().out


def test_causal_vae_label_readers_and_kl_refuse_meta():
    from vaecourse.models import CausalVAE
    from vaecourse.models.causal import gaussian_kl_to_label_prior
    torch.manual_seed(0)
    causal = CausalVAE(encoder="mlp", image_shape=(3, 4, 4), n_concepts=3, concept_dim=2)
    u = torch.rand(5, 3, device="meta")
    for call, words in ((lambda: causal.prune_graph(u), "prune_graph's u " + META),
                        (lambda: causal.predict_labels(u), META),
                        (lambda: gaussian_kl_to_label_prior(torch.eye(3), torch.zeros(2, 3, 2), torch.zeros(2, 3, 2),
                                                            torch.zeros(2, 3, device="meta")),
                         "gaussian_kl_to_label_prior's u " + META)):
        with pytest.raises(ValueError) as excinfo:
            call()
        _one_line(excinfo, words)
    assert isinstance(causal.prune_graph(torch.rand(5, 3)), dict)
    kl = gaussian_kl_to_label_prior(torch.eye(3), torch.zeros(2, 3, 2), torch.zeros(2, 3, 2), torch.zeros(2, 3))
    assert kl.shape == (2,) and bool(torch.isfinite(kl).all())


def test_state_digest_and_logged_terms_refuse_meta():
    with pytest.raises(ValueError) as excinfo:
        checkpoints.state_digest({"w": torch.zeros(2, device="meta")})
    _one_line(excinfo, "state_digest's w " + META)
    assert len(checkpoints.state_digest({"w": torch.zeros(2)})) == 64
    with pytest.raises(ValueError) as excinfo:
        train.History().append(1, {"loss": torch.tensor(1.0, device="meta")})
    _one_line(excinfo, META)


def _entry_points():
    from vaecourse.metrics import causal as MC, correlation, latent_kl, mic, units
    from vaecourse.metrics.dci import disentanglement
    from vaecourse.metrics.higgins import linear_classifier_accuracy, z_diff
    from vaecourse.metrics.mig import mig_from_mutual_info
    from vaecourse.metrics.sap import sap_from_scores
    m = lambda *shape: torch.zeros(*shape, device="meta")
    A = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    chain = scm.chain()
    return {
        "structural_hamming_distance": (lambda: MC.structural_hamming_distance(m(2, 2), A), "the learned graph"),
        "spearman_matrix": (lambda: correlation.spearman_matrix(m(10, 2), np.zeros((10, 2))), "spearman_matrix's codes"),
        "disentanglement": (lambda: disentanglement(m(2, 2)), "disentanglement's importance"),
        "linear_classifier_accuracy": (lambda: linear_classifier_accuracy(m(10, 2), np.arange(10) % 2, np.zeros((4, 2)),
                                                                           np.arange(4) % 2), "x_train"),
        "z_diff": (lambda: z_diff(m(4, 2), torch.zeros(4, 2)), "z_diff's z1"),
        "mig_from_mutual_info": (lambda: mig_from_mutual_info(m(3, 2), torch.ones(2)), "mutual_info"),
        "sap_from_scores": (lambda: sap_from_scores(m(3, 2)), "scores"),
        "kl_per_dimension": (lambda: latent_kl.kl_per_dimension(m(4, 2), m(4, 2)), "kl_per_dimension's mu"),
        "active_latents": (lambda: latent_kl.active_latents(m(2)), "active_latents' kl"),
        "unit_activity": (lambda: units.unit_activity(m(10, 2)), "unit_activity's means"),
        "kl_active_units": (lambda: units.kl_active_units(m(4), [2, 2]), "kl_active_units' kl"),
        "mic": (lambda: mic.mic(m(100), torch.zeros(100)), "x"),
        "topological_order": (lambda: scm.topological_order(m(2, 2)), "A"),
        "linear_sample": (lambda: scm.linear_sample(A, m(3, 2)), "eps"),
        "linear_covariance": (lambda: scm.linear_covariance(A, m(2)), "scale"),
        "linear_scm_from_covariance": (lambda: scm.linear_scm_from_covariance(m(2, 2), [0, 1]), "cov"),
        "SCM.do": (lambda: chain.do(x1=torch.tensor(1.0, device="meta")), "do() x1"),
        "SCM.evaluate": (lambda: chain.evaluate({k: m(3) for k in ("x1", "x2", "x3")}), "evaluate's eps['x1']"),
        "SCM.counterfactual": (lambda: chain.counterfactual({k: m(3) for k in ("x1", "x2", "x3")}, x1=0.5),
                               "abduct's observation['x1']"),
    }


@pytest.mark.parametrize("case", list(_entry_points()))
def test_the_metrics_and_scm_entry_points_refuse_meta(case):
    call, name = _entry_points()[case]
    with pytest.raises(ValueError) as excinfo:
        call()
    _one_line(excinfo, name, META)
