"""Exercise checks of chapter 5 (SCMs and CausalVAE): sampling with do(), the causal layer, H(A), a latent intervention.

Besides the first test case (a fixed 3- or 4-node graph), each check draws DAGs of other sizes, with their nodes in
a shuffled order, from a fresh seed; it tries do(x = 0) and several interventions at once, compares the gradients
that CausalVAE's training needs with the reference's, and fails a function that changes its inputs.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from vaecourse.check.core import (F64, Problem, Trial, across_sizes, assumed, called, close, describe, device_rule,
                                  differs, expect, finite_rule, fmt, gradient_trial, own_state, run_check, seeded,
                                  tensor_rules)
from vaecourse.objectives.causal import dag_constraint
from vaecourse.scm import linear_intervene, linear_sample, linear_solve

# x2 -> x1 -> x3 and x2 -> x3: not upper-triangular, so "column by column left to right" is the wrong order
_A = torch.tensor([[0.0, 0.0, 1.5], [2.0, 0.0, -0.5], [0.0, 0.0, 0.0]], dtype=F64)
UNCHANGED = ("Notebook 05 draws its observational and do() samples from the same A and eps: a sampler that writes "
             "into them makes the next figure wrong (in the chain, corr(x1, x3) under do(x2 = 2) came out 0.57 "
             "instead of 0)")
SIZES = assumed("a number of nodes or of samples", "the inputs (A.shape[0], eps.shape)")


def _noise(n: int = 6, seed: int = 3) -> Tensor:
    return torch.randn(n, 3, generator=seeded(seed), dtype=F64)


def _random_dag(K: int, g: torch.Generator) -> Tensor:
    """A weighted DAG (K, K) whose nodes are shuffled, so that index order is not a topological order."""
    upper = torch.triu(torch.ones(K, K, dtype=torch.bool), diagonal=1)
    for _ in range(100):
        sign = torch.randint(0, 2, (K, K), generator=g).to(F64) * 2 - 1
        weights = (0.5 + 1.5 * torch.rand(K, K, generator=g, dtype=F64)) * sign
        edges = upper & (torch.rand(K, K, generator=g) < 0.6)
        edges[torch.arange(K - 1), torch.arange(1, K)] = True  # a path through all nodes: all but one have a parent
        perm = torch.randperm(K, generator=g)
        A = torch.where(edges, weights, torch.zeros((), dtype=F64))[perm][:, perm]
        if (A.tril(-1) != 0).any() and (A.triu(1) != 0).any():  # edges in both index directions
            return A
    return A


def _graph(sizes: dict[str, int], g: torch.Generator, base: list, seed: int) -> tuple[Tensor, Tensor]:
    """(A, eps): the first test case's graph ``base`` and noise from ``seed``, or, at other sizes, a random DAG and
    noise from ``g``."""
    K, n = sizes["K"], sizes["n"]
    if K == len(base):
        return torch.tensor(base, dtype=F64), torch.randn(n, K, generator=seeded(seed), dtype=F64)
    return _random_dag(K, g), torch.randn(n, K, generator=g, dtype=F64)


def _sizes(kind: str) -> tuple[dict[str, int], dict[str, tuple[int, int]]]:
    return {"K": 3, "n": 6} if kind == "scm" else {"K": 4, "n": 5}, {"K": (4, 8), "n": (7, 128)}


@own_state
def scm_sample(fn: Callable[..., Tensor]) -> bool:
    """Exercise 5.1: ``fn(A, eps, interventions)`` -> x (n, K), x_j = sum_i A[i, j] x_i + eps_j, do() applied."""
    formula = "x_j = Σ_i A[i, j] x_i + eps_j, evaluated parents first; do(x_j = v) replaces x_j's equation by v"

    def build(sizes: dict[str, int], g: torch.Generator) -> list[Trial]:
        K, n = sizes["K"], sizes["n"]
        base = K == 3
        A = _A if base else _random_dag(K, g)
        eps = _noise() if base else torch.randn(n, K, generator=g, dtype=F64)
        want_obs = linear_sample(A, eps)
        basic = tensor_rules("x", (n, K), meaning="one row per sample, one column per variable (the shape of eps)")
        with_parents = [j for j in range(K) if (A[:, j] != 0).any()]
        with_children = [j for j in range(K) if (A[j] != 0).any()]

        def call(f: Callable, interventions: dict) -> Any:
            return called(f, (A.clone(), eps.clone(), dict(interventions)), ("A", "eps", "interventions"), UNCHANGED)

        def naive_order(interventions: dict) -> Tensor:  # columns left to right, ignoring the graph's order
            x = torch.zeros_like(eps)
            for j in range(K):
                x[:, j] = interventions[j] if j in interventions else x @ A[:, j] + eps[:, j]
            return x

        def observational(f: Callable) -> None:
            expect(call(f, {}), [
                *basic,
                finite_rule("x", "the equations are linear, nothing should overflow"),
                (lambda o: close(o, eps @ torch.linalg.inv(torch.eye(K, dtype=F64) - A.T)),
                 "you solved x = A x + eps (each variable a sum of its children): A[i, j] != 0 is an edge i -> j, "
                 "so the parents of x_j are in column j of A"),
                (lambda o: close(o, naive_order({})),
                 "you filled the columns left to right, but a variable can come before its parent in index order: "
                 "evaluate in a topological order, parents before children (vaecourse.scm.topological_order gives "
                 "one)"),
                (lambda o: close(o, eps), "x equals eps: the parents' contributions Σ_i A[i, j] x_i are missing"),
                (lambda o: not close(o, want_obs, scale=want_obs),
                 lambda o: f"{formula} does not hold: {differs(o, want_obs)}"),
            ])

        def intervened(interventions: dict, label: str) -> Trial:
            want = linear_sample(A, eps, interventions)
            items = list(interventions.items())
            nonzero = {j: v for j, v in items if v}
            noisy = {j: v + eps[:, j] for j, v in items}

            def run(f: Callable) -> None:
                expect(call(f, interventions), [
                    *basic,
                    finite_rule("x", "the equations are linear, nothing should overflow"),
                    (lambda o: len(nonzero) < len(items) and close(o, linear_sample(A, eps, nonzero)),
                     f"under {label} the intervention to 0 was treated as no intervention: `if value:` is False for "
                     "0.0; ask whether the index is in the dict (`j in interventions`), not whether its value is true"),
                    (lambda o: close(o, want_obs), f"{label} changed nothing: replace the intervened equations by the "
                     "constants"),
                    (lambda o: len(items) > 1 and close(o, linear_sample(A, eps, dict(items[:1]))),
                     f"under {label} only the first intervention was applied: every index in the dict gets its "
                     "constant (no `break`, no next(iter(interventions)))"),
                    (lambda o: len(items) > 1 and close(o, linear_sample(A, eps, dict(items[-1:]))),
                     f"under {label} only the last intervention was applied: every index in the dict gets its "
                     "constant"),
                    (lambda o: any(close(o[:, j], v + want_obs[:, j]) or close(o[:, j], noisy[j]) for j, v in items),
                     f"under {label} an intervened variable is its value plus something: do(x_j = v) replaces the "
                     "whole equation (parents and noise) by the constant v"),
                    (lambda o: any(close(o[:, j], torch.full((n,), float(v), dtype=F64)) for j, v in items)
                     and any(not close(o[:, c], want[:, c], scale=want) for c in range(K)),
                     f"under {label} the intervened variables have their values but a descendant did not follow: set "
                     "the intervened value *before* computing its children, in the topological order"),
                    (lambda o: not close(o, want, scale=want),
                     lambda o: f"under {label}: {differs(o, want)}; {formula}"),
                ])
            return run

        if base:
            trials = [intervened({0: 1.5}, "do(x1 = 1.5)"), intervened({1: 0.0}, "do(x2 = 0)"),
                      intervened({1: 2.0, 0: -1.0}, "do(x2 = 2, x1 = -1)")]
        else:
            pick = torch.randperm(K, generator=g).tolist()
            zero = next((j for j in pick if j in with_children), pick[0])
            v = round(float(4 * torch.rand((), generator=g, dtype=F64) - 2), 3) or 1.0
            middle = [j for j in pick if j in with_parents and j in with_children] or pick
            two = [middle[0], next(j for j in pick if j != middle[0])]
            trials = [intervened({pick[0]: v}, f"do(x{pick[0] + 1} = {v:g})"),
                      intervened({zero: 0.0}, f"do(x{zero + 1} = 0)"),
                      intervened({two[0]: v, two[1]: -v - 1.0},
                                 f"do(x{two[0] + 1} = {v:g}, x{two[1] + 1} = {-v - 1.0:g})")]
        return [observational, *trials]

    base, ranges = _sizes("scm")
    return run_check("5.1", "sampling an SCM and do()",
                     "sample the linear SCM of A and eps, with do() for every index in interventions (lecture section "
                     "1)", fn, across_sizes(build, base, ranges, seed=51, advice=SIZES),
                     hint="evaluate the variables parents first (vaecourse.scm.topological_order(A)); an intervened "
                          "variable is its constant, whatever its parents and noise")


def _count(m: int) -> str:
    return ("one", "two", "three", "four")[m - 1] if 1 <= m <= 4 else str(m)


@own_state
def causal_layer(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Exercise 5.2: ``fn(A, eps)`` -> z (B, n) with z = (I - A^T)^{-1} eps for each row."""
    formula = "z = A^T z + eps for every row, i.e. z = (I − A^T)^{-1} eps (Eq. 27)"
    why = ("CausalVAE learns A through this layer, and the encoder's eps gets its gradient through it too: keep to "
           "torch operations (a solve or an inverse)")

    def build(sizes: dict[str, int], g: torch.Generator) -> list[Trial]:
        K, n = sizes["K"], sizes["n"]
        A, eps = _graph(sizes, g, [[0.0, 0.8, 0.3, 0.0], [0.0, 0.0, -1.2, 0.0], [0.0, 0.0, 0.0, 0.0],
                                   [0.0, 0.0, 0.7, 0.0]], seed=4)
        want = linear_solve(A, eps)

        def basic_of(eps: Tensor) -> list:
            return tensor_rules("z", tuple(eps.shape), meaning="one row per example, like eps")
        basic = basic_of(eps)

        def rules(A: Tensor, eps: Tensor, want: Tensor, where: str = "") -> list:
            K = A.shape[0]
            eye = torch.eye(K, dtype=F64)
            # the series eps (I + A + A² + … + A^m), cut after m steps: right only where no path is longer than m
            series = [eps @ sum(torch.linalg.matrix_power(A, k) for k in range(m + 1)) for m in range(1, K - 1)]
            longest = next((m for m in range(1, K) if not torch.linalg.matrix_power(A, m).any()), K) - 1

            def cut(o: Any) -> int | None:
                return next((m for m, z in enumerate(series, 1) if close(o, z) and not close(z, want)), None)

            return [
                *basic_of(eps),
                finite_rule("z", "I - A^T is invertible for a DAG"),
                (lambda o: close(o, eps @ torch.linalg.inv(eye - A.T)),
                 f"{where}you used (I - A)^{{-1}} (or multiplied the row vectors on the wrong side): with one example "
                 "per row, each row z_b must solve z_b = A^T z_b + eps_b"),
                (lambda o: cut(o) is not None,
                 lambda o: f"{where}z = eps + A^T eps{' + (A^T)² eps' if cut(o) > 1 else ''}"
                           f"{' + …' if cut(o) > 2 else ''} is {_count(cut(o))} step{'s' * (cut(o) > 1)} of the "
                           f"chain only, but this graph has a path of length {longest}: a node {longest} steps down "
                           f"needs (A^T)^{longest} eps too: solve the linear system instead of summing a few terms, "
                           f"{formula}"),
                (lambda o: close(o, eps @ A), f"{where}z = A^T eps leaves out the node's own eps: z = A^T z + eps"),
                (lambda o: close(o, eps),
                 f"{where}z equals eps: the causal layer should mix parents into children, {formula}"),
                (lambda o: not close(o, want, scale=want),
                 lambda o: f"{where}z does not solve z = A^T z + eps: {differs(o, want)}"),
            ]

        def values(f: Callable) -> None:
            expect(called(f, (A.clone(), eps.clone()), ("A", "eps"), UNCHANGED), rules(A, eps, want))

        # a chain through all K nodes in shuffled order, longest path K − 1 ≥ 3 (the first graph's is 2): a series
        # cut after two steps gives the right values there, and shows here (at the same sizes: a size typed in is
        # told by the trials at other sizes)
        order = torch.randperm(K, generator=seeded(5))
        chain = torch.zeros(K, K, dtype=F64)
        for k in range(K - 1):
            chain[order[k], order[k + 1]] = (0.9, -1.1, 0.8, 1.3, -0.7)[k % 5]
        chain_eps = torch.randn(n, K, generator=seeded(6), dtype=F64)
        path = " → ".join(f"x{int(i)}" for i in order)

        def deep(f: Callable) -> None:
            expect(called(f, (chain.clone(), chain_eps.clone()), ("A", "eps"), UNCHANGED),
                   rules(chain, chain_eps, linear_solve(chain, chain_eps), f"for the chain {path}, "))

        def identity(f: Callable) -> None:
            out = called(f, (torch.zeros(K, K, dtype=F64), eps.clone()), ("A", "eps"), UNCHANGED)
            expect(out, [*basic, (lambda o: not close(o, eps), "with A = 0 (no edges) z must equal eps")])

        # a series cut after K − 1 steps has the right values for any DAG of K nodes (no longer path), not the
        # gradient with respect to A of (I − A^T)^{-1}: named as such, not as a cut graph
        cut_series = [(lambda A, e, m=m: e @ sum(torch.linalg.matrix_power(A, k) for k in range(m + 1)),
                       f"z = eps + A^T eps + … + (A^T)^{m} eps has the right values (no path here is longer than {m} "
                       "steps), but not the gradient with respect to A of the causal layer, which differentiates "
                       "every power of A: solve the linear system instead of summing a few terms")
                      for m in range(1, K)]
        gradients = gradient_trial(linear_solve, lambda: (A, eps), {0: "A", 1: "eps"}, basic, "z", why,
                                   alternatives=cut_series)
        return [values, deep, identity, gradients]

    base, ranges = _sizes("layer")
    return run_check("5.2", "the causal layer",
                     "compute the causal layer's z of Eq. (27) from A and eps, one example per row, differentiably",
                     fn, across_sizes(build, base, ranges, seed=52, advice=SIZES),
                     hint="each row solves z = A^T z + eps: a linear system (torch.linalg.solve or torch.linalg.inv); "
                          "mind which side the row vectors multiply on")


