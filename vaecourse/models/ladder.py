"""Hierarchical VAEs with L stochastic layers: bottom-up inference (the "VAE") or the Ladder VAE.

Generative model, shared by both          [sonderby2016, Eq. 10-12; slides, Eq. (10)-(12)]
    p(z) = p(z_L) prod_{i<L} p(z_i | z_{i+1}),   p(z_L) = N(0, I),
    p(z_i | z_{i+1}) = N(mu_p,i(z_{i+1}), sigma^2_p,i(z_{i+1})),   p(x | z_1) = Bernoulli(mu_p,0(z_1)).

Inference, ``inference="bottom_up"``      [sonderby2016, Eq. 13-18]
    q(z|x) = q(z_1|x) prod_{i>1} q(z_i | z_{i-1}),   each a Gaussian whose (mu, sigma^2) come from
    d(y) = MLP(y), mu = Linear(d), sigma^2 = Softplus(Linear(d)) with y = x, then the sample z_{i-1}.

Inference, ``inference="ladder"``         [sonderby2016, Eq. 19-25]
    1. a deterministic bottom-up pass d_n = MLP(d_{n-1}), d_0 = x, gives (mu_hat_i, sigma_hat^2_i) per layer;
    2. a top-down pass samples z_L ~ N(mu_hat_L, sigma_hat^2_L), then for i = L-1 ... 1 merges the data's
       (mu_hat_i, sigma_hat^2_i) with the generative (mu_p,i, sigma^2_p,i)(z_{i+1}) by precision weighting
       (:func:`vaecourse.distributions.precision_weighted_merge`) and samples z_i from the result.
    The top-down pass reuses the generative model's own networks: inference and generation share the
    same top-down dependency structure.

Defaults are the paper's MNIST model: 5 stochastic layers of 64, 32, 16, 8, 4 units, deterministic blocks
of 2 layers with 512, 256, 128, 64, 32 units, batch norm, leaky ReLU, softplus variances with a small floor.
With one stochastic layer both inference schemes are the VAE: q(z|x) = N(mu_hat(x), sigma_hat^2(x)),
p(z) = N(0, I) (tests/test_lvae.py).

Shape letters: B batch, L stochastic layers, D_i units of layer i, P pixels, S importance samples.
Layer index i runs 0 ... L-1 in code (z_1 ... z_L in the paper); layer 0 is next to the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution

from vaecourse import values
from vaecourse.distributions import DiagonalGaussian, precision_weighted_merge
from vaecourse.likelihoods import LikelihoodHead
from vaecourse.models.base import CourseModel, check_latents, register_model

INFERENCE = ("ladder", "bottom_up")
PAPER_LATENT_SIZES = (64, 32, 16, 8, 4)
PAPER_HIDDEN_SIZES = (512, 256, 128, 64, 32)
VAR_FLOOR = values.real(f"a variance floor > 0 (at least about {values.FLOAT32_TINY:.2g}: float32)",
                        lambda v: v >= values.FLOAT32_TINY, values.MAX_WEIGHT,
                        "the course's floors are 1e-4; a floor beyond it is no variance the data has")


@dataclass(frozen=True)
class LadderOutput:
    """What ``model(x)`` returns. Per-layer tuples run from layer 0 (next to x) to layer L-1 (the top).

    ``kl`` is the KL term of the ELBO, per example: the closed-form conditional KLs summed (ladder:
    z_{i+1} is drawn before z_i, so KL(q(z_i|.) || p(z_i|z_{i+1})) is exact given the sample), or, for
    bottom-up inference where z_{i+1} is drawn *from* z_i, the Monte-Carlo estimate log q(z) - log p(z)
    at the sample (closed form only for the top layer). ``kl_units`` is the diagnostic of the paper's
    Figure 4: the closed-form KL of each unit to its conditional prior, given the sampled parents.
    """

    q_z: DiagonalGaussian  # all layers' conditional posteriors concatenated: batch (B,), event (sum D_i,)
    z: Tensor  # (B, sum D_i) the sample, layers concatenated in order 0 ... L-1
    p_x: Distribution  # p(x | z_1): batch (B,), event (C, H, W)
    q_layers: tuple[DiagonalGaussian, ...]  # q(z_i | .) per layer, (B, D_i)
    p_layers: tuple[DiagonalGaussian, ...]  # p(z_i | z_{i+1}) per layer (the top one is N(0, I)), (B, D_i)
    z_layers: tuple[Tensor, ...]  # (B, D_i) per layer
    kl_units: tuple[Tensor, ...]  # (B, D_i) per layer: KL(q(z_ik|.) || p(z_ik|z_{i+1})) in nats
    kl: Tensor  # (B,) the ELBO's KL term
    log_p_z: Tensor  # (B,) log p(z) = sum_i log p(z_i | z_{i+1}) at the sample
    log_q_z: Tensor  # (B,) log q(z | x) = sum_i log q(z_i | .) at the sample

    @property
    def kl_layers(self) -> tuple[Tensor, ...]:
        """KL per layer and example, (B,) each: ``kl_units`` summed over the units of the layer."""
        return tuple(k.sum(dim=-1) for k in self.kl_units)


class DeterministicBlock(nn.Sequential):
    """d(y) = MLP(y): ``n_layers`` x [Linear -> (BatchNorm) -> LeakyReLU], all of width ``width``.  [Eq. 16, 19]"""

    def __init__(self, n_in: int, width: int, n_layers: int, batch_norm: bool):
        layers: list[nn.Module] = []
        for j in range(n_layers):
            layers.append(nn.Linear(n_in if j == 0 else width, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(nn.LeakyReLU(0.1))
        super().__init__(*layers)


class GaussianHead(nn.Module):
    """mu = Linear(d), sigma^2 = Softplus(Linear(d)) + floor.  [sonderby2016, Eq. 17-18, 20-21]

    The floor keeps a precision 1 / sigma^2 finite when a unit becomes very certain.
    """

    def __init__(self, width: int, units: int, var_floor: float):
        super().__init__()
        self.mu = nn.Linear(width, units)
        self.var = nn.Linear(width, units)
        self.var_floor = var_floor

    def forward(self, d: Tensor) -> tuple[Tensor, Tensor]:
        return self.mu(d), F.softplus(self.var(d)) + self.var_floor  # (B, D), (B, D)


def _gaussian_kl_units(mu_q: Tensor, var_q: Tensor, mu_p: Tensor, var_p: Tensor) -> Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, var_p)) per unit (not summed), (B, D)."""
    return 0.5 * (torch.log(var_p) - torch.log(var_q) + (var_q + (mu_q - mu_p).pow(2)) / var_p - 1.0)


