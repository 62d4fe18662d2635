"""The eighth held-out probe's findings on the exercise checks, as classes (new values beside the probe's): names that
read alike, indices beyond the KL and latents named twice, one number given as a list, run values with no data (the
meta device), missing keys of the run's mappings, a shadow mask that is no mask, too few points for a correlation,
squares that underflow, a do(θ) that moves nothing, a bool true graph, range messages that hide the excess, `choose`
at the printed precision, and coding checks whose trials never reached the values a clamp changes."""

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
import torch

from vaecourse import check
from vaecourse.check import think as K
from vaecourse.data.pendulum import TRUE_GRAPH
from test_hostile_probe7_checks import _row  # one row of images (V, 1, 8, 8) whose shadow rows 6-7 and rest move

UNREAD = "the check could not read the run's results"
A = lambda v: (lambda *a: v)  # noqa: E731  the learner's answer

IMG = torch.zeros(8, 8)
IMG[3:5, 3:5] = 0.9
AVG = torch.full((8, 8), 0.1)
SC = {"factor_names": ["posX", "posY", "scale"], "latent": [0, 1, 2], "abs_rho": [0.95, 0.93, 0.4], "threshold": 0.9}
KL4 = torch.tensor([1.2, 1.1, 0.0, 0.9])
RES = {8: {"eval_accuracy": 0.81, "train_accuracy": 0.9, "n_eval": 100},
       32: {"eval_accuracy": 0.95, "train_accuracy": 0.99, "n_eval": 100}}
ROT = {"ideal code": {"Higgins": 0.98, "MIG": 0.9}, "rotated": {"Higgins": 0.96, "MIG": 0.1}}
WARM = {"with warm-up": {"kl": [5, 2], "au": [5, 2]}, "without warm-up": {"kl": [3, 1], "au": [3, 1]}}
RUNS = {4.0: {"beta": [3.0] * 20, "kl": [5.0] * 20}, 8.0: {"beta": [1.0] * 20, "kl": [9.0] * 20}}


def _panels(n, scale=1.0, seed=3):
    g = torch.Generator().manual_seed(seed)
    x1, x3 = (torch.randn(20 * n, generator=g, dtype=torch.float64) for _ in range(2))
    keep = ((x1 + x3 + 0.3 * torch.randn(20 * n, generator=g, dtype=torch.float64)) - 1).abs() < 0.3
    return {"observational": {"x1": x1[:n] * scale, "x3": x3[:n] * scale},
            "conditioned": {"x1": x1[keep][:n] * scale, "x3": x3[keep][:n] * scale},
            "intervened": {"x1": x1[-n:] * scale, "x3": x3[-n:] * scale}}


PANELS = _panels(400)
SHADOW = torch.zeros(8, dtype=torch.bool)
SHADOW[6:] = True


MODEL = {"shadow_position": _row(5, 0.5), "theta": _row(5, 0.0, 0.5)}
TRUE = {"shadow_position": _row(5, 0.5, seed=1)}
G4 = TRUE_GRAPH * 2.0

