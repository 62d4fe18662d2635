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
# # Chapter 4 exercises — the Ladder VAE, piece by piece
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vaecourse/vaecourse/blob/main/solutions/04_ladder_vae.ipynb)
#
# Four functions, each the code form of one idea of the lecture (`notebooks/04_ladder_vae.ipynb`): the
# precision-weighted merge of Eq. (23)-(24), the warm-up schedule of Eq. (26), the active-unit statistic of
# Burda et al., and the stable log-mean-exp behind the importance-weighted log-likelihood. Fill in the body
# where it says `raise NotImplementedError`, run the cell, then run the **check** cell below it. If an exercise
# is not done yet, the check says so and the rest of the notebook uses the library's version.
#
# Then two exercises to think through: **4.5** (*predict, then run*): what training without warm-up does to the
# number of active units; **4.6** (*vary and measure*): the number of importance samples, and how much tighter the
# bound gets. You answer in a small function; the check reads the run, tells you whether you were right, and explains
# the outcome either way.

# %% tags=["colab"]
# On Colab only: install the course library from the repository (torch and numpy are left as Colab has them).
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "vaecourse @ git+https://github.com/vaecourse/vaecourse"], check=True)

# %%
import math
from functools import partial

import matplotlib.pyplot as plt  # noqa: F401  (activates inline figures)
import torch
from IPython.display import display

import vaecourse
from vaecourse import check, distributions, metrics, objectives
from vaecourse.data import dynamic_binarize, load_mnist5k
from vaecourse.viz import active_units_figure
from vaecourse.models import LadderVAE
from vaecourse.train import fit

FAST = vaecourse.fast_mode()
generator = vaecourse.seed_everything(0)
torch.set_num_threads(2)

# %% [markdown]
# ## Exercise 4.1 — the precision-weighted merge
#
# In the Ladder VAE's top-down pass, layer $i$ has two Gaussian opinions about $z_i$: the bottom-up estimate
# $\mathcal N(\hat\mu_{q,i}, \hat\sigma^2_{q,i})$ from the data and the generative prior
# $\mathcal N(\mu_{p,i}, \sigma^2_{p,i})$ from the layer above. Their normalised product is
#
# $$\sigma^2_{q,i} = \frac{1}{\hat\sigma^{-2}_{q,i} + \sigma^{-2}_{p,i}}, \qquad
#   \mu_{q,i} = \frac{\hat\mu_{q,i}\hat\sigma^{-2}_{q,i} + \mu_{p,i}\sigma^{-2}_{p,i}}{\hat\sigma^{-2}_{q,i} + \sigma^{-2}_{p,i}}
#   \qquad \text{(slides, Eq. 23-24)}$$
#
# Precisions (inverse variances) add; each mean is weighted by its precision. Inputs are tensors of shape
# `(B, D)` holding **variances** (not log-variances); return `(mu_q, var_q)`.

# %%
def precision_weighted_merge(mu_hat, var_hat, mu_p, var_p):
    # Exercise 4.1: precision-weighted merge — compute (mu_q, var_q) of Eq. (23)-(24) from the two opinions' means and variances (B, D); the check tries other sizes and compares the gradients with respect to all four inputs
    # BEGIN SOLUTION
    # Why: the product of two Gaussian densities is Gaussian with the sum of their precisions; its mean is the
    # precision-weighted average, so the more certain opinion dominates and var_q is below both variances.
    precision = 1.0 / var_hat + 1.0 / var_p
    var_q = 1.0 / precision
    mu_q = (mu_hat / var_hat + mu_p / var_p) * var_q
    return mu_q, var_q
    # END SOLUTION


# %%
if not check.precision_weighted_merge(precision_weighted_merge):
    precision_weighted_merge = distributions.precision_weighted_merge

# %% [markdown]
# A quick look: a confident bottom-up estimate (variance 0.1) at 2 and a vague prior (variance 1) at 0.
# The merged mean sits near the confident source, and the merged variance is below both.

# %%
mu_q, var_q = precision_weighted_merge(torch.tensor([2.0]), torch.tensor([0.1]), torch.tensor([0.0]), torch.tensor([1.0]))
print(f"merged mean {mu_q.item():.3f} (expected 2 * 10/11 = {20 / 11:.3f}), merged variance {var_q.item():.3f} (1/11)")

# %% [markdown]
# ## Exercise 4.2 — the warm-up schedule
#
# Warm-up trains with $\mathcal L_T = -\beta\,\mathrm{KL}(q\,\|\,p) + \mathbb E_q[\log p(x\mid z)]$ (Eq. 26)
# and raises $\beta$ linearly from 0 to 1 over the first $N_t$ epochs, then keeps it at 1. With $N_t = 0$
# there is no warm-up: $\beta = 1$ from the start. Return $\beta$ as a Python float; `epoch` may be fractional.

