"""The variational auto-encoder: q(z|x) = N(mu(x), diag sigma^2(x)), p(z) = N(0, I), p(x|z) from a decoder.

beta-VAE is this same model trained with another objective (vaecourse.objectives.beta).
Shape letters: B batch, D latent dimensions, C/H/W image channels/height/width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Distribution

from vaecourse import values
from vaecourse.distributions import DiagonalGaussian, reparameterize
from vaecourse.likelihoods import LikelihoodHead
from vaecourse.models.base import CourseModel, register_model
from vaecourse.nn import build_decoder, build_encoder


@dataclass(frozen=True)
class VAEOutput:
    """What ``model(x)`` returns: the posterior, its reparameterised sample, and p(x|z)."""

    q_z: DiagonalGaussian  # q(z|x): batch (B,), event (D,)
    z: Tensor  # (B, D), z ~ q(z|x) by reparameterisation
    p_x: Distribution  # p(x|z): batch (B,), event (C, H, W)


@register_model
class VAE(CourseModel):
    """A VAE with a named encoder/decoder pair (see :mod:`vaecourse.nn`).

    >>> model = VAE(latent_dim=10, encoder="conv64")          # Burgess et al. on 64x64 dSprites
    >>> out = model(torch.rand(8, 1, 64, 64).round())
    >>> out.z.shape, out.p_x.log_prob(torch.zeros(8, 1, 64, 64)).shape
    (torch.Size([8, 10]), torch.Size([8]))

    ``logvar_bias`` (e.g. -4) starts log sigma^2(x) there instead of near 0: the chapter-2 recipe, which keeps a
    beta-VAE on dSprites from sitting in the collapsed "average image" state (see ``_start_logvar_at``).
    """

    def __init__(self, latent_dim: int = 10, encoder: str = "conv64", image_shape: tuple[int, int, int] = (1, 64, 64),
                 likelihood: str = "bernoulli", decoder: str | None = None, logvar_bias: float | None = None):
        super().__init__()
        latent_dim = values.units.check("latent_dim", latent_dim)
        image_shape = values.image_shape.check("image_shape", image_shape)  # bounded before any layer is built
        decoder = encoder if decoder is None else decoder
        logvar_bias = values.log_variance.or_none().check("logvar_bias", logvar_bias)  # 100 gave KL = inf at step 0
        extra = {} if logvar_bias is None else {"logvar_bias": float(logvar_bias)}  # old checkpoints stay equal
        self._remember(latent_dim=latent_dim, encoder=encoder, image_shape=image_shape, likelihood=likelihood,
                       decoder=decoder, **extra)
        self.latent_dim = latent_dim
        self.image_shape = image_shape
        self.encoder = build_encoder(encoder, image_shape, latent_dim)
        self.decoder = build_decoder(decoder, image_shape, latent_dim)
        self.likelihood = LikelihoodHead(likelihood)
        if logvar_bias is not None:
            self._start_logvar_at(float(logvar_bias))

    def _start_logvar_at(self, value: float) -> None:
        """Set the bias of the encoder's output for log sigma^2 to ``value`` (the weights stay random).

        At the default initialisation log sigma^2 ~ 0: z is mostly prior noise, the decoder learns the average
        image faster than the encoder learns to be heard, and a beta-VAE on dSprites can sit in that collapsed
        optimum (KL ~ 0) for thousands of steps, how long depending on the seed. With -4 (sigma ~ 0.14) z carries
        the random encoder's features from the first step, so the decoder uses them from the start.
        """
        last = [m for m in self.encoder.modules() if isinstance(m, torch.nn.Linear)]
        if not last or last[-1].out_features != 2 * self.latent_dim:
            raise ValueError(f"logvar_bias needs an encoder ending in a Linear layer of {2 * self.latent_dim} outputs")
        with torch.no_grad():
            last[-1].bias[self.latent_dim:] = value

    def encode(self, x: Tensor) -> DiagonalGaussian:
        """q(z|x): the encoder outputs (mu, logvar), each (B, D)."""
        x = self.check_input(x)
        mu, logvar = self.encoder(x).chunk(2, dim=-1)  # (B, D), (B, D)
        return DiagonalGaussian(mu, logvar)

    def decode(self, z: Tensor) -> Distribution:
        """p(x|z), whose ``log_prob(x)`` is summed over pixels: (B,)."""
        z = self.check_latent(z, self.latent_dim, "decode")  # (NaN: fit names the step)
        return self.likelihood(self.decoder(z))

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> VAEOutput:
        generator = values.generator.or_none().check("generator", generator)
        q_z = self.encode(x)
        z = reparameterize(q_z.mu, q_z.logvar, generator=generator)  # (B, D)
        return VAEOutput(q_z=q_z, z=z, p_x=self.decode(z))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n images E[x|z] with z ~ p(z) = N(0, I): (n, C, H, W)."""
        generator = values.generator.or_none().check("sample's generator", generator)
        z = torch.randn((values.batch_size.check("n", n), self.latent_dim), generator=generator).to(self.device,
                                                                                                 self.dtype)
        return self.decode(z).mean

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """E[x|z] at the posterior mean z = mu(x): (B, C, H, W)."""
        return self.decode(self.encode(x).mu).mean

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """The posterior means mu(x), (B, D): the representation the metrics read."""
        return self.encode(x).mu
