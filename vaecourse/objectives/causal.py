"""CausalVAE's objective: the ELBO of Eq. (36)-(37), l_u, l_m and the acyclicity constraint H(A) = 0.

    ELBO = E_q log p(x|z) - KL(q(eps|x, u) || p(eps)) - KL(q(z|x, u) || p(z|u))       [slides, Eq. 36-37]
    l_u  = E ||u - sigma(A^T u)||^2                                                    [slides, Eq. 38]
    l_m  = E_z sum_i ||z_i - g_i(A_i o z; eta_i)||^2                                   [slides, Eq. 39]
    H(A) = tr((I + A o A)^n) - n  (= 0 exactly when A is a DAG)                        [slides, Eq. 40]
    L    = -ELBO + alpha H(A) + beta l_u + gamma l_m                                   [slides, Eq. 41]

In code the paper's beta and gamma are ``lu_weight`` and ``lm_weight`` (the weights of l_u and l_m; "beta" is
kept for the KL weight of chapter 2).

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

``ownership`` (decoder="layered"): + ownership * sum_p sum_i owned_i(p), the nats each pixel pays for every
concept block it reads (``LayeredDecoder``), logged as ``l_own``: each pixel draws from as few concepts as it needs.
``exclusive`` (decoder="layered"): + exclusive * sum_i sum_{l < l'} P(r_li != 0) P(r_l'i != 0), the expected pairs of
layers that read one concept block (``LayeredDecoder.shared``), logged as ``l_share``: each concept drawn by one layer;
``overlap`` (decoder="layered"): + overlap * sum_p sum_{a < b} pi_a(p) pi_b(p), how much the layers blend, logged as
``l_overlap``: each pixel drawn by one layer.
``cycle`` (a model built with cycle=True): + cycle * ||z^ - z'||^2 / 2 s^2, a counterfactual drawn and read back
through the encoder with the labels withheld (``CausalVAE.read_back``), logged as ``l_cycle``.

One more, for the images: ``pixel_weights`` (a (C, H, W) or (H, W) map, default none) weights each pixel's term of
log p(x|z~) in the *loss* (sum_pixels w log p(x_pixel|z~)), so a thin detail (the pendulum's shadow, a bar of one or
two rows at 32 x 32) is worth more than its pixel count; the logged ``elbo`` and ``log_px_z`` stay Eq. (36)'s.

"ELBO" here is the paper's Eq. (36)-(37), logged as ``elbo`` beside the loss; the conditional baseline (no
causal layer) has only the KL to p(z|u). Reductions: sums over pixels and latents, mean over the batch last.
Shape letters: B batch, n concepts.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

from vaecourse import values
from vaecourse.models.causal import CausalVAEOutput
from vaecourse.objectives.elbo import Terms, check_target, non_negative
from vaecourse.objectives.independence import BANDWIDTH, noise_dependence
from vaecourse.scm import check_adjacency

GROWTH = values.real("a growth factor >= 1 (1: rho stays)", lambda v: v >= 1)  # rho's tenfold steps
LABEL_FITS = ("tanh", "mask")


H_VALUE = values.real("H(A), a finite number (>= 0 up to rounding)", lambda v: v >= -1e-3, values.MAX_MEASURED,
                      "no H of a graph the course fits comes near it")  # dual_update's h, the penalty's H


def _is_update(entry) -> bool:
    """One dual update of the trace: (step, H, alpha, rho), a step >= 0, an H and two finite numbers >= 0."""
    if isinstance(entry, (str, bytes)) or not isinstance(entry, (list, tuple)) or len(entry) != 4:
        return False
    try:
        values.step_count.check("step", entry[0])
        H_VALUE.check("H", entry[1])
        for number in entry[2:]:
            values.non_negative.check("number", number)
    except ValueError:
        return False
    return True


DUAL_TRACE = values.Kind("a list of dual updates (step, H, alpha, rho): a step >= 0, H >= 0 and alpha, rho finite "
                         "numbers >= 0", lambda v: isinstance(v, (list, tuple)) and all(_is_update(entry) for entry in v))  # l_u's prediction of u from its parents: sigma(A^T u) (Eq. 38) or the mask layer


def dag_constraint(A: Tensor) -> Tensor:
    """H(A) = tr((I + A o A)^n) - n >= 0, zero iff the weighted graph A has no cycle.  [slides, Eq. 40]

    (I + A o A)^n sums, with positive weights, every walk of length <= n; its trace counts closed walks,
    i.e. cycles, and n such walks of length 0 (the identity) are subtracted.
    """
    A = check_adjacency(A)
    n = A.shape[0]
    H = torch.trace(torch.linalg.matrix_power(torch.eye(n, dtype=A.dtype, device=A.device) + A * A, n)) - n
    if not bool(torch.isfinite(H)):  # (1 + a^2)^n beyond the dtype: weights that large mean the run has diverged
        raise ValueError(f"dag_constraint's A must have weights small enough for H(A) = tr((I + A o A)^n) - n to be "
                         f"finite in {A.dtype}, got weights up to {float(A.abs().max()):.3g}")
    return H


def dag_constraint_grad(A: Tensor) -> Tensor:
    """dH/dA = 2 n [(I + A o A)^{n-1}]^T o A (closed form, for checking autograd)."""
    A = check_adjacency(A)
    n = A.shape[0]
    M = torch.linalg.matrix_power(torch.eye(n, dtype=A.dtype, device=A.device) + A * A, n - 1)
    grad = 2 * n * M.T * A
    if not bool(torch.isfinite(grad).all()):  # as dag_constraint refuses the H that overflows
        raise ValueError(f"dag_constraint_grad's A has weights too large for (I + A o A)^{n - 1} in {A.dtype} (up to "
                         f"{A.abs().max().item():.3g} in size): the gradient overflows")
    return grad


def label_residuals(u: Tensor, A: Tensor) -> Tensor:
    """r = u - tanh(A^T u), (B, n): what the labels' parents leave unexplained.  (A^T u)_j = sum_i A_ij u_i."""
    A = check_adjacency(A)  # (it reads A's values: finite; the labels' scan below costs no more)
    if not isinstance(u, Tensor) or not u.is_floating_point() or u.dim() != 2 or u.shape[1] != A.shape[0]:
        got = f"shape {tuple(u.shape)}" if isinstance(u, Tensor) and u.is_floating_point() else values.shown(u)
        raise ValueError(f"labels u must have shape (B, {A.shape[0]}), one column per concept (a real floating-point "
                         f"tensor), got {got}")
    values.with_values("labels u", u, f"labels (B, {A.shape[0]}) on A's device {A.device}")
    if u.device != A.device:
        raise ValueError(f"labels u must be on A's device {A.device}, got {values.shown(u)} on {u.device}")
    if not bool((u.abs() <= values.MAX_WEIGHT).all()):  # NaN fails too; 1e20 labels squared to inf in l_u
        raise ValueError(f"labels u must be finite and at most {values.MAX_WEIGHT:g} in size (normalised concept "
                         f"values), got {values.shown(u)}")
    return _label_residuals(u, A.to(u.dtype))


