"""dSprites [matthey2017]: a procedural renderer on any device, and the official file's loader.

dSprites is the data set of the beta-VAE paper [higgins2017]: 737,280 binary 64x64 images, one per
combination of six ground-truth factors (official order, last factor fastest)::

    color (1) x shape (3: square, ellipse, heart) x scale (6: 0.5..1) x orientation (40: 0..2 pi)
    x posX (32: 0..1) x posY (32: 0..1)

``DSprites`` draws the images itself, batched and on the training device, so no notebook needs a
download, and draws the official images: all 18 official frames at orientation 0 and position (0, 0)
(vaecourse/data/reference) are pixel-exact. Geometry (canvas pixels, y grows downward): the position
point is ``(16 + 32 posX, 16 + 32 posY)``; a pixel is on when its centre ``(px + 0.5, py + 0.5)`` lies
inside the shape; orientation turns the shape counter-clockwise on screen about the position point;
the square's side is ``19.2 scale`` and the ellipse's semi-axes ``12.75 scale x 7.22 scale`` (long
axis horizontal at orientation 0), both centred on the position point. The heart is the classic
parametric heart curve x = 16 sin^3 t, y = 13 cos t - 5 cos 2t - 2 cos 3t - cos 4t (the dSprites
author drew it as a mesh of generated vertices in LOVE2D), lobes up, its bounding box stretched to
``19.2 scale x 19.15 scale`` with its centre ``0.25 scale`` below the position point, so its area
centroid sits ``1.98 scale`` above that point and circles it as the heart turns. Why these numbers:
they are the ones that draw the six official frames of each shape exactly (fitted to all six scales at
once); the official heart turns about the position point, not its centroid.

How it renders fast: a row of the canvas crosses a convex shape in one x-interval, found analytically
(a slab |a x + b| <= 1 or a quadratic (a1 x + b1)^2 + (a2 x + b2)^2 <= 1): the square is two slabs,
the ellipse one quadratic. The heart is a 160-vertex polygon of its curve; each edge is crossed by one
or two rows, and a row's crossings add up to its mask (+2^k leaving, -2^k entering at column k), so
no sorting is needed. Each row's intervals become 32-bit masks, and a 256-entry table turns each mask
byte into 8 pixels: about 64 intervals and 320 crossings per image instead of 4,096 pixels tested.

``OfficialDSprites`` wraps the official ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` (loaded
with ``load_official_dsprites``, verified by its git blob id; downloads only on ``download=True``).

Shape letters: B batch, K factors (6), H rows, W columns, P pieces (intervals per row), E polygon
vertices, R rows per edge, C crossings (E R), N stored images.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vaecourse.data.base import GroundTruthDataset
from vaecourse.data.download import DownloadError, download_verified, fetch as _fetch  # tests replace _fetch
from vaecourse.runtime import default_device

__all__ = [
    "DSprites", "OfficialDSprites", "load_official_dsprites", "git_blob_id", "default_cache_dir",
    "FACTOR_NAMES", "FACTOR_SIZES", "FACTOR_VALUES", "SHAPE_NAMES",
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
POS_OFFSET, POS_SPAN = 16.0, 32.0     # position point = 16 + 32 pos
SQUARE_HALF_SIDE = 9.6                # side 19.2
ELLIPSE_SEMI_AXES = (12.75, 7.22)     # long axis along u (horizontal at orientation 0); fitted, see below
HEART_BOX = (19.2, 19.15)             # width, height of the heart curve's bounding box
HEART_BOX_SHIFT = -0.25               # the box centre sits this far above (+) / below (-) the position point
HEART_VERTICES = 160                  # polygon vertices of the outline, equally spaced along it

# The ellipse: semi-axes fitted to the six official orientation-0 frames at once (every pair in
# a = 12.715..12.780, b = 7.205..7.225 draws all six pixel-exact; 12.8 x 7.2 missed two by 4 pixels).
#
# The heart is the classic parametric heart curve (the dSprites author drew it as a mesh of
# procedurally generated vertices in LOVE2D, github.com/deepmind/dsprites-dataset issue 2):
#     x(t) = 16 sin^3 t,   y(t) = 13 cos t - 5 cos 2t - 2 cos 3t - cos 4t,   0 <= t < 2 pi,
# stretched so that its bounding box is HEART_BOX (x: -16..16, y: -17..11.92 before stretching) and
# shifted so that the box centre is HEART_BOX_SHIFT above the position point, all times scale; it
# turns about the position point. These three numbers draw all six official orientation-0 hearts
# pixel-exact; the area centroid then sits 1.98 scale px above the position point (toward the lobes)
# and circles it as the heart turns.
_HEART_Y_RANGE = (-17.0, 11.923251973289343)  # min and max of y(t) (max at t = 0.6346)


def _heart_curve(t: np.ndarray) -> np.ndarray:
    """Points of the heart at curve parameters ``t`` in the shape frame (u right, v up), scale 1 -> ``(n, 2)``."""
    x = 16 * np.sin(t) ** 3
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    low, high = _HEART_Y_RANGE
    u = x * HEART_BOX[0] / 32.0
    v = (y - (low + high) / 2) * HEART_BOX[1] / (high - low) + HEART_BOX_SHIFT
    return np.stack([u, v], axis=1)


def _heart_outline(vertices: int) -> np.ndarray:
    """The outline as a polygon of ``vertices`` points equally spaced along its length -> ``(E, 2)``.

    The right half (t = 0 .. pi, notch to point) is spaced by arc length and mirrored, so the notch
    and the point are vertices. Clockwise in the shape frame (u right, v up).
    """
    t = np.linspace(0.0, math.pi, 4001)
    step = np.linalg.norm(np.diff(_heart_curve(t), axis=0), axis=1)
    length = np.concatenate([[0.0], np.cumsum(step)])
    half = _heart_curve(np.interp(np.linspace(0.0, length[-1], vertices // 2 + 1), length, t))  # notch .. point
    left = half[-2:0:-1] * np.array([-1.0, 1.0])  # point .. notch on the other side, ends excluded
    return np.concatenate([half, left])


_SQUARE_SLABS = ((1 / SQUARE_HALF_SIDE, 0.0, 0.0), (0.0, 1 / SQUARE_HALF_SIDE, 0.0))  # |u| <= h, |v| <= h
_ELLIPSE_DISC = ((1 / ELLIPSE_SEMI_AXES[0], 0.0, 0.0), (0.0, 1 / ELLIPSE_SEMI_AXES[1], 0.0))  # (u/a)^2 + (v/b)^2 <= 1
_HEART_OUTLINE = _heart_outline(HEART_VERTICES)  # (E, 2)
_HEART_EDGE = float(np.linalg.norm(np.roll(_HEART_OUTLINE, -1, 0) - _HEART_OUTLINE, axis=1).max())

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
    """For every image and row, the x-interval [lo, hi] of a square or an ellipse -> ``(B, H, 1)`` each.

    Square: two slabs intersected. Ellipse: one quadratic. Hearts (drawn by ``_polygon_words``) get an
    empty interval (lo = +inf, hi = -inf). Both shapes are solved for every image and then selected,
    so there is no branching and no host synchronisation on a GPU.
    """
    inv_scale, cos, sin = 1.0 / scale, torch.cos(theta), torch.sin(theta)  # (B,)

    def form(f):
        return _row_form(f, inv_scale, cos, sin, cx, cy, rows)

    square = _intersect(_slab(*form(_SQUARE_SLABS[0])), _slab(*form(_SQUARE_SLABS[1])))
    ellipse = _disc(*form(_ELLIPSE_DISC[0]), *form(_ELLIPSE_DISC[1]))
    is_square, is_ellipse = (shape == 0)[:, None], (shape == 1)[:, None]  # (B, 1)
    lo = torch.where(is_square, square[0], torch.where(is_ellipse, ellipse[0], math.inf))
    hi = torch.where(is_square, square[1], torch.where(is_ellipse, ellipse[1], -math.inf))
    return lo[..., None], hi[..., None]  # (B, H, 1)


def _polygon_words(vertices: Tensor, keep: Tensor, scale: Tensor, theta: Tensor, cx: Tensor, cy: Tensor,
                   size: int, max_scale: float) -> list[Tensor]:
    """Row masks of a simple polygon, one int64 ``(B, H)`` per 64 columns (zero where ``keep`` is False).

    The polygon (``(E, 2)`` shape-frame vertices at scale 1, clockwise) is scaled by ``scale``, turned
    by ``theta`` and put at (cx, cy) canvas pixels. An edge is crossed by the rows whose centre y lies
    in [min y, max y) of its ends (at most ``edge * max_scale / pixel + 1`` rows). Walking a row, the
    crossings alternate entry, exit; an entry at x switches on the pixels from k = ceil(x - 1/2), an
    exit switches them off from floor(x - 1/2) + 1, and a row's mask is the sum over its crossings of
    -2^k (entry) or +2^k (exit): the intervals' masks 2^end - 2^start, added up with no sorting.
    Edges going down on screen (y increasing) are exits, as the outline runs clockwise in the shape frame.
    """
    pixel = CANVAS / size
    cos, sin = torch.cos(theta)[:, None], torch.sin(theta)[:, None]  # (B, 1)
    u, v = vertices[:, 0] * scale[:, None], vertices[:, 1] * scale[:, None]  # (B, E)
    x0 = (cx[:, None] + u * cos - v * sin) / pixel  # target pixels, y down
    y0 = (cy[:, None] - u * sin - v * cos) / pixel
    x1, y1 = x0.roll(-1, dims=1), y0.roll(-1, dims=1)  # (B, E) the edge's other end
    first = torch.ceil(torch.minimum(y0, y1) - 0.5)  # (B, E) first row whose centre is >= min y
    stop = torch.ceil(torch.maximum(y0, y1) - 0.5)  # rows first .. stop - 1 cross the edge
    reach = int(_HEART_EDGE * max_scale / pixel) + 1
    row = first[..., None] + torch.arange(reach, device=x0.device, dtype=x0.dtype)  # (B, E, R)
    t = (row + 0.5 - y0[..., None]) / torch.where(y1 == y0, 1.0, y1 - y0)[..., None]
    x = x0[..., None] + t * (x1 - x0)[..., None]  # (B, E, R) where the row's centre line crosses the edge
    exit_ = (y1 > y0)[..., None]
    k = torch.where(exit_, torch.floor(x - 0.5) + 1, torch.ceil(x - 0.5)).clamp_(0, size).long()
    valid = (row < stop[..., None]) & (row >= 0) & (row < size) & keep[:, None, None]
    sign = torch.where(exit_, 1, -1) * valid  # (B, E, R) 0 for crossings that do not count
    index = torch.where(valid, row, 0).long().flatten(1)  # (B, C)
    words = []
    for first_column in range(0, size, 64):
        halves = []
        for offset in (0, 32):
            bit = (k - (first_column + offset)).clamp(0, 32)
            values = (sign * (1 << bit)).flatten(1)  # (B, C)
            halves.append(torch.zeros(x.shape[0], size, dtype=torch.long, device=x.device).scatter_add_(1, index, values))
        words.append(halves[0] | (halves[1] << 32))  # (B, H)
    return words


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


def _fill_rows(lo: Tensor, hi: Tensor, width: int, table: Tensor, extra: list[Tensor] | None = None) -> Tensor:
    """Pixels whose centre lies in a union of x-intervals -> ``uint8 (B, H, W)`` of 0/1.

    ``lo``, ``hi`` are ``(B, H, P)`` in pixel units of the target canvas (pixel px spans [px, px + 1]);
    ``extra`` holds more row masks to OR in, one int64 ``(B, H)`` per 64 columns.
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
        words.append(mask if extra is None else mask | extra[first // 64])
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
        self._heart = torch.as_tensor(_HEART_OUTLINE, dtype=torch.float32, device=self.device)  # (E, 2)
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
        return self._draw(kind, real["scale"], theta, real["pos_x"], real["pos_y"], dtype,
                          max_scale=float(real["scale"].max()) if real["scale"].numel() else 1.0)

    def _render_classes(self, factors: Tensor, dtype: torch.dtype | None) -> Tensor:
        """Checked factor classes ``(B, K)`` -> images; no host synchronisation."""
        _, shape, scale, orientation, pos_x, pos_y = factors.unbind(dim=1)
        values = self._values
        theta = values[3][orientation % (FACTOR_SIZES[3] - 1)]  # class 39 (2 pi) is class 0
        return self._draw(shape, values[2][scale], theta, values[4][pos_x], values[5][pos_y], dtype)

    def _draw(self, shape: Tensor, scale: Tensor, theta: Tensor, pos_x: Tensor, pos_y: Tensor,
              dtype: torch.dtype | None, max_scale: float = 1.0) -> Tensor:
        """The renderer: (B,) factor values -> ``(B, 1, H, W)``; ``max_scale`` bounds ``scale``."""
        cx = POS_OFFSET + POS_SPAN * pos_x  # (B,)  centre in canvas pixels, y down
        cy = POS_OFFSET + POS_SPAN * pos_y
        lo, hi = _row_intervals(shape, scale, theta, cx, cy, self._rows)  # (B, H, 1) canvas units
        hearts = _polygon_words(self._heart, shape == 2, scale, theta, cx, cy, self.image_size, max_scale)
        images = _fill_rows(lo / self._pixel, hi / self._pixel, self.image_size, self._table, hearts)  # (B, H, W)
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


# ==== the official file ===========================================================================
class OfficialDSprites(GroundTruthDataset):
    """The official dSprites images [matthey2017], stored bit-packed (N, 64, 8) and unpacked on demand.

    ``render(factors)`` looks the images up by ``index_of(factors)``. A file holding a subset of the
    grid (N < 737,280 rows) works too: then ``len`` and ``__getitem__`` run over the stored rows,
    ``sample_factors`` draws stored rows, and asking for a combination that is not stored is an error.
    """

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    shape_names = SHAPE_NAMES

    def __init__(self, packed_images: Tensor, latents_classes: Tensor, *, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32):
        self.device = default_device(device)
        self.dtype = dtype
        self.image_size = CANVAS
        if packed_images.dtype != torch.uint8 or packed_images.shape[1:] != (CANVAS, CANVAS // 8):
            raise ValueError(f"packed_images must be uint8 (N, 64, 8), got {packed_images.dtype} "
                             f"{tuple(packed_images.shape)}")
        self._packed = packed_images.to(self.device)  # (N, 64, 8)  bit i of byte j = column 8 j + i
        self._classes = self.check_factors(latents_classes)  # (N, K)
        if self._classes.shape[0] != self._packed.shape[0]:
            raise ValueError(f"{self._packed.shape[0]} images but {self._classes.shape[0]} rows of latents_classes")
        self._values = [torch.as_tensor(v, dtype=torch.float32, device=self.device) for v in FACTOR_VALUES]
        self._table = _bit_table(self.device)
        index = self.index_of(self._classes)  # (N,)
        self.complete = bool(index.shape[0] == self.num_combinations
                             and torch.equal(index, torch.arange(self.num_combinations, device=self.device)))
        if not self.complete:  # look rows up by their official index
            self._sorted_index, self._order = torch.sort(index)
            if bool((self._sorted_index[1:] == self._sorted_index[:-1]).any()):
                raise ValueError("latents_classes holds the same factor combination twice")

    @classmethod
    def from_arrays(cls, imgs, latents_classes, **kwargs) -> OfficialDSprites:
        """From 0/1 images ``(N, 64, 64)`` and classes ``(N, K)`` (numpy or torch)."""
        imgs = np.asarray(imgs)
        packed = np.packbits(imgs.astype(bool), axis=-1, bitorder="little")  # (N, 64, 8)
        return cls(torch.from_numpy(packed), torch.as_tensor(np.asarray(latents_classes)), **kwargs)

    def __len__(self) -> int:
        return self._packed.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        """(image ``(1, 64, 64)``, factors ``(K,)``) of stored row ``i`` (the official index for the full file)."""
        i = int(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} stored images")
        return self._unpack(self._packed[i][None], self.dtype)[0], self._classes[i]

    def factor_values(self, factors) -> Tensor:
        """Real values of factor classes -> ``(n, K)`` (the same table the official file stores)."""
        factors = self.check_factors(factors)
        return torch.stack([self._values[k][factors[:, k]] for k in range(self.num_factors)], dim=1)

    def sample_factors(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Uniform over the grid for the full file; uniform over the stored rows for a subset."""
        if self.complete:
            return super().sample_factors(n, generator)
        where = generator.device if generator is not None else torch.device("cpu")
        rows = torch.randint(len(self), (n,), generator=generator, device=where).to(self.device)
        return self._classes[rows]

    def render(self, factors, dtype: torch.dtype | None = None) -> Tensor:
        """The stored images of factor classes ``(B, K)`` -> ``(B, 1, 64, 64)`` (``dtype=torch.uint8``: bytes)."""
        index = self.index_of(factors)  # (B,)
        if self.complete:
            rows = index
        else:
            pos = torch.searchsorted(self._sorted_index, index).clamp(max=len(self) - 1)
            missing = self._sorted_index[pos] != index
            if bool(missing.any()):
                raise ValueError(f"factor combination with official index {int(index[missing][0])} is not in this "
                                 f"file, which holds {len(self)} of {self.num_combinations} images")
            rows = self._order[pos]
        return self._unpack(self._packed[rows], dtype)

    def render_uint8(self, factors) -> Tensor:
        return self.render(factors, dtype=torch.uint8)

    def _unpack(self, packed: Tensor, dtype: torch.dtype | None) -> Tensor:
        images = self._table[packed.long()].view(torch.uint8).unsqueeze(1)  # (B, 1, 64, 64)
        dtype = self.dtype if dtype is None else dtype
        return images if dtype == torch.uint8 else images.to(dtype)


def git_blob_id(path: str | os.PathLike) -> str:
    """Git's object id of a file: ``sha1(b"blob <size>\\0" + bytes)`` (what ``git hash-object`` prints)."""
    path = Path(path)
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` if given, else ``$VAECOURSE_CACHE``, else ``~/.cache/vaecourse``."""
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "vaecourse"
    return Path(cache_dir).expanduser()


def _download(url: str, dest: Path, expected_blob_id: str | None) -> None:
    """Fetch ``url`` into ``dest`` via ``download_verified`` (temporary file, blob id, rename)."""
    def write(out) -> None:
        try:
            _fetch(url, out)
        except OSError as err:  # no network, DNS, a dropped connection, HTTP errors
            raise DownloadError(f"could not download {url}: {err}. Nothing was kept; check the network, or "
                                "download the file yourself and pass path=...") from err

    download_verified(dest, write, source=url, digest=git_blob_id, expected=expected_blob_id,
                      digest_name="git blob id")


def load_official_dsprites(path: str | os.PathLike | None = None, *, download: bool = False,
                           cache_dir: str | os.PathLike | None = None,
                           expected_blob_id: str | None = OFFICIAL_BLOB_ID,
                           device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> OfficialDSprites:
    """Load the official dSprites file [matthey2017] (``path``, or ``OFFICIAL_FILENAME`` in the cache dir).

    Downloads from ``OFFICIAL_URL`` only when ``download=True`` and the file is absent. The file is
    checked against ``expected_blob_id`` (its git blob id; ``None`` skips the check, e.g. for a subset
    you wrote yourself) and then its keys, shapes, dtypes and values; anything else is a ValueError
    naming what is wrong. The pickled ``metadata`` entry is never unpickled.
    """
    path = Path(path).expanduser() if path is not None else default_cache_dir(cache_dir) / OFFICIAL_FILENAME
    if not path.exists():
        if not download:
            raise FileNotFoundError(
                f"the official dSprites file is not at {path}. Fetch it (about 26 MB, verified) with "
                f"load_official_dsprites(download=True) or `python -m vaecourse data dsprites --download`, or "
                f"download {OFFICIAL_URL} yourself and pass path=...; the procedural DSprites() renderer needs "
                "no file at all.")
        _download(OFFICIAL_URL, path, expected_blob_id)
    elif expected_blob_id is not None:
        actual = git_blob_id(path)
        if actual != expected_blob_id:
            raise ValueError(f"{path} is not the official dSprites file: expected git blob id {expected_blob_id}, "
                             f"got {actual} ({path.stat().st_size} bytes). Delete it and load with download=True, "
                             "or pass expected_blob_id=None to load a file you trust.")
    packed, classes = _read_npz(path, require_full=expected_blob_id is not None)
    return OfficialDSprites(torch.from_numpy(packed), torch.from_numpy(classes), device=device, dtype=dtype)


# ---- reading the npz without unpickling and without 3 GB of unpacked images ---------------------
_KEYS = {  # key: (dtype, shape after the N rows)
    "imgs": (np.uint8, (CANVAS, CANVAS)),
    "latents_classes": (np.int64, (6,)),
    "latents_values": (np.float64, (6,)),
}


def _npy_header(stream, path: Path, key: str) -> tuple[int, ...]:
    """Read a .npy header from ``stream``, check dtype, trailing shape and C order; return the shape."""
    version = np.lib.format.read_magic(stream)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read(stream)
    want_dtype, want_tail = _KEYS[key]
    if dtype != np.dtype(want_dtype):
        raise ValueError(f"{path}: {key} must have dtype {np.dtype(want_dtype)}, got {dtype}")
    if len(shape) != 1 + len(want_tail) or tuple(shape[1:]) != want_tail:
        raise ValueError(f"{path}: {key} must have shape (N, {', '.join(map(str, want_tail))}), got {tuple(shape)}")
    if fortran_order:
        raise ValueError(f"{path}: {key} is stored in Fortran order; expected C order as numpy.savez writes it")
    return tuple(shape)


def _read_exact(stream, nbytes: int, path: Path, key: str) -> bytes:
    data = stream.read(nbytes)
    if len(data) != nbytes:
        raise ValueError(f"{path}: {key} is truncated: expected {nbytes} bytes of data, got {len(data)}")
    return data


def _read_npz(path: Path, require_full: bool, chunk_rows: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Validated (packed images ``(N, 64, 8)`` uint8, latents_classes ``(N, 6)`` int64) from a dSprites npz."""
    try:
        with zipfile.ZipFile(path) as archive:
            found = sorted(name.removesuffix(".npy") for name in archive.namelist())
            missing = [key for key in _KEYS if f"{key}.npy" not in archive.namelist()]
            if missing:
                raise ValueError(f"{path} is not a dSprites file: missing key(s) {missing}; expected "
                                 f"{sorted(_KEYS)} (plus metadata), found {found}")
            arrays = {}
            for key in ("latents_classes", "latents_values"):
                with archive.open(f"{key}.npy") as stream:
                    shape = _npy_header(stream, path, key)
                    dtype = np.dtype(_KEYS[key][0])
                    data = _read_exact(stream, math.prod(shape) * dtype.itemsize, path, key)
                    arrays[key] = np.frombuffer(data, dtype=dtype).reshape(shape)
                    stream.read()  # reach the end of the member: zipfile checks its CRC there
            n = arrays["latents_classes"].shape[0]
            _check_latents(path, arrays["latents_classes"], arrays["latents_values"], require_full)
            with archive.open("imgs.npy") as stream:
                shape = _npy_header(stream, path, "imgs")
                if shape[0] != n:
                    raise ValueError(f"{path}: imgs has {shape[0]} rows but latents_classes has {n}")
                packed = np.empty((n, CANVAS, CANVAS // 8), dtype=np.uint8)
                for first in range(0, n, chunk_rows):  # 8192 images = 32 MB at a time
                    rows = min(chunk_rows, n - first)
                    chunk = np.frombuffer(_read_exact(stream, rows * CANVAS * CANVAS, path, "imgs"), dtype=np.uint8)
                    chunk = chunk.reshape(rows, CANVAS, CANVAS)
                    if chunk.max(initial=0) > 1:
                        raise ValueError(f"{path}: imgs must be binary 0/1, found the value {int(chunk.max())}")
                    packed[first:first + rows] = np.packbits(chunk, axis=-1, bitorder="little")
                stream.read()  # CRC check
    except (zipfile.BadZipFile, EOFError, zlib.error) as err:
        raise ValueError(f"{path} is truncated or corrupted ({type(err).__name__}: {err}); delete it and "
                         "fetch it again (load_official_dsprites(download=True))") from err
    return packed, arrays["latents_classes"].copy()


def _check_latents(path: Path, classes: np.ndarray, values: np.ndarray, require_full: bool) -> None:
    """Classes in range, values on the dSprites grid, and the full 737,280 rows when asked."""
    n = classes.shape[0]
    if values.shape[0] != n:
        raise ValueError(f"{path}: latents_values has {values.shape[0]} rows but latents_classes has {n}")
    full = math.prod(FACTOR_SIZES)
    if require_full and n != full:
        raise ValueError(f"{path}: the official file has {full} images, this one has {n}")
    for k, (name, size) in enumerate(zip(FACTOR_NAMES, FACTOR_SIZES)):
        column = classes[:, k]
        if n and (column.min() < 0 or column.max() >= size):
            raise ValueError(f"{path}: latents_classes column {name!r} must be in [0, {size - 1}], "
                             f"got values in [{column.min()}, {column.max()}]")
        gap = np.abs(values[:, k] - FACTOR_VALUES[k][column]).max(initial=0.0)
        if not gap <= 1e-4:
            raise ValueError(f"{path}: latents_values column {name!r} does not match the dSprites grid "
                             f"(largest difference {gap:.3g}): not a dSprites file?")
