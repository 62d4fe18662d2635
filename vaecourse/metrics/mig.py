"""The mutual information gap (MIG) [chen2018] (estimator and defaults of [locatello2019]).

For every factor v_k, find the two code dimensions that carry the most information about it; the gap
between them, divided by the factor's entropy, is 1 when one dimension alone knows the factor and
nothing else does, and 0 when the information is shared evenly:

    MIG = (1/K) sum_k ( I(z_j(k); v_k) - max_{j != j(k)} I(z_j; v_k) ) / H(v_k),   j(k) = argmax_j I(z_j; v_k)

Dividing by H(v_k) puts every factor on the scale [0, 1] (I(z; v_k) <= H(v_k)), so a factor with 32
values (position) and one with 3 (shape) weigh the same. Chen et al. estimate I(z_j; v_k) from the
encoder's q(z|x); like [locatello2019] we use the posterior means on ``n_points`` random grid points,
each dimension discretised into 20 equal-width bins over its range, and the plug-in (histogram)
mutual information in nats.

Shape letters: n points, D code dimensions, K varying factors.
"""

from __future__ import annotations

import numpy as np
import torch

from vaecourse import values
from vaecourse.metrics.checks import check_code_size, check_count, check_dataset, check_generator, check_table
from vaecourse.metrics.codes import DEFAULT_ENCODE_BATCH, CodeSource, factor_code_batch


