"""CausalVAE's objective: the ELBO of Eq. (36)-(37), l_u, l_m and the acyclicity constraint H(A) = 0.

    ELBO = E_q log p(x|z) - KL(q(eps|x, u) || p(eps)) - KL(q(z|x, u) || p(z|u))       [slides, Eq. 36-37]
    l_u  = E ||u - sigma(A^T u)||^2                                                    [slides, Eq. 38]
    l_m  = E_z sum_i ||z_i - g_i(A_i o z; eta_i)||^2                                   [slides, Eq. 39]
    H(A) = tr((I + A o A)^n) - n  (= 0 exactly when A is a DAG)                        [slides, Eq. 40]
    L    = -ELBO + alpha H(A) + beta l_u + gamma l_m                                   [slides, Eq. 41]

The constraint H(A) = 0 is enforced by an augmented Lagrangian [zheng2018, Sec. 4]: the loss adds
alpha H(A) + rho/2 H(A)^2; every ``update_every`` steps the multiplier takes a dual-ascent step
alpha <- alpha + rho H(A), and rho grows tenfold (up to ``rho_max`` = 100) while H(A) has not fallen below a
quarter of its previous value. ``alpha`` is therefore Eq. (41)'s alpha, learned rather than fixed. (A larger
rho_max froze A near zero in our pendulum runs: the symmetric start A = 0 first grows 2-cycles, which a huge
penalty pins down instead of letting one direction win.)

sigma in l_u: tanh, since our labels u are centred on [-1, 1] (the paper's logistic function suits labels in
[0, 1]); it makes l_u a nonlinear regression of each concept on its parents in A.

Two additions of this course, both off by default (the paper's loss), both measured in chapter 5:
    label_fit="mask"  l_u = E ||u - g(A o u)||^2: the model's label equations, a bounded mask-layer network
                      (``CausalVAE.predict_labels``, ``out.u_hat``), instead of sigma(A^T u), which cannot express
                      the shadow length (not monotone in theta);
    independence=lam  + lam sum_{i<j} HSIC(r_i, r_j), r = u - (prediction): the label residuals are the graph's
                      exogenous noises, and an SCM's noises are independent (``objectives.independence``). l_u
                      alone is lowest on wrong graphs on the pendulum's labels; this term orients the colliders.

"ELBO" here is the paper's Eq. (36)-(37), logged as ``elbo`` beside the loss; the conditional baseline (no
causal layer) has only the KL to p(z|u). Reductions: sums over pixels and latents, mean over the batch last.
Shape letters: B batch, n concepts.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from vaecourse.objectives.elbo import Terms, check_target, non_negative
from vaecourse.objectives.independence import noise_dependence
from vaecourse.scm import check_adjacency

LABEL_FITS = ("tanh", "mask")  # l_u's prediction of u from its parents: sigma(A^T u) (Eq. 38) or the mask layer


def dag_constraint(A: Tensor) -> Tensor:
    """H(A) = tr((I + A o A)^n) - n >= 0, zero iff the weighted graph A has no cycle.  [slides, Eq. 40]

    (I + A o A)^n sums, with positive weights, every walk of length <= n; its trace counts closed walks,
    i.e. cycles, and n such walks of length 0 (the identity) are subtracted.
    """
    A = check_adjacency(A)
    n = A.shape[0]
    return torch.trace(torch.linalg.matrix_power(torch.eye(n, dtype=A.dtype, device=A.device) + A * A, n)) - n


def dag_constraint_grad(A: Tensor) -> Tensor:
    """dH/dA = 2 n [(I + A o A)^{n-1}]^T o A (closed form, for checking autograd)."""
    A = check_adjacency(A)
    n = A.shape[0]
    M = torch.linalg.matrix_power(torch.eye(n, dtype=A.dtype, device=A.device) + A * A, n - 1)
    return 2 * n * M.T * A


def label_residuals(u: Tensor, A: Tensor) -> Tensor:
    """r = u - tanh(A^T u), (B, n): what the labels' parents leave unexplained.  (A^T u)_j = sum_i A_ij u_i."""
    A = check_adjacency(A)
    if u.dim() != 2 or u.shape[1] != A.shape[0]:
        raise ValueError(f"labels u must have shape (B, {A.shape[0]}), one column per concept, got {tuple(u.shape)}")
    return u - torch.tanh(u @ A)


