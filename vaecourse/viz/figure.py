"""The Figure class every viz function returns: a matplotlib Figure that shows itself in notebooks.

It is built without pyplot (so nothing is drawn twice and nothing leaks between calls) and
carries ``_repr_png_``, so ``display(fig)`` or a figure left as a cell's last value renders as a
PNG in JupyterLab, Colab, nbconvert and the static course site, with or without ``%matplotlib``.
"""

from __future__ import annotations

import io
import unicodedata

import numpy as np
import torch
from matplotlib.figure import Figure

from vaecourse import values as kinds


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
    shape = tuple(model.image_shape)
    kind = kinds.numbers(f"finite images (N, {', '.join(map(str, shape))}) of {label}'s image shape, 1 to "
                         f"{kinds.MAX_PANELS:,} of them", lambda t: t.dim() == 4 and tuple(t.shape[1:]) == shape
                         and 1 <= len(t) <= kinds.MAX_PANELS)
    return model.check_pixels(images(who, name, x, kind), who=f"{owner(who)} {name}")


def _is_texts(value) -> bool:
    return all(isinstance(v, str) for v in value)


# one text a figure draws (a title, a label, a name, a legend entry): at most this many characters. Laying out one
# text grows with its length (the ninth probe: a 10^5-character title took 25 s to draw, 10^6 hung); 1,000 characters
# are already several lines across any course figure
MAX_TEXT = 1_000
# every label of one list (the keys of a dict, a list of names), in characters: 512 labels of 1,000 characters each
# would take a minute to lay out (measured: 50 rotated tick labels of 1,000 characters, 50,000 in all, 6 s with a PNG
# on the course machine); 20,000 in all keep a figure's labels within a few seconds, and 512 labels of 39 characters
MAX_LABEL_TEXT = 20_000
_MATHTEXT = None  # matplotlib's mathtext parser, made on first use


def _mathtext_reason(line: str) -> str | None:
    """Why matplotlib cannot draw ``line`` (one line: Text lays out each line alone), or None when it can. A line is
    mathtext when it holds an even, non-zero number of unescaped dollars (matplotlib.cbook.is_math_text counts '$'
    less '\\$'); then each $...$ must parse in matplotlib.mathtext.MathTextParser. An odd number is plain text, drawn
    as typed ("costs 5$"), as matplotlib draws it."""
    global _MATHTEXT
    dollars = line.count("$") - line.count(r"\$")
    if dollars % 2 or not dollars:
        return None
    if _MATHTEXT is None:
        from matplotlib.mathtext import MathTextParser
        _MATHTEXT = MathTextParser("path")
    try:
        _MATHTEXT.parse(line)
    except Exception as error:  # pyparsing's ParseFatalException reaches us as a ValueError; any other is as fatal
        lines = [part.strip() for part in str(error).splitlines() if part.strip()]
        return "matplotlib's mathtext cannot parse it: " + (lines[-1] if lines else type(error).__name__)
    return None


def figure_text(who: str, name: str, value, optional: bool = False) -> str | None:
    """A text a figure draws: a string of at most MAX_TEXT characters that matplotlib can draw (its mathtext parses
    every $...$), refused here rather than at savefig; None when ``optional``. The text is returned unchanged."""
    if value is None and optional:
        return None
    expected = (f"a string of at most {MAX_TEXT:,} characters that matplotlib can draw"
                + (" (or None)" if optional else ""))
    if not isinstance(value, str):
        raise ValueError(f"{owner(who)} {name} must be {expected}, got {kinds.shown(value)}")
    if len(value) > MAX_TEXT:
        raise ValueError(f"{owner(who)} {name} must be {expected}, got {len(value):,} characters")
    try:
        value.encode("utf-8")  # a lone surrogate ('\\ud800') is no character: Agg's set_text refuses it at savefig
        reasons = [_mathtext_reason(line) for line in value.split("\n")]
    except UnicodeEncodeError as error:
        reasons = [f"{error.object[error.start:error.end]!r} at {error.start} is no character (a lone surrogate)"]
    reason = next((r for r in reasons if r is not None), None)
    if reason is not None:
        raise ValueError(f"{owner(who)} {name} must be {expected}, got {kinds.shown(value)}: {reason}")
    return value


