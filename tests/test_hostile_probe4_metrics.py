"""The fourth held-out probe's classes in the metrics, fit/History, prose and check.choose: each bad input is refused
at the call in one line that names the argument (new values, not only the probe's), and valid odd inputs still work.
"""

from __future__ import annotations

import importlib
import math
import os

import numpy as np
import pytest
import torch

from vaecourse import check, prose
from vaecourse.data import FactorImages, Pendulum

from vaecourse.models import VAE, LadderVAE
from vaecourse.objectives import Terms, elbo
from vaecourse.train import History, fit

# the modules (``vaecourse.metrics.mig`` etc. are also the names of functions the package exports)
CA, CO, COR, DC, FV, HG, LK, LL, MI, MG, SA, UN = (importlib.import_module(f"vaecourse.metrics.{name}") for name in (
    "causal", "codes", "correlation", "dci", "factorvae", "higgins", "latent_kl", "likelihood", "mic", "mig", "sap",
    "units"))
NaN, INF = math.nan, math.inf
RNG = np.random.default_rng(0)


def _vae():
    torch.manual_seed(0)
    return VAE(latent_dim=2, image_shape=(1, 4, 4), encoder="mlp", decoder="mlp")


def _ladder():
    torch.manual_seed(0)
    return LadderVAE(latent_sizes=[3, 2], hidden_sizes=[8, 8], image_shape=(1, 4, 4)).eval()


def _x(n=3):
    return torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(n))


def _g():
    return torch.Generator().manual_seed(1)


def _codes(n, d=2):
    return RNG.random((n, d))


def _classes(n, k=None):
    base = np.arange(n) % 3
    return base if k is None else np.stack([base] * k, axis=1)


def _fit(**kw):
    base = {"model": _vae(), "objective": elbo, "data": _x(4), "steps": 1, "progress": False, "device": "cpu"}
    base.update(kw)
    return fit(base.pop("model"), base.pop("objective"), base.pop("data"), **base)


def _appended(*rows):
    h = History()
    for step, row in rows:
        h.append(step, row)
    return h


def _normal_mode(call, fast: str = "0"):
    """``call()`` outside FAST mode (where a claim's measurement is shown; ``fast="1"``: in it), the environment
    restored after."""
    saved = {k: os.environ.get(k) for k in ("VAECOURSE_FAST", "VAECOURSE_SITE")}
    os.environ.update(VAECOURSE_FAST=fast, VAECOURSE_SITE="0")
    try:
        return call()
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


PEND = Pendulum(size=8)
FACT = FactorImages([3, 4, 5])

