"""The disentanglement metric of Higgins et al. (the "beta-VAE metric") [higgins2017, Sec. 3; slides].

A representation is disentangled when a single fixed factor can be *read off* its codes by a simple
classifier. One training point of the classifier is made like this [higgins2017, Sec. 3; slides "Disentanglement
Metric"]:

1. choose a factor y uniformly among the K factors that vary (for dSprites: shape, scale, orientation,
   posX, posY; the constant colour is left out, so K = 5 and chance is 1/5);
2. for l = 1..L draw two factor vectors v1_l, v2_l that agree on factor y and are independent otherwise;
3. render both, encode with the posterior mean: z1_l = mu(x1_l), z2_l = mu(x2_l);
4. z_diff = (1/L) sum_l |z1_l - z2_l|, one point (z_diff, y) per batch of L pairs.

The dimensions that encode factor y are the same in both images of every pair, so in a disentangled
code those coordinates of z_diff are near zero and a **linear** classifier of low VC dimension predicts
y; the score is its accuracy on held-out points. Defaults follow the large-scale study that reused the
metric [locatello2019]: L = 64, 10,000 training and 5,000 evaluation points, a multinomial
logistic regression (scikit-learn; features z-scored first, see ``linear_classifier_accuracy``); both
accuracies are reported.

Shape letters: P points (batches of pairs), L pairs per point, K factors, D code dimensions.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

from vaecourse import values
from vaecourse.metrics.checks import SKLEARN_SEED, check_count, check_dataset, check_draw, check_generator, check_supervised
from vaecourse.metrics.codes import DEFAULT_ENCODE_BATCH, CodeSource, sklearn_seed

POINTS_PER_DRAW = 64  # points drawn (and encoded) together; fixed, so the draws do not depend on batch sizes


def fixed_factor_pairs_batched(dataset, ys: Tensor, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """For each factor index ``ys[p]``, ``batch_size`` pairs of factor vectors that agree on it -> ``(P, L, K)`` x 2.

    [slides: "sample v1_l and v2_l enforcing [v1_l]_k = [v2_l]_k if k = y"]. Draw order: all of v1, then all of v2.
    """
    who = "fixed_factor_pairs_batched"
    check_dataset(dataset, who)
    check_generator(generator, who)
    K = dataset.num_factors
    ys = values.numbers(f"factor indices (P,): whole numbers between 0 and {K - 1} (the data set has {K} factors)",
                        lambda t: t.dim() == 1 and bool((t == t.round()).all()) and bool(((t >= 0) & (t < K)).all())
                        ).check(f"{who}'s ys", ys).long()
    batch_size = check_count(batch_size, f"{who}'s batch_size (pairs per point)")
    check_draw(who, ys.shape[0], batch_size)
    P, L = ys.shape[0], batch_size
    v1 = dataset.sample_factors(P * L, generator).view(P, L, K)  # (P, L, K)
    v2 = dataset.sample_factors(P * L, generator).view(P, L, K)  # (P, L, K)
    rows = torch.arange(P, device=v1.device)
    ys = ys.to(v1.device)
    v2[rows, :, ys] = v1[rows, :, ys]  # factor y fixed within each pair, the others independent
    return v1, v2


def fixed_factor_pairs(dataset, y: int, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """One batch: ``batch_size`` pairs (v1_l, v2_l) of factor classes that agree on factor ``y`` -> ``(L, K)`` x 2."""
    check_dataset(dataset, "fixed_factor_pairs")
    y = values.integer(f"a factor index between 0 and {dataset.num_factors - 1}", 0, dataset.num_factors - 1
                       ).check("fixed_factor_pairs' y", y)
    batch_size = check_count(batch_size, "fixed_factor_pairs' batch_size")
    v1, v2 = fixed_factor_pairs_batched(dataset, torch.tensor([y]), batch_size, generator)
    return v1[0], v2[0]


def z_diff(z1, z2):
    """z_diff = (1/L) sum_l |z1_l - z2_l|: codes ``(..., L, D)`` -> ``(..., D)``.  [higgins2017, Sec. 3; slides]"""
    kind = values.numbers("codes (..., L, D) of finite real numbers with L >= 1 and D >= 1",
                          lambda t: t.dim() >= 2 and t.shape[-1] >= 1 and t.shape[-2] >= 1)
    tensor = isinstance(z1, Tensor)
    a, b = kind.check("z_diff's z1", z1), kind.check("z_diff's z2", z2)
    if a.shape != b.shape:
        raise ValueError(f"z_diff's z2 must have z1's shape {tuple(a.shape)} (one code per code of z1), got "
                         f"{tuple(b.shape)}")
    out = (a - b.to(a)).abs().mean(dim=-2) if tensor else \
        torch.from_numpy(np.abs(a.cpu().double().numpy() - b.cpu().double().numpy()).mean(axis=-2))
    if not bool(torch.isfinite(out).all()):  # finite codes near 3e38 whose difference overflows
        raise ValueError(f"z_diff's z1 and z2 are codes too large for their difference in {a.dtype} (up to "
                         f"{max(a.abs().max().item(), b.abs().max().item()):.3g} in size): they are no codes")
    return out if tensor else out.numpy()


def _check_points(who: str, dataset, source, n_points, batch_size, generator) -> None:
    """The arguments of a helper that draws points from a :class:`CodeSource`, or a ValueError naming the wrong one."""
    check_dataset(dataset, who)
    check_generator(generator, who)
    if not isinstance(source, CodeSource):
        raise ValueError(f"{who}'s source must be a CodeSource(dataset, representation_fn, ...) (codes of factor classes),"
                         f" got {type(source).__name__}")
    n_points = check_count(n_points, f"{who}'s n_points")
    check_draw(who, min(POINTS_PER_DRAW, n_points), check_count(batch_size, f"{who}'s batch_size"))


def higgins_points(dataset, source: CodeSource, n_points: int, batch_size: int,
                   generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_points`` classifier inputs ``z_diff (n, D)`` and labels ``(n,)`` (the position of y among the varying factors)."""
    _check_points("higgins_points", dataset, source, n_points, batch_size, generator)
    varying = torch.tensor(dataset.varying_factors)
    features, labels = [], []
    for start in range(0, n_points, POINTS_PER_DRAW):
        P = min(POINTS_PER_DRAW, n_points - start)
        label = torch.randint(len(varying), (P,), generator=generator)  # 1. y ~ Unif over the varying factors
        v1, v2 = fixed_factor_pairs_batched(dataset, varying[label], batch_size, generator)  # 2. (P, L, K) each
        K = v1.shape[-1]
        codes = source(torch.cat([v1.reshape(-1, K), v2.reshape(-1, K)]))  # 3. render + mu(x): (2 P L, D)
        z1, z2 = codes.reshape(2, P, batch_size, -1)  # (P, L, D) each
        features.append(z_diff(z1, z2))  # 4. (P, D)
        labels.append(label.numpy())
    return np.concatenate(features), np.concatenate(labels)