def title(who: str, value, name: str = "title"):
    """A figure's title: a string or None (the function's own default then)."""
    return figure_text(who, name, value, optional=True)


def names(who: str, name: str, value, count: int | None = None, optional: bool = False,
          distinct: bool = False, drawn=None) -> list | None:
    """A list of strings (labels, titles, names), each a :func:`figure_text`, of ``count`` items when given; None
    when ``optional``; no name twice when ``distinct`` (names of factors, concepts or terms: a name given twice draws
    one thing twice), nor two drawn alike by ``drawn`` (the figure's own rewriting of a name, e.g. upper-casing)."""
    if value is None and optional:
        return None
    expected = ("a list of " + ("distinct " if distinct else "") + "strings"
                + ("" if count is None else f" with one item per panel ({count})"))
    kind = kinds.sequence(expected, lambda v: _is_texts(v) and (len(v) >= 1 if count is None else len(v) == count)
                          and (not distinct or len(set(v)) == len(v)))
    value = list(kind.check(f"{owner(who)} {name}", value))
    for i, text in enumerate(value):
        figure_text(who, f"{name}[{i}]", text)
    _texts(who, name, value)
    if distinct and drawn is not None:
        _alike(who, name, value, [drawn(text) for text in value], "names that are drawn differently")
    return value


def _texts(who: str, name: str, texts: list) -> None:
    """A ValueError naming ``name`` when its labels hold more than MAX_LABEL_TEXT characters in all."""
    total = sum(len(text) for text in texts)
    if total > MAX_LABEL_TEXT:
        raise ValueError(f"{owner(who)} {name} must hold labels of at most {MAX_LABEL_TEXT:,} characters in all "
                         f"(more take minutes to lay out), got {total:,} characters in {len(texts):,} labels")


def _as_seen(text: str) -> str:
    """``text`` as a reader sees it drawn: white space at the ends gone, runs of it one space, invisible format
    characters (a zero-width space, a soft hyphen: Unicode category Cf) dropped; 'mic', ' mic' and 'mic\u200b' are
    one label on a tick."""
    return " ".join("".join(c for c in text if unicodedata.category(c) != "Cf").split())


def _alike(who: str, name: str, items: list, texts: list, expected: str, values: list | None = None) -> None:
    """A ValueError naming ``name`` when two of ``items`` are drawn as one text (``texts``, as :func:`_as_seen`
    reads them) or mean one value (``values``: 1, 1.0, numpy's 1 and tensor(1) are one key of a dict, one bar or one
    depth)."""
    for seen in ([_as_seen(t) if isinstance(t, str) else t for t in texts], values or []):
        groups = {}
        for i, v in enumerate(seen):
            try:
                groups.setdefault(v, []).append(i)
            except TypeError:  # an unhashable value is compared by its text alone
                continue
        twice = [i for group in groups.values() if len(group) > 1 for i in group]
        if twice:
            raise ValueError(f"{owner(who)} {name} must have {expected}, got {[items[i] for i in twice]} all shown "
                             f"as {sorted({texts[i] for i in twice})}")


def _plain(key):
    """A 0-d tensor or a numpy scalar as the Python value it holds (tensor(1), numpy's 1 and 1 are one key)."""
    if isinstance(key, torch.Tensor) and key.dim() == 0 and key.device.type != "meta":
        return key.item()
    return key.item() if isinstance(key, np.generic) else key


def _text_of(who: str, name: str, key) -> str:
    """``str(key)``, the label a key is drawn as, or a ValueError naming ``name`` when the key has none."""
    try:
        return str(key)
    except Exception:  # a key whose __str__ fails (or returns no string) has no label to draw
        raise ValueError(f"{owner(who)} {name} must have keys that read as labels (str(key)), got a key of type "
                         f"{type(key).__name__} whose str() fails") from None