def _scaled_dag_constraint(A: Tensor) -> Tensor:
    """tr((I + A o A / n)^n) - n: H(A) as the CausalVAE authors' code computes it (``_h_A`` with ``matrix_poly``,
    from DAG-GNN [yu2019]); zero exactly for a DAG, like Eq. (40), whose walks it weights by 1/n^length."""
    n = A.shape[0]
    return torch.trace(torch.linalg.matrix_power(torch.eye(n, dtype=A.dtype) + A * A / n, n)) - n


@own_state
def dag_penalty(fn: Callable[[Tensor], Tensor]) -> bool:
    """Exercise 5.3: ``fn(A)`` -> H(A) = tr((I + A o A)^n) - n, a scalar with the right gradient."""
    scaled = _scaled_dag_constraint  # the authors' code's form (DAG-GNN's): also a valid H, with its own gradient
    form = {"scaled": False}
    why = "CausalVAE's augmented Lagrangian (Eq. 41) pushes A towards a DAG along this gradient"

    def reference(A: Tensor) -> Tensor:
        return scaled(A) if form["scaled"] else dag_constraint(A)

    def build(sizes: dict[str, int], g: torch.Generator) -> list[Trial]:
        n = sizes["K"]
        if n == 3:
            A = torch.tensor([[0.0, 0.9, 0.0], [0.4, 0.0, 0.7], [0.5, 0.0, 0.0]], dtype=F64)  # cycles 0-1-0, 0-1-2-0
            dag = torch.tensor([[0.0, 2.0, -1.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]], dtype=F64)
        else:
            A = (torch.rand(n, n, generator=g, dtype=F64) * 1.2 - 0.6).fill_diagonal_(0.0)  # cycles everywhere
            dag = _random_dag(n, g)
        want = dag_constraint(A)
        eye = torch.eye(n, dtype=F64)
        scalar = [
            (lambda o: not isinstance(o, Tensor), lambda o: f"H should be a torch.Tensor, got {describe(o)}"),
            device_rule("H"),
            (lambda o: not o.is_floating_point(), lambda o: f"H has dtype {o.dtype}; it should be a floating-point "
             "tensor"),
            (lambda o: o.numel() != 1, lambda o: f"H should be a single number, got shape {tuple(o.shape)}: "
             "take the trace of the matrix power"),
        ]

        def power(M: Tensor, k: int) -> Tensor:
            return torch.linalg.matrix_power(M, k)

        def values(f: Callable) -> None:
            out = called(f, (A.clone(),), ("A",), UNCHANGED)
            if isinstance(out, Tensor) and out.numel() == 1 and close(out.reshape(()), scaled(A)) \
                    and not close(out.reshape(()), want):
                if not form["scaled"]:
                    print("ℹ️ Exercise 5.3: that is tr((I + A o A / n)^n) - n, the scaled form of the CausalVAE "
                          "authors' code (from DAG-GNN [yu2019]): also a valid acyclicity constraint (>= 0, and 0 "
                          f"exactly for a DAG), only scaled differently from the slides' Eq. (40), which gives "
                          f"{fmt(want)} here and which the library uses. Checking your function as that form.")
                form["scaled"] = True
                return dag_is_zero(f)
            expect(out, [
                *scalar,
                (lambda o: close(o.reshape(()), want + n), "you forgot to subtract n: tr(I^n) = n even for a DAG"),
                (lambda o: n != 3 and close(o.reshape(()), torch.trace(power(eye + A * A, 3)) - 3),
                 f"you used n = 3 for a graph of {n} nodes: n is the number of nodes, A.shape[0]"),
                (lambda o: close(o.reshape(()), torch.trace(power(eye + A, n)) - n),
                 "you used (I + A)^n: square the entries first (A o A), so that negative weights cannot cancel"),
                (lambda o: close(o.reshape(()), torch.trace(power(eye + A @ A, n)) - n),
                 "A o A is the element-wise (Hadamard) product, not the matrix product A @ A"),
                (lambda o: close(o.reshape(()), torch.trace((eye + A * A) ** n) - n),
                 "(I + A o A) ** n raises each entry to the n-th power; H needs the matrix power "
                 "(torch.linalg.matrix_power)"),
                (lambda o: close(o.reshape(()), torch.trace(torch.matrix_exp(A * A)) - n),
                 "that is NOTEARS' tr(exp(A o A)) - n; the slides' Eq. (40) uses the polynomial tr((I + A o A)^n) - n"),
                (lambda o: not close(o.reshape(()), want),
                 lambda o: f"H(A) {differs(o.reshape(()), want)} for this A with cycles"),
            ])
            dag_is_zero(f)

        def dag_is_zero(f: Callable) -> None:
            out = called(f, (dag.clone(),), ("A",), UNCHANGED)
            if not (isinstance(out, Tensor) and out.numel() == 1 and close(out.reshape(()), torch.zeros((), dtype=F64),
                                                                           atol=1e-9)):
                raise Problem(f"H should be exactly 0 for a DAG (this {n}-node A has no cycle), whatever its weights; "
                              f"got {describe(out) if not isinstance(out, Tensor) or out.numel() != 1 else fmt(out)}")

        gradients = gradient_trial(reference, lambda: (A,), {0: "A"}, scalar, "H", why)
        return [values, gradients]

    return run_check("5.3", "the acyclicity constraint H(A)",
                     "compute H(A) of Eq. (40) as a 0-d tensor, differentiable in A", fn,
                     across_sizes(build, {"K": 3}, {"K": (4, 6)}, seed=53, advice=SIZES),
                     hint="A o A squares each entry; the n-th power of (I + A o A) is a matrix power "
                          "(torch.linalg.matrix_power), n = the number of nodes; torch.trace sums the diagonal")


