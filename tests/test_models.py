"""The VAE contract per architecture (shapes, types, determinism), the published layer sizes, and bad input."""

import dataclasses

import pytest
import torch
from torch import nn

from vaecourse.distributions import DiagonalGaussian, reparameterize
from vaecourse.likelihoods import bernoulli_log_prob
from vaecourse.models import VAE, VAEOutput
from vaecourse.nn import ARCHITECTURES

CONFIGS = [("mlp", (1, 64, 64)), ("conv64", (1, 64, 64)), ("conv32", (1, 32, 32)), ("mlp28", (1, 28, 28))]
B, D = 3, 4


def _images(shape, n=B, seed=0):
    return (torch.rand((n, *shape), generator=torch.Generator().manual_seed(seed)) > 0.5).float()


@pytest.fixture(scope="module", params=CONFIGS, ids=[name for name, _ in CONFIGS])
def built(request):
    name, shape = request.param
    torch.manual_seed(0)
    return VAE(latent_dim=D, encoder=name, image_shape=shape), _images(shape)


def test_every_architecture_is_covered():
    assert {name for name, _ in CONFIGS} == set(ARCHITECTURES)


# the contract ----------------------------------------------------------------------------------------------------

def test_encode_returns_a_diagonal_gaussian_over_the_latents(built):
    model, x = built
    q = model.encode(x)
    assert isinstance(q, DiagonalGaussian)
    assert q.batch_shape == (B,) and q.event_shape == (D,)
    assert q.mu.shape == q.logvar.shape == (B, D)
    assert torch.isfinite(q.mu).all() and torch.isfinite(q.logvar).all()
    torch.testing.assert_close(model.embed(x), q.mu)


def test_decode_returns_a_per_example_bernoulli_over_the_image(built):
    model, x = built
    z = torch.randn(B, D, generator=torch.Generator().manual_seed(1))
    p = model.decode(z)
    assert p.batch_shape == (B,) and p.event_shape == x.shape[1:]
    log_px = p.log_prob(x)
    assert log_px.shape == (B,)
    assert torch.isfinite(log_px).all() and (log_px < 0).all()
    # the number is the summed Bernoulli log-likelihood of the decoder's logits
    torch.testing.assert_close(log_px, bernoulli_log_prob(model.decoder(z), x))


