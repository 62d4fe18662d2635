"""Objectives: pure functions (output, x, **hyper) -> Terms, with the true ELBO always inside."""

from vaecourse.objectives.elbo import Terms, elbo, elbo_terms, importance_weighted_bound, log_mean_exp

__all__ = ["Terms", "elbo", "elbo_terms", "importance_weighted_bound", "log_mean_exp"]
