"""beta-VAE, capacity and constrained objectives against their defining identities."""

import pytest
import torch

from vaecourse.models import VAE
from vaecourse.objectives import (ConstrainedVAE, beta_vae, capacity_at, capacity_vae, dual_ascent_step, elbo,
                                  normalised_beta, unnormalised_beta)


@pytest.fixture()
def batch():
    torch.manual_seed(0)
    model = VAE(latent_dim=3, encoder="mlp28", image_shape=(1, 28, 28))
    x = (torch.rand(6, 1, 28, 28) > 0.5).float()
    return model, x


def _output(model, x):
    return model(x, generator=torch.Generator().manual_seed(1))


def test_beta_one_is_the_elbo(batch):
    model, x = batch
    out = _output(model, x)
    assert torch.allclose(beta_vae(out, x, beta=1.0).loss, elbo(out, x).loss)


def test_beta_weights_only_the_kl_and_keeps_the_true_elbo(batch):
    model, x = batch
    out = _output(model, x)
    terms = beta_vae(out, x, beta=4.0)
    assert torch.allclose(terms.loss, -(terms.log_px_z - 4.0 * terms.kl).mean())
    assert torch.allclose(terms.elbo, elbo(out, x).elbo)
    assert terms.scalars()["beta"].item() == 4.0


def test_capacity_schedule_is_linear_then_held():
    assert capacity_at(0, 25.0, 100) == 0.0
    assert capacity_at(50, 25.0, 100) == pytest.approx(12.5)
    assert capacity_at(100, 25.0, 100) == 25.0
    assert capacity_at(10_000, 25.0, 100) == 25.0
    assert capacity_at(5, 10.0, 10, c_start_step=10) == 0.0
    assert capacity_at(15, 10.0, 10, c_start_step=10) == pytest.approx(5.0)


def test_capacity_objective_is_reconstruction_when_the_mean_kl_hits_the_target(batch):
    model, x = batch
    out = _output(model, x)
    kl = elbo(out, x).kl
    assert kl.min() < kl.mean() < kl.max()  # the examples straddle their mean: the two forms differ here
    # choose the schedule so that C equals the batch-mean KL at this step: the penalty vanishes [burgess2018, Eq. 8]
    target = kl.mean().item()
    terms = capacity_vae(out, x, step=50, gamma=1000.0, c_max=2 * target, c_steps=100)
    assert torch.allclose(terms.loss, -terms.log_px_z.mean(), rtol=1e-5, atol=1e-3)
    per_example = -(terms.log_px_z - 1000.0 * (terms.kl - target).abs()).mean()  # the per-example form penalises
    assert per_example > terms.loss + 1.0                                           # each example's distance to C
    assert terms.scalars()["capacity"].item() == pytest.approx(target, rel=1e-6)


def test_capacity_objective_penalises_the_distance_of_the_mean_kl(batch):
    model, x = batch
    out = _output(model, x)
    terms = capacity_vae(out, x, step=100, gamma=10.0, c_max=3.0, c_steps=100)
    expected = -(terms.log_px_z.mean() - 10.0 * (terms.kl.mean() - 3.0).abs())
    assert torch.allclose(terms.loss, expected)


def test_dual_ascent_moves_the_multiplier_the_right_way():
    assert dual_ascent_step(1.0, kl=30.0, epsilon=20.0, lr=0.1) == pytest.approx(2.0)  # violated: beta grows
    assert dual_ascent_step(1.0, kl=15.0, epsilon=20.0, lr=0.1) == pytest.approx(0.5)  # slack: beta shrinks
    assert dual_ascent_step(0.2, kl=0.0, epsilon=20.0, lr=0.1) == 0.0  # never negative


def test_frozen_multiplier_gives_the_beta_vae_gradient(batch):
    """KKT view: with the multiplier fixed, the Lagrangian differs from beta-VAE by the constant beta*eps."""
    model, x = batch
    grads = []
    for objective in (ConstrainedVAE(epsilon=7.0, lr_dual=0.0, beta=3.0), lambda o, x: beta_vae(o, x, beta=3.0)):
        model.zero_grad()
        objective(_output(model, x), x).loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_constrained_objective_updates_and_records_its_multiplier(batch):
    model, x = batch
    objective = ConstrainedVAE(epsilon=0.0, lr_dual=0.5, beta=1.0)
    terms = objective(_output(model, x), x)
    assert objective.beta_trace == [1.0]
    assert objective.beta == pytest.approx(1.0 + 0.5 * terms.kl.mean().item(), rel=1e-6)


def test_normalised_beta_round_trip():
    assert normalised_beta(4.0, latent_dim=10, n_pixels=4096) == pytest.approx(4.0 * 10 / 4096)
    assert unnormalised_beta(normalised_beta(4.0, 10, 4096), 10, 4096) == pytest.approx(4.0)


@pytest.mark.parametrize("call, message", [
    (lambda o, x: beta_vae(o, x, beta=-1.0), r"beta must be a finite number >= 0 \(at most 1e\+06 in size: .*\), got -1.0"),
    (lambda o, x: capacity_vae(o, x, gamma=-5.0), "gamma must be a finite number >= 0"),
    (lambda o, x: capacity_vae(o, x, c_steps=0), "must last at least one step"),
    (lambda o, x: ConstrainedVAE(epsilon=-1.0), "epsilon must be a finite number >= 0"),
    (lambda o, x: normalised_beta(1.0, 0, 4096), "latent_dim must be a number of units between 1 and 65,536, got 0"),
])
def test_bad_hyper_parameters_are_refused_clearly(batch, call, message):
    model, x = batch
    with pytest.raises(ValueError, match=message):
        call(_output(model, x), x)


def test_objectives_refuse_a_batch_that_is_not_the_models(batch):
    model, x = batch
    out = _output(model, x)
    with pytest.raises(ValueError, match=r"expected the batch the model was given, of shape \(6, 1, 28, 28\), got \(5, 1, 28, 28\)"):
        elbo(out, x[:5])
    with pytest.raises(ValueError, match="floating-point images, got dtype torch.uint8"):
        beta_vae(out, x.to(torch.uint8))
