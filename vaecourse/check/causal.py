"""Exercise checks of chapter 5 (SCMs and CausalVAE): sampling with do(), the causal layer, H(A), a latent intervention."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from vaecourse.check.core import (F64, Problem, close, describe, device_rule, expect, finite_rule, fmt, run_check,
                                  seeded, tensor_rules, worst)
from vaecourse.objectives.causal import dag_constraint, dag_constraint_grad
from vaecourse.scm import linear_intervene, linear_sample, linear_solve

# x2 -> x1 -> x3 and x2 -> x3: not upper-triangular, so "column by column left to right" is the wrong order
_A = torch.tensor([[0.0, 0.0, 1.5], [2.0, 0.0, -0.5], [0.0, 0.0, 0.0]], dtype=F64)


def _noise(n: int = 6, seed: int = 3) -> Tensor:
    return torch.randn(n, 3, generator=seeded(seed), dtype=F64)


def scm_sample(fn: Callable[..., Tensor]) -> bool:
    """Exercise 5.1: ``fn(A, eps, interventions)`` -> x (n, K), x_j = sum_i A[i, j] x_i + eps_j, do() applied."""
    eps = _noise()
    want_obs = linear_sample(_A, eps)
    basic = tensor_rules("x", (6, 3), meaning="one row per sample, one column per variable (the shape of eps)")

    def naive_order(interventions):  # columns left to right, ignoring the graph's order
        x = torch.zeros_like(eps)
        for j in range(3):
            x[:, j] = interventions[j] if j in interventions else x @ _A[:, j] + eps[:, j]
        return x

    def observational(f: Callable) -> None:
        out = f(_A.clone(), eps.clone(), {})
        expect(out, [
            *basic,
            finite_rule("x", "the equations are linear, nothing should overflow"),
            (lambda o: close(o, eps @ torch.linalg.inv(torch.eye(3, dtype=F64) - _A.T)),
             "you solved x = A x + eps (each variable a sum of its children): A[i, j] != 0 is an edge i -> j, so "
             "the parents of x_j are in column j: x_j = sum_i A[i, j] x_i + eps_j, i.e. x = A^T x + eps"),
            (lambda o: close(o, naive_order({})),
             "you filled the columns left to right, but x1's parent is x2 (A[1, 0] = 2): evaluate in a "
             "topological order, parents before children (vaecourse.scm.topological_order gives one)"),
            (lambda o: close(o, eps), "x equals eps: the parents' contributions sum_i A[i, j] x_i are missing"),
            (lambda o: not close(o, want_obs), lambda o: "x_j = sum_i A[i, j] x_i + eps_j does not hold: at "
             f"index {worst(o, want_obs)[0]} you return {worst(o, want_obs)[1]:.4f}, expected {worst(o, want_obs)[2]:.4f}"),
        ])

    def intervened(f: Callable) -> None:
        want = linear_sample(_A, eps, {0: 1.5})
        out = f(_A.clone(), eps.clone(), {0: 1.5})
        leaky = eps.clone()
        leaky[:, 0] += 1.5
        expect(out, [
            *basic,
            (lambda o: close(o, want_obs), "do(x1 = 1.5) changed nothing: replace x1's equation by the constant 1.5"),
            (lambda o: close(o[:, 0], torch.full((6,), 1.5, dtype=F64)) and not close(o[:, 2], want[:, 2]),
             "x1 is 1.5 but its child x3 did not follow: set the intervened value *before* computing its children"),
            (lambda o: close(o[:, 0], 1.5 + eps[:, 0]) or close(o[:, 0], 1.5 + want_obs[:, 0]),
             "x1 = 1.5 + (something): do(x1 = 1.5) replaces the whole equation (parents and noise) by the constant"),
            (lambda o: not close(o, want), "under do(x1 = 1.5): x1 = 1.5 exactly, x2 keeps its own equation, and x3 "
             "follows from x1 = 1.5 and x2"),
        ])

    return run_check("5.1", "sampling an SCM and do()", "evaluate x_j = sum_i A[i, j] x_i + eps_j parents first, "
                     "with do() replacing equations by constants", fn, [observational, intervened],
                     hint="for j in topological_order(A): x[:, j] = value if j in interventions else x @ A[:, j] + eps[:, j]")


def causal_layer(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Exercise 5.2: ``fn(A, eps)`` -> z (B, n) with z = (I - A^T)^{-1} eps for each row."""
    A = torch.tensor([[0.0, 0.8, 0.3], [0.0, 0.0, -1.2], [0.0, 0.0, 0.0]], dtype=F64)
    eps = _noise(5, 4)
    want = linear_solve(A, eps)
    eye = torch.eye(3, dtype=F64)
    basic = tensor_rules("z", (5, 3), meaning="one row per example, like eps")

    def values(f: Callable) -> None:
        out = f(A.clone(), eps.clone())
        expect(out, [
            *basic,
            finite_rule("z", "I - A^T is invertible for a DAG"),
            (lambda o: close(o, eps @ torch.linalg.inv(eye - A.T)),
             "you used (I - A)^{-1} (or multiplied the row vectors on the wrong side): for row vectors, "
             "z = eps C^T with C = (I - A^T)^{-1}, i.e. z = eps @ inverse(I - A)"),
            (lambda o: close(o, eps + eps @ A), "z = eps + A^T eps is one step of the chain only; a grandchild "
             "needs A^T A^T eps too: solve (I - A^T) z = eps, i.e. z = (I - A^T)^{-1} eps"),
            (lambda o: close(o, eps @ A), "z = A^T eps leaves out the node's own eps: z = A^T z + eps"),
            (lambda o: close(o, eps), "z equals eps: the causal layer should mix parents into children, "
             "z = (I - A^T)^{-1} eps"),
            (lambda o: not close(o, want), lambda o: f"z does not solve z = A^T z + eps: at {worst(o, want)[0]} you "
             f"return {worst(o, want)[1]:.4f}, expected {worst(o, want)[2]:.4f}"),
        ])

    def identity(f: Callable) -> None:
        out = f(torch.zeros(3, 3, dtype=F64), eps.clone())
        expect(out, [*basic, (lambda o: not close(o, eps), "with A = 0 (no edges) z must equal eps")])

    def gradients(f: Callable) -> None:
        a = A.clone().requires_grad_(True)
        out = expect(f(a, eps.clone()), [*basic, (lambda o: not o.requires_grad,
                                                  "z carries no gradient to A: keep to torch operations "
                                                  "(torch.linalg.solve or torch.linalg.inv), no numpy")])
        (grad,) = torch.autograd.grad(out.sum(), a)
        b = A.clone().requires_grad_(True)
        (ref,) = torch.autograd.grad(linear_solve(b, eps).sum(), b)
        if not close(grad, ref):
            raise Problem("z has the right values but the wrong gradient with respect to A")

    return run_check("5.2", "the causal layer", "return z = (I - A^T)^{-1} eps, row by row", fn,
                     [values, identity, gradients],
                     hint="torch.linalg.solve(I - A.T, eps.T).T, or eps @ torch.linalg.inv(I - A.T).T")


