"""The pendulum simulator: geometry known answers, the paper's images (official files and the official generator's
matplotlib artists as an oracle), do() semantics, counterfactuals, determinism, bad input."""

import hashlib
import math

import numpy as np
import pytest
import torch

from vaecourse.data.pendulum import Pendulum
from vaecourse.data.pendulum_scene import (CONCEPTS, COLOURS, FIGURE, OFFICIAL_REFERENCE, OFFICIAL_REFERENCE_SHA256,
                                           TRUE_GRAPH, _interval, ground_projection, official_images, render_scene,
                                           shadow, sun_position)
from vaecourse.scm import is_dag


def test_grid_size_split_and_graph():
    data = Pendulum(size=32)
    assert len(data) == 7308 and data.factor_sizes == (84, 87)
    train, test = data.split_indices("train"), data.split_indices("test")
    assert len(train) == 5846 and len(test) == 1462
    assert len(set(train.tolist()) | set(test.tolist())) == 7308 and not set(train.tolist()) & set(test.tolist())
    assert torch.equal(Pendulum(size=32).split_indices("test"), test)  # fixed, documented split
    values = data.factor_values(torch.tensor([[0, 0], [83, 86], [40, 39], [40, 40]]))
    assert values[0].tolist() == pytest.approx([-40 * math.pi / 200, 60 * math.pi / 200])
    assert values[1].tolist() == pytest.approx([43 * math.pi / 200, 147 * math.pi / 200])
    assert values[2, 1].item() == pytest.approx(99 * math.pi / 200) and values[3, 1].item() == pytest.approx(
        101 * math.pi / 200)  # j = 100 is skipped
    assert is_dag(TRUE_GRAPH) and data.scm.graph().tolist() == TRUE_GRAPH.tolist()


def test_geometry_known_answers():
    # theta = 0: the far edge (10, 1) and the pivot (10, 10.5) project to 10 - 1.5 cot(phi) and 10 - 11 cot(phi)
    phi = torch.tensor([math.pi / 3, math.pi / 2, 2 * math.pi / 3], dtype=torch.float64)
    cot = 1 / math.tan(math.pi / 3)
    length, position = shadow(torch.zeros(3, dtype=torch.float64), phi)
    assert position.tolist() == pytest.approx([10 - 6.25 * cot, 10.0, 10 + 6.25 * cot])
    assert length.tolist() == pytest.approx([9.5 * cot, 3.0, 9.5 * cot])  # light straight above: the minimum 3
    # light at 45 degrees, pendulum at 30 degrees: by hand
    t, p = math.pi / 6, math.pi / 4
    pivot, edge = 10 - 11.0, (10 + 9.5 * 0.5) + (-0.5 - (10.5 - 9.5 * math.cos(t)))
    length, position = shadow(torch.tensor([t]), torch.tensor([p]))
    assert position.item() == pytest.approx((pivot + edge) / 2) and length.item() == pytest.approx(abs(pivot - edge))
    assert sun_position(torch.tensor([math.pi / 4])).item() == pytest.approx(20.0)  # 10 + (20.5 - 10.5) cot 45
    assert ground_projection(torch.tensor(3.0), torch.tensor(-0.5), torch.tensor(1.0)).item() == pytest.approx(3.0)


