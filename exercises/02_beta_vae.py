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
#
# Then three exercises to think through: **2.5** (*predict, then run*): what a tighter budget does to the multiplier;
# **2.6** (*vary and measure*): a budget of your own choice, and the multiplier it ends with; **2.7** (*interpret*):
# which factor the shipped β = 16 model lets go. You answer in a small function; the check reads the run, tells you
# whether you were right, and explains the outcome either way.

# %% tags=["colab"]
# On Colab only: install the course library from the repository (torch and numpy are left as Colab has them).
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "vaecourse @ git+https://github.com/vaecourse/vaecourse"], check=True)

# %%
from dataclasses import replace

import matplotlib.pyplot as plt  # noqa: F401  (activates inline figures)
import numpy as np
import torch
from IPython.display import display

import vaecourse
from vaecourse import check, metrics, objectives, pretrained, recipes
from vaecourse.data import DSprites, Pooled
from vaecourse.models import VAE
from vaecourse.objectives import elbo_terms
from vaecourse.viz import kl_per_dimension_figure, multiplier_figure, traversal_figure

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
    # Exercise 2.1: the beta-VAE loss — compute the loss to minimise for the objective of Eq. (9) from log_px_z and kl (both (B,)) and beta, a 0-d tensor; the check tries other batch sizes and betas and compares the gradients
    raise NotImplementedError("Exercise 2.1: the beta-VAE loss — compute the loss to minimise for the objective of Eq. (9) from log_px_z and kl (both (B,)) and beta, a 0-d tensor; the check tries other batch sizes and betas and compares the gradients")


# %%
if not check.beta_vae_loss(beta_vae_loss):
    beta_vae_loss = objectives.beta_vae_loss  # the library's objective, on the two terms

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
    # Exercise 2.2: one dual-ascent step — compute the new multiplier from beta, the batch-mean kl, the budget epsilon and the step size lr (Eq. 8); the check tries violated, slack and active constraints, and fresh random ones
    raise NotImplementedError("Exercise 2.2: one dual-ascent step — compute the new multiplier from beta, the batch-mean kl, the budget epsilon and the step size lr (Eq. 8); the check tries violated, slack and active constraints, and fresh random ones")


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
    # Exercise 2.3: the capacity schedule — compute the target capacity C in nats at this step from c_max and c_steps; the check tries steps before, at and after c_steps, and schedules of other lengths
    raise NotImplementedError("Exercise 2.3: the capacity schedule — compute the target capacity C in nats at this step from c_max and c_steps; the check tries steps before, at and after c_steps, and schedules of other lengths")


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
    # Exercise 2.4: active latents — from the per-example KLs (B, D), find the dimensions whose batch-mean KL is above threshold, largest first, as a LongTensor; the check tries other sizes and latents that only a few images use
    raise NotImplementedError("Exercise 2.4: active latents — from the per-example KLs (B, D), find the dimensions whose batch-mean KL is above threshold, largest first, as a LongTensor; the check tries other sizes and latents that only a few images use")


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
# ## Exercise 2.5 — predict, then run: the multiplier under a tighter budget
#
# The cell after next trains the chapter's constrained β-VAE twice, from the same seed, for a few hundred steps (the
# library's recipe `ch2-constrained`: dual ascent from β = 1 with η = 0.01, the model and data of the run above):
# once with the budget ε = 8 nats and once with a tighter ε = 4. **Before you run it**, predict: with ε = 4, will
# the multiplier β at the end be `"higher"`, the `"same"` (within 10 %) or `"lower"` than with ε = 8? The check
# compares the mean of β over the last tenth of each run.

# %%
def predict_multiplier():
    # Exercise 2.5: [predict] with a tighter budget, epsilon = 4 nats instead of 8, will the multiplier end "higher", "same" or "lower"?
    raise NotImplementedError("Exercise 2.5: [predict] with a tighter budget, epsilon = 4 nats instead of 8, will the multiplier end \"higher\", \"same\" or \"lower\"?")


# %%
short_steps = 20 if FAST else 300  # about 10 s per run on a 2-core laptop CPU


def constrained_run(epsilon):
    """The chapter's constrained run (recipe ch2-constrained) with another budget, for `short_steps` steps."""
    recipe = replace(recipes.get("ch2-constrained"), epsilon=float(epsilon))
    return recipes.train(recipes.build(recipe, device=device, steps=short_steps), progress=False)


