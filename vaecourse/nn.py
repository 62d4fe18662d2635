"""Reusable encoder and decoder bodies, by name.

An encoder body maps images (B, C, H, W) to 2D numbers, the mean and log-variance of q(z|x);
a decoder body maps z (B, D) to the parameters of p(x|z), shaped like the image (B, C, H, W).

- ``mlp``    Higgins et al. for dSprites: 4096 -> 1200 -> 1200 (ReLU) encoder;
             D -> 1200 -> 1200 -> 1200 (tanh) -> 4096 decoder.  [higgins2017, App. A.1]
- ``conv64`` Burgess et al.: four 4x4 stride-2 convolutions with 32 channels, then 256 -> 256;
             the decoder mirrors it with transposed convolutions.  [burgess2018, App. A.1]
- ``conv32`` the same design for 32x32 images (three convolutions): the cheap dSprites model
             that trains in CPU minutes on average-pooled images.
- ``mlp28``  a small MLP for 28x28 images: 784 -> 512 -> 256, mirrored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import Tensor, nn

from vaecourse import values

ARCHITECTURES = ("mlp", "conv64", "conv32", "mlp28")
CONV_SIDES = {"conv64": 64, "conv32": 32}  # the one image side each convolutional body reads (the MLPs take any)


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU, who: str | None = None) -> nn.Sequential:
    """Linear layers with ``activation`` (a module class, e.g. ``nn.ReLU``) between them (none after the last);
    ``sizes`` are at least two layer widths (a list, or a 1-D integer array; ``values.layer_sizes``: each between 1
    and ``values.MAX_UNITS``), and their weights and biases must fit in ``values.MAX_BYTES`` (checked before anything
    is allocated)."""
    return _mlp(sizes, activation, who, wide=False)


def _mlp(sizes, activation=nn.ReLU, who: str | None = None, wide: bool = False) -> nn.Sequential:
    """:func:`mlp`; ``wide``: an image body, whose first or last width is the image's pixels (checked by
    ``values.image_shape``, up to 4 x 1024 x 1024), not a number of units."""
    if isinstance(sizes, np.ndarray) and sizes.ndim == 1 and sizes.dtype.kind in "iu":
        sizes = sizes.tolist()  # an array of widths, read as the list it holds
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"mlp's sizes must be a list of layer widths (e.g. [784, 512, 10]), got {values.shown(sizes)}")
    sizes = [values.positive_int.check(f"mlp's sizes[{i}]", n) for i, n in enumerate(sizes)]
    if not (isinstance(activation, type) and issubclass(activation, nn.Module)):
        raise TypeError(f"mlp's activation must be a torch.nn.Module class (e.g. torch.nn.ReLU, not torch.relu or "
                        f"nn.ReLU()), got {values.shown(activation)}")
    if len(sizes) < 2:
        raise ValueError(f"mlp's sizes must be at least two widths (input and output), got {list(sizes)}")
    values.fits_in_memory(f"{who} (layers {list(sizes)}): its weights" if who else
                          f"mlp's sizes {list(sizes)}: their weights", sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])),
                          4, "float32 weights")  # (with the biases: [65536, 65536] is 16 GiB and 256 KiB)
    if not wide:  # (after the memory estimate, which names the sizes that do not fit)
        values.layer_sizes.check("mlp's sizes", sizes)
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class _ConvEncoder(nn.Module):
    """n_conv 4x4 stride-2 convolutions (32 channels) -> 256 -> 256 -> 2D.  [burgess2018, App. A.1]"""

    def __init__(self, in_channels: int, image_size: int, n_conv: int, out_features: int):
        super().__init__()
        convs: list[nn.Module] = []
        channels = in_channels
        for _ in range(n_conv):
            convs += [nn.Conv2d(channels, 32, 4, stride=2, padding=1), nn.ReLU()]
            channels = 32
        self.convs = nn.Sequential(*convs)
        side = image_size // 2 ** n_conv  # 64 -> 4 with four halvings
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * side * side, 256), nn.ReLU(),
                                  nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, out_features))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.convs(x))


class _ConvDecoder(nn.Module):
    """D -> 256 -> 256 -> 32*s*s, then n_conv 4x4 stride-2 transposed convolutions to the image."""

    def __init__(self, latent_dim: int, out_channels: int, image_size: int, n_conv: int):
        super().__init__()
        self.side = image_size // 2 ** n_conv
        self.head = nn.Sequential(nn.Linear(latent_dim, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                                  nn.Linear(256, 32 * self.side * self.side), nn.ReLU())
        layers: list[nn.Module] = []
        for i in range(n_conv):
            last = i == n_conv - 1
            layers.append(nn.ConvTranspose2d(32, out_channels if last else 32, 4, stride=2, padding=1))
            if not last:
                layers.append(nn.ReLU())
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        h = self.head(z).view(-1, 32, self.side, self.side)
        return self.deconvs(h)


class _FlatDecoder(nn.Module):
    """An MLP decoder whose flat output is reshaped to the image."""

    def __init__(self, body: nn.Module, image_shape: tuple[int, int, int]):
        super().__init__()
        self.body = body
        self.image_shape = tuple(image_shape)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(z).view(-1, *self.image_shape)


def _expect_shape(name: str, image_shape: tuple[int, int, int], allowed: Sequence[tuple[int, int]]) -> None:
    if tuple(image_shape[1:]) not in [tuple(a) for a in allowed]:
        sizes = " or ".join(f"{h}x{w}" for h, w in allowed)
        raise ValueError(f"the {values.shown(name)} architecture expects {sizes} images, got image_shape={tuple(image_shape)}")


def _sized(name: str, image_shape: tuple[int, int, int]) -> str:
    """Who a dense body's memory refusal names: the argument that sized its first or last layer."""
    return f"the {name} body for image_shape={tuple(image_shape)}"


