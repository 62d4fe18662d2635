"""Exercise checks with feedback: ``check.<name>(your_function)`` prints a verdict and returns True/False.

A notebook calls a check after each exercise and falls back to the library when it fails::

    if not check.gaussian_kl(gaussian_kl):
        gaussian_kl = distributions.kl_standard_normal

One module per chapter (``elbo``, ...) and one, ``think``, for the predict / vary / interpret exercises of
every chapter; the machinery they share is in :mod:`vaecourse.check.core`.
A check never raises: an unsolved stub prints what to do, any other failure prints a diagnosis, and both
return False.
"""

# chapter 1: the ELBO
from vaecourse.check.elbo import bernoulli_log_likelihood, elbo, gaussian_kl, reparameterize
# chapter 2: beta-VAE
from vaecourse.check.beta import active_latents, beta_vae_loss, capacity_schedule, dual_ascent
# chapter 3: disentanglement metrics
from vaecourse.check.metrics import classifier_accuracy, fixed_factor_pairs, mig_normalisation, z_diff
# chapter 4: Ladder VAE
from vaecourse.check.ladder import log_mean_exp, precision_weighted_merge, unit_activity, warmup_weight
# chapter 5: CausalVAE
from vaecourse.check.causal import causal_layer, dag_penalty, latent_intervention, scm_sample
# every chapter: the exercises that make a learner think (predict, then run; vary and measure; interpret)
from vaecourse.check.think import (choose, interpret_dropped_factor, interpret_traversals, predict_collider,
                                   predict_effect_intervention, predict_multiplier, predict_prior_mean,
                                   predict_rotation, predict_warmup, vary_epsilon, vary_independence, vary_pairs,
                                   vary_samples)

__all__ = [
    "bernoulli_log_likelihood", "elbo", "gaussian_kl", "reparameterize",
    "active_latents", "beta_vae_loss", "capacity_schedule", "dual_ascent",
    "classifier_accuracy", "fixed_factor_pairs", "mig_normalisation", "z_diff",
    "log_mean_exp", "precision_weighted_merge", "unit_activity", "warmup_weight",
    "causal_layer", "dag_penalty", "latent_intervention", "scm_sample",
]

# The thinking exercises' checks take the run's results besides the learner's function (check.predict_multiplier(
# predict_multiplier, runs)), so they are also listed apart from the coding checks above, which take the function
# alone (tests/test_check_hostile.py feeds those odd functions; tests/test_check_think.py does it for these).
THINKING = ("choose", "interpret_dropped_factor", "interpret_traversals", "predict_collider",
            "predict_effect_intervention", "predict_multiplier", "predict_prior_mean", "predict_rotation",
            "predict_warmup", "vary_epsilon", "vary_independence", "vary_pairs", "vary_samples")
__all__ += list(THINKING)
