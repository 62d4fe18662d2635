"""Figures of chapter 3: metric scores with error bars over seeds, and (code x factor) matrices.

Shape letters: D code dimensions, K factors, n points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from vaecourse import values as kinds
from vaecourse.viz import figure as checks
from vaecourse.viz.figure import CourseFigure as Figure

_scores = checks.measured(f"1 to {kinds.MAX_PANELS:,} finite scores (one per seed) in a list or a 1-D tensor",
                          lambda t: t.dim() <= 1 and 1 <= t.numel() <= kinds.MAX_PANELS)


def _as_ylim(value):
    """A list or tuple of two numbers (floats, numpy or 0-d tensor scalars) as a tuple of floats."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)) or len(value) != 2:
        return kinds._REFUSED
    ends = tuple(kinds.figure_number.convert(a) for a in value)
    return kinds._REFUSED if kinds._REFUSED in ends else ends


_ylim = kinds.Kind(f"(low, high): two finite numbers with low < high, each at most {kinds.MAX_MEASURED:g} in size, "
                   "or None", lambda v: all(abs(a) <= kinds.MAX_MEASURED for a in v) and v[0] < v[1], _as_ylim,
                   optional=True)
_table = kinds.Kind(f"a dict of 1 to {kinds.MAX_PANELS:,} entries by name", lambda v: 1 <= len(v) <= kinds.MAX_PANELS,
                    lambda v: v if isinstance(v, Mapping) else kinds._REFUSED)


def _inside(who: str, name: str, scores: Mapping, ylim) -> None:
    """Every score inside ``ylim`` (a bar or dot beyond it is drawn off the axes), or a ValueError naming it."""
    if ylim is None:
        return
    for key, values in scores.items():
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        outside = values[(values < ylim[0]) | (values > ylim[1])]
        if outside.size:
            raise ValueError(f"{checks.owner(who)} {name}[{key!r}] must hold scores inside ylim ({ylim[0]:g}, "
                             f"{ylim[1]:g}) (or pass "
                             f"ylim=None), got {outside[0]:g}")


