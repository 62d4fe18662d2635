"""Figures of chapter 2 (beta-VAE): the rate-distortion picture, per-dimension KL, the multiplier's trace,
a traversal row with its decoded image, and one model of a beta sweep at a glance.

Pure functions: numbers or models in, a :class:`~vaecourse.viz.figure.CourseFigure` out (the widgets in
:mod:`vaecourse.widgets` only wire sliders to them). Shape letters: N images, D latent dimensions, V values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from vaecourse import values as kinds
from vaecourse.distributions import check_kls
from vaecourse.viz import figure as checks
from vaecourse.viz.figure import CourseFigure as Figure
from vaecourse.viz.images import draw_image, traversal_images


def _label(i: int, label):
    """A point's label: a string, or a number drawn as its text (beta = 4 as 4)."""
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (str, int, float, np.integer, np.floating)):
        raise ValueError(f"rate_distortion_figure's points[{i}]['label'] must be a string (or a number), got "
                         f"{kinds.shown(label)}")
    return label


def rate_distortion_figure(points: Sequence[Mapping], title: str = "rate-distortion: what each beta buys") -> Figure:
    """Each trained model as a point (rate = KL, distortion = -E log p(x|z)), both in nats per image.

    ``points``: mappings with ``label``, ``kl`` and ``log_px_z`` (and optionally ``marker``). Dashed lines
    are constant ELBO (rate + distortion = -ELBO): the lower-left, the better the bound; beta-VAE trades along
    the curve, buying a lower rate with more distortion [alemi2018, Fig. 1; higgins2017, Eq. 4].
    """
    title = checks.figure_text("rate_distortion_figure", "title", title)
    if isinstance(points, (str, bytes, Mapping)) or not isinstance(points, Sequence):
        raise ValueError(f"rate_distortion_figure's points must be a list of mappings with 'label', 'kl' and "
                         f"'log_px_z', got {kinds.shown(points)}")
    if not 1 <= len(points) <= kinds.MAX_PANELS:  # one scatter marker and label each
        raise ValueError(f"rate_distortion_figure's points must be 1 to {kinds.MAX_PANELS:,} points, got "
                         f"{len(points):,}")
    for i, p in enumerate(points):
        if not isinstance(p, Mapping) or not {"label", "kl", "log_px_z"} <= set(p):
            raise ValueError(f"rate_distortion_figure's points must be mappings with 'label', 'kl' and 'log_px_z', "
                             f"got {kinds._shown(p)} at {i}")

    def one_each(expected: str, test=lambda t: True):  # one number per point, or matplotlib's "x and y" error
        return checks.measured(f"{expected}, one finite number per point ({len(points)})",
                               lambda t: tuple(t.shape) == (len(points),) and test(t))
    # rate = KL(q(z|x) || p(z)) >= 0 (float32 rounding leaves -1e-6 at most)
    def column(key: str) -> list:  # tensor values (a model's KL) read on the CPU
        return [p[key].detach().cpu() if isinstance(p[key], Tensor) else p[key] for p in points]
    rate = check_kls(one_each("KLs >= 0 (nats)").check("rate_distortion_figure's points' kl", column("kl")),
                     "rate_distortion_figure's points' kl", lambda i: f"point {i}").double().numpy()
    distortion = -one_each("log-likelihoods (nats)").check(
        "rate_distortion_figure's points' log_px_z", column("log_px_z")).double().numpy()
    shown = checks.labels("rate_distortion_figure", "points' labels", [_label(i, p["label"]) for i, p in enumerate(points)])
    markers = [checks.marker("rate_distortion_figure", f"points[{i}]['marker']", p["marker"]) if "marker" in p else "o"
               for i, p in enumerate(points)]
    fig = Figure(figsize=(5.6, 4.2))
    ax = fig.subplots()
    span = max(rate.max(), 1.0)
    for level in np.unique(np.round((rate + distortion) / 10) * 10):
        xs = np.linspace(0, span * 1.15, 50)
        ax.plot(xs, level - xs, ls="--", lw=0.7, color="0.75", zorder=0)
    for label, m, r, d in zip(shown, markers, rate, distortion):
        ax.scatter([r], [d], s=45, marker=m, zorder=3)
        ax.annotate(label, (r, d), textcoords="offset points", xytext=(6, 4), fontsize=9)
    pad = 0.1 * (distortion.max() - distortion.min() + 1.0)
    ax.set_xlim(0, span * 1.15)
    low = distortion.min() - pad  # a density's log p(x|z) may be > 0: the axis then goes below 0
    ax.set_ylim(max(0.0, low) if distortion.min() >= 0 else low, distortion.max() + pad)
    ax.set_xlabel("rate: KL(q(z|x) || p(z))  [nats]")
    ax.set_ylabel("distortion: -E_q log p(x|z)  [nats]")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def kl_per_dimension_figure(kls: Mapping[str, Sequence[float] | Tensor], threshold: float = 0.1,
                            title: str = "KL per latent dimension (batch mean)") -> Figure:
    """One bar chart per model: the mean KL_d of each latent dimension, bars above ``threshold`` (active) dark.

    ``kls``: label -> (D,) per-dimension KLs in nats (e.g. from ``metrics.model_kl_per_dimension``).
    """
    title = checks.figure_text("kl_per_dimension_figure", "title", title)
    if not isinstance(kls, Mapping):
        raise ValueError(f"kl_per_dimension_figure's kls must be a dict of label -> per-dimension KLs, got "
                         f"{kinds.shown(kls)}")
    if not 1 <= len(kls) <= 64:  # one bar chart each, side by side
        raise ValueError(f"kl_per_dimension_figure's kls must hold 1 to 64 models, got {len(kls):,}")
    threshold = kinds.non_negative.check("kl_per_dimension_figure's threshold", threshold)  # a KL is >= 0
    kls = checks.relabel("kl_per_dimension_figure", "kls", kls)  # one panel titled by each key
    kls = {label: kinds.figure_values.check(f"kl_per_dimension_figure's kls[{label!r}]", v).double().cpu()
           for label, v in kls.items()}

    for label, kl in kls.items():
        check_kls(kl, f"kl_per_dimension_figure's kls[{label!r}]", lambda i: f"dimension {i}")
    checks.label_count("kl_per_dimension_figure", "kls", sum(len(v) for v in kls.values()),
                       "one bar and tick label per latent dimension of every model, in all")
    n = len(kls)
    fig = Figure(figsize=(min(3.0 * n, 15.0), 2.9))
    axes = fig.subplots(1, n, squeeze=False, sharey=True)[0]
    top = max(float(np.max(np.asarray(torch.as_tensor(v)))) for v in kls.values())
    for ax, (label, values) in zip(axes, kls.items()):
        values = np.asarray(torch.as_tensor(values, dtype=torch.float64))
        active = values > threshold
        ax.bar(np.arange(len(values)), values, color=np.where(active, "tab:blue", "0.8"))
        ax.axhline(threshold, color="tab:red", lw=0.8, ls=":")
        ax.set_xticks(np.arange(len(values)))
        ax.set_xticklabels([str(i) for i in range(len(values))], fontsize=7)
        ax.set_title(f"{label}: {int(active.sum())} active", fontsize=10)
        ax.set_xlabel("latent d")
        ax.set_ylim(0, top * 1.1 + 1e-6)
    axes[0].set_ylabel("mean KL_d [nats]")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(y) < window:
        return y
    return np.convolve(y, np.ones(window) / window, mode="valid")


