"""Which latent units are used: per-unit KL over training and the active-unit statistic.

- Active units [burda2016, Sec. 5.2]: A_u = Cov_x(E_{q(u|x)}[u]) for each unit u; a unit is *active*
  when A_u > 0.01. An inactive unit's posterior mean does not move with the input: it carries nothing.
- Per-unit KL [sonderby2016, Fig. 4]: KL(q(z_ik | .) || p(z_ik | z_{i+1})) for each unit, averaged over the
  data; a unit whose KL stays near 0 has collapsed onto its prior. :class:`KLRecorder` keeps one row per
  epoch, the heatmap of log KL over training (:func:`vaecourse.viz.ladder.kl_heatmap_figure`).

Note: in a Ladder VAE a lower-layer unit's posterior mean is pulled towards its prior mean mu_p(z_{i+1}),
which varies with x; A_u can then count a unit whose own KL is tiny. Read both diagnostics side by side:
:func:`kl_active_units` counts the units the heatmap shows as active (data-average KL above the threshold).

Shape letters: N examples, B batch, D_i units of layer i, U all units (sum D_i), E epochs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from vaecourse import values
from vaecourse.distributions import KL_ROUNDING, MAX_KL, check_kls
from vaecourse.metrics.checks import check_codes, check_numbers

ACTIVE_THRESHOLD = 0.01


def unit_activity(means: Tensor) -> Tensor:
    """A_u = Cov_x(E_q[u]): the variance over examples of each unit's posterior mean, (N, D) -> (D,).

    The unbiased (N - 1) variance, as ``numpy.cov`` computes it.
    """
    means = check_numbers(means, "unit_activity's means")
    if means.dim() == 2 and not torch.isfinite(means).all():
        raise ValueError("unit_activity expected finite posterior means, got NaN or inf")
    if means.dim() != 2 or means.shape[0] < 2:
        raise ValueError(f"unit_activity expected posterior means of shape (N >= 2, D), got {tuple(means.shape)}")
    activity = means.var(dim=0, unbiased=True)  # (D,)
    if not bool(torch.isfinite(activity).all()):  # finite means near 1e200 whose squares overflow
        raise ValueError(f"unit_activity's means are too large for a variance in {means.dtype} (up to "
                         f"{means.abs().max().item():.3g} in size): they are no posterior means")
    return activity


def _images(images, who: str, at_least: int = 1, why: str = "") -> Tensor:
    """``images`` as a tensor of at least ``at_least`` finite images (N, ...), or a ValueError naming it (``who`` is
    the caller's possessive: "kl_per_unit's")."""
    reason = f" ({why})" if why else ""
    kind = values.numbers(f"a tensor of at least {at_least} image{'s' * (at_least > 1)}{reason}, (N, C, H, W) of "
                          "finite values", lambda t: t.dim() >= 2 and t.shape[0] >= at_least and t.numel() > 0)
    if not isinstance(images, Tensor):
        raise ValueError(f"{who} images must be {kind.expected}, got {values.shown(images)}")
    kind.check(f"{who} images", images)
    return images


@torch.no_grad()
def active_units(images: Tensor, representation_fn: Callable[[Tensor], Tensor | Sequence[Tensor]], *,
                 threshold: float = ACTIVE_THRESHOLD, batch_size: int = 500) -> dict:
    """Count active units per layer: A_u > ``threshold``.  [burda2016, Sec. 5.2]

    ``representation_fn(x)`` returns E_q[u] for a batch: a tensor (B, D) or one tensor per layer (e.g.
    ``lambda x: model.layer_means(x, n_samples=10)``). Returns ``{"active_per_layer": [...],
    "active": total, "units_per_layer": [...], "activity": [array (D_i,) of A_u per layer], "threshold"}``.
    """
    batch_size = values.batch_size.check("batch_size", batch_size)
    threshold = values.non_negative.check("threshold", threshold)
    values.function.check("active_units' representation_fn", representation_fn)
    images = _images(images, "active_units'", at_least=2, why="A_u is a variance over images")
    chunks: list[list[Tensor]] = []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start:start + batch_size]
        out = representation_fn(batch)
        if not isinstance(out, (Tensor, np.ndarray, list, tuple)):  # None (a missing return), a number, a dict
            raise ValueError(f"active_units' representation_fn must return E_q[u] for the batch: a tensor (B, D) or a "
                             f"list of one per layer, got {values.shown(out) if out is None else type(out).__name__}")
        layers = [out] if isinstance(out, (Tensor, np.ndarray)) else list(out)  # one array is one layer
        if not layers or (chunks and len(layers) != len(chunks[0])):
            raise ValueError(f"active_units' representation_fn must return E_q[u] for the batch: a tensor (B, D) or "
                             f"one per layer, the same layers for every batch, got {len(layers)} layers"
                             f"{f' after {len(chunks[0])}' if chunks else ''}")
        chunks.append([torch.from_numpy(check_codes(m, len(batch), who="representation_fn (a layer's E_q[u])"))
                       for m in layers])  # one finite row per image
    per_layer = [torch.cat(parts) for parts in zip(*chunks)]  # (N, D_i) each
    activity = [unit_activity(m) for m in per_layer]
    active = [int((a > threshold).sum()) for a in activity]
    return {"active_per_layer": active, "active": sum(active), "units_per_layer": [len(a) for a in activity],
            "activity": [a.numpy() for a in activity], "threshold": threshold}