# ---------------------------------------------------------------------------- the paper's images
def _official_generator(concepts) -> torch.Tensor:
    """The official generator's drawing (trustworthyAI research/CausalVAE/causal_data/pendulum.py, commit 46c3d29),
    its artists, colours, sizes, limits and savefig(dpi=96) on a 1 x 1 inch figure, with matplotlib's Agg and
    default style: (n, 3, 96, 96) in [0, 1]. The oracle the torch renderer is compared with."""
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, Polygon

    images = []
    with matplotlib.style.context("default"):
        for theta, phi, length, position in torch.as_tensor(concepts, dtype=torch.float64).tolist():
            fig = Figure(figsize=(1.0, 1.0), dpi=96)
            ax = fig.add_subplot(111)
            x, y = 10 + 8 * math.sin(theta), 10.5 - 8 * math.cos(theta)
            light = 10 + (20.5 - 10.5) / math.tan(phi)  # the generator's projection(theta, phi, 10, 10.5, 20.5)
            for artist in (Polygon(([10, 10.5], [x, y]), color="black", linewidth=3),
                           Circle((x, y), 1.5, color="firebrick"), Circle((light, 20.5), 3, color="orange"),
                           Polygon(([position - length / 2, -0.5], [position + length / 2, -0.5]), color="black",
                                   linewidth=3)):
                ax.add_artist(artist)
            ax.set_xlim((0, 20))
            ax.set_ylim((-1, 21))
            ax.axis("off")
            canvas = FigureCanvasAgg(fig)
            canvas.draw()
            images.append(torch.from_numpy(np.asarray(canvas.buffer_rgba())[..., :3].copy()))
    return torch.stack(images).permute(0, 3, 1, 2).float() / 255


