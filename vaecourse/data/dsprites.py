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

import math
import sys
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from vaecourse import values
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
MAX_SCALE = 10.0  # render_values' largest scale: the grid's largest is 1

IMAGE_DTYPE = values.Kind("a floating torch dtype, or torch.uint8 for 0/1 bytes (None: the data set's own)",
                          lambda v: isinstance(v, torch.dtype) and (v.is_floating_point or v == torch.uint8)).or_none()
_SHAPES = values.Kind("integer class indices (0 square, 1 ellipse, 2 heart)", lambda v: v is not None,
                      lambda v: _integer_array(v))


def _integer_array(value) -> Tensor | None:
    """An int or an array/list of ints as an int64 tensor; None (refused) for bools, floats, text and None."""
    if value is None or isinstance(value, (bool, np.bool_, str, bytes)):
        return None
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return None
    return torch.from_numpy(array.astype(np.int64)) if array.dtype.kind in "iu" else None


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
        image_size = values.image_side.check("image_size (64 for dSprites)", image_size)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating torch dtype (images in [0, 1]), got {values.shown(dtype)}; "
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
        dtype = IMAGE_DTYPE.check("render's dtype", dtype)
        factors = self.check_factors(factors)
        self._fits("factors (images to render)", len(factors))
        return self._render_classes(factors, dtype)

    def _fits(self, name: str, count: int) -> int:
        """``count`` images of this side, or a ValueError before they are allocated (values.MAX_BYTES)."""
        return values.fits_in_memory(name, count, 4 * self.image_size ** 2,
                                     f"{self.image_size}x{self.image_size} images")

    def render_uint8(self, factors) -> Tensor:
        """``render(factors, dtype=torch.uint8)``: 0/1 bytes ``(B, 1, H, W)``."""
        return self.render(factors, dtype=torch.uint8)

    def render_values(self, shape, scale, orientation, pos_x, pos_y, *, dtype: torch.dtype | None = None) -> Tensor:
        """Images of real factor values, on or off the grid (smooth traversals) -> ``(B, 1, H, W)``.

        shape: class index 0 square, 1 ellipse, 2 heart; scale: size factor (grid 0.5..1); orientation:
        radians, counter-clockwise on screen; pos_x, pos_y: 0..1 (centre at 16 + 32 pos pixels).
        Arguments are tensors or numbers, broadcast together to ``(B,)``.
        """
        dtype = IMAGE_DTYPE.check("render_values' dtype", dtype)
        kind = _SHAPES.check("shape", shape) if not isinstance(shape, Tensor) else shape
        values.with_values("shape", kind, "integer class indices (0 square, 1 ellipse, 2 heart)")
        if kind.dtype.is_floating_point or kind.dtype.is_complex or kind.dtype == torch.bool:
            raise ValueError(f"shape must be integer class indices (0 square, 1 ellipse, 2 heart), got "
                             f"{values.shown(shape)}")
        real = {name: values.finite_numbers.check(name, value).to(device=self.device, dtype=torch.float32)
                for name, value in (("scale", scale), ("orientation", orientation), ("pos_x", pos_x), ("pos_y", pos_y))}
        for name in ("pos_x", "pos_y"):  # the centre at 16 + 32 pos pixels of 64: on the canvas for -0.5..1.5
            if real[name].numel() and not bool(((real[name] >= -0.5) & (real[name] <= 1.5)).all()):
                raise ValueError(f"{name} must be positions from -0.5 to 1.5 (0..1 is the data's range; beyond 1.5 the "
                                 f"sprite's centre leaves the canvas), got values from {real[name].min().item():.3g} "
                                 f"to {real[name].max().item():.3g}")
        try:
            kind, *broadcast = torch.broadcast_tensors(kind.to(device=self.device, dtype=torch.long), *real.values())
        except RuntimeError as err:
            shapes = {"shape": tuple(kind.shape), **{name: tuple(v.shape) for name, v in real.items()}}
            raise ValueError(f"render_values arguments must broadcast to one batch shape, got {shapes}") from err
        self._fits("render_values' batch (the arguments broadcast together)", kind.numel())
        kind = kind.reshape(-1)  # (B,)
        real = {name: v.reshape(-1) for name, v in zip(real, broadcast)}
        if bool(((kind < 0) | (kind > 2)).any()):
            raise ValueError(f"shape must be 0 (square), 1 (ellipse) or 2 (heart), got values {kind.unique().tolist()}")
        for name, v in real.items():  # finite in float64, but beyond float32 (1e39 is inf there)
            if not bool(torch.isfinite(v).all()):
                raise ValueError(f"{name} must be finite real numbers that float32 can hold, got {values.shown(v)}")
        if bool((real["scale"] <= 0).any()):
            raise ValueError(f"scale must be positive, got min {float(real['scale'].min())}")
        if bool((real["scale"] > MAX_SCALE).any()):  # the heart's outline is drawn with memory that grows with it
            raise ValueError(f"scale must be at most {MAX_SCALE:g} (the grid's scales are 0.5 to 1; at {MAX_SCALE:g} a "
                             f"shape already covers the canvas), got max {float(real['scale'].max()):g}")
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
        batch_size = self._fits("batch_size", values.batch_size.check("batch_size", batch_size))
        steps = values.step_count.or_none().check("steps (None: endless)", steps)
        generator = values.generator.or_none().check("generator", generator)
        dtype = IMAGE_DTYPE.check("batches' dtype", dtype)
        return self._batches(batch_size, steps, generator, dtype)  # checked at the call, not at the first batch

    def _batches(self, batch_size: int, steps: int | None, generator: torch.Generator | None,
                 dtype: torch.dtype | None) -> Iterator[tuple[Tensor, Tensor]]:
        step = 0
        while steps is None or step < steps:
            factors = self.sample_factors(batch_size, generator)
            yield self._render_classes(factors, dtype), factors
            step += 1

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``n`` random (images ``(n, 1, H, W)``, factors ``(n, K)``) pairs."""
        self._fits("n", values.draws.check("n", n))
        factors = self.sample_factors(n, generator)
        return self._render_classes(factors, None), factors

    def iter_grid(self, batch_size: int = 4096, *, dtype: torch.dtype = torch.uint8, start: int = 0,
                  stop: int | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """The whole grid in official order, in chunks: (indices ``(B,)``, images ``(B, 1, H, W)``).

        Chunk i holds official indices ``[start + i batch_size, ...)``; nothing is kept in memory.
        """
        start = values.non_negative_int.check("iter_grid's start", start)
        stop = len(self) if stop is None else values.non_negative_int.check("iter_grid's stop", stop)
        if not 0 <= start <= stop <= len(self):
            raise ValueError(f"need 0 <= start <= stop <= {len(self)}, got start={start}, stop={stop}")
        batch_size = self._fits("batch_size", values.batch_size.check("batch_size", batch_size))
        dtype = IMAGE_DTYPE.check("iter_grid's dtype", dtype)
        return self._iter_grid(batch_size, dtype, start, stop)  # checked at the call

    def _iter_grid(self, batch_size: int, dtype: torch.dtype, start: int, stop: int) -> Iterator[tuple[Tensor, Tensor]]:
        bases = torch.tensor(self.factor_bases, device=self.device)  # (K,)
        sizes = torch.tensor(self.factor_sizes, device=self.device)
        for first in range(start, stop, batch_size):
            indices = torch.arange(first, min(first + batch_size, stop), device=self.device)  # (B,)
            factors = torch.div(indices[:, None], bases, rounding_mode="floor") % sizes  # (B, K) mixed radix
            yield indices, self._render_classes(factors, dtype)
