"""The label-only fit of chapter 5: learn the causal graph A from the concept labels u alone.

A second, small training loop beside :func:`vaecourse.train.fit`: it optimises only the part of CausalVAE's loss
(Eq. 41) that sees the labels, l_u (Eq. 38) subject to H(A) = 0 (Eq. 40), with the same augmented Lagrangian
(:class:`vaecourse.objectives.CausalObjective`'s dual update). Chapter 5 uses it to ask what the labels alone
say about the graph (the best l_u on each candidate graph, the graph learned from zero), and
``benchmarks/bench_causal_graph.py`` measures it over seeds. :func:`prune_edges` then drops the edges a fitted
label loss does not need (the course's addition, not the paper's).

Shape letters: N labelled examples, B batch, n concepts.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from vaecourse import values
from vaecourse.objectives.causal import CausalObjective, _penalty, dag_constraint, label_residuals
from vaecourse.objectives.elbo import non_negative
from vaecourse.objectives.independence import BANDWIDTH, noise_dependence
from vaecourse.scm import check_adjacency


def learn_graph_from_labels(u: Tensor, *, support: Tensor | None = None, steps: int = 2000,
                            batch_size: int = 64, lr: float = 1e-2, a_init: str = "zero", l1: float = 0.0,
                            generator: torch.Generator | None = None, predictor=None,
                            predictor_lr: float = 1e-3, independence: float = 0.0,
                            bandwidth: float = 0.5) -> tuple[Tensor, float]:
    """Learn A from the labels alone: min l_u (Eq. 38) + l1 |A|_1 [+ independence * sum_{i<j} HSIC(r_i, r_j)]
    subject to H(A) = 0 (Eq. 40), the part of Eq. (41) that sees only u, with CausalVAE's augmented Lagrangian
    (``CausalObjective.dual_update``).

    u (N, n) labels; ``support`` (n, n) of 0/1 restricts A to those edges (to score a given graph: the smallest
    l_u any A on it reaches); ``a_init`` "zero" or "random" (uniform in [-0.1, 0.1]), never a known graph.
    ``predictor``, a ``MaskLayer(n, k)`` trained alongside A at ``predictor_lr``, replaces tanh(A^T u) by its
    ``predict_labels(u, A)``: a nonlinear prediction of each label from its parents (CausalVAE's label_fit="mask").
    ``independence`` > 0 adds the HSIC dependence of the residuals r (``objectives.independence``).
    Returns (A (n, n), the squared error: mean over all N labels of ||r||^2, r = u - tanh(A^T u) or
    u - predictor.predict_labels(u, A)).
    Seconds for the pendulum's labels.
    """
    if not isinstance(u, Tensor) or u.dim() != 2 or u.shape[0] < 2 or u.shape[1] < 2:
        raise ValueError(f"labels u must be a (N, n) tensor with N >= 2 examples of n >= 2 concepts (a graph needs two "
                         f"nodes), got {values.shown(u)}")
    if not isinstance(a_init, str) or a_init not in ("zero", "random"):
        raise ValueError(f"a_init must be 'zero' or 'random' (never the true graph), got {a_init!r}")
    values.with_values("labels u", u, "real numbers (N, n)")
    if u.dtype == torch.bool or u.is_complex():
        raise ValueError(f"labels u must be real numbers, got {values.shown(u)}")
    if not bool((u.detach().abs() <= values.MAX_WEIGHT).all()):  # 1e30 labels: the fit's squares overflow
        raise ValueError(f"labels u must be finite numbers at most {values.MAX_WEIGHT:g} in size (normalised concept "
                         f"values), got {int((~(u.detach().abs() <= values.MAX_WEIGHT)).sum())} of {u.numel()} values "
                         "that are NaN, inf or larger")
    steps = values.steps.check("steps", steps)
    batch_size = values.batch_size.check("batch_size", batch_size)
    lr = values.learning_rate.check("lr (the graph's learning rate)", lr)
    predictor_lr = values.learning_rate.check("predictor_lr", predictor_lr)
    l1 = values.non_negative.check("l1", l1)
    bandwidth = BANDWIDTH.check("bandwidth", bandwidth)
    non_negative("independence", independence)
    if predictor is not None and not hasattr(predictor, "predict_labels"):
        raise ValueError(f"predictor must be a MaskLayer (with predict_labels), got {type(predictor).__name__}")
    n = u.shape[1]
    if predictor is not None and getattr(predictor, "n", n) != n:
        raise ValueError(f"predictor must be a MaskLayer of the labels' {n} concepts (u has {n} columns), got a "
                         f"MaskLayer of {predictor.n}")
    u = u.detach().float()
    allowed = 1 - torch.eye(n)
    if support is not None:
        support = check_adjacency(support.float() if isinstance(support, Tensor) and support.dtype == torch.bool
                                  else support, n, name="support")  # a boolean mask is a 0/1 mask
        if not bool(((support == 0) | (support == 1)).all()):
            raise ValueError(f"support must be an ({n}, {n}) mask of 0/1 (1: the edge may be learned), got values "
                             f"{sorted(set(support.flatten().tolist()))[:6]}")
        allowed = allowed * support.float()
    generator = values.generator.or_none().check("generator", generator) or torch.Generator().manual_seed(0)
    A0 = torch.zeros(n, n) if a_init == "zero" else 0.1 * (2 * torch.rand(n, n, generator=generator) - 1)
    A_raw = torch.nn.Parameter(A0 * allowed)
    groups = [{"params": [A_raw], "lr": lr}]
    if predictor is not None:
        groups.append({"params": list(predictor.parameters()), "lr": predictor_lr})

    def residuals(labels: Tensor, A: Tensor) -> Tensor:  # (B, n)
        if predictor is None:
            return label_residuals(labels, A)
        return labels - predictor.predict_labels(labels, A)

    optimiser = torch.optim.Adam(groups)
    constraint = CausalObjective()
    for step in range(1, steps + 1):
        batch = u[torch.randint(0, u.shape[0], (min(batch_size, u.shape[0]),), generator=generator)]  # (B, n)
        A = A_raw * allowed
        try:
            H = dag_constraint(A)  # (it refuses a NaN A: name the fit's own settings, not its internal A)
        except ValueError:
            if bool(torch.isfinite(A_raw.detach()).all()):
                raise
            raise ValueError(f"learn_graph_from_labels diverged before step {step}: the graph's weights became NaN or "
                             f"inf; lower lr ({lr:g}) or predictor_lr ({predictor_lr:g}), or raise bandwidth "
                             f"({bandwidth:g})") from None
        penalty = _penalty(H, constraint.alpha, constraint.rho)  # (H checked by dag_constraint)
        r = residuals(batch, A)  # (B, n)
        loss = r.pow(2).sum(1).mean() + penalty + l1 * A.abs().sum()
        if independence > 0:
            loss = loss + independence * noise_dependence(r, bandwidth)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % constraint.update_every == 0:
            constraint.dual_update(step, float(H.detach()))
    A = (A_raw * allowed).detach()
    with torch.no_grad():
        return A, float(residuals(u, A).pow(2).sum(1).mean())


_LABEL_LOSS = values.real("a finite number >= 0 (a label loss: a mean squared error)", lambda v: v >= 0,
                          values.MAX_MEASURED, "no loss the course computes comes near it")  # -1: tolerance * l_u < 0
_FRACTION_OF_LOSS = values.real("a number >= 0 (a fraction of l_u)", lambda v: v >= 0, values.MAX_WEIGHT,
                                 values.WEIGHT_LIMIT)


def prune_edges(A: Tensor, label_loss: Callable[[Tensor], float], tolerance: float = 0.01,
                threshold: float = 0.3) -> tuple[Tensor, dict[tuple[int, int], float]]:
    """Backward elimination of the edges a fitted label loss does not need (the course's, not the paper's).

    ``label_loss(A)`` is l_u of the labels with the (fitted, held) equations reading the graph A, e.g.
    ``lambda A: float((u - equations.predict_labels(u, A)).pow(2).sum(1).mean())``. Among the edges with
    |A[j, i]| > ``threshold``, the one whose removal raises l_u least is removed while that rise is below
    ``tolerance`` times l_u of the whole graph; the others are then tested again. An edge whose parent the
    equations barely read (the pendulum's shadow position -> length, which the angles already explain) goes; a true
    edge, whose removal leaves its child unexplained, stays. Returns (keep (n, n): 1 kept, 0 removed; {(j, i): rise
    in l_u without edge j -> i} for every edge tested, at its last test).
    """
    if not isinstance(A, Tensor) or A.dim() != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be a square (n, n) tensor, got "
                         f"{tuple(A.shape) if isinstance(A, Tensor) else type(A).__name__}")
    tolerance = _FRACTION_OF_LOSS.check("tolerance", tolerance)
    threshold = values.non_negative.check("threshold (|A| of the edges tested)", threshold)
    values.function.check("label_loss", label_loss)

    def loss(graph: Tensor) -> float:
        return _LABEL_LOSS.check("label_loss(A) (the labels' loss, a float)", label_loss(graph))

    A = check_adjacency(A).detach()  # (and finite)
    keep = torch.ones_like(A)
    base, rises = loss(A), {}
    while True:
        edges = [tuple(e) for e in (((A * keep).abs() > threshold) & (keep > 0)).nonzero().tolist()]
        if not edges:
            return keep, rises
        current = loss(A * keep)
        for j, i in edges:
            keep[j, i] = 0
            rises[(j, i)] = loss(A * keep) - current
            keep[j, i] = 1
        weakest = min(edges, key=rises.__getitem__)
        if rises[weakest] >= tolerance * base:
            return keep, rises
        keep[weakest] = 0


__all__ = ["learn_graph_from_labels", "prune_edges"]