def _run_curves(label, history) -> tuple[np.ndarray, dict]:
    """A run's steps and its beta, kl and log_px_z as finite float arrays of one length, or a ValueError naming it."""
    name = f"multiplier_figure's runs[{label!r}]"
    if hasattr(history, "steps") and hasattr(history, "records"):
        steps, records = history.steps, history.records
    elif isinstance(history, Mapping) and {"steps", "records"} <= set(history):
        steps, records = history["steps"], history["records"]
    else:
        raise ValueError(f"{name} must be a History (or a mapping with 'steps' and 'records'), got "
                         f"{kinds.shown(history)}")
    if not isinstance(records, Mapping):
        raise ValueError(f"{name}'s records must be a dict of term -> values, got {kinds.shown(records)}")
    steps = checks.measured("finite steps in increasing order, a list or a 1-D tensor (a curve against the step)",
                            lambda t: t.dim() <= 1 and bool((t.reshape(-1).diff() > 0).all())).check(
        f"{name}'s steps", steps).cpu().double().numpy().reshape(-1)
    out = {}
    for key in ("beta", "kl", "log_px_z"):
        if key not in records:
            raise ValueError(f"run {label!r} has no {key!r} in its history (it has {sorted(records)})")
        kind = checks.measured(f"finite values, one per step ({len(steps)})", lambda t: t.dim() <= 1 and t.numel() == len(steps))
        out[key] = kind.check(f"{name}'s records[{key!r}]", records[key]).cpu().double().numpy().reshape(-1)
    if bool((out["beta"] < 0).any()):  # a Lagrange multiplier of a KL bound is >= 0 [slides, Eq. 8-9]
        raise ValueError(f"{name}'s records['beta'] must be multipliers >= 0, got {out['beta'].min():g} at step "
                         f"{steps[int(out['beta'].argmin())]:g}")

    check_kls(torch.from_numpy(out["kl"]), f"{name}'s records['kl']", lambda i: f"step {steps[i]:g}")
    return steps, out


