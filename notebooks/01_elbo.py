# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 1 — The evidence lower bound (ELBO)
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vaecourse/vaecourse/blob/main/notebooks/01_elbo.ipynb)
#
# A variational auto-encoder (VAE) learns two networks at once: an **encoder** $q_\phi(z\mid x)$ that
# turns an image into a distribution over a few latent numbers $z$, and a **decoder** $p_\theta(x\mid z)$
# that turns latent numbers back into an image. It is trained by maximising, for each image,
#
# $$\mathcal{L}(x) \;=\; \underbrace{\mathbb{E}_{q_\phi(z\mid x)}\big[\log p_\theta(x\mid z)\big]}_{\text{reconstruction}}
# \;-\; \underbrace{\mathrm{KL}\big(q_\phi(z\mid x)\,\|\,p(z)\big)}_{\text{prior}} \qquad \text{(slides, Eq. 1)}$$
#
# a lower bound on $\log p_\theta(x)$: the **ELBO**.
#
# **By the end of this notebook you will be able to**
# 1. say what each term of Eq. (1) measures and compute it, per example, in nats;
# 2. explain why the reparameterisation $z = \mu + \sigma\odot\varepsilon$ lets gradients reach the encoder;
# 3. compare the closed-form KL with its Monte-Carlo estimate, and see why the closed form is used;
# 4. write the VAE training loop yourself and train a VAE on dSprites;
# 5. read a trained VAE through reconstructions, samples and latent traversals.
#
# Exercises for this chapter: `exercises/01_elbo.ipynb` (solutions in `solutions/01_elbo.ipynb`).

# %% tags=["colab"]
# On Colab only: install the course library from the repository (torch and numpy are left as Colab has them).
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "vaecourse @ git+https://github.com/vaecourse/vaecourse"], check=True)

# %%
import time

import matplotlib.pyplot as plt  # noqa: F401  (activates inline figures)
import numpy as np
import torch
from IPython.display import display
from tqdm.auto import tqdm

import vaecourse
from vaecourse import pretrained
from vaecourse.data import DSprites
from vaecourse.data.reference import dsprites_orientation0
from vaecourse.distributions import kl_standard_normal, monte_carlo_kl, reparameterize
from vaecourse.metrics import factor_latent_correlations
from vaecourse.models import VAE
from vaecourse.prose import claim, say  # sentences rendered from this run's values; checked claims
from vaecourse.viz import (history_figure, image_grid, kl_estimator_figure, reconstruction_figure,
                           simulated_vs_official_figure, traversal_figure)
from vaecourse.widgets import traversal_explorer

FAST = vaecourse.fast_mode()  # CI sets VAECOURSE_FAST=1: tiny runs that only prove the notebook works
device = vaecourse.default_device("auto")  # cuda, then mps, then cpu
generator = vaecourse.seed_everything(0)
print(f"vaecourse {vaecourse.__version__}, torch {torch.__version__}, device {device}, FAST={FAST}")

# %% [markdown]
# ## 1. The data: dSprites
#
# dSprites (Matthey et al., 2017) is a set of 64×64 binary images of a white shape on black, one image for
# every combination of five **generative factors**: shape (square, ellipse, heart), scale (6 values),
# orientation (40 values over $2\pi$), position X and position Y (32 values each) — 737,280 images.
# `vaecourse` renders them on the fly, on whatever device trains the model, so there is nothing to download.

# %%
dsprites = DSprites(device=device)
print(dict(zip(dsprites.factor_names, dsprites.factor_sizes)), "->", len(dsprites), "images")
images, factors = dsprites.sample(16, generator=generator)
display(image_grid(images, ncols=8, title="16 random dSprites"))

# %% [markdown]
# Are these the paper's images? The package ships 18 official frames (from the dSprites repository's
# `dsprites.gif`, commit fa310c6, Apache-2.0): each shape at each scale, orientation 0, position (0, 0). Below, each
# official frame above the renderer's frame of the same factors, with the number of pixels that differ. The heart
# is the classic parametric heart curve, turning about the position point as in the official data; the module
# docstring of `vaecourse.data.dsprites` gives the geometry.

