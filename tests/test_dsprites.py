"""dSprites: the factor grid, the renderer's geometry against the spec [matthey2017], the official loader.

Shape letters: B batch, K factors, H rows, W columns.
"""

import math
import shutil
import subprocess
import zipfile

import numpy as np
import pytest
import torch

from vaecourse.data import DSprites, GroundTruthDataset, OfficialDSprites, git_blob_id, load_official_dsprites
from vaecourse.data import download
from vaecourse.data import dsprites as ds
from vaecourse.data import dsprites_official as official
from vaecourse.data.download import DownloadError

SQUARE, ELLIPSE, HEART = 0, 1, 2
SCALES = np.linspace(0.5, 1.0, 6)


@pytest.fixture(scope="module")
def data():
    return DSprites()


def _factors(shape, scale, orientation, pos_x, pos_y):
    return torch.tensor([[0, shape, scale, orientation, pos_x, pos_y]])


def _centre(factors):
    """Expected shape centre (x, y) in pixels: (16 + 32 posX, 16 + 32 posY)."""
    return 16 + 32 * factors[:, 4].double() / 31, 16 + 32 * factors[:, 5].double() / 31


def _centroid(images):
    """Pixel-mass centroid (x, y) of 0/1 images (B, 1, H, W), pixel centres at +0.5."""
    m = images[:, 0].double()  # (B, H, W)
    grid = torch.arange(m.shape[-1], dtype=torch.float64) + 0.5
    mass = m.sum((1, 2))
    return (m.sum(1) * grid).sum(1) / mass, (m.sum(2) * grid).sum(1) / mass


# ---- the grid ----------------------------------------------------------------------------------
def test_factor_grid_matches_the_official_layout(data):
    assert isinstance(data, GroundTruthDataset)
    assert data.factor_names == ("color", "shape", "scale", "orientation", "posX", "posY")
    assert data.factor_sizes == (1, 3, 6, 40, 32, 32)
    assert data.num_factors == 6 and len(data) == 737_280
    assert data.varying_factors == (1, 2, 3, 4, 5)
    assert data.factor_bases == (737_280, 245_760, 40_960, 1024, 32, 1)


def test_index_of_and_factors_at_are_the_official_mixed_radix(data):
    known = torch.tensor([[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0], [0, 1, 2, 3, 4, 5],
                          [0, 2, 5, 39, 31, 31]])
    expected = torch.tensor([0, 1, 32, 245_760 + 2 * 40_960 + 3 * 1024 + 4 * 32 + 5, 737_279])
    assert torch.equal(data.index_of(known), expected)
    assert torch.equal(data.factors_at(expected), known)
    indices = torch.randint(0, len(data), (1000,), generator=torch.Generator().manual_seed(0))
    assert torch.equal(data.index_of(data.factors_at(indices)), indices)


def test_factor_values_are_the_official_real_values(data):
    values = data.factor_values(torch.tensor([[0, 2, 5, 39, 31, 0], [0, 0, 1, 1, 0, 31]]))
    expected = torch.tensor([[1.0, 3.0, 1.0, 2 * math.pi, 1.0, 0.0], [1.0, 1.0, 0.6, 2 * math.pi / 39, 0.0, 1.0]])
    torch.testing.assert_close(values, expected)


@pytest.mark.parametrize("bad, words", [
    (torch.tensor([[0, 1, 6, 0, 0, 0]]), ["'scale'", "[0, 5]", "got 6"]),
    (torch.tensor([[0, 0, 0, 0, -1, 0]]), ["'posX'", "[0, 31]", "got -1"]),
    (torch.tensor([[0, 1, 2, 40, 0, 0]]), ["'orientation'", "[0, 39]", "got 40"]),
    (torch.tensor([[0.0, 1, 2, 3, 0, 0]]), ["integer", "float32"]),
    (torch.tensor([[0, 1, 2, 3, 0]]), ["(n, 6)", "(1, 5)"]),
    (torch.tensor([0, 1, 2, 3, 0, 0]), ["(n, 6)", "(6,)"]),
])
def test_bad_factors_get_a_helpful_error(data, bad, words):
    for call in (data.render, data.index_of, data.factor_values):
        with pytest.raises(ValueError) as err:
            call(bad)
        for word in words:
            assert word in str(err.value)


