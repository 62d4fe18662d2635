"""DCI: disentanglement, completeness, informativeness [eastwood2018] (defaults of [locatello2019]).

Eastwood & Williams regress each factor v_k on the whole code z and read the regressor's feature
importances as a matrix R (D x K): R[d, k] is how much dimension d helps predict factor k. Like
[locatello2019] we use gradient-boosted trees (scikit-learn's ``GradientBoostingClassifier``, the factor
classes as labels) and their impurity-based importances. From R:

- **disentanglement** of dimension d: D_d = 1 - H_K(P_d.), with P_dk = R_dk / sum_k' R_dk' and entropy
  in base K [eastwood2018, "disentanglement"]; averaged with weights rho_d = sum_k R_dk / sum R.
  1 when every dimension serves one factor.
- **completeness** of factor k: C_k = 1 - H_D(P~_.k), P~_dk = R_dk / sum_d' R_d'k, entropy in base D
  [eastwood2018, "completeness"], averaged with the factors' share of importance. 1 when every factor lives in one dimension.
- **informativeness**: how well z predicts the factors. Eastwood & Williams report the prediction
  error; here, as in [locatello2019], the *accuracy* of the same trees on training and held-out points,
  averaged over factors (higher is better).

Shape letters: n points, D code dimensions, K varying factors.
"""

from __future__ import annotations

import numpy as np
import torch

from vaecourse.metrics.checks import SKLEARN_SEED, check_count, check_supervised, check_table
from vaecourse.metrics.codes import DEFAULT_ENCODE_BATCH, sklearn_seed, train_eval_codes

EPS = 1e-11  # keeps log(0) out of the entropies, as in [locatello2019]


def _entropy(p: np.ndarray, base: int, axis: int) -> np.ndarray:
    """Entropy in ``base`` of the distributions obtained by normalising ``p`` along ``axis``."""
    p = p + EPS
    p = p / p.sum(axis=axis, keepdims=True)
    return -(p * np.log(p)).sum(axis=axis) / np.log(base)


def _importance(importance, who: str) -> np.ndarray:
    """R checked, entries above 1 divided by the largest (a tree's importances sum to 1): sums of entries near 1e308
    would overflow to inf and the score to NaN. Below 1, R is kept as it is, as [locatello2019] scores it: EPS
    (1e-11) is added to every entry, so importances near 1e-12 read as nearly uniform."""
    importance = check_table(importance, f"{who}'s importance", non_negative=True, layout="(D, K)",
                             what="an importance matrix R")
    largest = importance.max(initial=0.0)
    return importance / largest if largest > 1 else importance


def disentanglement(importance: np.ndarray) -> float:
    """sum_d rho_d (1 - H_K(P_d.))  [eastwood2018]; ``importance`` is R ``(D, K)``."""
    importance = _importance(importance, "disentanglement")
    D, K = importance.shape
    if K < 2:
        return 1.0  # one factor: every dimension trivially serves a single factor
    per_code = 1.0 - _entropy(importance, K, axis=1)  # (D,)
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    rho = weights.sum(axis=1) / weights.sum()  # (D,)
    return float(np.clip(np.sum(per_code * rho), 0.0, 1.0))  # clip rounding (-1e-16) only


def completeness(importance: np.ndarray) -> float:
    """sum_k rho_k (1 - H_D(P~_.k))  [eastwood2018]; ``importance`` is R ``(D, K)``."""
    importance = _importance(importance, "completeness")
    D, K = importance.shape
    if D < 2:
        return 1.0
    per_factor = 1.0 - _entropy(importance, D, axis=0)  # (K,)
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    rho = weights.sum(axis=0) / weights.sum()  # (K,)
    return float(np.clip(np.sum(per_factor * rho), 0.0, 1.0))


def importance_matrix(x_train, y_train, x_eval, y_eval, *, seed: int = 0,
                      n_estimators: int = 100) -> tuple[np.ndarray, float, float]:
    """R ``(D, K)`` from one gradient-boosted classifier per factor, and the mean train / eval accuracy."""
    from sklearn.ensemble import GradientBoostingClassifier

    seed = SKLEARN_SEED.check("importance_matrix's seed", seed)
    n_estimators = check_count(n_estimators, "importance_matrix's n_estimators")
    x_train, y_train, x_eval, y_eval = check_supervised(x_train, y_train, x_eval, y_eval, who="importance_matrix")
    D, K = x_train.shape[1], y_train.shape[1]
    importance = np.zeros((D, K))
    train, evaluation = [], []
    for k in range(K):
        model = GradientBoostingClassifier(n_estimators=n_estimators, random_state=seed)
        model.fit(x_train, y_train[:, k])
        importance[:, k] = np.abs(model.feature_importances_)
        train.append(np.mean(model.predict(x_train) == y_train[:, k]))
        evaluation.append(np.mean(model.predict(x_eval) == y_eval[:, k]))
    return importance, float(np.mean(train)), float(np.mean(evaluation))


def dci(dataset, representation_fn, *, generator: torch.Generator, n_train: int = 10_000, n_eval: int = 5_000,
        n_estimators: int = 100, encode_batch_size: int = DEFAULT_ENCODE_BATCH) -> dict:
    """DCI [eastwood2018] with gradient-boosted trees: ``disentanglement``, ``completeness``,
    ``informativeness_train`` / ``informativeness_eval`` (accuracies), and the ``importance (D, K)`` matrix.

    Cost: K x (number of classes) x ``n_estimators`` small trees; on a laptop CPU pass a smaller
    ``n_train`` or ``n_estimators`` for quick looks.
    """
    n_estimators = check_count(n_estimators, "n_estimators")
    x_train, y_train, x_eval, y_eval = train_eval_codes(dataset, representation_fn, "dci", generator, n_train, n_eval,
                                                        encode_batch_size)  # (n, D), (n, K)
    names = [dataset.factor_names[k] for k in dataset.varying_factors]
    for k, name in enumerate(names):
        if np.unique(y_train[:, k]).size < 2:
            raise ValueError(f"factor {name!r} took a single value in all {n_train} training points; use more points")
    importance, train, evaluation = importance_matrix(x_train, y_train, x_eval, y_eval, seed=sklearn_seed(generator),
                                                      n_estimators=n_estimators)
    return {"disentanglement": disentanglement(importance), "completeness": completeness(importance),
            "informativeness_train": train, "informativeness_eval": evaluation, "importance": importance,
            "factors": names, "n_train": n_train, "n_eval": n_eval}


__all__ = ["completeness", "dci", "disentanglement", "importance_matrix"]