budget_runs = {epsilon: constrained_run(epsilon) for epsilon in (8.0, 4.0)}
display(multiplier_figure({f"epsilon = {e:g}": h for e, h in budget_runs.items()}, smooth=1 if FAST else 10,
                          title="the multiplier and the KL for two budgets"))

# %%
answered = check.predict_multiplier(predict_multiplier, budget_runs)

# %% [markdown]
# ## Exercise 2.6 — vary and measure: the multiplier at a budget of your choice
#
# Choose your own budget ε (between 2 and 14 nats, not 4 or 8, which ran above) in `my_epsilon`, run the next cell,
# then write `final_multiplier(history)`: from the run's `History`, return the mean of `history["beta"]` (one value
# per step) over the last tenth of its steps. The check recomputes it, and explains what your ε did to β beside the
# two runs above. Try a large ε, say 12 or 14, and a small one.

# %%
def my_epsilon():
    # Exercise 2.6: [vary and measure] choose your own budget: return epsilon in nats, from 2 to 14, other than 4 and 8
    raise NotImplementedError("Exercise 2.6: [vary and measure] choose your own budget: return epsilon in nats, from 2 to 14, other than 4 and 8")


# %%
epsilon_mine = check.choose(my_epsilon, "2.6", "ε", low=2.0, high=14.0, default=12.0, taken=tuple(budget_runs),
                            unit=" nats")
budget_runs[epsilon_mine] = constrained_run(epsilon_mine)


# %%
def final_multiplier(history):
    # Exercise 2.6: [vary and measure] read your run: return the mean of history["beta"] over the last tenth of its steps
    raise NotImplementedError("Exercise 2.6: [vary and measure] read your run: return the mean of history[\"beta\"] over the last tenth of its steps")


# %%
answered = check.vary_epsilon(final_multiplier, budget_runs, epsilon_mine)

# %% [markdown]
# ## Exercise 2.7 — interpret: what does the tightest budget let go?
#
# The course ships the chapter's β sweep (`ch2_beta1` … `ch2_beta16`, trained by `python -m vaecourse train --recipe
# ch2-betaB`). Below, for β = 16, the mean KL of each latent and the traversals of its active latents for one image.
# Read the figures: which factor, `"posX"`, `"posY"` or `"scale"`, has **no** latent of its own at β = 16 (or
# `"none"`)? The check measures each factor's best latent (|Spearman ρ| over 2,048 images, as the lecture does).

# %%
if pretrained.available("ch2_beta16"):
    beta16 = pretrained.load("ch2_beta16").to(device).eval()
else:  # not shipped with this copy: a short run of the same recipe (its answer may differ)
    beta16 = recipes.build(recipes.get("ch2-beta16"), device=device, steps=short_steps).model.eval()
x_sweep = dsprites32.sample(1024, generator=torch.Generator().manual_seed(7))[0]
kl16 = metrics.model_kl_per_dimension(beta16, x_sweep)  # (D,)
dims16 = metrics.active_latents(kl16, 0.1).tolist() or [int(kl16.argmax())]
display(kl_per_dimension_figure({"beta = 16": kl16}, threshold=0.1))
display(traversal_figure(beta16, beta16.embed(x_sweep[:1]).cpu()[0], dims=dims16, values=np.linspace(-2.5, 2.5, 9),
                         title="beta = 16: its active latents, traversed"))
scores16 = metrics.factor_latent_correlations(dsprites32, beta16.embed, generator=torch.Generator().manual_seed(1))


# %%
def dropped_factor():
    # Exercise 2.7: [interpret] which factor has no latent of its own at beta = 16? Return "posX", "posY", "scale" or "none"
    raise NotImplementedError("Exercise 2.7: [interpret] which factor has no latent of its own at beta = 16? Return \"posX\", \"posY\", \"scale\" or \"none\"")


# %%
answered = check.interpret_dropped_factor(dropped_factor, scores16, kl16)


# %% [markdown]
# ## Going further
# * Replace the fixed budget by your capacity schedule: $\varepsilon_t = C(t)$ rising from 0 to 10 nats over the run.
#   Which latent switches on first, and which factor does it follow?
# * Set `lr_dual = 0` and start from β = 4: you have trained a β-VAE. What KL does it settle at? Now set ε to that
#   value, start from β = 1 and let the multiplier learn: where does it end?
