"""The FactorVAE metric [kim2018] (defaults of [locatello2019]).

Kim & Mnih fix the two weaknesses of the Higgins metric they point out: its linear classifier can
succeed when a factor is spread over several latents (so a poorly disentangled code can still score
~100%), and it has hyper-parameters of its own (the classifier's optimiser). Their version:

1. normalise each code dimension by its standard deviation over the data (estimated on
   ``n_variance`` points) and prune collapsed dimensions, those with std < 0.05 [kim2018];
2. for one point: choose a factor k uniformly, draw L = 64 factor vectors that all share a random value
   of factor k, encode them, and take the dimension d whose normalised variance over the batch is
   smallest: the vote (d, k);
3. the classifier is a majority vote: dimension d predicts the factor it voted for most often on the
   training points. The score is the fraction of evaluation votes that classifier gets right.

A perfect score needs every factor to own a dimension that is (nearly) constant when the factor is
fixed. Chance depends on the votes; one dimension cannot predict more than one factor, so a code that
squeezes all factors into one dimension scores about 1/K.

Shape letters: n points, L codes per point, K factors, D code dimensions.
"""

from __future__ import annotations

import numpy as np
import torch

from vaecourse import values
from vaecourse.metrics.checks import check_count, check_dataset, check_draw, check_generator
from vaecourse.metrics.codes import DEFAULT_ENCODE_BATCH, CodeSource

POINTS_PER_DRAW = 64


def factorvae_votes(dataset, source: CodeSource, n_points: int, batch_size: int, generator: torch.Generator,
                    scale: np.ndarray, active: np.ndarray) -> np.ndarray:
    """``votes (K, D)``: how often fixing factor k made dimension d the least variable one (normalised)."""
    from vaecourse.metrics.checks import check_table
    from vaecourse.metrics.higgins import _check_points

    _check_points("factorvae_votes", dataset, source, n_points, batch_size, generator)
    if batch_size < 2:
        raise ValueError(f"factorvae_votes' batch_size must be an int >= 2 (a variance needs two codes), got {batch_size}")
    scale = check_table(scale, "factorvae_votes' scale", dims=(1,), what="the codes' global standard deviations",
                        layout="(D,)")
    if isinstance(active, (str, bytes)) or np.asarray(active).dtype != bool or np.asarray(active).shape != scale.shape \
            or not np.asarray(active).any() or not (scale[np.asarray(active)] > 0).all():
        raise ValueError(f"factorvae_votes' active must be a boolean mask (D,) = {scale.shape} of the dimensions used, "
                         f"at least one True and each with scale > 0, got {values.shown(active)}")
    active = np.asarray(active)
    varying = torch.tensor(dataset.varying_factors)
    K, D = len(varying), scale.shape[0]
    votes = np.zeros((K, D), dtype=np.int64)
    active_index = np.flatnonzero(active)
    for start in range(0, n_points, POINTS_PER_DRAW):
        P = min(POINTS_PER_DRAW, n_points - start)
        label = torch.randint(K, (P,), generator=generator)  # factor k ~ Unif over the varying factors
        factors = dataset.sample_factors(P * batch_size, generator).view(P, batch_size, -1)  # (P, L, K_all)
        ks = varying[label].to(factors.device)
        rows = torch.arange(P, device=factors.device)
        factors[rows, :, ks] = factors[rows, 0, ks][:, None]  # the whole batch shares one value of factor k
        codes = source(factors.reshape(P * batch_size, -1)).reshape(P, batch_size, -1)  # (P, L, D)
        if codes.shape[-1] != scale.shape[0]:
            raise ValueError(f"factorvae_votes' scale must hold one standard deviation per code dimension "
                             f"({codes.shape[-1]}), got {scale.shape[0]}")
        normalised = codes[:, :, active] / scale[active]  # 1. divide by the global std [kim2018]
        local = normalised.var(axis=1, ddof=1)  # (P, D_active)
        chosen = active_index[local.argmin(axis=1)]  # 2. the least variable dimension
        np.add.at(votes, (label.numpy(), chosen), 1)
    return votes


def factorvae(dataset, representation_fn, *, generator: torch.Generator, batch_size: int = 64, n_train: int = 10_000,
              n_eval: int = 5_000, n_variance: int = 10_000, prune_threshold: float = 0.05,
              encode_batch_size: int = DEFAULT_ENCODE_BATCH) -> dict:
    """The FactorVAE disentanglement metric [kim2018]: majority-vote accuracy of argmin-variance votes.

    Arguments as for :func:`vaecourse.metrics.higgins`; ``n_variance`` points estimate each dimension's
    global std, and dimensions with std < ``prune_threshold`` are pruned (collapsed). Returns
    ``train_accuracy``, ``eval_accuracy`` (the score), ``num_active_dims`` and the vote matrix.
    With no active dimension (a constant code) both accuracies are 0.
    """
    who = "factorvae"
    check_dataset(dataset, who, min_varying=2)
    check_generator(generator, who)
    K = len(dataset.varying_factors)
    batch_size = check_count(batch_size, "batch_size (L, codes per point)", at_least=2,
                             why="a variance needs two codes")
    n_train = check_count(n_train, "n_train", at_least=K, why=f"at least one point per factor; there are {K} factors")
    n_eval = check_count(n_eval, "n_eval", at_least=K, why=f"at least one point per factor; there are {K} factors")
    n_variance = check_count(n_variance, "n_variance", at_least=2, why="a variance needs two codes")
    check_draw(who, min(POINTS_PER_DRAW, max(n_train, n_eval)), batch_size)
    prune_threshold = values.non_negative.check("prune_threshold", prune_threshold)
    source = CodeSource(dataset, representation_fn, who, encode_batch_size)

    codes = source(dataset.sample_factors(n_variance, generator))  # (n_variance, D)
    scale = codes.std(axis=0, ddof=1)  # (D,) global std of each dimension
    active = (scale >= prune_threshold) & (scale > 0)  # a constant dimension has no scale to divide by
    result = {"num_active_dims": int(active.sum()), "chance": 1.0 / K, "batch_size": batch_size,
              "n_train": n_train, "n_eval": n_eval}
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "votes_train": np.zeros((K, codes.shape[1]), int)} | result
    train_votes = factorvae_votes(dataset, source, n_train, batch_size, generator, scale, active)  # (K, D)
    eval_votes = factorvae_votes(dataset, source, n_eval, batch_size, generator, scale, active)
    classifier = train_votes.argmax(axis=0)  # 3. majority vote: dimension d -> factor
    dims = np.arange(train_votes.shape[1])
    train = train_votes[classifier, dims].sum() / train_votes.sum()
    evaluation = eval_votes[classifier, dims].sum() / eval_votes.sum()
    return {"train_accuracy": float(train), "eval_accuracy": float(evaluation), "votes_train": train_votes} | result


__all__ = ["factorvae", "factorvae_votes"]
