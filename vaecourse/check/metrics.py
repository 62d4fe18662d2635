"""Exercise checks of chapter 3 (disentanglement metrics): fixed-factor pairs, z_diff, the linear classifier,
MIG's entropy normalisation."""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from vaecourse.check.core import (F64, Problem, Trial, across_sizes, assumed, called, close, describe, differs, expect,
                                  finite_rule, fresh_generator, is_real_number, mismatch, number_value, own_state,
                                  run_check, seeded, tensor_rules)

DSPRITES_SIZES = (1, 3, 6, 40, 32, 32)
UNCHANGED = "The metric uses the same inputs again after your function, so a changed input spoils its score"


def _grid(sizes=DSPRITES_SIZES, names=("color", "shape", "scale", "orientation", "posX", "posY")):
    from vaecourse.data import FactorImages

    return FactorImages(sizes, names)


# ------------------------------------------------------------------------------------------ Exercise 3.1
@own_state
def fixed_factor_pairs(fn: Callable[..., Any]) -> bool:
    """Exercise 3.1: ``fn(dataset, y, batch_size, generator)`` -> (v1, v2), each (L, K), agreeing on column y only."""
    own_seed = ("draw all randomness from the generator you are given, with dataset.sample_factors(n, generator): "
                "the metric's seed must decide the pairs")

    def pair_rules(L: int, K: int) -> list:
        return [
            (lambda o: isinstance(o, Tensor) and o.dim() == 3 and o.shape[0] == 2,
             "you returned one stacked tensor (2, L, K); return the two batches as a tuple (v1, v2)"),
            (lambda o: not isinstance(o, (tuple, list)) or len(o) != 2,
             lambda o: f"expected a pair (v1, v2), got {describe(o)}"),
            (lambda o: any(not isinstance(v, Tensor) for v in o),
             lambda o: "v1 and v2 should be tensors of factor classes (dataset.sample_factors returns them), got "
                       + " and ".join(describe(v) for v in o)),
            (lambda o: any(v.device.type != "cpu" for v in o),
             lambda o: "v1 and v2 should be tensors on the CPU, like the dataset's factors, got "
                       + " and ".join(describe(v) for v in o)),
            (lambda o: any(v.is_floating_point() for v in o),
             "v1 and v2 should hold integer class indices (torch.long), as dataset.sample_factors returns them"),
            (lambda o: any(tuple(v.shape) == (K, L) for v in o),
             f"v1 or v2 has shape ({K}, {L}) = (K, L); one row per pair: shape (L, K) = ({L}, {K})"),
            (lambda o: any(tuple(v.shape) != (L, K) for v in o),
             lambda o: f"v1 and v2 should each have shape (batch_size, K) = ({L}, {K}), got "
                       f"{tuple(o[0].shape)} and {tuple(o[1].shape)}"),
        ]

    def build(sizes: dict[str, int], g: torch.Generator) -> list[Trial]:
        L = sizes["L"]
        if L == 256:  # the first test case: dSprites' grid, orientation shared
            data, y = _grid(), 3
        else:  # another grid, another factor: nothing about dSprites can be typed in
            data = _grid((4, 1, 7, 5, 3, 2, 6), ("a", "b", "c", "d", "e", "f", "g"))  # 7 factors, not dSprites' 6
            y = int(torch.tensor([0, 2, 4, 6])[torch.randint(4, (1,), generator=g)])  # never dSprites' y = 3
        sizes_k = data.factor_sizes
        K = data.num_factors
        seed = int(torch.randint(2**62, (1,), generator=g))

        def pairs(f: Callable, generator: torch.Generator) -> tuple[Tensor, Tensor]:
            return expect(f(data, y, L, generator), pair_rules(L, K))

        def structure(f: Callable) -> None:
            generator = seeded(seed)
            before = generator.get_state()
            v1, v2 = pairs(f, generator)
            if torch.equal(generator.get_state(), before):
                raise Problem("the generator you were given did not move: your pairs come from another generator "
                              "(torch's global one, a seed you typed, or one copied from generator.initial_seed()); "
                              f"{own_seed}")
            try:
                data.check_factors(v1), data.check_factors(v2)
            except ValueError as error:
                raise Problem(f"not valid factor classes: {error}") from None
            if torch.equal(v1, v2):
                raise Problem("v2 is a copy of v1: all factors agree; only factor y must be shared, the others are "
                              "drawn independently for v1 and v2")
            agree = (v1 == v2).double().mean(dim=0)  # (K,) fraction of pairs that agree on each factor
            if agree[y] < 1:
                fixed = [k for k in range(K) if agree[k] == 1 and sizes_k[k] > 1]
                extra = (f" (you fixed column {fixed[0]}, {data.factor_names[fixed[0]]}; y counts the columns from 0)"
                         if fixed else "")
                raise Problem(f"v1[:, y] and v2[:, y] differ in {int((v1[:, y] != v2[:, y]).sum())} of {L} pairs: "
                              f"every pair must agree on factor y = {y}{extra}")
            others = [k for k in range(K) if k != y and sizes_k[k] > 1]
            if any(agree[k] == 1 for k in others):
                k = next(k for k in others if agree[k] == 1)
                raise Problem(f"the pairs also all agree on factor {k} ({data.factor_names[k]}): only factor y = {y} "
                              "is fixed; the others are drawn independently for v1 and v2")
            if v1[:, y].unique().numel() == 1:
                raise Problem("all pairs share one value of factor y: in the Higgins metric each pair gets its own "
                              "value (v1 and v2 agree on it); one value for the whole batch is the FactorVAE "
                              "metric's batch")
            if any(v1[:, k].unique().numel() == 1 for k in others):
                raise Problem("a factor other than y takes one value in the whole batch: draw L independent factor "
                              "vectors")

        def randomness(f: Callable) -> None:
            seeds = fresh_generator().initial_seed(), fresh_generator().initial_seed()  # never printed
            a, b, c = pairs(f, seeded(seeds[0])), pairs(f, seeded(seeds[0])), pairs(f, seeded(seeds[1]))
            if not (torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])):
                raise Problem(f"the same seeded generator gave different pairs: {own_seed}")
            if torch.equal(a[0], c[0]) and torch.equal(a[1], c[1]):
                raise Problem("different generators gave the same pairs: your pairs do not come from the generator "
                              f"you are given (a seed of your own, or the one in the check?); {own_seed}")
        return [structure, randomness]

    return run_check("3.1", "a batch of fixed-factor pairs",
                     "draw batch_size pairs of factor vectors that share factor y (steps 1-2 of the lecture's "
                     "section 2)", fn,
                     across_sizes(build, {"L": 256}, {"L": (40, 512)}, seed=31, count=1,
                                  advice=assumed("dSprites' factors or a batch size", "the dataset, batch_size and y")),
                     hint="dataset.sample_factors(n, generator) draws n factor vectors (n, K); think about which "
                          "column the two batches must share")


