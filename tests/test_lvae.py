"""Chapter 4 models: the precision-weighted merge, the hierarchical VAE and the Ladder VAE, their objective."""

import math

import pytest
import torch

from vaecourse import checkpoints
from vaecourse.distributions import kl_standard_normal, precision_weighted_merge
from vaecourse.models import MODEL_REGISTRY, LadderOutput, LadderVAE
from vaecourse.objectives import elbo, importance_weighted_bound, kl_weight, ladder_elbo
from vaecourse.objectives.elbo import log_mean_exp

B = 6
SMALL = dict(latent_sizes=[6, 4, 2], hidden_sizes=[32, 16, 8], image_shape=(1, 8, 8))
INFERENCES = ["ladder", "bottom_up"]


def _images(n=B, shape=(1, 8, 8), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.rand((n, *shape), generator=g), generator=g)


def _model(inference="ladder", seed=0, **kw):
    torch.manual_seed(seed)
    return LadderVAE(**(SMALL | {"inference": inference} | kw))


# --- the merge [sonderby2016, Eq. 23-24] --------------------------------------------------------------------------

def test_merge_is_the_normalised_product_of_two_gaussians():
    g = torch.Generator().manual_seed(0)
    mu1, mu2 = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    v1, v2 = torch.rand(5, 3, generator=g, dtype=torch.float64) + 0.1, torch.rand(5, 3, generator=g, dtype=torch.float64) + 0.1
    mu, var = precision_weighted_merge(mu1, v1, mu2, v2)
    # N(z; mu1, v1) N(z; mu2, v2) = N(mu1; mu2, v1 + v2) N(z; mu, var): check the identity at random z
    z = torch.randn(5, 3, generator=g, dtype=torch.float64)

    def log_n(z, m, v):
        return -0.5 * (math.log(2 * math.pi) + v.log() + (z - m) ** 2 / v)

    torch.testing.assert_close(log_n(z, mu1, v1) + log_n(z, mu2, v2), log_n(mu1, mu2, v1 + v2) + log_n(z, mu, var))


def test_merge_known_answers():
    t = torch.tensor
    # equal variances: the mean is the average, the variance halves
    mu, var = precision_weighted_merge(t([0.0]), t([2.0]), t([4.0]), t([2.0]))
    assert mu.item() == pytest.approx(2.0) and var.item() == pytest.approx(1.0)
    # variances 1 and 3: precisions 1 and 1/3 -> var 3/4, mean (0*1 + 4/3) * 3/4 = 1
    mu, var = precision_weighted_merge(t([0.0]), t([1.0]), t([4.0]), t([3.0]))
    assert mu.item() == pytest.approx(1.0) and var.item() == pytest.approx(0.75)
    # a near-certain source wins; a vague one is ignored
    mu, var = precision_weighted_merge(t([3.0]), t([1e-6]), t([-5.0]), t([1.0]))
    assert mu.item() == pytest.approx(3.0, abs=1e-4) and var.item() == pytest.approx(1e-6, rel=1e-5)
    mu, _ = precision_weighted_merge(t([3.0]), t([1e6]), t([-5.0]), t([1.0]))
    assert mu.item() == pytest.approx(-5.0, abs=1e-4)


# --- the model contract ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("inference", INFERENCES)
def test_shapes_and_finite_terms(inference):
    model, x = _model(inference), _images()
    out = model(x, generator=torch.Generator().manual_seed(1))
    assert isinstance(out, LadderOutput)
    assert [tuple(z.shape) for z in out.z_layers] == [(B, 6), (B, 4), (B, 2)]
    assert [tuple(k.shape) for k in out.kl_units] == [(B, 6), (B, 4), (B, 2)]
    assert out.z.shape == (B, 12) and out.q_z.batch_shape == (B,) and out.q_z.event_shape == (12,)
    assert out.p_x.log_prob(x).shape == (B,)
    assert out.kl.shape == out.log_p_z.shape == out.log_q_z.shape == (B,)
    assert all((k >= -1e-6).all() for k in out.kl_units)
    terms = ladder_elbo(out, x, epoch=0.5, warmup_epochs=2)
    assert torch.isfinite(terms.loss) and torch.isfinite(terms.elbo).all()
    assert terms.extras["kl_units"].shape == (B, 12)
    # the top layer's prior is N(0, I)
    assert torch.equal(out.p_layers[-1].mu, torch.zeros(B, 2)) and torch.equal(out.p_layers[-1].logvar, torch.zeros(B, 2))
    # ELBO = log p(x|z) - KL, and the MC identity KL = log q - log p holds in expectation: here exactly per sample
    # for bottom-up inference below the top layer
    if inference == "bottom_up":
        top = out.kl_units[-1].sum(-1)
        torch.testing.assert_close(out.kl - top, out.log_q_z - out.log_p_z - (out.q_layers[-1].log_prob(out.z_layers[-1])
                                                                              - out.p_layers[-1].log_prob(out.z_layers[-1])))
    else:
        torch.testing.assert_close(out.kl, sum(out.kl_layers))