def linear_classifier_accuracy(x_train, y_train, x_eval, y_eval, *, seed: int = 0, max_iter: int = 2000,
                               standardize: bool = True) -> tuple[float, float, object]:
    """Fit a multinomial logistic regression on the training points; accuracy on both sets, and the model.

    The classifier of low VC dimension [higgins2017, Sec. 3] as in [locatello2019]: scikit-learn's
    ``LogisticRegression`` (L2, C = 1, lbfgs), with enough iterations to converge on raw pixels.
    ``standardize`` first z-scores each feature with the training points' mean and std: the L2 penalty then
    does not depend on the units of the code (an untrained encoder's tiny codes would otherwise look like
    chance), and rescaling a latent no longer changes the score. disentanglement_lib fits on raw features
    (``standardize=False``).
    """
    seed = SKLEARN_SEED.check("linear_classifier_accuracy's seed", seed)
    max_iter = check_count(max_iter, "linear_classifier_accuracy's max_iter")
    standardize = values.boolean.check("linear_classifier_accuracy's standardize", standardize)
    x_train, y_train, x_eval, y_eval = check_supervised(x_train, y_train, x_eval, y_eval, label_dims=(1,),
                                                        who="linear_classifier_accuracy")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = LogisticRegression(max_iter=max_iter, random_state=seed)
    if standardize:
        model = make_pipeline(StandardScaler(), model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    train = float(np.mean(model.predict(x_train) == y_train))
    evaluation = float(np.mean(model.predict(x_eval) == y_eval))
    return train, evaluation, model


def higgins(dataset, representation_fn, *, generator: torch.Generator, batch_size: int = 64, n_train: int = 10_000,
            n_eval: int = 5_000, standardize: bool = True, encode_batch_size: int = DEFAULT_ENCODE_BATCH) -> dict:
    """The beta-VAE disentanglement metric [higgins2017, Sec. 3] with the defaults of [locatello2019].

    dataset            a ground-truth data set (``DSprites``, ``cpu_subgrid(DSprites())``, ...)
    representation_fn  images ``(B, C, H, W)`` -> codes ``(B, D)`` (e.g. ``model.embed``, the posterior mean),
                       or a ``CodeCache`` from ``encode_grid(dataset, fn)`` (same scores, one encoder pass)
    generator          a seeded ``torch.Generator``: all the randomness (same seed, same score)
    batch_size         L, pairs averaged into one z_diff;  n_train, n_eval: classifier points
    standardize        z-score the z_diff features before the classifier (see ``linear_classifier_accuracy``)

    Returns ``train_accuracy``, ``eval_accuracy`` (the score), ``chance`` (1/K), ``eval_accuracy_per_factor``
    (recall of each varying factor) and the sizes used.
    """
    who = "higgins"
    check_dataset(dataset, who, min_varying=2)
    check_generator(generator, who)
    standardize = values.boolean.check(f"{who}'s standardize", standardize)
    varying = dataset.varying_factors
    K = len(varying)
    batch_size = check_count(batch_size, "batch_size (L, pairs per point)")
    n_train = check_count(n_train, "n_train", at_least=K, why=f"at least one point per factor; there are {K} factors")
    n_eval = check_count(n_eval, "n_eval", at_least=K, why=f"at least one point per factor; there are {K} factors")
    check_draw(who, min(POINTS_PER_DRAW, max(n_train, n_eval)), batch_size)
    source = CodeSource(dataset, representation_fn, who, encode_batch_size)

    x_train, y_train = higgins_points(dataset, source, n_train, batch_size, generator)  # (n_train, D), (n_train,)
    x_eval, y_eval = higgins_points(dataset, source, n_eval, batch_size, generator)
    if np.unique(y_train).size < 2:
        raise ValueError(f"the {n_train} training points all fixed the same factor; use a larger n_train")
    train, evaluation, model = linear_classifier_accuracy(x_train, y_train, x_eval, y_eval, seed=sklearn_seed(generator),
                                                         standardize=standardize)
    predicted = model.predict(x_eval)
    names = [dataset.factor_names[k] for k in varying]
    per_factor = {names[j]: float(np.mean(predicted[y_eval == j] == j)) if np.any(y_eval == j) else float("nan")
                  for j in range(K)}
    return {"train_accuracy": train, "eval_accuracy": evaluation, "chance": 1.0 / K,
            "eval_accuracy_per_factor": per_factor, "factors": names, "batch_size": batch_size,
            "n_train": n_train, "n_eval": n_eval}


__all__ = ["fixed_factor_pairs", "fixed_factor_pairs_batched", "higgins", "higgins_points",
           "linear_classifier_accuracy", "z_diff"]
