"""The seventh held-out probe's findings on the exercise checks (FINDINGS items 15-43): run values the thinking checks
read as numbers (complex, text, None, 1.7e308), runs that cannot show the outcome and got a verdict anyway, and the
coding checks' misdiagnosis of a warm-up schedule."""

import math

import pytest
import torch

from vaecourse import check
from vaecourse.check import think as K

UNREAD = "the check could not read the run's results"

IMG = torch.zeros(8, 8)
IMG[3:5, 3:5] = 0.9
AVG = torch.full((8, 8), 0.1)


def _run(beta, kl):
    return {"beta": beta, "kl": kl}


RUNS = {4.0: _run([3.0] * 20, [5.0] * 20), 8.0: _run([1.0] * 20, [9.0] * 20)}
SC = {"factor_names": ("posX", "posY", "scale"), "latent": [0, 1, 2], "abs_rho": [0.95, 0.93, 0.4], "threshold": 0.9}
RES = {8: {"eval_accuracy": 0.81, "train_accuracy": 0.9, "n_eval": 100},
       32: {"eval_accuracy": 0.95, "train_accuracy": 0.99, "n_eval": 100}}
LW = torch.randn(50, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) - 100
GRID = torch.zeros(3, 5, 1, 4, 4)
GRID[1, :, 0] = torch.linspace(0, 1, 5)[:, None, None]
_G = torch.Generator().manual_seed(1)
X1, X3 = torch.randn(500, generator=_G), torch.randn(500, generator=_G)
SEL = (X1 + X3 - 1).abs() < 0.3
PANELS = {"observational": {"x1": X1, "x3": X3}, "conditioned": {"x1": X1[SEL], "x3": X3[SEL]},
          "intervened": {"x1": X1, "x3": X3}}
SHADOW = torch.zeros(8, dtype=torch.bool)
SHADOW[6:] = True


def _row(values, inside=0.0, outside=0.0, seed=0):
    base = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(seed)).expand(values, 1, 8, 8).clone()
    for v in range(values):
        base[v, :, 6:] = (base[v, :, 6:] + inside * v / values) % 1
        base[v, :, :6] = (base[v, :, :6] + outside * v / values) % 1
    return base


MODEL = {"shadow_position": _row(5, 0.5), "theta": _row(5, 0.5, 0.5)}
TRUE = {"shadow_position": _row(5, 0.5, seed=1)}
A4 = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0.]])