def test_forward_returns_a_frozen_dataclass_with_a_reparameterised_sample(built):
    model, x = built
    out = model(x, generator=torch.Generator().manual_seed(2))
    assert isinstance(out, VAEOutput)
    assert [f.name for f in dataclasses.fields(out)] == ["q_z", "z", "p_x"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.z = None
    assert out.z.shape == (B, D)
    expected_z = reparameterize(out.q_z.mu, out.q_z.logvar, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(out.z, expected_z)
    torch.testing.assert_close(out.p_x.log_prob(x), model.decode(out.z).log_prob(x))
    # gradients reach the encoder through z
    out.p_x.log_prob(x).sum().backward()
    first_encoder_weight = next(model.encoder.parameters())
    assert first_encoder_weight.grad is not None and first_encoder_weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)


def test_sample_and_reconstruct_are_images_of_probabilities(built):
    model, x = built
    samples = model.sample(5, generator=torch.Generator().manual_seed(3))
    recon = model.reconstruct(x)
    assert samples.shape == (5, *x.shape[1:]) and recon.shape == x.shape
    for images in (samples, recon):
        assert images.min() >= 0 and images.max() <= 1
        assert not images.requires_grad
    # reconstruct decodes the posterior mean; sample decodes z ~ N(0, I) from the generator
    torch.testing.assert_close(recon, torch.sigmoid(model.decoder(model.encode(x).mu)).detach())
    z = torch.randn((5, D), generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(samples, torch.sigmoid(model.decoder(z)).detach())


def test_seeded_construction_and_sampling_are_deterministic(built):
    model, x = built
    name, shape = model.hparams["encoder"], tuple(model.hparams["image_shape"])
    torch.manual_seed(0)
    twin = VAE(latent_dim=D, encoder=name, image_shape=shape)
    for a, b in zip(model.state_dict().values(), twin.state_dict().values()):
        assert torch.equal(a, b)
    out_a = model(x, generator=torch.Generator().manual_seed(4))
    out_b = twin(x, generator=torch.Generator().manual_seed(4))
    assert torch.equal(out_a.z, out_b.z)
    assert torch.equal(out_a.p_x.log_prob(x), out_b.p_x.log_prob(x))
    assert torch.equal(model.sample(2, generator=torch.Generator().manual_seed(5)),
                       twin.sample(2, generator=torch.Generator().manual_seed(5)))


def test_hparams_rebuild_the_same_architecture(built):
    model, _ = built
    assert model.hparams == {"latent_dim": D, "encoder": model.hparams["encoder"],
                             "image_shape": list(model.image_shape), "likelihood": "bernoulli",
                             "decoder": model.hparams["encoder"]}
    rebuilt = VAE(**model.hparams)
    assert [(k, v.shape) for k, v in rebuilt.state_dict().items()] == \
           [(k, v.shape) for k, v in model.state_dict().items()]


def test_gaussian_likelihood_accepts_any_real_values():
    torch.manual_seed(0)
    model = VAE(latent_dim=2, encoder="mlp28", image_shape=(1, 28, 28), likelihood="gaussian")
    x = 3 * torch.randn(2, 1, 28, 28)  # outside [0, 1]: fine for a Gaussian
    out = model(x)
    expected = torch.distributions.Normal(model.decoder(out.z), torch.exp(0.5 * model.likelihood.logvar))
    torch.testing.assert_close(out.p_x.log_prob(x), expected.log_prob(x).sum(dim=(1, 2, 3)))


# the published architectures ------------------------------------------------------------------------------------

def _linear_sizes(module):
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def _activations(module):
    return [type(m) for m in module.modules() if isinstance(m, (nn.ReLU, nn.Tanh))]


def test_mlp_has_the_higgins_sizes():
    model = VAE(latent_dim=10, encoder="mlp", image_shape=(1, 64, 64))
    assert _linear_sizes(model.encoder) == [(4096, 1200), (1200, 1200), (1200, 20)]
    assert _activations(model.encoder) == [nn.ReLU, nn.ReLU]
    assert _linear_sizes(model.decoder) == [(10, 1200), (1200, 1200), (1200, 1200), (1200, 4096)]
    assert _activations(model.decoder) == [nn.Tanh, nn.Tanh, nn.Tanh]
    assert not any(isinstance(m, nn.Conv2d) for m in model.modules())


def test_conv64_has_the_burgess_layers():
    model = VAE(latent_dim=10, encoder="conv64", image_shape=(1, 64, 64))
    convs = [m for m in model.encoder.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 32), (32, 32), (32, 32), (32, 32)]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    assert _linear_sizes(model.encoder) == [(32 * 4 * 4, 256), (256, 256), (256, 20)]
    deconvs = [m for m in model.decoder.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels) for c in deconvs] == [(32, 32), (32, 32), (32, 32), (32, 1)]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in deconvs)
    assert _linear_sizes(model.decoder) == [(10, 256), (256, 256), (256, 32 * 4 * 4)]
    # the feature map before the head is 32 x 4 x 4
    assert model.encoder.convs(torch.zeros(1, 1, 64, 64)).shape == (1, 32, 4, 4)


def test_conv32_uses_three_halvings():
    model = VAE(latent_dim=3, encoder="conv32", image_shape=(1, 32, 32))
    assert sum(isinstance(m, nn.Conv2d) for m in model.encoder.modules()) == 3
    assert model.encoder.convs(torch.zeros(1, 1, 32, 32)).shape == (1, 32, 4, 4)


# bad input ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return VAE(latent_dim=D, encoder="conv32", image_shape=(1, 32, 32))


def test_wrong_image_shape_names_expected_and_given(small):
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, 32, 32\), got \(2, 1, 28, 28\)"):
        small.encode(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, 32, 32\), got \(1, 32, 32\)"):
        small(torch.zeros(1, 32, 32))  # the batch dimension is missing


