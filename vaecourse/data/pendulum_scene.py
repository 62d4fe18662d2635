"""The pendulum scene of CausalVAE: its geometry, its structural causal model and its renderer, drawn as the paper's
generator draws it (in torch, without matplotlib). The data set over it (the grid, the split, do() and
counterfactuals on images) is :mod:`vaecourse.data.pendulum`.

Geometry (the scene of [yang2021, Sec. 5.1] and its public data generator, in scene units):
- the scene is 20 wide and 22 high: x in [0, 20], y in [-1, 21] (the generator's axis limits);
- the pendulum hangs from the pivot (10, 10.5); the bob's centre is (10 + 8 sin theta, 10.5 - 8 cos theta),
  radius 1.5 (firebrick), the rod a black segment from the pivot to the bob's centre;
- the sun (orange, radius 3) sits on the line through the pivot with slope tan phi, at height 20.5;
- the shadow lies on the ground y = -0.5 between the projections, along the light direction, of the pivot and
  of the bob's far edge (10 + 9.5 sin theta, 10.5 - 9.5 cos theta); shadow position = the midpoint of the two
  projections, shadow length = max(3, |their difference|).
A point (x, y) projects to the ground at x + (-0.5 - y) cot phi (cot, not 1/tan, so phi = pi/2 is fine).

The SCM [slides, "Structural Causal model"; pearl2009]: theta and phi are roots (exogenous: uniform), and
    shadow_length   = max(3, |p(pivot) - p(far edge)|) + eps_l
    shadow_position = (p(pivot) + p(far edge)) / 2     + eps_p
with eps_l = eps_p = 0 unless ``shadow_noise`` is set. ``do()`` on any of the four concepts renders the image
the intervened scene produces: do(phi) moves the sun and the shadow; do(shadow_length) changes the shadow alone,
which breaks the physics (the slides' do(shadow = 0) example). ``counterfactual`` answers "this image, had
do(...) held" by abduction, action, prediction.

The paper's grid: theta = i pi / 200 for i in -40..43 (84 values) and phi = j pi / 200 for j in 60..147
without 100 (87 values): 7,308 images, 96x96 RGB. The train/test split is fixed: a permutation of the 7,308
flat indices drawn with ``torch.Generator().manual_seed(0)``; its first 20% (1,462 images) is the test set.

Framing: the paper's images as its generator writes them (research/CausalVAE/causal_data/pendulum.py of
github.com/huawei-noah/trustworthyAI, commit 46c3d29, MIT). It draws with matplotlib on a 1 x 1 inch figure saved
at 96 dpi, in matplotlib's default subplot box with the axis off, so the scene does not fill the image:
- the axes span 12.5-90 % of the width and 11-88 % of the height (from the bottom), xlim (0, 20), ylim (-1, 21):
  x runs at 3.72 px per unit and y at 3.36, so the scene sits in a 74 x 74 px box inside white margins, and its
  circles come out slightly elliptical in pixels;
- every artist is clipped to the axes box, which Agg rounds to whole pixels (columns 12-85, rows 12-84): the sun,
  radius 3 at height 20.5, shows as a half disc, cut at x = 0 or x = 20 near the sides;
- the rod and the shadow are two-point polygons with linewidth 3 pt = 4 px; Agg strokes them as 4 px rectangles
  with flat ends and snaps an axis-parallel one (every shadow, the rod at theta = 0) to whole pixels; the circles
  (patches) also carry a 1 pt edge in their own colour, 2/3 px beyond the radius;
- draw order rod, bob, sun, shadow, anti-aliased by area coverage (Agg).
Why: the course claims a learner sees the paper's data without downloading it, so the default is that data,
checked against official images (``official_images``, IoU of the drawn pixels >= 0.99, mean absolute error
~2e-4 at 96 x 96). The course's earlier framing (the scene stretched over the whole image) was removed: it could have
stayed only as an option measured to help small images, and no such measurement was made.

Rendering: signed distances (in figure pixels) to each shape, turned into coverage with a box filter one output
pixel wide; the rod and the shadow's rows and columns use the exact coverage of a band. At ``size`` 96 this is
the generator's image; at another size it is the same figure seen through ``96 / size`` times larger pixels,
which is what resizing the 96 x 96 image by area gives (measured against area-resized official-generator
images: mean absolute error 6e-4 at 32 x 32, 1e-3 at 64 x 64). Rendering at 96 and resizing by area
would match them 5-10x more closely but costs ~100x more time at 32 x 32, for differences below one
8-bit grey level on average. Layers that depend on theta alone (rod, bob) or phi alone (sun) are computed once
per distinct value in a batch; the pendulum, the sun and the shadow never overlap, so each darkens its own band
of rows of a white image.

Shape letters: n images, K = 4 concepts, H = W = size.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import torch
from torch import Tensor

from vaecourse import values
from vaecourse.files import verify_sha256
from vaecourse.scm import SCM, Equation

SIDE = values.integer(f"an image side in pixels between 8 and {values.MAX_SIDE:,}", 8, values.MAX_SIDE)  # a scene's

CONCEPTS = ("theta", "phi", "shadow_length", "shadow_position")  # the paper's label order (i, j, shade, mid)
CONCEPT_LABELS = ("pendulum angle θ", "light angle φ", "shadow length", "shadow position")
TRUE_GRAPH = torch.tensor([[0.0, 0.0, 1.0, 1.0],   # theta -> shadow length, shadow position
                           [0.0, 0.0, 1.0, 1.0],   # phi   -> shadow length, shadow position
                           [0.0, 0.0, 0.0, 0.0],
                           [0.0, 0.0, 0.0, 0.0]])
THETA_STEPS = tuple(range(-40, 44))  # i
PHI_STEPS = tuple(j for j in range(60, 148) if j != 100)  # j
# u = (value - centre) / scale: the public generator's label normalisation (i/44, (j-100)/40, (l-7)/7.5, (p-10)/10)
LABEL_CENTRE = (0.0, math.pi / 2, 7.0, 10.0)
LABEL_SCALE = (44 * math.pi / 200, 40 * math.pi / 200, 7.5, 10.0)
# the values do() accepts (the scene stays meaningful; the grid covers a part of each)
RANGES = {"theta": (-math.pi / 3, math.pi / 3), "phi": (0.2 * math.pi, 0.8 * math.pi),
          "shadow_length": (0.0, 40.0), "shadow_position": (-10.0, 30.0)}

SCENE_X, SCENE_Y = (0.0, 20.0), (-1.0, 21.0)
PIVOT = (10.0, 10.5)
ROD, BOB_RADIUS, FAR_EDGE = 8.0, 1.5, 9.5
SUN_HEIGHT, SUN_RADIUS, GROUND = 20.5, 3.0, -0.5
MIN_SHADOW = 3.0
COLOURS = {"rod": (0.0, 0.0, 0.0), "bob": (178 / 255, 34 / 255, 34 / 255), "sun": (1.0, 165 / 255, 0.0),
           "shadow": (0.0, 0.0, 0.0)}


# -------------------------------------------------------------------------------------------- geometry
_COORDINATE = values.numbers(f"finite real numbers at most {values.MAX_WEIGHT:g} in size (a tensor, an array, a list "
                             "or a float)", lambda t: bool((t.abs() <= values.MAX_WEIGHT).all()))  # (scene units)
_HEIGHT = values.real("a height in scene units", lambda v: True, values.MAX_WEIGHT, "the scene is 22 units high")
MIN_SIN_PHI = 1e-6  # a light ray at phi = 0 or pi never meets the ground (cot phi = 1/0: shadows of NaN and inf)


def _coordinates(who: str, **given) -> list[Tensor]:
    """The public geometry functions' arguments: finite real numbers (tensors, arrays, lists or floats) whose
    shapes broadcast together, or a ValueError naming the argument (NaN in, NaN out would draw nothing)."""
    out = [_COORDINATE.check(f"{who}'s {name}", value) for name, value in given.items()]
    for name, t in zip(given, out):
        if name == "phi" and not bool((torch.sin(t.double()) >= MIN_SIN_PHI).all()):  # cot phi: 1/0 at 0 and pi
            raise ValueError(f"{who}'s phi must be the light's angles above the ground, sin(phi) >= {MIN_SIN_PHI:g} "
                             f"(0 < phi < pi; the scene's range is {RANGES['phi'][0]:.3g} to {RANGES['phi'][1]:.3g}), "
                             f"got values from {float(t.min()):.3g} to {float(t.max()):.3g}")
    try:
        torch.broadcast_shapes(*(t.shape for t in out))
    except RuntimeError:
        shapes = ", ".join(f"{name} {tuple(t.shape)}" for name, t in zip(given, out))
        raise ValueError(f"{who}'s arguments must have shapes that broadcast together, got {shapes}") from None
    return out


def ground_projection(x: Tensor, y: Tensor, phi: Tensor, height: float = GROUND) -> Tensor:
    """Where the light ray through (x, y) with slope tan(phi) meets the line y = height."""
    x, y, phi = _coordinates("ground_projection", x=x, y=y, phi=phi)
    return _ground_projection(x, y, phi, _HEIGHT.check("ground_projection's height", height))


def _ground_projection(x: Tensor, y: Tensor, phi: Tensor, height: float = GROUND) -> Tensor:
    return x + (height - y) * torch.cos(phi) / torch.sin(phi)


def sun_position(phi: Tensor) -> Tensor:
    """x of the sun: the line through the pivot with slope tan(phi), at height 20.5."""
    return _sun_position(*_coordinates("sun_position", phi=phi))


def _sun_position(phi: Tensor) -> Tensor:
    return _ground_projection(torch.full_like(phi, PIVOT[0]), torch.full_like(phi, PIVOT[1]), phi, SUN_HEIGHT)


def bob_centre(theta: Tensor) -> tuple[Tensor, Tensor]:
    """(x, y) of the bob's centre for pendulum angles theta (radians)."""
    return _bob_centre(*_coordinates("bob_centre", theta=theta))


