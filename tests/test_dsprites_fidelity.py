"""dSprites renderer against the official images [matthey2017]: the 18 shipped reference frames and the
geometric facts measured on the official rotated and moved frames (issue 12).

The reference frames (vaecourse/data/reference, dsprites-dataset commit fa310c6, Apache-2.0) show each shape
at each scale at orientation 0 and position (0, 0). The facts about rotated and moved hearts: the bounding
box is centred on the position point horizontally and about half a pixel above it vertically at every scale;
the heart turns about the position point, its area centroid circling it at about 1.9 px at scale 1, toward
the lobes at orientation 0.

Shape letters: B batch, H rows, W columns.
"""

import hashlib
import math

import numpy as np
import pytest
import torch

from vaecourse.data import DSprites
from vaecourse.data import dsprites as ds
from vaecourse.data import reference

SQUARE, ELLIPSE, HEART = 0, 1, 2


@pytest.fixture(scope="module")
def data():
    return DSprites()


@pytest.fixture(scope="module")
def frames():
    return reference.dsprites_orientation0()


def test_the_shipped_reference_file_is_the_official_excerpt(frames):
    digest = hashlib.sha256(reference.DSPRITES_ORIENTATION0_FILE.read_bytes()).hexdigest()
    assert digest == reference.DSPRITES_ORIENTATION0_SHA256
    assert frames["imgs"].shape == (18, 64, 64) and frames["imgs"].dtype == np.uint8
    assert set(np.unique(frames["imgs"])) == {0, 1}
    classes = frames["latents_classes"]  # square, ellipse, heart; scales 0..5; orientation 0, position (0, 0)
    assert (classes[:, 1] == np.repeat([0, 1, 2], 6)).all() and (classes[:, 2] == np.tile(np.arange(6), 3)).all()
    assert (classes[:, 3:] == 0).all()
    assert np.allclose(frames["latents_values"], np.stack([ds.FACTOR_VALUES[k][classes[:, k]] for k in range(6)], 1))


def test_all_18_reference_frames_are_pixel_exact(data, frames):
    images = data.render_uint8(torch.as_tensor(frames["latents_classes"]))[:, 0].numpy().astype(bool)  # (18, H, W)
    official = frames["imgs"].astype(bool)
    wrong = (images ^ official).sum((1, 2))  # (18,)
    iou = (images & official).sum((1, 2)) / (images | official).sum((1, 2))
    for shape, name in enumerate(ds.SHAPE_NAMES):  # per shape: IoU 1 and 6 / 6 exact
        rows = slice(6 * shape, 6 * shape + 6)
        assert iou[rows].mean() == 1.0 and (wrong[rows] == 0).sum() == 6, (name, wrong[rows].tolist())


def test_heart_outline_facts_at_scale_1(data):
    image = data.render_uint8(torch.tensor([[0, HEART, 5, 0, 0, 0]]))[0, 0]
    rows, cols = image.any(1).nonzero()[:, 0], image.any(0).nonzero()[:, 0]
    assert (int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])) == (7, 23, 6, 25)
    top = image[7]
    on = top.nonzero()[:, 0].tolist()  # two 5-pixel lobe tops with a 4-pixel notch between them
    assert on == [9, 10, 11, 12, 13, 18, 19, 20, 21, 22]
    widths = image.sum(1)[7:24]
    assert widths.argmax() in (4, 5) and widths[4] == widths[5] == widths.max()  # 5th and 6th rows from the top
    assert int(widths[-1]) == 2  # the point is 2 pixels wide


def _bbox_centre(images):
    """Pixel bounding-box centre (x, y) of 0/1 images (B, H, W), pixel centres at +0.5."""
    rows, cols = images.any(2), images.any(1)  # (B, H), (B, W)
    index = torch.arange(images.shape[-1])

    def middle(touched):  # (B, n) -> centre of the first and last touched pixel
        return (torch.where(touched, index, 10**6).amin(1) + torch.where(touched, index, -1).amax(1) + 1) / 2

    return middle(cols), middle(rows)