# %%
def warmup_weight(epoch, n_t):
    # Exercise 4.2: warm-up schedule — compute the KL weight beta of Eq. (26) at this epoch of an n_t-epoch warm-up; the check tries n_t = 0, fractional epochs and fresh schedules
    # BEGIN SOLUTION
    # Why: beta rises linearly as epoch / n_t and is capped at 1, the true ELBO; n_t = 0 means no warm-up at all,
    # which must be answered before dividing (not by dividing by max(n_t, 1)).
    if n_t == 0:
        return 1.0
    return min(1.0, epoch / n_t)
    # END SOLUTION


# %%
if not check.warmup_weight(warmup_weight):
    warmup_weight = objectives.kl_weight
print("beta at epochs 0, 50, 100, 200, 400 of a 200-epoch warm-up:",
      [warmup_weight(e, 200) for e in (0, 50, 100, 200, 400)])

# %% [markdown]
# ## Exercise 4.3 — the active-unit statistic
#
# Burda et al. call a latent unit $u$ *active* when its posterior mean moves with the input:
# $A_u = \mathrm{Cov}_x\big(\mathbb E_{q(u\mid x)}[u]\big) > 0.01$. Given the posterior means of $N$ examples,
# `means` of shape `(N, D)`, return $A_u$ for every unit: shape `(D,)`.

# %%
def unit_activity(means):
    # Exercise 4.3: active-unit statistic — compute A_u for every unit from the posterior means (N, D), shape (D,); the check tries other sizes and skewed means
    # BEGIN SOLUTION
    # Why: Cov_x(E_q[u]) for a single unit is the variance of its posterior mean over the examples (dim 0, all N of
    # them); a unit whose mean does not move with x tells the decoder nothing about x.
    return means.var(dim=0)
    # END SOLUTION


# %%
if not check.unit_activity(unit_activity):
    unit_activity = metrics.unit_activity

# %% [markdown]
# Now use it on a small 3-layer Ladder VAE trained for a moment on the offline digits (5,000 real MNIST digits
# shipped with the course, 4,000 for training; see the lecture notebook). `layer_means` estimates
# $\mathbb E_q[z_i]$ per layer by averaging the conditional means over samples of the layers above.

# %%
digits = load_mnist5k()
model = LadderVAE(latent_sizes=[16, 8, 4], hidden_sizes=[128, 64, 32])
epochs = 2 if FAST else 8
fit(model, partial(objectives.ladder_elbo, warmup_epochs=epochs / 2), digits.train[:384] if FAST else digits.train,
    epochs=epochs, batch_size=64, lr=2e-3, transform=dynamic_binarize, progress=False)
model.eval()
test_x = dynamic_binarize(digits.test, torch.Generator().manual_seed(1))
means = model.layer_means(test_x, n_samples=5, generator=torch.Generator().manual_seed(2))
active = []
for i, m in enumerate(means):
    a = unit_activity(m)
    active.append(int((a > 0.01).sum()))
    print(f"layer z{i + 1}: {active[-1]} of {m.shape[1]} units active; A_u = {[round(v, 3) for v in a.tolist()]}")
display(active_units_figure({"3-layer LVAE": active}, model.latent_sizes,
                            title="Active units per layer, from your A_u (> 0.01)"))

# %% [markdown]
# ## Exercise 4.4 — a stable log-mean-exp
#
# The importance-weighted estimate of $\log p(x)$ averages $k$ weights $w_s = p(x, z_s)/q(z_s\mid x)$ and takes
# the log: $\mathcal L_k = \log \frac1k\sum_s w_s$. The log-weights of a real image are hundreds of nats below
# zero, so `exp` underflows to 0 and the log gives $-\infty$. Compute $\log\frac1n\sum_i e^{a_i}$ along `dim`
# stably, using $\log\frac1n\sum_i e^{a_i} = m + \log\frac1n\sum_i e^{a_i - m}$, true for any constant $m$:
# which $m$ keeps every term from over- and underflowing, in float32 too?

# %%
def log_mean_exp(a, dim):
    # Exercise 4.4: stable log-mean-exp — compute the log-mean-exp of a along dim, finite for log-weights of ±1000 and in float32; the check tries other shapes, dims and a spread of hundreds of nats
    # BEGIN SOLUTION
    # Why: with m the maximum every exponent a − m is <= 0 (no overflow) and the largest term is exp(0) = 1, so the
    # mean is at least 1/n (no log of 0); m + log mean exp(a − m) equals log mean exp(a) exactly. Subtracting the
    # mean instead leaves exponents of +150 for a spread of 300 nats, which overflow in float32.
    m = a.max(dim=dim, keepdim=True).values
    return (m + (a - m).exp().mean(dim=dim, keepdim=True).log()).squeeze(dim)
    # END SOLUTION


# %%
if not check.log_mean_exp(log_mean_exp):
    log_mean_exp = objectives.log_mean_exp

# %% [markdown]
# With it, the importance-weighted log-likelihood of the small model above: the log-weights of $k$ samples
# of the whole hierarchy come from `model.log_importance_weights` (shape `(k, B)`), and your log-mean-exp
# turns them into $\mathcal L_k$. It rises with $k$ and stays above the ELBO (the $k = 1$ average).

