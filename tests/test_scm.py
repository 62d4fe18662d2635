"""Structural causal models: sampling, do(), counterfactuals and the linear-Gaussian layer vs closed forms."""

import pytest
import torch

from vaecourse import scm
from vaecourse.scm import SCM, Equation


def test_linear_covariance_is_c_c_transpose_and_matches_samples():
    A = torch.tensor([[0.0, 0.8, 0.0], [0.0, 0.0, -1.5], [0.0, 0.0, 0.0]], dtype=torch.float64)
    C = torch.linalg.inv(torch.eye(3, dtype=torch.float64) - A.T)
    assert torch.allclose(scm.linear_covariance(A), C @ C.T)
    # by hand: x1 = e1, x2 = .8 e1 + e2, x3 = -1.5 x2 + e3
    by_hand = torch.tensor([[1.0, 0.8, -1.2], [0.8, 1.64, -2.46], [-1.2, -2.46, 4.69]], dtype=torch.float64)
    assert torch.allclose(scm.linear_covariance(A), by_hand)
    torch.set_default_dtype(torch.float64)
    try:
        x = scm.linear_scm(A).sample(200_000, torch.Generator().manual_seed(0))
    finally:
        torch.set_default_dtype(torch.float32)
    X = torch.stack([x["x1"], x["x2"], x["x3"]], 1)
    assert torch.allclose(torch.cov(X.T), by_hand, atol=0.05)


def test_linear_solve_solves_the_structural_equation():
    g = torch.Generator().manual_seed(1)
    A = torch.triu(torch.randn(4, 4, generator=g), diagonal=1)
    eps = torch.randn(6, 4, generator=g)
    z = scm.linear_solve(A, eps)
    assert torch.allclose(z, z @ A + eps, atol=1e-5)  # z = A^T z + eps, row by row
    assert torch.allclose(z, eps @ scm.causal_matrix(A).T, atol=1e-5)


def test_do_cuts_incoming_edges_and_keeps_the_rest():
    model = scm.chain(b=2.0, c=3.0)
    cut = model.do(x2=1.5)
    assert cut.graph().tolist() == [[0, 0, 0], [0, 0, 1], [0, 0, 0]]
    assert model.graph().tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]  # the original is unchanged
    s = cut.sample(5000, torch.Generator().manual_seed(0))
    assert torch.all(s["x2"] == 1.5)
    assert abs(torch.corrcoef(torch.stack([s["x1"], s["x3"]]))[0, 1]) < 0.05  # x1 no longer reaches x3
    assert abs(s["x3"].mean().item() - 4.5) < 0.1  # E[x3 | do(x2 = 1.5)] = 3 * 1.5
    # conditioning is not intervening: in the collider x1 -> x2 <- x3, do(x2) leaves x1 and x3 independent
    s = scm.collider().sample(20000, torch.Generator().manual_seed(0), interventions={"x2": 0.0})
    assert abs(torch.corrcoef(torch.stack([s["x1"], s["x3"]]))[0, 1]) < 0.03


def test_counterfactual_of_a_linear_scm_by_hand():
    model = scm.chain(b=2.0, c=3.0)
    obs = {"x1": torch.tensor([1.0]), "x2": torch.tensor([2.5]), "x3": torch.tensor([7.0])}
    eps = model.abduct(obs)  # e1 = 1, e2 = 2.5 - 2 = 0.5, e3 = 7 - 7.5 = -0.5
    assert [eps[k].item() for k in ("x1", "x2", "x3")] == pytest.approx([1.0, 0.5, -0.5])
    cf = model.counterfactual(obs, x1=0.0)  # x2' = 0 + 0.5, x3' = 1.5 - 0.5
    assert [cf[k].item() for k in ("x1", "x2", "x3")] == pytest.approx([0.0, 0.5, 1.0])
    same = model.counterfactual(obs)  # no action: the observation itself
    assert all(torch.allclose(same[k], obs[k]) for k in obs)


def test_markov_equivalence_remark():
    chain_cov = scm.linear_covariance([[0, 1.0, 0], [0, 0, 1.0], [0, 0, 0]])
    A_rev, _ = scm.linear_scm_from_covariance(chain_cov, order=[2, 1, 0])
    assert abs(A_rev[2, 0]) < 1e-9 and abs(A_rev[2, 1]) > 0.1 and abs(A_rev[1, 0]) > 0.1  # the reversed chain
    A_rev_f, s = scm.linear_scm_from_covariance(chain_cov, order=[2, 1, 0])
    assert torch.allclose(scm.linear_covariance(A_rev_f, s), chain_cov.double())  # same distribution
    assert scm.markov_equivalent(scm.chain().graph(), (A_rev.abs() > 1e-9).float())
    assert scm.markov_equivalent(scm.chain().graph(), scm.fork().graph())
    assert not scm.markov_equivalent(scm.chain().graph(), scm.collider().graph())
    coll_cov = scm.linear_covariance(scm.collider().graph())
    A_bad, s = scm.linear_scm_from_covariance(coll_cov, order=[1, 0, 2])  # collider first: extra edge
    assert torch.allclose(scm.linear_covariance(A_bad, s), coll_cov.double())
    assert (A_bad.abs() > 1e-9).sum() == 3


def test_cyclic_graphs_and_bad_input_are_refused():
    with pytest.raises(ValueError, match="cycle"):
        scm.topological_order([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="cycle"):
        scm.linear_scm([[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="cycle"):
        SCM({"a": Equation(("b",), lambda p, e: p["b"]), "b": Equation(("a",), lambda p, e: p["a"])})
    with pytest.raises(ValueError, match="square"):
        scm.linear_scm(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        scm.check_adjacency(torch.zeros(2, 2), 3)
    with pytest.raises(ValueError, match="unknown parent"):
        SCM({"a": Equation(("zz",), lambda p, e: e)})
    with pytest.raises(ValueError, match="unknown variable 'x9'"):
        scm.chain().do(x9=1.0)
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        scm.linear_solve(torch.zeros(3, 3), torch.zeros(4, 2))
    ranged = SCM({"a": Equation((), lambda p, e: e)}, ranges={"a": (0.0, 1.0)})
    with pytest.raises(ValueError, match="outside its range"):
        ranged.do(a=2.0)
    assert not scm.is_dag(torch.eye(2)) and scm.is_dag(torch.zeros(2, 2))


def test_linear_sample_and_intervene_agree_with_the_scm():
    A = torch.tensor([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.5, 3.0, 0.0]])  # x2 -> x1, x1 -> x3, x2 -> x3
    eps = torch.randn(7, 3, generator=torch.Generator().manual_seed(0))
    x = scm.linear_sample(A, eps)
    assert torch.allclose(x, scm.linear_solve(A, eps), atol=1e-5)
    model = scm.linear_scm(A, names=("a", "b", "c"))
    evaluated = model.do(b=1.5).evaluate({"a": eps[:, 0], "b": eps[:, 1], "c": eps[:, 2]})
    cut = scm.linear_sample(A, eps, {1: 1.5})
    assert torch.allclose(cut, torch.stack([evaluated[k] for k in "abc"], 1), atol=1e-5)
    assert torch.allclose(scm.linear_intervene(A, eps, 1, 1.5), cut, atol=1e-5)
