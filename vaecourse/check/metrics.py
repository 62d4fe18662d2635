"""Exercise checks of chapter 3 (disentanglement metrics): fixed-factor pairs, z_diff, the linear classifier,
MIG's entropy normalisation."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from vaecourse.check.core import (F64, Problem, close, describe, expect, finite_rule, fmt, is_real_number,
                                  number_value, run_check, seeded, tensor_rules)

DSPRITES_SIZES = (1, 3, 6, 40, 32, 32)


def _grid():
    from vaecourse.data import FactorImages

    return FactorImages(DSPRITES_SIZES, ("color", "shape", "scale", "orientation", "posX", "posY"))


# ------------------------------------------------------------------------------------------ Exercise 3.1
def fixed_factor_pairs(fn: Callable[..., Any]) -> bool:
    """Exercise 3.1: ``fn(dataset, y, batch_size, generator)`` -> (v1, v2), each (L, K), agreeing on column y only."""
    data = _grid()
    L, K, y = 256, data.num_factors, 3  # y = 3: orientation, 40 values

    def pair_rules(out: Any) -> list:
        return [
            (lambda o: isinstance(o, Tensor) and o.dim() == 3 and o.shape[0] == 2,
             "you returned one stacked tensor (2, L, K); return the two batches as a tuple: return v1, v2"),
            (lambda o: not isinstance(o, (tuple, list)) or len(o) != 2,
             lambda o: f"expected a pair (v1, v2), got {describe(o)}: return v1, v2"),
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

    def pairs(f: Callable, seed: int) -> tuple[Tensor, Tensor]:
        return expect(f(data, y, L, seeded(seed)), pair_rules(None))

    def structure(f: Callable) -> None:
        v1, v2 = pairs(f, 31)
        try:
            data.check_factors(v1), data.check_factors(v2)
        except ValueError as error:
            raise Problem(f"not valid factor classes: {error}") from None
        if torch.equal(v1, v2):
            raise Problem("v2 is a copy of v1: all factors agree; only factor y must be shared, the others are drawn "
                          "independently (sample v2 with dataset.sample_factors, then copy column y from v1)")
        agree = (v1 == v2).double().mean(dim=0)  # (K,) fraction of pairs that agree on each factor
        if agree[y] < 1:
            fixed = [k for k in range(K) if agree[k] == 1 and DSPRITES_SIZES[k] > 1]
            extra = (f" (you fixed column {fixed[0]}, {data.factor_names[fixed[0]]}; y counts the columns from 0)"
                     if fixed else "")
            raise Problem(f"v1[:, y] and v2[:, y] differ in {int((v1[:, y] != v2[:, y]).sum())} of {L} pairs: every "
                          f"pair must agree on factor y = {y}{extra}; e.g. v2[:, y] = v1[:, y]")
        others = [k for k in range(K) if k != y and DSPRITES_SIZES[k] > 1]
        if any(agree[k] == 1 for k in others):
            k = next(k for k in others if agree[k] == 1)
            raise Problem(f"the pairs also all agree on factor {k} ({data.factor_names[k]}): only factor y = {y} is "
                          "fixed; the others are drawn independently for v1 and v2")
        if v1[:, y].unique().numel() == 1:
            raise Problem("all pairs share one value of factor y: in the Higgins metric each pair gets its own "
                          "value (v1 and v2 agree on it); one value for the whole batch is the FactorVAE metric's "
                          "batch. Copy the column: v2[:, y] = v1[:, y]")
        if any(v1[:, k].unique().numel() == 1 for k in others):
            raise Problem("a factor other than y takes one value in the whole batch: draw L independent factor "
                          "vectors, dataset.sample_factors(batch_size, generator)")

    def randomness(f: Callable) -> None:
        a, b, c = pairs(f, 5), pairs(f, 5), pairs(f, 6)
        if not (torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])):
            raise Problem("the same seeded generator gave different pairs: draw all randomness from the generator "
                          "you are given, dataset.sample_factors(batch_size, generator)")
        if torch.equal(a[0], c[0]) and torch.equal(a[1], c[1]):
            raise Problem("different generators gave the same pairs: your pairs do not use the generator")

    return run_check("3.1", "a batch of fixed-factor pairs", "return L pairs of factor vectors that agree on factor y",
                     fn, [structure, randomness],
                     hint="v1 = dataset.sample_factors(batch_size, generator); v2 = dataset.sample_factors(batch_size, "
                          "generator); v2[:, y] = v1[:, y]; return v1, v2")


# ------------------------------------------------------------------------------------------ Exercise 3.2
def z_diff(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Exercise 3.2: ``fn(z1, z2)`` with codes (L, D) -> z_diff = mean over l of |z1_l - z2_l|, shape (D,)."""
    L, D = 8, 4
    g = seeded(32)
    z1, z2 = torch.randn(L, D, generator=g, dtype=F64), torch.randn(L, D, generator=g, dtype=F64)
    want = (z1 - z2).abs().mean(dim=0)
    formula = "z_diff = (1/L) Σ_l |z1_l − z2_l|, shape (D,)"

    def run(f: Callable) -> None:
        expect(f(z1.clone(), z2.clone()), [
            *tensor_rules("z_diff", (D,), shape_rules=[
                (lambda o: tuple(o.shape) == (L, D),
                 f"z_diff has shape ({L}, {D}) = (L, D): average the L pairs, .mean(dim=0)"),
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
             lambda o: f"z_diff differs from {formula}: got {fmt(o)}, expected {fmt(want)}"),
        ])

    return run_check("3.2", "z_diff", "return the mean over the batch of |z1 - z2|", fn, [run],
                     hint="(z1 - z2).abs().mean(dim=0)")


# ------------------------------------------------------------------------------------------ Exercise 3.3
def _classifier_data():
    rng = np.random.default_rng(33)
    K, D = 5, 20  # few training points in 20 dimensions: train and eval accuracy differ clearly
    centres = rng.normal(size=(K, D)) * 0.6

    def draw(n):
        y = rng.integers(0, K, n)
        return centres[y] + rng.normal(size=(n, D)), y

    (x_train, y_train), (x_eval, y_eval) = draw(100), draw(600)
    return x_train, y_train, x_eval, y_eval


def classifier_accuracy(fn: Callable[..., Any]) -> bool:
    """Exercise 3.3: ``fn(x_train, y_train, x_eval, y_eval)`` -> (train_accuracy, eval_accuracy) of a
    multinomial logistic regression fitted on the training points."""
    from vaecourse.metrics.higgins import linear_classifier_accuracy

    x_train, y_train, x_eval, y_eval = _classifier_data()
    train, evaluation, _ = linear_classifier_accuracy(x_train, y_train, x_eval, y_eval, standardize=False)
    on_eval = linear_classifier_accuracy(x_eval, y_eval, x_train, y_train, standardize=False)[1::-1]  # fitted on the eval points
    tol = 0.03  # other solvers / iterations of the same linear model land within this

    def near(a, b):
        return abs(number_value(a) - float(b)) <= tol

    def run(f: Callable) -> None:
        out = f(x_train.copy(), y_train.copy(), x_eval.copy(), y_eval.copy())
        expect(out, [
            (lambda o: not isinstance(o, (tuple, list)) or len(o) != 2,
             lambda o: f"expected a pair (train_accuracy, eval_accuracy), got {describe(o)}"),
            (lambda o: not all(is_real_number(v) for v in o),
             lambda o: "each accuracy should be a single number (np.mean(predictions == labels)), got "
                       + " and ".join(describe(v) for v in o)),
            (lambda o: any(not 0 <= number_value(v) <= 1 for v in o),
             lambda o: f"accuracies are fractions in [0, 1], got {number_value(o[0]):.3f} and {number_value(o[1]):.3f}"
                       + (" (percent? divide by 100)" if any(1 < number_value(v) <= 100 for v in o) else "")),
            (lambda o: near(o[0], 1 - train) and near(o[1], 1 - evaluation),
             "you returned error rates (1 - accuracy); return the accuracies, the fraction predicted correctly"),
            (lambda o: near(o[0], on_eval[0]) and near(o[1], on_eval[1]),
             "your classifier was fitted on the evaluation points: fit on (x_train, y_train) only, then score "
             "both sets"),
            (lambda o: near(o[0], evaluation) and near(o[1], train) and not near(train, evaluation),
             "train and eval are swapped: return (train_accuracy, eval_accuracy)"),
            (lambda o: near(o[1], train) and not near(train, evaluation),
             lambda o: f"your eval accuracy ({number_value(o[1]):.3f}) equals the training accuracy: score the held-out "
                       "points (x_eval, y_eval), never the ones the classifier was fitted on"),
            (lambda o: number_value(o[0]) >= 0.999 and train < 0.999,
             "training accuracy 1.0: that is not a linear classifier of low VC dimension (or it was fitted on "
             "the training points many times); use sklearn.linear_model.LogisticRegression"),
            (lambda o: not near(o[0], train) or not near(o[1], evaluation),
             lambda o: f"got train {number_value(o[0]):.3f}, eval {number_value(o[1]):.3f}; a multinomial logistic regression "
                       f"fitted on (x_train, y_train) gives train {train:.3f}, eval {evaluation:.3f}: fit "
                       "LogisticRegression(max_iter=2000) on the training points only"),
        ])

    return run_check("3.3", "the linear classifier", "fit a logistic regression, return (train, eval) accuracy",
                     fn, [run], hint="model = LogisticRegression(max_iter=2000).fit(x_train, y_train); "
                                     "return model.score(x_train, y_train), model.score(x_eval, y_eval)")


# ------------------------------------------------------------------------------------------ Exercise 3.4
def mig_normalisation(fn: Callable[[np.ndarray, np.ndarray], Any]) -> bool:
    """Exercise 3.4: ``fn(mutual_info (D, K), entropy (K,))`` -> MIG, the mean over factors of
    (largest - second largest I over the latents) / H(v_k)."""
    mi = np.array([[1.2, 0.05, 0.30],
                   [0.4, 0.60, 0.10],
                   [0.1, 0.55, 0.90],
                   [0.0, 0.10, 0.20]])  # (D=4, K=3)
    entropy = np.array([1.8, 0.7, 3.4])
    top = np.sort(mi, axis=0)[::-1]
    gaps = top[0] - top[1]
    want = float(np.mean(gaps / entropy))
    by_latent = np.sort(mi, axis=1)[:, ::-1]

    value = number_value

    def run(f: Callable) -> None:
        out = f(mi.copy(), entropy.copy())
        expect(out, [
            (lambda o: isinstance(o, tuple),
             "return the score alone (one number), not a tuple"),
            (lambda o: isinstance(o, (list, np.ndarray, Tensor)) and (o.numel() if isinstance(o, Tensor)
                                                                      else np.size(o)) == 3,
             "you returned one gap per factor: MIG is their mean over the factors"),
            (lambda o: not is_real_number(o),
             lambda o: f"MIG is a single number (a float), got {describe(o)}"),
            (lambda o: not np.isfinite(value(o)), "MIG came out NaN or inf: the entropies here are positive"),
            (lambda o: np.isclose(value(o), np.mean(gaps)),
             "you did not divide by the factor's entropy: each gap is (top − second) / H(v_k), so factors with "
             "many values (position) and few (shape) are on the same [0, 1] scale"),
            (lambda o: np.isclose(value(o), np.mean(gaps) / np.mean(entropy)),
             "divide each factor's gap by its own entropy H(v_k) before averaging, not the mean gap by the mean "
             "entropy"),
            (lambda o: np.isclose(value(o), np.mean(gaps / top[0])),
             "you divided by the largest mutual information; MIG divides by the factor's entropy H(v_k)"),
            (lambda o: np.isclose(value(o), np.sum(gaps / entropy)),
             "you summed over the factors; MIG averages them"),
            (lambda o: np.isclose(value(o), np.mean((by_latent[:, 0] - by_latent[:, 1]))) or np.isclose(
                value(o), np.mean(np.divide(by_latent[:, 0] - by_latent[:, 1], entropy[np.argmax(mi, axis=1)]))),
             "you sorted each latent's row (over factors); MIG sorts each factor's column: for factor k, the two "
             "latents with the largest I(z_j; v_k), i.e. np.sort(mutual_info, axis=0)"),
            (lambda o: np.isclose(value(o), np.mean((top[0] - top[-1]) / entropy)),
             "you took the largest minus the smallest; the gap is between the largest and the second largest"),
            (lambda o: not np.isclose(value(o), want),
             lambda o: f"got {value(o):.4f}, expected {want:.4f}: mean over k of (I_(1)k − I_(2)k) / H_k"),
        ])

    return run_check("3.4", "MIG's entropy normalisation", "return the mean over factors of the gap over the entropy",
                     fn, [run], hint="top = np.sort(mutual_info, axis=0)[::-1]; "
                                     "return np.mean((top[0] - top[1]) / entropy)")


__all__ = ["classifier_accuracy", "fixed_factor_pairs", "mig_normalisation", "z_diff"]
