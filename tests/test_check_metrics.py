"""Chapter 3's exercise checks: references pass, stubs say "not done yet", each typical mistake gets its message."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from vaecourse.metrics.higgins import fixed_factor_pairs as ref_pairs
from vaecourse.metrics.higgins import linear_classifier_accuracy
from vaecourse.metrics.higgins import z_diff as ref_z_diff
from vaecourse.metrics.mig import mig_from_mutual_info

from checking import assert_caught, assert_precise, class_cases  # noqa: E402  (tests/checking.py)
from checking import verdict as checked  # noqa: E402


def ref_classifier(x_train, y_train, x_eval, y_eval):
    return linear_classifier_accuracy(x_train, y_train, x_eval, y_eval, standardize=False)[:2]


def ref_mig(mi, entropy):
    return mig_from_mutual_info(mi, entropy)[0]


REFERENCES = {
    "fixed_factor_pairs": ref_pairs,
    "z_diff": ref_z_diff,
    "classifier_accuracy": ref_classifier,
    "mig_normalisation": ref_mig,
}
EXERCISES = {"fixed_factor_pairs": "3.1", "z_diff": "3.2", "classifier_accuracy": "3.3", "mig_normalisation": "3.4"}


def verdict(name, fn, capsys):
    ok, out = checked(name, fn, capsys)
    assert out.count("\n") <= 3, out  # one verdict, not a traceback
    return ok, out


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_passes(name, capsys):
    ok, out = verdict(name, REFERENCES[name], capsys)
    assert ok is True and out.startswith("✅"), out


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_stub_is_not_done_yet(name, capsys):
    exercise = EXERCISES[name]

    def stub(*args):
        raise NotImplementedError(f"Exercise {exercise}: do the thing")

    ok, out = verdict(name, stub, capsys)
    assert ok is False and out.startswith(f"Exercise {exercise} is not done yet: do the thing.")


def test_alternative_correct_forms_pass(capsys):
    def pairs_other_order(dataset, y, batch_size, generator):  # another valid order of draws
        v2 = dataset.sample_factors(batch_size, generator)
        v1 = dataset.sample_factors(batch_size, generator)
        v1[:, y] = v2[:, y]
        return v1, v2

    assert verdict("fixed_factor_pairs", pairs_other_order, capsys)[0]
    assert verdict("z_diff", lambda z1, z2: torch.mean(torch.abs(z2 - z1), 0), capsys)[0]

    def score_method(x_train, y_train, x_eval, y_eval):
        model = LogisticRegression(max_iter=500).fit(x_train, y_train)
        return model.score(x_train, y_train), model.score(x_eval, y_eval)

    assert verdict("classifier_accuracy", score_method, capsys)[0]
    assert verdict("mig_normalisation", lambda mi, h: float(np.mean(
        (np.sort(mi, 0)[-1] - np.sort(mi, 0)[-2]) / h)), capsys)[0]


# ---- Exercise 3.1 ------------------------------------------------------------------------------------------------
def _pairs(mutate):
    def fn(dataset, y, batch_size, generator):
        v1 = dataset.sample_factors(batch_size, generator)
        v2 = dataset.sample_factors(batch_size, generator)
        return mutate(v1, v2, y, generator, dataset)
    return fn


def _copy(v1, v2, y, g, d):
    return v1, v1.clone()


def _wrong_column(v1, v2, y, g, d):
    v2[:, y + 1] = v1[:, y + 1]
    return v1, v2


def _one_value(v1, v2, y, g, d):
    v1[:, y] = v1[0, y]
    v2[:, y] = v1[0, y]
    return v1, v2


def _stacked(v1, v2, y, g, d):
    v2[:, y] = v1[:, y]
    return torch.stack([v1, v2])


def _transposed(v1, v2, y, g, d):
    v2[:, y] = v1[:, y]
    return v1.T, v2.T


def _two_fixed(v1, v2, y, g, d):
    v2[:, y] = v1[:, y]
    v2[:, 1] = v1[:, 1]
    return v1, v2


def _global_rng(dataset, y, batch_size, generator):
    v1 = dataset.sample_factors(batch_size)  # torch's global generator
    v2 = dataset.sample_factors(batch_size)
    v2[:, y] = v1[:, y]
    return v1, v2


@pytest.mark.parametrize("fn, message", [
    (_pairs(_copy), "v2 is a copy of v1"),
    (_pairs(_wrong_column), "you fixed column 4, posX; y counts the columns from 0"),
    (_pairs(_one_value), "one value for the whole batch is the FactorVAE metric's"),
    (_pairs(_stacked), "one stacked tensor (2, L, K)"),
    (_pairs(_transposed), "shape (6, 256) = (K, L)"),
    (_pairs(_two_fixed), "also all agree on factor 1 (shape)"),
    (_global_rng, "the generator you were given did not move"),
])
def test_pair_mistakes(fn, message, capsys):
    ok, out = verdict("fixed_factor_pairs", fn, capsys)
    assert not ok and message in out, out


# ---- Exercise 3.2 ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn, message", [
    (lambda z1, z2: (z1 - z2).mean(0), "the absolute value is missing"),
    (lambda z1, z2: (z1 - z2).mean(0).abs(), "the absolute value goes inside the mean"),
    (lambda z1, z2: (z1 - z2).abs().sum(0), "you summed over the pairs"),
    (lambda z1, z2: (z1 - z2).pow(2).mean(0), "you squared the difference"),
    (lambda z1, z2: (z1 - z2).abs(), "shape (8, 4) = (L, D)"),
    (lambda z1, z2: (z1 - z2).abs().mean(1), "you averaged over the latent dimensions"),
    (lambda z1, z2: (z1 - z2).abs().mean(), "z_diff is a single number"),
    (lambda z1, z2: (z1 - z2).abs().mean(0).numpy(), "should be a torch.Tensor"),
])
def test_z_diff_mistakes(fn, message, capsys):
    ok, out = verdict("z_diff", fn, capsys)
    assert not ok and message in out, out


# ---- Exercise 3.3 ------------------------------------------------------------------------------------------------
def _fit(x, y):
    return LogisticRegression(max_iter=2000).fit(x, y)


@pytest.mark.parametrize("fn, message", [
    (lambda xt, yt, xe, ye: (1 - _fit(xt, yt).score(xt, yt), 1 - _fit(xt, yt).score(xe, ye)), "error rates"),
    (lambda xt, yt, xe, ye: (_fit(xt, yt).score(xe, ye), _fit(xt, yt).score(xt, yt)), "swapped"),
    (lambda xt, yt, xe, ye: (_fit(xt, yt).score(xt, yt), _fit(xt, yt).score(xt, yt)), "equals the training accuracy"),
    (lambda xt, yt, xe, ye: (100 * _fit(xt, yt).score(xt, yt), 100 * _fit(xt, yt).score(xe, ye)), "percent?"),
    (lambda xt, yt, xe, ye: (_fit(xe, ye).score(xt, yt), _fit(xe, ye).score(xe, ye)), "fitted on the evaluation points"),
    (lambda xt, yt, xe, ye: _fit(xt, yt).score(xe, ye), "expected a pair"),
])
def test_classifier_mistakes(fn, message, capsys):
    ok, out = verdict("classifier_accuracy", fn, capsys)
    assert not ok and message in out, out


def test_classifier_that_memorises_is_not_low_vc(capsys):
    from sklearn.neighbors import KNeighborsClassifier

    def knn(xt, yt, xe, ye):
        model = KNeighborsClassifier(1).fit(xt, yt)
        return model.score(xt, yt), model.score(xe, ye)

    ok, out = verdict("classifier_accuracy", knn, capsys)
    assert not ok and "not a linear classifier of low VC dimension" in out


# ---- Exercise 3.4 ------------------------------------------------------------------------------------------------
def _gaps(mi):
    top = np.sort(mi, axis=0)[::-1]
    return top[0] - top[1]


@pytest.mark.parametrize("fn, message", [
    (lambda mi, h: float(np.mean(_gaps(mi))), "you did not divide by the factor's entropy"),
    (lambda mi, h: float(np.mean(_gaps(mi)) / np.mean(h)), "by its own entropy"),
    (lambda mi, h: float(np.mean(_gaps(mi) / np.max(mi, axis=0))), "divided by the largest mutual information"),
    (lambda mi, h: float(np.sum(_gaps(mi) / h)), "you summed over the factors"),
    (lambda mi, h: float(np.mean(np.sort(mi, 1)[:, -1] - np.sort(mi, 1)[:, -2])), "you sorted each latent's row"),
    (lambda mi, h: float(np.mean((mi.max(0) - mi.min(0)) / h)), "the largest minus the smallest"),
    (lambda mi, h: _gaps(mi) / h, "one gap per factor"),
    (lambda mi, h: (float(np.mean(_gaps(mi) / h)), _gaps(mi) / h), "not a tuple"),
])
def test_mig_mistakes(fn, message, capsys):
    ok, out = verdict("mig_normalisation", fn, capsys)
    assert not ok and message in out, out


# ---- issue 24: plausible wrong code of each class, each with its own message ------------------------------------
# (No gradient class here: the metric's inputs are codes and factor classes, never trained through.)
def _pairs_with_seed(seed_of):
    def fn(dataset, y, batch_size, generator):
        own = torch.Generator().manual_seed(seed_of(generator))
        v1 = dataset.sample_factors(batch_size, own)
        v2 = dataset.sample_factors(batch_size, own)
        v2[:, y] = v1[:, y]
        return v1, v2
    return fn


def _pairs_typed(dataset, y, batch_size, generator):
    v1 = dataset.sample_factors(256, generator)  # the first test case's batch size, typed in
    v2 = dataset.sample_factors(256, generator)
    v2[:, y] = v1[:, y]
    return v1, v2


def _pairs_column_3(dataset, y, batch_size, generator):
    v1 = dataset.sample_factors(batch_size, generator)
    v2 = dataset.sample_factors(batch_size, generator)
    v2[:, 3] = v1[:, 3]  # dSprites' orientation, typed in
    return v1, v2


def _mig_sorting_in_place(mi, h):
    mi.sort(axis=0)
    return float(np.mean((mi[-1] - mi[-2]) / h))


def _classifier_centring_in_place(xt, yt, xe, ye):
    xt -= xt.mean(0)
    xe -= xe.mean(0)
    model = _fit(xt, yt)
    return model.score(xt, yt), model.score(xe, ye)


def _classifier_typed_size(xt, yt, xe, ye):
    model = _fit(xt, yt)
    return model.score(xt, yt), float((model.predict(xe) == ye).sum() / 600)


CLASSES = {
    "right only for the tested shape": [
        ("z_diff", lambda z1, z2: (z1 - z2).abs().sum(0) / 8, "right for L=8, D=4 but not for L="),
        ("mig_normalisation", lambda mi, h: float(np.sum(_gaps(mi) / h) / 3), "right for D=4, K=3 but not for"),
        ("fixed_factor_pairs", _pairs_typed, "right for L=256 but not for L="),
        ("fixed_factor_pairs", _pairs_column_3, "right for L=256 but not for L="),
        ("classifier_accuracy", _classifier_typed_size, "right for K=5, D=20, N=100 but not for"),
    ],
    "semantics missed": [
        ("fixed_factor_pairs", _pairs_with_seed(lambda g: 31), "did not move"),
        ("fixed_factor_pairs", _pairs_with_seed(lambda g: g.initial_seed()), "did not move"),
    ],
    "inputs mutated": [
        ("z_diff", lambda z1, z2: z1.sub_(z2).abs_().mean(0), "changed its input z1 in place"),
        ("mig_normalisation", _mig_sorting_in_place, "changed its input mutual_info in place"),
        ("classifier_accuracy", _classifier_centring_in_place, "changed its input x_train in place"),
    ],
}


@pytest.mark.parametrize("kind, name, fn, message", **class_cases(CLASSES))
def test_each_class_of_wrong_code_is_caught_and_named(kind, name, fn, message, capsys):
    assert_caught(name, fn, message, capsys)


@pytest.mark.parametrize("name, fn", [
    ("z_diff", lambda z1, z2: (z1 - z2).abs().mean(0) + 2e-5),
    ("mig_normalisation", lambda mi, h: float(np.mean(_gaps(mi) / h)) + 3e-5),
])
def test_differences_are_printed_at_a_precision_that_shows_them(name, fn, capsys):
    assert_precise(name, fn, capsys)
