"""Disentanglement metrics against known answers, identities and references (small sizes: seconds, not minutes).

The test bed is ``FactorImages``: a grid with dSprites' factor sizes whose observations are the factors
themselves, so the identity representation is the perfectly disentangled code and a rotation of it is an
entangled code that loses nothing.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from sklearn.metrics import mutual_info_score

from vaecourse.data import DSprites, FactorImages
from vaecourse.metrics import SubGrid, cpu_subgrid, dci, encode_grid, factorvae, higgins, mig, sap
from vaecourse.metrics.checks import check_codes
from vaecourse.metrics.dci import completeness, disentanglement
from vaecourse.metrics.higgins import fixed_factor_pairs, fixed_factor_pairs_batched, z_diff
from vaecourse.metrics.mig import (discrete_entropy, discrete_mutual_info, histogram_discretize,
                                   mig_from_mutual_info)
from vaecourse.metrics.sap import sap_from_scores

SIZES = (1, 3, 6, 40, 32, 32)  # dSprites' grid: colour is constant, K = 5 factors vary
K = 5
DATA = FactorImages(SIZES, ("color", "shape", "scale", "orientation", "posX", "posY"))

# small sizes that keep every metric well under a second or two
SMALL = {
    higgins: dict(batch_size=16, n_train=500, n_eval=300),
    factorvae: dict(batch_size=16, n_train=300, n_eval=200, n_variance=1000),
    mig: dict(n_points=3000),
    sap: dict(n_train=600, n_eval=300),
    dci: dict(n_train=300, n_eval=150, n_estimators=5),
}
METRICS = list(SMALL)
SCORE = {higgins: "eval_accuracy", factorvae: "eval_accuracy", mig: "mig", sap: "sap", dci: "disentanglement"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread avoids thread hand-offs that dominate on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def identity(x):
    return x.flatten(1)  # (B, 6): the factors themselves (colour included, a constant dimension)


def constant(x):
    return torch.zeros(x.shape[0], 6)


def noise_fn(seed: int = 0):
    g = gen(seed)
    return lambda x: torch.randn(x.shape[0], 6, generator=g)


ROTATION = torch.linalg.qr(torch.randn(6, 6, generator=gen(1), dtype=torch.float64))[0]


def rotated(x):
    return x.flatten(1).double() @ ROTATION  # every factor spread over every dimension, nothing lost


def run(metric, representation, seed: int = 0, dataset=DATA, **overrides):
    return metric(dataset, representation, generator=gen(seed), **(SMALL[metric] | overrides))


# ---- known answers ----------------------------------------------------------------------------------
def test_ground_truth_factors_are_perfectly_disentangled():
    h = run(higgins, identity)
    assert h["train_accuracy"] == 1.0 and h["eval_accuracy"] == 1.0 and h["chance"] == pytest.approx(1 / K)
    assert run(factorvae, identity)["eval_accuracy"] == 1.0
    assert run(mig, identity)["mig"] > 0.8  # < 1 only because 20 bins merge some of 32/40 classes
    d = run(dci, identity)
    assert d["disentanglement"] > 0.95 and d["completeness"] > 0.95 and d["informativeness_eval"] > 0.95


def test_constant_code_is_at_chance_and_carries_no_information():
    h = run(higgins, constant)
    assert abs(h["eval_accuracy"] - 1 / K) < 0.08  # all z_diff are 0: the classifier can only guess
    assert run(mig, constant)["mig"] == 0.0
    f = run(factorvae, constant)
    assert f["num_active_dims"] == 0 and f["eval_accuracy"] == 0.0
    assert run(sap, constant)["sap"] == 0.0
    d = run(dci, constant)
    assert d["disentanglement"] < 0.05 and d["completeness"] < 0.05


def test_pure_noise_is_near_chance_and_mig_near_zero():
    assert abs(run(higgins, noise_fn())["eval_accuracy"] - 1 / K) < 0.08
    assert run(mig, noise_fn())["mig"] < 0.02
    assert run(sap, noise_fn())["sap"] < 0.05
    assert abs(run(factorvae, noise_fn())["eval_accuracy"] - 1 / K) < 0.12


def test_higgins_saturates_on_an_entangled_code_where_mig_does_not():
    """A rotation mixes every factor into every dimension: the linear classifier still reads y, MIG does not."""
    assert run(higgins, rotated, batch_size=64, n_train=600)["eval_accuracy"] > 0.8  # vs 0.2 chance
    assert run(mig, rotated)["mig"] < 0.3
    assert run(dci, rotated)["disentanglement"] < 0.5


def test_chance_is_one_over_the_number_of_varying_factors():
    small = FactorImages((1, 4, 5))
    assert higgins(small, identity, generator=gen(), n_train=50, n_eval=20, batch_size=8)["chance"] == 0.5


# ---- invariances (where the metric claims them) ---------------------------------------------------------
PERMUTATION = [3, 0, 5, 1, 4, 2]
SCALE = torch.tensor([4.0, -0.5, 2.0, 8.0, -0.25, 1.0])  # powers of two: exact in floating point


@pytest.mark.parametrize("metric", [mig, factorvae, sap, higgins])
def test_permuting_latents_changes_nothing(metric):
    a = run(metric, rotated)[SCORE[metric]]
    b = run(metric, lambda x: rotated(x)[:, PERMUTATION])[SCORE[metric]]
    assert a == pytest.approx(b, abs=0.01 if metric is higgins else 1e-12)  # lbfgs stops at a tolerance


@pytest.mark.parametrize("metric", [mig, factorvae, higgins])
def test_rescaling_latents_changes_nothing(metric):
    a = run(metric, rotated)[SCORE[metric]]
    b = run(metric, lambda x: rotated(x) * SCALE.double())[SCORE[metric]]
    assert a == pytest.approx(b, abs=0.01 if metric is higgins else 0)  # Higgins: z-scored features, lbfgs tolerance


def test_higgins_without_standardisation_depends_on_the_units_of_the_code():
    tiny = run(higgins, lambda x: 1e-4 * identity(x), standardize=False)["eval_accuracy"]
    assert tiny < 0.5  # the L2 penalty swamps codes with small numbers...
    assert run(higgins, lambda x: 1e-4 * identity(x))["eval_accuracy"] == 1.0  # ...unless the features are z-scored


def test_dci_disentanglement_does_not_depend_on_the_order_of_latents():
    a = run(dci, identity)["disentanglement"]
    b = run(dci, lambda x: identity(x)[:, PERMUTATION])["disentanglement"]
    assert a == pytest.approx(b, abs=0.02)


# ---- randomness and the cache -----------------------------------------------------------------------
@pytest.mark.parametrize("metric", METRICS)
def test_fixed_generator_gives_identical_scores(metric):
    first, again, other = run(metric, rotated, 7), run(metric, rotated, 7), run(metric, rotated, 8)
    assert first[SCORE[metric]] == again[SCORE[metric]]
    assert first[SCORE[metric]] != other[SCORE[metric]] or metric is factorvae  # the seed matters


@pytest.mark.parametrize("metric", METRICS)
def test_cached_codes_equal_the_direct_path(metric):
    cache = encode_grid(DATA, rotated, batch_size=100_000)
    assert cache.codes.shape == (DATA.num_combinations, 6)
    direct, cached = run(metric, rotated, 11), run(metric, cache, 11)
    for key, value in direct.items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, cached[key]), key
        else:
            assert value == cached[key], key


def test_cache_on_a_dsprites_subgrid_with_a_model_matches_the_direct_path():
    torch.manual_seed(0)
    from vaecourse.models import VAE

    model = VAE(latent_dim=4, encoder="conv32", image_shape=(1, 32, 32)).eval().double()
    sub = SubGrid(DSprites(), shape=[0, 2], scale=[0, 5], orientation=[0, 10], posX=[0, 8, 16, 31], posY=[4, 20])

    def representation(x):  # conv32 sees the 64x64 images average-pooled to 32x32
        return model.embed(F.avg_pool2d(x.double(), 2))

    cache = encode_grid(sub, representation, batch_size=7)
    assert cache.codes.shape == (2 * 2 * 2 * 4 * 2, 4)
    kwargs = dict(batch_size=4, n_train=20, n_eval=10)
    direct = higgins(sub, representation, generator=gen(2), **kwargs)
    cached = higgins(sub, cache, generator=gen(2), **kwargs)
    assert direct["eval_accuracy"] == cached["eval_accuracy"]
    assert direct["train_accuracy"] == cached["train_accuracy"]
    # and the cached code of one grid point is the model's code of its image
    f = torch.tensor([[0, 1, 0, 1, 3, 0]])
    assert np.allclose(cache.lookup(f), representation(sub.render(f)).numpy(), atol=1e-12)


def test_cpu_subgrid_is_the_documented_subsample():
    sub = cpu_subgrid(DSprites())
    assert sub.factor_sizes == (1, 3, 6, 10, 16, 16) and len(sub) == 46_080
    parent = sub.parent_factors(torch.tensor([[0, 2, 5, 9, 15, 1]]))
    assert parent.tolist() == [[0, 2, 5, 36, 30, 2]]
    assert torch.equal(sub.render(torch.tensor([[0, 2, 5, 9, 15, 1]])), DSprites().render(parent))


# ---- the pieces -------------------------------------------------------------------------------------------
def test_fixed_factor_pairs_agree_on_y_only():
    v1, v2 = fixed_factor_pairs(DATA, 3, 200, gen())
    assert v1.shape == v2.shape == (200, 6)
    assert torch.equal(v1[:, 3], v2[:, 3])
    assert (v1[:, 4] != v2[:, 4]).float().mean() > 0.9  # the others are drawn independently
    a, b = fixed_factor_pairs_batched(DATA, torch.tensor([1, 5]), 50, gen())
    assert torch.equal(a[0, :, 1], b[0, :, 1]) and torch.equal(a[1, :, 5], b[1, :, 5])


def test_z_diff_is_the_mean_absolute_difference_over_the_batch():
    z1, z2 = torch.tensor([[1.0, 2.0], [3.0, -1.0]]), torch.tensor([[0.0, 2.0], [4.0, 1.0]])
    assert torch.equal(z_diff(z1, z2), torch.tensor([1.0, 1.0]))
    assert np.array_equal(z_diff(z1.numpy(), z2.numpy()), np.array([1.0, 1.0]))


def test_mutual_information_and_entropy_match_references():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, size=(1000, 3))
    b = np.stack([a[:, 0], rng.integers(0, 7, 1000)], 1)
    mi = discrete_mutual_info(a, b)
    for i in range(3):
        for j in range(2):
            assert mi[i, j] == pytest.approx(mutual_info_score(b[:, j], a[:, i]), abs=1e-12)
    h = discrete_entropy(b)
    assert h[0] == pytest.approx(scipy.stats.entropy(np.bincount(b[:, 0])), abs=1e-12)
    assert mi[0, 0] == pytest.approx(h[0])  # I(v; v) = H(v)


def test_histogram_discretize_uses_equal_width_bins_over_the_range():
    codes = np.array([[0.0], [0.49], [0.51], [1.0]])
    assert histogram_discretize(codes, bins=2)[:, 0].tolist() == [1, 1, 2, 2]
    assert len(set(histogram_discretize(np.zeros((5, 1)), 20)[:, 0])) == 1  # a constant code: one bin


def test_mig_normalises_each_gap_by_the_factor_entropy():
    mi = np.array([[2.0, 0.1], [0.5, 0.3], [0.0, 0.6]])  # (D=3, K=2)
    score, per_factor = mig_from_mutual_info(mi, np.array([3.0, 1.0]))
    assert per_factor == pytest.approx([(2.0 - 0.5) / 3.0, (0.6 - 0.3) / 1.0])
    assert score == pytest.approx(np.mean(per_factor))


def test_dci_scores_of_known_importance_matrices():
    assert disentanglement(np.eye(4)) == pytest.approx(1.0) and completeness(np.eye(4)) == pytest.approx(1.0)
    assert disentanglement(np.ones((4, 4))) == pytest.approx(0.0, abs=1e-9)
    assert completeness(np.ones((4, 4))) == pytest.approx(0.0, abs=1e-9)
    one_code = np.array([[1.0, 1.0], [0.0, 0.0]])  # one dimension serves both factors
    assert disentanglement(one_code) == pytest.approx(0.0, abs=1e-6)
    assert completeness(one_code) == pytest.approx(1.0, abs=1e-6)


def test_sap_is_the_mean_gap_between_the_two_best_dimensions():
    assert sap_from_scores(np.array([[0.9, 0.2], [0.1, 0.7], [0.3, 0.6]])) == pytest.approx((0.6 + 0.1) / 2)


# ---- bad input --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", METRICS)
def test_representation_with_wrong_batch_size(metric):
    with pytest.raises(ValueError, match=r"returned \d+ codes for a batch of \d+ images"):
        run(metric, lambda x: identity(x)[:-1])


@pytest.mark.parametrize("metric", METRICS)
def test_representation_with_nans(metric):
    def nan_fn(x):
        z = identity(x).clone()
        z[0, 2] = float("nan")
        return z

    with pytest.raises(ValueError, match=r"NaN or inf\) at row 0, dimension 2"):
        run(metric, nan_fn)


@pytest.mark.parametrize("metric", METRICS)
def test_representation_not_2d(metric):
    with pytest.raises(ValueError, match=r"must return a 2-D \(batch, D\) array.*got shape \(\d+, 1, 1, 6\)"):
        run(metric, lambda x: x)


@pytest.mark.parametrize("metric, size", [(higgins, "n_train"), (higgins, "n_eval"), (factorvae, "n_train"),
                                          (mig, "n_points"), (sap, "n_train"), (dci, "n_train")])
def test_sizes_smaller_than_the_number_of_factors(metric, size):
    with pytest.raises(ValueError, match=rf"{size} must be an int >= 5 .*there are 5 factors|{size} must be an int >= 5"):
        run(metric, identity, **{size: 4})


@pytest.mark.parametrize("metric", METRICS)
def test_dataset_without_factors(metric):
    images = torch.rand(10, 1, 8, 8)
    with pytest.raises(ValueError, match="needs a data set with ground-truth factors"):
        metric(images, identity, generator=gen())


@pytest.mark.parametrize("metric", [higgins, factorvae])
def test_classifier_metrics_need_two_varying_factors(metric):
    with pytest.raises(ValueError, match="at least 2 factor"):
        metric(FactorImages((1, 7)), identity, generator=gen())


@pytest.mark.parametrize("metric", [mig, sap])
def test_gap_metrics_need_two_dimensions(metric):
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        run(metric, lambda x: identity(x)[:, 1:2])


def test_other_bad_arguments():
    with pytest.raises(ValueError, match="generator=torch.Generator"):
        higgins(DATA, identity, generator=0)
    with pytest.raises(ValueError, match="batch_size .* must be an int >= 1"):
        run(higgins, identity, batch_size=0)
    with pytest.raises(ValueError, match="representation function .* or a CodeCache"):
        run(higgins, "model")
    other = encode_grid(FactorImages((3, 4)), identity)
    with pytest.raises(ValueError, match=r"cache was built on a grid with factor sizes \(3, 4\)"):
        run(mig, other)
    with pytest.raises(ValueError, match="codes of 5 dimensions after codes of 6"):
        check_codes(np.zeros((3, 5)), 3, dim=6)
    with pytest.raises(ValueError, match="unknown factor"):
        SubGrid(DATA, hue=[0])
    with pytest.raises(ValueError, match="distinct values in \\[0, 2\\]"):
        SubGrid(DATA, shape=[0, 3])


def test_encode_grid_of_several_representations_renders_once_and_equals_one_at_a_time():
    renders = []

    class Counting(FactorImages):
        def render(self, factors):
            renders.append(len(factors))
            return super().render(factors)

    data = Counting((2, 3, 5))
    both = encode_grid(data, {"id": identity, "rot": lambda x: x.flatten(1).double() @ ROTATION[:3, :3]}, batch_size=4)
    assert sum(renders) == 30  # each grid point rendered once for both functions
    assert np.array_equal(both["id"].codes, encode_grid(data, identity).codes)
    assert both["rot"].codes.shape == (30, 3)
    with pytest.raises(ValueError, match=r"representation_fn\['bad'\] must be a function of images"):
        encode_grid(data, {"bad": 3})
