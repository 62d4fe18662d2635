"""The sixth held-out probe (issue 25) and the fifth's leftovers: every case here was accepted silently or refused
in words that did not name what was wrong."""

import math

import pytest
import torch

from vaecourse import widgets
from vaecourse.data import DSprites, Pendulum
from vaecourse.metrics import factor_latent_correlations
from vaecourse.models import VAE
from vaecourse.objectives import elbo
from vaecourse.train import fit

PEND = Pendulum(size=8)


def _vae():
    return VAE(latent_dim=2, image_shape=(1, 4, 4), encoder="mlp", decoder="mlp")


def _fit(**kw):
    base = {"model": _vae(), "objective": elbo, "data": [torch.rand(4, 1, 4, 4)], "steps": 1, "progress": False,
            "device": "cpu"}
    base.update(kw)
    return fit(base.pop("model"), base.pop("objective"), base.pop("data"), **base)


# ---- the fifth probe's leftovers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("transform, words", [
    (lambda x: x * math.nan, r"the VAE, reading fit's transform output, expected finite pixel values, got .*NaN"),
    (lambda x: x * 3, r"the VAE, reading fit's transform output, expected pixel values in \[0, 1\]"),
    (lambda x: x[:, :, :2], r"the VAE, reading fit's transform output, expected images of shape \(B, 1, 4, 4\)"),
], ids=["NaN", "outside [0, 1]", "cropped"])
def test_fit_names_its_transform_when_the_transform_output_cannot_be_read(transform, words):
    """The refusal was the model's ("VAE expected finite pixel values"), as if the data had been wrong."""
    with pytest.raises(ValueError, match=words):
        _fit(transform=transform)


def test_fit_with_a_transform_that_is_fine_still_trains():
    history = _fit(transform=lambda x: (x > 0.5).float(), steps=2)
    assert len(history.steps) == 2


def test_factor_latent_correlations_refuses_a_factor_named_twice():
    """['posX', 'posX'] was matched to two distinct latents, one of them by force."""
    with pytest.raises(ValueError, match=r"factors must name each factor once .* got \['posX'\] more than once"):
        factor_latent_correlations(DSprites(), lambda x: torch.zeros(x.shape[0], 3), factors=["posX", "posX"], n=8)


def test_intervention_ranges_refuses_an_include_the_simulator_does_not_accept():
    """A slider was widened to a shadow length the simulator refuses (the widget-range class of issue 25)."""
    (lo, hi), *_ = PEND.label_ranges()
    inside = [lo, 0.0, 0.0, 0.0]
    assert widgets.intervention_ranges(PEND, 0.3, include=inside)[0][0] <= lo + 0.01
    for bad in (lo - 0.05, hi + 0.05):
        with pytest.raises(ValueError, match=r"include must be label values the simulator accepts .* got "
                                             + PEND.concept_names[0]):
            widgets.intervention_ranges(PEND, 0.3, include=[bad, 0.0, 0.0, 0.0])
