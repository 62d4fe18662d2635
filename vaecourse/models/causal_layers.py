"""CausalVAE's building blocks: the mask layer g_i(A_i o z) [yang2021, Eq. 6] and the decoders that read the
concept blocks (one per block, as the authors' code; the joint decoder with a band of rows drawn by the blocks
that own it; or layers that learn which pixels each concept draws). They know nothing of any scene: a layout comes
in as arguments (:class:`ShadowRowsDecoder`) or is learned (:class:`LayeredDecoder`).

Shape letters: B batch, n concepts, k latent dimensions per concept, C H W the image.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaecourse import values
from vaecourse.nn import _mlp, build_decoder


def _sizes(**sizes: int) -> tuple[int, ...]:
    """Each of ``sizes`` a number of units (``values.units``: an int in 1 .. MAX_UNITS, not a bool or 2.5)."""
    return tuple(values.units.check(name, value) for name, value in sizes.items())


def _blocks(who: str, z, n: int, k: int, name: str = "z") -> Tensor:
    """``z`` (B, n k), concept-major, as a real floating-point tensor, or an error naming ``name``; shapes only."""
    if not isinstance(z, Tensor) or not z.is_floating_point():
        raise TypeError(f"{who}'s {name} must be a real floating-point tensor (B, {n * k}), got {values.shown(z)}")
    if z.dim() != 2 or z.shape[1] != n * k or z.shape[0] == 0:
        raise ValueError(f"{who}'s {name} must have shape (B, {n * k}) with B >= 1 ({n} concepts of {k} dimensions), "
                         f"got {tuple(z.shape)}")
    return z


GATE_LOGIT = values.real("a gate logit log alpha between -30 and 30", lambda v: abs(v) <= 30)


class ConceptDecoders(nn.Module):
    """One decoder per concept block, their logits averaged: f(z~) = (1/n) sum_i f_i(z~_i)   [the authors' code]

    The public CausalVAE code decodes the pendulum this way (``Decoder_DAG.decode_sep``: four networks, one per
    concept's latents, outputs summed and divided by four). Block i's network sees block i only, so a part of the
    image that depends on two concepts at once (the shadow, on both angles) cannot be drawn by one angle's network:
    the blocks that can draw it alone are the shadow's own.
    """

    def __init__(self, n: int, k: int, architecture: str, image_shape: tuple[int, int, int]):
        super().__init__()
        n, k = _sizes(n=n, k=k)
        image_shape = values.image_shape.check("image_shape", image_shape)
        first = build_decoder(architecture, image_shape, k)
        values.fits_in_memory("n (one decoder per concept)", n, 4 * sum(p.numel() for p in first.parameters()),
                              f"decoders of {values.shown(architecture)}")
        self.n, self.k = n, k
        self.parts = nn.ModuleList([first, *(build_decoder(architecture, image_shape, k) for _ in range(n - 1))])

    def forward(self, z: Tensor) -> Tensor:
        """z~ (B, n k), concept-major -> logits (B, C, H, W)."""
        blocks = _blocks("ConceptDecoders", z, self.n, self.k).view(-1, self.n, self.k)
        return torch.stack([part(blocks[:, i]) for i, part in enumerate(self.parts)]).mean(0)


class ShadowRowsDecoder(nn.Module):
    """The joint decoder, except on a band of image rows, whose logits are drawn from the owning concept blocks alone:
    f(z~)[rows] = f_s(z~_owners),  f(z~)[other rows] = f(z~)   [the course's]

    Nothing here knows the scene: the data set says which rows form the band and which concepts own it (the
    pendulum's shadow lies on two ground rows that nothing else reaches, owned by shadow length and position:
    ``Pendulum.shadow_band``). The angles reach the band only through the owners' latents (the label equations),
    so do(shadow position = c) has to move the shadow.
    """

    def __init__(self, n: int, k: int, architecture: str, image_shape: tuple[int, int, int], rows: list[int],
                 owners: list[int], hidden: int = 128):
        super().__init__()
        n, k, hidden = _sizes(n=n, k=k, hidden=hidden)
        channels, height, width = image_shape = values.image_shape.check("image_shape", image_shape)
        rows, owners = _indices("band_rows", rows, height), _indices("band_owners", owners, n)
        self.n, self.k, self.owners = n, k, tuple(owners)
        self.full = build_decoder(architecture, image_shape, n * k)
        mask = torch.zeros(height, dtype=torch.bool)
        mask[list(rows)] = True
        self.register_buffer("rows", mask)
        self.band_shape = (channels, len(rows), width)  # the logits f_s draws: (C, band rows, W)
        self.band = _mlp([len(owners) * k, hidden, hidden, math.prod(self.band_shape)], who="the shadow rows' band "
                          "(band_owners x concept_dim, the band's pixels)", wide=True)  # (a band of pixels, not units)

    def forward(self, z: Tensor) -> Tensor:
        """z~ (B, n k), concept-major -> logits (B, C, H, W)."""
        logits = self.full(_blocks("ShadowRowsDecoder", z, self.n, self.k))
        own = z.view(-1, self.n, self.k)[:, list(self.owners)].flatten(1)  # (B, |owners| k)
        band = self.band(own).view(-1, *self.band_shape)
        out = logits.clone()
        out[:, :, self.rows] = band
        return out


class Drawing(NamedTuple):
    """What :meth:`LayeredDecoder.draw` returns."""
    logits: Tensor  # (B, C, H, W) the composite
    owned: Tensor  # (B, n, H, W) owned_i(p): how much of pixel p concept i draws
    overlap: Tensor  # (B,) sum_p sum_{a < b} pi_a(p) pi_b(p): how much the layers (and the background) blend


class LayeredDecoder(nn.Module):
    """Layers that learn which pixels each concept owns, alpha-composited over a background   [the course's]

        layer l = f_l(z o r_l) = (content logits c_l (C, H, W), mask logit m_l (H, W))      l = 1 .. L
        pi(p)   = softmax(0, m_1(p), ..., m_L(p))         per pixel: background, layer 1, ..., layer L
        x-logits(p) = pi_0(p) b(p) + sum_l pi_l(p) c_l(p)                     b: a learned background image
        r_l in [0, 1]^n   which concept blocks layer l reads: one hard-concrete gate per (layer, block),
                          exactly 0 or 1 most of the time, [louizos2018] Eq. 10-13
        owned_i(p) = sum_l pi_l(p) r_li                   how much of pixel p concept i draws
        shared     = sum_i sum_{l < l'} P(r_li != 0) P(r_l'i != 0)   expected pairs of layers reading one block
        overlap    = sum_p sum_{a < b} pi_a(p) pi_b(p) = sum_p (1 - sum_a pi_a(p)^2) / 2     a, b over 0 .. L

    A pixel changes under do(z_i = c) only through the layers that read block i (r_li > 0) and only where they
    draw (pi_l > 0): what concept i owns. The loss pays ``ownership`` nats for every unit of sum_p sum_i owned_i(p)
    (``CausalVAEOutput.owned``), so each pixel reads as few concepts as drawing it needs; a gate is an L0 switch
    (a 0 cannot be undone by scaling the weights behind it, as a soft weight could). Nothing here knows a scene:
    the number of layers defaults to the number of concept blocks n, layer l's gate on block l starts open and
    the others half open (a symmetric start, block l first), and any image size the ``architecture`` builds works.
    ``shared`` (``CausalObjective(exclusive=w)``) asks each concept to be drawn by one layer: a concept whose
    latent two layers read can move two parts of the image, the failure the pixel cost alone leaves open.
    ``overlap`` (``CausalObjective(overlap=w)``) asks each pixel to be drawn by one layer (or the background): where
    two layers blend, one can draw the average of a part from its causes upstream (the shadow from the light's
    angle) and another only the rest, and an intervention on the part's own concept then removes only the rest.
    """

    GAMMA, ZETA, TEMPERATURE = -0.1, 1.1, 2 / 3  # the hard-concrete stretch (gamma, zeta) and beta [louizos2018]

    def __init__(self, n: int, k: int, architecture: str, image_shape: tuple[int, int, int], layers: int | None = None,
                 own_logit: float = 3.0, other_logit: float = -1.6):
        super().__init__()
        n, k = _sizes(n=n, k=k)
        channels, height, width = image_shape = values.image_shape.check("image_shape", image_shape)
        layers = values.layers.or_none().check("layers", layers)
        own_logit, other_logit = (GATE_LOGIT.check(name, value) for name, value in (("own_logit", own_logit),
                                                                                  ("other_logit", other_logit)))
        self.n, self.k, self.channels = n, k, channels
        self.n_layers = n if layers is None else layers
        self.parts = nn.ModuleList(build_decoder(architecture, (channels + 1, height, width), n * k)
                                   for _ in range(self.n_layers))  # each draws C content channels and a mask
        self.background = nn.Parameter(torch.zeros(channels, height, width))  # b: logits of the empty scene
        start = torch.full((self.n_layers, n), other_logit)
        start[torch.arange(self.n_layers), torch.arange(self.n_layers) % n] = own_logit
        self.gate_logits = nn.Parameter(start)  # log alpha of each (layer, block) gate

    def open_probability(self) -> Tensor:
        """P(r_li != 0) for each gate, (L, n): sigmoid(log alpha - beta log(-gamma / zeta)).  [louizos2018, Eq. 12]"""
        return torch.sigmoid(self.gate_logits - self.TEMPERATURE * math.log(-self.GAMMA / self.ZETA))

    def shared(self) -> Tensor:
        """sum_i sum_{l < l'} p_li p_l'i = sum_i ((sum_l p_li)^2 - sum_l p_li^2) / 2, p = P(r != 0): the expected
        number of pairs of layers that read the same concept block (0: each block is read by one layer at most)."""
        p = self.open_probability()  # (L, n)
        return (p.sum(0).pow(2) - p.pow(2).sum(0)).sum() / 2

    def gates(self, batch: int) -> Tensor:
        """r (B, L, n): a hard-concrete sample per example in training, the deterministic gate in eval mode.
        s = sigmoid((log u - log(1 - u) + log alpha) / beta), r = clamp(s (zeta - gamma) + gamma, 0, 1)."""
        batch = values.positive_int.check("LayeredDecoder.gates' batch", batch)
        values.fits_in_memory("LayeredDecoder.gates' batch", batch, 3 * 4 * self.gate_logits.numel(), "examples' gates")
        if self.training:
            noise = torch.rand(batch, *self.gate_logits.shape, device=self.gate_logits.device).clamp(1e-6, 1 - 1e-6)
            s = torch.sigmoid((noise.log() - (-noise).log1p() + self.gate_logits) / self.TEMPERATURE)
        else:
            s = torch.sigmoid(self.gate_logits).expand(batch, -1, -1)
        return (s * (self.ZETA - self.GAMMA) + self.GAMMA).clamp(0, 1)

    def draw(self, z: Tensor) -> Drawing:
        """z~ (B, n k) -> the composite's logits, who drew each pixel, and how much the layers blend (``Drawing``)."""
        blocks = _blocks("LayeredDecoder", z, self.n, self.k).view(-1, self.n, self.k)
        r = self.gates(blocks.shape[0])  # (B, L, n)
        drawn = torch.stack([part((blocks * r[:, l, :, None]).flatten(1)) for l, part in enumerate(self.parts)], 1)
        content, mask = drawn[:, :, :self.channels], drawn[:, :, self.channels]  # (B, L, C, H, W), (B, L, H, W)
        pi = torch.cat([torch.zeros_like(mask[:, :1]), mask], 1).softmax(1)  # (B, 1 + L, H, W)
        logits = pi[:, 0, None] * self.background + (pi[:, 1:, None] * content).sum(1)
        owned = torch.einsum("blhw,bli->bihw", pi[:, 1:], r)  # (B, n, H, W)
        overlap = (1 - pi.pow(2).sum(1)).flatten(1).sum(1) / 2  # (B,)
        return Drawing(logits, owned, overlap)

    def forward(self, z: Tensor) -> Tensor:
        """z~ (B, n k), concept-major -> logits (B, C, H, W)."""
        return self.draw(z).logits


def _indices(name: str, given, size: int) -> list[int]:
    """``given`` as a non-empty list of distinct ints in [0, size), or a ValueError naming ``name``."""
    try:
        out = [int(v) for v in given]
        whole = all(not isinstance(v, bool) and int(v) == v for v in given)
    except (TypeError, ValueError):
        out, whole = [], False
    if not out or not whole or len(set(out)) != len(out) or not all(0 <= v < size for v in out):
        raise ValueError(f"{name} must be distinct integers in [0, {size}), got {values.shown(given)}")
    return out


class MaskLayer(nn.Module):
    """g_i(A_i o z; eta_i): one small MLP per concept, reading only its parents' blocks.  [yang2021, Eq. 6]

    The weights are normalised so that A alone sets how strongly g_i depends on z_j: each parent's first-layer
    weights (k x hidden) and each child's output weights (hidden x k) have unit Frobenius norm, and ELU is
    1-Lipschitz, so ||g_i(z) - g_i(z')|| <= sum_j |A[j, i]| ||z_j - z'_j||. Without this the MLP can undo any
    scale of A (A[j, i] = 0.01 times a weight of 100), a cycle of tiny entries then carries full information
    while H(A) ~ A^4 stays near zero, and neither H(A) = 0 nor the thresholded A describes what g reads.
    """

    def __init__(self, n: int, k: int, hidden: int = 32):
        super().__init__()
        n, k, hidden = _sizes(n=n, k=k, hidden=hidden)
        values.fits_in_memory("MaskLayer's n, k and hidden", 2 * n * n * k * hidden, 4,
                              "float32 weights (n^2 k hidden in each layer)")
        self.n, self.k = n, k
        self.w1 = nn.Parameter(torch.randn(n, n * k, hidden) / (n * k) ** 0.5)
        self.b1 = nn.Parameter(torch.zeros(n, hidden))
        self.w2 = nn.Parameter(torch.randn(n, hidden, k) / hidden ** 0.5)
        self.b2 = nn.Parameter(torch.zeros(n, k))

    def _check_graph(self, A) -> None:
        if not isinstance(A, Tensor) or not A.is_floating_point() or tuple(A.shape) != (self.n, self.n):
            raise ValueError(f"MaskLayer's A must be a real floating-point ({self.n}, {self.n}) adjacency matrix, got "
                             f"{values.shown(A)}")
        self._check_device("A", A)

    def _check_device(self, name: str, t: Tensor) -> None:
        """``t`` on the layer's device (a device check costs nothing: meta or another device raised inside torch)."""
        if t.device != self.w1.device:
            raise ValueError(f"MaskLayer's {name} must be on the layer's device {self.w1.device}, got {values.shown(t)} "
                             f"on {t.device}")

    def weights(self) -> tuple[Tensor, Tensor]:
        """(w1, w2) normalised: w1 (n, n k, hidden) with unit norm per (child, parent block), w2 (n, hidden, k)
        with unit norm per child."""
        w1 = self.w1.view(self.n, self.n, self.k, -1)  # (n_child, n_parent, k, hidden)
        w1 = w1 / w1.pow(2).sum((2, 3), keepdim=True).clamp_min(1e-12).sqrt()
        w2 = self.w2 / self.w2.pow(2).sum((1, 2), keepdim=True).clamp_min(1e-12).sqrt()
        return w1.reshape(self.n, self.n * self.k, -1), w2

    def forward(self, z: Tensor, A: Tensor, frozen: bool = False) -> Tensor:
        """z (B, n, k), A (n, n) -> g (B, n, k); g_i sees z_j scaled by A[j, i] (0: not a parent). ``frozen``:
        the weights enter detached (gradients reach z and A's callers only)."""
        self._check_graph(A)
        if not isinstance(z, Tensor) or not z.is_floating_point() or z.dim() != 3 or tuple(z.shape[1:]) != (self.n, self.k):
            raise ValueError(f"MaskLayer's z must be a real floating-point tensor (B, {self.n}, {self.k}), got "
                             f"{values.shown(z)}")
        self._check_device("z", z)
        if frozen is not False and frozen is not True:
            raise TypeError(f"MaskLayer's frozen must be True or False, got {values.shown(frozen)}")
        w1, w2 = self.weights()
        b1, b2 = self.b1, self.b2
        if frozen:
            w1, w2, b1, b2 = w1.detach(), w2.detach(), b1.detach(), b2.detach()
        masked = z[:, None, :, :] * A.T[None, :, :, None]  # (B, n_child, n_parent, k)
        h = F.elu(torch.einsum("bif,ifh->bih", masked.flatten(2), w1) + b1)  # (B, n, hidden)
        return torch.einsum("bih,ihk->bik", h, w2) + b2

    def predict_labels(self, u: Tensor, A: Tensor) -> Tensor:
        """The same equations on the labels: each concept's label from its parents' labels, (B, n) -> (B, n).
        Label u_j enters as the block u_j 1_k (the mean of p(z_j|u)); the prediction is the mean of g_i's block."""
        if not isinstance(u, Tensor) or not u.is_floating_point() or u.dim() != 2 or u.shape[1] != self.n:
            raise ValueError(f"MaskLayer.predict_labels' u must be a real floating-point tensor (B, {self.n}), one "
                             f"column per concept, got {values.shown(u)}")
        self._check_device("u", u)
        return self(u[:, :, None].expand(-1, -1, self.k), A).mean(2)


__all__ = ["ConceptDecoders", "LayeredDecoder", "MaskLayer", "ShadowRowsDecoder"]
