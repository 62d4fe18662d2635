"""Figures of chapter 5: SCM samples, the learned graph, MIC/TIC, intervention grids, the intervention explorer.

Every function returns a :class:`CourseFigure` and draws nothing else (no pyplot state).
Shape letters: n samples, K concepts, V values, C/H/W image.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from vaecourse import values as kinds
from vaecourse.viz import figure as checks
from vaecourse.viz.figure import CourseFigure as Figure
from vaecourse.viz.images import draw_image


def _dict(name: str, expected: str, value, most: int, shown: bool = False) -> Mapping:
    """A dict of 1 to ``most`` items; keyed by its labels when ``shown`` (panels or bars titled by their keys)."""
    kind = kinds.Kind(f"a dict of {expected}" if not expected.startswith("a dict") else expected,
                      lambda v: 1 <= len(v) <= most, lambda v: v if isinstance(v, Mapping) else kinds._REFUSED)
    value = kind.check(name, value)
    if shown:
        who, _, arg = name.partition("'s ")
        value = checks.relabel(who, arg, value)
    return value


def _finite(t: Tensor) -> bool:
    return t.device.type != "meta" and (not t.is_floating_point() or bool(torch.isfinite(t).all()))


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson's correlation of a and b computed on standardised values (each centred and divided by its largest
    deviation first, so neither 1e160 nor 1e-200 over- or underflows the products), or None for a constant one."""
    if len(a) < 2 or a.max() == a.min() or b.max() == b.min():  # (a mean of equal values may round off them)
        return None
    a, b = a - a.mean(), b - b.mean()
    sa, sb = np.abs(a).max(), np.abs(b).max()
    a, b = a / sa, b / sb
    return float(np.clip(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)), -1.0, 1.0))


