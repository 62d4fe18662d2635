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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vaecourse/vaecourse/blob/main/exercises/01_elbo.ipynb)
#
# Four functions, each the code form of one line of the lecture (`notebooks/01_elbo.ipynb`). Fill in the body
# where it says `raise NotImplementedError`, run the cell, then run the **check** cell below it: it compares
# your function with the library's on fixed inputs and tells you what is off. If an exercise is not done yet,
# the check says so and the rest of the notebook uses the library's version, so *Run All* always reaches the end.
#
# Then two exercises to think through, on the VAE the course ships: **1.5** (*predict, then run*) asks what its
# decoder draws for $z = 0$ before you see it, and **1.6** (*interpret*) asks you to read its latent traversals. You
# answer in a small function; the check reads the run, tells you whether you were right, and explains the outcome
# either way.

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
from vaecourse import check, distributions, likelihoods, metrics, pretrained
from vaecourse.data import DSprites
from vaecourse.models import VAE
from vaecourse.viz import image_grid, reconstruction_figure, traversal_figure, traversal_images

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
    # Exercise 1.1: reparameterised sampling — compute z from mu, logvar and the noise eps you are given, shape (B, D) (lecture section 3); the check tries several batch and latent sizes and needs gradients to reach mu and logvar
    raise NotImplementedError("Exercise 1.1: reparameterised sampling — compute z from mu, logvar and the noise eps you are given, shape (B, D) (lecture section 3); the check tries several batch and latent sizes and needs gradients to reach mu and logvar")


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
    # Exercise 1.2: closed-form KL(q || N(0, I)) — compute it per example from mu and logvar, shape (B,) (lecture section 4); the check tries several sizes and compares the gradients with respect to mu and logvar
    raise NotImplementedError("Exercise 1.2: closed-form KL(q || N(0, I)) — compute it per example from mu and logvar, shape (B,) (lecture section 4); the check tries several sizes and compares the gradients with respect to mu and logvar")


# %%
if not check.gaussian_kl(gaussian_kl):
    gaussian_kl = distributions.kl_standard_normal

# %% [markdown]
# ## Exercise 1.3 — the Bernoulli log-likelihood
#
# The decoder gives one **logit** $\ell_j$ per pixel; the pixel is on with probability $\operatorname{sigmoid}(\ell_j)$.
# Return $\log p(x\mid z) = \sum_j \big[x_j\log\operatorname{sigmoid}(\ell_j) + (1-x_j)\log(1-\operatorname{sigmoid}(\ell_j))\big]$
# for each example, shape `(B,)`, summed over all pixels. Make it finite even for logits of ±150
# (hint: $\log\operatorname{sigmoid}(\ell) = \ell - \operatorname{softplus}(\ell)$, and torch has a binary
# cross-entropy that takes logits).

# %%
def bernoulli_log_likelihood(logits, x):
    # Exercise 1.3: the Bernoulli log-likelihood — compute log p(x|z) per image from the decoder's logits and x, summed over pixels, shape (B,); the check tries other image sizes and float32 logits up to ±160
    raise NotImplementedError("Exercise 1.3: the Bernoulli log-likelihood — compute log p(x|z) per image from the decoder's logits and x, summed over pixels, shape (B,); the check tries other image sizes and float32 logits up to ±160")


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
    # Exercise 1.4: the ELBO of a model — compute the per-example ELBO of Eq. (1) from model, x and the noise eps you are given, shape (B,); the check tries other sizes and compares the gradients reaching the encoder and the decoder
    raise NotImplementedError("Exercise 1.4: the ELBO of a model — compute the per-example ELBO of Eq. (1) from model, x and the noise eps you are given, shape (B,); the check tries other sizes and compares the gradients reaching the encoder and the decoder")


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
# ## Exercise 1.5 — predict, then run: what does the decoder draw at $z = 0$?
#
# The course ships a VAE trained like yours for 15,000 steps (`ch1_vae_conv64`; the command and its scores are in
# `vaecourse/pretrained/README.md`). Its prior is $p(z) = \mathcal N(0, I)$, so $z = 0$ is the prior's most probable
# code. **Before you run the cell after next**, predict what its decoder draws for $z = 0$: `"blank"` (nothing),
# `"average"` (a faint blur, the average of all dSprites images), `"centre"` (one sharp shape near the middle of
# the image) or `"off-centre"` (one sharp shape away from the middle). The check reads the answer off the image.

# %%
def predict_prior_mean():
    # Exercise 1.5: [predict] what does the shipped VAE's decoder draw at z = 0? Return "blank", "average", "centre" or "off-centre"
    raise NotImplementedError("Exercise 1.5: [predict] what does the shipped VAE's decoder draw at z = 0? Return \"blank\", \"average\", \"centre\" or \"off-centre\"")


# %%
SHIPPED = "ch1_vae_conv64"
shipped_vae = (pretrained.load(SHIPPED).to(device) if pretrained.available(SHIPPED) else model).eval()
with torch.no_grad():
    at_zero = shipped_vae.decode(torch.zeros(1, shipped_vae.latent_dim, device=device)).mean.cpu()  # (1, 1, 64, 64)
average_image = dsprites.sample(2000, generator=torch.Generator().manual_seed(0))[0].mean(0, keepdim=True).cpu()
display(image_grid(torch.cat([at_zero, average_image]), ncols=2,
                   title="the decoder at z = 0 (left) and the average of 2,000 images (right)"))

# %%
answered = check.predict_prior_mean(predict_prior_mean, at_zero, average_image)

# %% [markdown]
# ## Exercise 1.6 — interpret: which latents does the decoder read?
#
# The grid below traverses each of the shipped VAE's 10 latents for one image: row $d$ sets $z_d$ to −3 … 3 and keeps
# the other latents at the image's code $\mu(x)$. Look at the grid (not at any number printed elsewhere) and count
# the rows in which the image changes. The check counts them from the same images and tells you which latents they
# are and why the others are flat.

# %%
probe = dsprites.sample(1, generator=torch.Generator().manual_seed(3))[0]
z_probe = shipped_vae.embed(probe).cpu()[0]
display(traversal_figure(shipped_vae, z_probe, title="each row: one latent varied from -3 to 3, the others at mu(x)"))
traversals = traversal_images(shipped_vae, z_probe, list(range(shipped_vae.latent_dim)), torch.linspace(-3, 3, 9))
kl_shipped = metrics.model_kl_per_dimension(shipped_vae, dsprites.sample(512, generator=torch.Generator().manual_seed(1))[0])


# %%
def rows_that_move():
    # Exercise 1.6: [interpret] in how many rows of the traversal grid does the image change? Return a whole number from 0 to 10
    raise NotImplementedError("Exercise 1.6: [interpret] in how many rows of the traversal grid does the image change? Return a whole number from 0 to 10")


# %%
answered = check.interpret_traversals(rows_that_move, traversals, kl_shipped)


# %% [markdown]
# ## Going further
# * Replace the closed-form KL in your loop by a one-sample Monte-Carlo estimate
#   ($\log q(z\mid x) - \log p(z)$ at the sampled $z$) and compare the ELBO curves: which is noisier?
# * Change `reduction` to a mean over pixels in Exercise 1.3 and retrain: what happens to the samples, and why
#   is this the same as a β-VAE with β = 4096?