def labels(who: str, name: str, value, drawn=None) -> list[str]:
    """A dict's keys (or a list of labels) as the labels a figure shows (``str(key)``, each a :func:`figure_text`),
    or a ValueError when two keys read alike (1 and '1' would be drawn as one bar, one of them lost) or mean one
    value (1, 1.0 and tensor(1)), ``drawn`` applied to each label first when the figure rewrites it."""
    keys = list(value)
    plain = [_plain(key) for key in keys]
    shown = [key if isinstance(key, str) else _text_of(who, name, key) for key in plain]
    for key, text in zip(keys, shown):
        figure_text(who, f"{name} key {kinds.shown(key)}", text)
    _texts(who, name, shown)
    texts = shown if drawn is None else [drawn(text) for text in shown]
    _alike(who, name, keys, texts, "keys that read differently as labels", plain)
    return shown


def relabel(who: str, name: str, value) -> dict:
    """The dict ``value`` keyed by its :func:`labels` (a tuple key becomes its text; 1 and '1' are refused)."""
    return dict(zip(labels(who, name, value), value.values()))


def images(who: str, name: str, value, kind=None):
    """Images drawn in [0, 1] (``kind``: values.figure_images unless given), floating: an integer tensor or array
    (bytes 0..255) would be drawn clamped to black and white, a bool one is no image of numbers."""
    kind = kinds.figure_images if kind is None else kind
    floating = value.is_floating_point() if isinstance(value, torch.Tensor) else \
        value.dtype.kind == "f" if isinstance(value, np.ndarray) else True
    if not floating:
        raise ValueError(f"{owner(who)} {name} must be floating {kind.expected} (an integer tensor or array: divide "
                         f"bytes by 255 first; a bool mask: .float() it), got {kinds.shown(value)}")
    return kind.check(f"{owner(who)} {name}", value)


def trained(who: str, name: str, model):
    """``model`` when every weight is finite: NaN or inf weights (a run that diverged, a damaged file) decode every
    code to NaN, which a figure draws as blank panels, silently."""
    from vaecourse.models.base import check_weights
    return check_weights(model, f"{owner(who)} {name}", finite=True)


def decoded(who: str, name: str, images: torch.Tensor) -> torch.Tensor:
    """``images`` a model decoded, when they are finite: weights that overflow (finite, but 1e18 times too large)
    decode to NaN, drawn as blank panels."""
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{owner(who)} {name} decodes its codes to NaN or inf (its weights overflow float32), so "
                         "every image would be blank; load it or train it again")
    return images


def traversal_model(who: str, name: str, model):
    """A model whose ``decode`` takes its whole latent code (latent_dim numbers): a VAE, a CausalVAE or one layer of
    a Ladder VAE (:class:`PriorUnitsDecoder`, what ``show`` and chapter 4 traverse), not a LadderVAE itself (its code
    stacks every layer; decode reads only the bottom one)."""
    from vaecourse.models.base import CourseModel
    from vaecourse.models.ladder import LadderVAE, PriorUnitsDecoder
    kind = kinds.Kind("a course model whose decode takes its whole latent code (a VAE; a LadderVAE's code stacks "
                      "its layers: traverse one layer with models.ladder.PriorUnitsDecoder)",
                      lambda m: isinstance(m, (CourseModel, PriorUnitsDecoder)) and not isinstance(m, LadderVAE))
    return trained(who, name, kind.check(f"{owner(who)} {name}", model))


def image_model(who: str, name: str, model):
    """A model of images alone (a VAE of a beta sweep): not label-conditioned, not a LadderVAE."""
    from vaecourse.models.base import CourseModel
    from vaecourse.models.ladder import LadderVAE
    kind = kinds.Kind("a VAE of images alone (not a label-conditioned model, not a LadderVAE)",
                      lambda m: isinstance(m, CourseModel) and not m.takes_labels and not isinstance(m, LadderVAE))
    return trained(who, name, kind.check(f"{owner(who)} {name}", model))


def models(who: str, value, check) -> dict:
    """``value``: a non-empty dict label -> model (at most MAX_PANELS), each passing ``check(who, name, model)``."""
    kind = kinds.Kind(f"a dict of at least one model (at most {kinds.MAX_PANELS:,}) by label (e.g. {{'beta = 4': model}})",
                      lambda v: isinstance(v, dict) and 1 <= len(v) <= kinds.MAX_PANELS)
    value = kind.check(f"{owner(who)} models", value)
    return {label: check(who, f"models[{label!r}]", model) for label, model in value.items()}