def test_bad_indices_and_values_get_a_helpful_error(data):
    with pytest.raises(ValueError, match=r"\[0, 737279\], got 737280"):
        data.factors_at(torch.tensor([737_280]))
    with pytest.raises(ValueError, match="shape must be 0"):
        data.render_values(3, 1.0, 0.0, 0.5, 0.5)
    with pytest.raises(ValueError, match="broadcast"):
        data.render_values(torch.zeros(3, dtype=torch.long), torch.ones(2), 0.0, 0.5, 0.5)


# ---- geometry ------------------------------------------------------------------------------------
def test_orientation_zero_and_two_pi_draw_the_same_image(data):
    factors = data.sample_factors(500, torch.Generator().manual_seed(1))
    first, last = factors.clone(), factors.clone()
    first[:, 3], last[:, 3] = 0, 39
    assert torch.equal(data.render(first), data.render(last))
    values = data.factor_values(last)
    assert torch.equal(data.render_values(last[:, 1], *values[:, 2:].T), data.render(first))


def test_render_values_on_the_grid_equals_render_of_classes(data):
    factors = data.sample_factors(2000, torch.Generator().manual_seed(2))
    values = data.factor_values(factors)
    expected = data.render(factors, dtype=torch.uint8)
    assert torch.equal(data.render_values(factors[:, 1], *values[:, 2:].T, dtype=torch.uint8), expected)


def test_images_are_binary_with_the_right_shape_and_dtype(data):
    factors = data.sample_factors(64, torch.Generator().manual_seed(3))
    images = data.render(factors)
    assert images.shape == (64, 1, 64, 64) and images.dtype == torch.float32
    assert set(images.unique().tolist()) == {0.0, 1.0}
    as_bytes = data.render_uint8(factors)
    assert as_bytes.dtype == torch.uint8 and torch.equal(as_bytes.float(), images)
    assert DSprites(dtype=torch.float64).render(factors).dtype == torch.float64


def _inside_reference(shape, scale, theta, cx, cy, size=64):
    """Brute force in float64: is each pixel centre inside the shape? -> bool (H, W). Spec geometry."""
    grid = (torch.arange(size, dtype=torch.float64) + 0.5) * 64 / size
    y, x = torch.meshgrid(grid, grid, indexing="ij")
    dx, dy = x - cx, cy - y  # dy points up
    u = dx * math.cos(theta) + dy * math.sin(theta)  # counter-clockwise on screen
    v = -dx * math.sin(theta) + dy * math.cos(theta)
    if shape == SQUARE:
        return (u.abs() <= 9.6 * scale) & (v.abs() <= 9.6 * scale)
    if shape == ELLIPSE:
        a, b = ds.ELLIPSE_SEMI_AXES
        return (u / (a * scale)) ** 2 + (v / (b * scale)) ** 2 <= 1
    return _inside_polygon(torch.from_numpy(ds._HEART_OUTLINE) * scale, u, v)  # the heart's outline polygon


def _inside_polygon(vertices, u, v):
    """Even-odd rule, one edge at a time: is each point (u, v) inside the polygon ``(E, 2)``? -> bool."""
    inside = torch.zeros_like(u, dtype=torch.bool)
    for (u0, v0), (u1, v1) in zip(vertices.tolist(), vertices.roll(-1, 0).tolist()):
        if v0 != v1:
            crosses = (v0 <= v) != (v1 <= v)
            inside ^= crosses & (u < u0 + (v - v0) * (u1 - u0) / (v1 - v0))
    return inside


