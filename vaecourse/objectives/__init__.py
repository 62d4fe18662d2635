"""Objectives: pure functions (output, x, **hyper) -> Terms, with the true ELBO always inside; one that follows
the training schedule declares what it reads (``@schedule("step")``) and ``fit`` passes exactly that.

A run names its objective and hyper-parameters in a recipe (:mod:`vaecourse.recipes`, ``make_objective``).
"""

from vaecourse.objectives.elbo import Terms, elbo, elbo_terms, importance_weighted_bound, log_mean_exp, schedule
from vaecourse.objectives.beta import (ConstrainedVAE, beta_vae, beta_vae_loss, capacity_at, capacity_vae,
                                       dual_ascent_step, kl_weight, normalised_beta, unnormalised_beta)  # chapter 2
from vaecourse.objectives.ladder import ladder_elbo  # chapter 4
from vaecourse.objectives.causal import (CausalObjective, causal_terms, causal_vae_loss, conditional_vae_loss,
                                         dag_constraint, dag_constraint_grad, label_loss, label_residuals,
                                         mask_loss)  # chapter 5: CausalVAE (Eq. 36-41), the CVAE
from vaecourse.objectives.independence import hsic, noise_dependence  # chapter 5: independent exogenous noise

__all__ = [
    "Terms", "elbo", "elbo_terms", "importance_weighted_bound", "log_mean_exp", "schedule",
    "ConstrainedVAE", "beta_vae", "beta_vae_loss", "capacity_at", "capacity_vae", "dual_ascent_step", "kl_weight",
    "normalised_beta", "unnormalised_beta",
    "ladder_elbo",
    "CausalObjective", "causal_terms", "causal_vae_loss", "conditional_vae_loss", "dag_constraint",
    "dag_constraint_grad", "label_loss", "label_residuals", "mask_loss",
    "hsic", "noise_dependence",
]