# ------------------------------------------------------------------------------------------ Exercise 3.2
@own_state
def z_diff(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Exercise 3.2: ``fn(z1, z2)`` with codes (L, D) -> z_diff = mean over l of |z1_l - z2_l|, shape (D,)."""
    formula = "z_diff = (1/L) Σ_l |z1_l − z2_l|, shape (D,)"

    def build(sizes: dict[str, int], g: torch.Generator) -> list[Trial]:
        L, D = sizes["L"], sizes["D"]
        z1, z2 = torch.randn(L, D, generator=g, dtype=F64), torch.randn(L, D, generator=g, dtype=F64)
        want = (z1 - z2).abs().mean(dim=0)

        def run(f: Callable) -> None:
            expect(called(f, (z1.clone(), z2.clone()), ("z1", "z2"), UNCHANGED), [
                *tensor_rules("z_diff", (D,), shape_rules=[
                    (lambda o: tuple(o.shape) == (L, D),
                     f"z_diff has shape ({L}, {D}) = (L, D): average the L pairs"),
                    (lambda o: tuple(o.shape) == (L,),
                     f"z_diff has shape ({L},) = (L,): you averaged over the latent dimensions; average over the "
                     "batch of pairs (dim 0) and keep one value per latent dimension"),
                    (lambda o: o.numel() == 1,
                     "z_diff is a single number: keep one value per latent dimension, average over the pairs only"),
                ], meaning="one value per latent dimension"),
                finite_rule("z_diff", "the codes are finite"),
                (lambda o: close(o, (z1 - z2).mean(dim=0)),
                 f"the absolute value is missing: without it positive and negative differences cancel; {formula}"),
                (lambda o: close(o, (z1 - z2).mean(dim=0).abs()),
                 f"you took |mean(z1 − z2)|; the absolute value goes inside the mean: {formula}"),
                (lambda o: close(o, (z1 - z2).abs().sum(dim=0)),
                 f"you summed over the pairs; the metric averages them (divide by L): {formula}"),
                (lambda o: close(o, (z1 - z2).pow(2).mean(dim=0)),
                 f"you squared the difference; the metric uses the absolute difference: {formula}"),
                (lambda o: not close(o, want),
                 lambda o: f"z_diff differs from {formula}: {differs(o, want, lambda i: f'latent dimension {i[0]}')}"),
            ])
        return [run]

    return run_check("3.2", "z_diff",
                     "compute z_diff from the codes of the two halves of the pairs (step 4 of the lecture's section 2)",
                     fn, across_sizes(build, {"L": 8, "D": 4}, {"L": (10, 128), "D": (2, 9)}, seed=32,
                                      advice=assumed("a number of pairs or of latents", "z1.shape")),
                     hint="z1 and z2 have shape (L, D): one value per latent dimension, averaged over the L pairs")


# ------------------------------------------------------------------------------------------ Exercise 3.3
def _classifier_data(seed: int = 33, K: int = 5, D: int = 20, n: int = 100):
    """Few training points in D dimensions, K classes: train and eval accuracy differ clearly."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, D)) * 0.6

    def draw(n):
        y = rng.integers(0, K, n)
        return centres[y] + rng.normal(size=(n, D)), y

    (x_train, y_train), (x_eval, y_eval) = draw(n), draw(6 * n)
    return x_train, y_train, x_eval, y_eval


def _fitted(x_train, y_train, x_eval, y_eval) -> tuple[float, float]:
    """(train, eval) accuracy of the reference classifier."""
    from vaecourse.metrics.higgins import linear_classifier_accuracy

    return linear_classifier_accuracy(x_train, y_train, x_eval, y_eval, standardize=False)[:2]


@functools.lru_cache(maxsize=4)
def _classifier_case(seed: int, K: int, D: int, n: int):
    """The data of one test case and the reference's accuracies on it (the first case's are fitted once a session)."""
    data = _classifier_data(seed, K, D, n)
    return data, _fitted(*data)


@own_state
def classifier_accuracy(fn: Callable[..., Any]) -> bool:
    """Exercise 3.3: ``fn(x_train, y_train, x_eval, y_eval)`` -> (train_accuracy, eval_accuracy) of a
    multinomial logistic regression fitted on the training points."""
    tol = 0.03  # other solvers / iterations of the same linear model land within this

    def build(sizes: dict[str, int], g: torch.Generator) -> list[Trial]:
        seed = 33 if sizes["D"] == 20 else int(torch.randint(2**62, (1,), generator=g))
        (x_train, y_train, x_eval, y_eval), (train, evaluation) = _classifier_case(seed, sizes["K"], sizes["D"],
                                                                                  sizes["N"])

        def near(a, b):
            return abs(number_value(a) - float(b)) <= tol

        def fitted_on_eval(o: Any) -> bool:  # fitted only when the answer is wrong (a fit costs a fraction of a second)
            on_eval = _fitted(x_eval, y_eval, x_train, y_train)[::-1]
            return near(o[0], on_eval[0]) and near(o[1], on_eval[1])

        def run(f: Callable) -> None:
            out = called(f, (x_train.copy(), y_train.copy(), x_eval.copy(), y_eval.copy()),
                         ("x_train", "y_train", "x_eval", "y_eval"), UNCHANGED)
            if isinstance(out, (tuple, list)) and len(out) == 2 and all(is_real_number(v) for v in out) and \
                    near(out[0], train) and near(out[1], evaluation):
                return  # right: the diagnostics below only name what is wrong
            expect(out, [
                (lambda o: not isinstance(o, (tuple, list)) or len(o) != 2,
                 lambda o: f"expected a pair (train_accuracy, eval_accuracy), got {describe(o)}"),
                (lambda o: not all(is_real_number(v) for v in o),
                 lambda o: "each accuracy should be a single number (the fraction predicted correctly), got "
                           + " and ".join(describe(v) for v in o)),
                (lambda o: any(not 0 <= number_value(v) <= 1 for v in o),
                 lambda o: f"accuracies are fractions in [0, 1], got {number_value(o[0]):.4g} and "
                           f"{number_value(o[1]):.4g}"
                           + (" (percent? divide by 100)" if any(1 < number_value(v) <= 100 for v in o) else "")),
                (lambda o: near(o[0], 1 - train) and near(o[1], 1 - evaluation),
                 "you returned error rates (1 - accuracy); return the accuracies, the fraction predicted correctly"),
                (fitted_on_eval,
                 "your classifier was fitted on the evaluation points: fit on (x_train, y_train) only, then score "
                 "both sets"),
                (lambda o: near(o[0], evaluation) and near(o[1], train) and not near(train, evaluation),
                 "train and eval are swapped: return (train_accuracy, eval_accuracy)"),
                (lambda o: near(o[1], train) and not near(train, evaluation),
                 lambda o: f"your eval accuracy ({number_value(o[1]):.4g}) equals the training accuracy: score the "
                           "held-out points (x_eval, y_eval), never the ones the classifier was fitted on"),
                (lambda o: number_value(o[0]) >= 0.999 and train < 0.999,
                 "training accuracy 1.0: that is not a linear classifier of low VC dimension (or it was fitted on "
                 "the training points many times); use sklearn.linear_model.LogisticRegression"),
                (lambda o: not near(o[0], train) or not near(o[1], evaluation),
                 lambda o: f"got train {number_value(o[0]):.4g}, eval {number_value(o[1]):.4g}; a multinomial "
                           f"logistic regression fitted on (x_train, y_train) gives train {train:.4g}, eval "
                           f"{evaluation:.4g}: fit LogisticRegression (enough iterations to converge) on the "
                           "training points only"),
            ])
        return [run]

    return run_check("3.3", "the linear classifier",
                     "fit a logistic regression on the training points and report (train, eval) accuracy (the "
                     "lecture's section 2)", fn,
                     across_sizes(build, {"K": 5, "D": 20, "N": 100}, {"K": (3, 4), "D": (8, 15), "N": (60, 200)},
                                  seed=33, count=1, advice=assumed("a number of points, features or classes",
                                                                   "the arrays")),
                     hint="sklearn.linear_model.LogisticRegression(max_iter=2000): fit it on the training points, "
                          "then score both sets")


# ------------------------------------------------------------------------------------------ Exercise 3.4
BASE_MI = np.array([[1.2, 0.05, 0.30],
                    [0.4, 0.60, 0.10],
                    [0.1, 0.55, 0.90],
                    [0.0, 0.10, 0.20]])  # (D=4, K=3)
BASE_ENTROPY = np.array([1.8, 0.7, 3.4])


@own_state
def mig_normalisation(fn: Callable[[np.ndarray, np.ndarray], Any]) -> bool:
    """Exercise 3.4: ``fn(mutual_info (D, K), entropy (K,))`` -> MIG, the mean over factors of
    (largest - second largest I over the latents) / H(v_k)."""
    value = number_value

    def build(sizes: dict[str, int], g: torch.Generator) -> list[Trial]:
        D, K = sizes["D"], sizes["K"]
        if (D, K) == BASE_MI.shape:
            mi, entropy = BASE_MI, BASE_ENTROPY
        else:
            rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=g)))
            entropy = rng.uniform(0.5, 3.5, K)
            mi = rng.uniform(0.0, 1.0, (D, K)) ** 2 * entropy  # I(z_j; v_k) <= H(v_k)
        # and a sharply disentangled code: each factor read by one latent (I = 0.97 H), the others near 0, so that
        # every normalised gap is near 1; the first case's gaps are below 0.5, where a cap or a saturating formula
        # (a clip to [0, 0.5], a tanh) agrees with MIG
        # (the top shares 0.97, 0.87, 0.77 differ by factor, so that the mean gap over the mean entropy differs too)
        sharp = 0.03 * np.random.default_rng(D * 100 + K).uniform(0.0, 1.0, (D, K)) * entropy
        sharp[np.arange(K) % D, np.arange(K)] = (0.97 - 0.1 * (np.arange(K) % 3)) * entropy

        def case(mi: np.ndarray, entropy: np.ndarray) -> Trial:
            top = np.sort(mi, axis=0)[::-1]
            gaps = top[0] - top[1]
            want = float(np.mean(gaps / entropy))
            by_latent = np.sort(mi, axis=1)[:, ::-1]

            def run(f: Callable) -> None:
                out = called(f, (mi.copy(), entropy.copy()), ("mutual_info", "entropy"), UNCHANGED)
                expect(out, [
                    (lambda o: isinstance(o, tuple), "return the score alone (one number), not a tuple"),
                    (lambda o: isinstance(o, (list, np.ndarray, Tensor)) and (o.numel() if isinstance(o, Tensor)
                                                                              else np.size(o)) == K,
                     "you returned one gap per factor: MIG is their mean over the factors"),
                    (lambda o: not is_real_number(o), lambda o: f"MIG is a single number (a float), got {describe(o)}"),
                    (lambda o: not np.isfinite(value(o)), "MIG came out NaN or inf: the entropies here are positive"),
                    (lambda o: np.isclose(value(o), np.mean(gaps)),
                     "you did not divide by the factor's entropy: each gap is divided by H(v_k), so factors with "
                     "many values (position) and few (shape) are on the same [0, 1] scale"),
                    (lambda o: np.isclose(value(o), np.mean(gaps) / np.mean(entropy)),
                     "divide each factor's gap by its own entropy H(v_k) before averaging, not the mean gap by the "
                     "mean entropy"),
                    (lambda o: np.isclose(value(o), np.mean(gaps / top[0])),
                     "you divided by the largest mutual information; MIG divides by the factor's entropy H(v_k)"),
                    (lambda o: np.isclose(value(o), np.sum(gaps / entropy)),
                     "you summed over the factors; MIG averages them"),
                    (lambda o: np.isclose(value(o), np.mean((by_latent[:, 0] - by_latent[:, 1]))) or np.isclose(
                        value(o), np.mean(np.divide(by_latent[:, 0] - by_latent[:, 1],
                                                    entropy[np.argmax(mi, axis=1)]))),
                     "you sorted each latent's row (over factors); MIG sorts each factor's column: for factor k, the "
                     "two latents with the largest I(z_j; v_k)"),
                    (lambda o: np.isclose(value(o), np.mean((top[0] - top[-1]) / entropy)),
                     "you took the largest minus the smallest; the gap is between the largest and the second largest"),
                    (lambda o: not np.isclose(value(o), want),
                     lambda o: f"{mismatch(value(o), want)}: MIG = mean over k of (I_(1)k − I_(2)k) / H_k"),
                ])
            return run

        return [case(mi, entropy), case(sharp, entropy)]

    return run_check("3.4", "MIG's entropy normalisation",
                     "compute the MIG score from the mutual-information matrix and the factors' entropies", fn,
                     across_sizes(build, {"D": 4, "K": 3}, {"D": (5, 9), "K": (2, 7)}, seed=34,
                                  advice=assumed("a number of latents or factors", "mutual_info.shape")),
                     hint="mutual_info has shape (D, K), one column per factor: for each factor, the gap between its "
                          "two most informative latents, over that factor's entropy; then the mean over factors")


__all__ = ["classifier_accuracy", "fixed_factor_pairs", "mig_normalisation", "z_diff"]
