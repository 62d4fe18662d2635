"""The SAP score, Separated Attribute Predictability [kumar2018] (defaults of [locatello2019]).

For every pair (code dimension d, factor k) measure how well dimension d *alone* predicts factor k, in
a score matrix S (D x K); for each factor take the gap between its best and second-best dimension, and
average over factors:

    SAP = (1/K) sum_k ( S_(1)k - S_(2)k ),   S_(1)k >= S_(2)k the two largest entries of column k.

Kumar et al. score a continuous factor by the R^2 of a linear regression of v_k on z_d, and a discrete
one by a classifier's balanced accuracy. Like [locatello2019] we treat dSprites' factors as discrete
(``continuous=False``): S_dk is the held-out accuracy of a linear SVM (``LinearSVC(C=0.01,
class_weight="balanced")``) trained on z_d alone. ``continuous=True`` uses R^2 of z_d and the factor class
(the squared correlation) on the training points instead, Kumar et al.'s choice for continuous factors.

Like MIG it is a *gap*: a factor spread over two dimensions scores 0 even if each predicts it well.

Shape letters: n points, D code dimensions, K varying factors.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from vaecourse import values
from vaecourse.metrics.checks import SKLEARN_SEED, check_supervised, check_table
from vaecourse.metrics.codes import DEFAULT_ENCODE_BATCH, sklearn_seed, train_eval_codes


def sap_score_matrix(x_train, y_train, x_eval, y_eval, *, continuous: bool = False, seed: int = 0) -> np.ndarray:
    """S ``(D, K)``: how well each single dimension predicts each factor (accuracy, or R^2 if ``continuous``)."""
    continuous = values.boolean.check("continuous", continuous)
    seed = SKLEARN_SEED.check("sap_score_matrix's seed", seed)
    x_train, y_train, x_eval, y_eval = check_supervised(x_train, y_train, x_eval, y_eval, who="sap_score_matrix",
                                                        classes=1 if continuous else 2)
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    D, K = x_train.shape[1], y_train.shape[1]
    scores = np.zeros((D, K))
    for d in range(D):
        for k in range(K):
            z, v = x_train[:, d], y_train[:, k].astype(np.float64)
            if continuous:
                var_z, var_v = z.var(), v.var()
                scores[d, k] = 0.0 if var_z == 0 or var_v == 0 else np.cov(z, v, ddof=0)[0, 1] ** 2 / (var_z * var_v)
            elif z.std() == 0:
                scores[d, k] = np.max(np.bincount(y_eval[:, k])) / y_eval.shape[0]  # a constant predicts one class
            else:
                model = LinearSVC(C=0.01, class_weight="balanced", random_state=seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model.fit(z[:, None], y_train[:, k])
                scores[d, k] = np.mean(model.predict(x_eval[:, d:d + 1]) == y_eval[:, k])
    return scores


def sap_from_scores(scores: np.ndarray) -> float:
    """Mean over factors of (best - second best) in each column of S ``(D, K)``  [kumar2018]."""
    scores = check_table(scores, "sap_from_scores' scores", rows=2, layout="(D, K)",
                         what="a score matrix S (2 code dimensions or more: a gap needs a runner-up)")
    if scores.min() < -1e-9 or scores.max() > 1 + 1e-9:  # accuracies or R^2 (sap_score_matrix; rounding), not percentages
        raise ValueError(f"sap_from_scores' scores must be accuracies or R^2 in [0, 1], got values from "
                         f"{scores.min():.3g} to {scores.max():.3g}")
    ordered = np.sort(scores, axis=0)  # (D, K) ascending
    return float(np.mean(ordered[-1] - ordered[-2]))


def sap(dataset, representation_fn, *, generator: torch.Generator, n_train: int = 10_000, n_eval: int = 5_000,
        continuous: bool = False, encode_batch_size: int = DEFAULT_ENCODE_BATCH) -> dict:
    """The SAP score [kumar2018]: ``sap`` and the ``scores (D, K)`` matrix. Needs two or more code dimensions."""
    x_train, y_train, x_eval, y_eval = train_eval_codes(dataset, representation_fn, "sap", generator, n_train, n_eval,
                                                        encode_batch_size)  # (n, D), (n, K)
    if x_train.shape[1] < 2:
        raise ValueError(f"SAP needs codes with at least 2 dimensions (the gap is between the best and the second "
                         f"best dimension); got {x_train.shape[1]}")
    scores = sap_score_matrix(x_train, y_train, x_eval, y_eval, continuous=continuous, seed=sklearn_seed(generator))
    names = [dataset.factor_names[k] for k in dataset.varying_factors]
    return {"sap": sap_from_scores(scores), "scores": scores, "factors": names, "n_train": n_train, "n_eval": n_eval}


__all__ = ["sap", "sap_from_scores", "sap_score_matrix"]