REFUSED = {
    # mig.py
    "histogram_discretize(bins=-3)": (lambda: MG.histogram_discretize(_codes(5), bins=-3), "bins"),
    "histogram_discretize(bins=1e7)": (lambda: MG.histogram_discretize(_codes(5), bins=10 ** 7), "bins"),
    "histogram_discretize(bins=2.0)": (lambda: MG.histogram_discretize(_codes(5), bins=2.0), "bins"),
    "histogram_discretize(inf codes)": (lambda: MG.histogram_discretize(np.array([[INF, 1.0], [0.0, 1.0]])), "codes"),
    "histogram_discretize(3-D codes)": (lambda: MG.histogram_discretize(np.zeros((2, 2, 2))), "codes"),
    "discrete_entropy(inf)": (lambda: MG.discrete_entropy(np.array([[INF], [1.0]])), "labels"),
    "discrete_entropy(None)": (lambda: MG.discrete_entropy(None), "labels"),
    "discrete_mutual_info(rows differ)": (lambda: MG.discrete_mutual_info(np.zeros((4, 2)), np.zeros((3, 2))), "b"),
    "mig_from_mutual_info(negative)": (lambda: MG.mig_from_mutual_info(-np.ones((3, 2)), np.ones(2)), "mutual_info"),
    "mig_from_mutual_info(entropy -1)": (lambda: MG.mig_from_mutual_info(np.ones((3, 2)), -np.ones(2)), "entropy"),
    "mig_from_mutual_info(entropy 2-D)": (lambda: MG.mig_from_mutual_info(np.ones((3, 2)), np.ones((2, 1))), "entropy"),
    # dci.py
    "completeness(inf)": (lambda: DC.completeness(np.array([[INF, 1.0], [1.0, 1.0]])), "importance"),
    "disentanglement(negative)": (lambda: DC.disentanglement(-np.eye(3)), "importance"),
    "disentanglement(strings)": (lambda: DC.disentanglement([["a"]]), "importance"),
    "importance_matrix(widths)": (lambda: DC.importance_matrix(_codes(8), _classes(8, 2), _codes(4, 3), _classes(4, 2)),
                                  "x_eval"),
    "importance_matrix(factors differ)": (lambda: DC.importance_matrix(_codes(8), _classes(8, 2), _codes(4),
                                                                       _classes(4, 3)), "y_eval"),
    "importance_matrix(n_estimators=True)": (lambda: DC.importance_matrix(_codes(8), _classes(8, 2), _codes(4),
                                                                          _classes(4, 2), n_estimators=True),
                                             "n_estimators"),
    "importance_matrix(seed=2**40)": (lambda: DC.importance_matrix(_codes(8), _classes(8, 2), _codes(4), _classes(4, 2),
                                                                   seed=2 ** 40), "seed"),
    # sap.py
    "sap_score_matrix(y 1-D)": (lambda: SA.sap_score_matrix(_codes(8), _classes(8), _codes(4), _classes(4, 1)),
                                "y_train"),
    "sap_score_matrix(y_eval rows)": (lambda: SA.sap_score_matrix(_codes(8), _classes(8, 2), _codes(4), _classes(5, 2)),
                                      "y_eval"),
    "sap_score_matrix(inf x_eval)": (lambda: SA.sap_score_matrix(_codes(8), _classes(8, 2), np.full((4, 2), INF),
                                                                 _classes(4, 2)), "x_eval"),
    "sap_score_matrix(seed=-5)": (lambda: SA.sap_score_matrix(_codes(8), _classes(8, 2), _codes(4), _classes(4, 2),
                                                              seed=-5), "seed"),
    "sap_from_scores(1-D)": (lambda: SA.sap_from_scores(np.ones(4)), "scores"),
    "sap_from_scores(inf)": (lambda: SA.sap_from_scores(np.array([[INF], [1.0]])), "scores"),
    # higgins.py
    "z_diff(1-D)": (lambda: HG.z_diff(torch.zeros(3), torch.zeros(3)), "z1"),
    "z_diff(inf z2)": (lambda: HG.z_diff(np.zeros((2, 3)), np.full((2, 3), INF)), "z2"),
    "z_diff(strings)": (lambda: HG.z_diff("ab", "cd"), "z1"),
    "fixed_factor_pairs(y=-1)": (lambda: HG.fixed_factor_pairs(FACT, -1, 4, _g()), "y"),
    "fixed_factor_pairs(y=1.0)": (lambda: HG.fixed_factor_pairs(FACT, 1.0, 4, _g()), "y"),
    "fixed_factor_pairs(batch_size=-2)": (lambda: HG.fixed_factor_pairs(FACT, 0, -2, _g()), "batch_size"),
    "fixed_factor_pairs(generator=5)": (lambda: HG.fixed_factor_pairs(FACT, 0, 4, 5), "generator"),
    "fixed_factor_pairs_batched(ys=-1)": (lambda: HG.fixed_factor_pairs_batched(FACT, torch.tensor([-1]), 4, _g()),
                                          "ys"),
    "fixed_factor_pairs_batched(ys 2-D)": (lambda: HG.fixed_factor_pairs_batched(FACT, torch.zeros(2, 2), 4, _g()),
                                           "ys"),
    "linear_classifier_accuracy(y_eval 2-D)": (lambda: HG.linear_classifier_accuracy(_codes(9), _classes(9), _codes(3),
                                                                                      _classes(3, 2)), "y_eval"),
    "linear_classifier_accuracy(labels 0.5)": (lambda: HG.linear_classifier_accuracy(_codes(9), _classes(9) + 0.5,
                                                                                      _codes(3), _classes(3)),
                                               "y_train"),
    "linear_classifier_accuracy(inf x_eval)": (lambda: HG.linear_classifier_accuracy(_codes(9), _classes(9),
                                                                                      np.full((3, 2), INF),
                                                                                      _classes(3)), "x_eval"),
    "linear_classifier_accuracy(max_iter=2.5)": (lambda: HG.linear_classifier_accuracy(_codes(9), _classes(9),
                                                                                        _codes(3), _classes(3),
                                                                                        max_iter=2.5), "max_iter"),
    "linear_classifier_accuracy(seed=True)": (lambda: HG.linear_classifier_accuracy(_codes(9), _classes(9), _codes(3),
                                                                                     _classes(3), seed=True), "seed"),
    "linear_classifier_accuracy(standardize='y')": (lambda: HG.linear_classifier_accuracy(
        _codes(9), _classes(9), _codes(3), _classes(3), standardize="y"), "standardize"),
    "higgins_points(source a function)": (lambda: HG.higgins_points(FACT, lambda b: b, 8, 4, _g()), "source"),
    "higgins_points(n_points=-1)": (lambda: HG.higgins_points(FACT, CO.CodeSource(FACT, lambda b: b.flatten(1), "t"),
                                                              -1, 4, _g()), "n_points"),
    "factorvae_votes(active all False)": (lambda: FV.factorvae_votes(FACT, CO.CodeSource(FACT, lambda b: b.flatten(1),
                                                                                         "t"), 4, 4, _g(), np.ones(3),
                                                                     np.zeros(3, bool)), "active"),
    "factorvae_votes(batch_size=1)": (lambda: FV.factorvae_votes(FACT, CO.CodeSource(FACT, lambda b: b.flatten(1), "t"),
                                                                 4, 1, _g(), np.ones(3), np.ones(3, bool)), "batch_size"),
    "factorvae(prune_threshold=-1)": (lambda: FV.factorvae(FACT, lambda b: b.flatten(1), generator=_g(), n_train=6,
                                                           n_eval=6, n_variance=8, prune_threshold=-1.0),
                                      "prune_threshold"),
    "factor_latent_correlations(factors=5)": (lambda: COR.factor_latent_correlations(FACT, lambda b: b.flatten(1),
                                                                                      factors=5, n=8), "factors"),
    "factor_latent_correlations(generator='g')": (lambda: COR.factor_latent_correlations(
        FACT, lambda b: b.flatten(1), factors=["v0"], generator="g", n=8), "generator"),
    "factor_latent_correlations(representation_fn=None)": (lambda: COR.factor_latent_correlations(
        FACT, None, factors=["v0"], n=8), "representation_fn"),
    "factor_latent_correlations(codes of one image)": (lambda: COR.factor_latent_correlations(
        FACT, lambda b: b.flatten(1)[:1], factors=["v0"], n=8), "representation_fn"),
    # codes.py
    "sklearn_seed(None)": (lambda: CO.sklearn_seed(None), "generator"),
    "CodeCache(inf codes)": (lambda: CO.CodeCache(FACT, np.full((60, 2), INF)), "codes"),
    "CodeCache(complex codes)": (lambda: CO.CodeCache(FACT, np.zeros((60, 2), complex)), "codes"),
    "CodeCache(seconds=-1)": (lambda: CO.CodeCache(FACT, np.zeros((60, 2)), seconds=-1.0), "seconds"),
    "encode_grid(progress=1)": (lambda: CO.encode_grid(FACT, lambda b: b.flatten(1), progress=1), "progress"),
    # mic.py
    "mic(x 3-D)": (lambda: MI.mic(np.zeros((5, 1, 1)), np.zeros(5)), "x"),
    "mic(y inf)": (lambda: MI.mic(np.arange(6.0), np.r_[np.arange(5.0), INF]), "y"),
    "mic(3 points)": (lambda: MI.mic(np.arange(3.0), np.arange(3.0)), "x"),
    "equipartition(order not sorting)": (lambda: MI.equipartition(np.arange(6.0), 2, order=np.arange(6)[::-1].copy()),
                                         "order"),
    "equipartition(order floats)": (lambda: MI.equipartition(np.arange(6.0), 2, order=np.arange(6.0)), "order"),
    "equipartition(values 2-D)": (lambda: MI.equipartition(np.zeros((3, 2)), 2), "values"),
    "mic_tic_summary(concepts inf)": (lambda: MI.mic_tic_summary(RNG.random((8, 2)), np.full((8, 2), INF)),
                                      "concepts"),
    "mic_tic_summary(latents 1-D)": (lambda: MI.mic_tic_summary(RNG.random(8), RNG.random((8, 2))), "latents"),
    "mic_tic_summary(rows differ)": (lambda: MI.mic_tic_summary(RNG.random((8, 2)), RNG.random((9, 2))), "concepts"),
    "mic_tic_score(n=2)": (lambda: MI.mic_tic_score(PEND, lambda x, u: x.flatten(1), n=2), "n"),
    "mic_tic_score(n=True)": (lambda: MI.mic_tic_score(PEND, lambda x, u: x.flatten(1), n=True), "n"),
    "mic_tic_score(representation_fn='f')": (lambda: MI.mic_tic_score(PEND, "f", n=8), "representation_fn"),
    "mic_tic_score(codes NaN)": (lambda: MI.mic_tic_score(PEND, lambda x, u: x.flatten(1) * NaN, n=8),
                                 "representation_fn"),
    # latent_kl.py
    "kl_per_dimension(3-D)": (lambda: LK.kl_per_dimension(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)), "mu"),
    "kl_per_dimension(empty)": (lambda: LK.kl_per_dimension(torch.zeros(0, 3), torch.zeros(0, 3)), "mu"),
    "model_kl_per_dimension(model='vae')": (lambda: LK.model_kl_per_dimension("vae", _x()), "model"),
    "model_kl_per_dimension(x NaN)": (lambda: LK.model_kl_per_dimension(_vae(), torch.full((2, 1, 4, 4), NaN)), "x"),
    "model_kl_per_dimension(x list)": (lambda: LK.model_kl_per_dimension(_vae(), [[1.0]]), "x"),
    "active_latents(kl -0.5)": (lambda: LK.active_latents([0.3, -0.5]), "kl"),
    "active_latents(kl (2, 0))": (lambda: LK.active_latents(torch.ones(2, 0)), "KLs"),
    # likelihood.py
    "test_log_likelihood(model=nn.Linear)": (lambda: LL.test_log_likelihood(torch.nn.Linear(2, 2), _x(), k=2), "model"),
    "test_log_likelihood(images list)": (lambda: LL.test_log_likelihood(_vae(), [1.0], k=2), "images"),
    "test_log_likelihood(chunk_size=-1)": (lambda: LL.test_log_likelihood(_vae(), _x(), k=2, chunk_size=-1),
                                           "chunk_size"),
    "test_log_likelihood(generator=0)": (lambda: LL.test_log_likelihood(_vae(), _x(), k=2, generator=0), "generator"),
    # units.py
    "active_units(images inf)": (lambda: UN.active_units(torch.full((3, 1, 4, 4), INF), lambda b: b.flatten(1)),
                                 "images"),
    "active_units(images list)": (lambda: UN.active_units([[1.0], [2.0]], lambda b: b), "images"),
    "kl_per_unit(model=3)": (lambda: UN.kl_per_unit(3, _x()), "model"),
    "kl_per_unit(images empty)": (lambda: UN.kl_per_unit(_ladder(), _x(0)), "images"),
    "kl_per_unit(generator='g')": (lambda: UN.kl_per_unit(_ladder(), _x(), generator="g"), "generator"),
    # causal.py
    "free_concepts(ranges key -1)": (lambda: CA.free_concepts(torch.zeros(2, 4), {-1: (0.0, 1.0)}), "ranges"),
    "free_concepts(ranges key True)": (lambda: CA.free_concepts(torch.zeros(2, 4), {True: (0.0, 1.0)}), "ranges"),
    "free_concepts(range of 3)": (lambda: CA.free_concepts(torch.zeros(2, 4), {0: (0.0, 1.0, 2.0)}), "ranges"),
    "free_concepts(range inf)": (lambda: CA.free_concepts(torch.zeros(2, 4), {0: (0.0, INF)}), "ranges"),
    "free_concepts(generator=1)": (lambda: CA.free_concepts(torch.zeros(2, 4), {}, generator=1), "generator"),
    "train_concept_regressor(free=2)": (lambda: CA.train_concept_regressor(PEND, steps=1, free=2), "free"),
    "train_concept_regressor(dataset=None)": (lambda: CA.train_concept_regressor(None, steps=1), "dataset"),
    "train_concept_regressor(generator=0)": (lambda: CA.train_concept_regressor(PEND, steps=1, generator=0), "generator"),
    "label_values(dataset='p')": (lambda: CA.label_values("p", 0, 3), "dataset"),
    "intervention_fidelity(counterfactual_fn=None)": (lambda: CA.intervention_fidelity(PEND, None, CA.ConceptRegressor(),
                                                                                        n=4), "counterfactual_fn"),
    "intervention_fidelity(regressor=lambda)": (lambda: CA.intervention_fidelity(PEND, lambda x, u, i, v: x,
                                                                                  lambda x: x, n=4), "regressor"),
    "intervention_fidelity(n=0)": (lambda: CA.intervention_fidelity(PEND, lambda x, u, i, v: x, CA.ConceptRegressor(),
                                                                     n=0), "n"),
    "intervention_fidelity(values inf)": (lambda: CA.intervention_fidelity(
        PEND, lambda x, u, i, v: x, CA.ConceptRegressor(), n=4, values=[[INF]] * 4), "values"),
    "intervention_fidelity(fn returns list)": (lambda: CA.intervention_fidelity(
        PEND, lambda x, u, i, v: [0.0], CA.ConceptRegressor(), n=4), "counterfactual_fn"),
    "intervention_fidelity(fn returns inf)": (lambda: CA.intervention_fidelity(
        PEND, lambda x, u, i, v: x + INF, CA.ConceptRegressor(), n=4), "counterfactual_fn"),
    "intervention_fidelity(regressor reads 3 concepts)": (lambda: CA.intervention_fidelity(
        PEND, lambda x, u, i, v: x, torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 3)), n=4), "regressor"),
    "ink_left(erased inf)": (lambda: CA.ink_left(torch.zeros(2, 3, 8, 8), torch.full((2, 3, 8, 8), INF),
                                                 torch.zeros(2, 3, 8, 8), torch.arange(8) == 0), "erased"),
    "ink_left(truth list)": (lambda: CA.ink_left(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8), "t",
                                                 torch.arange(8) == 0), "truth"),
    # train.py: History
    "History.append(inf)": (lambda: History().append(0, {"kl": INF}), "kl"),
    "History.append(same step)": (lambda: _appended((2, {"a": 1.0}), (2, {"a": 1.0})), "step"),
    "History.append(step -1)": (lambda: History().append(-1, {"a": 1.0}), "step"),
    "History.append(step True)": (lambda: History().append(True, {"a": 1.0}), "step"),
    "History.append(value None)": (lambda: History().append(0, {"a": None}), "a"),
    "History.append(value tensor of 2)": (lambda: History().append(0, {"a": torch.ones(2)}), "a"),
    "History.append(a term missing)": (lambda: _appended((0, {"a": 1.0, "b": 1.0}), (1, {"a": 1.0})), "values"),
    "History.append(key 3)": (lambda: History().append(0, {3: 1.0}), "keys"),
    "History(steps decrease)": (lambda: History(steps=[3, 1], records={"a": [1.0, 2.0]}), "steps"),
    "History(steps 1.5)": (lambda: History(steps=[1.5]), "steps"),
    "History(records list)": (lambda: History(steps=[0], records=[1.0]), "records"),
    "History(records value inf)": (lambda: History(steps=[0], records={"a": [INF]}), "records"),
    "History(records value bool)": (lambda: History(steps=[0, 1], records={"a": [1.0, False]}), "records"),
    "History(records too long)": (lambda: History(steps=[0], records={"a": [1.0, 2.0]}), "records"),
    "History(seconds=-2)": (lambda: History(seconds=-2.0), "seconds"),
    "History(examples=2.5)": (lambda: History(examples=2.5), "examples"),
    "History.from_dict(records value 'x')": (lambda: History.from_dict({"steps": [0], "records": {"a": ["x"]}}),
                                             "records"),
    "History.from_dict(examples -3)": (lambda: History.from_dict({"steps": [], "records": {}, "examples": -3}),
                                       "examples"),
    # train.py: fit
    "fit(desc=None)": (lambda: _fit(desc=None), "desc"),
    "fit(progress=0)": (lambda: _fit(progress=0), "progress"),
    "fit(model=Sequential)": (lambda: _fit(model=torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))),
                              "model"),
    "fit(start_step = history's last)": (lambda: _fit(history=History(steps=[0, 3], records={"loss": [1.0, 1.0]}),
                                                      start_step=3), "start_step"),
    "fit(history of other terms)": (lambda: _fit(history=History(steps=[0], records={"loss": [1.0]}), start_step=1),
                                    "history"),
    "fit(optimizer over a tensor)": (lambda: _fit(optimizer=torch.optim.SGD([torch.zeros(2, requires_grad=True)],
                                                                            lr=0.1)), "optimizer"),
    "fit(data empty list)": (lambda: _fit(data=[], steps=2), "data"),
    "fit(transform returns a list)": (lambda: _fit(transform=lambda x: [x]), "transform"),
    "fit(objective returns a dict)": (lambda: _fit(objective=lambda o, x: {"loss": torch.zeros(())}), "objective"),
    "fit(objective's loss without grad)": (lambda: _fit(objective=lambda o, x: Terms(*(torch.zeros(()),) * 4)),
                                           "objective"),
    # prose.py
    "say(x=inf)": (lambda: prose.say("{x:.1f}", show=False, x=INF), "x"),
    "say(x=np.nan)": (lambda: prose.say("{a} {x}", show=False, a=1, x=np.float64("nan")), "x"),
    "say(x=tensor nan)": (lambda: prose.say("{x}", show=False, x=torch.tensor(NaN)), "x"),
    "say(x=array with inf)": (lambda: prose.say("{x}", show=False, x=np.array([1.0, -INF])), "x"),
    "say(x='b' for :d)": (lambda: prose.say("{x:d}", show=False, x="b"), "x"),
    "say(x=[1.0, nan])": (lambda: prose.say("{x}", show=False, x=[1.0, NaN]), "x"),
    "say(x={'a': inf})": (lambda: prose.say("{x}", show=False, x={"a": INF}), "x"),
    "say(show='yes')": (lambda: prose.say("{x}", show="yes", x=1), "show"),
    "claim(measured inf)": (lambda: _normal_mode(lambda: prose.claim("it holds", True, measured="a gap of inf nats",
                                                                      show=False)), "measured"),
    "claim(statement nan)": (lambda: prose.claim("the score is NaN", True, show=False), "statement"),
    # check.choose
    "choose(high < low)": (lambda: check.choose(lambda: 1.0, "9.9", "w", low=3.0, high=2.0, default=2.5), "high"),
    "choose(high=inf)": (lambda: check.choose(lambda: 1.0, "9.9", "w", low=0.0, high=INF, default=0.5), "high"),
    "choose(default below)": (lambda: check.choose(lambda: 1.0, "9.9", "w", low=1.0, high=2.0, default=0.0), "default"),
    "choose(default not whole)": (lambda: check.choose(lambda: 1, "9.9", "w", low=1, high=8, default=2.5, integer=True),
                                  "default"),
    "choose(default NaN)": (lambda: check.choose(lambda: 1.0, "9.9", "w", low=0.0, high=1.0, default=NaN), "default"),
    "choose(integer='yes')": (lambda: check.choose(lambda: 1, "9.9", "w", low=1, high=8, default=2, integer="yes"),
                              "integer"),
    "choose(taken NaN)": (lambda: check.choose(lambda: 1.0, "9.9", "w", low=0.0, high=1.0, default=0.5, taken=[NaN]),
                          "taken"),
    "choose(exercise 3)": (lambda: check.choose(lambda: 1.0, 3, "w", low=0.0, high=1.0, default=0.5), "exercise"),
    # causal.py's regressor (a conv with 0 input channels was built; 2.5 outputs reached torch)
    "ConceptRegressor(channels=0)": (lambda: CA.ConceptRegressor(channels=0), "channels"),
    "ConceptRegressor(channels=5)": (lambda: CA.ConceptRegressor(channels=5), "channels"),
    "ConceptRegressor(outputs=2.5)": (lambda: CA.ConceptRegressor(outputs=2.5), "outputs"),
    "ConceptRegressor(outputs=True)": (lambda: CA.ConceptRegressor(outputs=True), "outputs"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_input_is_refused_at_the_call_in_one_line_naming_the_argument(case):
    call, name = REFUSED[case]
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert type(info.value) in (ValueError, TypeError), type(info.value)  # not a subclass from inside numpy/sklearn
    text = str(info.value)
    assert "\n" not in text, text
    assert name in text, (name, text)
    assert any(word in text for word in (" must ", " expected ", " needs ")), text


def test_valid_odd_inputs_keep_working():
    # float64 tensors, numpy arrays, lists, integer labels as floats: all still scored
    assert MG.histogram_discretize([[0.0, 1.0], [1.0, 0.0]], bins=1).tolist() == [[1, 1], [1, 1]]
    assert MG.discrete_entropy(np.array([[0, 1], [0, 1]]))[0] == pytest.approx(0.0)
    score, _ = MG.mig_from_mutual_info(torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64), [1.0, 1.0])
    assert score == pytest.approx(1.0)
    assert SA.sap_from_scores([[1.0, 0.5], [0.0, 0.5]]) == pytest.approx(0.5)
    assert DC.completeness(np.zeros((2, 2))) >= 0  # all-zero importance: defined (uniform), not NaN
    diff = HG.z_diff(torch.ones(2, 3, 2, dtype=torch.float64), np.zeros((2, 3, 2)))
    assert isinstance(diff, torch.Tensor) and diff.dtype == torch.float64 and diff.shape == (2, 2)
    assert isinstance(HG.z_diff(np.ones((3, 2)), np.zeros((3, 2))), np.ndarray)
    x = _codes(12)
    train, evaluation, _ = HG.linear_classifier_accuracy(x, (np.arange(12) % 2).astype(float), x[:4], np.arange(4) % 2)
    assert 0 <= train <= 1 and 0 <= evaluation <= 1
    assert SA.sap_score_matrix(x, _classes(12, 2) * 0, x[:3], _classes(3, 2) * 0, continuous=True).shape == (2, 2)
    votes = FV.factorvae(FACT, lambda b: torch.cat([b.flatten(1)[:, :2], torch.zeros(len(b), 1)], 1), generator=_g(),
                         n_train=6, n_eval=6, n_variance=8, prune_threshold=0.0)
    assert votes["num_active_dims"] <= 2  # a constant dimension is never divided by its zero scale
    assert CO.CodeCache(FACT, np.zeros((60, 2), np.float32)).codes.dtype == np.float64
    assert MI.mic([1, 2, 3, 4, 5, 6], [1.0, 4, 9, 16, 25, 36]) == pytest.approx(1.0)
    assert LK.active_latents([[0.2, 0.0], [0.4, -1e-9]], 0.1).tolist() == [0]  # rounding below 0 is a KL of 0
    assert LK.model_kl_per_dimension(_vae(), _x().double()).shape == (2,)
    assert math.isfinite(LL.test_log_likelihood(_vae(), _x(1), k=2)["log_likelihood"])  # one image, eval mode
    assert UN.active_units(_x(2).double(), lambda b: b.flatten(1))["units_per_layer"] == [16]
    moved = CA.free_concepts(torch.zeros(3, 4, dtype=torch.float64), {np.int64(2): torch.tensor([1.0, 1.0])}, _g())
    assert moved[:, 2].tolist() == [1.0, 1.0, 1.0] and moved.dtype == torch.float64
    history = History(steps=range(2), records={"a": np.array([1.0, 2.0], np.float32)}, examples=np.int64(4))
    history.append(np.int64(5), {"a": torch.tensor(3.0)})
    assert history.steps == [0, 1, 5] and history.records["a"] == [1.0, 2.0, 3.0]
    assert History.from_dict(history.to_dict()) == history
    first = _fit(steps=2)
    resumed = _fit(steps=1, start_step=2, history=first)
    assert resumed.steps == [0, 1, 2]
    assert prose.say("{x:.2f} {n}", show=False, x=np.float32(0.5), n=3).text == "0.50 3"
    fast = _normal_mode(lambda: prose.claim("it holds", True, measured="a gap of nan nats", show=False), fast="1")
    assert fast.text == "claim, not checked in FAST mode: it holds"  # FAST mode shows no measurement: not refused
    assert check.choose(lambda: 4, "9.9", "w", low=1, high=8, default=2, integer=True, taken=(2,)) == 4
