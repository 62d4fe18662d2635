"""Objectives: pure functions (output, x, **hyper) -> Terms, with the true ELBO always inside."""

from vaecourse.objectives.elbo import Terms, elbo, elbo_terms, importance_weighted_bound, log_mean_exp

__all__ = ["Terms", "elbo", "elbo_terms", "importance_weighted_bound", "log_mean_exp"]

# The objectives the command line can name: name -> factory(args namespace) -> objective callable.
OBJECTIVES = {"elbo": lambda args: elbo}


def make_objective(name: str, args=None):
    """The objective called ``name``, configured from a namespace of hyper-parameters (command line)."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}: expected one of {tuple(OBJECTIVES)}")
    return OBJECTIVES[name](args)


__all__ += ["OBJECTIVES", "make_objective"]
