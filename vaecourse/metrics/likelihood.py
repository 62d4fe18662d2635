"""Test log-likelihood by importance sampling: log p(x) ~ L_k(x) with k samples.  [burda2016, Eq. 8]

Sønderby et al. report L_5000 on the MNIST test set. The k samples are drawn in chunks of ``chunk_size``
(:func:`vaecourse.objectives.elbo.importance_weighted_bound`), so memory grows with
``chunk_size x batch_size``, never with k.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vaecourse import values
from vaecourse.objectives.elbo import importance_weighted_bound


def test_log_likelihood(model, images: Tensor, *, k: int = 5000, chunk_size: int = 250, batch_size: int = 100,
                        generator: torch.Generator | None = None) -> dict:
    """Mean L_k over ``images`` (binary, already on the model's device) in nats, with the model in eval mode.

    Returns ``{"log_likelihood": mean, "per_example": tensor (N,), "k": k, "standard_error": ...}`` (the standard
    error is None for a single image: one value has no spread to estimate it from).
    """
    from vaecourse.models.base import CourseModel

    k = values.samples.check("k (the number of importance samples)", k)
    chunk_size = values.samples.check("chunk_size", chunk_size)
    batch_size = values.batch_size.check("batch_size", batch_size)
    values.generator.or_none().check("test_log_likelihood's generator", generator)
    if not isinstance(model, CourseModel) or not hasattr(model, "encode"):
        raise ValueError(f"test_log_likelihood's model must be a vaecourse model (a VAE or a LadderVAE), got "
                         f"{type(model).__name__}")
    if getattr(model, "takes_labels", False):
        raise ValueError(f"test_log_likelihood's model must be a model of images alone (a VAE or a LadderVAE); "
                         f"{type(model).__name__} takes labels")
    if not isinstance(images, Tensor) or images.dim() < 1 or images.shape[0] < 1:
        raise ValueError(f"test_log_likelihood's images must be a non-empty tensor of images (N >= 1, C, H, W), got "
                         f"{values.shown(images)}")
    with model.evaluating():  # batch norm uses its running statistics: a test image's score must not depend on its batch
        parts = [importance_weighted_bound(model, images[s:s + batch_size], k, chunk_size=chunk_size,
                                           generator=generator).double().cpu()
                 for s in range(0, images.shape[0], batch_size)]
    per_example = torch.cat(parts)  # (N,)
    n = per_example.numel()
    return {"log_likelihood": float(per_example.mean()), "per_example": per_example, "k": k,
            "standard_error": float(per_example.std() / n ** 0.5) if n > 1 else None}  # one image has no spread


test_log_likelihood.__test__ = False  # not a pytest test, despite its name

__all__ = ["test_log_likelihood"]
