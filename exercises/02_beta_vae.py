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
# # Chapter 2 exercises — β-VAE, the multiplier and the budget
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vaecourse/vaecourse/blob/main/exercises/02_beta_vae.ipynb)
#
# Four functions from the lecture (`notebooks/02_beta_vae.ipynb`): the β-VAE loss (Eq. 9), one dual-ascent step on
# the multiplier of the constrained problem (Eq. 8), the capacity schedule of Burgess et al., and the active
# latents read off the per-dimension KL. Fill in each body where it says `raise NotImplementedError`, run the cell,
# then the **check** cell below it. An unfinished exercise falls back to the library's version, so *Run All*
# always reaches the end, where your functions train a constrained β-VAE together.

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
from IPython.display import display

import vaecourse
from vaecourse import check, metrics, objectives
from vaecourse.data import DSprites, Pooled
from vaecourse.models import VAE
from vaecourse.objectives import elbo_terms
from vaecourse.viz import kl_per_dimension_figure

FAST = vaecourse.fast_mode()
device = vaecourse.default_device("auto")
generator = vaecourse.seed_everything(0)

# %% [markdown]
# ## Exercise 2.1 — the β-VAE loss
#
# Given the per-example reconstruction terms `log_px_z` $=\log p(x_b\mid z_b)$ and KLs `kl`
# $=\mathrm{KL}(q(z\mid x_b)\,\|\,p(z))$, both of shape `(B,)` in nats, return the **loss** the optimiser minimises
# for the β-VAE objective of Eq. 9: the negative batch mean of $\log p(x\mid z) - \beta\,\mathrm{KL}$, a 0-d tensor.

# %%
def beta_vae_loss(log_px_z, kl, beta):
    # Exercise 2.1: the beta-VAE loss — return -mean(log_px_z - beta * kl)
    raise NotImplementedError("Exercise 2.1: the beta-VAE loss — return -mean(log_px_z - beta * kl)")


# %%
if not check.beta_vae_loss(beta_vae_loss):
    def beta_vae_loss(log_px_z, kl, beta):  # the library's objective, written on the two terms
        return -(log_px_z - beta * kl).mean()

# %% [markdown]
# ## Exercise 2.2 — one step of dual ascent on the multiplier
#
# The constrained problem "maximise reconstruction subject to KL < ε" has the Lagrangian
# $\mathbb E_q\log p(x\mid z) - \beta(\mathrm{KL} - \varepsilon)$ with $\beta \ge 0$. After each model step the multiplier
# takes a gradient-**ascent** step on the dual, clipped at 0:
# $$\beta \leftarrow \max\big(0,\; \beta + \eta\,(\mathrm{KL} - \varepsilon)\big).$$
# Return the new β (a float) from the old `beta`, the batch-mean `kl`, the budget `epsilon` and the step size `lr`.

# %%
def dual_ascent_step(beta, kl, epsilon, lr):
    # Exercise 2.2: the dual-ascent step — return max(0, beta + lr * (kl - epsilon))
    raise NotImplementedError("Exercise 2.2: the dual-ascent step — return max(0, beta + lr * (kl - epsilon))")


# %%
if not check.dual_ascent(dual_ascent_step):
    dual_ascent_step = objectives.dual_ascent_step

# %% [markdown]
# ## Exercise 2.3 — the capacity schedule
#
# Burgess et al. replace the fixed budget by one that grows: the target capacity $C$ rises linearly from 0 nats at
# step 0 to `c_max` nats at step `c_steps`, and is held there afterwards (on dSprites: 25 nats over 100,000 steps).
# Return $C$ at `step`.

# %%
def capacity(step, c_max, c_steps):
    # Exercise 2.3: the capacity schedule — return c_max * min(step / c_steps, 1)
    raise NotImplementedError("Exercise 2.3: the capacity schedule — return c_max * min(step / c_steps, 1)")


# %%
if not check.capacity_schedule(capacity):
    capacity = objectives.capacity_at

print("C over the dSprites schedule:", [round(capacity(s, 25.0, 100_000), 2) for s in (0, 10_000, 50_000, 100_000, 150_000)])

# %% [markdown]
# ## Exercise 2.4 — the active latents
#
# `kl` holds the KL of each latent dimension for each example, shape `(B, D)`:
# $\mathrm{KL}_{bd} = \tfrac12(\mu_{bd}^2 + \sigma_{bd}^2 - 1 - \log\sigma_{bd}^2)$. A latent is **active** when its
# batch-**mean** KL exceeds `threshold` nats. Return the indices of the active latents as a LongTensor, the most
# informative (largest mean KL) first.

# %%
def active_latents(kl, threshold):
    # Exercise 2.4: active latents — indices of the dimensions whose batch-mean KL > threshold, largest first
    raise NotImplementedError("Exercise 2.4: active latents — indices of the dimensions whose batch-mean KL > threshold, largest first")


# %%
if not check.active_latents(active_latents):
    active_latents = metrics.active_latents

# %% [markdown]
# ## Your functions together: a constrained β-VAE
#
# Train the chapter's 32×32 model on dSprites with **your** loss and **your** dual-ascent step: each step uses the
# current multiplier as β in the loss, then moves the multiplier by the KL's distance from the budget ε. Watch β
# climb while the KL is over budget and settle once the KL sits at ε. Then read the active latents with your
# function.

# %%
dsprites32 = Pooled(DSprites(device=device), side=32)  # 64x64 pooled to 32x32, as in the lecture
torch.manual_seed(0)
model = VAE(latent_dim=10, encoder="conv32", image_shape=(1, 32, 32), logvar_bias=-4.0).to(device)  # as in the lecture
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
epsilon, lr_dual, beta = 8.0, 0.01, 1.0
steps = 20 if FAST else 1500  # about 1.5 minutes on a 2-core laptop CPU
for step, (x, _) in enumerate(dsprites32.batches(64, steps, generator=generator)):
    log_px_z, kl = elbo_terms(model(x), x)  # (B,), (B,)
    loss = beta_vae_loss(log_px_z, kl, beta)  # the multiplier, frozen for this step, is beta
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    beta = float(dual_ascent_step(beta, kl.mean().item(), epsilon, lr_dual))
    if step % max(1, steps // 6) == 0 or step == steps - 1:
        print(f"step {step:5d}  KL {kl.mean().item():6.2f} nats (epsilon {epsilon})  multiplier beta {beta:5.2f}")

# %%
model.eval()
with torch.no_grad():
    q = model.encode(dsprites32.sample(512, generator=generator)[0])
per_dim = metrics.kl_per_dimension(q.mu, q.logvar)  # (B, D)
print("active latents (mean KL > 0.1 nats), largest first:", active_latents(per_dim, 0.1).tolist())
display(kl_per_dimension_figure({"your constrained run": per_dim.mean(0)}))

# %% [markdown]
# ## Going further
# * Replace the fixed budget by your capacity schedule: $\varepsilon_t = C(t)$ rising from 0 to 10 nats over the run.
#   Which latent switches on first, and which factor does it follow?
# * Set `lr_dual = 0` and start from β = 4: you have trained a β-VAE. What KL does it settle at? Now set ε to that
#   value, start from β = 1 and let the multiplier learn: where does it end?
