"""CausalVAE's building blocks: the mask layer g_i(A_i o z) [yang2021, Eq. 6] and the decoders that read the
concept blocks (one per block, as the authors' code; or the joint decoder with a band of rows drawn by the blocks
that own it). They know nothing of any scene: a layout comes in as arguments (:class:`ShadowRowsDecoder`).

Shape letters: B batch, n concepts, k latent dimensions per concept, C H W the image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaecourse.nn import build_decoder, mlp


class ConceptDecoders(nn.Module):
    """One decoder per concept block, their logits averaged: f(z~) = (1/n) sum_i f_i(z~_i)   [the authors' code]

    The public CausalVAE code decodes the pendulum this way (``Decoder_DAG.decode_sep``: four networks, one per
    concept's latents, outputs summed and divided by four). Block i's network sees block i only, so a part of the
    image that depends on two concepts at once (the shadow, on both angles) cannot be drawn by one angle's network:
    the blocks that can draw it alone are the shadow's own.
    """

    def __init__(self, n: int, k: int, architecture: str, image_shape: tuple[int, int, int]):
        super().__init__()
        self.n, self.k = n, k
        self.parts = nn.ModuleList(build_decoder(architecture, image_shape, k) for _ in range(n))

    def forward(self, z: Tensor) -> Tensor:
        """z~ (B, n k), concept-major -> logits (B, C, H, W)."""
        blocks = z.view(-1, self.n, self.k)
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
        channels, height, width = image_shape
        rows, owners = _indices("band_rows", rows, height), _indices("band_owners", owners, n)
        self.n, self.k, self.owners = n, k, tuple(owners)
        self.full = build_decoder(architecture, image_shape, n * k)
        mask = torch.zeros(height, dtype=torch.bool)
        mask[list(rows)] = True
        self.register_buffer("rows", mask)
        self.band_shape = (channels, len(rows), width)  # the logits f_s draws: (C, band rows, W)
        self.band = mlp([len(owners) * k, hidden, hidden, math.prod(self.band_shape)])

    def forward(self, z: Tensor) -> Tensor:
        """z~ (B, n k), concept-major -> logits (B, C, H, W)."""
        logits = self.full(z)
        own = z.view(-1, self.n, self.k)[:, list(self.owners)].flatten(1)  # (B, |owners| k)
        band = self.band(own).view(-1, *self.band_shape)
        out = logits.clone()
        out[:, :, self.rows] = band
        return out


def _indices(name: str, values, size: int) -> list[int]:
    """``values`` as a non-empty list of distinct ints in [0, size), or a ValueError naming ``name``."""
    try:
        out = [int(v) for v in values]
        whole = all(not isinstance(v, bool) and int(v) == v for v in values)
    except (TypeError, ValueError):
        out, whole = [], False
    if not out or not whole or len(set(out)) != len(out) or not all(0 <= v < size for v in out):
        raise ValueError(f"{name} must be distinct integers in [0, {size}), got {values!r}")
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
        self.n, self.k = n, k
        self.w1 = nn.Parameter(torch.randn(n, n * k, hidden) / (n * k) ** 0.5)
        self.b1 = nn.Parameter(torch.zeros(n, hidden))
        self.w2 = nn.Parameter(torch.randn(n, hidden, k) / hidden ** 0.5)
        self.b2 = nn.Parameter(torch.zeros(n, k))

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
        return self(u[:, :, None].expand(-1, -1, self.k), A).mean(2)


__all__ = ["ConceptDecoders", "MaskLayer", "ShadowRowsDecoder"]