def multiplier_figure(runs: Mapping[str, object], epsilon: float | None = None, smooth: int = 50,
                      title: str = "the Lagrange multiplier against fixed beta") -> Figure:
    """Three panels against the step: the multiplier beta, the KL (with the bound epsilon) and log p(x|z).

    ``runs``: label -> a History (or any mapping with ``steps`` and ``records``) holding ``beta`` and ``kl``
    and ``log_px_z``. A fixed-beta run draws a flat line in the first panel: the same Lagrangian with its
    multiplier frozen [slides, Eq. 8-9].
    """
    runs = kinds.Kind("a dict of 1 to 64 runs by label, each a History", lambda v: 1 <= len(v) <= 64,
                      lambda v: v if isinstance(v, Mapping) else kinds._REFUSED).check("multiplier_figure's runs", runs)
    epsilon = kinds.non_negative.or_none().check("multiplier_figure's epsilon", epsilon)  # a bound on a KL >= 0
    smooth = kinds.positive_int.check("multiplier_figure's smooth", smooth)
    title = checks.figure_text("multiplier_figure", "title", title)
    runs = checks.relabel("multiplier_figure", "runs", runs)  # the legend's labels
    curves = {}
    for label, history in runs.items():
        curves[label] = _run_curves(label, history)
    fig = Figure(figsize=(13.0, 3.4))
    axes = fig.subplots(1, 3)
    for label, (steps, records) in curves.items():
        for ax, key in zip(axes, ("beta", "kl", "log_px_z")):
            y = _smooth(records[key], 1 if key == "beta" else smooth)
            ax.plot(steps[len(steps) - len(y):], y, label=label, lw=1.6)
    if epsilon is not None:
        axes[1].axhline(epsilon, color="black", ls="--", lw=1, label=f"epsilon = {epsilon:g}")
    for ax, name in zip(axes, ("multiplier beta", "KL [nats]", "log p(x|z) [nats]")):
        ax.set_xlabel("step")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def traversal_row_figure(model, z: Tensor, dim: int, value: float, span: float = 3.0, steps: int = 9,
                         title: str | None = None) -> Figure:
    """The decoded image with latent ``dim`` set to ``value`` (large, left) beside the whole row of that
    dimension traversed over [-span, span] (right), the cell nearest ``value`` framed in red."""
    from vaecourse.viz.images import _code

    model = checks.traversal_model("traversal_row_figure", "model", model)
    z = _code("traversal_row_figure", model, z)  # refused in this function's words, not traversal_images'
    value = kinds.real("a finite latent value", lambda v: True,
                       checks.MAX_TRAVERSAL, "codes are standard normal").check("traversal_row_figure's value", value)
    span = checks.span("traversal_row_figure", span)
    title = checks.title("traversal_row_figure", title)
    steps = kinds.panels.check("traversal_row_figure's steps", steps)
    dim = kinds.non_negative_int.check("traversal_row_figure's dim", dim)
    if dim >= z.numel():
        raise ValueError(f"traversal_row_figure's dim must be a latent dimension 0..{z.numel() - 1} of the model, "
                         f"got {dim}")
    checks.figure_size("traversal_row_figure", "steps", 2.4 + 1.0 * steps, 2.4)
    values = torch.linspace(-span, span, steps)
    row = traversal_images(model, z, [dim], values)[0]  # (V, C, H, W)
    image = traversal_images(model, z, [dim], torch.tensor([float(value)]))[0, 0]  # (C, H, W)
    fig = Figure(figsize=(2.4 + 1.0 * steps, 2.4))
    grid = fig.add_gridspec(2, steps + 3)
    big = fig.add_subplot(grid[:, :2])
    draw_image(big, image)
    big.set_title(f"z{dim} = {value:+.2f}", fontsize=10)
    nearest = int(torch.argmin((values - float(value)).abs()))
    for c in range(steps):
        ax = fig.add_subplot(grid[0, 3 + c])
        draw_image(ax, row[c])
        ax.set_xlabel(f"{values[c].item():.1f}", fontsize=8)
        if c == nearest:
            for spine in ax.spines.values():
                spine.set_edgecolor("tab:red")
                spine.set_linewidth(2.5)
    fig.suptitle(title or f"latent {dim} traversed, the others held at their values")
    return fig