@register_model
class LadderVAE(CourseModel):
    """A hierarchical VAE with ``len(latent_sizes)`` stochastic layers; ``inference`` picks the posterior.

    >>> model = LadderVAE(latent_sizes=[8, 4], hidden_sizes=[32, 16])
    >>> out = model(torch.rand(5, 1, 28, 28).bernoulli())
    >>> [tuple(z.shape) for z in out.z_layers], tuple(out.kl.shape)
    ([(5, 8), (5, 4)], (5,))
    """

    def __init__(self, latent_sizes: Sequence[int] = PAPER_LATENT_SIZES,
                 hidden_sizes: Sequence[int] = PAPER_HIDDEN_SIZES, *, inference: str = "ladder",
                 batch_norm: bool = True, mlp_layers: int = 2, var_floor: float = 1e-4,
                 image_shape: tuple[int, int, int] = (1, 28, 28), likelihood: str = "bernoulli"):
        super().__init__()
        latent_sizes = values.layer_sizes.check("latent_sizes", latent_sizes)  # each layer at most MAX_UNITS units,
        hidden_sizes = values.layer_sizes.check("hidden_sizes", hidden_sizes)  # as --latent-sizes/--hidden-sizes
        if len(latent_sizes) != len(hidden_sizes):
            raise ValueError(f"latent_sizes and hidden_sizes must have one entry per stochastic layer, got "
                             f"{len(latent_sizes)} latent sizes {list(latent_sizes)} and {len(hidden_sizes)} "
                             f"hidden sizes {list(hidden_sizes)}")
        if inference not in INFERENCE:
            raise ValueError(f"unknown inference {values.shown(inference)}: expected one of {INFERENCE}")
        mlp_layers = values.layers.check("mlp_layers", mlp_layers)
        batch_norm = values.boolean.check("batch_norm", batch_norm)
        var_floor = VAR_FLOOR.check("var_floor", var_floor)  # (a float: an int 10**20 overflowed inside softplus' sum)
        image_shape = values.image_shape.check("image_shape", image_shape)  # bounded before any layer is built
        if torch.empty(0).device.type != "meta":  # (built on the meta device, for the recipes' estimate, it is free)
            widths = [math.prod(image_shape), *hidden_sizes]  # the bottom-up pass; the top-down one mirrors it
            # each block: one n_in x width layer, then mlp_layers - 1 of width x width (DeterministicBlock)
            block = sum(a * b + (mlp_layers - 1) * b * b for a, b in zip(widths[:-1], widths[1:]))
            values.fits_in_memory("LadderVAE's weights (image_shape, hidden_sizes and mlp_layers)", 2 * block, 4,
                                  "float32 weights")
        self._remember(latent_sizes=list(latent_sizes), hidden_sizes=list(hidden_sizes), inference=inference,
                       batch_norm=bool(batch_norm), mlp_layers=mlp_layers, var_floor=float(var_floor),
                       image_shape=image_shape, likelihood=likelihood)
        self.latent_sizes, self.hidden_sizes = latent_sizes, hidden_sizes
        self.inference, self.image_shape = inference, image_shape
        self.n_layers = L = len(latent_sizes)
        pixels = math.prod(image_shape)

        def block(n_in: int, width: int) -> DeterministicBlock:
            return DeterministicBlock(n_in, width, mlp_layers, batch_norm)

        # inference: layer i reads d_{i-1} (ladder, Eq. 19) or the sample z_{i-1} (bottom-up, Eq. 15-16)
        inputs = [pixels] + list(hidden_sizes[:-1] if inference == "ladder" else latent_sizes[:-1])
        self.up = nn.ModuleList(block(inputs[i], hidden_sizes[i]) for i in range(L))
        self.q_heads = nn.ModuleList(GaussianHead(hidden_sizes[i], latent_sizes[i], var_floor) for i in range(L))
        # generation: p(z_i | z_{i+1}) through the block between the two layers (width hidden_sizes[i+1])
        self.down = nn.ModuleList(block(latent_sizes[i + 1], hidden_sizes[i + 1]) for i in range(L - 1))
        self.p_heads = nn.ModuleList(GaussianHead(hidden_sizes[i + 1], latent_sizes[i], var_floor)
                                     for i in range(L - 1))
        self.decoder = nn.Sequential(block(latent_sizes[0], hidden_sizes[0]), nn.Linear(hidden_sizes[0], pixels))
        self.likelihood = LikelihoodHead(likelihood)

    # ------------------------------------------------------------------------------------------------ pieces
    @property
    def latent_dim(self) -> int:
        return sum(self.latent_sizes)

    def prior_step(self, i: int, z_above: Tensor) -> tuple[Tensor, Tensor]:
        """(mu_p, sigma^2_p) of p(z_i | z_{i+1}) for layer i < L-1.  [sonderby2016, Eq. 11]"""
        if self.n_layers < 2:
            raise ValueError("prior_step needs a model with at least two stochastic layers; this one has one (its "
                             "only prior is N(0, I))")
        i = values.integer(f"a layer index in 0..{self.n_layers - 2} (a layer with a layer above it)", 0,
                           self.n_layers - 2).check("prior_step's i", i)
        z_above = self.check_latent(z_above, self.latent_sizes[i + 1], f"prior_step({i})", "z_above")
        return self._prior_step(i, z_above)

    def _prior_step(self, i: int, z_above: Tensor) -> tuple[Tensor, Tensor]:
        return self.p_heads[i](self.down[i](z_above))

    def decode(self, z: Tensor) -> Distribution:
        """p(x | z_1) from the bottom layer's sample z_1, (B, D_1); ``log_prob`` is per example.  [Eq. 12]"""
        z = self.check_latent(z, self.latent_sizes[0], "decode", "z_1")
        return self.likelihood(self.decoder(z).view(-1, *self.image_shape))

    def bottom_up(self, x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """The ladder's deterministic pass: (mu_hat_i, sigma_hat^2_i) for every layer.  [Eq. 19-21]"""
        return self._bottom_up(self.check_input(x))  # (a float, a list or a 0-d tensor reached x.flatten)

    def _bottom_up(self, x: Tensor) -> list[tuple[Tensor, Tensor]]:  # x checked
        d = x.flatten(1)  # d_0 = x, (B, P)
        hats = []
        for up, head in zip(self.up, self.q_heads):
            d = up(d)  # d_n = MLP(d_{n-1})
            hats.append(head(d))  # (B, D_i), (B, D_i)
        return hats

    def _noise(self, batch: int, eps, generator, like: Tensor) -> list[Tensor]:
        if eps is None:
            generator = values.generator.or_none().check("generator", generator)
            return [torch.randn((batch, d), generator=generator).to(like.device, like.dtype) for d in self.latent_sizes]
        shapes = [(batch, d) for d in self.latent_sizes]
        eps = list(eps) if isinstance(eps, (list, tuple)) else eps
        if not isinstance(eps, list) or len(eps) != self.n_layers or any(
                not isinstance(e, Tensor) or not e.is_floating_point() or tuple(e.shape) != shape
                for e, shape in zip(eps, shapes)):
            got = "[" + ", ".join(values.shown(e) if not isinstance(e, Tensor) else f"{tuple(e.shape)} {e.dtype}"
                                  for e in eps) + "]" if isinstance(eps, list) else values.shown(eps)
            raise ValueError(f"eps must be {self.n_layers} tensors of shapes {shapes} (a list, real floating-point), "
                             f"got {got}")
        return [values.with_values(f"eps[{i}]", e, f"standard-normal noise {shape} with values")
                .to(like.device, like.dtype) for i, (e, shape) in enumerate(zip(eps, shapes))]

    def _hats(self, hats, batch: int, like: Tensor) -> list[tuple[Tensor, Tensor]]:
        """``hats`` (a bottom-up pass for these x: one (mu_hat, var_hat) pair of (B, D_i) per layer) checked."""
        if self.inference != "ladder":
            raise ValueError("hats (a bottom-up pass to reuse) is for inference='ladder'; this model's inference is "
                             f"{self.inference!r}, got hats={values.shown(hats)}")
        shapes = [(batch, d) for d in self.latent_sizes]
        pairs = list(hats) if isinstance(hats, (list, tuple)) else None
        if pairs is None or len(pairs) != self.n_layers or any(
                not isinstance(pair, (list, tuple)) or len(pair) != 2
                or any(not isinstance(t, Tensor) or not t.is_floating_point() or tuple(t.shape) != shape
                       or t.device != like.device for t in pair)
                for pair, shape in zip(pairs, shapes)):
            raise ValueError(f"hats must be {self.n_layers} pairs (mu_hat, var_hat) of floating-point tensors of shapes "
                             f"{shapes} on {like.device} (bottom_up(x) of these x), got {values.shown(hats)}")
        return [tuple(pair) for pair in pairs]

    # ------------------------------------------------------------------------------------------------ forward
    def forward(self, x: Tensor, generator: torch.Generator | None = None,
                eps: Sequence[Tensor] | None = None, hats: Sequence[tuple[Tensor, Tensor]] | None = None) -> LadderOutput:
        """One reparameterised pass. ``eps`` (one (B, D_i) standard-normal tensor per layer) fixes the noise;
        otherwise it is drawn from ``generator``, layer 0 first. ``hats`` (ladder only) reuses a bottom-up
        pass already computed for these x (importance sampling repeats the same images)."""
        x = self.check_input(x)
        if self.training and self.hparams["batch_norm"] and x.shape[0] == 1:
            raise ValueError(f"{type(self).__name__} in training mode expected a batch of >= 2 images, got 1: batch "
                             "norm normalises each unit over the batch, and one image has no spread; train on "
                             "larger batches, or call model.eval() to use the model on a single image")
        eps = self._noise(x.shape[0], eps, generator, x)
        if hats is not None and self.inference != "ladder":
            self._hats(hats, x.shape[0], x)
        L = self.n_layers
        q: list = [None] * L  # (mu_q, var_q) per layer
        p: list = [None] * L  # (mu_p, var_p) per layer
        z: list = [None] * L
        if self.inference == "ladder":
            # 1. deterministic bottom-up pass [Eq. 19-21]
            hats = self._bottom_up(x) if hats is None else self._hats(hats, x.shape[0], x)
            # 2. top-down pass: the top layer takes the bottom-up estimate as it is (mu_q,L = mu_hat_L) [Eq. 25]
            q[L - 1] = hats[L - 1]
            for i in reversed(range(L)):
                if i < L - 1:
                    p[i] = self._prior_step(i, z[i + 1])  # the generative model's own top-down step [Eq. 11]
                    q[i] = precision_weighted_merge(*hats[i], *p[i])  # [Eq. 23-24]
                mu, var = q[i]
                z[i] = mu + var.sqrt() * eps[i]  # z_i ~ q(z_i | .) [Eq. 25]
        else:
            # bottom-up inference: q(z_1|x) then q(z_i|z_{i-1}) [Eq. 13-18]
            h = x.flatten(1)
            for i in range(L):
                q[i] = self.q_heads[i](self.up[i](h))
                mu, var = q[i]
                z[i] = mu + var.sqrt() * eps[i]
                h = z[i]
            # the generative model scores the sample top-down [Eq. 10-11]
            for i in range(L - 1):
                p[i] = self._prior_step(i, z[i + 1])
        zeros = torch.zeros_like(z[L - 1])
        p[L - 1] = (zeros, torch.ones_like(zeros))  # p(z_L) = N(0, I)

        q_layers = tuple(DiagonalGaussian(mu, torch.log(var)) for mu, var in q)
        p_layers = tuple(DiagonalGaussian(mu, torch.log(var)) for mu, var in p)
        kl_units = tuple(_gaussian_kl_units(*q[i], *p[i]) for i in range(L))  # (B, D_i) each
        log_q = [qi.log_prob(zi) for qi, zi in zip(q_layers, z)]  # (B,) each
        log_p = [pi.log_prob(zi) for pi, zi in zip(p_layers, z)]  # (B,) each
        if self.inference == "ladder":
            kl = torch.stack([k.sum(-1) for k in kl_units]).sum(0)  # exact given the sampled parents
        else:  # z_{i+1} depends on z_i: only the top layer's KL has a closed form
            kl = kl_units[L - 1].sum(-1) + sum(log_q[i] - log_p[i] for i in range(L - 1))
        return LadderOutput(
            q_z=DiagonalGaussian(torch.cat([g.mu for g in q_layers], -1), torch.cat([g.logvar for g in q_layers], -1)),
            z=torch.cat(z, dim=-1), p_x=self.decode(z[0]), q_layers=q_layers, p_layers=p_layers,
            z_layers=tuple(z), kl_units=kl_units, kl=kl, log_p_z=torch.stack(log_p).sum(0),
            log_q_z=torch.stack(log_q).sum(0))

    # ------------------------------------------------------------------------------------------------ helpers
    def encode(self, x: Tensor, generator: torch.Generator | None = None) -> DiagonalGaussian:
        """q(z|x) as every layer's conditional Gaussian, concatenated, (B, sum D_i); the parents are one
        sample (a hierarchical posterior is only Gaussian given them)."""
        return self.forward(x, generator=generator).q_z

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """The posterior means with every parent at its own mean (no noise), (B, sum D_i)."""
        x = self.check_input(x)
        return self.forward(x, eps=[x.new_zeros(x.shape[0], d) for d in self.latent_sizes]).q_z.mu

    @torch.no_grad()
    def layer_means(self, x: Tensor, n_samples: int = 10, generator: torch.Generator | None = None) -> list[Tensor]:
        """E_q[z_i] per layer, (B, D_i): the conditional means averaged over ``n_samples`` draws of the
        parents (for the top layer of a ladder, or the bottom layer of bottom-up inference, it is exact)."""
        n_samples = values.samples.check("n_samples", n_samples)
        generator = values.generator.or_none().check("layer_means' generator", generator)
        total = None
        for _ in range(n_samples):
            out = self.forward(x, generator=generator)
            means = [g.mu for g in out.q_layers]
            total = means if total is None else [t + m for t, m in zip(total, means)]
        return [t / n_samples for t in total]

    @torch.no_grad()
    def log_importance_weights(self, x: Tensor, n_samples: int,
                               generator: torch.Generator | None = None) -> Tensor:
        """log w_s = log p(x | z_1^s) + log p(z^s) - log q(z^s | x) for S samples of the whole hierarchy,
        (S, B).  [burda2016, Eq. 8]  The noise is drawn sample by sample, so chunking does not change it.
        ``n_samples`` is bounded by ``values.MAX_SAMPLES`` and its decoded images by ``values.MAX_BYTES``."""
        n_samples = values.samples.check("log_importance_weights' n_samples", n_samples)
        generator = values.generator.or_none().check("log_importance_weights' generator", generator)
        x = self.check_input(x)
        B = x.shape[0]
        values.fits_in_memory(f"log_importance_weights' n_samples ({n_samples:,} samples for each of {B:,} images)",
                              n_samples * B, 3 * 4 * x[0].numel() + 4 * 4 * (self.latent_dim + sum(self.hidden_sizes)),
                              "images and latents at once")
        eps = [torch.stack(e) for e in zip(*[[torch.randn((B, d), generator=generator) for d in self.latent_sizes]
                                            for _ in range(n_samples)])]  # L tensors (S, B, D_i)
        flat_x = x.unsqueeze(0).expand(n_samples, *x.shape).reshape(n_samples * B, *x.shape[1:])  # (S*B, C, H, W)
        hats = None
        if self.inference == "ladder" and not self.training:  # x is deterministic bottom-up: run it once, not S times
            hats = [tuple(t.unsqueeze(0).expand(n_samples, *t.shape).reshape(n_samples * B, -1) for t in pair)
                    for pair in self._bottom_up(x)]
        out = self.forward(flat_x, eps=[e.reshape(n_samples * B, -1) for e in eps], hats=hats)
        log_w = out.p_x.log_prob(flat_x) + out.log_p_z - out.log_q_z  # (S*B,)
        return log_w.view(n_samples, B)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, layers: bool = False):
        """Ancestral samples from p: z_L ~ N(0, I), z_i ~ p(z_i | z_{i+1}), then E[x | z_1]: (n, C, H, W).
        With ``layers=True`` also the list of z_i, (n, D_i)."""
        dtype = next(self.parameters()).dtype
        n = values.batch_size.check("n", n)
        generator = values.generator.or_none().check("sample's generator", generator)
        layers = values.boolean.check("sample's layers", layers)
        z = torch.randn((n, self.latent_sizes[-1]), generator=generator).to(self.device, dtype)
        zs = [z]
        for i in reversed(range(self.n_layers - 1)):
            mu, var = self._prior_step(i, z)
            z = mu + var.sqrt() * torch.randn(mu.shape, generator=generator).to(mu.device, dtype)
            zs.insert(0, z)
        images = self.decode(z).mean
        return (images, zs) if layers else images

    def check_layer(self, layer: int) -> None:
        """Refuse a layer index that is not 0 ... L-1 (0 is next to x): an int, not a bool, a float or a string."""
        values.integer(f"in 0..{self.n_layers - 1} (0 is next to x; an int)", 0, self.n_layers - 1).check("layer", layer)

    def decode_from(self, layer: int, z: Tensor) -> Distribution:
        """p(x | z_layer): z (B, D_layer) carried down with every layer beneath at its conditional prior mean,
        z_{i} = mu_p,i(z_{i+1}) for i < layer, then p(x | z_1).  [sonderby2016, Eq. 11-12]"""
        self.check_layer(layer)
        z = self.check_latent(z, self.latent_sizes[layer], f"decode_from({layer})")
        for i in reversed(range(layer)):
            z, _ = self._prior_step(i, z)
        return self.decode(z)

    @torch.no_grad()
    def prior_mean_path(self) -> list[tuple[Tensor, Tensor]]:
        """(mu_p, sigma^2_p) of every layer, each (D_i,), along the prior's mean path: z_L = 0 with N(0, I),
        then z_i = mu_p,i(z_{i+1}). The centre, and the scale, of a traversal of any layer."""
        dtype = next(self.parameters()).dtype
        z = torch.zeros(1, self.latent_sizes[-1], device=self.device, dtype=dtype)
        path = [(z[0], torch.ones_like(z[0]))]
        training = self.training  # one path, a batch of one: batch norm reads its running statistics (in training
        self.eval()               # mode a batch of one was torch's "Expected more than 1 value per channel")
        try:
            for i in reversed(range(self.n_layers - 1)):
                mu, var = self._prior_step(i, z)
                path.insert(0, (mu[0], var[0]))
                z = mu
        finally:
            self.train(training)
        return path

    def layer_decoder(self, layer: int) -> "PriorUnitsDecoder":
        """Layer ``layer`` as a decoder in prior standard deviations, for traversals (see PriorUnitsDecoder)."""
        return PriorUnitsDecoder(self, layer)

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """E[x | z_1] with every latent at its conditional posterior mean: (B, C, H, W)."""
        x = self.check_input(x)
        out = self.forward(x, eps=[x.new_zeros(x.shape[0], d) for d in self.latent_sizes])
        return out.p_x.mean