def label_loss(u: Tensor, A: Tensor) -> Tensor:
    """l_u per example: ||u - tanh(A^T u)||^2, (B,).  [slides, Eq. 38]"""
    return label_residuals(u, A).pow(2).sum(1)


def check_label_fit(label_fit: str) -> None:
    if label_fit not in LABEL_FITS:
        raise ValueError(f"label_fit must be one of {LABEL_FITS}, got {label_fit!r}")


def mask_loss(z: Tensor, g: Tensor) -> Tensor:
    """l_m per example: sum_i ||z_i - g_i(A_i o z)||^2, (B,).  [slides, Eq. 39]"""
    return (z - g).pow(2).sum(1)


def causal_terms(output, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(log p(x|z~), KL_eps, KL_z, ELBO) per example from a CausalVAE output.  [slides, Eq. 36-37]"""
    x = check_target(output, x)
    log_px_z = output.p_x.log_prob(x)  # (B,)
    if output.causal:  # CausalVAE: eps and z both KL'd
        kl_eps = output.q_eps.kl_to_standard_normal()  # (B,)
    else:  # the conditional baseline: z = eps, one KL (to p(z|u))
        kl_eps = torch.zeros_like(log_px_z)
    kl = kl_eps + output.kl_z
    return log_px_z, kl_eps, output.kl_z, log_px_z - kl


def augmented_lagrangian_term(H: Tensor, alpha: float, rho: float) -> Tensor:
    """alpha H(A) + rho/2 H(A)^2: the acyclicity constraint H(A) = 0 (Eq. 40) as Eq. (41) enforces it."""
    return alpha * H + 0.5 * rho * H ** 2


def causal_vae_loss(output, x: Tensor, alpha: float = 0.0, rho: float = 0.0, beta: float = 1.0,
                    gamma: float = 1.0, label_fit: str = "tanh", independence: float = 0.0,
                    bandwidth: float = 0.5) -> Terms:
    """-ELBO + alpha H(A) + rho/2 H(A)^2 + beta l_u + gamma l_m (Eq. 41 with the augmented term)
    + independence * sum_{i<j} HSIC(r_i, r_j) over the label residuals r (logged as ``l_ind`` in every case)."""
    for name, value in (("beta", beta), ("gamma", gamma), ("rho", rho), ("independence", independence)):
        non_negative(name, value)
    check_label_fit(label_fit)
    log_px_z, kl_eps, kl_z, bound = causal_terms(output, x)
    H = dag_constraint(output.A)
    u = output.u.to(output.A.dtype)
    if label_fit == "mask" and output.u_hat is None:
        raise ValueError("label_fit='mask' needs a CausalVAE output with label predictions (u_hat); got none")
    r = label_residuals(u, output.A) if label_fit == "tanh" else u - output.u_hat  # (B, n)
    l_u = r.pow(2).sum(1)  # (B,)
    l_m = mask_loss(output.z, output.g)  # (B,)
    l_ind = noise_dependence(r, bandwidth)
    loss = -bound.mean() + augmented_lagrangian_term(H, alpha, rho) + beta * l_u.mean() + gamma * l_m.mean()
    if independence > 0:
        loss = loss + independence * l_ind
    return Terms(log_px_z=log_px_z, kl=kl_eps + kl_z, elbo=bound, loss=loss,
                 extras={"kl_eps": kl_eps.detach(), "kl_z": kl_z.detach(), "l_u": l_u.detach(), "l_m": l_m.detach(),
                         "l_ind": l_ind.detach(), "H": H.detach(), "alpha": torch.tensor(float(alpha)),
                         "rho": torch.tensor(float(rho))})


def conditional_vae_loss(output, x: Tensor) -> Terms:
    """The conditional baseline: -E log p(x|z) + KL(q(z|x, u) || p(z|u)); nothing else."""
    log_px_z, _, kl_z, bound = causal_terms(output, x)
    return Terms(log_px_z=log_px_z, kl=kl_z, elbo=bound, loss=-bound.mean())


class CausalObjective:
    """Eq. (41) with H(A) = 0 enforced by an augmented Lagrangian; call it as ``objective(output, x, step=...)``.

        objective = CausalObjective(beta=1.0, gamma=1.0)
        fit(model, objective, pendulum.batches(64, steps), steps=steps)   # objective.alpha, objective.rho
    """

    def __init__(self, beta: float = 1.0, gamma: float = 1.0, alpha: float = 0.0, rho: float = 1.0,
                 update_every: int = 100, rho_max: float = 100.0, rho_growth: float = 10.0, h_tol: float = 1e-8,
                 label_fit: str = "tanh", independence: float = 0.0, bandwidth: float = 0.5):
        check_label_fit(label_fit)
        for name, value in (("beta", beta), ("gamma", gamma), ("alpha", alpha), ("rho", rho), ("rho_max", rho_max),
                            ("independence", independence)):
            non_negative(name, value)
        self.label_fit, self.independence, self.bandwidth = label_fit, float(independence), float(bandwidth)
        if not isinstance(update_every, int) or update_every < 1:
            raise ValueError(f"update_every must be a positive integer, got {update_every!r}")
        self.beta, self.gamma, self.alpha, self.rho = float(beta), float(gamma), float(alpha), float(rho)
        self.update_every, self.rho_max, self.rho_growth = update_every, float(rho_max), float(rho_growth)
        self.h_tol = float(h_tol)
        self.h_previous = math.inf
        self.trace: list[tuple[int, float, float, float]] = []  # (step, H, alpha, rho) at each dual update

    def __call__(self, output, x: Tensor, step: int = 0) -> Terms:
        terms = causal_vae_loss(output, x, alpha=self.alpha, rho=self.rho, beta=self.beta, gamma=self.gamma,
                                label_fit=self.label_fit, independence=self.independence, bandwidth=self.bandwidth)
        if step > 0 and step % self.update_every == 0:
            self.dual_update(step, float(terms.extras["H"]))
        return terms

    def dual_update(self, step: int, h: float) -> None:
        """alpha <- alpha + rho H; rho *= growth while H has not dropped below a quarter of its last value.
        Nothing changes once H <= h_tol (the constraint holds)."""
        if h <= self.h_tol:
            return
        self.alpha += self.rho * h
        if h > 0.25 * self.h_previous:
            self.rho = min(self.rho * self.rho_growth, self.rho_max)
        self.h_previous = h
        self.trace.append((step, h, self.alpha, self.rho))

    def state_dict(self) -> dict:
        return {"alpha": self.alpha, "rho": self.rho, "h_previous": self.h_previous, "trace": list(self.trace)}

    def load_state_dict(self, state: dict) -> None:
        self.alpha, self.rho = float(state["alpha"]), float(state["rho"])
        self.h_previous = float(state["h_previous"])
        self.trace = [tuple(t) for t in state["trace"]]


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
    if not isinstance(u, Tensor) or u.dim() != 2 or u.shape[0] < 2:
        raise ValueError(f"labels u must be a (N, n) tensor with N >= 2, got "
                         f"{tuple(u.shape) if isinstance(u, Tensor) else type(u).__name__}")
    if a_init not in ("zero", "random"):
        raise ValueError(f"a_init must be 'zero' or 'random' (never the true graph), got {a_init!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    non_negative("independence", independence)
    if predictor is not None and not hasattr(predictor, "predict_labels"):
        raise ValueError(f"predictor must be a MaskLayer (with predict_labels), got {type(predictor).__name__}")
    n = u.shape[1]
    u = u.detach().float()
    allowed = 1 - torch.eye(n)
    if support is not None:
        allowed = allowed * (check_adjacency(support, n, name="support") != 0).float()
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
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
        H = dag_constraint(A)
        penalty = augmented_lagrangian_term(H, constraint.alpha, constraint.rho)
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


__all__ = ["CausalObjective", "augmented_lagrangian_term", "causal_terms", "causal_vae_loss", "conditional_vae_loss",
           "dag_constraint", "dag_constraint_grad", "label_loss", "label_residuals", "learn_graph_from_labels",
           "mask_loss", "LABEL_FITS"]