def _label_residuals(u: Tensor, A: Tensor) -> Tensor:
    """:func:`label_residuals` of checked labels and graph (a model's output: its forward checked u)."""
    return u - torch.tanh(u @ A)


def label_loss(u: Tensor, A: Tensor) -> Tensor:
    """l_u per example: ||u - tanh(A^T u)||^2, (B,).  [slides, Eq. 38]"""
    return label_residuals(u, A).pow(2).sum(1)


def check_label_fit(label_fit: str) -> None:
    if not isinstance(label_fit, str) or label_fit not in LABEL_FITS:
        raise ValueError(f"label_fit must be one of {LABEL_FITS}, got {values.shown(label_fit)}")


def mask_loss(z: Tensor, g: Tensor) -> Tensor:
    """l_m per example: sum_i ||z_i - g_i(A_i o z)||^2, (B,).  [slides, Eq. 39]"""
    for name, value in (("z", z), ("g", g)):  # types and shapes only: every training step calls this (NaN: IEEE)
        if not isinstance(value, Tensor) or not value.is_floating_point():
            raise TypeError(f"mask_loss's {name} must be a real floating-point tensor (B, D), got {values.shown(value)}")
        values.with_values(f"mask_loss's {name}", value, "a tensor (B, D)")
    if z.dim() != 2 or g.shape != z.shape:
        raise ValueError(f"mask_loss expects z and g of one shape (B, D), got {tuple(z.shape)} and {tuple(g.shape)}")
    if z.device != g.device:
        raise ValueError(f"mask_loss expects z and g on one device, got {z.device} and {g.device}")
    return (z - g).pow(2).sum(1)