def test_ladder_posterior_is_the_merge_of_bottom_up_and_prior():
    model, x = _model("ladder"), _images()
    model.eval()
    out = model(x, generator=torch.Generator().manual_seed(3))
    hats = model.bottom_up(x)
    # the top layer takes the bottom-up estimate as it is (Eq. 25's last line)
    torch.testing.assert_close(out.q_layers[-1].mu, hats[-1][0])
    torch.testing.assert_close(out.q_layers[-1].variance, hats[-1][1])
    for i in range(model.n_layers - 1):
        mu_p, var_p = model.prior_step(i, out.z_layers[i + 1])
        mu, var = precision_weighted_merge(*hats[i], mu_p, var_p)
        torch.testing.assert_close(out.q_layers[i].mu, mu)
        torch.testing.assert_close(out.q_layers[i].variance, var)
        # a merged variance is below both of its sources
        assert (var <= torch.minimum(hats[i][1], var_p) + 1e-7).all()


@pytest.mark.parametrize("inference", INFERENCES)
def test_one_layer_is_a_vae(inference):
    """With L = 1: q(z|x) = N(mu_hat(x), sigma_hat^2(x)), p(z) = N(0, I): the objective is the VAE's ELBO."""
    model, x = _model(inference, latent_sizes=[5], hidden_sizes=[16]), _images()
    out = model(x, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(out.kl, kl_standard_normal(out.q_z.mu, out.q_z.logvar))
    torch.testing.assert_close(out.kl, out.q_z.kl_to_standard_normal())
    plain = elbo(out, x)
    ours = ladder_elbo(out, x, epoch=10.0, warmup_epochs=5)
    torch.testing.assert_close(ours.loss, plain.loss)
    torch.testing.assert_close(ours.elbo, plain.elbo)
    # the importance-weighted bound of the hierarchy equals the VAE formula's (same samples)
    model.eval()
    from vaecourse.objectives.elbo import _vae_log_weights
    a = model.log_importance_weights(x, 7, generator=torch.Generator().manual_seed(5))
    b = _vae_log_weights(model, x)(x, 7, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b)


def test_one_layer_ladder_and_bottom_up_are_the_same_model():
    lad, bu, x = _model("ladder", latent_sizes=[5], hidden_sizes=[16]), _model("bottom_up", latent_sizes=[5], hidden_sizes=[16]), _images()
    bu.load_state_dict(lad.state_dict())
    eps = [torch.randn(B, 5, generator=torch.Generator().manual_seed(6))]
    a, b = lad(x, eps=eps), bu(x, eps=eps)
    torch.testing.assert_close(a.z, b.z)
    torch.testing.assert_close(a.kl, b.kl)
    torch.testing.assert_close(a.p_x.log_prob(x), b.p_x.log_prob(x))


@pytest.mark.parametrize("inference", INFERENCES)
def test_one_optimiser_step_lowers_the_loss(inference):
    model, x = _model(inference, batch_norm=False), _images(n=32)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    eps = [torch.randn(32, d, generator=torch.Generator().manual_seed(7)) for d in model.latent_sizes]
    before = ladder_elbo(model(x, eps=eps), x).loss
    opt.zero_grad()
    before.backward()
    opt.step()
    after = ladder_elbo(model(x, eps=eps), x).loss
    assert after < before


@pytest.mark.parametrize("inference", INFERENCES)
def test_seeded_determinism(inference):
    x = _images()
    a = _model(inference, seed=3)(x, generator=torch.Generator().manual_seed(8))
    b = _model(inference, seed=3)(x, generator=torch.Generator().manual_seed(8))
    torch.testing.assert_close(a.z, b.z)
    torch.testing.assert_close(a.kl, b.kl)


def test_save_load_round_trip(tmp_path):
    model, x = _model("ladder", batch_norm=True), _images()
    model.train()
    model(x)  # moves the batch-norm running statistics away from their initial values
    model.eval()
    path = checkpoints.save(model, tmp_path / "lvae.pt")
    again = checkpoints.load(path)
    assert isinstance(again, LadderVAE) and again.hparams == model.hparams
    assert "LadderVAE" in MODEL_REGISTRY
    eps = [torch.zeros(B, d) for d in model.latent_sizes]
    again.eval()
    torch.testing.assert_close(again(x, eps=eps).p_x.mean, model(x, eps=eps).p_x.mean)


@pytest.mark.parametrize("inference", INFERENCES)
def test_importance_weighted_bound_is_above_the_elbo_and_chunk_independent(inference):
    torch.manual_seed(0)
    model, x = _model(inference), _images()
    model.eval()
    g = torch.Generator().manual_seed(9)
    log_w = model.log_importance_weights(x, 2000, generator=g)  # (S, B)
    elbo_estimate = log_w.mean(0)
    bound = log_mean_exp(log_w, 0)
    assert (bound >= elbo_estimate).all()  # Jensen, sample by sample
    # the bound with many samples sits above the ELBO (whose MC error is far below the gap here)
    assert (bound > elbo_estimate + 0.1).all()
    a = importance_weighted_bound(model, x, 60, chunk_size=60, generator=torch.Generator().manual_seed(10))
    b = importance_weighted_bound(model, x, 60, chunk_size=7, generator=torch.Generator().manual_seed(10))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, log_mean_exp(model.log_importance_weights(x, 60, torch.Generator().manual_seed(10)), 0))