def test_heart_box_is_centred_on_the_position_point_at_every_scale(data):
    # at position (0, 0): centred horizontally and half a pixel above (scale 0.8: centred; official alike)
    cx, cy = _bbox_centre(data.render_uint8(torch.tensor([[0, HEART, s, 0, 0, 0] for s in range(6)]))[:, 0].bool())
    assert (cx == 16).all() and cy.tolist() == [15.5, 15.5, 15.5, 16.0, 15.5, 15.5]
    # anywhere on the grid the pixel box moves with the position point: within half a pixel horizontally
    # and, the sharp point losing its last rows, -0.7 .. +0.9 px above it vertically (0.17-0.21 on average)
    factors = torch.tensor([[0, HEART, s, 0, x, y] for s in range(6) for x in (0, 5, 17, 31) for y in range(32)])
    cx, cy = _bbox_centre(data.render_uint8(factors)[:, 0].bool())
    px = torch.from_numpy(16 + 32 * ds.FACTOR_VALUES[4][factors[:, 4]])
    py = torch.from_numpy(16 + 32 * ds.FACTOR_VALUES[5][factors[:, 5]])
    assert (cx - px).abs().max() <= 0.5
    above = py - cy
    assert (above >= -0.7).all() and (above <= 0.95).all() and 0.1 < float(above.mean()) < 0.3


def _mass_centroid(images):
    m = images.double()  # (B, H, W)
    grid = torch.arange(m.shape[-1], dtype=torch.float64) + 0.5
    mass = m.sum((1, 2))
    return (m.sum(1) * grid).sum(1) / mass, (m.sum(2) * grid).sum(1) / mass


def test_heart_turns_about_the_position_point(data):
    # all 40 orientations at scale 1, at a few positions: the centroid circles the position point
    factors = torch.tensor([[0, HEART, 5, o, x, y] for o in range(40) for x, y in ((15, 15), (3, 28), (27, 6))])
    cx, cy = _mass_centroid(data.render_uint8(factors)[:, 0])
    dx = cx - torch.from_numpy(16 + 32 * ds.FACTOR_VALUES[4][factors[:, 4]])
    dy = torch.from_numpy(16 + 32 * ds.FACTOR_VALUES[5][factors[:, 5]]) - cy  # up
    radius = torch.hypot(dx, dy)
    assert abs(float(radius.mean()) - 1.9) < 0.15 and float(radius.std()) < 0.2
    theta = torch.from_numpy(ds.FACTOR_VALUES[3][factors[:, 3]])
    expected = torch.stack([-torch.sin(theta), torch.cos(theta)], 1)  # toward the lobes: up at 0, turning ccw
    cosine = (torch.stack([dx, dy], 1) * expected).sum(1) / radius
    assert float(cosine.min()) > 0.97
    # a quarter turn of the image about the position point is the quarter turn of the heart
    flat = data.render_values(HEART, 1.0, 0.0, 0.5, 0.5)[0, 0]  # position (32, 32): rot90 is about it
    turned = data.render_values(HEART, 1.0, math.pi / 2, 0.5, 0.5)[0, 0]
    assert int((turned != torch.rot90(flat, 1, dims=(0, 1))).sum()) <= 2


def test_moving_the_position_moves_the_image(data):
    # translation equivariance for every shape, scale and orientation: one step of posX / posY (32/31 px)
    # is not a whole pixel, so move by whole pixels off the grid: pos + k/32 rolls by k pixels
    g = torch.Generator().manual_seed(12)
    n = 120
    shape, scale, theta = torch.arange(n) % 3, 0.5 + 0.5 * torch.rand(n, generator=g), 7 * torch.rand(n, generator=g)
    pos = 0.15 + 0.6 * torch.rand(n, 2, generator=g)
    base = data.render_values(shape, scale, theta, pos[:, 0], pos[:, 1], dtype=torch.uint8)
    for kx, ky in ((3, 0), (0, 5), (-4, 2)):
        moved = data.render_values(shape, scale, theta, pos[:, 0] + kx / 32, pos[:, 1] + ky / 32, dtype=torch.uint8)
        assert int((moved != base.roll((ky, kx), dims=(-2, -1))).sum()) <= 3  # float32 ties only


