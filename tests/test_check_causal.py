"""Chapter 5 exercise checks: references pass, stubs say "not done yet", typical mistakes get their own message."""

from __future__ import annotations

import pytest
import torch

from vaecourse import scm
from vaecourse.objectives.causal import dag_constraint

from checking import assert_caught, assert_precise, class_cases, verdict  # noqa: E402  (tests/checking.py)




REFERENCES = {
    "scm_sample": scm.linear_sample,
    "causal_layer": scm.linear_solve,
    "dag_penalty": dag_constraint,
    "latent_intervention": scm.linear_intervene,
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_passes(name, capsys):
    ok, out = verdict(name, REFERENCES[name], capsys)
    assert ok is True and out.startswith("✅"), out


def test_alternative_correct_forms_pass(capsys):
    assert verdict("causal_layer", lambda A, e: e @ torch.linalg.inv(torch.eye(A.shape[0], dtype=A.dtype) - A), capsys)[0]
    assert verdict("latent_intervention", lambda A, e, i, v: scm.linear_sample(A, e, {i: v}), capsys)[0]


@pytest.mark.parametrize("name, exercise", [("scm_sample", "5.1"), ("causal_layer", "5.2"), ("dag_penalty", "5.3"),
                                            ("latent_intervention", "5.4")])
def test_stub_is_not_done_yet(name, exercise, capsys):
    def stub(*args):
        raise NotImplementedError(f"Exercise {exercise}: do the thing")

    ok, out = verdict(name, stub, capsys)
    assert ok is False and out.startswith(f"Exercise {exercise} is not done yet: do the thing.")


def _eye(A):
    return torch.eye(A.shape[0], dtype=A.dtype)


def _sample_wrong_side(A, eps, interventions):
    return eps @ torch.linalg.inv(_eye(A) - A.T)


def _sample_left_to_right(A, eps, interventions):
    x = torch.zeros_like(eps)
    for j in range(A.shape[0]):
        x[:, j] = interventions[j] if j in interventions else x @ A[:, j] + eps[:, j]
    return x


def _sample_add_value(A, eps, interventions):
    x = torch.zeros_like(eps)
    for j in scm.topological_order(A):
        x[:, j] = x @ A[:, j] + eps[:, j] + (interventions[j] if j in interventions else 0)
    return x


def _sample_no_do(A, eps, interventions):
    return scm.linear_sample(A, eps)


def _intervene_no_propagation(A, eps, i, v):
    z = scm.linear_solve(A, eps)
    z[:, i] = v
    return z


def _intervene_keep_parents(A, eps, i, v):
    e = eps.clone()
    e[:, i] = v
    return scm.linear_solve(A, e)


MISTAKES = [
    ("scm_sample", _sample_wrong_side, "x = A x + eps"),
    ("scm_sample", _sample_left_to_right, "topological order"),
    ("scm_sample", lambda A, e, i: e.clone(), "parents' contributions"),
    ("scm_sample", _sample_add_value, "replaces the whole equation"),
    ("scm_sample", _sample_no_do, "changed nothing"),
    ("causal_layer", lambda A, e: e @ torch.linalg.inv(_eye(A) - A.T), "(I - A)^{-1}"),
    ("causal_layer", lambda A, e: e + e @ A, "one step of the chain"),
    ("causal_layer", lambda A, e: e @ A, "leaves out the node's own eps"),
    ("causal_layer", lambda A, e: torch.tensor((e @ torch.linalg.inv(_eye(A) - A)).detach().numpy()),
     "carries no gradient"),
    ("dag_penalty", lambda A: torch.trace(torch.linalg.matrix_power(torch.eye(3, dtype=A.dtype) + A * A, 3)),
     "forgot to subtract n"),
    ("dag_penalty", lambda A: torch.trace(torch.linalg.matrix_power(torch.eye(3, dtype=A.dtype) + A, 3)) - 3,
     "square the entries"),
    ("dag_penalty", lambda A: torch.trace(torch.linalg.matrix_power(torch.eye(3, dtype=A.dtype) + A @ A, 3)) - 3,
     "Hadamard"),
    ("dag_penalty", lambda A: torch.trace((torch.eye(3, dtype=A.dtype) + A * A) ** 3) - 3, "matrix power"),
    ("dag_penalty", lambda A: torch.trace(torch.matrix_exp(A * A)) - 3, "NOTEARS"),
    ("dag_penalty", lambda A: torch.linalg.matrix_power(torch.eye(3, dtype=A.dtype) + A * A, 3) - 3, "single number"),
    ("latent_intervention", lambda A, e, i, v: scm.linear_solve(A, e), "not applied"),
    ("latent_intervention", _intervene_no_propagation, "recompute them from the equations"),
    ("latent_intervention", _intervene_keep_parents, "replaces the whole equation"),
]


@pytest.mark.parametrize("name, mistake, message", MISTAKES, ids=[f"{m[0]}-{m[2][:20]}" for m in MISTAKES])
def test_typical_mistakes_get_their_message(name, mistake, message, capsys):
    ok, out = verdict(name, mistake, capsys)
    assert ok is False and out.startswith("❌") and message in out, out


def test_the_authors_scaled_dag_constraint_is_recognised_as_valid(capsys):
    """tr((I + A o A / n)^n) - n (the CausalVAE code's _h_A, from DAG-GNN) is a valid H: it passes and is named."""
    def scaled(A):
        n = A.shape[0]
        return torch.trace(torch.linalg.matrix_power(torch.eye(n, dtype=A.dtype) + A * A / n, n)) - n

    ok, out = verdict("dag_penalty", scaled, capsys)
    assert ok is True and "scaled form of the CausalVAE authors' code" in out and "✅" in out
    ok, out = verdict("dag_penalty", lambda A: scaled(A) + 0.0 * A.sum() + 1e-3, capsys)  # neither form: still wrong
    assert ok is False and "expected 1.075" in out


# ---- issue 24: plausible wrong code of each class, each with its own message ------------------------------------
def _sample(A, eps, interventions, *, given=lambda interventions, j: j in interventions, order=None, out=None):
    """The reference sampler with one thing changed: how an intervention is recognised, the order, where x lives."""
    x = torch.zeros_like(eps) if out is None else out(eps)
    for j in (order or scm.topological_order)(A):
        x[:, j] = interventions[j] if given(interventions, j) else x @ A[:, j] + eps[:, j]
    return x


def _sample_first_only(A, eps, interventions):
    first = dict(list(interventions.items())[:1])
    return scm.linear_sample(A, eps, first)


def _sample_popping(A, eps, interventions):
    x = torch.zeros_like(eps)
    for j in scm.topological_order(A):
        x[:, j] = interventions.pop(j) if j in interventions else x @ A[:, j] + eps[:, j]
    return x


def _layer_no_grad(A, e):
    with torch.no_grad():
        return scm.linear_solve(A, e)


def _dag_no_grad(A):
    with torch.no_grad():
        return dag_constraint(A)


def _intervene(cut="column", guard=lambda value: True, in_place=False):
    def fn(A, eps, i, value):
        A2, e = (A, eps) if in_place else (A.clone(), eps.clone())
        if guard(value):
            if cut == "column":
                A2[:, i] = 0
            else:
                A2[i, :] = 0
            e[:, i] = value
        return scm.linear_solve(A2, e)
    return fn


def _layer_through_a_view(A, e):
    M = A.T.neg_()  # A.T is a view of A: this negates the caller's A
    M += _eye(A)
    return torch.linalg.solve(M, e.T).T


def _dag_in_place(A):
    n = A.shape[0]
    return torch.trace(torch.linalg.matrix_power(_eye(A) + A.mul_(A), n)) - n


CLASSES = {
    "gradients cut": [
        ("causal_layer", _layer_no_grad, "carries no gradient"),
        ("causal_layer", lambda A, e: scm.linear_solve(A, e.detach()), "no gradient reaches eps"),
        ("causal_layer", lambda A, e: scm.linear_solve(A.detach(), e), "no gradient reaches A"),
        ("dag_penalty", _dag_no_grad, "carries no gradient"),
        ("dag_penalty", lambda A: torch.tensor(dag_constraint(A).item(), dtype=A.dtype), "carries no gradient"),
    ],
    "right only for the tested shape": [
        ("scm_sample", lambda A, e, i: _sample(A, e, i, order=lambda A: [1, 0, 2]), "right for K=3, n=6 but not for"),
        ("causal_layer", lambda A, e: e @ torch.linalg.inv(torch.eye(4, dtype=A.dtype) - A), "right for K=4, n=5"),
        ("dag_penalty", lambda A: torch.trace(torch.linalg.matrix_power(torch.eye(A.shape[0], dtype=A.dtype) + A * A,
                                                                        3)) - 3, "you used n = 3 for a graph of"),
        ("latent_intervention", lambda A, e, i, v: _intervene()(A, e, i, v)[:5], "right for K=4, n=5 but not for"),
    ],
    "semantics missed": [
        ("scm_sample", lambda A, e, i: _sample(A, e, i, given=lambda d, j: bool(d.get(j))),
         "the intervention to 0 was treated as no intervention"),
        ("scm_sample", _sample_first_only, "only the first intervention was applied"),
        ("latent_intervention", _intervene(cut="row"), "you cut the edges OUT of z_1"),
        ("latent_intervention", _intervene(guard=bool), "do(z_1 = 0) was treated as no intervention"),
    ],
    "inputs mutated": [
        ("scm_sample", lambda A, e, i: _sample(A, e, i, out=lambda eps: eps), "changed its input eps in place"),
        ("scm_sample", _sample_popping, "changed its input interventions in place"),
        ("causal_layer", _layer_through_a_view, "changed its input A in place"),
        ("dag_penalty", _dag_in_place, "changed its input A in place"),
        ("latent_intervention", _intervene(in_place=True), "changed its input A in place"),
    ],
}


@pytest.mark.parametrize("kind, name, fn, message", **class_cases(CLASSES))
def test_each_class_of_wrong_code_is_caught_and_named(kind, name, fn, message, capsys):
    assert_caught(name, fn, message, capsys)


def test_the_notebooks_figure_is_safe_from_a_sampler_that_writes_into_eps(capsys):
    """The case of the issue: a sampler writing x into eps made notebook 05's do(x2 = 2) figure show
    corr(x1, x3) = 0.57 instead of 0. Such a sampler no longer passes, so the notebook falls back to the library."""
    ok, out = verdict("scm_sample", lambda A, e, i: _sample(A, e, i, out=lambda eps: eps), capsys)
    assert not ok and "corr(x1, x3)" in out, out


@pytest.mark.parametrize("name, fn", [
    ("causal_layer", lambda A, e: scm.linear_solve(A, e) + 2e-5),
    ("dag_penalty", lambda A: dag_constraint(A) + 3e-5),
])
def test_differences_are_printed_at_a_precision_that_shows_them(name, fn, capsys):
    assert_precise(name, fn, capsys)