# %%
official = dsprites_orientation0()
simulated = dsprites.render_uint8(torch.as_tensor(official["latents_classes"], device=device))
display(simulated_vs_official_figure(official["imgs"], simulated, row_labels=dsprites.shape_names,
                                     column_labels=[f"scale {s:.1f}" for s in official["latents_values"][:6, 2]],
                                     title="official dSprites (top of each pair) and the renderer"))

# %% [markdown]
# ## 2. Eq. (1) term by term
#
# * $p(z) = \mathcal N(0, I)$ — the **prior** over $D$ latent numbers.
# * $q_\phi(z\mid x) = \mathcal N\big(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x)\big)$ — the encoder outputs a mean
#   and a log-variance per latent dimension.
# * $p_\theta(x\mid z) = \prod_{\text{pixels } j} \mathrm{Bernoulli}\big(x_j;\, \operatorname{sigmoid}(f_\theta(z)_j)\big)$ —
#   the decoder outputs one logit per pixel.
#
# **Reconstruction term.** $\log p_\theta(x\mid z) = \sum_j \big[x_j \ell_j - \operatorname{softplus}(\ell_j)\big]$ with
# logits $\ell = f_\theta(z)$: a sum over all 4,096 pixels, so it is in nats *per image*. (Averaging over pixels
# instead would silently divide this term by 4,096 and turn the model into a $\beta$-VAE with $\beta = 4096$.)
#
# **Prior term.** For diagonal Gaussians the KL has a closed form:
# $$\mathrm{KL}\big(q\,\|\,\mathcal N(0,I)\big) = \tfrac12 \sum_{d=1}^{D}\big(\mu_d^2 + \sigma_d^2 - 1 - \log\sigma_d^2\big).$$
# It is zero exactly when $q$ is the prior, and grows as the code of $x$ moves away from it.

# %%
mu = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
logvar = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, np.log(0.25)]])
print("KL per example (nats):", kl_standard_normal(mu, logvar))
# row 0 is the prior itself (KL 0); row 1 shifts one mean by 1 (KL 1/2); row 2 also shrinks a variance.

# %% [markdown]
# ## 3. The reparameterisation trick
#
# The ELBO is an expectation over $z\sim q_\phi(z\mid x)$, and we need its gradient with respect to $\phi$.
# Sampling $z$ directly hides $\phi$ inside a random number generator: there is nothing to differentiate.
# Writing the same sample as a deterministic function of $\phi$ and parameter-free noise,
# $$z = \mu_\phi(x) + \sigma_\phi(x)\odot\varepsilon,\qquad \varepsilon\sim\mathcal N(0, I),\qquad \sigma = e^{\frac12\log\sigma^2},$$
# moves the randomness out of the way, and $\partial z/\partial\mu = 1$, $\partial z/\partial\log\sigma^2 = \tfrac12\sigma\varepsilon$.

# %%
mu = torch.zeros(1, 3, requires_grad=True)
logvar = torch.zeros(1, 3, requires_grad=True)

z_plain = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).sample()  # a sample, but no path back
print("plain sample requires grad:", z_plain.requires_grad)

eps = torch.randn(1, 3, generator=generator)
z = reparameterize(mu, logvar, eps)  # mu + exp(logvar / 2) * eps
(z ** 2).sum().backward()  # any function of z
print("d/dmu     =", mu.grad, " (= 2 z)")
print("d/dlogvar =", logvar.grad, " (= 2 z * sigma * eps / 2)")

# %% [markdown]
# ## 4. Closed-form versus Monte-Carlo KL
#
# The KL is also an expectation, $\mathbb E_q[\log q(z) - \log p(z)]$, so it could be estimated from samples like the
# reconstruction term. The estimate is unbiased but noisy, and its standard deviation only falls like $1/\sqrt{S}$
# with $S$ samples. With the closed form the KL adds no noise to the gradient at all.

# %%
mu_q = torch.tensor([[1.0, -0.5, 0.3, 0.0]])
logvar_q = torch.tensor([[-1.0, 0.5, -2.0, 0.0]])
exact = kl_standard_normal(mu_q, logvar_q).item()
counts = [1, 4, 16, 64, 256]
repeats = 200 if FAST else 2000
estimates = [monte_carlo_kl(mu_q.expand(repeats, -1), logvar_q.expand(repeats, -1), s, generator=generator)
             .mean(0).numpy() for s in counts]