def histogram_discretize(codes: np.ndarray, bins: int = 20) -> np.ndarray:
    """Each column of ``codes (n, D)`` into ``bins`` equal-width bins over its own range -> ints ``(n, D)``."""
    codes = check_code_size(check_table(codes, "histogram_discretize's codes", what="codes"),
                            "histogram_discretize's codes hold")  # a range of 3e308 is too many bins for numpy
    bins = check_count(bins, "histogram_discretize's bins")
    out = np.zeros(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        edges = np.histogram(codes[:, d], bins)[1]  # bins + 1 edges from min to max
        out[:, d] = np.digitize(codes[:, d], edges[:-1])  # 1..bins (the maximum falls in the last bin)
    return out


def _labels(column: np.ndarray) -> np.ndarray:
    return np.unique(column, return_inverse=True)[1].reshape(-1)


def discrete_entropy(labels: np.ndarray) -> np.ndarray:
    """H(v_k) in nats of each column of integer ``labels (n, K)`` -> ``(K,)``."""
    labels = check_table(labels, "discrete_entropy's labels", what="labels", layout="(n, K)")
    out = np.zeros(labels.shape[1])
    for k in range(labels.shape[1]):
        p = np.bincount(_labels(labels[:, k])) / labels.shape[0]
        out[k] = -np.sum(p * np.log(p))
    return out


def discrete_mutual_info(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """I(a_i; b_j) in nats for integer columns ``a (n, D)``, ``b (n, K)`` -> ``(D, K)`` (plug-in estimate)."""
    a = check_table(a, "discrete_mutual_info's a", what="labels")
    b = check_table(b, "discrete_mutual_info's b", what="labels", layout="(n, K)")
    if len(a) != len(b):
        raise ValueError(f"discrete_mutual_info's b must hold one row per row of a ({len(a)}), got {len(b)} rows")
    n = a.shape[0]
    out = np.zeros((a.shape[1], b.shape[1]))
    for j in range(b.shape[1]):
        bj = _labels(b[:, j])
        nb = bj.max() + 1
        p_b = np.bincount(bj, minlength=nb) / n  # (Vb,)
        for i in range(a.shape[1]):
            ai = _labels(a[:, i])
            na = ai.max() + 1
            joint = np.bincount(ai * nb + bj, minlength=na * nb).reshape(na, nb) / n  # (Va, Vb)
            p_a = joint.sum(axis=1)  # (Va,)
            nz = joint > 0
            out[i, j] = np.sum(joint[nz] * np.log(joint[nz] / np.outer(p_a, p_b)[nz]))
    return np.maximum(out, 0.0)  # rounding can leave -1e-17


def mig_from_mutual_info(mutual_info: np.ndarray, entropy: np.ndarray) -> tuple[float, np.ndarray]:
    """MIG and its per-factor gaps from ``I (D, K)`` and ``H (K,)``  [chen2018].

    For each factor (a column), sort the D dimensions by information, take top minus runner-up, divide by H.
    """
    mutual_info = check_table(mutual_info, "mig_from_mutual_info's mutual_info", rows=2,
                              what="mutual information in nats (the gap needs 2 code dimensions)", layout="(D, K)")
    if mutual_info.min() < -1e-12:  # I >= 0; the plug-in estimate's rounding leaves -1e-17 (discrete_mutual_info)
        raise ValueError(f"mig_from_mutual_info's mutual_info must be >= 0 (mutual information), got "
                         f"{mutual_info.min():g}")
    mutual_info = np.maximum(mutual_info, 0.0)
    entropy = check_table(entropy, "mig_from_mutual_info's entropy", dims=(1,), what="entropies", layout="(K,)")
    if entropy.shape[0] != mutual_info.shape[1] or not (entropy > 0).all():
        raise ValueError(f"mig_from_mutual_info's entropy must be {mutual_info.shape[1]} entropies > 0 (one per factor "
                         f"column of mutual_info; a factor of one value has none), got {values.shown(entropy)}"
                         f"{'' if entropy.shape[0] != mutual_info.shape[1] else f' with minimum {entropy.min():g}'}")
    above = mutual_info.max(axis=0) > entropy * (1 + 1e-9)  # I(z_j; v_k) <= H(v_k): no code knows more than all of v_k
    if above.any():
        k = int(np.argmax(above))
        raise ValueError(f"mig_from_mutual_info's mutual_info must be at most its factor's entropy (I(z; v) <= H(v)), got "
                         f"{mutual_info[:, k].max():g} nats for factor {k} whose entropy is {entropy[k]:g}")
    ordered = np.sort(mutual_info, axis=0)[::-1]  # (D, K), largest first in each column
    per_factor = np.minimum((ordered[0] - ordered[1]) / entropy, 1.0)  # (K,); I <= H(1 + 1e-9) allows rounding
    return float(per_factor.mean()), per_factor


def mig(dataset, representation_fn, *, generator: torch.Generator, n_points: int = 10_000, bins: int = 20,
        encode_batch_size: int = DEFAULT_ENCODE_BATCH) -> dict:
    """The mutual information gap [chen2018] on ``n_points`` random grid points, ``bins``-bin histograms.

    Returns ``mig`` (the score), ``mig_per_factor``, the ``mutual_info (D, K)`` matrix in nats and the
    factors' ``entropy (K,)``. Needs at least two code dimensions (a gap needs a runner-up).
    """
    who = "mig"
    check_dataset(dataset, who)
    check_generator(generator, who)
    K = len(dataset.varying_factors)
    n_points = check_count(n_points, "n_points", at_least=max(2, K),
                           why=f"no fewer points than factors; there are {K} factors")
    bins = check_count(bins, "bins", at_least=2)
    source = CodeSource(dataset, representation_fn, who, encode_batch_size)
    codes, labels = factor_code_batch(dataset, source, n_points, generator)  # (n, D), (n, K)
    if codes.shape[1] < 2:
        raise ValueError(f"MIG needs codes with at least 2 dimensions (the gap is between the best and the second "
                         f"best dimension); got {codes.shape[1]}")
    entropy = discrete_entropy(labels)  # (K,)
    names = [dataset.factor_names[k] for k in dataset.varying_factors]
    if np.any(entropy <= 0):
        k = int(np.argmin(entropy))
        raise ValueError(f"factor {names[k]!r} took a single value in all {n_points} points; use more points")
    mutual_info = discrete_mutual_info(histogram_discretize(codes, bins), labels)  # (D, K)
    score, per_factor = mig_from_mutual_info(mutual_info, entropy)
    return {"mig": score, "mig_per_factor": dict(zip(names, per_factor.tolist())), "mutual_info": mutual_info,
            "entropy": entropy, "factors": names, "n_points": n_points, "bins": bins}


__all__ = ["discrete_entropy", "discrete_mutual_info", "histogram_discretize", "mig", "mig_from_mutual_info"]