@pytest.mark.parametrize("image_size", [64, 40, 100])
def test_row_intervals_match_a_brute_force_pixel_test(image_size):
    data = DSprites(image_size=image_size)
    g = torch.Generator().manual_seed(4)
    n = 60
    shape = torch.arange(n) % 3
    scale = 0.4 + 0.7 * torch.rand(n, generator=g, dtype=torch.float64)
    theta = 7 * torch.rand(n, generator=g, dtype=torch.float64)
    pos = torch.rand(n, 2, generator=g, dtype=torch.float64)
    images = data.render_values(shape, scale, theta, pos[:, 0], pos[:, 1], dtype=torch.uint8)  # (B, 1, H, W)
    assert images.shape == (n, 1, image_size, image_size)
    wrong = 0
    for i in range(n):
        reference = _inside_reference(int(shape[i]), float(scale[i]), float(theta[i]) % (2 * math.pi),
                                      16 + 32 * float(pos[i, 0]), 16 + 32 * float(pos[i, 1]), image_size)
        wrong += int((images[i, 0].bool() != reference).sum())
    assert wrong <= 2  # float32 vs float64 only on pixel centres within ~1e-5 px of an edge


def _random_counts(data, shape, n=1500, seed=0):
    """Pixel counts of n random images of ``shape`` at each scale class -> (6, n), one render call."""
    factors = data.sample_factors(6 * n, torch.Generator().manual_seed(seed))
    factors[:, 1] = shape
    factors[:, 2] = torch.arange(6).repeat_interleave(n)
    return data.render_uint8(factors).sum((1, 2, 3)).double().reshape(6, n)


def test_off_grid_positions_translate_the_image(data):
    # pos + 1/32 moves the centre by exactly one pixel: the image rolls by one column / row
    g = torch.Generator().manual_seed(6)
    shape, scale, theta = torch.arange(30) % 3, 0.5 + 0.5 * torch.rand(30, generator=g), 7 * torch.rand(30, generator=g)
    pos = 0.1 + 0.8 * torch.rand(30, 2, generator=g)
    base = data.render_values(shape, scale, theta, pos[:, 0], pos[:, 1])
    right = data.render_values(shape, scale, theta, pos[:, 0] + 1 / 32, pos[:, 1])
    down = data.render_values(shape, scale, theta, pos[:, 0], pos[:, 1] + 1 / 32)
    assert int((right != base.roll(1, dims=-1)).sum()) <= 2
    assert int((down != base.roll(1, dims=-2)).sum()) <= 2


def test_square_pixel_count_is_its_area(data):
    sides = torch.from_numpy(19.2 * SCALES)  # (6,)
    # axis-aligned: the count is (pixels in a row)^2, with at most one pixel more or less per side
    axis = data.render_uint8(torch.tensor([[0, SQUARE, k, 0, x, y] for k in range(6) for x in (0, 7, 20)
                                           for y in (3, 31)])).sum((1, 2, 3)).double().reshape(6, 6)
    assert ((axis - sides[:, None] ** 2).abs() <= 2 * sides[:, None] + 1).all()
    # turned and moved at random: the mean count is the area within 1 %
    mean = _random_counts(data, SQUARE, seed=1).mean(1)
    assert ((mean / sides**2 - 1).abs() < 0.01).all()


def test_ellipse_pixel_count_is_its_area(data):
    scales = torch.from_numpy(SCALES)
    a, b = ds.ELLIPSE_SEMI_AXES
    area = math.pi * a * b * scales**2  # (6,)
    counts = _random_counts(data, ELLIPSE, seed=2)
    assert ((counts.mean(1) / area - 1).abs() < 0.01).all()
    half_perimeter = math.pi * (a + b) * scales / 2
    assert ((counts - area[:, None]).abs() <= half_perimeter[:, None] + 1).all()