MAX_TRAVERSAL = 1_000.0  # a latent value (codes are standard normal: 1,000 standard deviations already show nothing new)


def _span_kind():
    return kinds.real(f"a finite number > 0 (at least about {kinds.FLOAT32_TINY:.2g})",
                      lambda v: v >= kinds.FLOAT32_TINY, MAX_TRAVERSAL, "codes are standard normal")


def span(who: str, value) -> float:
    """A traversal's half-width: > 0 and at most MAX_TRAVERSAL."""
    return _span_kind().check(f"{owner(who)} span", value)


# ---- what one figure may draw (the eighth probe): its magnitudes, its size, its panels, its labels ---------------
measured = kinds.measured_numbers  # every number a figure draws: finite, at most values.MAX_MEASURED in size


MAX_FIGURE_INCHES = 655  # one side: 2^16 pixels at the figures' 100 dpi (matplotlib refuses 2^23 after ~30 s of layout)
MAX_FIGURE_PIXELS = kinds.MAX_FIGURE_PIXELS  # the whole figure at its dpi


def figure_size(who: str, arguments: str, width: float, height: float, dpi: float = 100.0) -> tuple[float, float]:
    """(width, height) in inches, or a ValueError naming ``arguments`` (what sets the size: "size and ncols") when the
    whole figure is wider or taller than MAX_FIGURE_INCHES or holds more than MAX_FIGURE_PIXELS at ``dpi``, before
    anything is drawn (each cell's size alone is bounded by values.inches)."""
    if not (width <= MAX_FIGURE_INCHES and height <= MAX_FIGURE_INCHES
            and width * height * dpi ** 2 <= MAX_FIGURE_PIXELS):
        raise ValueError(f"{owner(who)} {arguments} must give a figure of at most {MAX_FIGURE_INCHES} inches a side "
                         f"and {MAX_FIGURE_PIXELS:,} pixels at {dpi:g} dpi, got {width:,.1f} x {height:,.1f} inches")
    return width, height


def panel_count(who: str, arguments: str, count: int, what: str) -> int:
    """``count`` axes (``what`` says how they are counted: "two per frame"), or a ValueError naming ``arguments`` when
    it exceeds values.MAX_PANELS, before any is drawn."""
    if count > kinds.MAX_PANELS:
        raise ValueError(f"{owner(who)} {arguments} must need at most {kinds.MAX_PANELS:,} panels ({what}), got "
                         f"{count:,}")
    return count


# tick labels in one figure (one per factor, latent, layer or key): measured with tight_layout and a PNG on the course
# machine (2 shared cores, nice 19): 256 rotated tick labels 2.7 s, 512 5.8 s, 1,024 11.2 s (1,024 cell texts 3.2 s,
# so cell texts and bars are bounded by values.MAX_PANELS); 512 keeps a figure's labels within a few seconds
MAX_LABELS = 512


def label_count(who: str, name: str, count: int, what: str, most: int = MAX_LABELS) -> int:
    """``count`` labels drawn for ``name`` (``what``: "one tick label per factor"), or a ValueError naming it when there
    are more than ``most``, before anything is drawn."""
    if count > most:
        raise ValueError(f"{owner(who)} {name} must hold at most {most:,} items ({what}: more cannot be read and take "
                         f"minutes to lay out), got {count:,}")
    return count


MARKERS = None  # matplotlib's marker styles, read on first use


def marker(who: str, name: str, value):
    """One of matplotlib's marker styles that draws something ('o', 's', '^', 'x', ...), or a ValueError naming it."""
    global MARKERS
    if MARKERS is None:
        from matplotlib.markers import MarkerStyle
        MARKERS = [m for m in MarkerStyle.markers if not isinstance(m, bool) and m not in (None, "None", "none", " ", "")]
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, (str, int)) and value in MARKERS
    if not ok:
        shown = ", ".join(repr(m) for m in MARKERS if isinstance(m, str))
        raise ValueError(f"{owner(who)} {name} must be one of matplotlib's marker styles ({shown}), got "
                         f"{kinds.shown(value)}")
    return value