def _inside_curve(scale, theta, cx, cy, points=4000):
    """Brute force in float64 against the dense heart curve: is each pixel centre inside? -> bool (H, W)."""
    grid = np.arange(64) + 0.5
    y, x = np.meshgrid(grid, grid, indexing="ij")
    dx, dy = x - cx, cy - y
    u = dx * math.cos(theta) + dy * math.sin(theta)
    v = -dx * math.sin(theta) + dy * math.cos(theta)
    outline = ds._heart_curve(np.arange(points) * 2 * math.pi / points) * scale
    inside = np.zeros(u.shape, dtype=bool)
    for (u0, v0), (u1, v1) in zip(outline, np.roll(outline, -1, 0)):
        crosses = (v0 <= v) != (v1 <= v)
        inside ^= crosses & (u < u0 + (v - v0) * (u1 - u0) / (v1 - v0 + (v1 == v0)))
    return inside


def test_heart_polygon_follows_the_curve_when_turned_and_moved(data):
    g = np.random.default_rng(1)
    n = 30
    scale, theta, pos = 0.5 + 0.5 * g.random(n), 2 * math.pi * g.random(n), g.random((n, 2))
    images = data.render_values(torch.full((n,), HEART), torch.tensor(scale), torch.tensor(theta),
                                torch.tensor(pos[:, 0]), torch.tensor(pos[:, 1]), dtype=torch.uint8)[:, 0].numpy()
    wrong = [int((images[i].astype(bool) ^ _inside_curve(scale[i], theta[i], 16 + 32 * pos[i, 0],
                                                         16 + 32 * pos[i, 1])).sum()) for i in range(n)]
    assert max(wrong) <= 1 and sum(wrong) <= 3, wrong


def test_heart_curve_is_the_parametric_heart():
    # the box: x(t) spans -16..16, y(t) -17..11.92 (max at t = 0.6346), stretched to HEART_BOX
    t = np.linspace(0, 2 * math.pi, 100_001)
    points = ds._heart_curve(t)
    width, height = np.ptp(points[:, 0]), np.ptp(points[:, 1])
    assert abs(width - ds.HEART_BOX[0]) < 1e-9 and abs(height - ds.HEART_BOX[1]) < 1e-6
    centre = (points[:, 1].max() + points[:, 1].min()) / 2
    assert abs(centre - ds.HEART_BOX_SHIFT) < 1e-6
    assert np.allclose(ds._heart_curve(np.array([0.0, math.pi]))[:, 0], 0.0)  # notch and point on the axis


def test_simulated_vs_official_figure_shows_pairs_and_counts_differences(data, frames):
    from vaecourse.viz import simulated_vs_official_figure

    simulated = data.render_uint8(torch.as_tensor(frames["latents_classes"]))
    fig = simulated_vs_official_figure(frames["imgs"], simulated, row_labels=ds.SHAPE_NAMES,
                                       column_labels=[str(s) for s in range(6)])
    assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len([ax for ax in fig.axes if ax.images]) == 36  # 18 official + 18 simulated
    assert [ax.get_title() for ax in fig.axes[6:12]] == ["exact"] * 6  # the square row's simulated frames
    shifted = simulated.roll(1, dims=-1)  # one column off: every frame differs, by its height x 2 pixels
    fig = simulated_vs_official_figure(frames["imgs"], shifted, row_labels=ds.SHAPE_NAMES, column_labels=list("abcdef"))
    assert fig.axes[6].get_title() == f"{2 * int(frames['imgs'][0].any(1).sum())} px differ"
    with pytest.raises(ValueError, match="18 official and simulated frames"):
        simulated_vs_official_figure(frames["imgs"][:17], simulated[:17], row_labels=ds.SHAPE_NAMES,
                                     column_labels=list("abcdef"))