BAD_RUNS = {
    # _finite: what came is no real number
    "1.5 complex image": lambda: K.predict_prior_mean(lambda: "centre", IMG.to(torch.complex64), AVG),
    "1.5 None image": lambda: K.predict_prior_mean(lambda: "centre", None, AVG),
    "1.5 text image": lambda: K.predict_prior_mean(lambda: "centre", "img", AVG),
    "1.5 dict image": lambda: K.predict_prior_mean(lambda: "centre", {"a": 1}, AVG),
    "2.5 text betas": lambda: K.predict_multiplier(lambda: "higher", {**RUNS, 4.0: _run(["3"] * 20, [5.0] * 20)}),
    "2.5 beta 1.7e308": lambda: K.predict_multiplier(lambda: "higher", {**RUNS, 4.0: _run([1.7e308] * 20, [5.0] * 20)}),
    # 1.5: an average with no ink, a non-square image
    "1.5 blank average": lambda: K.predict_prior_mean(lambda: "average", torch.zeros(8, 8), torch.zeros(8, 8)),
    "1.5 non-square": lambda: K.predict_prior_mean(
        lambda: "off-centre", torch.zeros(8, 4).index_fill_(1, torch.tensor([0]), 1.0), torch.full((8, 4), 0.1)),
    # 1.6: one value per row
    "1.6 one value per row": lambda: K.interpret_traversals(lambda: 0, torch.zeros(3, 1, 1, 4, 4),
                                                            torch.tensor([0.3, 2.0, 0.0])),
    # 2.5: traces of two lengths, runs of two lengths, tight >= loose
    "2.5 kl shorter than beta": lambda: K.predict_multiplier(lambda: "higher", {**RUNS, 4.0: _run([3.0] * 20, [5.0] * 3)}),
    "2.5 runs of two lengths": lambda: K.predict_multiplier(lambda: "higher", {**RUNS, 4.0: _run([3.0] * 10, [5.0] * 10)}),
    "2.5 tight == loose": lambda: K.predict_multiplier(lambda: "same", RUNS, tight=4.0, loose=4.0),
    "2.5 tight > loose": lambda: K.predict_multiplier(lambda: "lower", RUNS, tight=8.0, loose=4.0),
    # 2.6: a negative budget, text keys
    "2.6 negative epsilon": lambda: K.vary_epsilon(lambda r: 1.0, {-1.0: _run([1.0] * 20, [0.0] * 20),
                                                                  4.0: _run([3.0] * 20, [5.0] * 20)}, 4.0),
    "2.6 text keys": lambda: K.vary_epsilon(lambda r: 3.0, {"4": RUNS[4.0], "8": RUNS[8.0]}, 4.0),
    # 2.7: a factor named twice, names as one string, a NaN or text latent
    "2.7 factor named twice": lambda: K.interpret_dropped_factor(lambda: "posX", {**SC, "factor_names": ("posX", "posX", "scale")}),
    "2.7 names as one string": lambda: K.interpret_dropped_factor(lambda: "s", {**SC, "factor_names": "xys"}),
    "2.7 NaN latent": lambda: K.interpret_dropped_factor(lambda: "scale", {**SC, "latent": [0, 1, math.nan]}),
    "2.7 text latent": lambda: K.interpret_dropped_factor(lambda: "scale", {**SC, "latent": "012"}),
    # 3.5: an ideal score near 0, a rotated code far above the ideal
    "3.5 ideal MIG 1e-300": lambda: K.predict_rotation(lambda: "neither", {"ideal code": {"Higgins": 1.0, "MIG": 1e-300},
                                                                           "rotated": {"Higgins": 1.0, "MIG": 1e-300}}),
    "3.5 rotated at 180%": lambda: K.predict_rotation(lambda: "neither", {"ideal code": {"Higgins": 1.0, "MIG": 0.5},
                                                                          "rotated": {"Higgins": 1.0, "MIG": 0.9}}),
    # 3.6: chance, n_eval, train_accuracy read
    "3.6 chance NaN": lambda: K.vary_pairs(lambda r: 0.81, RES, 8, chance=math.nan),
    "3.6 chance 2": lambda: K.vary_pairs(lambda r: 0.81, RES, 8, chance=2.0),
    "3.6 chance text": lambda: K.vary_pairs(lambda r: 0.81, RES, 8, chance="x"),
    "3.6 n_eval -5": lambda: K.vary_pairs(lambda r: 0.81, {**RES, 8: {**RES[8], "n_eval": -5}}, 8),
    "3.6 n_eval NaN": lambda: K.vary_pairs(lambda r: 0.81, {**RES, 8: {**RES[8], "n_eval": math.nan}}, 8),
    "3.6 n_eval 2.7": lambda: K.vary_pairs(lambda r: 0.81, {**RES, 8: {**RES[8], "n_eval": 2.7}}, 8),
    "3.6 n_eval text": lambda: K.vary_pairs(lambda r: 0.81, {**RES, 8: {**RES[8], "n_eval": "100"}}, 8),
    "3.6 train accuracy 5": lambda: K.vary_pairs(lambda r: 5.0, {**RES, 8: {**RES[8], "train_accuracy": 5.0}}, 8),
    # 4.5: counts beyond int64
    "4.5 count 2**70": lambda: K.predict_warmup(lambda: "more", {"with warm-up": {"kl": [1]},
                                                                 "without warm-up": {"kl": [2 ** 70]}}),
    # 4.6: log-weights whose bound overflows
    "4.6 log_w 1.7e308": lambda: K.vary_samples(lambda lw, k: 0.0, torch.full((5, 2), 1.7e308, dtype=torch.float64), 3),
    "4.6 log_w -1.7e308": lambda: K.vary_samples(lambda lw, k: 0.0, torch.full((5, 2), -1.7e308, dtype=torch.float64), 3),
    # 5.5: samples x1e200, a one-point or constant panel, lengths that differ
    "5.5 samples x1e200": lambda: K.predict_collider(lambda: "conditioned", {
        **PANELS, "observational": {"x1": X1.double() * 1e200, "x3": X3.double() * 1e200}}),
    "5.5 one-point panel": lambda: K.predict_collider(lambda: "conditioned", {
        **PANELS, "conditioned": {"x1": X1[:1], "x3": X3[:1]}}),
    "5.5 constant x1": lambda: K.predict_collider(lambda: "conditioned", {
        **PANELS, "intervened": {"x1": torch.ones(500), "x3": X3}}),
    "5.5 lengths differ": lambda: K.predict_collider(lambda: "conditioned", {
        **PANELS, "intervened": {"x1": X1, "x3": X3[:100]}}),
    "5.5 x1 (n, 2) against x3 (2n,)": lambda: K.predict_collider(lambda: "conditioned", {
        **PANELS, "intervened": {"x1": X1.reshape(250, 2), "x3": X3}}),
    # 5.6: logits, bytes, a simulator whose shadow never moves, rows of different shapes
    "5.6 logits": lambda: K.predict_effect_intervention(
        lambda: "shadow only", {k: v * 10 for k, v in MODEL.items()}, TRUE, SHADOW),
    "5.6 bytes": lambda: K.predict_effect_intervention(
        lambda: "shadow only", {k: (v * 255).to(torch.uint8) for k, v in MODEL.items()},
        {k: (v * 255).to(torch.uint8) for k, v in TRUE.items()}, SHADOW),
    "5.6 still simulator": lambda: K.predict_effect_intervention(
        lambda: "shadow only", MODEL, {"shadow_position": _row(5)}, SHADOW),
    "5.6 RGB against grey": lambda: K.predict_effect_intervention(
        lambda: "shadow only", MODEL, {"shadow_position": _row(5, 0.5, seed=1).expand(5, 3, 8, 8)}, SHADOW),
    # 5.7: a NaN true graph, a 0-d one, text, short names
    "5.7 NaN true graph": lambda: K.vary_independence(lambda a: 0, A4, torch.full((4, 4), math.nan), 10.0),
    "5.7 0-d true graph": lambda: K.vary_independence(lambda a: 0, A4, torch.tensor(1.0), 10.0),
    "5.7 text learned": lambda: K.vary_independence(lambda a: 0, "A", A4, 10.0),
    "5.7 names too short": lambda: K.vary_independence(lambda a: 0, A4 * 0, A4, 10.0, names=["a", "b"]),
    "5.7 float64 1e300": lambda: K.vary_independence(lambda a: 0, A4.double() * 1e300, A4, 10.0),
}


