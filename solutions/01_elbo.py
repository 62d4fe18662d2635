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
# # Chapter 1 exercises — the ELBO, piece by piece
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vaecourse/vaecourse/blob/main/solutions/01_elbo.ipynb)
#
# Four functions, each the code form of one line of the lecture (`notebooks/01_elbo.ipynb`). Fill in the body
# where it says `raise NotImplementedError`, run the cell, then run the **check** cell below it: it compares
# your function with the library's on fixed inputs and tells you what is off. If an exercise is not done yet,
# the check says so and the rest of the notebook uses the library's version, so *Run All* always reaches the end.

# %% tags=["colab"]
# On Colab only: install the course library from the repository (torch and numpy are left as Colab has them).
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "vaecourse @ git+https://github.com/vaecourse/vaecourse"], check=True)

# %%
import matplotlib.pyplot as plt  # noqa: F401  (activates inline figures)
import torch
import torch.nn.functional as F
from IPython.display import display

import vaecourse
from vaecourse import check, distributions, likelihoods
from vaecourse.data import DSprites
from vaecourse.models import VAE
from vaecourse.viz import reconstruction_figure

FAST = vaecourse.fast_mode()
device = vaecourse.default_device("auto")
generator = vaecourse.seed_everything(0)

# %% [markdown]
# ## Exercise 1.1 — reparameterised sampling
#
# Given the encoder outputs $\mu$ and $\log\sigma^2$ (each of shape `(B, D)`) and standard-normal noise
# $\varepsilon$ of the same shape, return $z = \mu + \sigma\odot\varepsilon$ with $\sigma = \exp(\tfrac12\log\sigma^2)$.
# Use the $\varepsilon$ you are given (do not draw new noise): that is what keeps $z$ differentiable in $\mu$ and
# $\log\sigma^2$ and makes the check repeatable.

# %%
def reparameterize(mu, logvar, eps):
    # Exercise 1.1: reparameterised sampling — return mu + exp(logvar / 2) * eps
    # BEGIN SOLUTION
    return mu + torch.exp(0.5 * logvar) * eps
    # END SOLUTION


# %%
if not check.reparameterize(reparameterize):
    reparameterize = distributions.reparameterize  # fall back to the library so the notebook runs on

# %% [markdown]
# ## Exercise 1.2 — the KL to the prior, in closed form
#
# Return $\mathrm{KL}\big(\mathcal N(\mu, \operatorname{diag} e^{\log\sigma^2})\,\|\,\mathcal N(0, I)\big)
# = \tfrac12\sum_d\big(\mu_d^2 + \sigma_d^2 - 1 - \log\sigma_d^2\big)$ for each example: shape `(B,)`,
# summed over the latent dimension, **not** averaged over the batch.

# %%
def gaussian_kl(mu, logvar):
    # Exercise 1.2: closed-form KL(q || N(0, I)) per example, summed over latent dimensions
    # BEGIN SOLUTION
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)
    # END SOLUTION


# %%
if not check.gaussian_kl(gaussian_kl):
    gaussian_kl = distributions.kl_standard_normal

# %% [markdown]
# ## Exercise 1.3 — the Bernoulli log-likelihood
#
# The decoder gives one **logit** $\ell_j$ per pixel; the pixel is on with probability $\operatorname{sigmoid}(\ell_j)$.
# Return $\log p(x\mid z) = \sum_j \big[x_j\log\operatorname{sigmoid}(\ell_j) + (1-x_j)\log(1-\operatorname{sigmoid}(\ell_j))\big]$
# for each example, shape `(B,)`, summed over all pixels. Make it finite even for logits of ±100
# (hint: $\log\operatorname{sigmoid}(\ell) = \ell - \operatorname{softplus}(\ell)$, or
# `F.binary_cross_entropy_with_logits(..., reduction="none")`).

# %%
def bernoulli_log_likelihood(logits, x):
    # Exercise 1.3: log p(x|z) per example, summed over pixels, stable for large logits
    # BEGIN SOLUTION
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(dim=1)
    # END SOLUTION


# %%
if not check.bernoulli_log_likelihood(bernoulli_log_likelihood):
    bernoulli_log_likelihood = likelihoods.bernoulli_log_prob

# %% [markdown]
# ## Exercise 1.4 — the ELBO of a model
#
# Put the pieces together. For a model with `model.encode(x)` (a posterior with `.mu` and `.logvar`) and
# `model.decode(z)` (a distribution whose `.log_prob(x)` is per example), return the per-example ELBO of
# Eq. (1), shape `(B,)`, using the noise `eps` you are given for the single sample of $z$.

# %%
def elbo(model, x, eps):
    # Exercise 1.4: per-example ELBO = log p(x|z) - KL(q(z|x) || p(z)), with z = mu + sigma * eps
    # BEGIN SOLUTION
    q = model.encode(x)
    z = reparameterize(q.mu, q.logvar, eps)
    return model.decode(z).log_prob(x) - gaussian_kl(q.mu, q.logvar)
    # END SOLUTION


# %%
elbo_ok = check.elbo(elbo)

# %% [markdown]
# ## Train with your ELBO
#
# The loop of the lecture, with your function inside. If Exercise 1.4 is not done yet the library's ELBO is
# used instead (the check above said so).

# %%
def library_elbo(model, x, eps):
    out = model.encode(x)
    z = distributions.reparameterize(out.mu, out.logvar, eps)
    return model.decode(z).log_prob(x) - distributions.kl_standard_normal(out.mu, out.logvar)


elbo_fn = elbo if elbo_ok else library_elbo
dsprites = DSprites(device=device)
model = VAE(latent_dim=10, encoder="conv64", logvar_bias=-4).to(device)  # log sigma^2 starts at -4: the lecture's section 5
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
steps = 20 if FAST else 1500
for step, (x, _) in enumerate(dsprites.batches(64, steps, generator=generator)):
    eps = torch.randn(x.shape[0], model.latent_dim, device=device)
    loss = -elbo_fn(model, x, eps).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % max(1, steps // 5) == 0 or step == steps - 1:
        print(f"step {step:5d}  ELBO {-loss.item():9.1f} nats")

x_test, _ = dsprites.sample(8, generator=generator)
display(reconstruction_figure(x_test, model.reconstruct(x_test)))

# %% [markdown]
# ## Going further
# * Replace the closed-form KL in your loop by a one-sample Monte-Carlo estimate
#   ($\log q(z\mid x) - \log p(z)$ at the sampled $z$) and compare the ELBO curves: which is noisier?
# * Change `reduction` to a mean over pixels in Exercise 1.3 and retrain: what happens to the samples, and why
#   is this the same as a β-VAE with β = 4096?
