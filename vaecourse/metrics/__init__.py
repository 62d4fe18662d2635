"""Disentanglement metrics: functions of (dataset, representation_fn, *, generator, sizes) -> dict.

``representation_fn`` maps images (B, C, H, W) to codes (B, D) (``model.embed``: the posterior mean), or is a
``CodeCache`` from ``encode_grid`` (encode a factor grid once, every metric looks codes up; same scores).
"""


from vaecourse.metrics.correlation import factor_latent_correlations, spearman_matrix  # chapter 2
from vaecourse.metrics.latent_kl import active_latents, kl_per_dimension, model_kl_per_dimension  # chapter 2

__all__ = ["active_latents", "factor_latent_correlations", "kl_per_dimension", "model_kl_per_dimension",
           "spearman_matrix"]


from vaecourse.metrics.codes import CodeCache, SubGrid, as_representation, cpu_subgrid, encode_grid
from vaecourse.metrics.dci import dci
from vaecourse.metrics.factorvae import factorvae
from vaecourse.metrics.higgins import higgins
from vaecourse.metrics.mig import mig
from vaecourse.metrics.sap import sap
"""Metrics: functions of data and a representation (or a model) returning a dict."""

from vaecourse.metrics.likelihood import test_log_likelihood
from vaecourse.metrics.units import KLRecorder, active_units, kl_per_unit, unit_activity
"""Metrics: functions of (dataset, representation_fn, *, generator, sizes...) -> dict."""

from vaecourse.metrics import causal, mic  # noqa: F401  chapter 5