print(f"closed form: {exact:.4f} nats; Monte-Carlo means: " + ", ".join(f"S={s}: {e.mean():.3f}" for s, e in zip(counts, estimates)))
display(kl_estimator_figure(counts, estimates, exact))
spread = [float(e.std()) for e in estimates]  # the standard deviation of an S-sample estimate, over the repeats
say("The S = {s0} estimate scatters by {a:.3f} nats, the S = {s1} one by {b:.4f}: {r:.1f} times less, where "
    "$1/\\sqrt{{S}}$ predicts {p:.1f}.", s0=counts[0], s1=counts[-1], a=spread[0], b=spread[-1],
    r=spread[0] / spread[-1], p=(counts[-1] / counts[0]) ** 0.5)
claim("the Monte-Carlo estimate is unbiased (every mean within 4 standard errors of the closed form) and its "
      "spread falls like 1/√S (within 50 %)",
      all(abs(e.mean() - exact) < 4 * e.std() / len(e) ** 0.5 for e in estimates)
      and all(abs(spread[0] / sd / (s / counts[0]) ** 0.5 - 1) < 0.5 for s, sd in zip(counts, spread)),
      measured=", ".join(f"S={s}: mean {e.mean():.3f}, sd {sd:.4f}" for s, e, sd in zip(counts, estimates, spread))
               + f"; closed form {exact:.4f}")

# %% [markdown]
# ## 5. The model, and the training loop written out
#
# The encoder and decoder are those of Burgess et al. (2018) for 64×64 images (`conv64`): four 4×4 stride-2
# convolutions with 32 channels, then 256 → 256 → $2D$ numbers ($\mu$ and $\log\sigma^2$); the decoder mirrors it.
# Below, each line of the loop is one piece of Eq. (1). Later chapters call `vaecourse.train.fit`, which is this
# same loop with a progress bar, callbacks, checks for NaNs and device handling.
#
#
# **Two practical details: KL warm-up, and where $\log\sigma^2$ starts.** A freshly initialised VAE on dSprites
# can sit for thousands of steps in a poor optimum: the encoder says nothing (KL = 0) and the decoder draws the
# average of all images, a faint square. Leaving it costs KL before it pays in reconstruction, so gradient steps
# rarely find the way out. The cure used throughout the literature is to weight the KL by a factor that rises from
# 0 to 1 over the first few hundred steps; after that the objective is exactly Eq. (1). Chapter 4 studies this
# *warm-up* properly [sonderby2016, Eq. 26]. On these images the warm-up alone was not enough: with the encoder's
# $\log\sigma^2$ starting near 0 ($\sigma \approx 1$, as wide as the prior), the sampled $z$ is mostly noise, the
# decoder learns to ignore it, and three of four seeds we ran were still collapsed at step 600 (a KL of a tenth of
# a nat or less; the fourth left at about that step; the figures: `vaecourse/pretrained/README.md`, chapter 1). So the encoder's last layer starts $\log\sigma^2$ at $-4$ ($\sigma \approx 0.14$):
# from the first step $z$ carries what the encoder saw, and the decoder learns to read it. Chapter 2 uses the same
# start and its appendix measures the collapse over seeds. Neither detail changes the objective after the warm-up.

# %%
latent_dim = 10
model = VAE(latent_dim=latent_dim, encoder="conv64", image_shape=(1, 64, 64), logvar_bias=-4).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
steps = 40 if FAST else 3000  # the course's slowest CPU cell; it prints its time (README: what we measured)
warmup = 10 if FAST else 500
batch_size = 64
print(f"{sum(p.numel() for p in model.parameters()):,} parameters; {steps} steps of {batch_size} images")
# The course site (vaecourse.site_mode()) does not run the loop: it loads this recipe's shipped 3,000-step run.
SHIPPED_LOOP = "ch1_vae_conv64_3000"
LOAD_SHIPPED = vaecourse.site_mode() and not FAST and pretrained.available(SHIPPED_LOOP)
if LOAD_SHIPPED:
    steps = 0

