"""Thin ipywidgets wiring: sliders in, a figure from :mod:`vaecourse.viz` out.

No plotting logic lives here (DESIGN.md §4): each explorer names a pure render function that tests
call headless, and only connects sliders to it with ``continuous_update=False``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vaecourse import values as kinds
from vaecourse.viz import figure as checks
from vaecourse.viz import traversal_figure


def _drawn_first(who: str, inner: str, draw):
    """An explorer's first figure, drawn at the call (``draw()``, ``inner`` the figure function's name): what its
    figure refuses is one line naming the explorer here, not a traceback in the widget's output area (a
    counterfactual_fn of another image size, a model that gives NaN). Returns ``take(draw_now)`` for ``show``: the
    first figure the first time (the sliders start where it was drawn), a new one after."""
    try:
        first = [draw()]
    except ValueError as err:
        raise ValueError(str(err).replace(inner, who, 1)) from None
    return lambda draw_now: first.pop() if first else draw_now()


def render_traversal(model, z: torch.Tensor, dim: int, value: float, span: float = 3.0, steps: int = 9):
    """The figure the traversal explorer shows: row ``dim`` traversed over [-span, span], and the
    decoded image at ``value`` framed in red. Pure: same inputs, same figure."""
    model = checks.traversal_model("render_traversal", "model", model)
    dim = kinds.non_negative_int.check("render_traversal's dim", dim)
    if dim >= int(model.latent_dim):  # traversal_figure would name its own highlight
        raise ValueError(f"render_traversal's dim must be a latent dimension 0..{int(model.latent_dim) - 1} of the "
                         f"model, got {dim}")
    span = checks.span("render_traversal", span)
    value = kinds.real(f"a finite number in [-span, span] = [{-span:g}, {span:g}] (the row drawn, where the frame "
                       "goes)", lambda v: abs(v) <= span).check("render_traversal's value", value)
    values = np.linspace(-span, span, kinds.panels.check("render_traversal's steps", steps))
    return traversal_figure(model, z, dims=[dim], values=values, highlight=(dim, value),
                            title=f"z{dim} = {value:+.2f} (others held at their values)")


def traversal_explorer(model, z: torch.Tensor, span: float = 3.0):
    """Sliders for a latent dimension and its value; shows that row of the traversal."""
    import ipywidgets as widgets
    from IPython.display import display

    from vaecourse.viz.images import _code

    model = checks.traversal_model("traversal_explorer", "model", model)
    z = _code("traversal_explorer", model, z)
    span = checks.span("traversal_explorer", span)
    dim = widgets.IntSlider(value=0, min=0, max=z.numel() - 1, description="latent", continuous_update=False)
    value = widgets.FloatSlider(value=0.0, min=-span, max=span, step=0.25, description="value",
                                continuous_update=False)

    take = _drawn_first("traversal_explorer", "render_traversal", lambda: render_traversal(model, z, 0, 0.0, span=span))

    def show(dim: int, value: float) -> None:
        display(take(lambda: render_traversal(model, z, dim, value, span=span)))

    out = widgets.interactive_output(show, {"dim": dim, "value": value})
    return widgets.VBox([widgets.HBox([dim, value]), out])


__all__ = ["render_traversal", "traversal_explorer"]


# ---- chapter 2 (beta-VAE): explorers over several models --------------------------------------------
def sweep_traversal_explorer(models: dict, x: torch.Tensor, span: float = 3.0):
    """Pick a model (e.g. of a beta sweep), a latent dimension and its value; shows the decoded image and
    the whole traversal row around the code mu(x) of the first image (``viz.traversal_row_figure``)."""
    import ipywidgets as widgets
    from IPython.display import display

    from vaecourse.viz.beta import traversal_row_figure

    models = checks.models("sweep_traversal_explorer", models, checks.image_model)
    models = checks.relabel("sweep_traversal_explorer", "models", models)  # the Dropdown's options: distinct text
    x = checks.images("sweep_traversal_explorer", "x", x)
    span = checks.span("sweep_traversal_explorer", span)
    labels = list(models)
    codes = {label: _codes("sweep_traversal_explorer", label, model, x[:1])[0] for label, model in models.items()}
    sizes = {label: int(model.latent_dim) for label, model in models.items()}
    choice = widgets.Dropdown(options=labels, value=labels[0], description="model")
    dim = widgets.IntSlider(value=0, min=0, max=sizes[labels[0]] - 1, description="latent", continuous_update=False)
    value = widgets.FloatSlider(value=0.0, min=-span, max=span, step=0.25, description="value",
                                continuous_update=False)

    def follow(change) -> None:  # the latent slider offers the chosen model's latents (it clips its value)
        dim.max = sizes[change["new"]] - 1

    choice.observe(follow, names="value")  # registered first: runs before the figure is drawn again

    def draw(label: str, dim: int, value: float):
        return traversal_row_figure(models[label], codes[label], dim, value, span=span,
                                    title=f"{label}: latent {dim} traversed around mu(x)")

    take = _drawn_first("sweep_traversal_explorer", "traversal_row_figure", lambda: draw(labels[0], 0, 0.0))

    def show(label: str, dim: int, value: float) -> None:
        dim = min(dim, sizes[label] - 1)
        display(take(lambda: draw(label, dim, value)))

    out = widgets.interactive_output(show, {"label": choice, "dim": dim, "value": value})
    return widgets.VBox([widgets.HBox([choice, dim, value]), out])


def _codes(who: str, label: str, model, x: torch.Tensor) -> torch.Tensor:
    """The codes mu(x) a sweep explorer draws from, finite: a model whose weights overflow gives NaN codes, which
    each slider position would answer with a traceback in the output area instead of one line here."""
    codes = model.embed(checks.model_images(who, "x", model, x, f"models[{label!r}]")).detach().cpu()
    if not bool(torch.isfinite(codes).all()):
        raise ValueError(f"{who}'s models[{label!r}] encodes x to NaN or inf codes (its weights overflow float32); "
                         "load it or train it again")
    return codes


def beta_explorer(models: dict, x: torch.Tensor, n_latents: int = 5):
    """Slide through the models of a beta sweep: reconstructions, per-dimension KL and the traversals of the
    most informative latents of each (``viz.sweep_model_figure``); a second slider picks the image."""
    import ipywidgets as widgets
    from IPython.display import display

    from vaecourse.viz.beta import SWEEP_STEPS, sweep_model_figure, sweep_panels

    models = checks.models("beta_explorer", models, checks.image_model)
    models = checks.relabel("beta_explorer", "models", models)  # sweep_model_figure's label
    n_latents = kinds.panels.check("beta_explorer's n_latents", n_latents)
    x = checks.images("beta_explorer", "x", x)
    for label, model in models.items():  # the images must be what each model reads (its image shape)
        _codes("beta_explorer", label, model, x)  # (what each slider position draws from)
        sweep_panels("beta_explorer", len(x), min(n_latents, int(model.latent_dim)), SWEEP_STEPS)  # all x is drawn
    labels = list(models)
    choice = widgets.SelectionSlider(options=labels, value=labels[0], description="model", continuous_update=False)
    example = widgets.IntSlider(value=0, min=0, max=x.shape[0] - 1, description="image", continuous_update=False)

    def draw(label: str, example: int):
        order = [example] + [i for i in range(x.shape[0]) if i != example]  # traversals start from this image
        return sweep_model_figure(models[label], x[order], label, n_latents=n_latents)

    take = _drawn_first("beta_explorer", "sweep_model_figure", lambda: draw(labels[0], 0))

    def show(label: str, example: int) -> None:
        display(take(lambda: draw(label, example)))

    out = widgets.interactive_output(show, {"label": choice, "example": example})
    return widgets.VBox([widgets.HBox([choice, example]), out])


__all__ += ["beta_explorer", "sweep_traversal_explorer"]
# ---- chapter 5: the intervention explorer -----------------------------------------------------------
SLIDER_STEP = 0.05


def _outside(dataset, labels: list[float], shown: list[float] | None = None) -> list[str]:
    """The concepts whose label value lies outside ``dataset.label_ranges()``, in words (with ``shown``'s value
    beside it when given: the scene's own units). A millionth of the range's width is allowed on either side, as
    the simulator allows it (pendulum._in_range): float32 labels of a scene on a bound (4.400000095 for 4.4) land
    that far outside."""
    return [f"{name} {v:.3g}" + ("" if shown is None else f" (scene value {shown[k]:.3g})")
            + f" (accepted {lo:.3g} to {hi:.3g})" for k, (name, v, (lo, hi))
            in enumerate(zip(dataset.concept_names, labels, dataset.label_ranges()))
            if not lo - 1e-6 * (hi - lo) <= v <= hi + 1e-6 * (hi - lo)]


def intervention_ranges(dataset, span: float = 1.2, include=None) -> list[tuple[float, float]]:
    """Each concept's slider range: [-span, span] cut to the label values the simulator accepts
    (``dataset.label_ranges()``: below -0.93 a shadow length is negative), on the slider's step grid.

    ``include`` (one label value per concept, e.g. a scene's own ``dataset.labels(concepts)[0]``) widens each range
    to hold that value rounded to 2 decimals (what the slider starts at), whatever the span: the scene itself, "no
    intervention", stays a position of every slider."""
    from vaecourse.viz.causal import concept_dataset

    span = kinds.positive.check("intervention_ranges' span", span)
    dataset = concept_dataset("intervention_ranges", dataset)
    accepted = list(dataset.label_ranges())
    if include is not None:
        include = kinds.numbers(f"one finite label value per concept ({len(accepted)})",
                                lambda t: t.numel() == len(accepted)).check("intervention_ranges' include", include)
        include = include.flatten().tolist()
        outside = _outside(dataset, include)
        if outside:
            raise ValueError("intervention_ranges' include must be label values the simulator accepts "
                             f"(dataset.label_ranges()), got {'; '.join(outside)}")
    out = []
    for k, (lo, hi) in enumerate(accepted):
        lo = math.ceil(max(-span, lo) / SLIDER_STEP - 1e-9) * SLIDER_STEP
        hi = math.floor(min(span, hi) / SLIDER_STEP + 1e-9) * SLIDER_STEP
        if include is not None:
            v = round(include[k], 2)
            lo, hi = min(lo, v), max(hi, v)
        out.append((round(lo, 2), round(hi, 2)))
    return out


def intervention_explorer(counterfactual_fn, dataset, concepts, span: float = 1.2):
    """One slider per concept, each starting at the scene's own (label-scale) value: a slider moved away from it
    sets do(z_i = c). Shows the model's counterfactual beside the simulator's (viz.causal.render_intervention)."""
    import ipywidgets as widgets
    from IPython.display import display

    from vaecourse.viz.causal import render_intervention

    from vaecourse.viz.causal import concept_dataset, scene_concepts

    counterfactual_fn = kinds.function.check("intervention_explorer's counterfactual_fn", counterfactual_fn)
    dataset = concept_dataset("intervention_explorer", dataset)
    concepts = scene_concepts("intervention_explorer", dataset, concepts)
    span = kinds.positive.check("intervention_explorer's span", span)
    start = dataset.labels(concepts)[0].tolist()
    outside = _outside(dataset, start, concepts[0].tolist())
    if outside:  # a scene the simulator cannot draw (render_concepts refuses it)
        raise ValueError(f"intervention_explorer's concepts must be a scene inside the simulator's ranges (its "
                         f"labels within dataset.label_ranges()), got labels {'; '.join(outside)}")
    ranges = intervention_ranges(dataset, span, include=start)  # each holds the scene's own value
    sliders = {f"c{i}": widgets.FloatSlider(value=round(v, 2), min=lo, max=hi, step=SLIDER_STEP,
                                            description=name[:14], continuous_update=False)
               for i, (name, v, (lo, hi)) in enumerate(zip(dataset.concept_names, start, ranges))}

    take = _drawn_first("intervention_explorer", "render_intervention",
                        lambda: render_intervention(counterfactual_fn, dataset, concepts, {}))  # the scene itself

    def show(**values) -> None:
        moved = {i: values[f"c{i}"] for i in range(len(start)) if abs(values[f"c{i}"] - round(start[i], 2)) > 1e-9}
        display(take(lambda: render_intervention(counterfactual_fn, dataset, concepts, moved)))

    out = widgets.interactive_output(show, sliders)
    return widgets.VBox([widgets.HBox(list(sliders.values())[:2]), widgets.HBox(list(sliders.values())[2:]), out])


__all__ += ["intervention_explorer", "intervention_ranges"]
