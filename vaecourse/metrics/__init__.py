"""Metrics: functions of data and a representation (or a model) returning a dict.

Disentanglement metrics take ``(dataset, representation_fn, *, generator, sizes...)``; ``representation_fn`` maps
images (B, C, H, W) to codes (B, D) (``model.embed``: the posterior mean), or is a ``CodeCache`` from
``encode_grid`` (encode a factor grid once, every metric looks codes up; same scores). A model that sees another
view of the data than the renderer's (``data.Pooled(DSprites(), side=32)``) is scored on that view, so its
representation function stays ``model.embed``.
"""

# chapter 2: which latent carries which factor, and which latents are active
from vaecourse.metrics.correlation import factor_latent_correlations, spearman_matrix
from vaecourse.metrics.latent_kl import active_latents, kl_per_dimension, model_kl_per_dimension
# chapter 3: the disentanglement metrics, and the encode-once cache they share
from vaecourse.data.views import SubGrid, cpu_subgrid  # the views metrics run on (they live in data/)
from vaecourse.metrics.codes import CodeCache, encode_grid
from vaecourse.metrics.dci import dci
from vaecourse.metrics.factorvae import factorvae
from vaecourse.metrics.higgins import higgins
from vaecourse.metrics.mig import mig
from vaecourse.metrics.sap import sap
# chapter 4: test log-likelihood and active units of a hierarchy
from vaecourse.metrics.likelihood import test_log_likelihood
from vaecourse.metrics.units import (ACTIVE_THRESHOLD, KLRecorder, active_units, kl_active_units, kl_per_unit,
                                     unit_activity)
# chapter 5: MIC/TIC and the causal scores (used as modules: metrics.mic, metrics.causal)
from vaecourse.metrics import causal, mic

__all__ = [
    "factor_latent_correlations", "spearman_matrix", "active_latents", "kl_per_dimension", "model_kl_per_dimension",
    "CodeCache", "SubGrid", "cpu_subgrid", "encode_grid",
    "dci", "factorvae", "higgins", "mig", "sap",
    "test_log_likelihood", "ACTIVE_THRESHOLD", "KLRecorder", "active_units", "kl_active_units", "kl_per_unit",
    "unit_activity",
    "causal", "mic",
]
