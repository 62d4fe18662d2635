"""Figures of chapter 4: per-unit KL heatmaps over training, active units per layer, PCA of each layer.

Pure functions of arrays (no model inside): they return a :class:`~vaecourse.viz.figure.CourseFigure`.
Shape letters: E epochs, U all units (layers concatenated from layer 0, next to x), N examples, D_i units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
import torch
from matplotlib.colors import Normalize

from vaecourse import values as kinds
from vaecourse.viz import figure as checks
from vaecourse.viz.figure import CourseFigure


def _runs(name: str, value, most: int = 64) -> Mapping:
    kind = kinds.Kind(f"a dict of 1 to {most} runs by name", lambda v: 1 <= len(v) <= most,
                      lambda v: v if isinstance(v, Mapping) else kinds._REFUSED)
    return kind.check(name, value)

LOG_KL_FLOOR = 1e-4  # KLs below this are drawn as this (log10 = -4): "inactive"


def kl_heatmap_figure(runs: Mapping[str, np.ndarray], layer_sizes: Sequence[int], *, title: str | None = None,
                      vmin: float = -4.0, vmax: float | None = None, threshold: float | None = None) -> CourseFigure:
    """One panel per run: log10 of each unit's KL (rows, grouped by layer) over epochs (columns).
    [sonderby2016, Fig. 4] Dark = KL near 0 = an inactive unit; white lines separate the layers.

    With ``threshold`` (nats) the colour scale starts there and every KL below it is drawn white, as the
    paper draws inactive units: the white cells of the last column are exactly the units that
    :func:`vaecourse.metrics.kl_active_units` counts as inactive at that threshold (layers then separated in black).
    """
    runs = checks.relabel("kl_heatmap_figure", "runs", _runs("kl_heatmap_figure's runs", runs))
    layer_sizes = kinds.layer_sizes.check("kl_heatmap_figure's layer_sizes", layer_sizes)
    checks.label_count("kl_heatmap_figure", "layer_sizes", len(runs) * len(layer_sizes),
                       "one tick label and separating line per layer in every run's panel, in all")
    title = checks.title("kl_heatmap_figure", title)
    vmin = kinds.figure_number.check("kl_heatmap_figure's vmin", vmin)
    threshold = kinds.real("> 0 nats, a finite number (it is drawn on a log scale)", lambda v: v > 0,
                           kinds.MAX_MEASURED, "a KL the course computes").or_none().check(
        "kl_heatmap_figure's threshold", threshold)
    # with a threshold the colour scale starts at log10(threshold), not at vmin: vmax must lie above that start
    low, start = (vmin, "vmin") if threshold is None else (float(np.log10(threshold)), "log10(threshold)")
    vmax = kinds.real(f"a finite number above {start} ({low:g})", lambda v: v > low, kinds.MAX_MEASURED,
                      "beyond it a figure's margins and spans overflow").or_none().check(
        "kl_heatmap_figure's vmax", vmax)
    total = int(sum(layer_sizes))
    logs = {}
    for name, kl in runs.items():
        kl = checks.measured(f"per-unit KLs (epochs, {total}) of finite values >= 0 (rounding's -1e-3 at most)",
                             lambda t: not t.numel() or bool((t >= -1e-3).all())).check(
            f"kl_heatmap_figure's runs[{name!r}]", kl).cpu().double().numpy()
        if kl.ndim != 2 or kl.shape[1] != total or not 1 <= kl.size <= 2 ** 24:
            raise ValueError(f"run {name!r}: expected per-unit KLs of shape (epochs, {total}) for layer_sizes "
                             f"{list(layer_sizes)}, got {kl.shape}")
        logs[name] = np.log10(np.maximum(kl, LOG_KL_FLOOR)).T  # (U, E)
    vmax = max(float(v.max()) for v in logs.values()) if vmax is None else vmax
    cmap, line = "viridis", "white"
    vmin = low
    if threshold is not None:
        line = "black"
        cmap = matplotlib.colormaps["viridis"].with_extremes(under="white")
    norm = Normalize(vmin=vmin, vmax=max(vmax, vmin + 1e-3))
    fig = CourseFigure(figsize=(3.4 * len(runs) + 1.0, 4.2))
    axes = fig.subplots(1, len(runs), squeeze=False)[0]
    edges = np.cumsum(layer_sizes)[:-1] - 0.5
    image = None
    for ax, (name, log_kl) in zip(axes, logs.items()):
        image = ax.imshow(log_kl, aspect="auto", origin="lower", cmap=cmap, norm=norm, interpolation="nearest",
                          extent=(0.5, log_kl.shape[1] + 0.5, -0.5, total - 0.5))
        for e in edges:
            ax.axhline(e, color=line, lw=0.8)
        centres = np.cumsum(layer_sizes) - np.asarray(layer_sizes) / 2 - 0.5
        ax.set_yticks(centres, [f"z{i + 1}" for i in range(len(layer_sizes))])
        ax.set_xlabel("epoch")
        ax.set_title(name, fontsize=10)
    label = "log10 KL(q || p) per unit (nats)" + ("" if threshold is None else f"; white: below {threshold:g}")
    fig.colorbar(image, ax=list(axes), label=label, shrink=0.9, extend="neither" if threshold is None else "min")
    if title:
        fig.suptitle(title)
    return fig


def active_units_figure(runs: Mapping[str, Sequence[int]], layer_sizes: Sequence[int], *,
                        kl_runs: Mapping[str, Sequence[int]] | None = None,
                        title: str = "Active units per layer (A_u > 0.01)") -> CourseFigure:
    """Grouped bars: active units in each layer for each run, with the layer sizes as outlines.

    ``kl_runs`` (same names) adds, beside each run's bar, a hatched bar of the units active by their KL
    (:func:`vaecourse.metrics.kl_active_units`): the two readings side by side."""
    runs = checks.relabel("active_units_figure", "runs", _runs("active_units_figure's runs", runs))
    kl_runs = None if kl_runs is None else checks.relabel("active_units_figure", "kl_runs", _runs("active_units_figure's kl_runs", kl_runs))
    title = checks.figure_text("active_units_figure", "title", title)
    if kl_runs is not None and set(kl_runs) != set(runs):
        raise ValueError(f"kl_runs must name the same runs as runs: got {sorted(kl_runs)} and {sorted(runs)}")
    layer_sizes = kinds.layer_sizes.check("active_units_figure's layer_sizes", layer_sizes)
    L = checks.label_count("active_units_figure", "layer_sizes", len(layer_sizes), "one group and tick label per layer")
    checks.panel_count("active_units_figure", "runs and layer_sizes", L * (len(runs) * (1 if kl_runs is None else 2) + 1),
                       "one labelled bar per run (and KL run) and an outline per layer")
    for arg, name, counts in [*(("runs", n, c) for n, c in runs.items()),
                              *(("kl_runs", n, c) for n, c in (kl_runs or {}).items())]:
        counts = kinds.indices.check(f"active_units_figure's {arg}[{name!r}]", counts)
        if len(counts) != L or any(c > size for c, size in zip(counts, layer_sizes)):
            raise ValueError(f"active_units_figure's {arg}[{name!r}] must be {L} counts of active units, one per layer "
                             f"of layer_sizes {list(layer_sizes)} and at most its size, got {list(counts)}")
    per_run = 1 if kl_runs is None else 2
    fig = CourseFigure(figsize=checks.figure_size("active_units_figure", "runs and layer_sizes",
                                                  1.2 * L * per_run + 1.5 * len(runs) / 2 + 2.5, 3.4))
    ax = fig.subplots()
    width = 0.8 / (len(runs) * per_run)
    x = np.arange(L)
    for j, (name, counts) in enumerate(runs.items()):
        offset = (per_run * j - (per_run * len(runs) - 1) / 2) * width
        bars = ax.bar(x + offset, counts, width, label=name if kl_runs is None else f"{name}: A_u")
        ax.bar_label(bars, fontsize=7)
        if kl_runs is not None:
            kl_bars = ax.bar(x + offset + width, kl_runs[name], width, color=bars.patches[0].get_facecolor(),
                             alpha=0.45, hatch="//", edgecolor="black", linewidth=0.3, label=f"{name}: KL")
            ax.bar_label(kl_bars, fontsize=7)
    ax.bar(x, layer_sizes, 0.86, fill=False, edgecolor="grey", linestyle=":", label="units in layer")
    ax.set_xticks(x, [f"z{i + 1} ({d})" for i, d in enumerate(layer_sizes)])
    ax.set_yscale("symlog", linthresh=4)
    ax.set_ylabel("active units")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncols=2)
    return fig


# one layer's samples: the float64 copy and its SVD stay within a few hundred MiB at 2**24 numbers
_layer_samples = checks.measured(f"finite samples (N >= 2, D) of one layer, at most 2**24 = {2 ** 24:,} numbers",
                                 lambda t: t.dim() == 2 and len(t) >= 2 and t.shape[1] >= 1 and t.numel() <= 2 ** 24)


def pca_2d(z: np.ndarray | torch.Tensor) -> np.ndarray:
    """The first two principal components of the rows of z, (N, D) -> (N, 2) (zero-padded when D = 1)."""
    z = _layer_samples.check("pca_2d's z", z).detach().cpu().double().numpy()
    centred = z - z.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    out = centred @ vt[:2].T
    return np.pad(out, ((0, 0), (0, 2 - out.shape[1]))) if out.shape[1] < 2 else out


def layer_pca_figure(samples: Sequence, labels=None, *, title: str | None = None) -> CourseFigure:
    """One scatter per layer: posterior samples z_i projected on their first two principal components,
    coloured by digit label.  [sonderby2016, Fig. 5] Collapsed layers show as a blob with no class structure."""
    layers = kinds.sequence(f"a list of 1 to {kinds.MAX_LAYERS} layers' samples, each (N >= 2, D_i)",
                            lambda v: 1 <= len(v) <= kinds.MAX_LAYERS)
    samples = layers.check("layer_pca_figure's samples", samples)
    title = checks.title("layer_pca_figure", title)
    samples = [_layer_samples.check(f"layer_pca_figure's samples[{i}]", z) for i, z in enumerate(samples)]
    n = len(samples[0])
    if labels is not None and any(len(z) != n for z in samples):
        raise ValueError(f"layer_pca_figure's samples must hold the same examples in every layer (one per label), "
                         f"got {[len(z) for z in samples]} rows")
    colours = None if labels is None else kinds.numbers(  # the colour scale is the ten digits' (tab10, 0..9)
        f"one digit label 0..9 per sample ({n}), a 1-D tensor or array", lambda t: t.dim() == 1 and len(t) == n
        and bool(((t >= 0) & (t <= 9) & (t == t.round())).all())).check(
        "layer_pca_figure's labels", labels).detach().cpu().numpy()
    fig = CourseFigure(figsize=(2.6 * len(samples), 2.8))
    axes = fig.subplots(1, len(samples), squeeze=False)[0]
    scatter = None
    for i, (ax, z) in enumerate(zip(axes, samples)):
        xy = pca_2d(z)
        digits = {} if colours is None else dict(c=colours, cmap="tab10", vmin=-0.5, vmax=9.5)  # one colour a digit
        scatter = ax.scatter(xy[:, 0], xy[:, 1], s=4, **digits)
        ax.set_title(f"z{i + 1} ({np.asarray(z.shape)[1]} units)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal", adjustable="datalim")
    if colours is not None:
        fig.colorbar(scatter, ax=list(axes), ticks=range(10), label="digit", shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=10, y=1.04)
    return fig


def depth_figure(results: Mapping[str, Mapping[int, tuple[float, float]]], *, k: int,
                 title: str = "Test log-likelihood against the number of stochastic layers") -> CourseFigure:
    """[sonderby2016, Fig. 3]: one line per inference model, log p(x) >= L_k (nats) against the number of
    stochastic layers, with +-1 standard error. ``results[name][layers] = (log_likelihood, standard_error)``."""
    results = checks.relabel("depth_figure", "results", _runs("depth_figure's results", results))
    k = kinds.samples.check("depth_figure's k", k)
    title = checks.figure_text("depth_figure", "title", title)
    pair = checks.measured("(log_likelihood, standard_error): a finite number and a finite standard error >= 0",
                           lambda t: t.shape == (2,) and bool(t[1] >= 0))
    depth = kinds.layers
    checked = {}
    for name, by_depth in results.items():
        by_depth = _runs(f"depth_figure's results[{name!r}]", by_depth)
        checks.labels("depth_figure", f"results[{name!r}]", by_depth)  # 1 and tensor(1): one depth, twice
        checked[name] = {depth.check(f"depth_figure's results[{name!r}]'s depth", d):
                         tuple(pair.check(f"depth_figure's results[{name!r}][{d!r}]", v).tolist())
                         for d, v in by_depth.items()}
    results = checked
    fig = CourseFigure(figsize=(4.8, 3.4))
    ax = fig.subplots()
    for name, by_depth in results.items():
        depths = sorted(by_depth)
        ll, se = np.array([by_depth[d] for d in depths], dtype=float).T
        ax.errorbar(depths, ll, yerr=se, marker="o", capsize=3, label=name)
    ax.set_xticks(sorted({d for by_depth in results.values() for d in by_depth}))
    ax.set_xlabel("stochastic layers L")
    ax.set_ylabel(f"test log p(x) >= L_{k} (nats)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


__all__ = ["active_units_figure", "depth_figure", "kl_heatmap_figure", "layer_pca_figure", "pca_2d"]
