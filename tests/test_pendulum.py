"""The pendulum simulator: geometry known answers, do() semantics, counterfactuals, determinism, bad input."""

import math

import pytest
import torch

from vaecourse.data.pendulum import (CONCEPTS, TRUE_GRAPH, Pendulum, ground_projection, render_scene, shadow,
                                     sun_position)
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


def _colour_centroid(image, colour, tol=0.1):
    mask = ((image - torch.tensor(colour)[:, None, None]).abs() < tol).all(0)
    rows, cols = mask.nonzero(as_tuple=True)
    return rows.float().mean().item(), cols.float().mean().item(), int(mask.sum())


def test_rendering_draws_the_geometry():
    size = 96
    img = render_scene(torch.tensor([[0.0, math.pi / 4, 5.0, 6.0]]), size)[0]
    assert img.shape == (3, size, size) and img.min() >= 0 and img.max() <= 1
    # bob at (10, 2.5): column (10 / 20) * 96 = 48, row (21 - 2.5) / 22 * 96 = 80.7
    r, c, n = _colour_centroid(img, (178 / 255, 34 / 255, 34 / 255))
    assert abs(c + 0.5 - 48) < 0.8 and abs(r + 0.5 - 80.7) < 1.0 and n > 20
    # sun at x = 20 (centre on the right border), y = 20.5
    r, c, n = _colour_centroid(img, (1.0, 165 / 255, 0.0))
    assert c > 85 and r < 12 and n > 20
    # shadow: black bar from x = 3.5 to 8.5 at y = -0.5 (row 93.8); the rod is far above
    bottom = img[:, 90:, :].min(0).values  # darkest channel per pixel
    cols = (bottom < 0.5).any(0).nonzero().flatten()
    assert abs(cols.min().item() - 3.5 / 20 * 96) <= 1 and abs(cols.max().item() + 1 - 8.5 / 20 * 96) <= 1
    # anti-aliased: partial coverage exists at edges
    assert ((img > 0.05) & (img < 0.95)).any()
    small = render_scene(torch.tensor([[0.0, math.pi / 4, 5.0, 6.0]]), 64)
    assert small.shape == (1, 3, 64, 64)


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
    assert torch.allclose(broken_images[:, :, :26], data.render(factors)[:, :, :26], atol=1e-6)
    assert (broken_images[:, :, 28:] > 0.99).all()  # no shadow left
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
