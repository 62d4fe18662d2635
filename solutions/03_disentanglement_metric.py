# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 3 exercises — the disentanglement metric, piece by piece
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vaecourse/vaecourse/blob/main/solutions/03_disentanglement_metric.ipynb)
#
# Four functions, each one step of the lecture (`notebooks/03_disentanglement_metric.ipynb`): the pairs that share
# a factor, $z_\text{diff}$, the linear classifier, and MIG's normalisation. Fill in the body where it says
# `raise NotImplementedError`, run the cell, then the **check** cell below it. If an exercise is not done yet the
# check says so and the rest of the notebook uses the library's version, so *Run All* always reaches the end.
# At the end your functions are assembled into the whole Higgins metric and compared with the library.
#
# Then two exercises to think through: **3.5** (*predict, then run*): which metric notices that a code has been
# rotated; **3.6** (*vary and measure*): the number of pairs behind each point of the metric, and what it does to the
# score. You answer in a small function; the check reads the run, tells you whether you were right, and explains the
# outcome either way.

# %% tags=["colab"]
# On Colab only: install the course library from the repository (torch and numpy are left as Colab has them).
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "vaecourse @ git+https://github.com/vaecourse/vaecourse"], check=True)

# %%
import numpy as np
import torch
from IPython.display import display
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

import vaecourse
from vaecourse import check, metrics
from vaecourse.data import DSprites, FactorImages, Pooled, SubGrid
from vaecourse.metrics.higgins import fixed_factor_pairs as library_pairs
from vaecourse.metrics.higgins import linear_classifier_accuracy
from vaecourse.metrics.higgins import z_diff as library_z_diff
from vaecourse.metrics.mig import mig_from_mutual_info
from vaecourse.viz import grouped_score_bars, image_grid

FAST = vaecourse.fast_mode()
vaecourse.seed_everything(0)
dsprites = DSprites()
print(dict(zip(dsprites.factor_names, dsprites.factor_sizes)))

# %% [markdown]
# ## Exercise 3.1 — a batch of fixed-factor pairs
#
# Return two LongTensors `v1, v2` of shape `(batch_size, K)` — factor classes, one row per pair — such that every
# pair agrees on factor `y` (a column index: 0 colour, 1 shape, 2 scale, 3 orientation, 4 posX, 5 posY) and all
# other factors are drawn independently. Draw every random number from `generator`, with
# `dataset.sample_factors(n, generator)` (uniform classes, shape `(n, K)`).

# %%
def fixed_factor_pairs(dataset, y, batch_size, generator):
    # Exercise 3.1: a batch of fixed-factor pairs — draw v1, v2 of shape (batch_size, K) from generator that agree on factor y only (steps 1-2 of the lecture's section 2); the check tries other grids, factors and fresh seeds
    # BEGIN SOLUTION
    # Why: two independent draws agree on nothing in particular; copying column y of v1 into v2 makes each pair
    # share its own value of factor y while every other factor stays independent, and all the randomness comes
    # from the generator the metric passes in.
    v1 = dataset.sample_factors(batch_size, generator)
    v2 = dataset.sample_factors(batch_size, generator)
    v2[:, y] = v1[:, y]
    return v1, v2
    # END SOLUTION


# %%
if not check.fixed_factor_pairs(fixed_factor_pairs):
    fixed_factor_pairs = library_pairs  # fall back to the library so the notebook runs on

# %%
v1, v2 = fixed_factor_pairs(dsprites, 3, 8, torch.Generator().manual_seed(0))  # orientation shared
display(image_grid(torch.cat([dsprites.render(v1), dsprites.render(v2)]), ncols=8,
                   title="your pairs: each column shares its orientation"))

# %% [markdown]
# ## Exercise 3.2 — $z_\text{diff}$
#
# Given the codes of the two halves of a batch, `z1` and `z2` of shape `(L, D)`, return
# $z^b_\text{diff} = \frac1L\sum_{l=1}^L |z_{1,l} - z_{2,l}|$, shape `(D,)`.

# %%
def z_diff(z1, z2):
    # Exercise 3.2: z_diff — compute z_diff of step 4 from the codes z1 and z2 (L, D), shape (D,); the check tries other numbers of pairs and latents
    # BEGIN SOLUTION
    # Why: in a disentangled code the coordinate of the shared factor is equal within each pair, so its mean
    # absolute difference is near 0; the absolute value keeps positive and negative differences from cancelling.
    return (z1 - z2).abs().mean(dim=0)
    # END SOLUTION


# %%
if not check.z_diff(z_diff):
    z_diff = library_z_diff

# %% [markdown]
# ## Exercise 3.3 — the linear classifier
#
# Train a multinomial logistic regression (`sklearn.linear_model.LogisticRegression`, e.g. `max_iter=2000`) on
# the training points `(x_train, y_train)` and return `(train_accuracy, eval_accuracy)`: the fraction of correct
# predictions on the training points and on the held-out points `(x_eval, y_eval)`. The score of the metric is the
# second number.

