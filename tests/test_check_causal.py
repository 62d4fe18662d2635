"""Chapter 5 exercise checks: references pass, stubs say "not done yet", typical mistakes get their own message."""

from __future__ import annotations

import pytest
import torch

from vaecourse import scm
from vaecourse.objectives.causal import dag_constraint

from checking import verdict  # noqa: E402  (tests/checking.py)




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


def _sample_wrong_side(A, eps, interventions):
    return eps @ torch.linalg.inv(torch.eye(3, dtype=A.dtype) - A.T)


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
    ("causal_layer", lambda A, e: e @ torch.linalg.inv(torch.eye(3, dtype=A.dtype) - A.T), "(I - A)^{-1}"),
    ("causal_layer", lambda A, e: e + e @ A, "one step of the chain"),
    ("causal_layer", lambda A, e: e @ A, "leaves out the node's own eps"),
    ("causal_layer", lambda A, e: torch.tensor((e @ torch.linalg.inv(torch.eye(3, dtype=A.dtype) - A)).detach().numpy()),
     "no gradient"),
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
    ("latent_intervention", _intervene_no_propagation, "recompute the descendants"),
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