@own_state
def latent_intervention(fn: Callable[..., Tensor]) -> bool:
    """Exercise 5.4: ``fn(A, eps, i, value)`` -> z (B, n) under do(z_i = value), eps abducted (held)."""
    rule = ("do(z_i = v) cuts the edges into z_i, sets it to v, keeps every other eps, and solves z = A^T z + eps "
            "again: z_i's descendants follow, its ancestors do not move")
    unchanged = ("Notebook 05 uses the same A and eps again in the next cells: an intervention that cuts the edges "
                 "of the A it was given changes the graph for everything after")

    def build(sizes: dict[str, int], g: torch.Generator) -> list[Trial]:
        K, n = sizes["K"], sizes["n"]
        base = K == 4
        A, eps = _graph(sizes, g, [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, -2.0, 0.0], [0.0, 0.0, 0.0, 0.0],
                                   [0.0, 0.0, 0.0, 0.0]], seed=8)  # base: 0 -> 1 -> 2, 3 isolated
        factual = linear_solve(A, eps)
        basic = tensor_rules("z", (n, K), meaning="one row per example, one column per concept")
        middle = [j for j in range(K) if (A[:, j] != 0).any() and (A[j] != 0).any()]
        i = 1 if base else middle[int(torch.randint(len(middle), (1,), generator=g))] if middle else 0
        roots = [j for j in range(K) if not (A[:, j] != 0).any() and (A[j] != 0).any()]

        def case(index: int, value: float) -> Trial:
            want = linear_intervene(A, eps, index, value)
            out_cut = A.clone()
            out_cut[index, :] = 0
            e = eps.clone()
            e[:, index] = value
            cut_outgoing = linear_solve(out_cut, e)
            one_step = factual.clone()
            one_step[:, index] = value
            label = f"do(z_{index} = {value:g})"

            def run(f: Callable) -> None:
                out = called(f, (A.clone(), eps.clone(), index, value), ("A", "eps", None, None), unchanged)
                expect(out, [
                    *basic,
                    finite_rule("z", "the graph is acyclic"),
                    (lambda o: close(o, factual) and value == 0,
                     f"{label} was treated as no intervention: `if value:` is False for 0.0; an intervention to 0 "
                     "is an intervention like any other"),
                    (lambda o: close(o, factual), f"z is the factual z = (I - A^T)^{{-1}} eps: {label} was not "
                     "applied"),
                    (lambda o: not close(out_cut, A) and close(o, cut_outgoing),
                     f"under {label} you cut the edges OUT of z_{index} (row {index} of A, to its children) instead "
                     f"of the edges INTO it (its parents, column {index}): the children must follow the new value, "
                     "and only the parents' influence on z_i is removed"),
                    (lambda o: close(o, one_step), f"you set z_{index} = {value:g} but its descendants keep their "
                     "factual values: after the action, recompute them from the equations (prediction)"),
                    (lambda o: not close(o[:, index], torch.full((n,), float(value), dtype=F64), scale=want),
                     f"under {label} z_{index} is not exactly {value:g}: do() replaces the whole equation (parents "
                     "and eps) by the constant"),
                    (lambda o: any(not close(o[:, j], factual[:, j], scale=want) for j in range(K)
                                   if close(want[:, j], factual[:, j]) and j != index),
                     f"under {label} a variable that is not a descendant of z_{index} changed: an intervention never "
                     "reaches the ancestors of the intervened node (cut the incoming edges, do not invert them)"),
                    (lambda o: not close(o, want, scale=want), lambda o: f"under {label}: {differs(o, want)}; {rule}"),
                ])
            return run

        value = 2.0 if base else round(float(6 * torch.rand((), generator=g, dtype=F64) - 3), 3) or 1.5
        root = 0 if base else (roots[0] if roots else i)
        return [case(i, value), case(i, 0.0), *(case(root, v) for v in (-3.0, 7.5))]

    base, ranges = _sizes("layer")
    return run_check("5.4", "an intervention on the latent",
                     "compute z under do(z_i = value) from A and the abducted eps, without changing A or eps "
                     "(lecture section 5, interventions)", fn,
                     across_sizes(build, base, ranges, seed=54, advice=SIZES),
                     hint="work on copies of A and eps; the causal layer of Exercise 5.2 solves z = A^T z + eps")


__all__ = ["causal_layer", "dag_penalty", "latent_intervention", "scm_sample"]