# %%
def classifier_accuracy(x_train, y_train, x_eval, y_eval):
    # Exercise 3.3: the linear classifier — fit a logistic regression on the training points and return (train_accuracy, eval_accuracy); the check tries a second data set of other sizes
    # BEGIN SOLUTION
    # Why: the score is the held-out accuracy of a classifier of low VC dimension fitted on the training points
    # only; score() is the fraction predicted correctly, and fit() leaves the arrays it is given unchanged.
    model = LogisticRegression(max_iter=2000).fit(x_train, y_train)
    return model.score(x_train, y_train), model.score(x_eval, y_eval)
    # END SOLUTION


# %%
if not check.classifier_accuracy(classifier_accuracy):
    def classifier_accuracy(x_train, y_train, x_eval, y_eval):
        return linear_classifier_accuracy(x_train, y_train, x_eval, y_eval)[:2]

# %% [markdown]
# ## Exercise 3.4 — MIG's entropy normalisation
#
# You are given the mutual information `mutual_info[j, k]` $= I(z_j; v_k)$ in nats, shape `(D, K)`, and each
# factor's entropy `entropy[k]` $= H(v_k)$, shape `(K,)`. Return the MIG, one number:
#
# $$\mathrm{MIG} = \frac1K\sum_{k=1}^K \frac{I(z_{j^{(1)}}; v_k) - I(z_{j^{(2)}}; v_k)}{H(v_k)}$$
#
# where $j^{(1)}$ and $j^{(2)}$ are the dimensions with the largest and second-largest information about $v_k$.
# Why divide by $H(v_k)$? Because $I(z; v_k) \le H(v_k)$: the division puts a 3-valued factor (shape) and a
# 32-valued one (position) on the same scale [0, 1].

# %%
def mig_normalisation(mutual_info, entropy):
    # Exercise 3.4: MIG's entropy normalisation — compute the MIG score from mutual_info (D, K) and entropy (K,); the check tries other numbers of latents and factors
    # BEGIN SOLUTION
    # Why: sorting each factor's column (axis 0) ranks the latents by their information about it; the gap between
    # the top two, over H(v_k) >= I, lies in [0, 1], and MIG averages it over the factors. np.sort returns a copy, so
    # the inputs stay unchanged.
    top = np.sort(mutual_info, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / entropy))
    # END SOLUTION


# %%
if not check.mig_normalisation(mig_normalisation):
    def mig_normalisation(mutual_info, entropy):
        return mig_from_mutual_info(mutual_info, entropy)[0]

# %% [markdown]
# ## Put together: the Higgins metric from your functions
#
# Your four pieces make the whole metric. Below it runs on a small dSprites grid for a PCA code and for the ideal
# code (the factors themselves, `FactorImages`), beside the library's `metrics.higgins` on the same data (with
# `standardize=False`: a plain logistic regression on the raw z_diff, like yours). The two do not draw random numbers
# in the same order, so expect close, not identical, accuracies; with few points (FAST mode) they scatter more.

# %%
small = SubGrid(dsprites, orientation=range(0, 40, 8), posX=range(0, 32, 4), posY=range(0, 32, 4))
grid = Pooled(small, side=32)  # the small grid seen at 32x32, as the lecture's models and PCA see it
varying = list(grid.varying_factors)
n_train, n_eval, L = (100, 50, 32) if FAST else (2_000, 1_000, 64)


def my_higgins(dataset, representation, seed):
    g = torch.Generator().manual_seed(seed)

    def points(n):
        features, labels = [], []
        for _ in range(n):
            label = int(torch.randint(len(varying), (1,), generator=g))  # y ~ Unif over the varying factors
            a, b = fixed_factor_pairs(dataset, varying[label], L, g)
            codes = torch.as_tensor(representation(dataset.render(torch.cat([a, b]))), dtype=torch.float64)  # (2L, D)
            features.append(z_diff(codes[:L], codes[L:]).numpy())
            labels.append(label)
        return np.array(features), np.array(labels)

    return classifier_accuracy(*points(n_train), *points(n_eval))[1]


x_fit = grid.render(grid.sample_factors(2_000, torch.Generator().manual_seed(1))).flatten(1).numpy()
pca = PCA(n_components=10, random_state=0).fit(x_fit)


def pca_code(x):
    return pca.transform(x.flatten(1).numpy())


oracle_grid = FactorImages(grid.factor_sizes, grid.factor_names)


def ideal_code(x):
    return x.flatten(1)[:, varying]


for name, data, code in (("PCA", grid, pca_code), ("ideal code", oracle_grid, ideal_code)):
    library = metrics.higgins(data, code, generator=torch.Generator().manual_seed(0), batch_size=L, n_train=n_train,
                              n_eval=n_eval, standardize=False)["eval_accuracy"]
    print(f"{name:10s} yours {my_higgins(data, code, 0):.3f}   library {library:.3f}   (chance {1 / len(varying):.2f})")