def test_sampling_and_layer_means():
    model = _model("ladder")
    model.eval()
    images, zs = model.sample(4, generator=torch.Generator().manual_seed(0), layers=True)
    assert images.shape == (4, 1, 8, 8) and ((images >= 0) & (images <= 1)).all()
    assert [tuple(z.shape) for z in zs] == [(4, 6), (4, 4), (4, 2)]
    means = model.layer_means(_images(), n_samples=3, generator=torch.Generator().manual_seed(1))
    assert [tuple(m.shape) for m in means] == [(B, 6), (B, 4), (B, 2)]
    # the top layer of a ladder has no parent: its mean is exact and needs no sampling
    torch.testing.assert_close(means[-1], model.bottom_up(_images())[-1][0])
    assert model.embed(_images()).shape == (B, 12)
    assert model.reconstruct(_images()).shape == (B, 1, 8, 8)


def test_layer_decoders_traverse_each_layer_in_prior_standard_deviations():
    model = _model("ladder").eval()
    path = model.prior_mean_path()
    assert [tuple(mu.shape) for mu, _ in path] == [(6,), (4,), (2,)]
    torch.testing.assert_close(path[-1][0], torch.zeros(2))  # the top layer's prior is N(0, I)
    # s = 0 is the prior's mean path, whichever layer is traversed: the same image from every layer
    typical = model.decode(path[0][0][None]).mean
    for layer in range(3):
        torch.testing.assert_close(model.layer_decoder(layer).decode(torch.zeros(1, model.latent_sizes[layer])).mean,
                                   typical)
    # a step of s on unit j moves z_layer by s * sigma_p on unit j only, then follows the prior means down
    mu, var = path[1]
    s = torch.zeros(1, 4)
    s[0, 2] = 1.5
    z1, _ = model.prior_step(0, (mu + s * var.sqrt()))
    torch.testing.assert_close(model.layer_decoder(1).decode(s).mean, model.decode(z1).mean)
    # ... and the image does change
    assert (model.layer_decoder(2).decode(torch.tensor([[3.0, 0.0]])).mean - typical).abs().max() > 1e-4
    # with one layer the decoder in prior units is the model's own decoder (prior N(0, I))
    one = _model("ladder", latent_sizes=[3], hidden_sizes=[8]).eval()
    z = torch.randn(5, 3)
    torch.testing.assert_close(one.layer_decoder(0).decode(z).mean, one.decode(z).mean)
    with pytest.raises(ValueError, match=r"layer must be in 0..2"):
        model.layer_decoder(3)
    with pytest.raises(ValueError, match=r"expected z of shape \(B, 4\)"):
        model.decode_from(1, torch.zeros(1, 6))


