"""The contract every course model keeps, checked on all four: VAE, LadderVAE, CausalVAE, ConditionalVAE.

forward -> an output with a per-example ELBO's pieces; embed -> (B, D) codes; decode -> a distribution over images
whose log_prob is per example; save -> load gives the same model; a bad image is refused with a message naming what
was expected and what came. Tiny configurations, CPU, seconds.

Shape letters: B batch, D latent dimensions, C channels, H rows, W columns.
"""

import inspect

import pytest
import torch

from vaecourse import checkpoints
from vaecourse.models import VAE, CausalVAE, ConditionalVAE, LadderVAE
from vaecourse.objectives import causal_terms, elbo_terms

B = 3
MODELS = {
    "VAE": lambda: VAE(latent_dim=3, encoder="mlp28", image_shape=(1, 28, 28)),
    "LadderVAE": lambda: LadderVAE([4, 2], [16, 8], image_shape=(1, 28, 28)),
    "CausalVAE": lambda: CausalVAE(n_concepts=4, concept_dim=2, encoder="conv32", image_shape=(3, 32, 32)),
    "ConditionalVAE": lambda: ConditionalVAE(n_concepts=4, concept_dim=2, encoder="conv32", image_shape=(3, 32, 32)),
}


@pytest.fixture(params=list(MODELS))
def built(request):
    torch.manual_seed(0)
    return MODELS[request.param]().eval()


def _labelled(model) -> bool:
    return "u" in inspect.signature(model.forward).parameters


def _inputs(model, seed=0):
    """(x,) or (x, u): images in [0, 1] of the model's shape, and labels for the label-conditioned models."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((B, *model.image_shape), generator=g).round()  # (B, C, H, W) binary images
    return (x, 2 * torch.rand(B, model.n, generator=g) - 1) if _labelled(model) else (x,)


def _decoder_width(model) -> int:
    """What decode takes: z (B, D), or for the ladder the bottom layer z_1 (B, D_1)."""
    return model.latent_sizes[0] if isinstance(model, LadderVAE) else model.latent_dim


def test_forward_gives_the_elbos_pieces_per_example(built):
    inputs = _inputs(built)
    out = built(*inputs)
    assert hasattr(out, "p_x")
    if _labelled(built):  # chapter 5: two KLs, of eps and of z to the label prior (Eq. 36-37)
        log_px_z, kl_eps, kl_z, _ = causal_terms(out, inputs[0])
        kl = kl_eps + kl_z
    else:
        log_px_z, kl = elbo_terms(out, inputs[0])
    assert log_px_z.shape == kl.shape == (B,)
    assert torch.isfinite(log_px_z).all() and (kl >= 0).all()


def test_embed_gives_one_code_per_image(built):
    codes = built.embed(*_inputs(built))
    assert codes.shape == (B, built.latent_dim) and not codes.requires_grad
    assert torch.equal(codes, built.embed(*_inputs(built)))  # the posterior mean: no sampling


def test_decode_gives_a_per_example_distribution_over_images(built):
    p_x = built.decode(torch.zeros(B, _decoder_width(built)))
    x = _inputs(built)[0]
    assert p_x.log_prob(x).shape == (B,)
    assert p_x.mean.shape == x.shape
    with pytest.raises(ValueError, match=r"\(B, %d\)" % _decoder_width(built)):
        built.decode(torch.zeros(B, _decoder_width(built) + 1))


def test_checkpoint_round_trip_restores_the_same_model(built, tmp_path):
    checkpoints.save(built, tmp_path / "m.pt", step=0)
    loaded = checkpoints.load(tmp_path / "m.pt")
    assert type(loaded) is type(built) and loaded.hparams == built.hparams
    inputs = _inputs(built, seed=1)
    assert torch.equal(loaded.embed(*inputs), built.embed(*inputs))
    with pytest.raises(ValueError):  # a checkpoint of another model class is refused
        checkpoints.read(tmp_path / "m.pt", expected_class=VAE if not isinstance(built, VAE) else LadderVAE)


def test_bad_images_are_refused_with_what_was_expected(built):
    x, *rest = _inputs(built)
    shape = tuple(built.image_shape)
    with pytest.raises(ValueError, match=r"\(B, %d, %d, %d\)" % shape):
        built(x[:, :, :-1], *rest)  # one row short
    with pytest.raises(ValueError, match="dtype"):
        built((x * 255).to(torch.uint8), *rest)  # bytes, not probabilities
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        built(x * 2 - 0.5, *rest)  # outside the Bernoulli range
