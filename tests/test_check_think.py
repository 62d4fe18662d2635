"""The checks of the predict / vary / interpret exercises (vaecourse/check/think.py): the right answer passes, each
plausible wrong answer fails with a reason, a prediction's explanation is printed whichever way it went, and bad
input (None, a wrong type, an answer outside the allowed set, a stub, a broken run) gets one clear line, never a
traceback. Every run here is synthetic and tiny: the checks read results, they do not train."""

import math
import time

import numpy as np
import pytest
import torch

from vaecourse import check
from vaecourse.check import core
from vaecourse.data.pendulum import CONCEPTS, TRUE_GRAPH
from vaecourse.train import History


def ask(capsys, name, fn, *args, **kwargs):
    """``(returned, printed)`` of ``check.<name>(fn, *args)``."""
    ok = getattr(check, name)(fn, *args, **kwargs)
    return ok, capsys.readouterr().out


def answer(value):
    return lambda *args: value


def stub(exercise):
    def fn(*args):
        raise NotImplementedError(f"Exercise {exercise}: [predict] the question. Return \"a\" or \"b\"")
    return fn


# ------------------------------------------------------------------------------------------- the runs, synthetic
def shape_image(centre=(32, 32), side=64, size=8, value=1.0):
    image = torch.zeros(1, 1, side, side)
    cy, cx = centre
    image[..., cy - size // 2:cy + size // 2, cx - size // 2:cx + size // 2] = value
    return image


AVERAGE = torch.full((1, 1, 64, 64), 0.04)


def traversal_grid(moving=(0, 5, 7, 8), rows=10):
    grid = torch.zeros(rows, 9, 1, 16, 16)
    for r in moving:
        for v in range(9):
            grid[r, v, 0, 4:8, v:v + 4] = 1.0  # a square sliding right along the row
    return grid


KL10 = torch.tensor([3.9, 0.001, 0.0, 0.002, 0.0, 3.5, 0.001, 3.0, 2.9, 0.0])


def history(beta, kl):
    beta, kl = np.asarray(beta, dtype=float), np.asarray(kl, dtype=float)
    return History(steps=list(range(len(beta))), records={"beta": list(beta), "kl": list(kl)})


def budget_runs(tight_end=1.5, loose_end=0.9, steps=100):
    ramp = np.linspace(1.0, 0.0, steps)
    return {8.0: history(loose_end + 2.0 * ramp, np.full(steps, 9.0)),
            4.0: history(tight_end + 2.0 * ramp, np.full(steps, 7.0))}


SCORES16 = {"factor_names": ("posX", "posY", "scale"), "latent": [7, 4, 5], "abs_rho": [0.979, 0.979, 0.784],
            "threshold": 0.9}
ROTATION = {"ideal code": {"Higgins": 1.0, "MIG": 0.99}, "rotated": {"Higgins": 0.95, "MIG": 0.08}}
WARMUP = {"with warm-up": {"kl": [11, 5, 4], "au": [16, 6, 4]}, "without warm-up": {"kl": [9, 4, 3], "au": [16, 8, 3]}}


def pair_runs():
    return {4: {"eval_accuracy": 0.5, "train_accuracy": 0.55, "n_eval": 500},
            32: {"eval_accuracy": 0.69, "train_accuracy": 0.72, "n_eval": 500}}


def log_weights():
    g = torch.Generator().manual_seed(0)
    return -100 + 3 * torch.randn(50, 20, generator=g, dtype=torch.float64)  # (k_max, B)


def gain(log_w, k):
    return float((torch.logsumexp(log_w[:k], 0) - math.log(k) - log_w[0]).mean())


def collider_panels(n=3000):
    g = torch.Generator().manual_seed(5)
    x1, x3 = torch.randn(n, generator=g), torch.randn(n, generator=g)
    x2 = x1 + x3 + torch.randn(n, generator=g)
    keep = (x2 - 1).abs() < 0.3
    return {"observational": {"x1": x1, "x3": x3}, "conditioned": {"x1": x1[keep], "x3": x3[keep]},
            "intervened": {"x1": x1, "x3": x3}}


BAND = torch.zeros(16, dtype=torch.bool)
BAND[12:14] = True


def pendulum_rows(pendulum_moves=False, shadow_moves=True):
    """(V, C, H, W) rows: under do(theta) the pendulum (rows 2-6) and the shadow move; under do(position) the shadow
    (rows 12-13) moves, and the pendulum too when ``pendulum_moves``."""
    def row(pendulum, shadow):
        images = torch.ones(5, 3, 16, 16)
        for v in range(5):
            if pendulum:
                images[v, :, 2:6, 2 * v:2 * v + 3] = 0.0
            else:
                images[v, :, 2:6, 6:9] = 0.0
            if shadow:
                images[v, :, 12:14, 2 * v:2 * v + 6] = 0.2
            else:
                images[v, :, 12:14, 4:10] = 0.2
        return images
    truth = {"theta": row(True, True), "shadow_position": row(False, True)}
    model = {"theta": row(True, True), "shadow_position": row(pendulum_moves, shadow_moves)}
    return model, truth


def true_graph_fit():
    return TRUE_GRAPH * 2.0  # every true edge, |A| = 2


def reversed_fit():
    A = true_graph_fit().clone()
    A[0, 2], A[2, 0] = 0.0, 2.0  # theta -> length reversed
    return A


def shd(A):
    learned, true = A.abs() > 0.3, TRUE_GRAPH != 0
    return sum(int((learned[i, j], learned[j, i]) != (true[i, j], true[j, i])) for i in range(4) for j in range(i + 1, 4))


# name -> (the right answer's function, the run's arguments, keyword arguments)
CASES = {
    "predict_prior_mean": (answer("centre"), (shape_image(), AVERAGE), {}),
    "interpret_traversals": (answer(4), (traversal_grid(), KL10), {}),
    "predict_multiplier": (answer("higher"), (budget_runs(),), {}),
    "vary_epsilon": (lambda h: float(np.mean(h["beta"][-10:])), (budget_runs(), 4.0), {}),
    "interpret_dropped_factor": (answer("scale"), (SCORES16, torch.tensor([0, 0, 0, 0, 1.15, 1.19, 0, 0])), {}),
    "predict_rotation": (answer("MIG"), (ROTATION,), {}),
    "vary_pairs": (lambda r: r["eval_accuracy"], (pair_runs(), 4), {"baseline": 32, "chance": 0.2}),
    "predict_warmup": (answer("fewer"), (WARMUP,), {}),
    "vary_samples": (gain, (log_weights(), 10), {}),
    "predict_collider": (answer("conditioned"), (collider_panels(),), {}),
    "predict_effect_intervention": (answer("shadow only"), (*pendulum_rows(), BAND), {}),
    "vary_independence": (shd, (reversed_fit(), TRUE_GRAPH, 0.0), {"names": CONCEPTS}),
}
EXERCISE = {"predict_prior_mean": "1.5", "interpret_traversals": "1.6", "predict_multiplier": "2.5",
            "vary_epsilon": "2.6", "interpret_dropped_factor": "2.7", "predict_rotation": "3.5", "vary_pairs": "3.6",
            "predict_warmup": "4.5", "vary_samples": "4.6", "predict_collider": "5.5",
            "predict_effect_intervention": "5.6", "vary_independence": "5.7"}


def test_every_thinking_check_is_tested_and_exported():
    assert set(CASES) == set(EXERCISE) == set(check.think.__all__) - {"choose"}
    assert set(check.THINKING) == set(check.think.__all__) and set(check.THINKING) <= set(check.__all__)
    assert all(getattr(check, name) is getattr(check.think, name) for name in check.THINKING)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_right_answer_passes_with_its_reason(name, capsys):
    fn, args, kwargs = CASES[name]
    ok, out = ask(capsys, name, fn, *args, **kwargs)
    assert ok is True and out.startswith(f"✅ Exercise {EXERCISE[name]} ("), out
    assert "\n   Why: " in out and out.count("✅") == 1 and "matches the library" not in out, out


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("bad, says", [
    (None, "None (does your function end with `return ...`?)"),
    (["a", "b"], "got a list of length 2"),
    (object(), "got an object of type object"),
])
def test_a_missing_or_wrongly_typed_answer_is_one_clear_line(name, bad, says, capsys):
    _, args, kwargs = CASES[name]
    ok, out = ask(capsys, name, answer(bad), *args, **kwargs)
    assert ok is False and out.startswith(f"❌ Exercise {EXERCISE[name]} (") and says in out, out
    assert "Traceback" not in out and "Why:" not in out, out


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_stub_is_not_done_yet_and_a_crash_is_reported(name, capsys):
    _, args, kwargs = CASES[name]
    ok, out = ask(capsys, name, stub(EXERCISE[name]), *args, **kwargs)
    assert ok is False and out.startswith(f"Exercise {EXERCISE[name]} is not done yet: [predict] the question"), out
    assert "library's version" not in out  # the coding checks' fallback line is replaced by what to do next

    def crashes(*a):
        return 1 / 0

    ok, out = ask(capsys, name, crashes, *args, **kwargs)
    assert ok is False and "your function raised ZeroDivisionError" in out and "Traceback" not in out, out
    ok, out = ask(capsys, name, "not a function", *args, **kwargs)
    assert ok is False and "expected your function" in out, out


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("odd", [float("nan"), torch.full((3,), math.nan), torch.empty(2, device="meta"), ..., len,
                                 "", {}])
def test_odd_answers_fail_with_one_short_verdict(name, odd, capsys):
    _, args, kwargs = CASES[name]
    ok, out = ask(capsys, name, answer(odd), *args, **kwargs)
    assert ok is False and out.startswith("❌") and "Traceback" not in out and 'File "' not in out, out
    assert len(out.strip().splitlines()) <= 3, out


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_answer_that_never_comes_is_stopped(name, monkeypatch, capsys):
    monkeypatch.setattr(core, "TIME_LIMIT", 0.3)

    def endless(*args):
        while True:
            pass

    start = time.perf_counter()
    _, args, kwargs = CASES[name]
    ok, out = ask(capsys, name, endless, *args, **kwargs)
    assert ok is False and "did not return within 0.3 seconds" in out and time.perf_counter() - start < 5, out


@pytest.mark.parametrize("name", sorted(CASES))
def test_results_the_check_cannot_read_are_one_line_not_a_traceback(name, capsys):
    fn, _, _ = CASES[name]
    broken = {"vary_epsilon": ({}, 4.0), "vary_pairs": ({}, 4), "vary_samples": (None, 10),
              "vary_independence": (None, TRUE_GRAPH, 0.0)}.get(name, (None,) * (len(CASES[name][1])))
    ok, out = ask(capsys, name, fn, *broken)
    assert ok is False and "the check could not read the run's results" in out, out


# ------------------------------------------------------------------------------------------- predictions
@pytest.mark.parametrize("name, allowed, wrong", [
    ("predict_prior_mean", check.think.PRIOR_MEAN_ANSWERS, "average"),
    ("predict_multiplier", check.think.MULTIPLIER_ANSWERS, "lower"),
    ("predict_rotation", check.think.ROTATION_ANSWERS, "both"),
    ("predict_warmup", check.think.WARMUP_ANSWERS, "more"),
    ("predict_collider", check.think.COLLIDER_ANSWERS, "intervened"),
    ("predict_effect_intervention", check.think.EFFECT_ANSWERS, "shadow and pendulum"),
    ("interpret_dropped_factor", ("posX", "posY", "scale", "none"), "posY"),
])
def test_a_wrong_prediction_fails_and_is_explained_and_an_unknown_answer_is_named(name, allowed, wrong, capsys):
    _, args, kwargs = CASES[name]
    right_ok, right_out = ask(capsys, name, CASES[name][0], *args, **kwargs)
    ok, out = ask(capsys, name, answer(wrong), *args, **kwargs)
    assert ok is False and out.startswith("❌") and f'"{wrong}"; the run says' in out, out
    assert right_ok and right_out.split("Why: ")[1] == out.split("Why: ")[1]  # the same explanation either way
    ok, out = ask(capsys, name, answer("something else"), *args, **kwargs)
    assert ok is False and '"something else" is not one of the answers' in out
    assert all(f'"{a}"' in out for a in allowed), out
    ok, out = ask(capsys, name, answer(f"  {str(allowed[0]).upper()} "), *args, **kwargs)  # case and spaces ignored
    assert "is not one of the answers" not in out, out


def test_the_outcome_is_computed_from_the_run_not_stored(capsys):
    """Change the run and the right answer changes with it, with the explanation of that case."""
    assert ask(capsys, "predict_prior_mean", answer("off-centre"), shape_image(centre=(8, 8)), AVERAGE)[0]
    assert ask(capsys, "predict_prior_mean", answer("average"), torch.full((1, 1, 64, 64), 0.1), AVERAGE)[0]
    ok, out = ask(capsys, "predict_prior_mean", answer("blank"), torch.zeros(1, 1, 64, 64), AVERAGE)
    assert ok and "almost nothing" in out
    ok, out = ask(capsys, "predict_multiplier", answer("lower"), budget_runs(tight_end=0.3, loose_end=0.9))
    assert ok and "This short run did not show it" in out, out
    assert ask(capsys, "predict_multiplier", answer("same"), budget_runs(tight_end=0.91, loose_end=0.9))[0]
    ok, out = ask(capsys, "predict_warmup", answer("same"), {"with warm-up": {"kl": [3, 2]},
                                                          "without warm-up": {"kl": [2, 3]}})
    assert ok and "This run did not show it" in out, out
    ok, out = ask(capsys, "predict_rotation", answer("neither"), {"ideal code": {"Higgins": 1, "MIG": 1},
                                                                  "rotated": {"Higgins": 0.9, "MIG": 0.9}})
    assert ok and "otherwise than usual" in out
    model, truth = pendulum_rows(pendulum_moves=True)
    assert ask(capsys, "predict_effect_intervention", answer("shadow and pendulum"), model, truth, BAND)[0]
    model, truth = pendulum_rows(shadow_moves=False)
    assert ask(capsys, "predict_effect_intervention", answer("nothing"), model, truth, BAND)[0]
    panels = collider_panels()
    panels["intervened"] = panels["conditioned"]  # a sampler that conditions where it should intervene
    ok, out = ask(capsys, "predict_collider", answer("intervened"), panels)
    assert ok and "was your sampler of 5.1 checked" in out
    scores = dict(SCORES16, abs_rho=[0.95, 0.95, 0.92])
    ok, out = ask(capsys, "interpret_dropped_factor", answer("none"), scores)
    assert ok and "every factor kept a latent of its own" in out


# ------------------------------------------------------------------------------------------- interpret a figure
def test_traversal_rows_count_what_moves_and_name_an_off_by_one(capsys):
    ok, out = ask(capsys, "interpret_traversals", answer(5), traversal_grid(), KL10)
    assert not ok and "you counted 5; 4 rows change the image: z0" in out and "off by one" in out, out
    ok, out = ask(capsys, "interpret_traversals", answer(10), traversal_grid(), KL10)
    assert not ok and "off by one" not in out and "KL ≈ 0" in out
    assert ask(capsys, "interpret_traversals", answer(2), traversal_grid(moving=(3, 4)), KL10)[0]
    for bad, says in ((4.5, "is a whole number, got 4.5"), (11, "must be from 0 to 10, got 11"), (-1, "from 0 to 10"),
                      ("4", "not as text"), (float("nan"), "return a finite number"), (True, "got bool True")):
        ok, out = ask(capsys, "interpret_traversals", answer(bad), traversal_grid(), KL10)
        assert not ok and says in out, (bad, out)
    assert ask(capsys, "interpret_traversals", answer(np.int64(4)), traversal_grid(), KL10)[0]
    assert ask(capsys, "interpret_traversals", answer(torch.tensor(4.0)), traversal_grid(), KL10)[0]


# ------------------------------------------------------------------------------------------- vary and measure
@pytest.mark.parametrize("reading, says", [
    (lambda h: float(h["beta"][-1]), "β at the very last step"),
    (lambda h: float(h["beta"][0]), "β at the first step"),
    (lambda h: float(np.mean(h["beta"])), "the mean of β over the whole run"),
    (lambda h: float(np.mean(h["kl"][-10:])), "the KL at the end, not the multiplier"),
    (lambda h: check.think.tail_mean(budget_runs()[8.0]["beta"]),
     "the multiplier of the ε = 8 run, not of yours"),
    (lambda h: 3.0, "you read 3, the run gives 1.59"),
])
def test_a_misread_multiplier_is_named(reading, says, capsys):
    ok, out = ask(capsys, "vary_epsilon", reading, budget_runs(), 4.0)
    assert not ok and says in out and "Why:" in out, out


def test_the_multiplier_reading_explains_slack_and_active_constraints(capsys):
    runs = budget_runs()
    runs[14.0] = history(np.linspace(0.5, 0.0, 100), np.full(100, 10.0))
    ok, out = ask(capsys, "vary_epsilon", lambda h: float(np.mean(h["beta"][-10:])), runs, 14.0)
    assert ok and "the constraint is slack" in out and "the larger the budget, the smaller" in out.lower(), out
    runs[12.0] = history(np.full(100, 0.8), np.full(100, 12.1))
    ok, out = ask(capsys, "vary_epsilon", lambda h: 0.8, runs, 12.0)
    assert ok and "the constraint is active" in out and "not monotone" not in out
    runs[6.0] = history(np.full(100, 0.2), np.full(100, 9.0))  # below the ε = 8 run's multiplier: not monotone
    ok, out = ask(capsys, "vary_epsilon", lambda h: 0.2, runs, 6.0)
    assert ok and "still over your budget" in out and "not monotone" in out, out


def test_the_reading_function_gets_a_copy_of_the_run(capsys):
    runs = budget_runs()

    def vandal(h):
        h.records["beta"][:] = [0.0] * len(h.records["beta"])
        return 0.0

    ok, out = ask(capsys, "vary_epsilon", vandal, runs, 4.0)
    assert not ok and "the run gives 1.59" in out and runs[4.0].records["beta"][-1] > 1.0, out


@pytest.mark.parametrize("reading, says", [
    (lambda r: r["train_accuracy"], "the training accuracy"),
    (lambda r: 100 * r["eval_accuracy"], "in percent"),
    (lambda r: 0.69, "the score at L = 32, the baseline"),
    (lambda r: 0.6, "you read 0.6, the run gives 0.5"),
])
def test_a_misread_score_is_named(reading, says, capsys):
    ok, out = ask(capsys, "vary_pairs", reading, pair_runs(), 4, baseline=32, chance=0.2)
    assert not ok and says in out and "1/√L" in out, out


def test_more_pairs_than_the_baseline_are_explained_too(capsys):
    runs = {64: {"eval_accuracy": 0.72, "n_eval": 500}, 32: {"eval_accuracy": 0.69, "n_eval": 500}}
    ok, out = ask(capsys, "vary_pairs", lambda r: r["eval_accuracy"], runs, 64)
    assert ok and "saturates" in out


@pytest.mark.parametrize("reading, says", [
    (lambda w, k: float((torch.logsumexp(w[:k], 0) - math.log(k)).mean()), "itself, not its gain over L_1"),
    (lambda w, k: -gain(w, k), "the sign is the other way round"),
    (lambda w, k: gain(w, w.shape[0]), "the gain at k = 50 (all samples)"),
    (lambda w, k: float((torch.logsumexp(w[:k], 0) - math.log(k)).mean() - w.mean()), "mean log-weight of all"),
])
def test_a_misread_bound_gain_is_named(reading, says, capsys):
    ok, out = ask(capsys, "vary_samples", reading, log_weights(), 10)
    assert not ok and says in out and "burda2016" in out, out


@pytest.mark.parametrize("A, reading, says", [
    (reversed_fit(), lambda A: int((A.abs() > 0.3).sum()), "the number of learned edges"),
    (reversed_fit(), lambda A: 2, "a reversed edge counted twice"),
    (reversed_fit(), lambda A: 0, "you read 0, the run gives 1"),
])
def test_a_misread_graph_distance_is_named(A, reading, says, capsys):
    ok, out = ask(capsys, "vary_independence", reading, A, TRUE_GRAPH, 0.0, names=CONCEPTS)
    assert not ok and says in out and "reversed theta → shadow_length" in out, out


def test_the_graph_reading_explains_the_weight(capsys):
    ok, out = ask(capsys, "vary_independence", shd, true_graph_fit(), TRUE_GRAPH, 10.0, names=CONCEPTS)
    assert ok and "SHD 0, the true graph" in out and "HSIC" in out, out
    A = true_graph_fit()
    A[0, 2] = 0.0  # theta -> length never formed
    ok, out = ask(capsys, "vary_independence", shd, A, TRUE_GRAPH, 10.0, names=CONCEPTS)
    assert ok and "missing theta → shadow_length" in out and "too short" in out, out
    ok, out = ask(capsys, "vary_independence", shd, reversed_fit(), TRUE_GRAPH, 0.0, names=CONCEPTS)
    assert ok and "λ = 0" in out and "regression loss does not see" in out
    ok, out = ask(capsys, "vary_independence", answer(7), reversed_fit(), TRUE_GRAPH, 0.0)
    assert not ok and "must be from 0 to 6" in out


# ------------------------------------------------------------------------------------------- the knob
def test_choose_returns_the_learners_value_or_the_default_with_a_reason(capsys):
    def pick(value):
        return check.choose(answer(value), "2.6", "ε", low=2.0, high=14.0, default=12.0, taken=(4.0, 8.0),
                            unit=" nats")

    assert pick(6.0) == 6.0 and "your ε = 6 nats" in capsys.readouterr().out
    assert pick(np.float32(10.0)) == 10.0
    for bad, says in ((8.0, "is a run this notebook makes anyway"), (20.0, "must be from 2 to 14"),
                      (None, "got None"), ("6", "not as text"), (float("inf"), "finite")):
        assert pick(bad) == 12.0, bad
        out = capsys.readouterr().out
        assert says in out and "Until you choose, the run uses ε = 12 nats" in out, (bad, out)
    assert check.choose(stub("2.6"), "2.6", "ε", low=2, high=14, default=12.0) == 12.0
    out = capsys.readouterr().out
    assert out.startswith("Exercise 2.6 is not done yet") and "Until you choose" in out
    assert check.choose(answer(7.6), "3.6", "L", low=1, high=64, default=4, integer=True) == 4
    assert "is a whole number" in capsys.readouterr().out
    assert check.choose(answer(7.0), "3.6", "L", low=1, high=64, default=4, integer=True) == 7