def test_integer_images_are_rejected_with_the_dtype(small):
    with pytest.raises(ValueError, match=r"floating-point images.*got dtype torch.uint8"):
        small.encode(torch.zeros(2, 1, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"got dtype torch.int64"):
        small.reconstruct(torch.zeros(2, 1, 32, 32, dtype=torch.long))


def test_non_tensor_input_is_rejected(small):
    with pytest.raises(ValueError, match=r"expected a torch.Tensor of images, got ndarray"):
        small.encode(torch.zeros(2, 1, 32, 32).numpy())


def test_values_outside_unit_range_are_rejected_for_bernoulli(small):
    x = torch.zeros(2, 1, 32, 32)
    x[0, 0, 0, 0] = 255.0
    with pytest.raises(ValueError, match=r"values in \[0, 1\] for a Bernoulli likelihood, got values from 0 to 255"):
        small(x)
    x[0, 0, 0, 0] = -0.5
    with pytest.raises(ValueError, match=r"got values from -0.5 to 0"):
        small.encode(x)


@pytest.mark.parametrize("latent_dim", [0, -3, 2.5, "4", None, True, 10 ** 6])
def test_latent_dim_must_be_a_positive_integer(latent_dim):
    with pytest.raises(ValueError, match=rf"latent_dim must be a number of units between 1 and 65,536, got "
                                         rf"{latent_dim!r}"):
        VAE(latent_dim=latent_dim, encoder="conv32", image_shape=(1, 32, 32))


def test_unknown_architecture_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown encoder 'resnet': expected one of \('mlp', 'conv64'"):
        VAE(latent_dim=2, encoder="resnet", image_shape=(1, 32, 32))
    with pytest.raises(ValueError, match=r"unknown decoder 'resnet'"):
        VAE(latent_dim=2, encoder="conv32", decoder="resnet", image_shape=(1, 32, 32))
    with pytest.raises(ValueError, match=r"unknown likelihood 'laplace'"):
        VAE(latent_dim=2, encoder="conv32", image_shape=(1, 32, 32), likelihood="laplace")


def test_conv_architectures_refuse_other_image_sizes():
    with pytest.raises(ValueError, match=r"'conv64' architecture expects 64x64 images, got image_shape=\(1, 28, 28\)"):
        VAE(latent_dim=2, encoder="conv64", image_shape=(1, 28, 28))
    with pytest.raises(ValueError, match=r"'conv32' architecture expects 32x32 images, got image_shape=\(1, 64, 64\)"):
        VAE(latent_dim=2, encoder="conv32", image_shape=(1, 64, 64))
    with pytest.raises(ValueError, match=r"image_shape must be \(C, H, W\)"):
        VAE(latent_dim=2, encoder="mlp28", image_shape=(28, 28))


def test_conv_decoder_refuses_other_image_sizes():
    with pytest.raises(ValueError, match=r"'conv64' architecture expects 64x64 images"):
        VAE(latent_dim=2, encoder="conv32", decoder="conv64", image_shape=(1, 32, 32))


def test_decode_with_the_wrong_latent_width_names_expected_and_given(small):
    with pytest.raises(ValueError, match=r"decode expected z of shape \(B, 4\), got \(2, 5\)"):
        small.decode(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"decode expected z of shape \(B, 4\), got \(4,\)"):
        small.decode(torch.zeros(4))


@pytest.mark.parametrize("encoder, shape", [("conv32", (1, 32, 32)), ("mlp28", (1, 28, 28))])
def test_logvar_bias_starts_log_sigma_squared_there_and_round_trips(tmp_path, encoder, shape):
    """VAE(logvar_bias=-4): the same random weights (same seed), only the log-variance bias moved, so
    log sigma^2(x) = -4 + (the default model's log sigma^2(x) - its bias); kept in hparams for checkpoints."""
    from vaecourse import checkpoints
    torch.manual_seed(3)
    plain = VAE(latent_dim=4, encoder=encoder, image_shape=shape)
    torch.manual_seed(3)
    biased = VAE(latent_dim=4, encoder=encoder, image_shape=shape, logvar_bias=-4.0)
    assert "logvar_bias" not in plain.hparams and biased.hparams["logvar_bias"] == -4.0
    x = torch.rand(5, *shape).round()
    last = [m for m in plain.encoder.modules() if isinstance(m, nn.Linear)][-1]
    expected = plain.encode(x).logvar - last.bias[4:] - 4.0  # (B, D)
    torch.testing.assert_close(biased.encode(x).logvar, expected)
    torch.testing.assert_close(biased.encode(x).mu, plain.encode(x).mu)
    checkpoints.save(biased, tmp_path / "m.pt")
    again = checkpoints.load(tmp_path / "m.pt")
    assert again.hparams == biased.hparams
    torch.testing.assert_close(again.encode(x).logvar, biased.encode(x).logvar)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "-4", True])
def test_logvar_bias_must_be_a_finite_number(value):
    with pytest.raises(ValueError, match=r"logvar_bias must be a log-variance between -30 and 30 .*\(or None\), got"):
        VAE(latent_dim=2, encoder="conv32", image_shape=(1, 32, 32), logvar_bias=value)