def _mean_std(values) -> tuple[float, float]:
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def score_bars(scores: Mapping[str, Sequence[float]], chance: float | None = None, title: str = "",
               ylabel: str = "score", ylim: tuple[float, float] | None = (0.0, 1.05)) -> Figure:
    """One bar per representation: mean over seeds, error bar = standard deviation over seeds, dots = each seed."""
    scores = kinds.mapping.check("score_bars' scores", scores)
    if not 1 <= len(scores) <= kinds.MAX_PANELS:
        raise ValueError(f"score_bars needs scores of 1 to {kinds.MAX_PANELS:,} representations, got {len(scores)}")
    scores = {text: _scores.check(f"score_bars' scores[{name!r}]", v).cpu().numpy().reshape(-1)
              for text, (name, v) in zip(checks.labels("score_bars", "scores", scores), scores.items())}
    chance = kinds.figure_number.or_none().check("score_bars' chance", chance)
    title, ylabel = checks.figure_text("score_bars", "title", title), checks.figure_text("score_bars", "ylabel", ylabel)
    ylim = _ylim.check("score_bars' ylim", ylim)
    _inside("score_bars", "scores", scores, ylim)
    if chance is not None and ylim is not None and not ylim[0] <= chance <= ylim[1]:
        raise ValueError(f"score_bars' chance must lie inside ylim ({ylim[0]:g}, {ylim[1]:g}) (or pass ylim=None), "
                         f"got {chance:g}")
    names = list(scores)
    checks.label_count("score_bars", "scores", len(names), "one bar and tick label per representation")
    fig = Figure(figsize=checks.figure_size("score_bars", "scores", max(4.0, 1.1 * len(names) + 1.5), 3.6))
    ax = fig.subplots()
    for i, name in enumerate(names):
        mean, std = _mean_std(scores[name])
        ax.bar(i, mean, yerr=std, capsize=4, color=f"C{i % 10}", alpha=0.8)
        values = np.atleast_1d(np.asarray(scores[name], dtype=np.float64))
        ax.plot(np.full(values.size, i), values, "k.", ms=4)
        # the mean's text 3 points above its error bar (0.02 in data units is off the axes, millions of pixels
        # away, when ylim spans 1e-14: FreeType then fails at savefig)
        ax.annotate(f"{mean:.2f}", (i, mean + std), xytext=(0, 3), textcoords="offset points", ha="center",
                    va="bottom", fontsize=8)
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
    table = _table.check("grouped_score_bars' table", table)
    rows = {name: _table.check(f"grouped_score_bars' table[{name!r}]", row) for name, row in table.items()}
    table = {text: {label: _scores.check(f"grouped_score_bars' table[{name!r}][{metric!r}]", v).cpu().numpy()
                    for label, (metric, v) in zip(checks.labels("grouped_score_bars", f"table[{name!r}]", row),
                                                  row.items())}
             for text, (name, row) in zip(checks.labels("grouped_score_bars", "table", rows), rows.items())}
    title = checks.figure_text("grouped_score_bars", "title", title)
    ylim = _ylim.check("grouped_score_bars' ylim", ylim)
    for name, row in table.items():
        _inside("grouped_score_bars", f"table[{name!r}]", row, ylim)
    names = list(table)
    metrics = list(dict.fromkeys(m for row in table.values() for m in row))
    checks.label_count("grouped_score_bars", "table", len(names), "one group and tick label per representation")
    checks.label_count("grouped_score_bars", "table's metrics", len(metrics), "one colour and legend entry per metric")
    checks.panel_count("grouped_score_bars", "table", len(names) * len(metrics), "one bar per representation and metric")
    width = 0.8 / max(1, len(metrics))
    fig = Figure(figsize=checks.figure_size("grouped_score_bars", "table", max(5.0, 1.3 * len(names) + 2.5), 3.8))
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
    factor_names = checks.names("matrix_figure", "factor_names", factor_names, distinct=True)
    title, value_label = checks.figure_text("matrix_figure", "title", title), checks.figure_text("matrix_figure", "value_label", value_label)
    matrices = _matrices("matrix_figure", matrices, factor_names, "factor_names")
    n = len(matrices)
    checks.label_count("matrix_figure", "factor_names and matrices", sum(sum(m.shape) for m in matrices.values()),
                       "one tick label per factor and per code dimension of every matrix, in all")
    fig = Figure(figsize=(2.0 + 2.6 * n, 3.6))
    axes = np.atleast_1d(fig.subplots(1, n, squeeze=False)[0])
    for ax, (name, matrix) in zip(axes, matrices.items()):
        image = ax.imshow(matrix, cmap="viridis", aspect="auto", vmin=min(0.0, matrix.min()))  # signed scores too
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
    kind = kinds.Kind("a dict of 1 to 64 matrices by name", lambda v: 1 <= len(v) <= 64,
                      lambda v: v if isinstance(v, Mapping) else kinds._REFUSED)
    matrices = checks.relabel(who, "matrices", kind.check(f"{checks.owner(who)} matrices", matrices))
    out = {}
    for name, matrix in matrices.items():
        matrix = checks.measured("finite real numbers (a tensor, an array or a list of floats)").check(
            f"{checks.owner(who)} matrices[{name!r}]", matrix).cpu().double().numpy()
        if matrix.ndim != 2 or matrix.shape[1] != len(names) or not 1 <= matrix.size <= 2 ** 20:
            raise ValueError(f"{who}'s matrices[{name!r}] must be a 2-D array with one column per name in "
                             f"{names_arg} ({len(names)}), got shape {matrix.shape}")
        out[name] = matrix
    return out


def zdiff_figure(features: np.ndarray, labels: np.ndarray, factor_names: Sequence[str], title: str = "") -> Figure:
    """Mean z_diff for each fixed factor y: rows = factor y, columns = code dimensions ``(K, D)``.

    In a disentangled code each row has one (near) zero: the dimension that encodes the fixed factor.
    """
    factor_names = checks.names("zdiff_figure", "factor_names", factor_names, distinct=True)
    title = checks.figure_text("zdiff_figure", "title", title)
    K = checks.label_count("zdiff_figure", "factor_names", len(factor_names), "one row and tick label per factor")
    # z_diff = mean |z(v1) - z(v2)| over pairs sharing factor y [higgins2017, Sec. 3]: >= 0
    features = checks.measured("finite z_diff features (n, D) >= 0 (mean absolute differences): at least one row and "
                             "one column", lambda t: t.dim() == 2 and min(t.shape) >= 1 and t.numel() <= 2 ** 24
                             and bool((t >= 0).all())).check(
        "zdiff_figure's features", features).detach().cpu().double().numpy()
    n = len(features)
    labels = kinds.numbers(f"one fixed factor's index per row of features ({n}): ints from 0 to {K - 1} "
                           f"(one per name in factor_names)",
                           lambda t: t.dim() == 1 and len(t) == n and bool((t == t.round()).all())
                           and bool(((t >= 0) & (t < K)).all())).check("zdiff_figure's labels", labels)
    labels = labels.detach().cpu().numpy().astype(np.int64)
    checks.label_count("zdiff_figure", "features and factor_names", K + features.shape[1],
                       "one tick label per code dimension (column of features) and per factor, in all")
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