def test_heart_size_lobes_and_area(data):
    scales = torch.from_numpy(SCALES).repeat_interleave(9)  # (54,)
    images = data.render_uint8(torch.tensor([[0, HEART, k, 0, x, y] for k in range(6) for x in (0, 9, 31)
                                             for y in (0, 14, 31)]))[:, 0]
    width = images.any(1).sum(1).double()  # columns touched
    height = images.any(2).sum(1).double()  # rows touched
    # pixel extent of a length L: between L - 2 (round ends can miss the last row of centres) and L + 1;
    # the point is sharp, so the last 2 px of the box's height can hold no pixel centre
    box_width, box_height = ds.HEART_BOX
    assert (width - box_width * scales > -2).all() and (width - box_width * scales <= 1).all()
    assert (height - box_height * scales > -3).all() and (height - box_height * scales <= 1).all()
    assert (width - height).mean() > 0  # wider than tall
    for image in images:  # lobes up: more pixels in the top half of the bounding box
        rows = image.any(1).nonzero()[:, 0]
        top, bottom = int(rows[0]), int(rows[-1])
        middle = (top + bottom + 1) / 2
        upper = image[top:int(middle)].sum()
        lower = image[math.ceil(middle):bottom + 1].sum()
        assert upper > 1.3 * lower
    # the analytic area of the outline polygon (shoelace), times scale^2
    area = _polygon_area_centroid(ds._HEART_OUTLINE)[0] * torch.from_numpy(SCALES) ** 2
    assert ((_random_counts(data, HEART, seed=3).mean(1) / area - 1).abs() < 0.01).all()
    # at scale 1 the top row of the heart shows the two lobes apart (the notch)
    image = data.render(_factors(HEART, 5, 0, 15, 15))[0, 0]
    top = image[image.any(1).nonzero()[0, 0]]
    runs = int((top[1:] > top[:-1]).sum()) + int(top[0])
    assert runs == 2


def _polygon_area_centroid(vertices):
    """(area, centroid u, centroid v) of a polygon ``(E, 2)`` (shoelace formulas), area positive."""
    u, v = vertices[:, 0], vertices[:, 1]
    u1, v1 = np.roll(u, -1), np.roll(v, -1)
    cross = u * v1 - u1 * v
    area = cross.sum() / 2
    return abs(area), ((u + u1) * cross).sum() / (6 * area), ((v + v1) * cross).sum() / (6 * area)


def test_centroid_sits_at_the_position_factor(data):
    factors = data.sample_factors(6000, torch.Generator().manual_seed(5))
    cx, cy = _centroid(data.render(factors))
    ex, ey = _centre(factors)
    # the heart turns about the position point, its area centroid 1.98 scale px toward the lobes
    _, _, lift = _polygon_area_centroid(ds._HEART_OUTLINE)
    theta = torch.from_numpy(ds.FACTOR_VALUES[3])[factors[:, 3]]
    lift = torch.where(factors[:, 1] == HEART, lift * torch.from_numpy(ds.FACTOR_VALUES[2])[factors[:, 2]], 0.0)
    ex, ey = ex - lift * torch.sin(theta), ey - lift * torch.cos(theta)  # v up turned counter-clockwise
    assert (cx - ex).abs().max() < 0.5 and (cy - ey).abs().max() < 0.5
    for shape in (SQUARE, ELLIPSE, HEART):  # all three shapes, not only the symmetric ones
        chosen = factors[:, 1] == shape
        assert chosen.sum() > 1000 and (cx - ex)[chosen].abs().max() < 0.5


def test_orientation_turns_counter_clockwise_on_screen(data):
    # the ellipse at pi/4: long axis up-right, so mass in the upper-right and lower-left quadrants
    image = data.render_values(ELLIPSE, 1.0, math.pi / 4, 0.5, 0.5)[0, 0]  # centre (32, 32)
    up, down, left, right = slice(0, 32), slice(32, 64), slice(0, 32), slice(32, 64)
    diagonal = image[up, right].sum() + image[down, left].sum()  # y grows downward: rows 0-31 are "up"
    anti = image[up, left].sum() + image[down, right].sum()
    assert diagonal > 1.5 * anti  # 194 vs 98 pixels
    # a quarter turn is numpy/torch rot90 (counter-clockwise as displayed), about the centre (32, 32)
    for shape in (SQUARE, ELLIPSE, HEART):
        flat = data.render_values(shape, 1.0, 0.0, 0.5, 0.5)[0, 0]
        turned = data.render_values(shape, 1.0, math.pi / 2, 0.5, 0.5)[0, 0]
        assert int((turned != torch.rot90(flat, 1, dims=(0, 1))).sum()) <= 2
    # lobes up at 0, so lobes point left at pi/2: the heart's mass is left of its bounding box centre
    turned = data.render_values(HEART, 1.0, math.pi / 2, 0.5, 0.5)[0, 0]
    cols = turned.any(0).nonzero()[:, 0]
    assert float(_centroid(turned[None, None])[0]) < (float(cols[0]) + float(cols[-1]) + 1) / 2 - 0.5