def kl_active_units(kl: np.ndarray | Tensor, layer_sizes: Sequence[int], *,
                    threshold: float = ACTIVE_THRESHOLD) -> dict:
    """The heatmap's reading of activity: a unit is active when its data-average KL(q || p) exceeds ``threshold``
    nats [sonderby2016, Fig. 4]. ``kl`` is (U,), layers concatenated from layer 0 up (e.g. the last row of
    ``KLRecorder.epochs``, or :func:`kl_per_unit`). Returns the same keys as :func:`active_units`, with the KLs
    under ``"kl"`` instead of ``"activity"``.

    A_u > 0.01 and KL > 0.01 nats are different statistics: for a unit whose prior is a fixed N(0, 1) and whose
    posterior variance stays near 1, KL ~ A_u / 2, but a ladder's conditional prior moves with x (see above).
    """
    kl = check_numbers(kl, "kl_active_units' kl (per-unit KLs)").detach().cpu().double().numpy()
    layer_sizes = values.layer_sizes.check("kl_active_units' layer_sizes", layer_sizes)
    if kl.ndim != 1 or kl.shape[0] != sum(layer_sizes):
        raise ValueError(f"kl_active_units expected one KL per unit of layer_sizes {list(layer_sizes)}, shape "
                         f"({sum(layer_sizes)},), got shape {kl.shape}")
    check_kls(torch.from_numpy(kl), "kl_active_units' kl", lambda i: f"unit {i}")
    threshold = values.non_negative.check("threshold (nats)", threshold)
    per_layer = np.split(kl, np.cumsum(layer_sizes)[:-1])
    active = [int((k > threshold).sum()) for k in per_layer]
    return {"active_per_layer": active, "active": sum(active), "units_per_layer": [len(k) for k in per_layer],
            "kl": per_layer, "threshold": threshold}


@torch.no_grad()
def kl_per_unit(model, images: Tensor, *, batch_size: int = 500, generator: torch.Generator | None = None) -> np.ndarray:
    """The data-average KL of every unit, (U,), layers concatenated from layer 0 (next to x) up.  [sonderby2016, Fig. 4]"""
    from vaecourse.models.ladder import LadderVAE

    batch_size = values.batch_size.check("kl_per_unit's batch_size", batch_size)
    generator = values.generator.or_none().check("kl_per_unit's generator", generator)
    if not isinstance(model, LadderVAE):
        raise ValueError(f"kl_per_unit's model must be a hierarchical model whose output has per-unit KLs (a "
                         f"LadderVAE), got {type(model).__name__}")
    images = _images(images, "kl_per_unit's")
    total, n = None, 0
    with model.evaluating():  # as test_log_likelihood: batch norm's running statistics, read and not updated
        for start in range(0, images.shape[0], batch_size):
            x = images[start:start + batch_size]
            units = torch.cat(model(x, generator=generator).kl_units, dim=-1).double().sum(0).cpu()  # (U,)
            total = units if total is None else total + units
            n += x.shape[0]
    return (total / n).numpy()




class KLRecorder:
    """A ``fit`` callback that averages the per-unit KLs of the training batches over each epoch.

    The objective must put them in ``terms.extras["kl_units"]`` (B, U), as
    :func:`vaecourse.objectives.ladder.ladder_elbo` does. ``recorder.epochs`` is an (E, U) array, one row
    per completed epoch: the paper's heatmap of log KL per unit over training.
    """

    def __init__(self, steps_per_epoch: int):
        self.steps_per_epoch = values.positive_int.check("KLRecorder's steps_per_epoch", steps_per_epoch)
        self.rows: list[np.ndarray] = []
        self._sum: Tensor | None = None
        self._count = 0

    def __call__(self, step: int, model, terms) -> None:
        step = values.non_negative_int.check("KLRecorder's step", step)
        units = terms.extras.get("kl_units") if hasattr(terms, "extras") else None
        if units is None:
            raise ValueError("KLRecorder needs terms.extras['kl_units'] (B, U): train with "
                             "vaecourse.objectives.ladder_elbo and a hierarchical model")
        width = len(self.rows[0]) if self.rows else None if self._sum is None else len(self._sum)
        if not isinstance(units, torch.Tensor) or not units.is_floating_point() or units.dim() != 2 \
                or units.shape[0] < 1 or (width is not None and units.shape[1] != width) \
                or not bool(((units.detach() >= -KL_ROUNDING) & (units.detach() <= MAX_KL)).all()):  # (NaN fails)
            raise ValueError(f"KLRecorder needs terms.extras['kl_units'] as finite KLs >= 0 (B, U), floating point, "
                             f"with the same U every step"
                             f"{f' ({width})' if width is not None else ''}, got {values.shown(units)}")
        batch_mean = units.detach().double().mean(0)  # (U,)
        self._sum = batch_mean if self._sum is None else self._sum + batch_mean
        self._count += 1
        if (step + 1) % self.steps_per_epoch == 0:
            self.rows.append((self._sum / self._count).cpu().numpy())
            self._sum, self._count = None, 0

    @property
    def epochs(self) -> np.ndarray:
        return np.stack(self.rows) if self.rows else np.zeros((0, 0))


__all__ = ["ACTIVE_THRESHOLD", "KLRecorder", "active_units", "kl_active_units", "kl_per_unit", "unit_activity"]