class PriorUnitsDecoder(nn.Module):
    """One layer of a Ladder VAE seen as a decoder whose coordinates are prior standard deviations.

    ``decode(s)`` with s (B, D_layer) sets z_layer = mu_p + s * sigma_p, where (mu_p, sigma^2_p) is the
    layer's prior along the prior's mean path (:meth:`LadderVAE.prior_mean_path`; at the top layer 0 and 1),
    and decodes it with :meth:`LadderVAE.decode_from`. So s = 0 is the prior's typical image and a traversal
    of s_j over [-3, 3] sweeps unit j across its prior, whatever the layer: what the image functions of
    ``vaecourse.viz`` expect of a model (``decode`` and ``parameters``).
    """

    def __init__(self, model: LadderVAE, layer: int):
        super().__init__()
        model.check_layer(layer)
        self.model, self.layer = model, layer
        mu, var = model.prior_mean_path()[layer]
        self.register_buffer("centre", mu)  # (D,)
        self.register_buffer("scale", var.sqrt())  # (D,)

    @property
    def latent_dim(self) -> int:
        return self.model.latent_sizes[self.layer]

    def decode(self, s: Tensor) -> Distribution:
        s = check_latents(s, self.latent_dim, who=f"layer {self.layer}'s decode", name="s", device=self.centre.device,
                          dtype=self.centre.dtype)
        return self.model.decode_from(self.layer, self.centre + s * self.scale)


__all__ = ["INFERENCE", "PAPER_HIDDEN_SIZES", "PAPER_LATENT_SIZES", "DeterministicBlock", "GaussianHead",
           "LadderOutput", "LadderVAE", "PriorUnitsDecoder"]