# ------------------------------------------------------------------------------ runs no check may judge: one line
BAD = {
    # alike names: one answer key for two factors or concepts; empty names; a factor called "none"
    "2.7 Scale and scale": (lambda: K.interpret_dropped_factor(A("Scale"), {**SC, "factor_names": ["scale", "posY", "Scale"]}), "factor_names must be"),
    "2.7 pos_y and pos y": (lambda: K.interpret_dropped_factor(A("pos y"), {**SC, "factor_names": ["posX", "pos_y", "pos  y"]}), "factor_names must be"),
    "2.7 padded name": (lambda: K.interpret_dropped_factor(A("posx"), {**SC, "factor_names": ["posX", " posx ", "scale"]}), "factor_names must be"),
    "2.7 empty name": (lambda: K.interpret_dropped_factor(A(""), {**SC, "factor_names": ["posX", "", "scale"]}), "factor_names must be"),
    "2.7 blank name": (lambda: K.interpret_dropped_factor(A("scale"), {**SC, "factor_names": ["posX", "  ", "scale"]}), "factor_names must be"),
    "2.7 factor named None": (lambda: K.interpret_dropped_factor(A("none"), {**SC, "factor_names": ["posX", "None", "scale"]}), "factor_names must be"),
    "5.7 t and T": (lambda: K.vary_independence(A(0), G4, TRUE_GRAPH, 1.0, names=["t", "T", "l", "p"]), "vary_independence's names must be"),
    "5.7 x_1 and x 1": (lambda: K.vary_independence(A(0), G4, TRUE_GRAPH, 1.0, names=["x_1", "x 1", "l", "p"]), "vary_independence's names must be"),
    "5.7 empty name": (lambda: K.vary_independence(A(0), G4, TRUE_GRAPH, 1.0, names=["", "b", "c", "d"]), "vary_independence's names must be"),
    # indices beyond the KL, latents named twice (one latent per factor), indices beyond any layer
    "2.7 latent 4 of a 4-latent KL": (lambda: K.interpret_dropped_factor(A("scale"), {**SC, "latent": [0, 1, 4]}, KL4), "index into the KL, which holds 4"),
    "2.7 KL shorter than the factors": (lambda: K.interpret_dropped_factor(A("scale"), SC, [0.7, 0.2]), "index into the KL, which holds 2"),
    "2.7 latent 2**40 without KL": (lambda: K.interpret_dropped_factor(A("scale"), {**SC, "latent": [0, 1, 2 ** 40]}), "latent (each factor's best latent"),
    "2.7 latent twice": (lambda: K.interpret_dropped_factor(A("scale"), {**SC, "latent": [1, 1, 2]}), "a different latent for each factor"),
    "2.7 latent thrice": (lambda: K.interpret_dropped_factor(A("scale"), {**SC, "latent": [3, 3, 3]}, KL4), "a different latent for each factor"),
    # one number given as several
    "2.7 threshold of two": (lambda: K.interpret_dropped_factor(A("scale"), {**SC, "threshold": [0.9, 0.8]}), "threshold (an |ρ|) must be one number, got 2 values"),
    "3.5 Higgins of two": (lambda: K.predict_rotation(A("MIG"), {**ROT, "rotated": {"Higgins": [0.9, 0.8], "MIG": 0.1}}), "the rotated's Higgins score must be one number"),
    "3.6 eval accuracy of two": (lambda: K.vary_pairs(A(0.81), {**RES, 8: {**RES[8], "eval_accuracy": np.array([0.81, 0.8])}}, 8), "the L = 8 run's eval accuracy must be one number"),
    "3.6 baseline accuracy (2, 1)": (lambda: K.vary_pairs(A(0.81), {**RES, 32: {**RES[32], "eval_accuracy": torch.ones(2, 1)}}, 8), "the L = 32 run's eval accuracy must be one number"),
    "3.6 n_eval of two": (lambda: K.vary_pairs(A(0.81), {**RES, 8: {**RES[8], "n_eval": [100, 200]}}, 8), "n_eval (a number of points) must be one number"),
    "3.6 train accuracy of two": (lambda: K.vary_pairs(A(0.81), {**RES, 8: {**RES[8], "train_accuracy": (0.9, 0.9)}}, 8), "train accuracy must be one number"),
    "3.6 chance of three": (lambda: K.vary_pairs(A(0.81), RES, 8, chance=[0.2, 0.2, 0.2]), "chance (an accuracy) must be one number"),
    # no values: the meta device, in every kind of run value
    "1.5 meta average": (lambda: K.predict_prior_mean(A("centre"), IMG, AVG.to("meta")), "on the meta device"),
    "1.6 meta grid": (lambda: K.interpret_traversals(A(1), torch.zeros(3, 5, 1, 4, 4, device="meta"), [0.3, 2.0, 0.0]), "on the meta device"),
    "2.5 meta beta trace": (lambda: K.predict_multiplier(A("higher"), {**RUNS, 4.0: {"beta": torch.ones(20, device="meta"), "kl": [5.0] * 20}}), "on the meta device"),
    "2.7 meta rho": (lambda: K.interpret_dropped_factor(A("scale"), {**SC, "abs_rho": torch.ones(3, device="meta")}), "on the meta device"),
    "3.6 meta accuracy": (lambda: K.vary_pairs(A(0.81), {**RES, 8: {**RES[8], "eval_accuracy": torch.tensor(0.8, device="meta")}}, 8), "on the meta device"),
    "4.6 meta log_w": (lambda: K.vary_samples(A(0.0), torch.zeros(5, 2, device="meta"), 3), "on the meta device"),
    "5.5 meta x1": (lambda: K.predict_collider(A("conditioned"), {**PANELS, "observational": {"x1": torch.zeros(400, device="meta"), "x3": PANELS["observational"]["x3"]}}), "on the meta device"),
    "5.7 meta learned": (lambda: K.vary_independence(A(0), G4.to("meta"), TRUE_GRAPH, 1.0), "on the meta device"),
    "5.7 meta bool true": (lambda: K.vary_independence(A(0), G4, TRUE_GRAPH.bool().to("meta"), 1.0), "on the meta device"),
    # missing keys and mappings that are none, named (never a bare KeyError or 'NoneType' words)
    "3.6 no run at your L": (lambda: K.vary_pairs(A(0.5), RES, 16), "has no run with your L = 16 (it has [8, 32])"),
    "3.6 no baseline run": (lambda: K.vary_pairs(A(0.81), RES, 8, baseline=64), "has no run with the baseline L = 64"),
    "3.6 run without eval accuracy": (lambda: K.vary_pairs(A(0.81), {**RES, 8: {"n_eval": 100}}, 8), "the L = 8 run's results has no 'eval_accuracy'"),
    "3.6 run None": (lambda: K.vary_pairs(A(0.81), {**RES, 8: None}, 8), "the L = 8 run's results must be a dict"),
    "3.5 no rotated code": (lambda: K.predict_rotation(A("MIG"), {"ideal code": ROT["ideal code"]}), "has no 'rotated'"),
    "3.5 no MIG": (lambda: K.predict_rotation(A("MIG"), {**ROT, "ideal code": {"Higgins": 0.98}}), "scores['ideal code'] has no 'MIG'"),
    "3.5 scores None": (lambda: K.predict_rotation(A("MIG"), None), "must be a dict"),
    "3.5 scores a list": (lambda: K.predict_rotation(A("MIG"), [0.9, 0.1]), "must be a dict"),
    "4.5 no cold run": (lambda: K.predict_warmup(A("fewer"), {"with warm-up": WARM["with warm-up"]}), "has no 'without warm-up'"),
    "4.5 cold run without kl": (lambda: K.predict_warmup(A("fewer"), {**WARM, "without warm-up": {"au": [3, 1]}}), "the without warm-up run's counts has no 'kl'"),
    "4.5 runs None": (lambda: K.predict_warmup(A("fewer"), None), "must be a dict"),
    "5.5 no intervened panel": (lambda: K.predict_collider(A("conditioned"), {k: v for k, v in PANELS.items() if k != "intervened"}), "has no 'intervened' panel"),
    "5.5 panel without x3": (lambda: K.predict_collider(A("conditioned"), {**PANELS, "conditioned": {"x1": PANELS["conditioned"]["x1"]}}), "the conditioned panel has no 'x3'"),
    "5.5 panels None": (lambda: K.predict_collider(A("conditioned"), None), "must be a dict"),
    "5.6 model without theta": (lambda: K.predict_effect_intervention(A("shadow only"), {"shadow_position": MODEL["shadow_position"]}, TRUE, SHADOW), "the model's rows has no do(theta) row"),
    "5.6 simulator rows None": (lambda: K.predict_effect_intervention(A("shadow only"), MODEL, None, SHADOW), "true_rows (the simulator's do() rows) must be a dict"),
    "2.7 no threshold": (lambda: K.interpret_dropped_factor(A("scale"), {k: v for k, v in SC.items() if k != "threshold"}), "has no 'threshold'"),
    "2.7 scores None": (lambda: K.interpret_dropped_factor(A("scale"), None), "must be a dict"),
    "2.5 run without beta": (lambda: K.predict_multiplier(A("higher"), {**RUNS, 8.0: {"kl": [9.0] * 20}}), "the ε = 8 run has no 'beta'"),
    "2.6 run without kl": (lambda: K.vary_epsilon(A(3.0), {**RUNS, 4.0: {"beta": [3.0] * 20}}, 4.0), "the ε = 4 run has no 'kl'"),
    # a shadow mask that is no mask
    **{f"5.6 shadow_rows {name}": (lambda rows=rows: K.predict_effect_intervention(A("shadow only"), MODEL, TRUE, rows),
                                   "shadow_rows must be a boolean mask of the 8 image rows")
       for name, rows in {"None": None, "text": "rows 6-8", "Decimal": Decimal(6), "Fraction": Fraction(3, 4),
                          "bytes": b"\x00\x01", "dict": {6: True}, "int list": [0] * 6 + [1, 1],
                          "float tensor": SHADOW.float(), "meta bool": SHADOW.to("meta"), "empty list": [],
                          "all rows": [True] * 8, "no row": np.zeros(8, dtype=bool), "7 rows": SHADOW[:7]}.items()},
    # too few points for |r| > 0.3 to be more than chance; a constant variable
    "5.5 10 points": (lambda: K.predict_collider(A("conditioned"), _panels(10)), "10 points, and below 50"),
    "5.5 49 points": (lambda: K.predict_collider(A("conditioned"), _panels(49)), "49 points, and below 50"),
    "5.5 constant x3": (lambda: K.predict_collider(A("conditioned"), {**PANELS, "observational": {"x1": PANELS["observational"]["x1"], "x3": torch.full((400,), 0.1)}}), "x3 constant"),
    # a model whose do(θ) moves nothing gives no yardstick for "the pendulum moves"
    "5.6 still do(θ)": (lambda: K.predict_effect_intervention(A("shadow and pendulum"), {"shadow_position": _row(5, 0.5) + 1e-9, "theta": _row(5)}, TRUE, SHADOW), "the model's pendulum does not move under do(θ)"),
    "5.6 do(θ) by 1e-4": (lambda: K.predict_effect_intervention(A("shadow only"), {"shadow_position": _row(5, 0.5), "theta": _row(5, 0.0, 1e-4)}, TRUE, SHADOW), "the model's pendulum does not move under do(θ)"),
    # 5.7's own threshold
    "5.7 threshold list": (lambda: K.vary_independence(A(0), G4, TRUE_GRAPH, 1.0, threshold=[0.3]), "vary_independence's threshold"),
    "5.7 threshold text": (lambda: K.vary_independence(A(0), G4, TRUE_GRAPH, 1.0, threshold="0.3"), "vary_independence's threshold"),
    # a value just out of range prints the digits that show it
    "1.5 image 1.0000001": (lambda: K.predict_prior_mean(A("centre"), torch.full((8, 8), 1.0000001, dtype=torch.float64), AVG), "got values from 1.0000001 to 1.0000001"),
    "1.5 average -2e-7": (lambda: K.predict_prior_mean(A("centre"), IMG, torch.full((8, 8), -2e-7, dtype=torch.float64)), "got values from -2e-07 to -2e-07"),
    "2.7 |rho| 1.00000042": (lambda: K.interpret_dropped_factor(A("scale"), {**SC, "abs_rho": [0.5, 1.00000042, 0.4]}), "to 1.0000004)"),
    "3.5 ideal MIG 0.0499999": (lambda: K.predict_rotation(A("MIG"), {**ROT, "ideal code": {"Higgins": 0.98, "MIG": 0.0499999}}), "got 0.0499999"),
    "2.5 beta 1.000001e30": (lambda: K.predict_multiplier(A("higher"), {**RUNS, 4.0: {"beta": [1.000001e30] * 20, "kl": [5.0] * 20}}), "got values up to 1.000001e+30"),
}