def scm_scatter_figure(panels: Mapping[str, Mapping[str, Tensor]], x: str, y: str, max_points: int = 1500,
                       title: str | None = None) -> Figure:
    """One scatter plot of (x, y) per panel (e.g. "observational", "do(x2 = 1)"), sharing axes."""
    max_points = kinds.examples.check("scm_scatter_figure's max_points", max_points)
    x, y = checks.figure_text("scm_scatter_figure", "x", x), checks.figure_text("scm_scatter_figure", "y", y)
    title = checks.title("scm_scatter_figure", title)
    panels = _dict("scm_scatter_figure's panels", "1 to 64 panels by name, each a dict of variable -> samples",
                   panels, 64, shown=True)
    for name, sample in panels.items():
        _dict(f"scm_scatter_figure's panels[{name!r}]", "a dict of variable -> samples", sample, 10 ** 6)
        missing = [k for k in (x, y) if k not in sample]
        if missing:
            raise ValueError(f"scm_scatter_figure's x and y must name variables of every panel (panel {name!r} has "
                             f"{sorted(sample)}), got {missing}")
    columns = {}
    for name, sample in panels.items():
        a = checks.measured("one finite value per sample, a 1-D tensor", lambda t: t.dim() == 1 and len(t) >= 1).check(
            f"scm_scatter_figure's panels[{name!r}][{x!r}]", sample[x])
        b = checks.measured(f"one finite value per sample of {x!r} ({len(a)}), a 1-D tensor",
                            lambda t: t.dim() == 1 and len(t) == len(a)).check(
            f"scm_scatter_figure's panels[{name!r}][{y!r}]", sample[y])
        columns[name] = (a.detach().cpu().double().numpy()[:max_points], b.detach().cpu().double().numpy()[:max_points])
    fig = Figure(figsize=(3.2 * len(panels), 3.0))
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharex=True, sharey=True))
    for ax, (name, (a, b)) in zip(axes, columns.items()):
        ax.scatter(a, b, s=4, alpha=0.4)
        r = _correlation(a, b)
        corr = f"corr = {r:+.2f}" if r is not None else \
            "corr undefined (" + ("one point" if len(a) < 2 else "a constant variable") + ")"
        ax.set_title(f"{name}\n{corr}", fontsize=9)
        ax.set_xlabel(x)
    axes[0].set_ylabel(y)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def adjacency_figure(learned: Tensor, true: Tensor, names: Sequence[str], threshold: float = 0.3,
                     title: str | None = None) -> Figure:
    """The learned A (weights, with thresholded edges marked) beside the true graph; rows cause columns."""
    names = checks.names("adjacency_figure", "names", names, distinct=True)
    if len(names) > MAX_CONCEPTS:  # one text per cell of two k x k matrices
        raise ValueError(f"adjacency_figure's names must name 1 to {MAX_CONCEPTS} concepts (one row and column each), "
                         f"got {len(names):,}")
    title = checks.title("adjacency_figure", title)
    k = len(names)
    checks.panel_count("adjacency_figure", "names", 2 * k * k, "one text per cell of two k x k matrices")
    square = checks.measured(f"a finite ({k}, {k}) matrix, one row and column per name in names",
                             lambda t: tuple(t.shape) == (k, k))
    learned = square.check("adjacency_figure's learned", learned).detach().cpu().numpy()
    if getattr(true, "dtype", None) in (torch.bool, np.bool_):  # a boolean graph is a graph, as in scm.check_adjacency
        true = torch.as_tensor(true).float()
    true = square.check("adjacency_figure's true", true).detach().cpu().numpy()
    threshold = kinds.non_negative.check("adjacency_figure's threshold", threshold)  # on |A_ij|
    fig = Figure(figsize=(8.4, 3.6))
    axes = fig.subplots(1, 2)
    bound = max(1e-6, float(np.abs(learned).max()), 1.0)
    for ax, matrix, label in ((axes[0], learned, "learned A"), (axes[1], true, "true graph")):
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-bound, vmax=bound)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_title(label)
        ax.set_xlabel("effect (column)")
        for i in range(len(names)):
            for j in range(len(names)):
                edge = abs(matrix[i, j]) > threshold
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        fontweight="bold" if edge else "normal", color="black")
    axes[0].set_ylabel("cause (row)")
    axes[1].set_yticks(range(len(names)), [])
    fig.subplots_adjust(left=0.2, right=0.86, bottom=0.3, top=0.82, wspace=0.08)
    fig.colorbar(image, cax=fig.add_axes((0.89, 0.3, 0.02, 0.52)))
    fig.suptitle(title or f"A[i, j] != 0: edge i -> j (bold: |A| > {threshold})")
    return fig


MAX_CONCEPTS = 64  # concepts (or models) drawn side by side in one row of panels