def test_no_pixel_ever_touches_the_border(data):
    extremes = torch.tensor([[0, s, sc, o, x, y] for s in range(3) for sc in (0, 5) for o in range(40)
                             for x in (0, 31) for y in (0, 31)])
    images = data.render(extremes)[:, 0]
    assert images.sum((1, 2)).min() > 0
    assert images[:, [0, -1], :].sum() == 0 and images[:, :, [0, -1]].sum() == 0


# ---- sampling, iteration, the Dataset view -------------------------------------------------------
def test_seeded_sampling_is_deterministic(data):
    first = list(data.batches(16, 3, torch.Generator().manual_seed(7)))
    again = list(data.batches(16, 3, torch.Generator().manual_seed(7)))
    other = list(data.batches(16, 3, torch.Generator().manual_seed(8)))
    assert len(first) == 3
    for (x1, f1), (x2, f2) in zip(first, again):
        assert torch.equal(x1, x2) and torch.equal(f1, f2)
        assert x1.shape == (16, 1, 64, 64) and f1.shape == (16, 6) and torch.equal(data.render(f1), x1)
    assert not torch.equal(first[0][1], other[0][1])
    images, factors = data.sample(10, torch.Generator().manual_seed(7))
    assert torch.equal(factors, first[0][1][:10]) and torch.equal(images, first[0][0][:10])


def test_sample_factors_are_uniform_per_factor(data):
    factors = data.sample_factors(60_000, torch.Generator().manual_seed(9))
    assert factors.dtype == torch.long and factors.shape == (60_000, 6)
    for k, size in enumerate(data.factor_sizes):
        counts = torch.bincount(factors[:, k], minlength=size).double()
        assert counts.shape == (size,)
        expected = 60_000 / size
        assert ((counts - expected).abs() < 5 * math.sqrt(expected)).all()


def test_iter_grid_walks_the_official_order(data):
    chunks = list(data.iter_grid(300, start=737_000))
    indices = torch.cat([i for i, _ in chunks])
    assert torch.equal(indices, torch.arange(737_000, 737_280))
    assert [i.shape[0] for i, _ in chunks] == [280]
    index, images = next(iter(data.iter_grid(100)))
    assert images.dtype == torch.uint8 and torch.equal(index, torch.arange(100))
    assert torch.equal(images, data.render_uint8(data.factors_at(index)))