# %%
k_max = 30 if FAST else 1000
log_w = model.log_importance_weights(test_x[:50] if FAST else test_x, k_max, generator=torch.Generator().manual_seed(3))  # (k, B)
print(f"ELBO estimate (mean log-weight): {log_w.mean().item():.2f} nats")
for k in (1, 10, k_max):
    print(f"L_{k}: {log_mean_exp(log_w[:k], 0).mean().item():.2f} nats")
print(f"library, same samples: {objectives.log_mean_exp(log_w, 0).mean().item():.2f} nats")

# %% [markdown]
# ## Exercise 4.5 — predict, then run: active units without warm-up
#
# The cell after next trains the small ladder above twice from the same initial weights: with the warm-up used above
# (β rising from 0 to 1 over the first half of the epochs, Eq. 26) and without it (β = 1 from the first step). Then it
# counts each model's active units by their KL, a unit being active when its data-average $\mathrm{KL}(q\,\|\,p)$ on
# the test digits exceeds 0.01 nats (the lecture's second reading, the paper's Figure 4). **Before you run it**,
# predict: without warm-up, will the ladder have `"more"`, the `"same"` number of, or `"fewer"` active units?

# %%
def predict_warmup():
    # Exercise 4.5: [predict] train the ladder without warm-up: will it have "more", "same" or "fewer" active units (KL > 0.01 nats)?
    # BEGIN SOLUTION
    # With the KL at full weight from the start, a unit pays for what it says before the decoder uses it, so units
    # that are not useful at once are pushed onto their prior and stay there: usually fewer (one run, one seed).
    return "fewer"
    # END SOLUTION


# %%
def train_ladder(warmup_epochs):
    """The small ladder of this notebook, from the same initial weights (seed 0), with the given warm-up."""
    torch.manual_seed(0)
    ladder = LadderVAE(latent_sizes=[16, 8, 4], hidden_sizes=[128, 64, 32])
    fit(ladder, partial(objectives.ladder_elbo, warmup_epochs=warmup_epochs),
        digits.train[:384] if FAST else digits.train, epochs=epochs, batch_size=64, lr=2e-3, transform=dynamic_binarize,
        progress=False)  # about 10 s per model on a 2-core laptop CPU
    return ladder.eval()


warmup_runs = {}
for label, warmup_epochs in (("with warm-up", epochs / 2), ("without warm-up", 0)):
    ladder = train_ladder(warmup_epochs)
    kl_units = metrics.kl_per_unit(ladder, test_x, generator=torch.Generator().manual_seed(2))
    warmup_runs[label] = {
        "kl": metrics.kl_active_units(kl_units, ladder.latent_sizes)["active_per_layer"],
        "au": metrics.active_units(test_x, lambda b, m=ladder: m.layer_means(
            b, n_samples=5, generator=torch.Generator().manual_seed(2)))["active_per_layer"]}
display(active_units_figure({label: run["au"] for label, run in warmup_runs.items()}, ladder.latent_sizes,
                            kl_runs={label: run["kl"] for label, run in warmup_runs.items()},
                            title="Active units per layer: A_u > 0.01 (solid), KL > 0.01 nats (hatched)"))

# %%
answered = check.predict_warmup(predict_warmup, warmup_runs)

# %% [markdown]
# ## Exercise 4.6 — vary and measure: how much do more importance samples buy?
#
# `log_w` above holds the log-weights of `k_max` samples for each test image. Choose your own number of samples k
# (a whole number from 2 to `k_max`) in `my_k`, then write `bound_gain(log_w, k)`: return $\mathcal L_k -
# \mathcal L_1$ in nats, the mean over the images of the bound with the first k samples minus the bound with the first
# sample alone (your `log_mean_exp` from 4.4 computes $\mathcal L_k$ from `log_w[:k]`). The check recomputes it and
# puts it beside other k.

# %%
def my_k():
    # Exercise 4.6: [vary and measure] choose the number of importance samples: return a whole number k from 2 to k_max
    # BEGIN SOLUTION
    return 25
    # END SOLUTION


def bound_gain(log_w, k):
    # Exercise 4.6: [vary and measure] return L_k - L_1 in nats: the mean over the images of the bound with the first k samples of log_w (k_max, B) minus the bound with the first one
    # BEGIN SOLUTION
    return (log_mean_exp(log_w[:k], 0) - log_w[0]).mean().item()
    # END SOLUTION


# %%
k_mine = check.choose(my_k, "4.6", "k", low=2, high=k_max, default=min(25, k_max), integer=True)
answered = check.vary_samples(bound_gain, log_w, k_mine)


# %% [markdown]
# ## Recap
#
# - The merge adds precisions; the more certain source moves the mean (Eq. 23-24).
# - Warm-up turns the KL on gradually (Eq. 26), so units can start carrying information before the prior presses them.
# - A unit is active when its posterior mean varies with the input (variance over examples > 0.01).
# - Log-likelihood estimates need a log-mean-exp that subtracts the maximum.
# - Warm-up matters for which units stay in use (4.5), and the importance-weighted bound tightens with k, fast at
#   first, then slowly (4.6).
#
# Back to the lecture: `notebooks/04_ladder_vae.ipynb`.