def test_paper_defaults():
    model = LadderVAE()
    assert model.latent_sizes == (64, 32, 16, 8, 4) and model.hidden_sizes == (512, 256, 128, 64, 32)
    assert model.hparams["batch_norm"] and model.hparams["inference"] == "ladder"
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules())
    assert any(isinstance(m, torch.nn.LeakyReLU) for m in model.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in LadderVAE(batch_norm=False).modules())


# --- warm-up [sonderby2016, Eq. 26] ------------------------------------------------------------------------------

def test_warmup_weight_rises_linearly_and_the_true_elbo_is_logged():
    model, x = _model("ladder"), _images()
    out = model(x, generator=torch.Generator().manual_seed(2))
    for epoch, weight in [(0, 0.0), (5, 0.25), (10, 0.5), (20, 1.0), (35, 1.0)]:
        terms = ladder_elbo(out, x, epoch=epoch, warmup_epochs=20)
        assert terms.extras["kl_weight"].item() == pytest.approx(weight)
        torch.testing.assert_close(terms.loss, -(terms.log_px_z - weight * terms.kl).mean())
        torch.testing.assert_close(terms.elbo, terms.log_px_z - terms.kl)
    # a stream of batches gives a step: converted with steps_per_epoch, same schedule as kl_weight
    terms = ladder_elbo(out, x, step=30, warmup_epochs=4, steps_per_epoch=10)
    assert terms.extras["kl_weight"].item() == pytest.approx(0.75)
    assert kl_weight(3.0, 4) == pytest.approx(0.75)
    assert ladder_elbo(out, x, warmup_epochs=0).extras["kl_weight"].item() == 1.0


# --- bad input ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(latent_sizes=[4, 2], hidden_sizes=[8]), "one entry per stochastic layer"),
    (dict(latent_sizes=[4, 0], hidden_sizes=[8, 8]), "latent_sizes must be layer sizes between 1 and 65,536"),
    (dict(latent_sizes=[4, 2], hidden_sizes=[8, -1]), "hidden_sizes must be layer sizes between 1 and 65,536"),
    (dict(latent_sizes=[], hidden_sizes=[]), r"latent_sizes must be layer sizes .*, got \[\]"),
    (dict(latent_sizes=[4.5], hidden_sizes=[8]), "latent_sizes must be layer sizes"),
    (dict(inference="top_down"), "unknown inference"),
    (dict(mlp_layers=0), "mlp_layers"),
    (dict(var_floor=0.0), "var_floor"),
])
def test_bad_configurations_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LadderVAE(**kwargs)


def test_bad_inputs_are_refused():
    model = _model("ladder")
    with pytest.raises(ValueError, match=r"shape \(B, 1, 8, 8\)"):
        model(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"eps must be 3 tensors"):
        model(_images(), eps=[torch.zeros(B, 6)])
    with pytest.raises(ValueError, match="decode expected z_1"):
        model.decode(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="k \\(the number of importance samples\\)"):
        importance_weighted_bound(model, _images(), k=0)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        ladder_elbo(model(_images()), _images(), step=3)
    with pytest.raises(ValueError, match="warmup_epochs"):
        ladder_elbo(model(_images()), _images(), epoch=1, warmup_epochs=-1)
    with pytest.raises(ValueError, match="n_samples"):
        model.layer_means(_images(), n_samples=0)


def test_importance_weights_reuse_the_bottom_up_pass_exactly():
    model, x = _model("ladder", batch_norm=True), _images()
    model.train()
    model(x)  # running statistics away from their initial values
    model.eval()
    S = 5
    log_w = model.log_importance_weights(x, S, generator=torch.Generator().manual_seed(11))
    g = torch.Generator().manual_seed(11)
    draws = [[torch.randn((B, d), generator=g) for d in model.latent_sizes] for _ in range(S)]
    for s in range(S):  # sample by sample, each a full forward pass with its own bottom-up pass
        out = model(x, eps=draws[s])
        torch.testing.assert_close(log_w[s], out.p_x.log_prob(x) + out.log_p_z - out.log_q_z)
