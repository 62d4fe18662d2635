"""The shared defences of the exercise checks (vaecourse/check/core.py, issue 24): sizes and seeds the learner cannot
read, inputs that must come back unchanged, gradients compared with the reference's, float32 at extreme inputs,
numbers printed so that they differ, and a time budget for all the calls of one check."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from vaecourse import check
from vaecourse.check import core
from vaecourse.check.core import (Problem, across_sizes, called, compare_gradients, expect, float32_rules,
                                  fresh_generator, fresh_sizes, gradient_trial, mismatch, number_text, run_check,
                                  tensor_rules)


def test_numbers_are_printed_until_they_differ():
    assert number_text(0.71829, 0.71828) == ("0.71829", "0.71828")
    assert number_text(1.5, 2.5) == ("1.5", "2.5")
    assert mismatch(1e-5, 0.0) == "you return 1e-05, expected 0 (off by 1e-05)"
    a, b = number_text(1.0000000001, 1.0)
    assert a != b


def test_fresh_sizes_move_every_size_above_then_below_the_base():
    base, ranges = {"B": 5, "D": 3}, {"B": (2, 9), "D": (2, 8)}
    for _ in range(20):
        above, below = fresh_sizes(base, ranges, 2)
        assert above["B"] > 5 and above["D"] > 3 and below["B"] < 5 and below["D"] < 3
        assert above["B"] != above["D"] and 2 <= below["B"] <= 9
    one, two = fresh_sizes({"K": 3}, {"K": (4, 6)}, 2)  # no room below the base: still two different sizes
    assert one != two and 4 <= min(one["K"], two["K"])


def test_fresh_generators_draw_different_numbers():
    draws = {float(torch.rand((), generator=fresh_generator())) for _ in range(5)}
    assert len(draws) == 5


@pytest.mark.parametrize("value, change, name", [
    (torch.zeros(3), lambda t: t.add_(1), "x"),
    (np.zeros(3), lambda a: a.sort() or a.__setitem__(0, 1.0), "x"),
    ({0: 1.0}, lambda d: d.pop(0), "interventions"),
    (torch.nn.Linear(2, 2), lambda m: torch.nn.init.zeros_(m.weight), "model"),
])
def test_called_fails_a_function_that_changes_its_input(value, change, name):
    with pytest.raises(Problem, match=f"changed its input {name} in place.*must not modify its inputs"):
        with torch.no_grad():
            called(lambda v: change(v), (value,), (name,))
    assert called(lambda v: 1, (value,), (None,)) == 1  # an unguarded input (a generator) may change


def test_gradients_are_compared_with_the_reference():
    def reference(a, b):
        return a * b

    rules = tensor_rules("y", (3,))
    args = (torch.ones(3, dtype=torch.float64), torch.arange(3.0, dtype=torch.float64))

    def trial_of(fn):
        learner = core.LearnerFunction(fn, 5.0)
        gradient_trial(reference, lambda: args, {0: "a", 1: "b"}, rules, "y", "why")(learner)

    trial_of(lambda a, b: b * a)  # right
    with pytest.raises(Problem, match="carries no gradient.*why"):
        trial_of(lambda a, b: (a * b).detach())
    with pytest.raises(Problem, match="no gradient reaches b"):
        trial_of(lambda a, b: a * b.detach())
    with pytest.raises(Problem, match="wrong gradient with respect to a"):
        trial_of(lambda a, b: a.detach() * b + (a - a.detach()) * 2)
    with pytest.raises(Problem, match="numpy cannot carry gradients"):
        trial_of(lambda a, b: torch.from_numpy(a.numpy() * b.numpy()))
    mine, alt, ref = ([t.clone().requires_grad_() for t in args] for _ in range(3))
    with pytest.raises(Problem, match="the known mistake. why"):  # a known wrong version is named as such
        compare_gradients(mine[0] * mine[1].detach(), {"a": [mine[0]], "b": [mine[1]]},
                          ref[0] * ref[1], {"a": [ref[0]], "b": [ref[1]]}, "y", "why",
                          [(alt[0] * alt[1].detach(), {"a": [alt[0]], "b": [alt[1]]}, "the known mistake")])


def test_float32_rules_name_the_fragile_formula():
    a = torch.tensor([-1000.0, -800.0], dtype=torch.float32)
    want = torch.logsumexp(a.double(), 0).reshape(1)
    fragile = a.exp().sum().log().reshape(1)
    rules = float32_rules("r", want, "at -1000", "subtract the maximum", wrong=[(fragile, "you forgot the maximum")])
    with pytest.raises(Problem, match="you forgot the maximum"):
        expect(fragile, rules)
    with pytest.raises(Problem, match="in float32 at -1000 r contains inf or NaN: subtract"):
        expect(torch.tensor([float("nan")]), rules)
    with pytest.raises(Problem, match="is inaccurate: .*you return -799, expected -800"):
        expect(want.float() + 1.0, rules)
    assert expect(torch.logsumexp(a, 0).reshape(1), rules) is not None


def test_a_mistake_found_only_at_other_sizes_says_so(capsys):
    def build(sizes, generator):
        n = sizes["n"]

        def trial(f):
            expect(f(torch.ones(n)), tensor_rules("y", (n,)))
        return [trial]

    trials = across_sizes(build, {"n": 3}, {"n": (4, 8)}, seed=0, advice="read n from x", count=1)
    assert not run_check("9.9", "toy", "do it", lambda x: x[:3], trials)
    out = capsys.readouterr().out
    assert "right for n=3 but not for n=" in out and "read n from x" in out, out
    assert not run_check("9.9", "toy", "do it", lambda x: x.reshape(3), trials)
    out = capsys.readouterr().out
    assert "there your function raised RuntimeError" in out and "in <lambda>" in out, out


def test_many_slow_calls_run_into_the_total_budget(monkeypatch, capsys):
    monkeypatch.setattr(core, "TOTAL_LIMIT", 0.6)

    def slow(mu, logvar):
        time.sleep(0.15)
        return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)

    start = time.perf_counter()
    assert not check.gaussian_kl(slow)
    out = capsys.readouterr().out
    assert "took more than 0.6 seconds in all over the check's" in out, out
    assert time.perf_counter() - start < 3