def _bob_centre(theta: Tensor) -> tuple[Tensor, Tensor]:
    return PIVOT[0] + ROD * torch.sin(theta), PIVOT[1] - ROD * torch.cos(theta)


def shadow(theta: Tensor, phi: Tensor) -> tuple[Tensor, Tensor]:
    """(shadow length, shadow position) the physics gives for (theta, phi), each (n,)."""
    theta, phi = _coordinates("shadow", theta=theta, phi=phi)
    return _shadow(theta, phi)


def _shadow(theta: Tensor, phi: Tensor) -> tuple[Tensor, Tensor]:
    theta, phi = torch.as_tensor(theta, dtype=torch.float64), torch.as_tensor(phi, dtype=torch.float64)
    theta, phi = torch.broadcast_tensors(theta, phi)
    pivot = _ground_projection(torch.full_like(theta, PIVOT[0]), torch.full_like(theta, PIVOT[1]), phi)
    edge = _ground_projection(PIVOT[0] + FAR_EDGE * torch.sin(theta), PIVOT[1] - FAR_EDGE * torch.cos(theta), phi)
    return torch.clamp((pivot - edge).abs(), min=MIN_SHADOW), (pivot + edge) / 2


def pendulum_scm(shadow_noise: float = 0.0) -> SCM:
    """The scene's SCM: theta, phi roots (uniform over the paper's grid range); the shadow from both."""
    shadow_noise = values.non_negative.check("pendulum_scm's shadow_noise (scene units)", shadow_noise)
    lo_t, hi_t = THETA_STEPS[0] * math.pi / 200, THETA_STEPS[-1] * math.pi / 200
    lo_p, hi_p = PHI_STEPS[0] * math.pi / 200, PHI_STEPS[-1] * math.pi / 200

    def uniform(lo, hi):
        return lambda n, g: lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)

    def root(_pa, eps):
        return eps

    def length(pa, eps):
        return _shadow(pa["theta"], pa["phi"])[0] + eps

    def position(pa, eps):
        return _shadow(pa["theta"], pa["phi"])[1] + eps

    def noise(n, g):
        return shadow_noise * torch.randn(n, generator=g, dtype=torch.float64)

    return SCM({"theta": Equation((), root, noise=uniform(lo_t, hi_t)),
                "phi": Equation((), root, noise=uniform(lo_p, hi_p)),
                "shadow_length": Equation(("theta", "phi"), length, noise=noise),
                "shadow_position": Equation(("theta", "phi"), position, noise=noise)}, ranges=RANGES)