def ownership_figure(owned: Tensor, names: Sequence[str], image: Tensor | None = None,
                     title: str = "which pixels each concept owns, learned (mean over test images)") -> Figure:
    """One panel per concept: owned_i(p) (K, H, W) in [0, 1] (``CausalVAE.ownership``, averaged), after an example
    image (C, H, W) when given."""
    names = checks.names("ownership_figure", "names", names, distinct=True)
    if len(names) > MAX_CONCEPTS:  # one row of panels, 2.2 inches each
        raise ValueError(f"ownership_figure's names must name 1 to {MAX_CONCEPTS} concepts (one panel each, in one "
                         f"row), got {len(names):,}")
    # owned_i(p) is a share of pixel p (the decoder's softmax over concepts): in [0, 1] up to float32 rounding
    owned = kinds.numbers(f"finite shares (K, H, W) in [0, 1], one per name in names ({len(names)})",
                          lambda t: t.dim() == 3 and len(t) == len(names) >= 1 and min(t.shape) >= 1
                          and t.numel() <= 2 ** 24 and bool(((t >= -1e-6) & (t <= 1 + 1e-6)).all())).check(
        "ownership_figure's owned", owned)
    owned = owned.detach().cpu()
    names = checks.names("ownership_figure", "names", names, len(owned))
    title = checks.figure_text("ownership_figure", "title", title)
    if image is not None:
        image = checks.images("ownership_figure", "image", image, kinds.numbers(
            f"one finite image (C, H, W) of 1, 3 or 4 channels, of the shares' size {tuple(owned.shape[1:])}",
            lambda t: t.dim() == 3 and t.shape[0] in (1, 3, 4) and tuple(t.shape[1:]) == tuple(owned.shape[1:])))
    panels = len(names) + (image is not None)
    fig = Figure(figsize=(2.2 * panels, 2.5))
    axes = np.atleast_1d(fig.subplots(1, panels))
    if image is not None:
        draw_image(axes[0], image)
        axes[0].set_title("an observed image", fontsize=9)
    for ax, name, share in zip(axes[panels - len(names):], names, owned):
        shown = ax.imshow(share.numpy(), cmap="magma", vmin=0, vmax=1)
        ax.set_title(f"{name}: {float(share.sum()):.0f} px", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    fig.subplots_adjust(left=0.02, right=0.9, bottom=0.05, top=0.78, wspace=0.08)
    fig.colorbar(shown, cax=fig.add_axes((0.92, 0.1, 0.012, 0.62)))
    fig.suptitle(title, fontsize=10)
    return fig


# MIC and TIC are in [0, 1] [yang2021, Table 1]; the bars are drawn on a fixed axis from 0 to 1.1
_score = kinds.numbers("a score in [0, 1]: a finite number (or a 0-d tensor)", lambda t: t.dim() == 0
                       and bool((t >= 0) & (t <= 1)))


def _upper(text: str) -> str:
    """``text`` upper-cased outside its $...$ math (r"$\\beta$" stays itself: r"$\\BETA$" is no command); the
    split is matplotlib's: at each '$' not escaped as '\\$' (figure_text has checked they pair up)."""
    parts = re.split(r"(?<!\\)\$", text)
    return "$".join(part if i % 2 else part.upper() for i, part in enumerate(parts))


def score_figure(scores: Mapping[str, Mapping[str, float]], keys: Sequence[str] = ("mic", "tic"),
                 title: str = "MIC and TIC with the true concepts (best-matching latent, mean over concepts)") -> Figure:
    """Grouped bars: one group per score key, one bar per model; scores in [0, 1] (MIC, normalised TIC)."""
    keys = checks.names("score_figure", "keys", keys, distinct=True, drawn=_upper)  # 'mic' and 'MIC': one label
    checks.label_count("score_figure", "keys", len(keys), "one group of bars and tick label per key")
    title = checks.figure_text("score_figure", "title", title)
    scores = _dict("score_figure's scores", f"1 to {MAX_CONCEPTS} models by name, each a dict of score name -> score",
                   scores, MAX_CONCEPTS, shown=True)
    for model, row in scores.items():
        row = _dict(f"score_figure's scores[{model!r}]", "a dict of score name -> score", row, 10 ** 6)
        missing = [k for k in keys if k not in row]
        if missing:
            raise ValueError(f"score_figure's scores[{model!r}] must hold every key in keys {keys}, got "
                             f"{sorted(map(str, row))} (missing {missing})")
        for k in keys:
            _score.check(f"score_figure's scores[{model!r}][{k!r}]", row[k])
    models = list(scores)
    checks.panel_count("score_figure", "scores and keys", len(models) * len(keys), "one labelled bar per model and key")
    fig = Figure(figsize=(6.0, 3.2))
    ax = fig.subplots()
    width = 0.8 / max(1, len(models))
    for m, model in enumerate(models):
        values = [float(_score.convert(scores[model][k])) for k in keys]
        bars = ax.bar(np.arange(len(keys)) + m * width, values, width, label=model)
        for bar, v in zip(bars, values):
            ax.text(bar.get_x() + bar.get_width() / 2, v + 0.01, f"{v:.2f}", ha="center", fontsize=8)
    ax.set_xticks(np.arange(len(keys)) + width * (len(models) - 1) / 2, [_upper(k) for k in keys])
    ax.set_ylim(0, 1.1)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def mic_matrix_figure(matrices: Mapping[str, np.ndarray], concept_names: Sequence[str]) -> Figure:
    """MIC of each latent (rows) with each concept (columns), one panel per model."""
    from vaecourse.viz.metrics import _matrices

    concept_names = checks.names("mic_matrix_figure", "concept_names", concept_names, distinct=True)
    matrices = _matrices("mic_matrix_figure", matrices, concept_names, "concept_names")
    checks.label_count("mic_matrix_figure", "concept_names", len(matrices) * len(concept_names),
                       "one tick label per concept in every model's panel, in all")
    checks.panel_count("mic_matrix_figure", "matrices", sum(m.size for m in matrices.values() if m.shape[0] <= 8),
                       "one text per cell of every matrix of at most 8 latents")
    for name, matrix in matrices.items():  # MIC is in [0, 1]: anything else is another score, drawn on MIC's scale
        if matrix.size and not (matrix.min() >= 0 and matrix.max() <= 1):
            raise ValueError(f"mic_matrix_figure's matrices[{name!r}] must hold MIC values in [0, 1], got values from "
                             f"{matrix.min():g} to {matrix.max():g}")
    fig = Figure(figsize=(3.4 * len(matrices), 3.4))
    axes = np.atleast_1d(fig.subplots(1, len(matrices)))
    for ax, (name, matrix) in zip(axes, matrices.items()):
        ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(concept_names)), concept_names, rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("latent")
        ax.set_title(name, fontsize=9)
        if matrix.shape[0] <= 8:
            for i in range(matrix.shape[0]):
                for j in range(matrix.shape[1]):
                    ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7, color="white")
    fig.tight_layout()
    return fig


