"""Prose that cannot drift from the results: sentences rendered from a cell's own values, and checked claims.

A measured number typed into markdown goes stale at the next retrain, in FAST mode and on a GPU. So a lecture
states what a cell measured by rendering the sentence from the values it computed, and every claim the chapter's
argument rests on is checked on them:

    say("The β = 4 code's probe scores R² {r4:.3f} on positions it never saw; β = 1's {r1:.3f}.", r4=r4, r1=r1)
    claim("β = 4 transfers to unseen positions better than β = 1", r4 > r1 + 0.02,
          measured=f"unseen R² {r4:.3f} against {r1:.3f}")

:func:`say` shows Markdown built from the values (in every mode: FAST mode, a GPU run and the shipped models each
state what they got). :func:`claim` shows a checked statement: held (✔ and what was measured), failed (a visible
warning naming the statement and the measurement), or, in FAST mode, "not checked in FAST mode" (tiny runs prove
the code works, not the result). A failed claim while the course site or ``rendered/`` is built
(``VAECOURSE_SITE=1``) raises :class:`ClaimFailed`, so the build fails instead of publishing a lecture whose prose
its outputs contradict. Markdown cells keep the reasoning and the papers' own (cited) figures;
``tests/test_prose.py`` scans them for measured-looking numbers.
"""

from __future__ import annotations

import cmath
import decimal
import html
import numbers
import re
from dataclasses import dataclass

import numpy as np

from vaecourse.runtime import fast_mode, site_mode


class ClaimFailed(AssertionError):
    """A checked claim did not hold while the course site (or ``rendered/``) was being built."""


@dataclass(frozen=True)
class Shown:
    """What :func:`say` and :func:`claim` display: Markdown for the notebook, plain text for a terminal."""

    markdown: str
    text: str

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __str__(self) -> str:
        return self.text


def _show(shown: Shown, show: bool) -> Shown | None:
    """Display ``shown`` (Markdown in a notebook, text in a terminal) and return None, so a call on a cell's last
    line is not shown twice; with ``show=False`` only return it."""
    if not show:
        return shown
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython comes with the course's notebooks
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        print(shown.text)
    else:
        display(shown)
    return None


_NOT_FINITE = re.compile(r"(?<![A-Za-z])[+-]?(nan|inf|infinity)(?![A-Za-z])", re.IGNORECASE)


def _not_finite(value) -> bool:
    """True for a value that would print 'nan' or 'inf' into a sentence: a number (float, Decimal, numpy, a
    tensor) that is NaN or inf, a text that reads so, or a container or object array holding one (keys too)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str):  # a figure already formatted as text ("nan")
        return bool(_NOT_FINITE.search(value))
    if isinstance(value, (list, tuple, set, frozenset)):  # a list of figures prints each one
        return any(_not_finite(v) for v in value)
    if isinstance(value, dict):
        return any(_not_finite(k) or _not_finite(v) for k, v in value.items())
    if isinstance(value, (np.datetime64, np.timedelta64)):  # NaT prints as "NaT": no figure
        return bool(np.isnat(value))
    if isinstance(value, decimal.Decimal):  # 1E+400 prints as itself: finite, though no float holds it
        return not value.is_finite()
    if isinstance(value, numbers.Number):  # float, complex, Fraction, numpy scalars
        try:
            return not cmath.isfinite(complex(value))
        except (TypeError, ValueError, OverflowError):  # a Decimal too large for a float is no NaN
            return False
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc":
            return not bool(np.isfinite(value).all())
        return value.dtype.kind == "O" and any(_not_finite(v) for v in value.ravel().tolist())
    try:
        import torch
    except ImportError:  # pragma: no cover - torch comes with the course
        return False
    if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.is_complex()) \
            and value.device.type != "meta":
        return not bool(torch.isfinite(value).all())
    return False


def say(template: str, /, show: bool = True, **values) -> Shown | None:
    """Display the Markdown ``template.format(**values)``: a sentence of the lecture whose figures are this run's.
    ``show=False`` returns the :class:`Shown` instead of displaying it. A value that is NaN or infinite is refused
    (a ValueError naming it): the sentence would print "nan" where the run's figure belongs."""
    if not isinstance(template, str):
        raise TypeError(f"say's template must be a str (Markdown with {{name}} fields), got {type(template).__name__}")
    if not isinstance(show, (bool, np.bool_)):
        raise TypeError(f"say's show must be True or False, got {type(show).__name__}")
    _check_widths(template, values)
    for name, value in values.items():
        if _not_finite(value):
            raise ValueError(f"say's {name} must be a finite number (the sentence would print it as "
                             f"{'nan' if 'nan' in str(value).lower() else 'inf'}), got {_one_line(value)}")
    try:
        text = template.format(**values)
    except KeyError as err:
        raise ValueError(f"say's template needs a value for {{{err.args[0]}}} ({err.args[0]}=...), got values for "
                         f"{sorted(values)}") from None
    except (ValueError, TypeError, IndexError, AttributeError, OverflowError) as err:  # "{x:.2f}" of a str or of
        # 10**400 (no float holds it), "{}", "{x.nope}"
        raise ValueError(_misfit(template, values, err)) from None
    for name, rendered in _rendered_fields(template, values):  # an object whose format prints "nan"
        if _NOT_FINITE.search(rendered):
            raise ValueError(f"say's {name} must print as a finite figure (the sentence would read {rendered!r}), "
                             f"got {_one_line(values[name])}")
    return _show(Shown(markdown=text, text=text), show)


