"""The fifth held-out probe's findings in the lead's files (issue 25): the checks must refuse only what means
nothing, never what a lecture gives in normal mode."""

import numpy as np
import pytest

from vaecourse.viz import kl_estimator_figure


def test_kl_estimator_figure_takes_normal_mode_repeats():
    """Notebook 01 in normal mode draws 2,000 repeated estimates per sample count; a box summarises a distribution,
    so its values are not panels (the 1,024-panel bound refused the lecture's own figure)."""
    rng = np.random.default_rng(0)
    fig = kl_estimator_figure([1, 4, 16, 64, 256], [rng.normal(0.7, 1 / np.sqrt(s), 2000).astype("float32")
                                                     for s in (1, 4, 16, 64, 256)], 0.7)
    assert len(fig.axes) == 2


@pytest.mark.parametrize("counts, estimates, words", [
    (list(range(1, 2001)), [np.ones(3)] * 2000, "number of sample counts must be a number of panels between 1 and 1,024"),
    ([1], [np.ones(10 ** 6 + 1, dtype="float32")], "estimates must be 1 to 1,000,000 finite values"),
    ([1], [np.array([0.1, np.nan])], "estimates must be 1 to 1,000,000 finite values"),
], ids=["2,000 boxes", "a million and one values", "NaN"])
def test_kl_estimator_figure_still_refuses_what_means_nothing(counts, estimates, words):
    with pytest.raises(ValueError, match=words):
        kl_estimator_figure(counts, estimates, 0.5)
