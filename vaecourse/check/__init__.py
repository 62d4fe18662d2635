"""Exercise checks with feedback: ``check.<name>(your_function)`` prints a verdict and returns True/False.

A notebook calls a check after each exercise and falls back to the library when it fails::

    if not check.gaussian_kl(gaussian_kl):
        gaussian_kl = distributions.kl_standard_normal

One module per chapter (``elbo``, ...); the machinery they share is in :mod:`vaecourse.check.core`.
A check never raises: an unsolved stub prints what to do, any other failure prints a diagnosis, and both
return False.
"""

from vaecourse.check.elbo import bernoulli_log_likelihood, elbo, gaussian_kl, reparameterize
from vaecourse.check.ladder import log_mean_exp, precision_weighted_merge, unit_activity, warmup_weight  # chapter 4

__all__ = ["bernoulli_log_likelihood", "elbo", "gaussian_kl", "reparameterize"]

# chapter 2 (beta-VAE)
from vaecourse.check.beta import active_latents, beta_vae_loss, capacity_schedule, dual_ascent  # noqa: E402

__all__ += ["active_latents", "beta_vae_loss", "capacity_schedule", "dual_ascent"]
# chapter 3: disentanglement metrics
from vaecourse.check.metrics import classifier_accuracy, fixed_factor_pairs, mig_normalisation, z_diff  # noqa: E402

__all__ += ["classifier_accuracy", "fixed_factor_pairs", "mig_normalisation", "z_diff"]
__all__ += ["log_mean_exp", "precision_weighted_merge", "unit_activity", "warmup_weight"]
from vaecourse.check.causal import causal_layer, dag_penalty, latent_intervention, scm_sample  # noqa: E402  chapter 5

__all__ += ["causal_layer", "dag_penalty", "latent_intervention", "scm_sample"]