# %%
history = {"elbo": [], "log_px_z": [], "kl": []}
start = time.perf_counter()
for step, (x, _) in enumerate(tqdm(dsprites.batches(batch_size, steps, generator=generator), total=steps)):
    q = model.encode(x)  # q(z|x): mu, logvar, each (B, D)
    z = reparameterize(q.mu, q.logvar)  # z = mu + sigma * eps, (B, D)
    log_px_z = model.decode(z).log_prob(x)  # log p(x|z), summed over pixels, (B,)
    kl = kl_standard_normal(q.mu, q.logvar)  # KL(q || p), summed over D, (B,)
    elbo = log_px_z - kl  # Eq. (1), per example, (B,)
    kl_weight = min(1.0, step / warmup)  # warm-up: 0 -> 1, then the plain ELBO
    loss = -(log_px_z - kl_weight * kl).mean()  # maximise the ELBO = minimise its negative batch mean
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    for key, value in (("elbo", elbo), ("log_px_z", log_px_z), ("kl", kl)):
        history[key].append(value.mean().item())
seconds = time.perf_counter() - start
if LOAD_SHIPPED:  # the course site: the same recipe, run by `python -m vaecourse train` (vaecourse/pretrained/README.md)
    model, shipped = pretrained.load(SHIPPED_LOOP).to(device), pretrained.history(SHIPPED_LOOP)
    history = {key: list(shipped[key]) for key in history}
    print(f"course site: the loop was not run here; loaded {SHIPPED_LOOP}, this recipe run for "
          f"{pretrained.info(SHIPPED_LOOP)['steps']:,} steps by the train command (same model, warm-up, batch, lr)")
else:
    print(f"trained in {seconds:.0f} s ({steps * batch_size / seconds:.0f} images/s on {device})")
print(f"final ELBO {np.mean(history['elbo'][-50:]):.1f} nats "
      f"(reconstruction {np.mean(history['log_px_z'][-50:]):.1f}, KL {np.mean(history['kl'][-50:]):.1f})")

# %% [markdown]
# ## 6. What was learned
#
# First the curves. The reconstruction term climbs fast as the latents learn where the shape is and how big
# it is; the KL settles at the number of nats the code spends on that information. The ELBO is their
# difference, in nats per image.

# %%
from vaecourse.train import History  # noqa: E402  (the same History that fit() returns)