# -------------------------------------------------------------------------------------------- rendering
# The official figure, in figure pixels (u from the left, v from the top, pixel k covers [k, k + 1]): matplotlib's
# defaults for a 1 x 1 inch figure saved at 96 dpi.
FIGURE = 96  # pixels per side
AXES_BOX = (0.125, 0.11, 0.9, 0.88)  # left, bottom, right, top, fractions of the figure (rcParams figure.subplot.*)
POINT = FIGURE / 72  # pixels per point
LINE_WIDTH = 3 * POINT  # the rod's and the shadow's linewidth=3: 4 px
EDGE_WIDTH = 1 * POINT  # a circle's edge (rcParams patch.linewidth 1, drawn in the circle's own colour): 4/3 px
SNAP_TOLERANCE = 1e-4  # Agg snaps a path whose segments are all horizontal or vertical to this tolerance (px)


def to_pixels(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Scene (data) coordinates -> figure pixels (u, v): the axes box maps xlim (0, 20) and ylim (-1, 21)."""
    return _to_pixels(*_coordinates("to_pixels", x=x, y=y))


def _to_pixels(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    left, bottom, right, top = (FIGURE * f for f in AXES_BOX)
    u = left + (x - SCENE_X[0]) * (right - left) / (SCENE_X[1] - SCENE_X[0])
    v = FIGURE - bottom - (y - SCENE_Y[0]) * (top - bottom) / (SCENE_Y[1] - SCENE_Y[0])
    return u, v


def _agg_round(value: float) -> int:
    """Agg's rounding of clip boxes and snapped vertices: floor(value + 0.5)."""
    return math.floor(value + 0.5)


# Agg clips every artist to the axes box rounded to whole pixels: columns 12..85, rows 12..84
CLIP_U = (_agg_round(FIGURE * AXES_BOX[0]), _agg_round(FIGURE * AXES_BOX[2]))
CLIP_V = (_agg_round(FIGURE * (1 - AXES_BOX[3])), _agg_round(FIGURE * (1 - AXES_BOX[1])))
PIXELS_PER_UNIT = (FIGURE * (AXES_BOX[2] - AXES_BOX[0]) / (SCENE_X[1] - SCENE_X[0]),  # 3.72 across
                   FIGURE * (AXES_BOX[3] - AXES_BOX[1]) / (SCENE_Y[1] - SCENE_Y[0]))  # 3.36 up


def _coverage(distance: Tensor, pixel: float) -> Tensor:
    """Signed distance (figure pixels, negative inside) -> fraction of an output pixel (``pixel`` figure pixels
    wide) covered, for an edge straight across the pixel (a box filter one output pixel wide)."""
    return (0.5 - distance / pixel).clamp_(0.0, 1.0)


def _span(offset: Tensor, half: float | Tensor, pixel: float) -> Tensor:
    """Fraction of an output pixel (``pixel`` wide) that a band ``2 half`` wide covers, the pixel's centre lying
    ``offset`` from the band's middle, measured across the band: exact for a band parallel to the pixel's sides."""
    inner = pixel / 2
    return ((torch.clamp(offset + half, max=inner) - torch.clamp(offset - half, min=-inner)) / pixel).clamp_(0.0, 1.0)


def _ellipse(cu: Tensor, cv: Tensor, radius: float, u: Tensor, v: Tensor, pixel: float, clip: bool = False) -> Tensor:
    """Coverage of circles of ``radius`` scene units centred (cu, cv) (m,) (figure pixels), with their edge: (m, H, W).

    In pixels a circle of the scene is an ellipse (semi-axes 3.72 r across, 3.36 r up); the distance to it is the
    first-order (rho - 1) / |grad rho| with rho = sqrt((du/a)^2 + (dv/b)^2), exact on the outline, which is where
    coverage is decided. The edge stroke (4/3 px wide, same colour) dilates the ellipse by 2/3 px. ``clip``: cut by
    the clip box (the distance to the intersection is the larger of the two distances)."""
    a, b = radius * PIXELS_PER_UNIT[0], radius * PIXELS_PER_UNIT[1]
    du = (u[None, None, :] - cu[:, None, None]) / a  # (m, 1, W)
    dv = (v[None, :, None] - cv[:, None, None]) / b  # (m, H, 1)
    rho = torch.sqrt(du * du + dv * dv)  # (m, H, W)
    slope = torch.sqrt((du / a) ** 2 + (dv / b) ** 2) / rho.clamp_min(1e-12)  # |grad rho|, per pixel
    distance = (rho - 1) / slope.clamp_min(1e-12) - EDGE_WIDTH / 2
    if clip:  # the clip box's signed distance, (H, W)
        outside_u = torch.maximum(CLIP_U[0] - u, u - CLIP_U[1])  # (W,)
        outside_v = torch.maximum(CLIP_V[0] - v, v - CLIP_V[1])  # (H,)
        distance = torch.maximum(distance, torch.maximum(outside_u[None, :], outside_v[:, None]))
    return _coverage(distance, pixel)


def _snap(au: Tensor, av: Tensor, bu: Tensor, bv: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Agg's snapping of a straight horizontal or vertical segment (an even 4 px line): its ends move to the nearest
    pixel corner, floor(value + 0.5), so the line covers whole pixels; other segments are left as they are."""
    snap = ((au - bu).abs() < SNAP_TOLERANCE) | ((av - bv).abs() < SNAP_TOLERANCE)
    return tuple(torch.where(snap, torch.floor(c + 0.5), c) for c in (au, av, bu, bv))


def _stroke(au: Tensor, av: Tensor, bu: Tensor, bv: Tensor, u: Tensor, v: Tensor, pixel: float) -> Tensor:
    """Coverage of 4 px lines from (au, av) to (bu, bv) (m,) (figure pixels), butt-ended: (m, H, W).

    The generator draws a two-point closed polygon; Agg strokes it out and back, and the 180-degree turns at the
    ends exceed the miter limit, so they fall back to bevel joins: flat ends, a rectangle of the line's width."""
    au, av, bu, bv = _snap(au, av, bu, bv)
    length = torch.sqrt((bu - au) ** 2 + (bv - av) ** 2).clamp_min(1e-12)
    tu, tv = ((bu - au) / length)[:, None, None], ((bv - av) / length)[:, None, None]  # unit direction (m, 1, 1)
    pu, pv = u[None, None, :] - au[:, None, None], v[None, :, None] - av[:, None, None]  # (m, 1, W), (m, H, 1)
    along = pu * tu + pv * tv  # (m, H, W)
    across = (pu * tv - pv * tu).abs()
    half = length[:, None, None] / 2
    return _span(across, LINE_WIDTH / 2, pixel) * _span(along - half, half, pixel)


def _interval(lo: Tensor, hi: Tensor, edges: Tensor) -> Tensor:
    """Exact fraction of each pixel [edges[k], edges[k+1]] inside [lo, hi] (m,): (m, P)."""
    left, right = edges[:-1], edges[1:]
    overlap = torch.minimum(hi[:, None], right[None, :]) - torch.maximum(lo[:, None], left[None, :])
    return (overlap / (right - left)[None, :]).clamp(0.0, 1.0)


def _band(v: Tensor, lo: float, hi: float, pixel: float) -> slice:
    """The rows whose centres lie within [lo - pixel, hi + pixel] (figure pixels from the top)."""
    inside = ((v >= lo - pixel) & (v <= hi + pixel)).nonzero()
    return slice(int(inside[0]), int(inside[-1]) + 1) if len(inside) else slice(0, 0)


def _darkness(alpha: Tensor, colour: tuple[float, float, float]) -> Tensor:
    """How much a layer of coverage alpha (m, h, W) and this colour darkens white: (m, 3, h, W)."""
    return alpha[:, None] * (1.0 - torch.tensor(colour, device=alpha.device))[None, :, None, None]


_CONCEPTS = values.numbers(f"real numbers (theta, phi, shadow length, shadow position), finite, of shape (n, 4) = "
                           f"{CONCEPTS}", lambda t: t.dim() == 2 and t.shape[1] == 4, finite=False)
MAX_CONCEPT = values.MAX_WEIGHT  # concept values or labels: the scene's are within 40 (1e30 labels gave 1e31 concepts)


def check_concepts(concepts, name: str = "concepts") -> Tensor:
    """``concepts`` (n, 4) as a floating tensor (its device kept), or a ValueError naming ``name``: the shape and
    the type first (a tensor of shape (n, 4)), then NaN and inf."""
    if not isinstance(concepts, Tensor) or concepts.dtype == torch.bool or concepts.is_complex() \
            or concepts.dim() != 2 or concepts.shape[1] != 4:
        if isinstance(concepts, Tensor) and (concepts.dim() != 2 or concepts.shape[1] != 4):
            raise ValueError(f"{name} must have shape (n, 4) = {CONCEPTS}, got {tuple(concepts.shape)}")
        if isinstance(concepts, Tensor):
            raise ValueError(f"{name} must be real numbers (theta, phi, shadow length, shadow position), got dtype "
                             f"{concepts.dtype}")
    concepts = _CONCEPTS.check(name, concepts)  # (a meta tensor is refused there: values.with_values)
    if not bool((concepts.abs() <= MAX_CONCEPT).all()):  # (NaN fails)
        where = " in " + ", ".join(c for c, ok in zip(CONCEPTS, (concepts.abs() <= MAX_CONCEPT).all(0).tolist()) if not ok)
        raise ValueError(f"{name} must be finite real numbers (theta, phi, shadow length, shadow position) at most "
                         f"{MAX_CONCEPT:g} in size, got {values.shown(concepts)}{where}")
    return concepts


def render_scene(concepts, size: int = 96, chunk: int = 1024) -> Tensor:
    """Images of the scene with the given concept values (n, 4) = (theta, phi, shadow length, shadow position):
    (n, 3, size, size) float32 in [0, 1]. Renders exactly what it is given (no physics): the SCM decides the
    values, this draws them, framed as the paper's generator frames them (see the module's docstring).

    At ``size`` 96 these are the generator's pixels; at another size, the same figure seen through larger or
    smaller pixels (each output pixel averages the figure over its area), which is what resizing the 96 x 96
    image by area gives. Within the ranges do() accepts the three layers never overlap (pendulum between y = 0.8
    and 11.1, sun above 17.3, shadow below 0.1), so the image is white minus each layer's darkening, each
    computed on its band of rows only, and the pendulum (rod under bob, composited) and the sun once per
    distinct angle; the axes box clips the result.
    """
    concepts = check_concepts(concepts)
    size = SIDE.check("size", size)
    chunk = values.batch_size.check("chunk (scenes drawn at once)", chunk)
    values.fits_in_memory("concepts (scenes)", concepts.shape[0], 4 * 3 * size * size, f"{size}x{size} images")
    device = concepts.device
    out = torch.ones((concepts.shape[0], 3, size, size), device=device)
    pixel = FIGURE / size  # figure pixels per output pixel
    edges = torch.linspace(0.0, FIGURE, size + 1, device=device, dtype=torch.float64).float()  # (size + 1,)
    centres = (edges[:-1] + edges[1:]) / 2  # (size,): u of the columns, v of the rows
    _, pivot_v = _to_pixels(torch.tensor(PIVOT[0]), torch.tensor(PIVOT[1]))
    _, lowest_v = _to_pixels(torch.tensor(0.0), torch.tensor(PIVOT[1] - ROD - BOB_RADIUS))
    pend = _band(centres, float(pivot_v) - LINE_WIDTH, float(lowest_v) + EDGE_WIDTH, pixel)
    _, sun_low = _to_pixels(torch.tensor(0.0), torch.tensor(SUN_HEIGHT - SUN_RADIUS))
    sun_rows = _band(centres, CLIP_V[0], float(sun_low) + EDGE_WIDTH, pixel)
    # the shadow: a horizontal line, snapped, so its rows are whole pixels of the figure, cut by the clip box (the
    # bottom one of the four); exact coverage (H,)
    _, ground_v = _to_pixels(torch.tensor(0.0), torch.tensor(GROUND))
    ground_v = _agg_round(float(ground_v))
    shadow_rows = _interval(torch.tensor([max(ground_v - LINE_WIDTH / 2, CLIP_V[0])], device=device),
                            torch.tensor([min(ground_v + LINE_WIDTH / 2, CLIP_V[1])], device=device), edges)[0]  # (H,)
    bar = slice(int(shadow_rows.nonzero()[0]), int(shadow_rows.nonzero()[-1]) + 1)
    bob_colour = torch.tensor(COLOURS["bob"], device=device)[None, :, None, None]

    def pendulum(t: Tensor) -> Tensor:  # the rod, then the bob over it: darkening (u, 3, h, W)
        bu, bv = _to_pixels(*_bob_centre(t))
        pu, pv = _to_pixels(torch.full_like(t, PIVOT[0]), torch.full_like(t, PIVOT[1]))
        rod = _stroke(pu, pv, bu, bv, centres, centres[pend], pixel)[:, None]
        bob = _ellipse(bu, bv, BOB_RADIUS, centres, centres[pend], pixel)[:, None]
        return 1 - ((1 - rod) * (1 - bob) + bob * bob_colour)  # inside the clip box at every angle do() accepts

    def sun(p: Tensor) -> Tensor:
        su, sv = _to_pixels(_sun_position(p), torch.full_like(p, SUN_HEIGHT))
        return _darkness(_ellipse(su, sv, SUN_RADIUS, centres, centres[sun_rows], pixel, clip=True), COLOURS["sun"])

    for start in range(0, concepts.shape[0], chunk):
        theta, phi, length, position = concepts[start:start + chunk].to(torch.float32).unbind(1)
        img = out[start:start + chunk]
        unique, inverse = torch.unique(theta, return_inverse=True)
        img[:, :, pend] -= pendulum(unique)[inverse]
        unique, inverse = torch.unique(phi, return_inverse=True)
        img[:, :, sun_rows] -= sun(unique)[inverse]
        # the shadow's columns: its snapped ends, exact coverage (m, W); length 0 draws nothing
        lo, _ = _to_pixels(position - length / 2, position)
        hi, _ = _to_pixels(position + length / 2, position)
        cols = _interval(torch.floor(lo + 0.5).clamp(*CLIP_U), torch.floor(hi + 0.5).clamp(*CLIP_U), edges)  # (m, W)
        img[:, :, bar] -= (shadow_rows[bar][None, :, None] * cols[:, None, :])[:, None]
    return out.clamp_(0.0, 1.0)


# -------------------------------------------------------------------------------------- the paper's images
OFFICIAL_REFERENCE = Path(__file__).parent / "reference" / "pendulum_official_reference.npz"
OFFICIAL_REFERENCE_SHA256 = "404ebd8931ffbd816e046e447d3134545a792ec39c95aeed771c3c0e52888b60"


def official_images() -> tuple[Tensor, Tensor]:
    """Four images written by the paper's pendulum generator, shipped with the package, and their concepts.

    Provenance: research/CausalVAE/causal_data/pendulum.py of github.com/huawei-noah/trustworthyAI (commit
    46c3d29, MIT licence, Copyright (C) 2021 Huawei Technologies Co., Ltd.), run unmodified with matplotlib 3.8;
    the PNGs a_-40_60_3_2, a_-18_146_10_14, a_5_145_7_15 and a_36_115_3_14 (alpha all 255, dropped).
    Returns (images (4, 3, 96, 96) float32 in [0, 1], concepts (4, 4) float64 = (theta, phi, shadow length,
    shadow position) from the generator's float labels (i, j, shade, mid): theta = i pi / 200, phi = j pi / 200)."""
    verify_sha256(OFFICIAL_REFERENCE, OFFICIAL_REFERENCE_SHA256)
    with np.load(OFFICIAL_REFERENCE, allow_pickle=False) as arrays:
        images = torch.from_numpy(arrays["imgs"]).permute(0, 3, 1, 2).float() / 255  # (4, 3, 96, 96)
        labels = torch.from_numpy(arrays["labels_float"]).double()  # (4, 4) = (i, j, shade, mid)
    concepts = torch.cat([labels[:, :2] * math.pi / 200, labels[:, 2:]], 1)
    return images, concepts


__all__ = ["CONCEPTS", "CONCEPT_LABELS", "LABEL_CENTRE", "LABEL_SCALE", "PHI_STEPS", "RANGES", "THETA_STEPS",
           "TRUE_GRAPH", "bob_centre", "check_concepts", "ground_projection", "official_images", "pendulum_scm", "render_scene",
           "shadow", "sun_position", "to_pixels"]