def causal_terms(output, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(log p(x|z~), KL_eps, KL_z, ELBO) per example from a CausalVAE output.  [slides, Eq. 36-37]"""
    check_output(output)
    x = check_target(output, x)
    log_px_z = output.p_x.log_prob(x)  # (B,)
    if output.causal:  # CausalVAE: eps and z both KL'd
        kl_eps = output.q_eps.kl_to_standard_normal()  # (B,)
    else:  # the conditional baseline: z = eps, one KL (to p(z|u))
        kl_eps = torch.zeros_like(log_px_z)
    kl = kl_eps + output.kl_z
    return log_px_z, kl_eps, output.kl_z, log_px_z - kl


def check_output(output) -> None:
    """``output`` a label-conditioned model's output (CausalVAE/ConditionalVAE(x, u): a CausalVAEOutput), or a
    TypeError naming what came (a VAE's output has no labels, no graph and no KL to p(z|u))."""
    if not isinstance(output, CausalVAEOutput):
        raise TypeError(f"the causal objective's output must be a CausalVAE's or ConditionalVAE's output "
                        f"(model(x, u): a CausalVAEOutput), got {type(output).__name__}")


def augmented_lagrangian_term(H: Tensor, alpha: float, rho: float) -> Tensor:
    """alpha H(A) + rho/2 H(A)^2: the acyclicity constraint H(A) = 0 (Eq. 40) as Eq. (41) enforces it.
    H = tr(e^{A o A}) - n is >= 0 (up to rounding, -1e-3) and finite, and the penalty must be finite in H's dtype."""
    if not isinstance(H, Tensor) or not H.is_floating_point():
        raise TypeError(f"augmented_lagrangian_term's H must be a real floating-point tensor, got {values.shown(H)}")
    if H.dim() != 0:  # (a (2, 7) H was summed into a (2, 7) penalty)
        raise ValueError(f"augmented_lagrangian_term's H must be a scalar tensor (dag_constraint(A)), got shape "
                         f"{tuple(H.shape)}")
    H_VALUE.check("augmented_lagrangian_term's H", H)  # (meta refused in the library's words; H = -1 is no H(A))
    alpha, rho = non_negative("alpha", alpha), non_negative("rho", rho)
    penalty = _penalty(H, alpha, rho)
    if not bool(torch.isfinite(penalty)):
        raise ValueError(f"augmented_lagrangian_term's H must be small enough for alpha H + rho/2 H^2 to be finite in "
                         f"{H.dtype}, got H = {float(H):.3g} with alpha {alpha:g} and rho {rho:g}")
    return penalty


def _penalty(H: Tensor, alpha: float, rho: float) -> Tensor:
    """:func:`augmented_lagrangian_term` of an H that ``dag_constraint`` returned (checked there) and checked weights."""
    return alpha * H + 0.5 * rho * H ** 2


def weighted_log_likelihood(output, x: Tensor, pixel_weights: Tensor) -> Tensor:
    """sum_pixels w_pixel log p(x_pixel|z~), (B,): each pixel's log-likelihood weighted by its map entry."""
    x = check_target(output, x)
    check_pixel_weights(pixel_weights, tuple(x.shape[1:]))
    return _weighted_log_likelihood(output, x, pixel_weights)


def _weighted_log_likelihood(output, x: Tensor, pixel_weights: Tensor) -> Tensor:
    per_pixel = output.p_x.base_dist.log_prob(x)  # (B, C, H, W)
    return (per_pixel * pixel_weights.to(per_pixel)).flatten(1).sum(1)


def check_pixel_weights(pixel_weights, image_shape: tuple[int, ...] | None = None) -> None:
    """``pixel_weights`` a real (C, H, W) or (H, W) tensor of values in [0, ``values.MAX_WEIGHT``], not all 0, that
    broadcasts to ``image_shape`` (one pass over one image's worth of values)."""
    ok = isinstance(pixel_weights, Tensor) and pixel_weights.dim() in (2, 3) and pixel_weights.dtype != torch.bool \
        and not pixel_weights.is_complex() and pixel_weights.device.type != "meta" and pixel_weights.numel() > 0
    if ok:
        low, high = (float(v) for v in torch.aminmax(pixel_weights.detach().double()))
        ok = math.isfinite(low) and math.isfinite(high) and low >= 0 and 0 < high <= values.MAX_WEIGHT  # all 0:
        # no pixel would count; 1e37 (or 1e7 per pixel summed) overflowed the loss to inf
    if ok and image_shape is not None:
        try:
            ok = torch.broadcast_shapes(pixel_weights.shape, image_shape) == torch.Size(image_shape)
        except RuntimeError:
            ok = False
    if not ok:
        shape = f" for images of shape {image_shape}" if image_shape is not None else ""
        raise ValueError(f"pixel_weights must be a non-negative (C, H, W) or (H, W) tensor of finite values at most "
                         f"{values.MAX_WEIGHT:g} ({values.WEIGHT_LIMIT}), not all 0{shape}, got "
                         f"{values.shown(pixel_weights)}")


def causal_vae_loss(output, x: Tensor, alpha: float = 0.0, rho: float = 0.0, lu_weight: float = 1.0,
                    lm_weight: float = 1.0, label_fit: str = "tanh", independence: float = 0.0,
                    bandwidth: float = 0.5, pixel_weights: Tensor | None = None, ownership: float = 0.0,
                    cycle: float = 0.0, exclusive: float = 0.0, overlap: float = 0.0) -> Terms:
    """-ELBO + alpha H(A) + rho/2 H(A)^2 + lu_weight l_u + lm_weight l_m (Eq. 41, the paper's beta and gamma, with the
    augmented term) + independence * sum_{i<j} HSIC(r_i, r_j) over the label residuals r (logged as ``l_ind``);
    ``pixel_weights`` (the course's option) weights each pixel's log-likelihood in the optimised fit term;
    + ownership * owned (the layered decoder's pixels-times-concepts read, logged as ``l_own``) + exclusive * shared
    (its layers reading one concept, ``l_share``) + overlap * its layers' blending (``l_overlap``) + cycle * the
    read-back (``l_cycle``)."""
    for name, value in (("lu_weight", lu_weight), ("lm_weight", lm_weight), ("alpha", alpha), ("rho", rho),
                        ("independence", independence), ("ownership", ownership), ("cycle", cycle),
                        ("exclusive", exclusive), ("overlap", overlap)):
        non_negative(name, value)
    check_label_fit(label_fit)
    bandwidth = BANDWIDTH.check("bandwidth", bandwidth)
    log_px_z, kl_eps, kl_z, bound = causal_terms(output, x)
    if pixel_weights is not None:
        check_pixel_weights(pixel_weights, tuple(x.shape[1:]))
    H = dag_constraint(output.A)
    u = output.u.to(output.A.dtype)
    if label_fit == "mask" and output.u_hat is None:
        raise ValueError("label_fit='mask' needs a CausalVAE output with label predictions (u_hat); got none")
    r = _label_residuals(u, output.A) if label_fit == "tanh" else u - output.u_hat  # (B, n) (A: H checked it)
    l_u = r.pow(2).sum(1)  # (B,)
    l_m = mask_loss(output.z, output.g)  # (B,)
    l_ind = noise_dependence(r, bandwidth)
    fit = bound if pixel_weights is None else \
        _weighted_log_likelihood(output, x.to(output.z.dtype), pixel_weights) - kl_eps - kl_z  # (x checked above)
    loss = -fit.mean() + _penalty(H, alpha, rho) + lu_weight * l_u.mean() + lm_weight * l_m.mean()
    if independence > 0:
        loss = loss + independence * l_ind
    extras = {}
    for name, weight, term, key in (("ownership", ownership, output.owned, "l_own"),
                                    ("exclusive", exclusive, output.shared, "l_share"),
                                    ("overlap", overlap, output.overlap, "l_overlap")):
        if weight > 0:
            if term is None:
                raise ValueError(f"{name} > 0 needs a model whose decoder learns which pixels each concept owns "
                                 f"(decoder='layered'); this output has no layers")
            loss = loss + weight * term.mean()
            extras[key] = term.detach().expand_as(log_px_z)
    if cycle > 0 and not output.reads_back:
        raise ValueError(f"cycle={cycle:g} weights a counterfactual read back through the encoder, which only a model "
                         "built with cycle=True draws (CausalVAE(cycle=True, label_dropout > 0)); this one is not")
    if cycle > 0 and output.cycle is not None:  # (None in eval mode: the read-back is a training term)
        loss = loss + cycle * output.cycle.mean()
        extras["l_cycle"] = output.cycle.detach()
    return Terms(log_px_z=log_px_z, kl=kl_eps + kl_z, elbo=bound, loss=loss,
                 extras={"kl_eps": kl_eps.detach(), "kl_z": kl_z.detach(), "l_u": l_u.detach(), "l_m": l_m.detach(),
                         "l_ind": l_ind.detach(), "H": H.detach(), "alpha": torch.tensor(float(alpha)),
                         "rho": torch.tensor(float(rho)), **extras})


def conditional_vae_loss(output, x: Tensor) -> Terms:
    """The conditional baseline: -E log p(x|z) + KL(q(z|x, u) || p(z|u)); nothing else."""
    log_px_z, _, kl_z, bound = causal_terms(output, x)
    return Terms(log_px_z=log_px_z, kl=kl_z, elbo=bound, loss=-bound.mean())


class CausalObjective:
    """Eq. (41) with H(A) = 0 enforced by an augmented Lagrangian; call it as ``objective(output, x, step=...)``.

        objective = CausalObjective(lu_weight=1.0, lm_weight=1.0)
        fit(model, objective, pendulum.batches(64, steps), steps=steps)   # objective.alpha, objective.rho
    """

    schedule = ("step",)  # fit passes the step (the dual updates run every update_every steps)

    def __init__(self, lu_weight: float = 1.0, lm_weight: float = 1.0, alpha: float = 0.0, rho: float = 1.0,
                 update_every: int = 100, rho_max: float = 100.0, rho_growth: float = 10.0, h_tol: float = 1e-8,
                 label_fit: str = "tanh", independence: float = 0.0, bandwidth: float = 0.5,
                 pixel_weights: Tensor | None = None, ownership: float = 0.0, cycle: float = 0.0,
                 exclusive: float = 0.0, overlap: float = 0.0):
        check_label_fit(label_fit)
        if pixel_weights is not None:
            check_pixel_weights(pixel_weights)
        self.pixel_weights = pixel_weights
        for name, value in (("lu_weight", lu_weight), ("lm_weight", lm_weight), ("alpha", alpha), ("rho", rho),
                            ("rho_max", rho_max), ("independence", independence), ("ownership", ownership),
                            ("cycle", cycle), ("exclusive", exclusive), ("overlap", overlap)):
            non_negative(name, value)
        update_every = values.positive_int.check("update_every", update_every)
        if float(rho) > float(rho_max):
            raise ValueError(f"rho_max must be at least rho (the penalty only grows towards it), got rho_max "
                             f"{values.shown(rho_max)} below rho {values.shown(rho)}")
        bandwidth = BANDWIDTH.check("bandwidth", bandwidth)
        rho_growth = GROWTH.check("rho_growth", rho_growth)
        h_tol = values.non_negative.check("h_tol", h_tol)
        self.ownership, self.cycle, self.exclusive = float(ownership), float(cycle), float(exclusive)
        self.overlap = float(overlap)
        self.label_fit, self.independence, self.bandwidth = label_fit, float(independence), float(bandwidth)
        self.lu_weight, self.lm_weight = float(lu_weight), float(lm_weight)  # Eq. 41's beta and gamma
        self.alpha, self.rho = float(alpha), float(rho)
        self.update_every, self.rho_max, self.rho_growth = update_every, float(rho_max), float(rho_growth)
        self.h_tol = float(h_tol)
        self.h_previous = math.inf
        self.trace: list[tuple[int, float, float, float]] = []  # (step, H, alpha, rho) at each dual update

    def __call__(self, output, x: Tensor, step: int = 0) -> Terms:
        step = values.step_count.check("CausalObjective's step", step)
        terms = causal_vae_loss(output, x, alpha=self.alpha, rho=self.rho, lu_weight=self.lu_weight,
                                lm_weight=self.lm_weight, label_fit=self.label_fit, independence=self.independence,
                                bandwidth=self.bandwidth, pixel_weights=self.pixel_weights, ownership=self.ownership,
                                cycle=self.cycle, exclusive=self.exclusive, overlap=self.overlap)
        if step > 0 and step % self.update_every == 0:
            self.dual_update(step, float(terms.extras["H"]))
        return terms

    def dual_update(self, step: int, h: float) -> None:
        """alpha <- min(MAX_WEIGHT, alpha + rho H); rho *= growth (up to rho_max) while H has not dropped below a quarter
        of its last value. Nothing changes once H <= h_tol (the constraint holds). alpha is clamped at
        ``values.MAX_WEIGHT`` (1e6), the bound :meth:`load_state_dict` applies, so every saved state resumes (an H of
        1e7 gave alpha 1e7, which the run's own loader then refused); h is at most ``values.MAX_MEASURED``."""
        step = values.step_count.check("dual_update's step", step)
        h = H_VALUE.check("dual_update's h", h)
        if h <= self.h_tol:
            return
        self.alpha = min(values.MAX_WEIGHT, self.alpha + self.rho * h)
        if h > 0.25 * self.h_previous:
            self.rho = min(self.rho * self.rho_growth, self.rho_max)
        self.h_previous = h
        self.trace.append((step, h, self.alpha, self.rho))

    def state_dict(self) -> dict:
        return {"alpha": self.alpha, "rho": self.rho, "h_previous": self.h_previous, "trace": list(self.trace)}

    def load_state_dict(self, state: dict) -> None:
        """The multiplier, the penalty, the last H and the trace of :meth:`state_dict`, checked (nothing changes
        when a value is refused)."""
        state = values.mapping.check("CausalObjective.load_state_dict's state", state)
        missing = [key for key in ("alpha", "rho", "h_previous", "trace") if key not in state]
        if missing:
            raise ValueError(f"CausalObjective.load_state_dict's state must hold 'alpha', 'rho', 'h_previous' and "
                             f"'trace', got keys {values.shown(sorted(map(str, state)))} (missing {', '.join(missing)})")
        alpha = non_negative("CausalObjective.load_state_dict's alpha", state["alpha"])
        rho = non_negative("CausalObjective.load_state_dict's rho", state["rho"])
        if rho > self.rho_max:
            raise ValueError(f"CausalObjective.load_state_dict's rho must be at most this objective's rho_max "
                             f"{self.rho_max:g} (the penalty only grows towards it), got {values.shown(rho)}")
        h_previous = state["h_previous"]
        if not (isinstance(h_previous, numbers.Real) and h_previous == math.inf):  # inf: no update yet
            h_previous = H_VALUE.check("CausalObjective.load_state_dict's h_previous", h_previous)
        trace = DUAL_TRACE.check("CausalObjective.load_state_dict's trace", state["trace"])
        self.alpha, self.rho, self.h_previous = alpha, rho, float(h_previous)
        self.trace = [(int(t[0]), float(t[1]), float(t[2]), float(t[3])) for t in trace]


__all__ = ["CausalObjective", "augmented_lagrangian_term", "causal_terms", "causal_vae_loss", "conditional_vae_loss",
           "dag_constraint", "dag_constraint_grad", "label_loss", "label_residuals", "mask_loss", "LABEL_FITS",
           "weighted_log_likelihood"]
