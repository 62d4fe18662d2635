"""Training curves and estimator diagnostics."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vaecourse import values as kinds
from vaecourse.viz import figure as checks
from vaecourse.viz.figure import CourseFigure as Figure


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(y) < window:
        return y
    kernel = np.ones(window) / window
    return np.convolve(y, kernel, mode="valid")


def history_figure(history, panels: Sequence[Sequence[str]] = (("elbo",), ("log_px_z",), ("kl",)),
                   smooth: int = 25, titles: Sequence[str] | None = None) -> Figure:
    """One panel per group of terms from a :class:`vaecourse.train.History`, against the step.

    Curves are moving averages over ``smooth`` steps (the raw values are faint behind them).
    """
    from vaecourse.train import History

    if not isinstance(history, History):
        raise ValueError(f"history_figure's history must be a vaecourse.train.History (what fit returns), got "
                         f"{type(history).__name__}")
    smooth = kinds.positive_int.check("history_figure's smooth", smooth)
    groups = kinds.sequence("1 to 16 groups of terms, each a list of distinct term names (e.g. [['elbo'], ['kl']])",
                            lambda v: 1 <= len(v) <= 16 and all(not isinstance(g, (str, bytes)) and
                                                                isinstance(g, Sequence) and len(g) >= 1 and
                                                                all(isinstance(k, str) for k in g) and
                                                                len(set(g)) == len(g) for g in v))
    panels = groups.check("history_figure's panels", panels)
    titles = checks.names("history_figure", "titles", titles, len(panels), optional=True)
    for i, keys in enumerate(panels):  # the terms are drawn as legend entries and (joined) as the panel's title
        checks.names("history_figure", f"panels[{i}]", keys)
        if not titles:
            checks.figure_text("history_figure", f"panels[{i}] (its terms joined as the panel's title)", ", ".join(keys))
    unknown = [key for keys in panels for key in keys if key not in history.records]
    if unknown:
        raise ValueError(f"history_figure's panels must name terms of the history (it has {sorted(history.records)}), "
                         f"got {unknown}")
    steps = np.asarray(history.steps)
    curves = {key: checks.measured("one finite value per logged step").check(f"history_figure's history[{key!r}]",
                                                                            history[key]).double().numpy()
              for keys in panels for key in keys}  # a History holds up to float32's 3.4e38: drawn only up to 1e30
    fig = Figure(figsize=(4.2 * len(panels), 3.2))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for i, (ax, keys) in enumerate(zip(axes, panels)):
        for key in keys:
            y = curves[key]
            ax.plot(steps, y, alpha=0.25, lw=0.8)
            ys = _smooth(y, smooth)
            ax.plot(steps[len(steps) - len(ys):], ys, lw=1.8, label=key, color=ax.lines[-1].get_color())
        ax.set_xlabel("step")
        ax.set_ylabel("nats per example")
        ax.set_title(titles[i] if titles else ", ".join(keys))
        if len(keys) > 1:
            ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def kl_estimator_figure(sample_counts: Sequence[int], estimates: Sequence[np.ndarray], exact: float) -> Figure:
    """Spread of the Monte-Carlo KL estimator against the number of samples, with the closed form.

    ``estimates[i]`` holds repeated estimates that each averaged ``sample_counts[i]`` samples.
    """
    sample_counts = kinds.indices.check("kl_estimator_figure's sample_counts", sample_counts)  # one box each
    kinds.panels.check("kl_estimator_figure's number of sample counts", len(sample_counts) or 1)
    checks.label_count("kl_estimator_figure", "sample_counts", len(sample_counts), "one box and tick label each")
    estimates = [kinds.figure_samples.check("kl_estimator_figure's estimates", e).numpy() for e in estimates]
    if len(estimates) != len(sample_counts) or not estimates or 0 in sample_counts:
        raise ValueError(f"kl_estimator_figure needs one array of estimates per sample count (counts >= 1), got "
                         f"{len(estimates)} estimates for sample_counts {list(sample_counts)}")
    exact = kinds.real("the closed-form KL: a finite number >= 0 (nats)", lambda v: v >= 0, kinds.MAX_MEASURED,
                       "a KL the course computes; beyond it a figure's margins overflow").check(
        "kl_estimator_figure's exact", exact)  # KL(q || p) >= 0 (Gibbs' inequality)
    fig = Figure(figsize=(8.5, 3.2))
    ax_box, ax_std = fig.subplots(1, 2)
    ax_box.boxplot([np.asarray(e) for e in estimates], showfliers=False)
    ax_box.set_xticks(range(1, len(sample_counts) + 1), [str(s) for s in sample_counts])
    ax_box.axhline(exact, color="tab:red", lw=1.5, label="closed form")
    ax_box.set_xlabel("samples per estimate")
    ax_box.set_ylabel("KL estimate (nats)")
    ax_box.legend()
    stds = [np.std(e) for e in estimates]
    ax_std.loglog(sample_counts, stds, "o-", label="measured std")
    ax_std.loglog(sample_counts, stds[0] * np.sqrt(sample_counts[0] / np.asarray(sample_counts, float)), "--",
                  label=r"$\propto 1/\sqrt{S}$")
    ax_std.set_xlabel("samples per estimate S")
    ax_std.set_ylabel("standard deviation")
    ax_std.legend()
    for ax in (ax_box, ax_std):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