@pytest.mark.parametrize("name", BAD)
def test_a_run_the_check_cannot_judge_is_one_named_line(name, capsys):
    call, words = BAD[name]
    assert call() is False
    out = capsys.readouterr().out
    assert UNREAD in out and "✅" not in out and out.count("\n") <= 1, out
    assert words in out, out
    assert "KeyError" not in out and "NoneType" not in out and "Could not infer" not in out, out


# ------------------------------------------------------------------------------ valid runs keep their verdict
GOOD = {
    "2.7 names A and B": (lambda: K.interpret_dropped_factor(A("B"), {**SC, "factor_names": ["A", "b x", "B"]}), True),
    "2.7 latent 3 of a 4-latent KL": (lambda: K.interpret_dropped_factor(A("scale"), {**SC, "latent": [0, 1, 3]}, KL4), True),
    "2.7 the kept factor is no answer": (lambda: K.interpret_dropped_factor(A("posY"), SC, KL4), False),
    "2.7 threshold [0.9]": (lambda: K.interpret_dropped_factor(A("scale"), {**SC, "threshold": [0.9]}), True),
    "2.7 threshold array([0.9])": (lambda: K.interpret_dropped_factor(A("scale"), {**SC, "threshold": np.array([0.9])}), True),
    "2.7 threshold tensor([[0.9]])": (lambda: K.interpret_dropped_factor(A("scale"), {**SC, "threshold": torch.tensor([[0.9]])}), True),
    "2.7 sparse rho": (lambda: K.interpret_dropped_factor(A("scale"), {**SC, "abs_rho": torch.tensor([0.95, 0.93, 0.4]).to_sparse()}), True),
    "3.5 Higgins [0.98]": (lambda: K.predict_rotation(A("MIG"), {**ROT, "ideal code": {"Higgins": [0.98], "MIG": torch.tensor(0.9)}}), True),
    "3.6 eval accuracy [0.81]": (lambda: K.vary_pairs(A(0.81), {**RES, 8: {**RES[8], "eval_accuracy": [0.81]}}, 8), True),
    "3.6 n_eval [100], chance [0.2]": (lambda: K.vary_pairs(A(0.81), {**RES, 8: {**RES[8], "n_eval": np.array([100])}}, 8, chance=[0.2]), True),
    "3.6 train accuracy None": (lambda: K.vary_pairs(A(0.81), {**RES, 8: {**RES[8], "train_accuracy": None}}, 8), True),
    "4.5 without au": (lambda: K.predict_warmup(A("fewer"), {"with warm-up": {"kl": [5, 2]}, "without warm-up": {"kl": [3, 1]}}), True),
    "5.5 400 points": (lambda: K.predict_collider(A("conditioned"), PANELS), True),
    "5.5 50 points": (lambda: K.predict_collider(A("conditioned"), _panels(50, seed=4)), True),
    "5.5 samples x1e-300": (lambda: K.predict_collider(A("conditioned"), _panels(400, 1e-300)), True),
    "5.5 samples x1e-310 (subnormal)": (lambda: K.predict_collider(A("conditioned"), _panels(400, 1e-310)), True),
    "5.5 samples x1e25": (lambda: K.predict_collider(A("conditioned"), _panels(400, 1e25)), True),
    "5.5 samples + 1e6": (lambda: K.predict_collider(A("conditioned"), {k: {v: s + 1e6 for v, s in p.items()} for k, p in PANELS.items()}), True),
    "5.5 wrong answer": (lambda: K.predict_collider(A("intervened"), PANELS), False),
    "5.6 mask as a list of bools": (lambda: K.predict_effect_intervention(A("shadow only"), MODEL, TRUE, SHADOW.tolist()), True),
    "5.6 mask as a numpy bool array": (lambda: K.predict_effect_intervention(A("shadow only"), MODEL, TRUE, SHADOW.numpy()), True),
    "5.7 bool true graph": (lambda: K.vary_independence(A(0), G4, TRUE_GRAPH.bool(), 1.0), True),
    "5.7 numpy bool true graph": (lambda: K.vary_independence(A(1), G4 * (1 - torch.eye(4)[0:1].T.expand(4, 4)), TRUE_GRAPH.numpy() != 0, 1.0), None),
    "5.7 bool true graph, names": (lambda: K.vary_independence(A(0), G4, TRUE_GRAPH.bool(), 0.0, names=["θ", "φ", "length", "position"], threshold=0.5), True),
}