MAX_WIDTH = 1_000  # characters a field's width or precision may ask for: {x:>1000000000} built a 1 GB sentence


def _check_widths(template: str, values: dict) -> None:
    """A ValueError when a field of ``template`` asks for a width or a precision beyond ``MAX_WIDTH`` (written in
    the field, or given as a value of a nested field: ``{x:>{w}}``)."""
    import string

    try:
        fields = [(field, spec) for _, field, spec, _ in string.Formatter().parse(template) if field is not None]
    except ValueError:
        return  # an unmatched brace: format() raises it, in _misfit's words
    for field, spec in fields:  # the spec as format() reads it: a nested field's value in its place ('>100000000')
        resolved = re.sub(r"\{(\w*)\}", lambda m: str(values.get(m.group(1), "")), spec or "")
        asked = max((int(n) for n in re.findall(r"\d+", resolved)), default=0)
        if asked > MAX_WIDTH:
            raise ValueError(f"say's template field {{{field}:{spec}}} asks for {asked:,} characters (a width or a "
                             f"precision), expected at most {MAX_WIDTH:,}: a figure of a sentence")


def _rendered_fields(template: str, values: dict) -> list[tuple[str, str]]:
    """Each field of ``template`` as the sentence prints it: (the value's name, its text)."""
    import string

    formatter, out = string.Formatter(), []
    for _, field, spec, conversion in formatter.parse(template):
        if field is not None:
            value = formatter.convert_field(formatter.get_field(field, (), values)[0], conversion)
            spec = formatter.vformat(spec, (), values) if "{" in spec else spec  # {x:>{w}}: w's value
            out.append((field.split(".")[0].split("[")[0], formatter.format_field(value, spec)))
    return out


def _misfit(template: str, values: dict, error: Exception) -> str:
    """Which value of ``values`` a field of ``template`` cannot format, in words (or why the template is wrong)."""
    import string

    try:
        fields = [(name, spec) for _, name, spec, _ in string.Formatter().parse(template) if name is not None]
    except ValueError:  # an unmatched brace
        return f"say's template must be Markdown with {{name}} fields (double a literal brace: {{{{ }}}}), got {template!r}"
    for name, spec in fields:
        if name == "" or name.isdigit():
            return (f"say's template must name each field ({{x}} with x=..., not a positional {{{name}}}), got "
                    f"{template!r}")
        key = name.split(".")[0].split("[")[0]
        if key in values and name == key:
            try:
                format(values[key], spec or "")
            except (ValueError, TypeError, OverflowError):
                return (f"say's {key} must be a value its field {{{name}:{spec}}} can format, got "
                        f"{_one_line(values[key])} ({type(values[key]).__name__})")
    return f"say's template {template!r} does not fit the values given ({error}), got values of types " \
           f"{ {k: type(v).__name__ for k, v in values.items()} }"


def _one_line(value) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= 120 else text[:117] + "..."


def claim(statement: str, holds: bool, measured: str = "", show: bool = True) -> Shown | None:
    """Display the checked claim ``statement``: held, failed (a warning; :class:`ClaimFailed` in a site build),
    or not checked in FAST mode. ``holds`` is the condition evaluated on the cell's own results; ``measured``
    says what they were, in the chapter's terms. ``show=False`` returns the :class:`Shown` instead. A statement, or
    a measurement that is shown (not in FAST mode), that reads NaN or inf is refused (a ValueError naming it)."""
    if not isinstance(statement, str) or not isinstance(measured, str):
        raise TypeError(f"claim's statement and measured must be str (sentences), got {type(statement).__name__} and "
                        f"{type(measured).__name__}")
    if not isinstance(holds, (bool, np.bool_)):  # numpy's bool too, nothing else (not a number, not None)
        raise TypeError(f"claim({statement!r}, holds=...) needs a bool (the condition on the results), got "
                        f"{type(holds).__name__}")
    if not isinstance(show, (bool, np.bool_)):
        raise TypeError(f"claim's show must be True or False, got {type(show).__name__}")
    if not statement.strip():
        raise ValueError("claim's statement must say what is claimed (a sentence), got an empty one")
    detail = f" ({measured})" if measured else ""
    for name, text in (("statement", statement), ("measured", measured)):
        found = _NOT_FINITE.search(text)
        if found and (name == "statement" or not fast_mode()):  # FAST mode shows the statement alone
            raise ValueError(f"claim's {name} must state finite figures (the run gave {found.group(0)!r}: a lecture "
                             f"would print it), got {_one_line(text)}")
    if fast_mode():
        return _show(Shown(markdown=f"*Claim, not checked in FAST mode (tiny runs):* {statement}.",
                           text=f"claim, not checked in FAST mode: {statement}"), show)
    if holds:
        return _show(Shown(markdown=f"✔ **Checked:** {statement}{detail}.", text=f"checked: {statement}{detail}"), show)
    if site_mode():
        raise ClaimFailed(f"the claim {statement!r} does not hold on this run{detail}: the lecture's prose would "
                          "contradict its outputs")
    warning = (f'<div style="border-left: 4px solid #c00; padding: 4px 8px; background: #fff0f0">'
               f"⚠ <b>This claim did not hold on your run:</b> {html.escape(statement)}{html.escape(detail)}. The text "
               "around it describes the course's shipped run; read your own numbers above, and see the chapter's "
               "notes on how often this happens.</div>")
    return _show(Shown(markdown=warning, text=f"WARNING, claim did not hold: {statement}{detail}"), show)


__all__ = ["ClaimFailed", "Shown", "claim", "say"]