# %% [markdown]
# ## And MIG with your normalisation
#
# The library's `metrics.mig` returns the mutual-information matrix and the entropies it used; your function turns
# them into the score.

# %%
result = metrics.mig(oracle_grid, ideal_code, generator=torch.Generator().manual_seed(0), n_points=2_000)
print(f"ideal code: your MIG {mig_normalisation(result['mutual_info'], result['entropy']):.3f}, "
      f"library {result['mig']:.3f}")
result = metrics.mig(grid, pca_code, generator=torch.Generator().manual_seed(0), n_points=2_000)
print(f"PCA:        your MIG {mig_normalisation(result['mutual_info'], result['entropy']):.3f}, "
      f"library {result['mig']:.3f}")

# %% [markdown]
# ## Exercise 3.5 — predict, then run: which metric notices a rotation?
#
# Take the ideal code (the factors themselves) and rotate it by a random orthogonal matrix: no information is lost,
# but every factor is now spread over every dimension, as entangled as a code can be. The cell after next scores the
# ideal code and the rotated one with the Higgins metric and with MIG. **Before you run it**, predict which metric
# drops below half of its ideal score: `"Higgins"`, `"MIG"`, `"both"` or `"neither"`.

# %%
def predict_rotation():
    # Exercise 3.5: [predict] rotate the ideal code: which metric falls below half its ideal score? Return "Higgins", "MIG", "both" or "neither"
    # BEGIN SOLUTION
    # A linear classifier on z_diff finds the fixed factor's direction whatever the axes (Higgins saturates); MIG
    # needs one dimension per factor, and the rotation gives it none.
    return "MIG"
    # END SOLUTION


# %%
rotation = torch.linalg.qr(torch.randn(len(varying), len(varying), generator=torch.Generator().manual_seed(7),
                                       dtype=torch.float64))[0]


def rotated_code(x):
    return ideal_code(x).double() @ rotation  # each coordinate mixes all the varying factors


rotation_scores = {name: {"Higgins": metrics.higgins(oracle_grid, code, generator=torch.Generator().manual_seed(0),
                                                     batch_size=L, n_train=n_train,
                                                     n_eval=n_eval)["eval_accuracy"],  # the library's metric
                          "MIG": metrics.mig(oracle_grid, code, generator=torch.Generator().manual_seed(0),
                                             n_points=2_000)["mig"]}
                   for name, code in (("ideal code", ideal_code), ("rotated", rotated_code))}
display(grouped_score_bars(rotation_scores, title="the ideal code and the same code rotated"))

# %%
answered = check.predict_rotation(predict_rotation, rotation_scores)

# %% [markdown]
# ## Exercise 3.6 — vary and measure: how many pairs make a point?
#
# Each training point of the metric averages $|z_1 - z_2|$ over L pairs (the paper: L = 64). Choose your own L (a
# whole number from 1 to 64, not 32, the baseline run beside it) in `my_pairs`, run the next cell, which scores the
# PCA code with your L and with L = 32, and return the score of your run from `pca_score(result)`: the
# `"eval_accuracy"` of the dict `metrics.higgins` returned. The check recomputes it and explains what L changed. Try a
# small L (1, 2, 4) and a large one.

# %%
def my_pairs():
    # Exercise 3.6: [vary and measure] choose L, the number of pairs averaged into one point: return a whole number from 1 to 64, other than 32
    # BEGIN SOLUTION
    return 4
    # END SOLUTION


# %%
L_baseline = 32
pairs_mine = check.choose(my_pairs, "3.6", "L", low=1, high=64, default=4, integer=True, taken=(L_baseline,))
sizes = dict(n_train=100, n_eval=50) if FAST else dict(n_train=1_000, n_eval=500)  # ~10 s on a 2-core laptop CPU
pair_runs = {pairs: metrics.higgins(grid, pca_code, generator=torch.Generator().manual_seed(0), batch_size=pairs,
                                    standardize=False, **sizes)
             for pairs in (pairs_mine, L_baseline)}


# %%
def pca_score(result):
    # Exercise 3.6: [vary and measure] read your run: return the metric's score, the eval accuracy in the dict metrics.higgins returned
    # BEGIN SOLUTION
    return result["eval_accuracy"]
    # END SOLUTION


# %%
answered = check.vary_pairs(pca_score, pair_runs, pairs_mine, baseline=L_baseline, chance=1 / len(varying))


# %% [markdown]
# **Going further.** (1) Replace the logistic regression by a k-nearest-neighbour classifier: what happens to the
# PCA score, and why does Higgins et al. insist on a classifier of *low VC dimension*? (2) Rotate the ideal code by a
# random orthogonal matrix (`torch.linalg.qr`) and recompute both metrics: which one notices?