def build_encoder(name: str, image_shape: tuple[int, int, int], latent_dim: int) -> nn.Module:
    """The encoder body ``name`` for images of ``image_shape``: (B, C, H, W) -> (B, 2D)."""
    c, h, w = image_shape = values.image_shape.check("build_encoder's image_shape", image_shape)
    latent_dim = values.units.check("build_encoder's latent_dim", latent_dim)
    pixels = c * h * w
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), _mlp([pixels, 1200, 1200, 2 * latent_dim], who=_sized(name, image_shape), wide=True))
    if name == "mlp28":
        return nn.Sequential(nn.Flatten(), _mlp([pixels, 512, 256, 2 * latent_dim], who=_sized(name, image_shape), wide=True))
    if name == "conv64":
        _expect_shape(name, image_shape, [(CONV_SIDES[name],) * 2])
        return _ConvEncoder(c, 64, 4, 2 * latent_dim)
    if name == "conv32":
        _expect_shape(name, image_shape, [(CONV_SIDES[name],) * 2])
        return _ConvEncoder(c, 32, 3, 2 * latent_dim)
    raise ValueError(f"unknown encoder {values.shown(name)}: expected one of {ARCHITECTURES}")


def build_decoder(name: str, image_shape: tuple[int, int, int], latent_dim: int) -> nn.Module:
    """The decoder body ``name``: (B, D) -> parameters of p(x|z) shaped (B, C, H, W)."""
    c, h, w = image_shape = values.image_shape.check("build_decoder's image_shape", image_shape)
    latent_dim = values.units.check("build_decoder's latent_dim", latent_dim)
    pixels = c * h * w
    if name == "mlp":
        return _FlatDecoder(_mlp([latent_dim, 1200, 1200, 1200, pixels], activation=nn.Tanh, who=_sized(name, image_shape), wide=True), image_shape)
    if name == "mlp28":
        return _FlatDecoder(_mlp([latent_dim, 256, 512, pixels], who=_sized(name, image_shape), wide=True), image_shape)
    if name == "conv64":
        _expect_shape(name, image_shape, [(CONV_SIDES[name],) * 2])
        return _ConvDecoder(latent_dim, c, 64, 4)
    if name == "conv32":
        _expect_shape(name, image_shape, [(CONV_SIDES[name],) * 2])
        return _ConvDecoder(latent_dim, c, 32, 3)
    raise ValueError(f"unknown decoder {values.shown(name)}: expected one of {ARCHITECTURES}")


__all__ = ["ARCHITECTURES", "CONV_SIDES", "build_decoder", "build_encoder", "mlp"]