curves = History(steps=list(range(len(history["elbo"]))), records=history)
display(history_figure(curves, smooth=5 if FAST else 50))
tenth = max(1, len(history["kl"]) // 10)
first, last = np.mean(history["log_px_z"][:tenth]), np.mean(history["log_px_z"][-tenth:])
kl_before, kl_last = np.mean(history["kl"][-2 * tenth:-tenth]), np.mean(history["kl"][-tenth:])
say("The reconstruction term went from {a:.1f} nats (first tenth of the steps) to {b:.1f} (last tenth); the KL "
    "was {c:.1f} nats in the second-last tenth and {d:.1f} in the last.", a=first, b=last, c=kl_before, d=kl_last)
claim("the reconstruction term climbed and the KL settled (its last two tenths within 10 % of each other)",
      last > first and abs(kl_last - kl_before) < 0.1 * kl_last,
      measured=f"log p(x|z) {first:.1f} → {last:.1f}; KL {kl_before:.1f}, {kl_last:.1f}")

# %%
model.eval()
x_test, factors_test = dsprites.sample(10, generator=generator)
display(reconstruction_figure(x_test, model.reconstruct(x_test), n=10))
display(image_grid(model.sample(10, generator=generator), ncols=10, title="samples: z ~ N(0, I), decoded"))


def centre_and_ink(images):
    """Each image's centre of mass (x, y) in pixels and its total ink, (B,) each: where a shape is and how big."""
    images = images[:, 0]  # (B, H, W)
    ink = images.sum((1, 2)).clamp_min(1e-6)
    rows, cols = (torch.arange(n, device=images.device, dtype=images.dtype) for n in images.shape[1:])
    return (images * cols).sum((1, 2)) / ink, (images * rows[:, None]).sum((1, 2)) / ink, ink


x_check = dsprites.sample(256, generator=torch.Generator().manual_seed(3))[0]
with torch.no_grad():
    (cx, cy, ink), (rx, ry, rink) = centre_and_ink(x_check), centre_and_ink(model.reconstruct(x_check))
off = torch.sqrt((cx - rx) ** 2 + (cy - ry) ** 2)  # pixels between the shape's centre and the drawn one's
ink_off = (rink / ink).log().abs()  # |log| of the ratio of drawn to true ink
claim("the VAE places and sizes the shapes: on 256 images, nine in ten reconstructions have their centre within "
      "one pixel of the shape's and their ink within 15 % of it",
      off.quantile(0.9).item() < 1.0 and ink_off.quantile(0.9).item() < np.log(1.15),
      measured=f"90th percentiles: {off.quantile(0.9).item():.2f} px, ink off by "
               f"{ink_off.quantile(0.9).exp().item() - 1:.0%}")

# %% [markdown]
# After 3,000 steps the VAE places and sizes the shapes well, but draws them all as round blobs: position
# and scale carry most of the pixels, so they are learnt first; shape and orientation change only a few pixels
# at the rim and take many more steps. The course ships a VAE trained the same way for longer (the exact
# command, steps, time and scores are in `vaecourse/pretrained/README.md`): compare its reconstructions. After
# 15,000 steps it gets positions and sizes right and draws ellipses elongated the right way when they lie near
# horizontal or vertical (a tilted one comes back tilted less, or not at all); squares and hearts are still round
# blobs: even five times more training leaves shape, the factor with the fewest pixels, barely learnt.

# %%
if pretrained.available("ch1_vae_conv64"):
    long_model = pretrained.load("ch1_vae_conv64").to(device)
    display(reconstruction_figure(x_test, long_model.reconstruct(x_test), n=10,
                                  title=f"the same data through the {pretrained.info('ch1_vae_conv64')['steps']:,}-step VAE"))
else:
    print("the pretrained chapter-1 model is not installed; train it with the command vaecourse/pretrained/README.md "
          "records (15,000 steps): `python -m vaecourse train --model vae --encoder conv64 --objective beta --beta 1 "
          "--kl-warmup 500 --logvar-bias -4 --dataset dsprites --steps 15000 --batch-size 64 --lr 1e-3 --seed 0 "
          "--out runs/ch1_vae_conv64.pt`")

# %% [markdown]
# **Latent traversals.** Take the code $\mu(x)$ of one image, change one latent dimension at a time across
# $[-3, 3]$ and decode. A plain VAE ($\beta = 1$) uses several latents for each factor and mixes factors in some
# latents (the check under the grid measures it): Chapter 2 shows how a larger $\beta$ pulls them apart. The static grid shows every dimension; the slider
# below explores one at a time.

# %%
explored = long_model if pretrained.available("ch1_vae_conv64") else model  # the longer-trained VAE when shipped
z0 = explored.embed(x_test[:1]).cpu()[0]
display(traversal_figure(explored, z0, title="each row: one latent dimension varied, the others fixed at mu(x)"))
rho = np.abs(factor_latent_correlations(dsprites, explored.embed, generator=torch.Generator().manual_seed(1))["rho"])
per_factor, per_latent = (rho >= 0.3).sum(axis=0), (rho >= 0.3).sum(axis=1)  # rho: (latents, posX/posY/scale)
claim("this plain VAE uses several latents for each of position X, position Y and scale, and some latents move with "
      "two factors at once (|Spearman ρ| ≥ 0.3)", bool(per_factor.min() >= 2 and per_latent.max() >= 2),
      measured="latents per factor " + ", ".join(f"{n} {k}" for n, k in zip(("posX", "posY", "scale"), per_factor))
               + f"; {int((per_latent >= 2).sum())} latents with two factors or more")

# %%
# NBVAL_IGNORE_OUTPUT
traversal_explorer(explored, z0)

# %% [markdown]
# ## Recap
# * The ELBO is reconstruction minus KL, per example, in nats; both sums run over pixels or latent dimensions,
#   and only the final average runs over the batch.
# * Reparameterisation makes the sample a differentiable function of the encoder outputs.
# * The closed-form KL removes a whole source of gradient noise.
# * Next: `exercises/01_elbo.ipynb` (four functions of this chapter's equations; then predict what the shipped VAE's
#   decoder draws at $z = 0$, and read its traversal grid), then Chapter 2, where the KL term gets a weight $\beta$
#   and a meaning as a constraint.
#
# **References** (keys as in `docs/references.md`): [kingma2014] Auto-Encoding Variational Bayes;
# [rezende2014] Stochastic backpropagation; [burgess2018] Understanding disentangling in β-VAE;
# [matthey2017] dSprites.
