"""Prose that cannot drift: vaecourse.prose renders sentences from values and checks claims; every lecture's
markdown holds no measured number typed by hand (only cited paper figures, equation constants and the short,
justified allow-list below)."""

import re
from pathlib import Path

import pytest

from vaecourse import prose

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def test_say_renders_the_values_it_is_given(capsys):
    assert prose.say("R² {a:.3f} against {b:.3f}", a=0.96812, b=0.7) is None  # shown once, not again as Out[]
    assert "R² 0.968 against 0.700" in capsys.readouterr().out
    assert prose.say("R² {a:.3f}", show=False, a=0.96812).markdown == "R² 0.968"


@pytest.mark.parametrize("fast, site, holds, expected", [
    ("1", "", True, "not checked in FAST mode"),
    ("1", "1", False, "not checked in FAST mode"),  # FAST builds prove the code, not the result
    ("", "", True, "✔ **Checked:** beta 4 transfers (0.9 vs 0.8)."),
    ("", "", False, "This claim did not hold on your run"),
])
def test_a_claim_says_whether_it_held(monkeypatch, fast, site, holds, expected):
    monkeypatch.setenv("VAECOURSE_FAST", fast)
    monkeypatch.setenv("VAECOURSE_SITE", site)
    assert expected in prose.claim("beta 4 transfers", holds, measured="0.9 vs 0.8", show=False).markdown


def test_a_failed_claim_fails_the_site_build(monkeypatch):
    monkeypatch.setenv("VAECOURSE_FAST", "")
    monkeypatch.setenv("VAECOURSE_SITE", "1")
    with pytest.raises(prose.ClaimFailed, match="'beta 4 transfers' does not hold on this run"):
        prose.claim("beta 4 transfers", False, measured="0.8 vs 0.9")
    assert "Checked" in prose.claim("beta 4 transfers", True, show=False).markdown


def test_a_claim_needs_a_condition_not_a_number():
    with pytest.raises(TypeError, match="needs a bool"):
        prose.claim("some claim", 0.97)
    with pytest.raises(TypeError, match="needs a bool"):
        prose.claim("some claim", None)


def test_a_claim_takes_the_bool_numpy_comparisons_give(monkeypatch):
    import numpy as np
    monkeypatch.setenv("VAECOURSE_FAST", "")
    monkeypatch.setenv("VAECOURSE_SITE", "")
    assert "Checked" in prose.claim("numpy says yes", np.float64(1.0) > 0.5, show=False).markdown
    assert "did not hold" in prose.claim("numpy says no", np.array([1.0]).sum() < 0.5, show=False).markdown


# ---- the markdown scan ---------------------------------------------------------------------------------------
# A measured-looking number: a decimal (0.968, 2.5) or a percentage (60 %), in a markdown cell, outside $math$,
# `code` and a citation's own sentence ([higgins2017, Table 1] ...: the paper's figure, cited).
NUMBER = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])|(?<![\w.])\d+\s?%")
CITATION = re.compile(r"\[[a-z]+\d{4}[a-z]?\b[^\]]*\]")
ALLOWED = {  # (lecture, number): why it is not a measurement of this course's run
    ("01_elbo", "2.0"): "the licence's name (Apache-2.0)",
    ("02_beta_vae", "5.5"): "a section number of [boyd2004] in the references",
    ("03_disentanglement_metric", "0.05"): "a constant of the metric: the standard deviation threshold of a dimension",
}


def _markdown_sentences(path: Path):
    """(line number, sentence) of each sentence of every markdown cell of a jupytext percent notebook."""
    in_markdown, lines = False, []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("# %%"):
            in_markdown = "[markdown]" in line
        elif in_markdown and line.startswith("#"):
            lines.append((number, line[1:].strip()))
    text = " ".join(f"\x00{n}\x00{t}" for n, t in lines)
    text = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`", " ", text)
    for sentence in re.split(r"(?<=[.;:!?])\s+(?=(?:\x00\d+\x00)?[A-Z*(\[])", text):
        numbers = re.findall(r"\x00(\d+)\x00", sentence)
        yield (int(numbers[0]) if numbers else 0), re.sub(r"\x00\d+\x00", "", sentence)


def measured_numbers(path: Path) -> list[tuple[int, str, str]]:
    found = []
    for line, sentence in _markdown_sentences(path):
        if CITATION.search(sentence):
            continue  # the paper's figures, cited in the same sentence
        for number in NUMBER.findall(sentence):
            if (path.stem, number.replace(" ", "")) not in ALLOWED:
                found.append((line, number, sentence.strip()[:160]))
    return found


@pytest.mark.parametrize("lecture", LECTURES, ids=lambda p: p.stem)
def test_no_lecture_types_a_measured_number_into_its_markdown(lecture):
    """A figure the prose quotes must come from the cell that computed it (vaecourse.prose.say), so it cannot go
    stale at the next retrain or differ in FAST mode or on a GPU."""
    found = measured_numbers(lecture)
    assert not found, "\n".join(f"{lecture.name}:{line}: {number!r} in: {text}" for line, number, text in found)


def test_the_scan_finds_a_typed_number():
    """The scan itself: a hand-typed figure is found, a cited one, an equation's and a code span's are not."""
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "09_probe.py"
        path.write_text("# %% [markdown]\n# The probe scored R² 0.968 on the right half.\n"
                        "# The paper reports 0.82 [higgins2017, Table 1]. With $\\beta = 0.5$ and `--lr 1e-3`.\n"
                        "# %%\nx = 0.5\n")
        assert [(line, number) for line, number, _ in measured_numbers(path)] == [(2, "0.968")]
