"""dSprites [matthey2017]: a procedural renderer on any device, and the official file's loader.

dSprites is the data set of the beta-VAE paper [higgins2017]: 737,280 binary 64x64 images, one per
combination of six ground-truth factors (official order, last factor fastest)::

    color (1) x shape (3: square, ellipse, heart) x scale (6: 0.5..1) x orientation (40: 0..2 pi)
    x posX (32: 0..1) x posY (32: 0..1)

``DSprites`` draws the images itself, batched and on the training device, so no notebook needs a
download. Geometry (canvas pixels, y grows downward): the shape's centre sits at
``(16 + 32 posX, 16 + 32 posY)``; a pixel is on when its centre ``(px + 0.5, py + 0.5)`` lies inside
the shape; orientation turns the shape counter-clockwise on screen; the square's side is
``19.2 scale``, the ellipse's semi-axes ``12.8 scale x 7.2 scale`` (long axis horizontal at
orientation 0), the heart is ``19.2 scale`` wide and ``17.75 scale`` tall with its lobes up; every
shape turns about its area centroid, which is the centre above.

How it renders fast: a row of the canvas crosses a convex piece of a shape in one x-interval, found
analytically (a slab |a x + b| <= 1 or a quadratic (a1 x + b1)^2 + (a2 x + b2)^2 <= 1). The square is
two slabs, the ellipse one quadratic, the heart a square turned 45 degrees plus two discs (its
lobes). Each row's intervals become 32-bit masks, and a 256-entry table turns each mask byte into 8
pixels: 64 x 3 intervals per image are solved instead of 4,096 pixels tested.

``OfficialDSprites`` wraps the official ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` (loaded
with ``load_official_dsprites``, verified by its git blob id; downloads only on ``download=True``).

Shape letters: B batch, K factors (6), H rows, W columns, P pieces (intervals per row), N stored images.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from vaecourse.data.base import GroundTruthDataset
from vaecourse.runtime import default_device

__all__ = [
    "DSprites", "FACTOR_NAMES", "FACTOR_SIZES", "FACTOR_VALUES", "SHAPE_NAMES",
    "OFFICIAL_FILENAME", "OFFICIAL_URL", "OFFICIAL_BLOB_ID",
]

# ---- the grid [matthey2017] -------------------------------------------------------------------
FACTOR_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (1, 3, 6, 40, 32, 32)
SHAPE_NAMES = ("square", "ellipse", "heart")
FACTOR_VALUES = (  # the real values, as in the official file's latents_values (float64)
    np.array([1.0]),                      # color: white only
    np.array([1.0, 2.0, 3.0]),            # shape: 1 square, 2 ellipse, 3 heart
    np.linspace(0.5, 1.0, 6),             # scale
    np.linspace(0.0, 2 * np.pi, 40),      # orientation (radians); 0 and 2 pi draw the same image
    np.linspace(0.0, 1.0, 32),            # posX
    np.linspace(0.0, 1.0, 32),            # posY
)

# ---- geometry, in pixels of the 64x64 canvas, at scale 1 ----------------------------------------
CANVAS = 64
POS_OFFSET, POS_SPAN = 16.0, 32.0     # centre = 16 + 32 pos
SQUARE_HALF_SIDE = 9.6                # side 19.2
ELLIPSE_SEMI_AXES = (12.8, 7.2)       # long axis along u (horizontal at orientation 0)
HEART_WIDTH, HEART_HEIGHT = 19.2, 17.75

# The heart, in units of its square's side: the square turned 45 degrees, |p| + |q| <= D, plus two
# discs of radius R centred on the midpoints (+-M, M) of its upper edges (the lobes).
_D = 1 / math.sqrt(2)                 # half-diagonal of the unit square
_M = _D / 2                           # lobe centres (+-M, M)
_R = 0.5                              # lobe radius: half the side, so each lobe covers its edge
_HEART_SIDE = HEART_WIDTH / (2 * (_M + _R))                   # width = 2 (M + R) sides
_HEART_STRETCH = HEART_HEIGHT / (_HEART_SIDE * (_M + _R + _D))  # height M + R + D sides, ~1.1% taller
# Area centroid of the heart (in q): the square (area 1, centroid 0) plus two outer half-discs (area
# pi R^2 / 2 each, centroid 4R / (3 pi) out from the edge midpoint along the normal (1, 1)/sqrt 2).
_HEART_Q_CENTROID = math.pi * _R**2 * (_M + 4 * _R / (3 * math.pi) / math.sqrt(2)) / (1 + math.pi * _R**2)

# Linear forms f(u, v) = (cu u + cv v) / scale + c0 of the shape frame (u along the shape's axis, v
# up, origin at the shape's centre). The heart's frame: p = u / side, q = v / (side stretch) + q_c,
# so that the heart turns about its area centroid.
_HU = 1 / _HEART_SIDE                    # dp/du
_HV = 1 / (_HEART_SIDE * _HEART_STRETCH)  # dq/dv
_QC = _HEART_Q_CENTROID
_SQUARE_SLABS = ((1 / SQUARE_HALF_SIDE, 0.0, 0.0), (0.0, 1 / SQUARE_HALF_SIDE, 0.0))  # |u| <= h, |v| <= h
_ELLIPSE_DISC = ((1 / ELLIPSE_SEMI_AXES[0], 0.0, 0.0), (0.0, 1 / ELLIPSE_SEMI_AXES[1], 0.0))  # (u/a)^2 + (v/b)^2 <= 1
_HEART_SLABS = ((_HU / _D, _HV / _D, _QC / _D), (_HU / _D, -_HV / _D, -_QC / _D))  # |p + q| <= D, |p - q| <= D
_HEART_LOBES = (
    ((_HU / _R, 0.0, _M / _R), (0.0, _HV / _R, (_QC - _M) / _R)),   # ((p + M)/R)^2 + ((q - M)/R)^2 <= 1
    ((_HU / _R, 0.0, -_M / _R), (0.0, _HV / _R, (_QC - _M) / _R)),  # ((p - M)/R)^2 + ((q - M)/R)^2 <= 1
)

# ---- the official file ----------------------------------------------------------------------------
OFFICIAL_FILENAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
OFFICIAL_URL = f"https://github.com/deepmind/dsprites-dataset/raw/master/{OFFICIAL_FILENAME}"
OFFICIAL_BLOB_ID = "d98996d3f8ee1550e06b9d4ed78d0beb478910d5"  # git hash-object of the file
CACHE_ENV = "VAECOURSE_CACHE"


# ==== row intervals ================================================================================
def _row_form(form, inv_scale: Tensor, cos: Tensor, sin: Tensor, cx: Tensor, cy: Tensor, rows: Tensor):
    """Write the form f(u, v) = (cu u + cv v) / scale + c0 along each row as ``alpha x + beta``.

    Canvas x, y (y down) to shape frame, turned by theta counter-clockwise on screen:
    dx = x - cx, dy = cy - y (up), u = dx cos + dy sin, v = -dx sin + dy cos.
    Returns alpha ``(B, 1)`` and beta ``(B, H)``.
    """
    cu, cv, c0 = form
    alpha = (cu * cos - cv * sin) * inv_scale  # (B,)  df/dx
    gamma = (cu * sin + cv * cos) * inv_scale  # (B,)  df/d(dy)
    beta = (c0 + gamma * cy - alpha * cx)[:, None] - gamma[:, None] * rows  # (B, H)  f at x = 0
    return alpha[:, None], beta


def _slab(alpha: Tensor, beta: Tensor) -> tuple[Tensor, Tensor]:
    """x-interval where |alpha x + beta| <= 1: centre -beta/alpha, half-width 1/|alpha|."""
    inv = 1.0 / torch.where(alpha.abs() < 1e-6, 1e-6, alpha)  # (B, 1)  alpha ~ 0: the whole row is in or out
    centre = -beta * inv  # (B, H)
    return centre - inv.abs(), centre + inv.abs()


def _disc(a1: Tensor, b1: Tensor, a2: Tensor, b2: Tensor) -> tuple[Tensor, Tensor]:
    """x-interval where (a1 x + b1)^2 + (a2 x + b2)^2 <= 1, i.e. A x^2 + 2 B x + C <= 0."""
    inv_a = 1.0 / (a1 * a1 + a2 * a2)  # (B, 1)  1/A, A > 0
    centre = -(a1 * b1 + a2 * b2) * inv_a  # (B, H)  -B/A, the vertex of the parabola
    h2 = centre * centre - (b1 * b1 + b2 * b2 - 1.0) * inv_a  # (B/A)^2 - C/A: squared half-width of the roots
    half = torch.where(h2 >= 0, h2.clamp_min(0).sqrt(), -1.0)  # negative half-width: the row misses
    return centre - half, centre + half


def _intersect(a: tuple[Tensor, Tensor], b: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    return torch.maximum(a[0], b[0]), torch.minimum(a[1], b[1])


def _row_intervals(shape: Tensor, scale: Tensor, theta: Tensor, cx: Tensor, cy: Tensor,
                   rows: Tensor) -> tuple[Tensor, Tensor]:
    """For every image and row, P = 3 x-intervals [lo, hi] whose union is the shape -> ``(B, H, P)`` each.

    Square: one interval (two slabs intersected). Ellipse: one. Heart: the turned square and its two
    lobes. Unused pieces are empty (lo = +inf, hi = -inf). All three shapes are solved for every
    image and then selected, so there is no branching and no host synchronisation on a GPU.
    """
    inv_scale, cos, sin = 1.0 / scale, torch.cos(theta), torch.sin(theta)  # (B,)

    def form(f):
        return _row_form(f, inv_scale, cos, sin, cx, cy, rows)

    square = _intersect(_slab(*form(_SQUARE_SLABS[0])), _slab(*form(_SQUARE_SLABS[1])))
    ellipse = _disc(*form(_ELLIPSE_DISC[0]), *form(_ELLIPSE_DISC[1]))
    diamond = _intersect(_slab(*form(_HEART_SLABS[0])), _slab(*form(_HEART_SLABS[1])))
    lobes = [_disc(*form(lobe[0]), *form(lobe[1])) for lobe in _HEART_LOBES]

    is_square, is_ellipse, is_heart = (shape == 0)[:, None], (shape == 1)[:, None], (shape == 2)[:, None]  # (B, 1)
    lo = [torch.where(is_square, square[0], torch.where(is_ellipse, ellipse[0], diamond[0]))]
    hi = [torch.where(is_square, square[1], torch.where(is_ellipse, ellipse[1], diamond[1]))]
    for lobe in lobes:
        lo.append(torch.where(is_heart, lobe[0], math.inf))
        hi.append(torch.where(is_heart, lobe[1], -math.inf))
    return torch.stack(lo, dim=-1), torch.stack(hi, dim=-1)  # (B, H, P)


def _bit_table(device: torch.device) -> Tensor:
    """``table[v]`` is an int64 whose 8 bytes are the bits of v, lowest first -> ``(256,)``.

    Built from bytes and viewed as int64, so viewing a gathered entry back as bytes gives the pixels
    in column order whatever the machine's endianness.
    """
    v = torch.arange(256)
    bits = ((v[:, None] >> torch.arange(8)) & 1).to(torch.uint8)  # (256, 8)  bits[v, i] = bit i of v
    return bits.view(torch.int64).reshape(256).to(device)


def _bits(start: Tensor, end: Tensor, first: int) -> Tensor:
    """int64 masks with bits [start - first, end - first) set, for columns first .. first + 31."""
    s = (start - first).clamp_(0, 32)
    e = (end - first).clamp_(0, 32)
    return (1 << e).sub_(1 << s)  # 2^e - 2^s: bits s..e-1 (exact: at most 2^32)


def _fill_rows(lo: Tensor, hi: Tensor, width: int, table: Tensor) -> Tensor:
    """Pixels whose centre lies in a union of x-intervals -> ``uint8 (B, H, W)`` of 0/1.

    ``lo``, ``hi`` are ``(B, H, P)`` in pixel units of the target canvas (pixel px spans [px, px + 1]).
    """
    # 1. pixel px is on when lo <= px + 0.5 <= hi: px in [start, end)
    start = torch.ceil(lo - 0.5).clamp_(0, width)
    end = torch.maximum(torch.floor(hi - 0.5).add_(1), start).clamp_(0, width)  # empty interval: end = start
    start, end = start.long(), end.long()
    # 2. one 64-bit mask per row and 64 columns (two 32-bit halves), union of the P pieces
    words = []
    for first in range(0, width, 64):
        masks = _bits(start, end, first) | (_bits(start, end, first + 32) << 32)  # (B, H, P)
        mask = masks[..., 0]
        for p in range(1, masks.shape[-1]):
            mask = mask | masks[..., p]  # (B, H)
        words.append(mask)
    # 3. each mask byte -> 8 pixels through the table
    byte = torch.stack(words, dim=-1).view(torch.uint8)  # (B, H, 8 words)  in memory order
    if sys.byteorder == "big":
        byte = byte.unflatten(-1, (-1, 8)).flip(-1).flatten(-2)  # lowest byte first
    pixels = table[byte.long()].view(torch.uint8)  # (B, H, 64 words)
    return pixels[..., :width]


# ==== the procedural data set =======================================================================
class DSprites(GroundTruthDataset):
    """dSprites [matthey2017] rendered on the fly on ``device``, factor-for-factor like the official file.

    The beta-VAE experiments [higgins2017] train on it; here training needs no DataLoader:
    ``for x, factors in DSprites(device).batches(64, steps, generator): ...`` renders each batch on the
    device. ``image_size`` other than 64 draws the same geometry on a finer or coarser pixel grid.
    """

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    shape_names = SHAPE_NAMES

    def __init__(self, device: str | torch.device = "cpu", image_size: int = 64, dtype: torch.dtype = torch.float32):
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"image_size must be a positive int (64 for dSprites), got {image_size!r}")
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating dtype (images in [0, 1]), got {dtype}; "
                             "use render(..., dtype=torch.uint8) for bytes")
        self.device = default_device(device)  # "auto": cuda, then mps, then cpu
        self.image_size = image_size
        self.dtype = dtype
        self._values = [torch.as_tensor(v, dtype=torch.float32, device=self.device) for v in FACTOR_VALUES]
        self._table = _bit_table(self.device)
        self._pixel = CANVAS / image_size  # canvas units per pixel
        self._rows = (torch.arange(image_size, device=self.device, dtype=torch.float32) + 0.5) * self._pixel  # (H,)

    def __repr__(self) -> str:
        return f"DSprites(device={str(self.device)!r}, image_size={self.image_size}, dtype={self.dtype})"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return (1, self.image_size, self.image_size)

    def factor_values(self, factors) -> Tensor:
        """Real values (colour 1, shape 1-3, scale, orientation in radians, posX, posY) -> ``(n, K)``."""
        factors = self.check_factors(factors)
        return torch.stack([self._values[k][factors[:, k]] for k in range(self.num_factors)], dim=1)

    # ---- rendering ----------------------------------------------------------------------------
    def render(self, factors, dtype: torch.dtype | None = None) -> Tensor:
        """Images of factor classes ``(B, K)`` -> ``(B, 1, H, W)`` in ``dtype`` (default ``self.dtype``).

        ``dtype=torch.uint8`` gives 0/1 bytes, a quarter of the memory of float32.
        """
        return self._render_classes(self.check_factors(factors), dtype)

    def render_uint8(self, factors) -> Tensor:
        """``render(factors, dtype=torch.uint8)``: 0/1 bytes ``(B, 1, H, W)``."""
        return self.render(factors, dtype=torch.uint8)

    def render_values(self, shape, scale, orientation, pos_x, pos_y, *, dtype: torch.dtype | None = None) -> Tensor:
        """Images of real factor values, on or off the grid (smooth traversals) -> ``(B, 1, H, W)``.

        shape: class index 0 square, 1 ellipse, 2 heart; scale: size factor (grid 0.5..1); orientation:
        radians, counter-clockwise on screen; pos_x, pos_y: 0..1 (centre at 16 + 32 pos pixels).
        Arguments are tensors or numbers, broadcast together to ``(B,)``.
        """
        kind = torch.as_tensor(shape)
        if kind.dtype.is_floating_point or kind.dtype.is_complex or kind.dtype == torch.bool:
            raise ValueError(f"shape must be integer class indices (0 square, 1 ellipse, 2 heart), got {kind.dtype}")
        real = {name: torch.as_tensor(value).to(device=self.device, dtype=torch.float32)
                for name, value in (("scale", scale), ("orientation", orientation), ("pos_x", pos_x), ("pos_y", pos_y))}
        try:
            kind, *values = torch.broadcast_tensors(kind.to(device=self.device, dtype=torch.long), *real.values())
        except RuntimeError as err:
            shapes = {"shape": tuple(kind.shape), **{name: tuple(v.shape) for name, v in real.items()}}
            raise ValueError(f"render_values arguments must broadcast to one batch shape, got {shapes}") from err
        kind = kind.reshape(-1)  # (B,)
        real = {name: v.reshape(-1) for name, v in zip(real, values)}
        if bool(((kind < 0) | (kind > 2)).any()):
            raise ValueError(f"shape must be 0 (square), 1 (ellipse) or 2 (heart), got values {kind.unique().tolist()}")
        if not all(bool(torch.isfinite(v).all()) for v in real.values()):
            raise ValueError("scale, orientation, pos_x and pos_y must be finite")
        if bool((real["scale"] <= 0).any()):
            raise ValueError(f"scale must be positive, got min {float(real['scale'].min())}")
        theta = torch.remainder(real["orientation"], 2 * math.pi)  # 0 and 2 pi give the same image
        return self._draw(kind, real["scale"], theta, real["pos_x"], real["pos_y"], dtype)

    def _render_classes(self, factors: Tensor, dtype: torch.dtype | None) -> Tensor:
        """Checked factor classes ``(B, K)`` -> images; no host synchronisation."""
        _, shape, scale, orientation, pos_x, pos_y = factors.unbind(dim=1)
        values = self._values
        theta = values[3][orientation % (FACTOR_SIZES[3] - 1)]  # class 39 (2 pi) is class 0
        return self._draw(shape, values[2][scale], theta, values[4][pos_x], values[5][pos_y], dtype)

    def _draw(self, shape: Tensor, scale: Tensor, theta: Tensor, pos_x: Tensor, pos_y: Tensor,
              dtype: torch.dtype | None) -> Tensor:
        """The renderer: (B,) factor values -> ``(B, 1, H, W)``."""
        cx = POS_OFFSET + POS_SPAN * pos_x  # (B,)  centre in canvas pixels, y down
        cy = POS_OFFSET + POS_SPAN * pos_y
        lo, hi = _row_intervals(shape, scale, theta, cx, cy, self._rows)  # (B, H, P) canvas units
        images = _fill_rows(lo / self._pixel, hi / self._pixel, self.image_size, self._table)  # (B, H, W)
        images = images.unsqueeze(1)  # (B, 1, H, W)
        dtype = self.dtype if dtype is None else dtype
        return images if dtype == torch.uint8 else images.to(dtype)

    # ---- iteration ----------------------------------------------------------------------------
    def batches(self, batch_size: int, steps: int | None = None, generator: torch.Generator | None = None, *,
                dtype: torch.dtype | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """Random (images ``(B, 1, H, W)``, factors ``(B, K)``) batches, ``steps`` of them (``None``: forever).

        Factors are uniform over the grid (what a shuffled pass over the official file sees) and the
        images are rendered on ``self.device``: this is the training stream, no DataLoader needed.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 0):
            raise ValueError(f"steps must be a non-negative int or None (endless), got {steps!r}")
        step = 0
        while steps is None or step < steps:
            factors = self.sample_factors(batch_size, generator)
            yield self._render_classes(factors, dtype), factors
            step += 1

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``n`` random (images ``(n, 1, H, W)``, factors ``(n, K)``) pairs."""
        factors = self.sample_factors(n, generator)
        return self._render_classes(factors, None), factors

    def iter_grid(self, batch_size: int = 4096, *, dtype: torch.dtype = torch.uint8, start: int = 0,
                  stop: int | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """The whole grid in official order, in chunks: (indices ``(B,)``, images ``(B, 1, H, W)``).

        Chunk i holds official indices ``[start + i batch_size, ...)``; nothing is kept in memory.
        """
        stop = len(self) if stop is None else stop
        if not 0 <= start <= stop <= len(self):
            raise ValueError(f"need 0 <= start <= stop <= {len(self)}, got start={start}, stop={stop}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        bases = torch.tensor(self.factor_bases, device=self.device)  # (K,)
        sizes = torch.tensor(self.factor_sizes, device=self.device)
        for first in range(start, stop, batch_size):
            indices = torch.arange(first, min(first + batch_size, stop), device=self.device)  # (B,)
            factors = torch.div(indices[:, None], bases, rounding_mode="floor") % sizes  # (B, K) mixed radix
            yield indices, self._render_classes(factors, dtype)