def _scaled_dag_constraint(A: Tensor) -> Tensor:
    """tr((I + A o A / n)^n) - n: H(A) as the CausalVAE authors' code computes it (``_h_A`` with ``matrix_poly``,
    from DAG-GNN [yu2019]); zero exactly for a DAG, like Eq. (40), whose walks it weights by 1/n^length."""
    n = A.shape[0]
    return torch.trace(torch.linalg.matrix_power(torch.eye(n, dtype=A.dtype) + A * A / n, n)) - n


def dag_penalty(fn: Callable[[Tensor], Tensor]) -> bool:
    """Exercise 5.3: ``fn(A)`` -> H(A) = tr((I + A o A)^n) - n, a scalar with the right gradient."""
    A = torch.tensor([[0.0, 0.9, 0.0], [0.4, 0.0, 0.7], [0.5, 0.0, 0.0]], dtype=F64)  # cycles 0-1-0, 0-1-2-0
    want = dag_constraint(A)
    n = 3
    eye = torch.eye(n, dtype=F64)
    scaled = _scaled_dag_constraint  # the authors' code's form (DAG-GNN's): also a valid H, with its own gradient
    form = {"scaled": False}

    def values(f: Callable) -> None:
        out = f(A.clone())
        if isinstance(out, Tensor) and out.numel() == 1 and close(out.reshape(()), scaled(A)) \
                and not close(out.reshape(()), want):
            form["scaled"] = True
            print("ℹ️ Exercise 5.3: that is tr((I + A o A / n)^n) - n, the scaled form of the CausalVAE authors' code "
                  "(from DAG-GNN [yu2019]): also a valid acyclicity constraint (>= 0, and 0 exactly for a DAG), "
                  f"only scaled differently from the slides' Eq. (40), which gives {fmt(want)} here and which the "
                  "library uses. Checking your function as that form.")
            return dag_is_zero(f)
        expect(out, [
            (lambda o: not isinstance(o, Tensor), lambda o: f"H should be a torch.Tensor, got {describe(o)}"),
            device_rule("H"),
            (lambda o: not o.is_floating_point(), lambda o: f"H has dtype {o.dtype}; it should be a floating-point "
             "tensor"),
            (lambda o: o.numel() != 1, lambda o: f"H should be a single number, got shape {tuple(o.shape)}: "
             "take the trace of the matrix power"),
            (lambda o: close(o.reshape(()), want + n), "you forgot to subtract n: tr(I^n) = n even for a DAG"),
            (lambda o: close(o.reshape(()), torch.trace(torch.linalg.matrix_power(eye + A, n)) - n),
             "you used (I + A)^n: square the entries first, A o A = A * A, so that negative weights cannot cancel"),
            (lambda o: close(o.reshape(()), torch.trace(torch.linalg.matrix_power(eye + A @ A, n)) - n),
             "A o A is the element-wise (Hadamard) product A * A, not the matrix product A @ A"),
            (lambda o: close(o.reshape(()), torch.trace((eye + A * A) ** n) - n),
             "(I + A o A) ** n raises each entry to the n-th power; H needs the matrix power "
             "torch.linalg.matrix_power(I + A * A, n)"),
            (lambda o: close(o.reshape(()), torch.trace(torch.matrix_exp(A * A)) - n),
             "that is NOTEARS' tr(exp(A o A)) - n; the slides' Eq. (40) uses the polynomial tr((I + A o A)^n) - n"),
            (lambda o: not close(o.reshape(()), want), lambda o: f"H(A) = {fmt(o.reshape(()))}, expected "
             f"{fmt(want)} for this A with two cycles"),
        ])
        dag_is_zero(f)

    def dag_is_zero(f: Callable) -> None:
        dag = torch.tensor([[0.0, 2.0, -1.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]], dtype=F64)
        if not close(f(dag), torch.zeros((), dtype=F64), atol=1e-9) and not close(f(dag), torch.zeros(1, dtype=F64),
                                                                                 atol=1e-9):
            raise Problem("H should be exactly 0 for a DAG (this upper-triangular A), whatever its weights")

    def gradient(f: Callable) -> None:
        a = A.clone().requires_grad_(True)
        out = f(a)
        if not isinstance(out, Tensor) or not out.requires_grad:
            raise Problem("H carries no gradient: compute it with torch operations so the optimiser can push A "
                          "towards a DAG")
        (grad,) = torch.autograd.grad(out.reshape(()), a)
        if form["scaled"]:
            b = A.clone().requires_grad_(True)
            (expected,) = torch.autograd.grad(scaled(b), b)
            if not close(grad, expected):
                raise Problem(f"the gradient of your scaled H differs from 2 ((I + A o A / n)^(n-1))^T o A: "
                              f"{fmt(grad)} vs {fmt(expected)}")
            return
        if not close(grad, dag_constraint_grad(A)):
            raise Problem(f"the gradient of your H differs from 2 n ((I + A o A)^(n-1))^T o A: "
                          f"{fmt(grad)} vs {fmt(dag_constraint_grad(A))}")

    return run_check("5.3", "the acyclicity constraint H(A)", "return tr((I + A * A)^n) - n", fn, [values, gradient],
                     hint="n = A.shape[0]; torch.trace(torch.linalg.matrix_power(torch.eye(n) + A * A, n)) - n")


