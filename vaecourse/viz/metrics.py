"""Figures of chapter 3: metric scores with error bars over seeds, and (code x factor) matrices.

Shape letters: D code dimensions, K factors, n points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from vaecourse import values as kinds
from vaecourse.viz.figure import CourseFigure as Figure


def _mean_std(values) -> tuple[float, float]:
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def score_bars(scores: Mapping[str, Sequence[float]], chance: float | None = None, title: str = "",
               ylabel: str = "score", ylim: tuple[float, float] | None = (0.0, 1.05)) -> Figure:
    """One bar per representation: mean over seeds, error bar = standard deviation over seeds, dots = each seed."""
    if not 1 <= len(scores) <= kinds.MAX_PANELS:
        raise ValueError(f"score_bars needs scores of 1 to {kinds.MAX_PANELS:,} representations, got {len(scores)}")
    scores = {name: kinds.finite_numbers.check(f"score_bars' scores[{name!r}]", v).cpu().numpy()
              for name, v in scores.items()}
    chance = None if chance is None else kinds.finite.check("score_bars' chance", chance)
    names = list(scores)
    fig = Figure(figsize=(max(4.0, 1.1 * len(names) + 1.5), 3.6))
    ax = fig.subplots()
    for i, name in enumerate(names):
        mean, std = _mean_std(scores[name])
        ax.bar(i, mean, yerr=std, capsize=4, color=f"C{i % 10}", alpha=0.8)
        values = np.atleast_1d(np.asarray(scores[name], dtype=np.float64))
        ax.plot(np.full(values.size, i), values, "k.", ms=4)
        ax.text(i, mean + std + 0.02, f"{mean:.2f}", ha="center", va="bottom", fontsize=8)
    if chance is not None:
        ax.axhline(chance, color="k", ls="--", lw=1, label=f"chance ({chance:.2f})")
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def grouped_score_bars(table: Mapping[str, Mapping[str, Sequence[float]]], title: str = "",
                       ylim: tuple[float, float] | None = (0.0, 1.05)) -> Figure:
    """``table[representation][metric]`` -> groups of bars (one group per representation, one colour per metric)."""
    names = list(table)
    metrics = list(dict.fromkeys(m for row in table.values() for m in row))
    width = 0.8 / max(1, len(metrics))
    fig = Figure(figsize=(max(5.0, 1.3 * len(names) + 2.5), 3.8))
    ax = fig.subplots()
    for j, metric in enumerate(metrics):
        means, stds = zip(*[_mean_std(table[n].get(metric, [np.nan])) for n in names])
        x = np.arange(len(names)) + (j - (len(metrics) - 1) / 2) * width
        ax.bar(x, means, width, yerr=stds, capsize=2, label=metric, color=f"C{j % 10}", alpha=0.85)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel("score")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=8, ncol=min(len(metrics), 5), loc="upper center", bbox_to_anchor=(0.5, -0.28))
    if title:
        ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def matrix_figure(matrices: Mapping[str, np.ndarray], factor_names: Sequence[str], title: str = "",
                  value_label: str = "") -> Figure:
    """Heat maps of (code dimension x factor) matrices side by side (mutual information, importances, z_diff)."""
    matrices = _matrices("matrix_figure", matrices, factor_names, "factor_names")
    n = len(matrices)
    fig = Figure(figsize=(2.0 + 2.6 * n, 3.6))
    axes = np.atleast_1d(fig.subplots(1, n, squeeze=False)[0])
    for ax, (name, matrix) in zip(axes, matrices.items()):
        image = ax.imshow(matrix, cmap="viridis", aspect="auto", vmin=0.0)
        ax.set_xticks(range(matrix.shape[1]), factor_names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(matrix.shape[0]), [f"z{d}" for d in range(matrix.shape[0])], fontsize=7)
        ax.set_title(name, fontsize=10)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=value_label)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _matrices(who: str, matrices: Mapping[str, np.ndarray], names: Sequence[str], names_arg: str) -> dict:
    """``matrices`` as (rows, len(names)) float64 arrays, or a ValueError naming the matrix or ``names_arg``."""
    if not 1 <= len(matrices) <= 64:
        raise ValueError(f"{who} needs 1 to 64 matrices, got {len(matrices)}")
    out = {}
    for name, matrix in matrices.items():
        matrix = kinds.real_numbers.check(f"{who}'s matrices[{name!r}]", matrix).cpu().double().numpy()
        if matrix.ndim != 2 or matrix.shape[1] != len(names) or not 1 <= matrix.size <= 2 ** 20:
            raise ValueError(f"{who}'s matrices[{name!r}] must be a 2-D array with one column per name in "
                             f"{names_arg} ({len(names)}), got shape {matrix.shape}")
        out[name] = matrix
    return out


def zdiff_figure(features: np.ndarray, labels: np.ndarray, factor_names: Sequence[str], title: str = "") -> Figure:
    """Mean z_diff for each fixed factor y: rows = factor y, columns = code dimensions ``(K, D)``.

    In a disentangled code each row has one (near) zero: the dimension that encodes the fixed factor.
    """
    features, labels = np.asarray(features, dtype=np.float64), np.asarray(labels)
    K = len(factor_names)
    rows = np.stack([features[labels == k].mean(axis=0) if np.any(labels == k) else np.full(features.shape[1], np.nan)
                     for k in range(K)])  # (K, D)
    fig = Figure(figsize=(1.6 + 0.45 * features.shape[1], 0.6 + 0.45 * K))
    ax = fig.subplots()
    image = ax.imshow(rows, cmap="magma", aspect="auto", vmin=0.0)
    ax.set_yticks(range(K), [f"y = {name}" for name in factor_names])
    ax.set_xticks(range(features.shape[1]), [f"z{d}" for d in range(features.shape[1])], fontsize=7)
    fig.colorbar(image, ax=ax, label="mean z_diff")
    ax.set_title(title or "mean z_diff when factor y is fixed")
    fig.tight_layout()
    return fig


__all__ = ["grouped_score_bars", "matrix_figure", "score_bars", "zdiff_figure"]