@pytest.mark.parametrize("name", GOOD)
def test_valid_runs_still_get_their_verdict(name, capsys):
    call, right = GOOD[name]
    got = call()
    out = capsys.readouterr().out
    assert UNREAD not in out, out
    if right is not None:
        assert got is right and ("✅" in out) == right, out


def test_a_bool_true_graph_reads_as_its_float_graph(capsys):
    for true in (TRUE_GRAPH, TRUE_GRAPH.bool(), TRUE_GRAPH.numpy() != 0):
        K.vary_independence(A(2), torch.zeros(4, 4), true, 1.0)
    outs = capsys.readouterr().out.strip().split("\n❌")
    assert len(outs) == 3 and len({o.split("Exercise", 1)[1] for o in outs}) == 1, outs


# ------------------------------------------------------------------------------ choose: the notebook's arguments
@pytest.mark.parametrize("value", [4.0000001, 4.000001, 3.9999999, 8.0000004])
def test_choose_refuses_a_run_it_would_print_as_taken(value, capsys):
    assert K.choose(A(value), "2.6", "ε", low=2.0, high=14.0, default=12.0, taken=(4.0, 8.0)) == 12.0
    assert "is a run this notebook makes anyway" in capsys.readouterr().out


def test_choose_takes_a_value_that_prints_apart(capsys):
    assert K.choose(A(4.001), "2.6", "ε", low=2.0, high=14.0, default=12.0, taken=(4.0, 8.0)) == 4.001
    assert "your ε = 4.001." in capsys.readouterr().out