def _has_bool(value) -> bool:
    """A bool anywhere in a nested list, or a bool tensor or array."""
    if isinstance(value, (bool, np.bool_)):
        return True
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return value.dtype in (torch.bool, np.bool_)
    return isinstance(value, (list, tuple)) and any(_has_bool(v) for v in value)


def intervention_grid_figure(model_images: Tensor, true_images: Tensor, concept_names: Sequence[str],
                             values: Sequence[Sequence[float]] | None = None,
                             title: str = "do(concept = value): model (left) and simulator (right)") -> Figure:
    """Two grids side by side, rows: the concept intervened on; columns: the values. (K, V, C, H, W) each."""
    concept_names = checks.names("intervention_grid_figure", "concept_names", concept_names, distinct=True)
    title = checks.figure_text("intervention_grid_figure", "title", title)
    # the figure draws both grids and a spacer per row: K x (2 V + 1) panels
    grids = kinds.numbers(f"finite images (K, V, C, H, W): one row per concept in concept_names "
                          f"({len(concept_names)}), K x (2 V + 1) at most {kinds.MAX_PANELS:,} panels (both grids and "
                          "a spacer)", lambda t: t.dim() == 5 and len(t) == len(concept_names) >= 1
                          and t.shape[2] in (1, 3, 4) and 1 <= t.shape[0] * (2 * t.shape[1] + 1) <= kinds.MAX_PANELS)
    model_images = checks.images("intervention_grid_figure", "model_images", model_images, grids)
    true_images = checks.images("intervention_grid_figure", "true_images", true_images, grids)
    if model_images.shape != true_images.shape:
        raise ValueError(f"intervention_grid_figure's true_images must have model_images' shape "
                         f"{tuple(model_images.shape)}, got {tuple(true_images.shape)}")
    k, v = model_images.shape[:2]
    if values is not None:
        if _has_bool(values):  # True would be titled +1.00
            raise ValueError(f"intervention_grid_figure's values must be finite numbers (K, V) = {(k, v)}, not "
                             f"bools, got {kinds.shown(values)}")
        values = checks.measured(f"finite values (K, V) = {(k, v)}: one per image of the grids",
                                 lambda t: tuple(t.shape) == (k, v)).check("intervention_grid_figure's values", values)
        values = values.detach().cpu().double().tolist()
    fig = Figure(figsize=checks.figure_size("intervention_grid_figure", "model_images", 1.0 * (2 * v + 1), 1.05 * k + 0.6))
    axes = fig.subplots(k, 2 * v + 1, squeeze=False)
    for i in range(k):
        for j in range(v):
            draw_image(axes[i, j], model_images[i, j])
            draw_image(axes[i, v + 1 + j], true_images[i, j])
            if values is not None:
                axes[i, j].set_title(f"{values[i][j]:+.2f}", fontsize=6, pad=1)
                axes[i, v + 1 + j].set_title(f"{values[i][j]:+.2f}", fontsize=6, pad=1)
        axes[i, v].axis("off")
        axes[i, 0].set_ylabel(concept_names[i], rotation=0, ha="right", va="center", fontsize=8)
    axes[0, v // 2].annotate("model counterfactual", (0.5, 1.35), xycoords="axes fraction", ha="center", fontsize=9)
    axes[0, v + 1 + v // 2].annotate("simulator (truth)", (0.5, 1.35), xycoords="axes fraction", ha="center", fontsize=9)
    fig.suptitle(title, fontsize=10, y=0.99)
    fig.subplots_adjust(wspace=0.05, hspace=0.35, top=1 - 0.9 / (1.05 * k + 0.6))
    return fig


def pendulum_reference_figure(official: Tensor, simulated: Tensor, small: Tensor | None = None,
                              titles: Sequence[str] | None = None) -> Figure:
    """The paper's images (top row) above the simulator's images of the same concepts (second row) and, if given,
    the simulator at the size the models see (third row, each pixel drawn as a block). (n, 3, H, W) each. Pure."""
    official = checks.images("pendulum_reference_figure", "official", official)
    n = official.shape[0]
    same = kinds.numbers(f"the same number of images as official ({n}): finite images (n, C, H, W) of 1, 3 or 4 channels",
                         lambda t: kinds.figure_images.test(t) and len(t) == n)
    simulated = checks.images("pendulum_reference_figure", "simulated", simulated, same)
    small = None if small is None else checks.images("pendulum_reference_figure", "small", small, same)
    titles = checks.names("pendulum_reference_figure", "titles", titles, n, optional=True)
    rows = [("paper's\ngenerator", official), ("simulator\n96 x 96", simulated)]
    if small is not None:
        rows.append((f"simulator\n{small.shape[-1]} x {small.shape[-2]}", small))
    checks.panel_count("pendulum_reference_figure", "official", len(rows) * n,
                       f"{len(rows)} per image: the paper's, the simulator's" + (" and the small one" if small is not None else ""))
    fig = Figure(figsize=checks.figure_size("pendulum_reference_figure", "official", 1.6 * n + 1.0,
                                            1.6 * len(rows) + 0.3))
    axes = fig.subplots(len(rows), n, squeeze=False)
    for r, (label, images) in enumerate(rows):
        for k in range(n):
            draw_image(axes[r, k], images[k])
            if r == 0 and titles is not None:
                axes[r, k].set_title(titles[k], fontsize=7)
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    return fig


_DATASET_PARTS = ("concept_names", "labels", "from_labels", "label_ranges", "render_concepts", "counterfactual")


def concept_dataset(who: str, dataset):
    """A simulator of concepts with labels and counterfactuals (a vaecourse.data.Pendulum)."""
    kind = kinds.Kind("a concept simulator such as vaecourse.data.Pendulum (with labels, from_labels, label_ranges, "
                      "render_concepts and counterfactual)", lambda d: all(hasattr(d, a) for a in _DATASET_PARTS))
    return kind.check(f"{checks.owner(who)} dataset", dataset)


def scene_concepts(who: str, dataset, concepts) -> Tensor:
    """One scene's true concept values, (K,) or (1, K) finite numbers, as a (1, K) float64 tensor."""
    k = len(dataset.concept_names)
    kind = checks.measured(f"one scene's {k} finite concept values ({', '.join(dataset.concept_names)})",
                           lambda t: t.numel() == k and (t.dim() == 1 or t.dim() == 2 and len(t) == 1))
    return kind.check(f"{checks.owner(who)} concepts", concepts).detach().cpu().double().reshape(1, -1)


def render_intervention(counterfactual_fn: Callable, dataset, concepts: Tensor,
                        interventions: Mapping[int, float], concept_names: Sequence[str] | None = None) -> Figure:
    """The intervention explorer's figure: the scene, the model's counterfactual under do(z_i = c_i) and the
    simulator's true counterfactual. ``concepts`` (4,) are the scene's true concept values; ``interventions``
    map concept index -> label value; ``counterfactual_fn(x, u, interventions) -> images``. Pure."""
    counterfactual_fn = kinds.function.check("render_intervention's counterfactual_fn", counterfactual_fn)
    dataset = concept_dataset("render_intervention", dataset)
    interventions = kinds.mapping.check("render_intervention's interventions", interventions)
    checks.labels("render_intervention", "interventions", interventions)  # 1 and tensor(1): one concept, twice
    names = list(dataset.concept_names) if concept_names is None else \
        checks.names("render_intervention", "concept_names", concept_names, len(dataset.concept_names), distinct=True)
    wrong = [i for i in interventions if kinds.non_negative_int.convert(i) not in range(len(names))]
    if wrong:  # 1.0 is no index (names[1.0] fails), True is none either
        raise ValueError(f"render_intervention's interventions must map concept indices 0..{len(names) - 1} "
                         f"({', '.join(names)}), ints, to values, got {wrong}")
    interventions = {kinds.non_negative_int.convert(i): v for i, v in interventions.items()}
    for (i, value), (lo, hi) in zip(sorted(interventions.items()), [dataset.label_ranges()[i]
                                                                     for i in sorted(interventions)]):
        value = kinds.finite.check(f"render_intervention's interventions[{i}]", value)
        if not lo - 1e-6 * (hi - lo) <= value <= hi + 1e-6 * (hi - lo):  # as the simulator allows (_in_range)
            raise ValueError(f"render_intervention's interventions[{i}] must be a label value of {names[i]} the "
                             f"simulator accepts (dataset.label_ranges(): {lo:.3g} to {hi:.3g}), got {value:g}")
    concepts = scene_concepts("render_intervention", dataset, concepts)
    u = dataset.labels(concepts)
    x = dataset.render_concepts(concepts)
    model_cf = counterfactual_fn(x, u, dict(interventions))
    if not isinstance(model_cf, torch.Tensor) or model_cf.shape != x.shape or not _finite(model_cf) \
            or not model_cf.is_floating_point():  # bytes 0..255 would be drawn clamped to white
        raise ValueError(f"render_intervention's counterfactual_fn must return finite images of the scene's shape "
                         f"{tuple(x.shape)}, floating (in [0, 1]: divide bytes by 255), got {kinds.shown(model_cf)}")
    real = {}
    for i, value in interventions.items():
        real[dataset.concept_names[i]] = float(dataset.from_labels(torch.full((1, len(names)), float(value)))[0, i])
    true_cf, cf_concepts = dataset.counterfactual(concepts, **real)
    fig = Figure(figsize=(7.5, 2.9))
    axes = fig.subplots(1, 3)
    what = ", ".join(f"{names[i]} = {v:+.2f}" for i, v in interventions.items()) or "nothing"
    for ax, image, label in ((axes[0], x[0], "the scene"), (axes[1], model_cf[0], "model: do(" + what + ")"),
                             (axes[2], true_cf[0], "simulator: the truth")):
        draw_image(ax, image)
        ax.set_title(label, fontsize=8)
    axes[2].set_xlabel(", ".join(f"{n[:8]} {c:.2f}" for n, c in zip(names, cf_concepts[0].tolist())), fontsize=6)
    fig.tight_layout()
    return fig


__all__ = ["adjacency_figure", "intervention_grid_figure", "mic_matrix_figure", "ownership_figure",
           "pendulum_reference_figure",
           "render_intervention", "score_figure", "scm_scatter_figure"]
