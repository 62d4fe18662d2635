"""Issue 25, the tenth round (probe 9c, figures): every text a figure draws (titles, labels, names, legend entries,
dict keys drawn as labels) is read by one reader, viz.figure.figure_text, at the call: a string of at most MAX_TEXT
characters whose $...$ matplotlib's mathtext parses (refused in one line naming the argument, not at savefig); keys
that mean one value or are drawn alike are refused; score_figure upper-cases only text outside math; a tiny ylim span
draws (the score's text is placed in points, not 0.02 data units off the axes); valid mathtext still renders."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from vaecourse import data, models, train, viz  # noqa: E402
from vaecourse.viz import causal, figure, ladder  # noqa: E402

History = train.History
torch.manual_seed(0)
M, X = models.VAE(latent_dim=3, image_shape=(1, 4, 4), encoder="mlp", decoder="mlp").eval(), torch.rand(3, 1, 4, 4)
P = data.Pendulum(size=8)
SCENE = P.from_labels(torch.zeros(1, 4))[0]  # one scene's true concepts


def cf(x, u, iv):
    return x.clone()


def history(term="elbo"):
    return History(steps=[1, 2, 3], records={term: [-1.0, -2.0, -3.0]})


def run():
    return {"steps": [1, 2, 3], "records": {"beta": [1.0] * 3, "kl": [1.0] * 3, "log_px_z": [-1.0] * 3}}


def point(label="a", kl=1.0):
    return {"label": label, "kl": kl, "log_px_z": -10.0}


# (function, the argument's name in the message, call with text t, whether t is a dict key (str()-ed when not a str))
SLOTS = [
    ("image_grid", "title", lambda t: viz.image_grid(X, title=t), False),
    ("image_grid", "row_labels[0]", lambda t: viz.image_grid(X, ncols=3, row_labels=[t]), False),
    ("reconstruction_figure", "title", lambda t: viz.reconstruction_figure(X, X, title=t), False),
    ("traversal_figure", "labels[0]", lambda t: viz.traversal_figure(M, torch.zeros(3), dims=[0], values=[0.0, 1.0],
                                                                     labels=[t]), False),
    ("traversal_figure", "title", lambda t: viz.traversal_figure(M, torch.zeros(3), dims=[0], values=[0.0], title=t),
     False),
    ("history_figure", "titles[0]", lambda t: viz.history_figure(history(), panels=[["elbo"]], titles=[t]), False),
    ("history_figure", "panels", lambda t: viz.history_figure(history(t if isinstance(t, str) else "elbo"), panels=[[t]]), False),
    ("simulated_vs_official_figure", "row_labels[0]",
     lambda t: viz.simulated_vs_official_figure(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), [t], ["c"]), False),
    ("simulated_vs_official_figure", "column_labels[0]",
     lambda t: viz.simulated_vs_official_figure(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), ["r"], [t]), False),
    ("simulated_vs_official_figure", "title",
     lambda t: viz.simulated_vs_official_figure(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), ["r"], ["c"], title=t),
     False),
    ("kl_per_dimension_figure", "kls key", lambda t: viz.kl_per_dimension_figure({t: [1.0, 0.0]}), True),
    ("kl_per_dimension_figure", "title", lambda t: viz.kl_per_dimension_figure({"a": [1.0]}, title=t), False),
    ("multiplier_figure", "runs key", lambda t: viz.multiplier_figure({t: run()}), True),
    ("multiplier_figure", "title", lambda t: viz.multiplier_figure({"a": run()}, title=t), False),
    ("rate_distortion_figure", "points' labels key", lambda t: viz.rate_distortion_figure([point(t)]), False),
    ("rate_distortion_figure", "title", lambda t: viz.rate_distortion_figure([point()], title=t), False),
    ("sweep_model_figure", "label", lambda t: viz.sweep_model_figure(M, X[:1], t, n_latents=1, steps=2), False),
    ("traversal_row_figure", "title", lambda t: viz.traversal_row_figure(M, torch.zeros(3), 0, 0.5, steps=2, title=t),
     False),
    ("grouped_score_bars", "table key", lambda t: viz.grouped_score_bars({t: {"m": [0.5]}}), True),
    ("grouped_score_bars", "table['r'] key", lambda t: viz.grouped_score_bars({"r": {t: [0.5]}}), True),
    ("grouped_score_bars", "title", lambda t: viz.grouped_score_bars({"r": {"m": [0.5]}}, title=t), False),
    ("matrix_figure", "factor_names[0]", lambda t: viz.matrix_figure({"a": np.ones((1, 1))}, [t]), False),
    ("matrix_figure", "matrices key", lambda t: viz.matrix_figure({t: np.ones((1, 1))}, ["f"]), True),
    ("matrix_figure", "title", lambda t: viz.matrix_figure({"a": np.ones((1, 1))}, ["f"], title=t), False),
    ("matrix_figure", "value_label", lambda t: viz.matrix_figure({"a": np.ones((1, 1))}, ["f"], value_label=t), False),
    ("score_bars", "scores key", lambda t: viz.score_bars({t: [0.5]}), True),
    ("score_bars", "title", lambda t: viz.score_bars({"a": [0.5]}, title=t), False),
    ("score_bars", "ylabel", lambda t: viz.score_bars({"a": [0.5]}, ylabel=t), False),
    ("zdiff_figure", "factor_names[0]", lambda t: viz.zdiff_figure(np.ones((1, 2)), np.array([0]), [t]), False),
    ("zdiff_figure", "title", lambda t: viz.zdiff_figure(np.ones((1, 2)), np.array([0]), ["f"], title=t), False),
    ("active_units_figure", "runs key", lambda t: viz.active_units_figure({t: [1]}, [2]), True),
    ("active_units_figure", "title", lambda t: viz.active_units_figure({"a": [1]}, [2], title=t), False),
    ("depth_figure", "results key", lambda t: ladder.depth_figure({t: {1: (-90.0, 1.0)}}, k=1), True),
    ("depth_figure", "title", lambda t: ladder.depth_figure({"a": {1: (-90.0, 1.0)}}, k=1, title=t), False),
    ("kl_heatmap_figure", "runs key", lambda t: viz.kl_heatmap_figure({t: np.ones((2, 2))}, [2]), True),
    ("kl_heatmap_figure", "title", lambda t: viz.kl_heatmap_figure({"a": np.ones((2, 2))}, [2], title=t), False),
    ("layer_pca_figure", "title", lambda t: viz.layer_pca_figure([np.random.rand(4, 2)], title=t), False),
    ("adjacency_figure", "names[0]", lambda t: viz.adjacency_figure(torch.zeros(2, 2), torch.zeros(2, 2), [t, "b"]),
     False),
    ("adjacency_figure", "title", lambda t: viz.adjacency_figure(torch.zeros(1, 1), torch.zeros(1, 1), ["a"], title=t),
     False),
    ("intervention_grid_figure", "concept_names[0]",
     lambda t: viz.intervention_grid_figure(torch.rand(1, 1, 1, 2, 2), torch.rand(1, 1, 1, 2, 2), [t]), False),
    ("intervention_grid_figure", "title",
     lambda t: viz.intervention_grid_figure(torch.rand(1, 1, 1, 2, 2), torch.rand(1, 1, 1, 2, 2), ["a"], title=t),
     False),
    ("mic_matrix_figure", "concept_names[0]", lambda t: viz.mic_matrix_figure({"a": np.ones((1, 1))}, [t]), False),
    ("mic_matrix_figure", "matrices key", lambda t: viz.mic_matrix_figure({t: np.ones((1, 1))}, ["c"]), True),
    ("ownership_figure", "names[0]", lambda t: viz.ownership_figure(torch.rand(1, 2, 2), [t]), False),
    ("ownership_figure", "title", lambda t: viz.ownership_figure(torch.rand(1, 2, 2), ["a"], title=t), False),
    ("pendulum_reference_figure", "titles[0]",
     lambda t: viz.pendulum_reference_figure(torch.rand(1, 3, 2, 2), torch.rand(1, 3, 2, 2), titles=[t]), False),
    ("render_intervention", "concept_names[0]",
     lambda t: causal.render_intervention(cf, P, SCENE, {0: 0.5}, concept_names=[t, "b", "c", "d"]), False),
    ("score_figure", "keys[0]", lambda t: causal.score_figure({"m": {t: 0.5}}, keys=[t]), False),
    ("score_figure", "scores key", lambda t: causal.score_figure({t: {"mic": 0.5}}, keys=["mic"]), True),
    ("score_figure", "title", lambda t: causal.score_figure({"m": {"mic": 0.5}}, keys=["mic"], title=t), False),
    ("scm_scatter_figure", "x", lambda t: viz.scm_scatter_figure({"o": {t: torch.randn(5), "b": torch.randn(5)}}, t,
                                                                 "b"), False),
    ("scm_scatter_figure", "y", lambda t: viz.scm_scatter_figure({"o": {"a": torch.randn(5), t: torch.randn(5)}}, "a",
                                                                 t), False),
    ("scm_scatter_figure", "panels key", lambda t: viz.scm_scatter_figure({t: {"a": torch.randn(5),
                                                                               "b": torch.randn(5)}}, "a", "b"), True),
    ("scm_scatter_figure", "title", lambda t: viz.scm_scatter_figure({"o": {"a": torch.randn(5), "b": torch.randn(5)}},
                                                                     "a", "b", title=t), False),
]
IDS = [f"{who}-{name}" for who, name, _, _ in SLOTS]
UNPARSEABLE = ["$\\frac{$", "$\\nosuchcommand$", "ok\n$\\frac{$", "a$b$ $\\frac{$",
               "$" + "{" * 100 + "x" + "}" * 100 + "$"]  # (the parser's recursion runs out: matplotlib's too)
VALID = [r"$\beta$", r"$\beta=4$ and a \$5 note", "two\nlines $x^2$",
         "costs 5$", "a$b$c$", "$x"]  # an odd number of '$' is plain text, drawn as typed (matplotlib's rule)


def refused(call, words: str) -> str:
    with pytest.raises(ValueError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and words in message, message
    return message


def drawn(fig) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=20)
    assert buffer.getvalue()


def test_the_table_covers_every_figure_function_that_draws_a_text():
    without = {"kl_estimator_figure", "traversal_images", "pca_2d"}  # no text of the caller's drawn
    assert {who for who, *_ in SLOTS} == set(viz.__all__) - without


@pytest.mark.parametrize("text", UNPARSEABLE)
@pytest.mark.parametrize("who, name, call, key", SLOTS, ids=IDS)
def test_text_matplotlib_cannot_draw_is_refused_at_the_call(who, name, call, key, text):
    message = refused(lambda: call(text), f"{who}'s {name}" if not who.endswith("s") else f"{who}' {name}")
    assert "that matplotlib can draw" in message and "mathtext cannot parse" in message
    drawn(call(r"$\beta$"))  # the parser still parses after a refusal


@pytest.mark.parametrize("who, name, call, key", SLOTS, ids=IDS)
def test_a_text_too_long_is_refused_at_the_call(who, name, call, key):
    message = refused(lambda: call("x" * 10_001), f"{name}")
    assert f"at most {figure.MAX_TEXT:,} characters" in message and "got 10,001 characters" in message


TEXTS_ONLY = [(s, i) for s, i in zip(SLOTS, IDS) if not s[3] and s[1] != "points' labels key"]  # (a number labels a point)


@pytest.mark.parametrize("who, name, call, key", [s for s, _ in TEXTS_ONLY], ids=[i for _, i in TEXTS_ONLY])
def test_a_text_that_is_no_string_is_refused(who, name, call, key):
    refused(lambda: call(5.0), name.split("[")[0])


@pytest.mark.parametrize("who, name, call, key", SLOTS, ids=IDS)
def test_valid_mathtext_still_renders(who, name, call, key):
    for text in VALID:
        drawn(call(text))
    drawn(call("x" * figure.MAX_TEXT if name in ("title", "x", "y") else "plain"))


def test_a_lone_surrogate_is_refused_at_the_call():
    message = refused(lambda: viz.score_bars({"a": [0.5]}, title="a\ud800b"), "score_bars' title must be")
    assert "lone surrogate" in message
    refused(lambda: viz.score_bars({"\ud800": [0.5]}), "score_bars' scores key")
    drawn(viz.score_bars({"a": [0.5]}, title="\U0001f600 \u200b tab\there \\"))


def test_labels_too_long_in_all_are_refused_at_the_call():
    long = {f"{i:03d}" + "x" * 996: [0.5] for i in range(21)}  # 21 labels of 999 characters
    message = refused(lambda: viz.score_bars(long), "score_bars' scores must hold labels of at most 20,000 characters")
    assert "20,979 characters in 21 labels" in message
    refused(lambda: viz.matrix_figure({"a": np.ones((1, 21))}, list(long)), "matrix_figure's factor_names must hold")
    terms = [f"t{i}" + "x" * 300 for i in range(4)]
    refused(lambda: viz.history_figure(train.History(steps=[1], records={t: [1.0] for t in terms}), panels=[terms]),
            "history_figure's panels[0] (its terms joined as the panel's title) must be")
    drawn(viz.history_figure(train.History(steps=[1], records={t: [1.0] for t in terms}), panels=[terms],
                             titles=["four terms"]))
    drawn(viz.score_bars({f"{i:03d}" + "x" * 36: [0.5] for i in range(20)}))


def test_figure_text_reader_in_one_line():
    assert figure.figure_text("f", "title", r"a \$5 note") == r"a \$5 note"
    assert figure.figure_text("f", "title", None, optional=True) is None
    refused(lambda: figure.figure_text("f", "title", None), "f's title must be a string")
    refused(lambda: figure.figure_text("f", "title", "$\\frac{$"), "f's title must be")


# ---- keys or names drawn alike ---------------------------------------------------------------------------------------
ALIKE = [
    (lambda: causal.score_figure({"m": {"mic": 0.5, "MIC": 0.5}}, keys=["mic", "MIC"]),
     "score_figure's keys must have names that are drawn differently"),
    (lambda: ladder.depth_figure({"a": {1: (-90.0, 1.0), torch.tensor(1): (-80.0, 1.0)}}, k=1),
     "depth_figure's results['a'] must have keys that read differently as labels"),
    (lambda: ladder.depth_figure({"a": {torch.tensor(2): (-90.0, 1.0), torch.tensor(2): (-80.0, 1.0)}}, k=1),
     "depth_figure's results['a'] must have keys"),
    (lambda: causal.render_intervention(cf, P, SCENE, {0: 0.5, torch.tensor(0): 0.6}),
     "render_intervention's interventions must have keys that read differently"),
    (lambda: causal.render_intervention(cf, P, SCENE, {1: 0.5, torch.tensor(1.0): 0.6}),
     "render_intervention's interventions"),
    (lambda: viz.rate_distortion_figure([point("a"), point("a", 2.0)]),
     "rate_distortion_figure's points' labels must have keys that read differently"),
    (lambda: viz.rate_distortion_figure([point(1), point("1", 2.0)]), "rate_distortion_figure's points' labels"),
    (lambda: viz.rate_distortion_figure([point(True)]), "rate_distortion_figure's points[0]['label'] must be a string"),
    (lambda: viz.rate_distortion_figure([point(["a"])]), "points[0]['label'] must be a string"),
    (lambda: viz.score_bars({1: [0.5], torch.tensor(1): [0.5]}), "score_bars' scores must have keys"),
    (lambda: viz.kl_per_dimension_figure({2: [1.0], torch.tensor(2): [1.0]}), "kl_per_dimension_figure's kls must"),
]


@pytest.mark.parametrize("call, words", ALIKE, ids=[f"alike{i}" for i in range(len(ALIKE))])
def test_keys_meaning_one_value_or_drawn_alike_are_refused(call, words):
    refused(call, words)


class NoText:
    def __str__(self):
        raise RuntimeError("no text")


def test_a_key_without_a_text_is_refused():
    refused(lambda: viz.score_bars({NoText(): [0.5]}), "score_bars' scores must have keys that read as labels")


def test_score_figure_upper_cases_only_text_outside_math():
    fig = causal.score_figure({"m": {"mic": 0.5, r"tic $\beta$": 0.4}}, keys=["mic", r"tic $\beta$"])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["MIC", r"TIC $\beta$"]
    drawn(fig)
    assert causal._upper(r"a \$5 $\beta$ b") == r"A \$5 $\beta$ B"


def test_distinct_keys_still_draw():
    drawn(ladder.depth_figure({"a": {1: (-90.0, 1.0), torch.tensor(2): (-80.0, 1.0)}}, k=1))
    drawn(viz.rate_distortion_figure([point("beta = 1"), point(4, 2.0), point(r"$\beta=8$", 3.0)]))
    fig = causal.render_intervention(cf, P, SCENE, {torch.tensor(0): 0.5, np.int64(1): 0.5})
    first, second = P.concept_names[:2]
    assert f"do({first} = +0.50, {second} = +0.50)" in fig.axes[1].get_title()


# ---- tiny y spans: drawn, not a TypeError/RuntimeError at savefig ------------------------------------------------
SPANS = [(0.0, 1e-30), (-1e-30, 0.0), (0.0, 1e-14), (1.0, 1.0 + 1e-14), (1.0, 1.0 + 2e-16), (0.0, 5e-324)]


@pytest.mark.parametrize("ylim", SPANS)
def test_a_tiny_ylim_span_draws(ylim):
    drawn(viz.score_bars({"a": [ylim[0]], "b": [ylim[1]]}, ylim=ylim, chance=ylim[0]))
    drawn(viz.grouped_score_bars({"a": {"m": [ylim[0]]}}, ylim=ylim))


@pytest.mark.parametrize("vmin, vmax", [(1e20, 1e20 * (1 + 1e-15)), (0.0, 1e-300), (-4.0, -4.0 + 1e-12)])
def test_a_tiny_colour_span_draws(vmin, vmax):
    drawn(viz.kl_heatmap_figure({"a": np.ones((2, 2))}, [2], vmin=vmin, vmax=vmax))