@pytest.mark.parametrize("kwargs, name", [({"what": ""}, "choose's what"), ({"what": "   "}, "choose's what"),
                                          ({"exercise": ""}, "choose's exercise")])
def test_choose_refuses_empty_words_of_the_notebook(kwargs, name):
    args = {"exercise": "2.6", "what": "ε", **kwargs}
    with pytest.raises(ValueError, match=name):
        K.choose(A(5.0), args["exercise"], args["what"], low=2.0, high=14.0, default=12.0)


@pytest.mark.parametrize("kwargs, words", [
    ({"low": 4.0000001, "high": 4.0, "default": 4.0}, "at least low (4.0000001), got 4"),
    ({"low": 2.0, "high": 14.0, "default": 14.0000001}, "got 14.0000001"),
    ({"low": 2.0, "high": 14.0, "default": 1.9999999}, "got 1.9999999"),
])
def test_choose_names_an_argument_just_out_of_range_with_its_digits(kwargs, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        K.choose(A(5.0), "2.6", "ε", **kwargs)


def test_an_answer_just_out_of_range_prints_its_digits(capsys):
    assert K.choose(A(14.0000001), "2.6", "ε", low=2.0, high=14.0, default=12.0) == 12.0
    assert "ε must be from 2 to 14, got 14.0000001" in capsys.readouterr().out


# ------------------------------------------------------------------------------ coding checks: clamps, right rewrites
def _merge(mh, vh, mp, vp):
    return (mh * vp + mp * vh) / (vh + vp), vh * vp / (vh + vp)


def _merge_precisions(mh, vh, mp, vp):
    v = 1 / (1 / vh + 1 / vp)
    return v * (mh / vh + mp / vp), v


def _f32(f):
    return lambda *a: f(*(t.float() for t in a))


def _kl(mu, lv):
    return 0.5 * (mu.pow(2) + lv.exp() - 1 - lv).sum(-1)


CODING = {
    "1.1 logvar clamped ±15": (check.reparameterize, lambda mu, lv, eps: mu + torch.exp(0.5 * lv.clamp(-15, 15)) * eps, False),
    "1.1 logvar clamped above 22": (check.reparameterize, lambda mu, lv, eps: mu + torch.exp(0.5 * lv.clamp(max=22)) * eps, False),
    "1.1 logvar clamped below -23": (check.reparameterize, lambda mu, lv, eps: mu + torch.exp(0.5 * lv.clamp(min=-23)) * eps, False),
    "1.1 mu clamped ±25": (check.reparameterize, lambda mu, lv, eps: mu.clamp(-25, 25) + torch.exp(0.5 * lv) * eps, False),
    "1.1 sigma floor 1e-3": (check.reparameterize, lambda mu, lv, eps: mu + torch.exp(0.5 * lv).clamp(min=1e-3) * eps, False),
    "1.1 sigma ceiling 1e4": (check.reparameterize, lambda mu, lv, eps: mu + torch.exp(0.5 * lv).clamp(max=1e4) * eps, False),
    "1.1 sigma + 1e-5": (check.reparameterize, lambda mu, lv, eps: mu + (torch.exp(0.5 * lv) + 1e-5) * eps, False),
    "1.1 right": (check.reparameterize, lambda mu, lv, eps: mu + (0.5 * lv).exp() * eps, True),
    "1.1 right mul": (check.reparameterize, lambda mu, lv, eps: mu + lv.mul(0.5).exp() * eps, True),
    "1.1 right sqrt": (check.reparameterize, lambda mu, lv, eps: torch.sqrt(lv.exp()) * eps + mu, True),
    "1.1 right float32": (check.reparameterize, _f32(lambda mu, lv, eps: mu + (0.5 * lv).exp() * eps), True),
    "1.1 right float32 sqrt": (check.reparameterize, _f32(lambda mu, lv, eps: torch.sqrt(lv.exp()) * eps + mu), True),
    "1.1 right addcmul": (check.reparameterize, lambda mu, lv, eps: torch.addcmul(mu, (0.5 * lv).exp(), eps), True),
    "1.2 mu clamped ±20": (check.gaussian_kl, lambda mu, lv: _kl(mu.clamp(-20, 20), lv), False),
    "1.2 logvar clamped below -22": (check.gaussian_kl, lambda mu, lv: _kl(mu, lv.clamp(min=-22)), False),
    "1.2 variance floor 1e-8": (check.gaussian_kl, lambda mu, lv: 0.5 * (mu.pow(2) + lv.exp().clamp(min=1e-8) - 1 - lv.exp().clamp(min=1e-8).log()).sum(-1), False),
    "1.2 right": (check.gaussian_kl, lambda mu, lv: -0.5 * (1 + lv - mu ** 2 - lv.exp()).sum(-1), True),
    "1.2 right float32": (check.gaussian_kl, _f32(_kl), True),
    "1.2 right torch.distributions": (check.gaussian_kl, lambda mu, lv: torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, (0.5 * lv).exp()), torch.distributions.Normal(0.0, 1.0)).sum(-1), True),
    "4.1 variance floor 1e-4": (check.precision_weighted_merge, lambda mh, vh, mp, vp: _merge(mh, vh.clamp_min(1e-4), mp, vp.clamp_min(1e-4)), False),
    "4.1 variance ceiling 500": (check.precision_weighted_merge, lambda mh, vh, mp, vp: _merge(mh, vh.clamp_max(500), mp, vp.clamp_max(500)), False),
    "4.1 var_q floor 1e-5": (check.precision_weighted_merge, lambda mh, vh, mp, vp: (lambda m, v: (m, v.clamp_min(1e-5)))(*_merge(mh, vh, mp, vp)), False),
    "4.1 precision + 1e-3": (check.precision_weighted_merge, lambda mh, vh, mp, vp: (lambda p: ((mh / vh + mp / vp) / p, 1 / p))(1 / vh + 1 / vp + 1e-3), False),
    "4.1 right": (check.precision_weighted_merge, _merge, True),
    "4.1 right precisions": (check.precision_weighted_merge, _merge_precisions, True),
    "4.1 right float32": (check.precision_weighted_merge, _f32(_merge), True),
    "4.1 right float32 precisions": (check.precision_weighted_merge, _f32(_merge_precisions), True),
}


@pytest.mark.parametrize("name", CODING)
def test_coding_checks_catch_clamps_and_pass_right_rewrites(name, capsys):
    checker, fn, right = CODING[name]
    assert checker(fn) is right, capsys.readouterr().out
    out = capsys.readouterr().out
    assert out.startswith("✅" if right else "❌"), out
    if not right and name.startswith(("1.1", "1.2")) and "logvar=25" in out:
        assert "±30" in out, out  # names the range where the clamp shows