WORDS = {  # where the old line was already "could not read", its words were wrong (numpy's, NaN for None, ...)
    "1.5 None image": "the decoded image must be real numbers from a finished run, got None",
    "1.5 text image": "got 'img'",
    "1.5 dict image": "got {'a': 1}",
    "2.6 text keys": "a run's budget ε (its key) must be a finite number >= 0",
    "3.6 chance text": "vary_pairs's chance (an accuracy) must be real numbers",
    "3.6 n_eval -5": "the run's n_eval (a number of points) must be at least 1",
    "3.6 n_eval NaN": "the run's n_eval (a number of points) must be finite",
    "5.5 lengths differ": "the intervened panel's x1 and x3 must be samples of one length",
    "5.7 NaN true graph": "the true graph must be finite numbers",
    "5.7 0-d true graph": "must be a square (n, n) adjacency matrix",
    "5.7 text learned": "the learned graph A must be real numbers from a finished run, got 'A'",
    "5.7 names too short": "vary_independence's names must be 4 concept names",
    "5.7 float64 1e300": "at most 1e+30 in size",
}


@pytest.mark.parametrize("name", BAD_RUNS)
def test_a_run_the_check_cannot_read_is_one_line_and_no_verdict(name, capsys):
    assert BAD_RUNS[name]() is False
    out = capsys.readouterr().out
    assert UNREAD in out and "✅" not in out, out
    assert WORDS.get(name, "") in out, out


def test_none_is_not_described_as_nan(capsys):
    assert K.predict_prior_mean(lambda: "centre", None, AVG) is False
    out = capsys.readouterr().out
    assert "got None" in out and "NaN" not in out, out


def test_counts_are_printed_as_numbers_not_tensors(capsys):
    runs = {"with warm-up": {"kl": [torch.tensor(10), torch.tensor(5), torch.tensor(2)]},
            "without warm-up": {"kl": torch.tensor([8, 3, 1])}}
    assert K.predict_warmup(lambda: "fewer", runs) is True
    out = capsys.readouterr().out
    assert "[10, 5, 2] (17) with warm-up" in out and "tensor" not in out, out


