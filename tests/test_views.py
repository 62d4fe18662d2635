"""Data views (Pooled, SubGrid) and shuffled epochs: a view of a data set is a data set with the same factors."""

import pytest
import torch
import torch.nn.functional as F

from vaecourse.data import DSprites, Pooled, SubGrid, make_dataset, shuffled_epochs
from vaecourse.metrics import encode_grid, higgins

DSPRITES = DSprites()


def test_pooled_is_the_average_of_each_block_with_the_factors_unchanged():
    view = Pooled(DSPRITES, side=32)
    factors = DSPRITES.sample_factors(16, torch.Generator().manual_seed(0))
    assert view.image_shape == (1, 32, 32) and view.factor_sizes == DSPRITES.factor_sizes
    assert torch.equal(view.render(factors), F.avg_pool2d(DSPRITES.render(factors), 2))
    assert torch.equal(view.factor_values(factors), DSPRITES.factor_values(factors))
    block = DSPRITES.render(factors)[:, :, :2, :2].mean(dim=(2, 3))  # the top-left pixel by hand
    assert torch.equal(view.render(factors)[:, :, 0, 0], block)
    assert torch.equal(Pooled(DSPRITES, side=64).render(factors), DSPRITES.render(factors))  # side 64: the renders


def test_pooled_draws_the_parents_random_numbers():
    view = Pooled(DSPRITES, side=16)
    x, f = view.sample(8, torch.Generator().manual_seed(3))
    x0, f0 = DSPRITES.sample(8, torch.Generator().manual_seed(3))
    assert torch.equal(f, f0) and torch.equal(x, F.avg_pool2d(x0, 4))
    pooled = list(view.batches(4, 3, torch.Generator().manual_seed(5)))
    plain = list(DSPRITES.batches(4, 3, torch.Generator().manual_seed(5)))
    assert len(pooled) == 3
    for (a, fa), (b, fb) in zip(pooled, plain):
        assert torch.equal(fa, fb) and torch.equal(a, F.avg_pool2d(b, 4))


def test_views_compose_in_either_order():
    keep = {"orientation": [0, 10], "posX": [0, 31], "posY": [5]}
    a, b = Pooled(SubGrid(DSPRITES, **keep), side=32), SubGrid(Pooled(DSPRITES, side=32), **keep)
    factors = a.sample_factors(10, torch.Generator().manual_seed(1))
    assert a.factor_sizes == b.factor_sizes and torch.equal(a.render(factors), b.render(factors))


def test_a_metric_scores_the_view_with_the_models_own_function():
    """Scoring Pooled(grid) with f equals scoring grid with f after pooling: the view is where pooling lives."""
    grid = SubGrid(DSPRITES, orientation=[0, 20], posX=range(0, 32, 8), posY=range(0, 32, 8), scale=[0, 5])
    code = torch.nn.Linear(256, 4).double()

    def f(x):  # a fixed random linear code of 16x16 images
        with torch.no_grad():
            return code(x.flatten(1).double())

    sizes = dict(generator=None, batch_size=8, n_train=40, n_eval=20)
    on_view = higgins(Pooled(grid, side=16), f, **sizes | {"generator": torch.Generator().manual_seed(0)})
    by_hand = higgins(grid, lambda x: f(F.avg_pool2d(x, 4)), **sizes | {"generator": torch.Generator().manual_seed(0)})
    assert on_view == by_hand
    cache = encode_grid(Pooled(grid, side=16), f)
    assert higgins(grid, cache, **sizes | {"generator": torch.Generator().manual_seed(0)}) == on_view


def test_make_dataset_trains_and_evaluates_on_the_view():
    data = make_dataset("dsprites", torch.device("cpu"), image_shape=(1, 32, 32))
    assert isinstance(data.dataset, Pooled) and data.image_shape == (1, 32, 32)
    (x, f), = data.batches(4, 1, torch.Generator().manual_seed(2))
    assert torch.equal(x, F.avg_pool2d(DSPRITES.render(f), 2))


@pytest.mark.parametrize("side", [0, 3, 48, 2.0, True])
def test_pooled_refuses_a_side_that_does_not_divide_the_image(side):
    with pytest.raises(ValueError, match="side"):
        Pooled(DSPRITES, side=side)


def test_pooled_refuses_what_is_not_a_ground_truth_data_set():
    with pytest.raises(ValueError, match="ground-truth factors"):
        Pooled(torch.zeros(4, 1, 64, 64), side=32)


def test_shuffled_epochs_are_permutations_cut_into_full_batches():
    g = torch.Generator().manual_seed(0)
    batches = shuffled_epochs(10, 4, g)
    epoch = [next(batches) for _ in range(2)]  # 8 of 10 examples; the last 2 are left out of this epoch
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.cat(epoch), expected[:8])
    second = torch.randperm(10, generator=torch.Generator().manual_seed(0).set_state(g.get_state()))
    assert torch.equal(next(batches), second[:4])  # the next epoch starts a fresh permutation
    small = shuffled_epochs(3, 8, torch.Generator().manual_seed(1))
    assert sorted(next(small).tolist()) == [0, 1, 2]  # fewer examples than a batch: one batch of all of them
    with pytest.raises(ValueError, match="batch_size"):
        next(shuffled_epochs(10, 0, g))
