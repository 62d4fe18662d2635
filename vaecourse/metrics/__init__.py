"""Metrics: functions of (dataset, representation_fn, *, generator, sizes) -> dict."""

from vaecourse.metrics.correlation import factor_latent_correlations, spearman_matrix  # chapter 2
from vaecourse.metrics.latent_kl import active_latents, kl_per_dimension, model_kl_per_dimension  # chapter 2

__all__ = ["active_latents", "factor_latent_correlations", "kl_per_dimension", "model_kl_per_dimension",
           "spearman_matrix"]