GOOD_RUNS = {
    "1.5 centre": (lambda: K.predict_prior_mean(lambda: "centre", IMG, AVG), True),
    "1.6 answer 1 + 1e-15": (lambda: K.interpret_traversals(lambda: 1 + 1e-15, GRID, torch.tensor([0.3, 2.0, 0.0])), True),
    "2.5 higher": (lambda: K.predict_multiplier(lambda: "higher", RUNS), True),
    "2.6 0-d tensor epsilon": (lambda: K.vary_epsilon(lambda r: 3.0, RUNS, torch.tensor(4.0)), True),
    "2.6 int keys": (lambda: K.vary_epsilon(lambda r: 3.0, {4: RUNS[4.0], 8: RUNS[8.0]}, 4.0), True),
    "2.7 scale": (lambda: K.interpret_dropped_factor(lambda: "scale", SC), True),
    "2.7 |rho| 1 + 2e-16": (lambda: K.interpret_dropped_factor(lambda: "scale", {**SC, "abs_rho": [1 + 2e-16, 0.93, 0.4]}), True),
    "3.5 scores of exactly 1": (lambda: K.predict_rotation(lambda: "MIG", {"ideal code": {"Higgins": 1.0, "MIG": 1.0},
                                                                           "rotated": {"Higgins": 1.0, "MIG": 0.1}}), True),
    "3.6 chance 1/3": (lambda: K.vary_pairs(lambda r: 0.81, RES, 8, chance=1 / 3), True),
    "3.6 no n_eval": (lambda: K.vary_pairs(lambda r: 0.81, {8: {"eval_accuracy": 0.81}, 32: RES[32]}, 8), True),
    "4.5 fewer": (lambda: K.predict_warmup(lambda: "fewer", {"with warm-up": {"kl": [5, 2]}, "without warm-up": {"kl": [3, 1]}}), True),
    "4.6 k as a 0-d tensor": (lambda: K.vary_samples(
        lambda lw, k: float(K_GAIN(lw, k)), LW, torch.tensor(10)), True),
    "5.5 conditioned": (lambda: K.predict_collider(lambda: "conditioned", PANELS), True),
    "5.6 shadow only": (lambda: K.predict_effect_intervention(
        lambda: "shadow only", {"shadow_position": _row(5, 0.5), "theta": _row(5, 0.0, 0.5)}, TRUE, SHADOW), True),
    "5.7 SHD 0": (lambda: K.vary_independence(lambda a: 0, A4, A4, 10.0, names=("a", "b", "c", "d")), True),
    "1.6 KL of -1e-8": (lambda: K.interpret_traversals(lambda: 1, GRID, torch.tensor([-1e-8, 2.0, 0.0])), True),
}


def K_GAIN(lw, k):
    from vaecourse.objectives import log_mean_exp
    return (log_mean_exp(lw[:k], 0) - lw[0]).mean()


@pytest.mark.parametrize("call, right", GOOD_RUNS.values(), ids=GOOD_RUNS.keys())
def test_valid_runs_still_get_their_verdict(call, right, capsys):
    assert call() is right
    out = capsys.readouterr().out
    assert UNREAD not in out and ("✅" in out) == right, out


@pytest.mark.parametrize("taken", [{3.0}, frozenset({3.0}), (t for t in (3.0,)), range(3, 4)],
                         ids=["set", "frozenset", "generator", "range"])
def test_choose_takes_a_set_or_a_generator_of_runs(taken, capsys):
    assert K.choose(lambda: 3.0, "x", "k", low=0, high=10, default=4, taken=taken) == 4
    assert "is a run this notebook makes anyway" in capsys.readouterr().out


@pytest.mark.parametrize("fn, words, not_words", [
    (lambda e, n: 1 / (1 + math.exp(-(e - n / 2))), "with n_t = 0 at epoch", "dividing by max"),
    (lambda e, n: min(e / max(n, 1), 1.0), "dividing by max", None),
], ids=["sigmoid", "max(n_t, 1)"])
def test_warmup_names_the_division_only_when_there_is_one(fn, words, not_words, capsys):
    assert check.warmup_weight(fn) is False
    out = capsys.readouterr().out
    assert words in out and (not_words is None or not_words not in out), out


def _kl_clamped(mu, logvar):
    logvar = logvar.clamp(-10, 10)
    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(-1)


def _kl(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(-1)


def _ll_binarised(logits, x):
    return ((x > 0.5).to(logits.dtype) * logits - torch.nn.functional.softplus(logits)).flatten(1).sum(1)


def _ll(logits, x):
    return (x * logits - torch.nn.functional.softplus(logits)).flatten(1).sum(1)


def _ll_bce(logits, x):
    return -torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


@pytest.mark.parametrize("checker, fn, right, words", [
    (check.gaussian_kl, _kl_clamped, False, "KL differs from the closed form at mu=[0, 0, 0], logvar="),
    (check.gaussian_kl, _kl, True, "matches the library"),
    (check.bernoulli_log_likelihood, _ll_binarised, False, "for grey pixels x in [0, 1] (not only 0 and 1)"),
    (check.bernoulli_log_likelihood, _ll, True, "matches the library"),
    (check.bernoulli_log_likelihood, _ll_bce, True, "matches the library"),
    (check.bernoulli_log_likelihood, lambda l, x: torch.distributions.Bernoulli(logits=l).log_prob(x).flatten(1).sum(1),
     True, "matches the library"),  # torch refuses grey x (validate_args): still right for the course's binary data
], ids=["1.2 logvar clamped to ±10", "1.2 right", "1.3 x binarised", "1.3 right", "1.3 right (BCE with logits)",
        "1.3 right (torch Bernoulli)"])
def test_coding_checks_tell_clamped_logvar_and_binarised_x_apart(checker, fn, right, words, capsys):
    assert checker(fn) is right
    assert words in capsys.readouterr().out
