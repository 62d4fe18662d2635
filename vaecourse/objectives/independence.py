"""How dependent are the exogenous noises? HSIC, a differentiable measure of statistical dependence.

An SCM's exogenous variables are mutually independent (slides, "Structural Causal model"). Given a candidate
graph and structural equations, the residuals r_i = u_i - g_i(u_pa(i)) are that graph's exogenous noises; on the
true graph they are independent, on a wrong one (an effect made a root, a cause explained by its effect) they
are generally not. This is what orients a collider: theta and phi are independent, so the graph that keeps both
as roots leaves independent noises, while a graph that roots the shadow leaves noises that are functions of the
same (theta, phi) [peters2014; gretton2005].

    HSIC_b(x, y) = tr(K H L H) / (m - 1)^2,  K_ab = exp(-(x_a - x_b)^2 / (2 s^2)),  L likewise for y,
    H = I - 11^T / m                                                                     [gretton2005, Eq. 4]

HSIC_b >= 0, symmetric, and (with a Gaussian kernel) its population value is 0 exactly when x and y are
independent. The bandwidth s is fixed, in the units of the data (not the median heuristic): a residual much
smaller than s looks constant, so a child explained almost exactly by its parents costs almost nothing, while a
median-heuristic kernel would blow that tiny residual up to full scale.
Shape letters: B batch (m above), n variables.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vaecourse import values

MIN_BANDWIDTH, MAX_BANDWIDTH = 1e-18, 1e18  # the kernel divides by 2 s^2: float32 holds 2e-36 and 2e36 (1e-25 gave 0/0)
BANDWIDTH = values.real(f"a kernel bandwidth whose square float32 holds, between {MIN_BANDWIDTH:g} and "
                        f"{MAX_BANDWIDTH:g}", lambda v: MIN_BANDWIDTH <= v, MAX_BANDWIDTH,
                        "the kernel divides by 2 s^2 in float32")  # hsic, noise_dependence, the causal objectives


def hsic(x: Tensor, y: Tensor, bandwidth: float = 0.5) -> Tensor:
    """HSIC_b(x, y) for paired samples x, y (B,), Gaussian kernels of width ``bandwidth``: a scalar >= 0."""
    return _hsic(x, y, _checked(x, y, bandwidth))


def noise_dependence(r: Tensor, bandwidth: float = 0.5) -> Tensor:
    """sum_{i<j} HSIC_b(r_i, r_j) over the columns of r (B, n): zero for mutually independent noises."""
    if not isinstance(r, Tensor) or not r.is_floating_point():
        raise TypeError(f"noise_dependence's r must be a real floating-point tensor (B, n), got {values.shown(r)}")
    if r.dim() != 2 or r.shape[1] < 2:
        raise ValueError(f"noise_dependence expects residuals of shape (B, n) with n >= 2, got {tuple(r.shape)}")
    bandwidth = _checked(r[:, 0], r[:, 1], bandwidth, r)  # once, not per pair: every training step calls this
    n = r.shape[1]
    return sum(_hsic(r[:, i], r[:, j], bandwidth) for i in range(n) for j in range(i + 1, n))


def _checked(x: Tensor, y: Tensor, bandwidth: float, *more: Tensor) -> float:
    """``bandwidth`` checked, after the samples x, y (of one kind and length, finite, as ``more`` is)."""
    bandwidth = BANDWIDTH.check("bandwidth", bandwidth)
    if not all(isinstance(t, Tensor) and t.is_floating_point() for t in (x, y)):
        raise TypeError(f"hsic expects two floating-point tensors, got {type(x).__name__} "
                        f"{getattr(x, 'dtype', '')} and {type(y).__name__} {getattr(y, 'dtype', '')}")
    for t in (*more, x, y):  # (meta reached torch's Tensor.item error)
        values.with_values("hsic's samples", t, "samples x, y")
    if len({t.device for t in (*more, x, y)}) > 1:
        raise ValueError(f"hsic expects samples on one device, got {x.device} and {y.device}"
                         + "".join(f" and {t.device}" for t in more))
    if not all(bool(torch.isfinite(t).all()) for t in (*more, x, y)):
        raise ValueError("hsic expects finite samples, got NaN or inf in x or y")
    if x.dim() != 1 or y.shape != x.shape or x.shape[0] < 2:
        raise ValueError(f"hsic expects two 1-D samples of the same length >= 2, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    return bandwidth


def _hsic(x: Tensor, y: Tensor, bandwidth: float) -> Tensor:
    """HSIC_b of checked samples (``hsic``'s formula)."""
    m = x.shape[0]
    if x.dtype.itemsize < 4:  # float16 cannot hold 2 s^2 of a small bandwidth (1e-5: 0, then 0/0 on the diagonal)
        x, y = x.float(), y.float()
    K = torch.exp(-(x[:, None] - x[None, :]).pow(2) / (2 * bandwidth ** 2))  # (B, B)
    L = torch.exp(-(y[:, None] - y[None, :]).pow(2) / (2 * bandwidth ** 2))  # (B, B)
    Kc = K - K.mean(0, keepdim=True) - K.mean(1, keepdim=True) + K.mean()  # H K H
    return (Kc * L).sum() / (m - 1) ** 2  # tr(H K H L) = sum_ab (HKH)_ab L_ab


__all__ = ["BANDWIDTH", "hsic", "noise_dependence"]
