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
    # Exercise 4.1: precision-weighted merge — return (mu_q, var_q) of Eq. (23)-(24)
    # BEGIN SOLUTION
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
    # Exercise 4.2: warm-up schedule — return beta = min(1, epoch / n_t), and 1 when n_t == 0
    # BEGIN SOLUTION
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
    # Exercise 4.3: active-unit statistic — return the variance over examples (dim 0) of each unit's mean, shape (D,)
    # BEGIN SOLUTION
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
# stably: subtract the maximum $m$ first, $m + \log\frac1n\sum_i e^{a_i - m}$.

# %%
def log_mean_exp(a, dim):
    # Exercise 4.4: stable log-mean-exp — return log(mean(exp(a))) along dim, subtracting the maximum first
    # BEGIN SOLUTION
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
# ## Recap
#
# - The merge adds precisions; the more certain source moves the mean (Eq. 23-24).
# - Warm-up turns the KL on gradually (Eq. 26), so units can start carrying information before the prior presses them.
# - A unit is active when its posterior mean varies with the input (variance over examples > 0.01).
# - Log-likelihood estimates need a log-mean-exp that subtracts the maximum.
#
# Back to the lecture: `notebooks/04_ladder_vae.ipynb`.