def latent_intervention(fn: Callable[..., Tensor]) -> bool:
    """Exercise 5.4: ``fn(A, eps, i, value)`` -> z (B, n) under do(z_i = value), eps abducted (held)."""
    A = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, -2.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]],
                     dtype=F64)  # 0 -> 1 -> 2, 3 isolated
    eps = torch.randn(5, 4, generator=seeded(8), dtype=F64)
    want = linear_intervene(A, eps, 1, 2.0)
    factual = linear_solve(A, eps)
    basic = tensor_rules("z", (5, 4), meaning="one row per example, one column per concept")

    def values(f: Callable) -> None:
        out = f(A.clone(), eps.clone(), 1, 2.0)
        one_step = factual.clone()
        one_step[:, 1] = 2.0
        child_once = one_step.clone()
        child_once[:, 2] = -2.0 * 2.0 + eps[:, 2]
        expect(out, [
            *basic,
            finite_rule("z", "the graph is acyclic"),
            (lambda o: close(o, factual), "z is the factual z = (I - A^T)^{-1} eps: the intervention was not applied"),
            (lambda o: close(o, one_step), "you set z_1 = 2 but its child z_2 still has its factual value: after the "
             "action, recompute the descendants from the equations (prediction)"),
            (lambda o: close(o[:, 1], 2.0 + factual[:, 0]) or close(o[:, 1], 2.0 + eps[:, 1]),
             "z_1 is not exactly 2: do(z_1 = 2) replaces the whole equation (parents and eps_1) by the constant"),
            (lambda o: not close(o[:, 0], factual[:, 0]), "z_0 changed: an intervention never reaches the parents "
             "of the intervened node (cut the incoming edges, do not invert them)"),
            (lambda o: not close(o[:, 3], factual[:, 3]), "z_3 changed though it is not a descendant of z_1"),
            (lambda o: not close(o, want), lambda o: f"at {worst(o, want)[0]} you return {worst(o, want)[1]:.4f}, "
             f"expected {worst(o, want)[2]:.4f}"),
        ])

    def other_values(f: Callable) -> None:
        for value in (-3.0, 0.0, 7.5):  # any value, not only 0
            out = f(A.clone(), eps.clone(), 0, value)
            expect(out, [*basic, (lambda o, v=value: not close(o, linear_intervene(A, eps, 0, v)),
                                  f"do(z_0 = {value}) is wrong: z_0 = {value}, z_1 = z_0 + eps_1, "
                                  "z_2 = -2 z_1 + eps_2")])

    return run_check("5.4", "an intervention on the latent", "cut the edges into z_i, set it to the value, keep every "
                     "other eps, and solve z = A^T z + eps", fn, [values, other_values],
                     hint="A2 = A.clone(); A2[:, i] = 0; e = eps.clone(); e[:, i] = value; then the causal layer on (A2, e)")


__all__ = ["causal_layer", "dag_penalty", "latent_intervention", "scm_sample"]