SWEEP_STEPS = 7  # traversal cells per latent in sweep_model_figure (beta_explorer draws it so)


def sweep_panels(who: str, n: int, rows: int, steps: int) -> None:
    """A ValueError naming ``who``'s x unless sweep_model_figure's panels fit in one figure: two per image of x (data
    and reconstruction) and ``rows`` x ``steps`` traversal cells, at most MAX_PANELS."""
    most = (kinds.MAX_PANELS - rows * steps) // 2
    if n > most:
        raise ValueError(f"{checks.owner(who)} x must be at most {max(most, 0):,} images (two panels each, beside "
                         f"{rows} x {steps} traversal cells: at most {kinds.MAX_PANELS:,} panels), got {n:,}")
    checks.figure_size(who, "x, steps and n_latents", 1.0 * max(n, steps + 4), 2.2 + 1.0 * rows)  # sweep_model_figure's


@torch.no_grad()
def sweep_model_figure(model, x: Tensor, label: str, n_latents: int = 5, span: float = 2.5,
                       steps: int = SWEEP_STEPS, threshold: float = 0.1) -> Figure:
    """One model of a beta sweep at a glance: data and reconstructions (top), its per-dimension KL (left)
    and traversals of its ``n_latents`` most informative latents around the first image's code (right)."""
    from vaecourse.metrics.latent_kl import kl_per_dimension

    model = checks.image_model("sweep_model_figure", "model", model)
    label = checks.figure_text("sweep_model_figure", "label", label)
    n_latents = kinds.panels.check("sweep_model_figure's n_latents", n_latents)
    span = checks.span("sweep_model_figure", span)
    steps = kinds.panels.check("sweep_model_figure's steps", steps)
    threshold = kinds.non_negative.check("sweep_model_figure's threshold", threshold)  # a KL is >= 0
    x = checks.model_images("sweep_model_figure", "x", model, x)
    sweep_panels("sweep_model_figure", len(x), min(n_latents, int(model.latent_dim)), steps)
    checks.label_count("sweep_model_figure", "model", int(model.latent_dim), "one bar and tick label per latent")
    q = model.encode(x)
    kl = kl_per_dimension(q.mu, q.logvar).mean(dim=0).cpu()  # (D,)
    recon = model.decode(q.mu).mean.cpu()  # (N, C, H, W)
    order = torch.argsort(kl, descending=True)[:n_latents].tolist()
    values = torch.linspace(-span, span, steps)
    grid = traversal_images(model, q.mu[0].cpu(), order, values)  # (R, V, C, H, W)
    n = x.shape[0]
    cols = max(n, steps + 4)
    fig = Figure(figsize=(1.0 * cols, 2.2 + 1.0 * len(order)))
    spec = fig.add_gridspec(2 + len(order), cols)
    for i in range(n):
        for r, images in enumerate((x.cpu(), recon)):
            ax = fig.add_subplot(spec[r, i])
            draw_image(ax, images[i])
            if i == 0:
                ax.set_ylabel("x" if r == 0 else "x̂", rotation=0, ha="right", va="center")
    bars = fig.add_subplot(spec[2:, :3])
    bars.barh(np.arange(len(kl)), kl.numpy(), color=np.where(kl.numpy() > threshold, "tab:blue", "0.8"))
    bars.invert_yaxis()
    bars.set_yticks(np.arange(len(kl)))
    bars.set_yticklabels([f"z{d}" for d in range(len(kl))], fontsize=7)
    bars.set_xlabel("mean KL_d [nats]")
    for r, d in enumerate(order):
        for c in range(steps):
            ax = fig.add_subplot(spec[2 + r, 4 + c])
            draw_image(ax, grid[r, c])
            if c == 0:
                ax.set_ylabel(f"z{d}", rotation=0, ha="right", va="center", fontsize=8)
            if r == len(order) - 1:
                ax.set_xlabel(f"{values[c].item():.1f}", fontsize=8)
    fig.suptitle(f"{label}: KL {kl.sum().item():.1f} nats, {int((kl > threshold).sum())} active latents")
    return fig


__all__ = ["kl_per_dimension_figure", "multiplier_figure", "rate_distortion_figure", "sweep_model_figure",
           "sweep_panels", "traversal_row_figure"]
