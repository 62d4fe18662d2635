"""Which latent follows which factor: rank correlations between latent means and ground-truth factors.

The check chapter 2 prints for its beta = 4 model: for each of position X, position Y and scale, some
latent mean should have |Spearman rho| >= 0.9 with that factor, and the three latents should be distinct
(one latent per factor, not one latent following two). Spearman's rho is Pearson's correlation of the
ranks, so it asks only that a latent be a *monotone* function of a factor [spearman1904]; ties (a factor
has few values: scale has 6) get their average rank.

Not a disentanglement metric in the sense of chapter 3 (it ignores what the other latents do); it is the
quick, readable sanity check "did the model find the factors at all".

Shape letters: N examples, D latent dimensions, K factors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata
from torch import Tensor

from vaecourse import values
from vaecourse.metrics.checks import check_codes, check_count, check_dataset


def spearman_matrix(codes, factors) -> np.ndarray:
    """Spearman's rho between every latent column of ``codes`` (N, D) and every factor column (N, K) -> (D, K).

    rho = Pearson correlation of the average ranks. A column that is constant has no defined
    correlation; it gets rho = 0 (it cannot follow any factor).
    """
    codes = values.real_numbers.check("spearman_matrix's codes", codes).detach().cpu().double().numpy()  # (N, D)
    factors = values.real_numbers.check("spearman_matrix's factors", factors).detach().cpu().double().numpy()  # (N, K)
    if codes.ndim != 2 or factors.ndim != 2 or codes.shape[0] != factors.shape[0]:
        raise ValueError(f"spearman_matrix expected codes (N, D) and factors (N, K) with the same N, "
                         f"got {codes.shape} and {factors.shape}")
    if codes.shape[0] < 3:
        raise ValueError(f"spearman_matrix needs at least 3 examples, got {codes.shape[0]}")
    for name, table in (("codes", codes), ("factors", factors)):
        if not np.isfinite(table).all():
            raise ValueError(f"spearman_matrix's {name} must be finite real numbers, got NaN or inf in "
                             f"{int((~np.isfinite(table)).sum()):,} of its {table.size:,} values")

    def standardised_ranks(a: np.ndarray) -> np.ndarray:
        r = rankdata(a, axis=0)  # (N, C) average ranks for ties
        r = r - r.mean(axis=0)
        norm = np.sqrt((r ** 2).sum(axis=0))
        return np.divide(r, norm, out=np.zeros_like(r), where=norm > 0)

    return standardised_ranks(codes).T @ standardised_ranks(factors)  # (D, K)


def factor_latent_correlations(dataset, representation_fn: Callable[[Tensor], Tensor], *,
                               generator: torch.Generator | None = None,
                               factors: Sequence[str] = ("posX", "posY", "scale"),
                               n: int = 2048, batch_size: int = 512, threshold: float = 0.9) -> dict:
    """|Spearman rho| between each latent mean and each named factor, and the best one-latent-per-factor match.

    dataset            a ground-truth dataset (``sample_factors``, ``render``, ``factor_names``)
    representation_fn  images (B, C, H, W) -> codes (B, D), e.g. ``model.embed`` (posterior means)
    factors            the factor names to match (dSprites: posX, posY, scale)

    Returns a dict with
      rho           (D, K) signed Spearman correlations
      best_latent, best_abs_rho         per factor, the latent with the largest |rho| (may repeat)
      latent, abs_rho                   per factor, the latents of the distinct assignment that maximises
                                        the summed |rho| (Hungarian algorithm), and their |rho|
      separate      True when every assigned |rho| >= ``threshold`` (three distinct latents for dSprites)
      factor_names, threshold, n
    """
    check_dataset(dataset, "factor_latent_correlations")
    values.function.check("factor_latent_correlations' representation_fn", representation_fn)
    values.generator.or_none().check("factor_latent_correlations' generator", generator)
    if isinstance(factors, str):
        raise ValueError(f"factors must be a list of factor names (e.g. ['posX', 'posY']), got the string {factors!r}")
    names = values.sequence("a list of factor names (e.g. ['posX', 'posY'])", lambda t: True).check("factors", factors)
    unknown = [f for f in names if f not in dataset.factor_names]
    if unknown or not names:
        raise ValueError(f"unknown factor names {unknown or names}: the data set has {tuple(dataset.factor_names)}")
    twice = sorted({f for f in names if names.count(f) > 1})
    if twice:
        raise ValueError(f"factors must name each factor once (one latent is matched per factor), got {twice} more "
                         f"than once in {list(names)}")
    check_count(n, "n", at_least=3, why="examples")
    batch_size = values.batch_size.check("batch_size", batch_size)
    values.real("a number in [0, 1] (an |rho|)", lambda v: 0 <= v <= 1).check("threshold", threshold)
    columns = [list(dataset.factor_names).index(f) for f in names]
    classes = dataset.sample_factors(n, generator)  # (N, all factors)
    codes = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            part = classes[start:start + batch_size]
            codes.append(check_codes(representation_fn(dataset.render(part)), len(part),
                                     codes[0].shape[1] if codes else None))  # (b, D) finite, one per image
    codes = torch.from_numpy(np.concatenate(codes))  # (N, D)
    rho = spearman_matrix(codes, classes[:, columns])  # (D, K); classes are monotone in the factor values
    magnitude = np.abs(rho)
    if magnitude.shape[0] < len(names):
        raise ValueError(f"cannot match {len(names)} factors to distinct latents with only {magnitude.shape[0]} latents")
    rows, cols = linear_sum_assignment(-magnitude)  # one latent per factor, summed |rho| maximal
    latent = [0] * len(names)
    for r, c in zip(rows, cols):
        latent[c] = int(r)
    abs_rho = [float(magnitude[latent[k], k]) for k in range(len(names))]
    return {"rho": rho, "factor_names": names, "best_latent": [int(i) for i in magnitude.argmax(axis=0)],
            "best_abs_rho": [float(v) for v in magnitude.max(axis=0)], "latent": latent, "abs_rho": abs_rho,
            "separate": all(v >= threshold for v in abs_rho), "threshold": threshold, "n": n}


__all__ = ["factor_latent_correlations", "spearman_matrix"]