def _parts(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Masks (n, H, W) of the drawn pixels (some channel darker than 0.5) and of each part: the colour whose blend
    with white, 1 - a (1 - colour), explains the pixel best (least squares over a), so grey edges count as black."""
    drawn = images.min(1).values < 0.5
    darkening = (1 - images).movedim(1, -1)[..., None, :]  # (n, H, W, 1, 3)
    ink = 1 - torch.tensor([COLOURS["sun"], COLOURS["bob"], COLOURS["rod"]])  # (3 colours, 3 channels)
    alpha = (darkening * ink).sum(-1, keepdim=True) / (ink * ink).sum(-1, keepdim=True)  # (n, H, W, 3, 1)
    nearest = ((darkening - alpha * ink) ** 2).sum(-1).argmin(-1)  # (n, H, W)
    return {"drawn": drawn, "sun": drawn & (nearest == 0), "bob": drawn & (nearest == 1),
            "rod + shadow": drawn & (nearest == 2)}


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a & b).sum().item() / max((a | b).sum().item(), 1)


def _area_resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """(n, 3, 96, 96) -> (n, 3, size, size): each output pixel the area average of the input (PIL's BOX filter)."""
    source = torch.arange(FIGURE + 1, dtype=torch.float32)
    weights = _interval(source[:-1], source[1:], torch.linspace(0, FIGURE, size + 1)).T  # (size, 96)
    return weights @ images @ weights.T


def _grid_concepts(ij) -> torch.Tensor:
    theta, phi = (torch.tensor(v, dtype=torch.float64) * math.pi / 200 for v in zip(*ij))
    return torch.stack([theta, phi, *shadow(theta, phi)], 1)


# (i, j): extremes of both angles (the sun cut at the left and the right, the shadow clipped), the vertical
# rod (i = 0, snapped by Agg), light from overhead (j = 99, 101), and a spread of others
SCENES = [(-40, 60), (-40, 147), (43, 60), (43, 147), (0, 60), (0, 99), (0, 146), (-18, 146), (5, 145), (36, 115),
          (1, 101), (-1, 80), (20, 70), (-25, 130), (10, 120), (-33, 62), (28, 89), (35, 77), (-7, 110), (14, 108)]


def test_shipped_reference_images_are_intact_and_labelled_by_the_physics():
    assert hashlib.sha256(OFFICIAL_REFERENCE.read_bytes()).hexdigest() == OFFICIAL_REFERENCE_SHA256
    images, concepts = official_images()
    assert images.shape == (4, 3, 96, 96) and concepts.shape == (4, 4)
    length, position = shadow(concepts[:, 0], concepts[:, 1])
    assert torch.allclose(length, concepts[:, 2], atol=1e-6) and torch.allclose(position, concepts[:, 3], atol=1e-6)


def test_the_matplotlib_oracle_reproduces_the_official_images():
    images, concepts = official_images()
    oracle = _official_generator(concepts)
    assert (oracle - images).abs().mean() < 1e-3 and _iou(_parts(oracle)["drawn"], _parts(images)["drawn"]) > 0.99


def test_renderer_draws_the_official_images():
    images, concepts = official_images()
    ours = render_scene(concepts, 96)
    assert (ours - images).abs().mean() < 1e-3  # measured 2-3e-4
    theirs, mine = _parts(images), _parts(ours)
    for part in theirs:
        for k in range(4):
            if theirs[part][k].any():
                assert _iou(mine[part][k], theirs[part][k]) >= 0.95, (part, k)
        assert _iou(mine[part], theirs[part]) >= 0.98, part  # was 0.17 with the earlier framing


def test_renderer_matches_the_official_generator_across_the_grid():
    concepts = _grid_concepts(SCENES)
    # and off the grid: do(shadow length = 0), a shadow displaced by shadow noise, do(theta = pi / 3)
    concepts = torch.cat([concepts, torch.tensor([[0.3, 1.2, 0.0, 8.0], [-0.2, 2.0, 9.3, 13.1],
                                                  [math.pi / 3, 1.0, 12.0, 3.0]], dtype=torch.float64)])
    oracle, ours = _official_generator(concepts), render_scene(concepts, 96)
    error = (ours - oracle).abs().mean((1, 2, 3))
    assert error.max() < 1e-3, error  # measured <= 3.3e-4
    theirs, mine = _parts(oracle), _parts(ours)
    ious = [_iou(mine["drawn"][k], theirs["drawn"][k]) for k in range(len(concepts))]
    assert min(ious) >= 0.98, ious
    for part in ("sun", "bob", "rod + shadow"):
        assert _iou(mine[part], theirs[part]) >= 0.97, part


def test_framing_known_answers():
    """The issue's check on (i, j) = (-18, 146): the shadow covers columns 45-84 and rows 82-84 (snapped, clipped at
    row 85 by the axes box), the sun rows 12-23 and columns 12-27 (a half disc, cut at x = 0); margins stay white."""
    image = render_scene(_grid_concepts([(-18, 146)]), 96)[0]
    parts = _parts(image[None])
    rows, cols = parts["sun"][0].nonzero(as_tuple=True)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (12, 23, 12, 27)
    dark = (image.max(0).values < 0.5)  # black pixels
    rows, cols = dark[70:].nonzero(as_tuple=True)
    assert (rows.min() + 70, rows.max() + 70, cols.min(), cols.max()) == (82, 84, 45, 84)
    assert (image[:, :12] == 1).all() and (image[:, 85:] == 1).all() and (image[:, :, :12] == 1).all() \
        and (image[:, :, 86:] == 1).all()  # outside the axes box
    assert ((image > 0.05) & (image < 0.95)).any()  # anti-aliased


@pytest.mark.parametrize("size", [32, 48, 64])
def test_other_sizes_are_the_96_image_resized_by_area(size):
    concepts = _grid_concepts(SCENES[:12])
    expected = _area_resize(_official_generator(concepts), size)
    ours = render_scene(concepts, size)
    assert ours.shape == (12, 3, size, size)
    assert (ours - expected).abs().mean() < 2e-3  # measured 6e-4 (32), 4e-4 (48), 1e-3 (64)
    assert _iou(_parts(ours)["drawn"], _parts(expected)["drawn"]) > 0.95


def test_render_is_deterministic_and_batched_equals_one_by_one():
    data = Pendulum(size=32)
    factors = data.sample_factors(6, torch.Generator().manual_seed(0))
    batch = data.render(factors)
    one = torch.cat([data.render(factors[i:i + 1]) for i in range(6)])
    assert torch.allclose(batch, one, atol=1e-6) and torch.equal(batch, data.render(factors))
    noisy = Pendulum(size=32, noise_std=0.1)
    a = noisy.render(factors, torch.Generator().manual_seed(1))
    b = noisy.render(factors, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.allclose(a, batch) and a.min() >= 0 and a.max() <= 1


def test_do_semantics():
    data = Pendulum(size=32)
    g = torch.Generator().manual_seed(0)
    _, c = data.do(200, g, phi=math.pi / 3)
    assert torch.allclose(c[:, 1], torch.full((200,), math.pi / 3, dtype=torch.float64))
    length, position = shadow(c[:, 0], c[:, 1])
    assert torch.allclose(c[:, 2], length) and torch.allclose(c[:, 3], position)  # shadow follows the new light
    assert c[:, 0].std() > 0.2  # theta still varies
    _, c = data.do(200, g, shadow_length=0.0)
    assert torch.all(c[:, 2] == 0) and torch.allclose(c[:, 3], shadow(c[:, 0], c[:, 1])[1])
    # do(theta) leaves phi's distribution alone (theta is not phi's parent)
    _, c = data.do(2000, g, theta=0.3)
    assert abs(c[:, 1].mean().item() - (60 + 147) / 2 * math.pi / 200) < 0.03


def test_counterfactuals():
    data = Pendulum(size=32)
    factors = torch.tensor([[10, 20], [70, 60]])
    concepts = data.concepts(factors)
    images, cf = data.counterfactual(concepts, phi=math.pi / 2)
    assert torch.allclose(cf[:, 0], concepts[:, 0])  # the pendulum keeps its angle
    assert torch.allclose(cf[:, 2:], torch.stack(shadow(cf[:, 0], cf[:, 1]), 1))  # shadow follows phi
    same_images, same = data.counterfactual(concepts)
    assert torch.allclose(same, concepts) and torch.allclose(same_images, data.render(factors), atol=1e-6)
    # the shadow length alone: the sun and pendulum pixels stay, the physics is broken
    broken_images, broken = data.counterfactual(concepts, shadow_length=0.0)
    assert torch.allclose(broken[:, [0, 1, 3]], concepts[:, [0, 1, 3]]) and torch.all(broken[:, 2] == 0)
    assert torch.allclose(broken_images[:, :, :27], data.render(factors)[:, :, :27], atol=1e-6)
    assert (broken_images[:, :, 27:] > 0.99).all() and (data.render(factors)[:, :, 27:] < 0.5).any()  # no shadow left
    # abduction keeps the unit's own shadow noise: a scene rendered with a longer shadow keeps its excess
    odd = concepts.clone()
    odd[:, 2] += 2.0
    _, cf = data.counterfactual(odd, phi=math.pi / 2)
    assert torch.allclose(cf[:, 2], shadow(cf[:, 0], cf[:, 1])[0] + 2.0)


def test_shadow_noise_gives_the_shadow_its_own_exogenous_noise():
    """shadow_noise s: the angles are untouched, each shadow gets eps ~ N(0, s^2) (scene units), reproducibly from a
    generator, in the batches the models train on too; s = 0 keeps the paper's deterministic scene."""
    factors = Pendulum(size=32).factors_at(torch.arange(0, 7308, 3))  # 2,436 grid scenes
    exact = Pendulum(size=32).concepts(factors)
    noisy_data = Pendulum(size=32, shadow_noise=1.0)
    noisy = noisy_data.concepts(factors, torch.Generator().manual_seed(0))
    assert torch.equal(noisy[:, :2], exact[:, :2])
    eps = noisy[:, 2:] - exact[:, 2:]
    assert eps.std(0).sub(1.0).abs().max() < 0.06 and eps.mean(0).abs().max() < 0.06
    assert abs(torch.corrcoef(eps.T)[0, 1].item()) < 0.06  # independent noises for length and position
    assert torch.equal(noisy, noisy_data.concepts(factors, torch.Generator().manual_seed(0)))
    assert torch.equal(Pendulum(size=32).concepts(factors, torch.Generator().manual_seed(0)), exact)
    images, u = next(noisy_data.batches(16, 1, torch.Generator().manual_seed(3)))
    concepts = noisy_data.from_labels(u)
    assert torch.allclose(images, noisy_data.render_concepts(concepts), atol=1e-4)  # the images show the labels
    assert (concepts[:, 2] - torch.stack(shadow(concepts[:, 0], concepts[:, 1]))[0]).abs().max() > 0.1


def test_labels_round_trip_and_range():
    data = Pendulum(size=32)
    concepts = data.concepts(data.factors_at(torch.arange(0, 7308, 7)))
    u = data.labels(concepts)
    assert u.abs().max() < 1.7 and torch.allclose(data.from_labels(u), concepts, atol=1e-5)
    x, u = next(data.batches(8, 1, torch.Generator().manual_seed(0)))
    assert x.shape == (8, 3, 32, 32) and u.shape == (8, 4)


def test_bad_input():
    data = Pendulum(size=32)
    with pytest.raises(ValueError, match="unknown variable 'colour'"):
        data.do(3, colour=1.0)
    with pytest.raises(ValueError, match="out of range"):
        data.do(3, theta=2.0)
    with pytest.raises(ValueError, match="out of range"):
        data.counterfactual(data.concepts(torch.tensor([[0, 0]])), shadow_length=-1.0)
    with pytest.raises(ValueError, match="out of range"):
        data.counterfactual(data.concepts(torch.tensor([[0, 0]])), shadow_length=-1e-3)
    # a float32 label at the range's edge, read back as a concept, lands a hair outside: put on the edge
    edge = float(data.from_labels(data.labels(torch.tensor([[0.0, math.pi / 2, 0.0, 10.0]])))[0, 2])
    assert -1e-6 < edge < 0
    _, cf = data.counterfactual(data.concepts(torch.tensor([[0, 0]])), shadow_length=edge)
    assert cf[0, 2] == 0.0
    with pytest.raises(ValueError, match=r"shape \(n, 4\)"):
        render_scene(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"shape \(n, 4\)"):
        data.labels(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="size"):
        Pendulum(size=4)
    with pytest.raises(ValueError, match="class index"):
        data.render(torch.tensor([[84, 0]]))
    with pytest.raises(ValueError, match="split"):
        data.split_indices("valid")
    assert CONCEPTS == ("theta", "phi", "shadow_length", "shadow_position")


def test_shadow_rows_hold_every_shadow_and_nothing_else():
    """Pendulum.shadow_rows: the rows a shadow can darken; removing the shadow changes no other row."""
    for size in (32, 96):
        data = Pendulum(size=size)
        rows = data.shadow_rows()
        assert rows.shape == (size,) and 1 <= int(rows.sum()) <= 4
        concepts = data.concepts(data.factors_at(torch.arange(0, len(data), 97)))
        images, no_shadow = data.render_concepts(concepts), data.counterfactual(concepts, shadow_length=0.0)[0]
        changed = (images - no_shadow).abs().amax((0, 1, 3)) > 0
        assert changed.any() and not (changed & ~rows).any()


def test_scene_and_data_set_refuse_what_means_nothing_naming_the_argument():
    """Issue 25 (the third probe): a chunk of 0 was Python's "range() arg 3 must not be zero", 2.5 a TypeError, bool
    concepts were drawn as 0/1 angles, a million scenes reached the allocator, and device "gpu9" was torch's
    "Invalid device string"."""
    scenes = torch.tensor([[0.0, 1.0, 2.0, 0.0]] * 2)
    for bad in (0, 2.5, True, -1):
        with pytest.raises(ValueError, match=r"chunk \(scenes drawn at once\) must be a batch size"):
            render_scene(scenes, 32, chunk=bad)
    with pytest.raises(ValueError, match="concepts must be real numbers"):
        render_scene(torch.ones(2, 4, dtype=torch.bool), 32)
    with pytest.raises(ValueError, match=r"concepts \(scenes\) must be at most .* 96x96 images .* got 1,000,000"):
        render_scene(torch.zeros(1, 4).expand(1_000_000, 4), 96)
    assert render_scene(scenes, 32, chunk=1).shape == (2, 3, 32, 32)  # one scene at a time gives the same images
    assert torch.equal(render_scene(scenes, 32, chunk=1), render_scene(scenes, 32))
    with pytest.raises(ValueError, match="unknown device 'gpu9'"):
        Pendulum(size=32, device="gpu9")
