"""The hierarchical ELBO with KL warm-up, for the models of :mod:`vaecourse.models.ladder`.

L_T(x) = -beta KL(q(z|x) || p(z)) + E_q[log p(x|z)],  beta rising linearly 0 -> 1 over the first N_t
epochs                                                     [sonderby2016, Eq. 26; slides, Eq. (26)]

Warm-up starts as a deterministic auto-encoder (beta = 0, reconstruction only) and brings the KL in
gradually, so units are not pressed onto their prior before they have learned to carry information;
Sønderby et al. use N_t = 200 epochs on MNIST. The schedule is :func:`vaecourse.objectives.beta.kl_weight`
read in epochs. ``elbo`` in the returned terms is always the true bound (beta = 1).
"""

from __future__ import annotations

import torch
from torch import Tensor

from vaecourse import values
from vaecourse.objectives.beta import kl_weight
from vaecourse.objectives.elbo import Terms, elbo_terms, non_negative, schedule


@schedule("epoch", "step")
def ladder_elbo(output, x: Tensor, epoch: float | None = None, step: int | None = None, *,
                warmup_epochs: float = 200.0, steps_per_epoch: int | None = None) -> Terms:
    """E_q log p(x|z) - beta(epoch) KL, maximised; per-layer KLs are logged beside it.  [sonderby2016, Eq. 26]

    ``fit`` passes ``epoch`` (step / steps per epoch) when the data's length is known; a stream of
    batches passes only ``step``, and then ``steps_per_epoch`` converts it. ``warmup_epochs = 0``
    trains the plain ELBO from the start. The extras hold ``kl_weight``, ``kl_layer{i}`` (nats per
    example, layer i = 0 next to the data) and ``kl_units`` (B, sum D_i), the per-unit KLs that
    :class:`vaecourse.metrics.units.KLRecorder` averages per epoch.
    """
    if getattr(output, "kl_units", None) is None or getattr(output, "kl", None) is None:
        raise TypeError(f"ladder_elbo's output must be a hierarchical model's output (LadderVAE(x): a LadderOutput, "
                        f"with kl and kl_units), got {type(output).__name__}; a VAE trains with elbo or beta_vae")
    step = values.step_count.or_none().check("ladder_elbo's step", step)
    steps_per_epoch = values.positive_int.or_none().check(
        "ladder_elbo's steps_per_epoch (to convert a step into an epoch)", steps_per_epoch)
    if epoch is None:
        if step is None:
            epoch = 0.0
        else:
            steps_per_epoch = values.positive_int.check(
                "ladder_elbo was given a step but no epoch: its steps_per_epoch (to convert)", steps_per_epoch)
            epoch = step / steps_per_epoch
    beta = kl_weight(epoch, non_negative("warmup_epochs", warmup_epochs))
    log_px_z, kl = elbo_terms(output, x)  # (B,), (B,)
    objective = log_px_z - beta * kl  # (B,)  Eq. (26)
    extras: dict[str, Tensor] = {"kl_weight": torch.tensor(beta)}
    units = getattr(output, "kl_units", None)
    if units is not None:
        extras.update({f"kl_layer{i}": k.detach().sum(-1) for i, k in enumerate(units)})
        extras["kl_units"] = torch.cat([k.detach() for k in units], dim=-1)  # (B, sum D_i)
    return Terms(log_px_z=log_px_z, kl=kl, elbo=log_px_z - kl, loss=-objective.mean(), extras=extras)


__all__ = ["ladder_elbo"]