def test_torch_dataset_view(data):
    view = data.as_torch_dataset()
    assert isinstance(view, torch.utils.data.Dataset) and len(view) == 737_280
    image, factors = view[330_885]
    assert torch.equal(factors, torch.tensor([0, 1, 2, 3, 4, 5]))
    assert torch.equal(image, data.render(factors[None])[0])
    assert torch.equal(view[-1][1], torch.tensor([0, 2, 5, 39, 31, 31]))
    loader = torch.utils.data.DataLoader(view, batch_size=4, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    x, f = next(iter(loader))
    assert x.shape == (4, 1, 64, 64) and torch.equal(data.render(f), x)


# ---- the official file -----------------------------------------------------------------------------
def _write_subset(path, data, n=12, seed=0, drop=None, **overrides):
    """A small npz with the official key layout: n random grid rows rendered by DSprites."""
    rows = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    classes = data.factors_at(rows)
    arrays = {
        "imgs": data.render_uint8(classes)[:, 0].numpy(),
        "latents_classes": classes.numpy().astype(np.int64),
        "latents_values": np.stack([ds.FACTOR_VALUES[k][classes[:, k].numpy()] for k in range(6)], 1),
        "metadata": np.array("test subset of dSprites"),
    }
    arrays.update(overrides)
    if drop:
        del arrays[drop]
    np.savez_compressed(path, **arrays)
    return arrays


def test_official_loader_reads_a_subset_file(tmp_path, data):
    path = tmp_path / "subset.npz"
    arrays = _write_subset(path, data)
    loaded = load_official_dsprites(path, expected_blob_id=None)
    assert isinstance(loaded, OfficialDSprites) and len(loaded) == 12 and not loaded.complete
    classes = torch.from_numpy(arrays["latents_classes"])
    images = loaded.render(classes)
    assert images.shape == (12, 1, 64, 64) and images.dtype == torch.float32
    assert torch.equal(images[:, 0].to(torch.uint8), torch.from_numpy(arrays["imgs"]))
    assert torch.equal(loaded.render(classes.flip(0)), images.flip(0))  # looked up by factors, not by row
    image, factors = loaded[3]
    assert torch.equal(factors, classes[3]) and torch.equal(image, images[3])
    drawn = loaded.sample_factors(50, torch.Generator().manual_seed(0))  # a subset samples its stored rows
    assert torch.equal(loaded.render(drawn), data.render(drawn))
    torch.testing.assert_close(loaded.factor_values(classes), torch.from_numpy(arrays["latents_values"]).float())
    stored = set(loaded.index_of(classes).tolist())
    missing = data.factors_at(torch.tensor([next(i for i in range(len(data)) if i not in stored)]))
    with pytest.raises(ValueError, match="not in this file"):
        loaded.render(missing)
    packed, _ = official._read_npz(path, require_full=False, chunk_rows=5)  # images streamed in several chunks
    assert torch.equal(OfficialDSprites(torch.from_numpy(packed), classes).render(classes), images)


def test_official_class_on_a_complete_small_grid():
    class Tiny(OfficialDSprites):  # the full-grid path (rows in official order), on a 24-image grid
        factor_sizes = (1, 3, 2, 1, 2, 2)

    renderer = DSprites()
    grid = torch.cartesian_prod(*[torch.arange(s) for s in Tiny.factor_sizes])  # (24, K) official order
    grid_full = grid * torch.tensor([1, 1, 5, 0, 9, 13])  # spread out over the real grid
    images = renderer.render_uint8(grid_full)[:, 0]
    tiny = Tiny.from_arrays(images.numpy(), grid)
    assert tiny.complete and len(tiny) == 24
    assert torch.equal(tiny.render_uint8(grid.flip(0))[:, 0], images.flip(0))


@pytest.mark.parametrize("drop, overrides, words", [
    ("latents_values", {}, ["missing key", "latents_values"]),
    (None, {"imgs": np.zeros((12, 64, 64), np.float32)}, ["imgs", "uint8", "float32"]),
    (None, {"imgs": np.zeros((12, 32, 32), np.uint8)}, ["imgs", "(N, 64, 64)", "(12, 32, 32)"]),
    (None, {"imgs": np.zeros((11, 64, 64), np.uint8)}, ["11 rows"]),
    (None, {"imgs": np.full((12, 64, 64), 255, np.uint8)}, ["binary", "255"]),
    (None, {"latents_classes": np.array([[0, 7, 0, 0, 0, 0]] * 12)}, ["'shape'", "[0, 2]", "[7, 7]"]),
    (None, {"latents_values": np.zeros((12, 6))}, ["latents_values", "'color'"]),
])
def test_official_loader_rejects_a_foreign_npz(tmp_path, data, drop, overrides, words):
    path = tmp_path / "foreign.npz"
    _write_subset(path, data, drop=drop, **overrides)
    with pytest.raises(ValueError) as err:
        load_official_dsprites(path, expected_blob_id=None)
    for word in words:
        assert word in str(err.value)


def test_official_loader_rejects_truncated_and_corrupted_files(tmp_path, data):
    path = tmp_path / "file.npz"
    _write_subset(path, data, n=200)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        load_official_dsprites(path, expected_blob_id=None)
    with zipfile.ZipFile(tmp_path / "stored.npz", "w") as archive:  # a member cut short inside a valid zip
        archive.writestr("imgs.npy", zipfile.ZipFile(_copy(whole, tmp_path / "w.npz")).read("imgs.npy")[:5000])
        for key in ("latents_classes", "latents_values"):
            archive.writestr(f"{key}.npy", zipfile.ZipFile(tmp_path / "w.npz").read(f"{key}.npy"))
    with pytest.raises(ValueError, match="imgs is truncated"):
        load_official_dsprites(tmp_path / "stored.npz", expected_blob_id=None)
    corrupted = bytearray(whole)
    info = zipfile.ZipFile(tmp_path / "w.npz").getinfo("imgs.npy")
    middle = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    corrupted[middle:middle + 64] = bytes(64)  # zero out compressed bytes: zlib or CRC error
    path.write_bytes(bytes(corrupted))
    with pytest.raises(ValueError, match="truncated or corrupted|imgs"):
        load_official_dsprites(path, expected_blob_id=None)


def _copy(content, path):
    path.write_bytes(content)
    return path


def test_official_loader_checks_the_git_blob_id(tmp_path, data):
    path = tmp_path / ds.OFFICIAL_FILENAME
    _write_subset(path, data)
    with pytest.raises(ValueError) as err:
        load_official_dsprites(path)
    assert ds.OFFICIAL_BLOB_ID in str(err.value) and git_blob_id(path) in str(err.value)
    # verifying against a checksum means the full grid: a 12-image file cannot be "the official one"
    with pytest.raises(ValueError, match="737280"):
        load_official_dsprites(path, expected_blob_id=git_blob_id(path))


def test_missing_file_without_download_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path / "env-cache"))
    with pytest.raises(FileNotFoundError) as err:
        load_official_dsprites()
    message = str(err.value)
    assert str(tmp_path / "env-cache" / ds.OFFICIAL_FILENAME) in message
    assert "download=True" in message and ds.OFFICIAL_URL in message
    with pytest.raises(FileNotFoundError, match="arg-cache"):
        load_official_dsprites(cache_dir=tmp_path / "arg-cache")
    assert download.default_cache_dir(None) == tmp_path / "env-cache"


