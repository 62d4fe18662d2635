"""Maximal information coefficient (MIC) and total information coefficient (TIC), written out in numpy.

MIC [reshef2011]: over every grid of a columns and b rows with a b <= B(n) = n^alpha, take the largest
mutual information I*(a, b) any such grid achieves on the data, normalise it by log min(a, b), and keep the
maximum of this characteristic matrix M(a, b). It is symmetric, 0 for independent variables as n grows,
and near 1 for any noiseless functional relation. TIC [reshef2016] sums the characteristic matrix; as the
CausalVAE paper reports it (minepy's ``tic(norm=True)``), we return the mean over the cells a b <= B(n).

The approximation is Reshef et al.'s ApproxMaxMI (their SOM, Algorithms 2-5) with the usual defaults
alpha = 0.6, c = 15: for each number of rows b, the y axis is equipartitioned (ties kept in one row), the
x-sorted points are grouped into clumps (maximal runs in one row; tied x values always share a clump),
clumps are merged into at most c a_max superclumps of equal mass, and a dynamic programme finds, for every
a <= a_max = B / b at once, the a-column partition of the superclumps that maximises I(X; Y); the same is
done with the axes swapped, and M(a, b) keeps the larger of the two. The package minepy does not build with
numpy 2, hence this implementation; on continuous data it agrees with minepy's approximation in design,
not bit for bit (minepy refines the equipartition of tied values slightly differently).

Shape letters: n points, D latent dimensions, K concepts.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from vaecourse import values
from vaecourse.data.pendulum import split_concepts

ALPHA, CLUMPS = 0.6, 15.0
MAX_GRID = 4_096  # grid cells a b: 10^6 points at alpha 0.6 would give 3,981
_BINS = values.positive_int
_POINT_ROW = values.numbers("a 1-D tensor, array or list of finite real numbers", lambda t: t.dim() == 1)
_kinds = values  # ``values`` is also equipartition's argument
CLUMPS_FACTOR = values.real("a clumps factor > 0", lambda v: v > 0, 1000, "beyond it every point is its own clump")
EXPONENT = values.real("an exponent in (0, 1]", lambda v: 0 < v <= 1)  # alpha: B(n) = n^alpha grid cells


# points of one MIC: its grid search grows faster than n (measured, one thread: 1,000 points 0.1 s, 10,000 1.5 s,
# 20,000 22 s on a loaded machine; 10^6, which MAX_EXAMPLES allowed, would be hours), and a summary scores D x K pairs
MAX_POINTS = 10_000
POINTS = values.numbers(f"real numbers: 4 to {MAX_POINTS:,} finite points in a 1-D tensor, array or list (the grid "
                        "search grows faster than n: more take minutes per pair)",
                        lambda t: t.dim() == 1 and 4 <= t.shape[0] <= MAX_POINTS)
MIC_IMAGES = values.integer(f"a number of images between 4 (MIC needs 4 points) and {MAX_POINTS:,}", 4, MAX_POINTS)


def _as_pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = POINTS.check("x", x).detach().cpu().double().numpy()
    y = POINTS.check("y", y).detach().cpu().double().numpy()
    if x.shape != y.shape:
        raise ValueError(f"x and y must hold the same number of points (the same length), got {x.size} and {y.size}")
    return x, y


def _table(value, name: str) -> np.ndarray:
    """``value`` as (n, columns) float64 of finite numbers, n >= 4, or a ValueError naming ``name``."""
    return values.numbers(f"(n, D) finite real numbers with 4 to {MAX_POINTS:,} points (MIC needs 4) and at "
                          "least 1 column", lambda t: t.dim() == 2 and 4 <= t.shape[0] <= MAX_POINTS
                          and t.shape[1] >= 1).check(
        name, value).detach().cpu().double().numpy()


def grid_bound(n: int, alpha: float = ALPHA) -> int:
    """B(n) = max(4, floor(n^alpha)): the largest number of grid cells a b considered."""
    n = values.positive_int.check("grid_bound's n (the number of points)", n)
    alpha = EXPONENT.check("alpha", alpha)
    return max(4, int(math.floor(n ** alpha)))


def equipartition(values: np.ndarray, bins: int, order: np.ndarray | None = None) -> np.ndarray:
    """Row of each point when ``values`` are cut into ``bins`` rows of (about) equal counts; ties share a row.
    ``order`` may pass ``np.argsort(values, kind="stable")`` when it is already known."""
    bins = _BINS.check("equipartition's bins", bins)
    values = _POINT_ROW.check("equipartition's values", values).detach().cpu().double().numpy()
    n = values.size
    if order is None:
        order = np.argsort(values, kind="stable")
    else:
        ranks = np.asarray(order) if not isinstance(order, (str, bytes)) else None
        if ranks is None or ranks.dtype.kind not in "iu" or ranks.shape != (n,) or \
                not np.array_equal(np.sort(ranks), np.arange(n)) or \
                not (values[ranks][1:] >= values[ranks][:-1]).all():
            raise ValueError(f"equipartition's order must be np.argsort(values) (a permutation of 0..{n - 1} that sorts "
                             f"values), got {_kinds.shown(order)}")
        order = ranks
    return _equipartition(values, bins, order)


def _equipartition(values: np.ndarray, bins: int, order: np.ndarray) -> np.ndarray:
    """:func:`equipartition` of checked arguments (the inner loop of :func:`characteristic_matrix`)."""
    n = values.size
    ranked = values[order]
    first = np.searchsorted(ranked, ranked, side="left")  # rank of the first point with the same value
    rows = np.empty(n, dtype=np.int64)
    rows[order] = (first * bins) // n
    return np.unique(rows, return_inverse=True)[1]


def _xlogx_table(n: int) -> np.ndarray:
    """c log c for the integer counts c = 0..n (0 log 0 = 0): a look-up table."""
    c = np.arange(n + 1, dtype=np.float64)
    return c * np.log(np.maximum(c, 1.0))


def _optimize_x_axis(x: np.ndarray, rows: np.ndarray, max_cols: int, c: float, order: np.ndarray) -> np.ndarray:
    """I*(a, rows) for a = 2..max_cols (index a), maximised over column partitions of x (nats)."""
    n = x.size
    q = rows.max() + 1
    out = np.zeros(max_cols + 1)
    if q < 2:
        return out
    xs, qs = x[order], rows[order]  # order = argsort(x)
    # 1. atoms: points with the same x must share a column
    atom_start = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    atom_of_point = np.cumsum(np.r_[True, xs[1:] != xs[:-1]]) - 1
    # 2. clumps: consecutive atoms lying wholly in the same row never need a boundary between them
    low, high = np.minimum.reduceat(qs, atom_start), np.maximum.reduceat(qs, atom_start)
    pure = np.where(low == high, low, -1)
    new_clump = np.r_[True, (pure[1:] < 0) | (pure[1:] != pure[:-1])]
    clump_of_point = (np.cumsum(new_clump) - 1)[atom_of_point]
    # 3. superclumps: at most c * max_cols, merged by equal mass
    k_max = max(2, int(c * max_cols))
    sizes = np.bincount(clump_of_point)
    if sizes.size > k_max:
        before = np.r_[0, np.cumsum(sizes)[:-1]]  # points before each clump
        group = (before * k_max) // n
        group = np.cumsum(np.r_[True, group[1:] != group[:-1]]) - 1
        clump_of_point = group[clump_of_point]
    k = int(clump_of_point[-1]) + 1
    counts = np.bincount(clump_of_point * q + qs, minlength=k * q).reshape(k, q)
    # 4. cost of a column spanning superclumps s+1..t: (sum_r c_r log c_r - c log c) / n  (H(P) - H(P, Q) part)
    cum = np.vstack([np.zeros((1, q), dtype=np.int64), np.cumsum(counts, 0)])  # (k + 1, q)
    block = cum[None, :, :] - cum[:, None, :]  # (k + 1, k + 1, q): counts of column (s, t]
    tot = block.sum(2)
    xlogx = _xlogx_table(n)
    cost = ((xlogx[block].sum(2) - xlogx[tot]) / n).astype(np.float32)
    cost[np.tril_indices(k + 1)] = -np.inf  # a column needs s < t
    del block, tot
    # 5. dynamic programme over the number of columns a
    row_p = np.bincount(rows, minlength=q) / n
    h_q = -(row_p[row_p > 0] * np.log(row_p[row_p > 0])).sum()
    f = cost[0].copy()  # best value with 1 column ending at t
    best = -np.inf
    work = np.empty_like(cost)
    for a in range(2, max_cols + 1):
        np.add(cost, f[:, None], out=work)
        f = work.max(0)  # best value with a columns ending at t
        best = max(best, f[k])  # at most a columns
        out[a] = max(h_q + best, 0.0) if np.isfinite(best) else 0.0
    return out


def characteristic_matrix(x, y, alpha: float = ALPHA, c: float = CLUMPS) -> np.ndarray:
    """M[a, b] = I*(a columns, b rows) / log min(a, b) for a b <= B(n), a, b >= 2 (NaN elsewhere)."""
    x, y = _as_pair(x, y)
    c = CLUMPS_FACTOR.check("c (the clumps factor)", c)
    B = grid_bound(x.size, alpha)
    if B > MAX_GRID:  # the (B/2)^2 table and the search over a b <= B grow with B: beyond it they do not finish
        raise ValueError(f"characteristic_matrix's grid bound B(n) = n^alpha must be at most {MAX_GRID:,} cells, got "
                         f"{B:,} for n = {x.size:,} points and alpha = {alpha:g}: use fewer points or a smaller alpha")
    x_order, y_order = np.argsort(x, kind="stable"), np.argsort(y, kind="stable")
    M = np.full((B // 2 + 1, B // 2 + 1), np.nan)
    for b in range(2, B // 2 + 1):
        a_max = B // b
        if a_max < 2:
            break
        along_x = _optimize_x_axis(x, _equipartition(y, b, y_order), a_max, c, x_order)  # y in b rows, x optimised
        along_y = _optimize_x_axis(y, _equipartition(x, b, x_order), a_max, c, y_order)  # x in b columns, y optimised
        for a in range(2, a_max + 1):
            norm = math.log(min(a, b))
            M[a, b] = max(M[a, b] if np.isfinite(M[a, b]) else 0.0, along_x[a] / norm)
            M[b, a] = max(M[b, a] if np.isfinite(M[b, a]) else 0.0, along_y[a] / norm)
    return np.clip(M, 0.0, 1.0)


def mic(x, y, alpha: float = ALPHA, c: float = CLUMPS) -> float:
    """The maximal information coefficient in [0, 1].  [reshef2011]"""
    return float(np.nanmax(characteristic_matrix(x, y, alpha, c)))


def mic_tic(x, y, alpha: float = ALPHA, c: float = CLUMPS) -> tuple[float, float]:
    """(MIC, normalised TIC): the maximum and the mean of the characteristic matrix.  [reshef2011; reshef2016]"""
    M = characteristic_matrix(x, y, alpha, c)
    return float(np.nanmax(M)), float(np.nanmean(M))


def mic_tic_matrices(latents, concepts, alpha: float = ALPHA, c: float = CLUMPS) -> tuple[np.ndarray, np.ndarray]:
    """MIC and TIC of every latent dimension against every concept: two (D, K) arrays."""
    latents, concepts = _table(latents, "latents"), _table(concepts, "concepts")
    if latents.shape[0] != concepts.shape[0]:
        raise ValueError(f"concepts must hold one row per row of latents ({latents.shape[0]}: the same images), got "
                         f"{concepts.shape[0]} rows")
    alpha = EXPONENT.check("alpha", alpha)
    c = CLUMPS_FACTOR.check("c (the clumps factor)", c)
    mics = np.zeros((latents.shape[1], concepts.shape[1]))
    tics = np.zeros_like(mics)
    for d in range(latents.shape[1]):
        for k in range(concepts.shape[1]):
            mics[d, k], tics[d, k] = mic_tic(latents[:, d], concepts[:, k], alpha, c)
    return mics, tics


def mic_tic_summary(latents, concepts, alpha: float = ALPHA, c: float = CLUMPS) -> dict:
    """MIC and TIC of codes (n, D) against the true concepts (n, K) of the same n images, as [yang2021, Table 1]
    reports them: for each concept the best-matching latent dimension (highest MIC) is found; ``mic`` and ``tic``
    are the means over concepts at those dimensions. With D = K, ``mic_aligned``/``tic_aligned`` read latent k
    against concept k (CausalVAE's concept blocks)."""
    mics, tics = mic_tic_matrices(latents, concepts, alpha, c)
    concept = np.arange(mics.shape[1])
    best = mics.argmax(0)  # (K,)
    out = {"mic": float(mics[best, concept].mean()), "tic": float(tics[best, concept].mean()),
           "mic_matrix": mics, "tic_matrix": tics, "best_latent": best, "n": len(latents)}
    if mics.shape[0] == mics.shape[1]:
        out["mic_aligned"] = float(np.diag(mics).mean())
        out["tic_aligned"] = float(np.diag(tics).mean())
    return out


def mic_tic_score(dataset, representation_fn: Callable, *, generator=None, split: str = "test",
                  n: int | None = None, batch_size: int = 256, alpha: float = ALPHA, c: float = CLUMPS) -> dict:
    """MIC and TIC between a learned representation and the true concepts (:func:`mic_tic_summary`).

    ``representation_fn(images, labels) -> (n, D)`` (a model that ignores labels takes them and drops them).
    ``n`` images of ``split`` (all of it by default, :func:`vaecourse.data.pendulum.split_concepts`) are rendered ``batch_size`` at a time.
    """
    from vaecourse.metrics.checks import check_codes

    batch_size = values.batch_size.check("mic_tic_score's batch_size", batch_size)
    n = MIC_IMAGES.or_none().check("mic_tic_score's n", n)
    representation_fn = values.function.check("mic_tic_score's representation_fn", representation_fn)
    alpha = EXPONENT.check("alpha", alpha)
    c = CLUMPS_FACTOR.check("c (the clumps factor)", c)
    concepts = split_concepts(dataset, split, n, generator)
    if len(concepts) < 4:
        raise ValueError(f"mic_tic_score needs at least 4 images of the {split!r} split (MIC needs 4 points), got "
                         f"{len(concepts)}")
    labels = dataset.labels(concepts)
    parts = []
    for start in range(0, len(concepts), batch_size):
        x = dataset.render_concepts(concepts[start:start + batch_size])
        codes = representation_fn(x, labels[start:start + batch_size].to(x.device))
        dim = parts[0].shape[1] if parts else None
        parts.append(check_codes(codes, len(x), dim, who="mic_tic_score's representation_fn"))
    return mic_tic_summary(np.concatenate(parts), concepts.cpu().numpy(), alpha, c)


__all__ = ["ALPHA", "CLUMPS", "characteristic_matrix", "equipartition", "grid_bound", "mic", "mic_tic",
           "mic_tic_matrices", "mic_tic_score", "mic_tic_summary"]
