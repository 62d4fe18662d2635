"""The Figure class every viz function returns: a matplotlib Figure that shows itself in notebooks.

It is built without pyplot (so nothing is drawn twice and nothing leaks between calls) and
carries ``_repr_png_``, so ``display(fig)`` or a figure left as a cell's last value renders as a
PNG in JupyterLab, Colab, nbconvert and the static course site, with or without ``%matplotlib``.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure


class CourseFigure(Figure):
    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=self.dpi, bbox_inches="tight")
        return buffer.getvalue()


# ---- the checks the figure functions and the widgets share (vaecourse.values' kinds, built for figures) ----------
def owner(who: str) -> str:
    """``who``'s possessive: "score_bars'" , "image_grid's"."""
    return f"{who}'" if who.endswith("s") else f"{who}'s"


def model_images(who: str, name: str, model, x, label: str = "model"):
    """``x`` checked as images the model reads (its image shape), in the model's dtype and on its device."""
    from vaecourse import values as kinds
    shape = tuple(model.image_shape)
    kind = kinds.numbers(f"finite images (N, {', '.join(map(str, shape))}) of {label}'s image shape, 1 to "
                         f"{kinds.MAX_PANELS:,} of them", lambda t: t.dim() == 4 and tuple(t.shape[1:]) == shape
                         and 1 <= len(t) <= kinds.MAX_PANELS)
    kind.check(f"{owner(who)} {name}", x)
    return model.check_input(x if isinstance(x, __import__("torch").Tensor) else kind.convert(x))


def _is_texts(value) -> bool:
    return all(isinstance(v, str) for v in value)


def title(who: str, value, name: str = "title"):
    """A figure's title: a string or None (the function's own default then)."""
    from vaecourse import values as kinds
    return kinds.text.or_none().check(f"{owner(who)} {name}", value)


def names(who: str, name: str, value, count: int | None = None, optional: bool = False) -> list | None:
    """A list of strings (labels, titles, names), of ``count`` items when given; None when ``optional``."""
    from vaecourse import values as kinds
    if value is None and optional:
        return None
    expected = "a list of strings" + ("" if count is None else f" with one item per panel ({count})")
    kind = kinds.sequence(expected, lambda v: _is_texts(v) and (len(v) >= 1 if count is None else len(v) == count))
    return list(kind.check(f"{owner(who)} {name}", value))


def traversal_model(who: str, name: str, model):
    """A model whose ``decode`` takes its whole latent code (latent_dim numbers): a VAE, a CausalVAE or one layer of
    a Ladder VAE (:class:`PriorUnitsDecoder`, what ``show`` and chapter 4 traverse), not a LadderVAE itself (its code
    stacks every layer; decode reads only the bottom one)."""
    from vaecourse import values as kinds
    from vaecourse.models.base import CourseModel
    from vaecourse.models.ladder import LadderVAE, PriorUnitsDecoder
    kind = kinds.Kind("a course model whose decode takes its whole latent code (a VAE; a LadderVAE's code stacks "
                      "its layers: traverse one layer with models.ladder.PriorUnitsDecoder)",
                      lambda m: isinstance(m, (CourseModel, PriorUnitsDecoder)) and not isinstance(m, LadderVAE))
    return kind.check(f"{owner(who)} {name}", model)


def image_model(who: str, name: str, model):
    """A model of images alone (a VAE of a beta sweep): not label-conditioned, not a LadderVAE."""
    from vaecourse import values as kinds
    from vaecourse.models.base import CourseModel
    from vaecourse.models.ladder import LadderVAE
    kind = kinds.Kind("a VAE of images alone (not a label-conditioned model, not a LadderVAE)",
                      lambda m: isinstance(m, CourseModel) and not m.takes_labels and not isinstance(m, LadderVAE))
    return kind.check(f"{owner(who)} {name}", model)


def models(who: str, value, check) -> dict:
    """``value``: a non-empty dict label -> model (at most MAX_PANELS), each passing ``check(who, name, model)``."""
    from vaecourse import values as kinds
    kind = kinds.Kind(f"a dict of at least one model (at most {kinds.MAX_PANELS:,}) by label (e.g. {{'beta = 4': model}})",
                      lambda v: isinstance(v, dict) and 1 <= len(v) <= kinds.MAX_PANELS)
    value = kind.check(f"{owner(who)} models", value)
    return {label: check(who, f"models[{label!r}]", model) for label, model in value.items()}


MAX_TRAVERSAL = 1_000.0  # a latent value (codes are standard normal: 1,000 standard deviations already show nothing new)


def _span_kind():
    from vaecourse import values as kinds
    return kinds.real(f"a finite number > 0 (at least about {kinds.FLOAT32_TINY:.2g})",
                      lambda v: v >= kinds.FLOAT32_TINY, MAX_TRAVERSAL, "codes are standard normal")


def span(who: str, value) -> float:
    """A traversal's half-width: > 0 and at most MAX_TRAVERSAL."""
    return _span_kind().check(f"{owner(who)} span", value)