def test_failed_download_leaves_nothing_behind(tmp_path, monkeypatch, data):
    cache = tmp_path / "cache"

    def broken(url, out):  # half a file, then the connection drops
        assert url == ds.OFFICIAL_URL
        out.write(b"PK\x03\x04" + bytes(1000))
        raise ConnectionError("connection reset")

    monkeypatch.setattr(official, "_fetch", broken)
    with pytest.raises(DownloadError, match="could not download .*connection reset.*Nothing was kept") as err:
        load_official_dsprites(download=True, cache_dir=cache)
    assert ds.OFFICIAL_URL in str(err.value) and isinstance(err.value.__cause__, ConnectionError)
    assert list(cache.iterdir()) == []

    monkeypatch.setattr(official, "_fetch", lambda url, out: out.write(b"not the dSprites file"))
    with pytest.raises(ValueError) as err:
        load_official_dsprites(download=True, cache_dir=cache)
    assert ds.OFFICIAL_BLOB_ID in str(err.value) and "got" in str(err.value)
    assert list(cache.iterdir()) == []


def test_successful_download_is_renamed_into_place(tmp_path, monkeypatch, data):
    source = tmp_path / "source.npz"
    _write_subset(source, data)
    monkeypatch.setattr(official, "_fetch", lambda url, out: out.write(source.read_bytes()))
    cache = tmp_path / "cache"
    loaded = load_official_dsprites(download=True, cache_dir=cache, expected_blob_id=None)
    assert len(loaded) == 12
    assert [p.name for p in cache.iterdir()] == [ds.OFFICIAL_FILENAME]
    assert git_blob_id(cache / ds.OFFICIAL_FILENAME) == git_blob_id(source)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_blob_id_matches_git_hash_object(tmp_path):
    for content in (b"", b"hello dSprites\n", bytes(range(256)) * 5000):
        path = tmp_path / "blob.bin"
        path.write_bytes(content)
        expected = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, check=True)
        assert git_blob_id(path) == expected.stdout.strip()
