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
# # Chapter 2 — β-VAE: disentangling as constrained optimisation
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vaecourse/vaecourse/blob/main/notebooks/02_beta_vae.ipynb)
#
# Chapter 1 trained a VAE by maximising the ELBO. Its latents described the images well, but each factor of
# variation (position, size, shape) was smeared over several latents. Higgins et al. (2017) ask for more: a
# latent per factor, **disentangled**. Their answer is one number, $\beta$, in front of the KL term, and the reason
# it works is easiest to see when the VAE is written as a *constrained* optimisation problem.
#
# **By the end of this notebook you will be able to**
# 1. say why disentangling pays (a linear probe that transfers to unseen positions) and state the problem as the
#    slides do: the data set $\mathcal D = \{X, V, W\}$, the simulator, the marginal likelihood and the posterior (Eq. 2–4);
# 2. write the β-VAE as "best reconstruction subject to an information budget" (slides, Eq. 6–9), derive its
#    Lagrangian and read β as the Lagrange multiplier (KKT);
# 3. solve the constrained problem directly by dual ascent on the multiplier, and see that a fixed β is the same
#    problem with the multiplier frozen;
# 4. read a β sweep through the rate–distortion picture, the detail each β loses, the KL of each latent dimension
#    and latent traversals;
# 5. check, with a rank correlation, that a β = 4 model gives position X, position Y and scale a latent each.
#
# Exercises for this chapter: `exercises/02_beta_vae.ipynb` (solutions in `solutions/02_beta_vae.ipynb`).

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

import vaecourse
from vaecourse import pretrained, recipes
from vaecourse.data import DSprites, Pooled
from vaecourse.metrics import active_latents, factor_latent_correlations, model_kl_per_dimension
from vaecourse.models import VAE
from vaecourse.objectives import (ConstrainedVAE, beta_vae, capacity_at, elbo, normalised_beta,
                                  unnormalised_beta)
from vaecourse.viz import (kl_per_dimension_figure, multiplier_figure, rate_distortion_figure, sweep_model_figure,
                           traversal_figure, traversal_row_figure)
from vaecourse.widgets import beta_explorer, sweep_traversal_explorer

FAST = vaecourse.fast_mode()  # CI sets VAECOURSE_FAST=1: tiny runs that only prove the notebook works
device = vaecourse.default_device("auto")  # cuda, then mps, then cpu
generator = vaecourse.seed_everything(0)
print(f"vaecourse {vaecourse.__version__}, torch {torch.__version__}, device {device}, FAST={FAST}")

# %% [markdown]
# ## Why disentangle at all?
#
# The slides' first answer: a disentangled representation **generalises better to unseen situations**, which is
# what zero-shot and knowledge transfer need. Here is that claim as a test you can run. A linear probe (ridge
# regression) reads the vertical position of the shape from a code. It is trained only on images whose shape sits in
# the **left half** (position X in classes 0–15) and tested on the **right half** (classes 16–31): positions it never
# saw. If position Y lives in its own latent, untouched by X, the probe's weights stay right when X changes; if Y is
# mixed with X, or the code is pixels (a shape on the right lights pixels that never lit during training), they do not.
#
# The codes: the posterior means of two models from the end of this chapter (shipped with the course, section 4),
# β = 1 and β = 4, beside the 32×32 pixels themselves and a 10-component PCA of them (fitted on the left half).
# As a second test, the same probe is asked for **position X** itself on the right half: extrapolating a factor
# beyond every value seen in training.

# %%
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402

sim32 = Pooled(DSprites(device=device), side=32)  # the images this chapter's models see (section 1)
POS_X, POS_Y = sim32.factor_names.index("posX"), sim32.factor_names.index("posY")
probe_factors = sim32.sample_factors(2_000 if FAST else 6_000, torch.Generator().manual_seed(0))  # (n, 6) classes
probe_images = sim32.render(probe_factors)  # (n, 1, 32, 32)
left = (probe_factors[:, POS_X] < 16).cpu().numpy()  # the probe's training set; the right half is unseen
pixels = probe_images.flatten(1).double().cpu().numpy()  # (n, 1024)
probe_codes = {"pixels": pixels, "PCA (10)": PCA(n_components=10, random_state=0).fit(pixels[left]).transform(pixels)}
for b in (1, 4):
    if pretrained.available(f"ch2_beta{b}"):
        shipped = pretrained.load(f"ch2_beta{b}").to(device).eval()
        with torch.no_grad():
            probe_codes[f"beta = {b}"] = torch.cat([shipped.embed(part) for part in probe_images.split(1000)]).cpu().numpy()
for factor, column in (("position Y", POS_Y), ("position X", POS_X)):
    target = probe_factors[:, column].cpu().numpy().astype(float)
    print(f"a linear probe for {factor}, trained on the left half, R^2 (1 = perfect, 0 = the mean, < 0 = worse):")
    for name, codes in probe_codes.items():
        probe = Ridge(alpha=1e-3).fit(codes[left], target[left])
        error = np.abs(probe.predict(codes[~left]) - target[~left]).mean()
        print(f"  {name:>9}: seen (left) {probe.score(codes[left], target[left]):7.3f}   "
              f"unseen (right) {probe.score(codes[~left], target[~left]):8.3f}   mean error there {error:5.2f} classes")

# %% [markdown]
# What the course's run printed (normal mode, 6,000 images): for **position Y**, the β = 4 code's probe scored R² 0.981
# on the left half and 0.968 on the unseen right half; β = 1's 0.815 and 0.711 (Y is spread over several latents
# there, see section 6); PCA's 0.850 and 0.280; the pixels' 0.884 and −13.4 (worse than predicting the mean). The
# disentangled code transfers to positions it never saw, and the entangled codes lose much more. The second test
# draws the line: asked for **position X** on the right half, every code fails (R² 0.394 for β = 1, 0.304 for
# β = 4, far below 0 for PCA and pixels). The transfer comes from Y being *independent* of X in the code, not from any
# ability to extrapolate a factor beyond what the model has seen: the latent of X bends at the values it was
# trained on.
#
# ## The data set $\mathcal D = \{X, V, W\}$ and the simulator
#
# The slides set the problem up with a data set $\mathcal D = \{X, V, W\}$: images $x \in \mathbb R^N$,
# **conditionally independent factors** $v \in \mathbb R^K$ (independent given $x$:
# $\log p(v\mid x) = \sum_k \log p(v_k\mid x)$), and **conditionally dependent factors** $w \in \mathbb R^H$. An
# image is what a **simulator** makes of them: $p(x\mid v, w) = \mathrm{Sim}(v, w)$. For dSprites the simulator is
# the renderer of `vaecourse.data.DSprites`: $v$ = (shape, scale, orientation, position X, position Y), $K = 5$;
# $w$ is the colour, which dSprites holds at one value (white), so nothing in $W$ varies here ($H = 1$). Below, a
# few samples of $\mathcal D$, and $\mathrm{Sim}$ changing one factor of $v$ at a time: the ideal a disentangled
# model's decoder should imitate.

# %%
from vaecourse.viz import image_grid  # noqa: E402

sim = DSprites(device=device)  # Sim(v, w): 64x64 images from factor classes, deterministic
V_NAMES = [sim.factor_names[k] for k in sim.varying_factors]
v = sim.sample_factors(6, torch.Generator().manual_seed(4))  # (6, 6) classes: colour (w) and the 5 factors of v
x_sim = sim.render(v)  # (6, 1, 64, 64)
print(f"X: {tuple(x_sim.shape)} images, N = {x_sim[0].numel()} pixels;  V: {len(V_NAMES)} factors {V_NAMES};  "
      f"W: colour, {sim.factor_sizes[0]} value")
print("the same (v, w) renders the same image:", bool(torch.equal(sim.render(v), x_sim)))
rows = []
for k in sim.varying_factors:  # each row: one factor of v swept over its classes, the others as in the first sample
    sweep = v[:1].repeat(8, 1)
    sweep[:, k] = torch.linspace(0, sim.factor_sizes[k] - 1, 8).round().long()
    rows.append(sim.render(sweep))
display(image_grid(torch.cat(rows).cpu(), ncols=8, title="Sim(v, w): rows vary " + ", ".join(V_NAMES) + " in turn"))

# %% [markdown]
# ## What the model is asked for (slides, Eq. 2–4)
#
# The model does not see $v$ or $w$, only $x$. It learns a joint $p(x, z)$ with $M \ge K$ latents such that
#
# $$p_\theta(x\mid z) \approx p(x\mid v, w) = \mathrm{Sim}(v, w) \qquad\text{(Eq. 2)}$$
#
# (the decoder plays the simulator), by maximising the **marginal likelihood** of the data,
#
# $$\max_\theta\; \log p_\theta(x) = \log \mathbb E_{p(z)}\big[p_\theta(x\mid z)\big], \qquad\text{(Eq. 3)}$$
#
# and infers the latents of an image through the **posterior** $q_\phi(z\mid x)$ (Eq. 4). The goal is a posterior
# that corresponds to $v$ in a disentangled way. The cell below reads all three in the shipped β = 4 model:
#
# * **Eq. 2**: Sim's images against the decoder's mean image for the posterior mean of each;
# * **Eq. 3**: $\log p(x)$ is an integral over $z$. Estimated by sampling $z$ from the prior, or by importance sampling
#   from the posterior (the bound $\mathcal L_k$, chapter 4), beside the ELBO (Eq. 1: $\mathrm{ELBO} \le \log p(x)$;
#   averaged here over $k$ draws of $z$).
#   Each estimator is repeated five times with $k = 100$ samples, to see how much it scatters;
# * **Eq. 4**: the posterior of three images that differ only in position X: which coordinates of $\mu(x)$ move, and
#   which keep $\sigma \approx 1$ (the prior: latents the model does not use).

# %%
from vaecourse.objectives.elbo import importance_weighted_bound, log_mean_exp  # noqa: E402

if pretrained.available("ch2_beta4"):
    m4 = pretrained.load("ch2_beta4").to(device).eval()
    x_v = sim32.render(v)  # the same six factor vectors as above, as the model sees them (32x32)
    with torch.no_grad():
        decoded = m4.reconstruct(x_v)  # mean of p(x|z) at z = mu(x)
    print(f"Eq. 2: mean |Sim(v, w) - decoder| per pixel {(decoded - x_v).abs().mean().item():.4f}, against "
          f"{x_v.mean().item():.4f} for a decoder that draws nothing (an all-black image)")
    display(image_grid(torch.cat([x_v, decoded]).cpu(), ncols=6, title="Eq. 2: Sim(v, w) (top) and p(x|z) (bottom)"))

    k, repeats, x4 = 100, 5, x_v[:4]
    g = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        elbo4 = torch.stack([elbo(m4(x4, generator=g), x4).elbo for _ in range(k)]).mean(0)  # (4,): E_q over k draws
        posterior = torch.stack([importance_weighted_bound(m4, x4, k=k, generator=g) for _ in range(repeats)])  # (R, 4)
        prior = []
        for _ in range(repeats):  # log (1/k) sum_i p(x|z_i), z_i ~ p(z): Eq. 3 read literally
            z = torch.randn(k, m4.latent_dim, generator=g, device=device)  # (k, D)
            prior.append(torch.stack([log_mean_exp(m4.decode(z).log_prob(xi.expand(k, *xi.shape))) for xi in x4]))
        prior = torch.stack(prior)  # (R, 4)
    print("Eq. 3, log p(x) in nats for four images (mean ± standard deviation over five repeats, k = 100):")
    for i in range(4):
        print(f"  image {i}: ELBO {elbo4[i].item():7.2f}   posterior sampling {posterior[:, i].mean().item():7.2f} ± "
              f"{posterior[:, i].std().item():4.2f}   prior sampling {prior[:, i].mean().item():7.2f} ± {prior[:, i].std().item():4.2f}")

    shifted = v[:1].repeat(3, 1)
    shifted[:, POS_X] = torch.tensor([8, 16, 24])  # one image, its shape moved to three X positions
    with torch.no_grad():
        q = m4.encode(sim32.render(shifted))
    sigma = (0.5 * q.logvar).exp()
    print("Eq. 4, q(z|x) for position X = 8, 16, 24 (the other factors fixed):")
    print("  mu   ", np.array2string(q.mu.cpu().numpy(), precision=2, suppress_small=True, max_line_width=120))
    print("  sigma", np.array2string(sigma.cpu().numpy(), precision=2, suppress_small=True, max_line_width=120))
    moved = (q.mu.max(0).values - q.mu.min(0).values).cpu()
    print(f"  the coordinate that moves most: z{int(moved.argmax())} (by {moved.max().item():.2f}); "
          f"the next: by {moved.sort(descending=True).values[1].item():.2f}")
else:
    print("ch2_beta4 is not shipped with this copy of the course: see vaecourse/pretrained/README.md")

# %% [markdown]
# What to read in the printout. **Eq. 2**: the decoder redraws Sim's images, blurred at the edges (bottom row;
# course run: a mean pixel error of 0.0113, against 0.0314 for drawing nothing).
# **Eq. 3**: sampling $z$ from the prior, as Eq. 3 is written, is a poor estimator: most prior samples decode to
# some other image, so with $k = 100$ the estimate comes out lower than the posterior-sampling one and scatters
# between repeats (course run: 9–35 nats lower, standard deviations of 6–27 nats against 0.1–0.3).
# That is why the model needs the posterior of Eq. 4: it tells the estimator where $p(x\mid z)$ is large, and the
# ELBO (Eq. 1) is the $k = 1$ case of that estimator, below $\log p(x)$ by $\mathrm{KL}(q_\phi(z\mid x)\,\|\,p(z\mid x))$.
# **Eq. 4**: moving the shape only in X moves one coordinate of $\mu(x)$ (course run: z2 by 1.41, the next by 0.10);
# the latents with $\sigma \approx 1$ are the prior itself, switched off by the budget.

# %% [markdown]
# ## 1. The constrained problem (slides, Eq. 5–9)
#
# Keep the VAE of chapter 1: prior $p(z) = \mathcal N(0, I)$ (Eq. 5), encoder $q_\phi(z\mid x)$, decoder $p_\theta(x\mid z)$.
# Instead of the ELBO, ask for the best reconstruction the model can achieve **while the posterior stays within
# $\varepsilon$ nats of the prior**:
#
# $$\max_{\theta,\phi}\; \mathbb E_{x\sim\mathcal D}\,\mathbb E_{q_\phi(z\mid x)} \log p_\theta(x\mid z)
# \qquad\text{subject to}\qquad \mathrm{KL}\big(q_\phi(z\mid x)\,\|\,p(z)\big) < \varepsilon. \qquad\text{(Eq. 6–7)}$$
#
# The KL is the number of nats the code spends describing $x$: a budget on it is a budget on information. Because
# the prior is isotropic, the cheapest way to spend a small budget is on a few independent latents, each
# describing whatever buys the most reconstruction per nat — in dSprites, position first, then size.
#
# **The Lagrangian.** With a multiplier $\beta \ge 0$ for the inequality constraint,
#
# $$\mathcal F(\theta,\phi,\beta) = \mathbb E_q \log p_\theta(x\mid z) - \beta\,\big(\mathrm{KL}(q_\phi(z\mid x)\,\|\,p(z)) - \varepsilon\big). \qquad\text{(Eq. 8)}$$
#
# A solution $(\theta^*, \phi^*)$ with its multiplier $\beta^*$ satisfies the **KKT conditions**:
# * *stationarity* — $\nabla_{\theta,\phi}\,\mathcal F = 0$ at $\beta^*$;
# * *primal feasibility* — $\mathrm{KL} \le \varepsilon$;
# * *dual feasibility* — $\beta^* \ge 0$;
# * *complementary slackness* — $\beta^*\,(\mathrm{KL} - \varepsilon) = 0$: either the budget is spent exactly
#   (the constraint is **active**, $\beta^* > 0$), or it is not binding and $\beta^* = 0$.
#
# **β is the multiplier.** For a *fixed* $\beta$ the term $\beta\varepsilon$ does not depend on $\theta$ or $\phi$, so
# maximising Eq. 8 is maximising
#
# $$\mathbb E_q \log p_\theta(x\mid z) - \beta\,\mathrm{KL}\big(q_\phi(z\mid x)\,\|\,p(z)\big), \qquad\text{(Eq. 9)}$$
#
# the β-VAE objective. $\beta = 1$ is the ELBO; $\beta > 1$ is a tighter budget. Choosing β instead of ε is choosing
# the multiplier instead of the constraint: each β corresponds to the ε that its own solution ends up spending.
#
# Below, the library's Lagrangian (`ConstrainedVAE`) with its multiplier frozen (`lr_dual=0`) and the β-VAE loss
# on the same batch: the losses differ by exactly the constant $\beta\varepsilon$, so their gradients are equal.

# %%
# what this chapter's models see: 64x64 dSprites average-pooled to 32x32 (grey edge pixels keep the sub-pixel
# position; see section 2). A view of a data set is a data set: same factors, the images pooled.
dsprites32 = Pooled(DSprites(device=device), side=32)

torch.manual_seed(0)
demo = VAE(latent_dim=10, encoder="conv32", image_shape=(1, 32, 32)).to(device)
x_demo = dsprites32.sample(64, generator=generator)[0]
out = demo(x_demo)
beta, epsilon = 4.0, 12.0
frozen = ConstrainedVAE(epsilon=epsilon, lr_dual=0.0, beta=beta)
loss_lagrangian = frozen(out, x_demo).loss
loss_beta = beta_vae(out, x_demo, beta=beta).loss
print(f"Lagrangian loss {loss_lagrangian.item():.3f}, beta-VAE loss {loss_beta.item():.3f}, "
      f"difference {(loss_beta - loss_lagrangian).item():.3f} = beta * epsilon = {beta * epsilon:.3f}")

# %% [markdown]
# **Solving the constrained problem directly.** Instead of guessing β, update it by gradient *ascent* on the dual:
# after each model step,
#
# $$\beta \leftarrow \max\big(0,\; \beta + \eta\,(\mathrm{KL} - \varepsilon)\big).$$
#
# While the budget is overspent the multiplier grows, pressing harder on the KL; while there is slack it shrinks
# (never below 0). At a fixed point either $\mathrm{KL} = \varepsilon$ or $\beta = 0$: complementary slackness.
# `ConstrainedVAE(epsilon, lr_dual)` does exactly this and records the multiplier in `beta_trace`.
#
# **Two other knobs from the literature**, both in `vaecourse.objectives`:
# * Burgess et al. (2018) fix the budget and raise it over time: maximise
#   $\mathbb E_q\log p(x\mid z) - \gamma\,|\mathrm{KL} - C|$ with $C$ growing linearly (`capacity_vae`; on dSprites
#   $\gamma = 1000$ and $C$ from 0 to 25 nats over 100,000 steps);
# * Higgins et al. quote a **normalised** $\beta_\text{norm} = \beta M / N$ ($M$ latents, $N$ pixels), so that values
#   compare across image and code sizes. The course's `beta` is always the un-normalised weight of Eq. 9.

# %%
print("capacity schedule C(step), nats:",
      {step: capacity_at(step, c_max=25.0, c_steps=100_000) for step in (0, 25_000, 50_000, 100_000, 200_000)})
for side in (64, 32):
    print(f"beta = 4 with 10 latents on {side}x{side} images is beta_norm = {normalised_beta(4.0, 10, side * side):.5f}; "
          f"beta_norm = 0.01 there is beta = {unnormalised_beta(0.01, 10, side * side):.2f}")

# %% [markdown]
# ## 2. The experiment, and what was traded for speed
#
# The papers train for hundreds of thousands of steps on a GPU. This chapter has to run in a lab session on a
# laptop CPU, so its experiments make these choices (each measured; see `vaecourse/pretrained/README.md`):
#
# * **Images average-pooled from 64×64 to 32×32** (`Pooled(DSprites(), side=32)` above). A quarter of the pixels, and the grey edge pixels
#   still carry the sub-pixel position of the shape. Fine detail is lost: a heart and a square of the same size
#   are harder to tell apart, so *shape* and *orientation* are not expected to separate here.
# * **A three-convolution encoder (`conv32`)**: the Burgess et al. design with one stride-2 layer fewer.
# * **4,500 steps of batch 64, Adam 1e-3** for every model (the β = 4 model below: about 2.5 minutes of one CPU
#   core), against 300,000+ steps in the papers. Shape and orientation need far longer; position and scale come
#   first.
# * **The encoder's log-variance starts at −4** (`VAE(..., logvar_bias=-4)`, `--logvar-bias -4`), i.e. $\sigma \approx 0.14$
#   instead of $\sigma \approx 1$, and **no KL warm-up**. With the default start a run can sit for thousands of
#   steps in **posterior collapse** (KL ≈ 0 in every latent, the decoder drawing the average image). Why the small
#   start cures it, what we measured over five seeds, and what the full 64×64 images cost: the appendix at the end
#   of this notebook.
#
# ## 3. Train a β = 4 model here
#
# From scratch, on dSprites rendered on the fly and pooled to 32×32.

# %%
recipe4 = recipes.get("ch2-beta4")  # section 2's choices as one named record (vaecourse/recipes.py)
latent_dim = recipe4.latent_dim
steps = 40 if FAST else recipe4.steps  # 4,500: about 3 minutes on a 2-core laptop CPU; seconds on a GPU


def train_vae(recipe, steps, desc="training"):
    """`python -m vaecourse train --recipe NAME` without its checkpoints: the same run (data view `dsprites32`,
    model, objective, optimiser, seeding), built once from the recipe and trained by the one loop."""
    run = recipes.build(recipe, device=device, steps=steps)
    return run.model, recipes.train(run, desc=desc)


started = time.perf_counter()
if vaecourse.site_mode() and pretrained.available("ch2_beta4"):  # the course site shows the shipped run of this recipe
    model4, history4 = pretrained.load("ch2_beta4").to(device).eval(), pretrained.history("ch2_beta4")
    print(f"course site: loaded ch2_beta4, this recipe and seed trained for {pretrained.info('ch2_beta4')['steps']:,} "
          "steps by `python -m vaecourse train` (vaecourse/pretrained/README.md), instead of training it here")
else:
    model4, history4 = train_vae(recipe4, steps, desc="beta = 4")
    print(f"{steps} steps in {time.perf_counter() - started:.0f} s on {device}")
print(f"log p(x|z) {history4.last(100)['log_px_z']:.1f}, KL {history4.last(100)['kl']:.1f} nats (mean of the last 100 steps)")

# %% [markdown]
# **Did it find the factors?** For 2,048 fresh images, the Spearman rank correlation between each latent mean
# $\mu_d(x)$ and each true factor. Spearman asks only for a *monotone* relation (a latent may bend or flip the
# factor's scale). For position X, position Y and scale, the best match of one latent per factor (no latent used
# twice) should reach $|\rho| \ge 0.9$.

# %%
def correlations(model):
    return factor_latent_correlations(dsprites32, model.embed, generator=torch.Generator().manual_seed(1))


score4 = correlations(model4)
for name, latent, rho in zip(score4["factor_names"], score4["latent"], score4["abs_rho"]):
    print(f"{name:>5}: latent z{latent}, |Spearman rho| = {rho:.3f}")
print("three distinct latents with |rho| >= 0.9:", score4["separate"])

# %%
labels = {d: f"z{d} ({name})" for name, d, rho in zip(score4["factor_names"], score4["latent"], score4["abs_rho"])
          if rho >= 0.5}
kl4 = model_kl_per_dimension(model4, dsprites32.sample(512, generator=generator)[0])
dims4 = active_latents(kl4, 0.1).tolist() or list(range(latent_dim))
x_probe = dsprites32.sample(1, generator=generator)[0]
display(traversal_figure(model4, model4.embed(x_probe).cpu()[0], dims=dims4, labels=[labels.get(d, f"z{d}") for d in dims4],
                         values=np.linspace(-2.5, 2.5, 9),
                         title="beta = 4, trained above: the active latents, traversed (matched factor in brackets)"))

# %% [markdown]
# ## 4. The β sweep: train or load
#
# A sweep over β = 1, 2, 4, 8, 16 and one run of the constrained problem (ε = 8 nats, dual ascent with η = 0.01)
# takes longer than a lab session on a CPU. On a GPU this notebook trains them here, from scratch, with exactly
# the settings of section 2; on a CPU it loads the checkpoints the course ships, each written by
# `python -m vaecourse train` from the same recipes (`ch2-beta1` … `ch2-beta16`, `ch2-constrained`; commands, machine,
# time and scores in `vaecourse/pretrained/README.md`).

# %%
BETAS = (1, 2, 4, 8, 16)
RUNS = {f"beta={b}": (f"ch2_beta{b}", recipes.get(f"ch2-beta{b}")) for b in BETAS}  # shelf name, recipe
RUNS["Lagrangian"] = ("ch2_constrained", recipes.get("ch2-constrained"))  # epsilon = 8 nats, dual ascent from beta = 1
EPSILON = RUNS["Lagrangian"][1].epsilon
TRAIN_HERE = device.type == "cuda" and not vaecourse.site_mode()  # a GPU trains the sweep; a CPU (and the course
# site) loads what the course ships
sweep_steps = steps  # 4,500, as the shipped checkpoints

models, histories = {}, {}
started = time.perf_counter()
for label, (name, recipe) in RUNS.items():
    if TRAIN_HERE or (FAST and not pretrained.available(name)):
        models[label], histories[label] = train_vae(recipe, sweep_steps, desc=label)
    elif pretrained.available(name):
        models[label], histories[label] = pretrained.load(name).to(device), pretrained.history(name)
        print(f"{label}: loaded {name}, {pretrained.info(name)['steps']} steps")
    else:
        print(f"{label}: {name} is not shipped with this copy of the course and takes too long to train on a CPU "
              "here; skipped (train it on a GPU with the command in vaecourse/pretrained/README.md)")
print(f"{len(models)} models ready in {time.perf_counter() - started:.0f} s")

# %% [markdown]
# ## 5. Rate and distortion
#
# Evaluate every model on the same 1,024 images: the **rate** is the KL (nats the code spends per image), the
# **distortion** is $-\mathbb E_q\log p(x\mid z)$. The dashed lines are constant ELBO (rate + distortion = −ELBO):
# the lower-left, the better the bound. What Eq. 9 predicts: a larger β buys a lower rate with more distortion,
# giving up some of the bound — the likelihood gets *worse* as the code gets *more* compressed (slides:
# "Likelihood is a poor metric to measure disentanglement"). Compare with what the printed numbers show, and
# remember the collapsed state of the appendix: a run that never left it sits at rate ≈ 0 with the distortion of
# the average image (about 142 nats here), whatever its β.

# %%
x_eval = dsprites32.sample(1024, generator=torch.Generator().manual_seed(7))[0]
points = []
with torch.no_grad():
    for label, model in models.items():
        terms = elbo(model(x_eval, generator=torch.Generator(device=device).manual_seed(0)), x_eval)
        points.append({"label": label, "kl": terms.kl.mean().item(), "log_px_z": terms.log_px_z.mean().item(),
                       "marker": "s" if label == "Lagrangian" else "o"})
        print(f"{label:>10}: rate {points[-1]['kl']:6.2f} nats, distortion {-points[-1]['log_px_z']:7.2f} nats, "
              f"ELBO {terms.elbo.mean().item():8.2f}")
display(rate_distortion_figure(points))

# %% [markdown]
# **What the distortion looks like.** The slides: "β > 1 can lead to poorer reconstructions due to the loss of high
# frequency details when passing through a constrained latent bottleneck". The same eight images through β = 1, 4
# and 16, and a number for the detail: the mean absolute response of a 3×3 Laplacian filter (a second difference,
# large at edges and corners, zero on flat regions), of the reconstructions' mean images relative to the data's.

# %%
laplacian = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=device).view(1, 1, 3, 3)


def edge_energy(images):
    """Mean |Laplacian| per pixel: how much high-frequency detail (edges, corners) the images hold."""
    return torch.nn.functional.conv2d(images, laplacian, padding=1).abs().mean().item()


compared = [label for label in ("beta=1", "beta=4", "beta=16") if label in models]
x_detail = x_eval[:8]
with torch.no_grad():
    recons = {label: models[label].reconstruct(x_eval[:256]) for label in compared}  # decoder means at mu(x)
print(f"data: edge energy {edge_energy(x_eval[:256]):.4f}")
for label, recon in recons.items():
    print(f"{label:>8}: edge energy {edge_energy(recon):.4f} ({edge_energy(recon) / edge_energy(x_eval[:256]):.0%} of "
          f"the data's), mean squared pixel error {(recon - x_eval[:256]).pow(2).mean().item():.4f}")
display(image_grid(torch.cat([x_detail] + [recons[label][:8] for label in compared]).cpu(), ncols=8,
                   title="data, then reconstructions at " + ", ".join(compared) + " (one row each)"))

# %% [markdown]
# The course's run (normal mode, the shipped models, 256 images): the reconstructions keep 60 % (β = 1), 47 % (β = 4)
# and 27 % (β = 16) of the data's edge energy, and the squared pixel error grows from 0.0042 to 0.0054 and 0.0124.
# The corners of squares and the dents of hearts are what goes first: already at β = 1 every shape comes back as a
# blob (chapter 1 saw the same for a β = 1 VAE), and the larger β blurs even the blob's outline. This is the
# distortion side of the rate–distortion plot above, seen in the images.

# %% [markdown]
# ## 6. Which latents stay active
#
# The KL splits over latent dimensions, $\mathrm{KL} = \sum_d \mathrm{KL}_d$. A dimension with a batch-mean
# $\mathrm{KL}_d \approx 0$ says the same thing for every image: it is switched off. The larger β, the fewer latents
# the budget pays for — and the ones that survive are those that buy the most reconstruction per nat.

# %%
kls = {label: model_kl_per_dimension(model, x_eval) for label, model in models.items()}
display(kl_per_dimension_figure(kls, threshold=0.1))
for label, kl in kls.items():
    print(f"{label:>10}: active latents (KL_d > 0.1 nats, largest first) {active_latents(kl, 0.1).tolist()}")

# %% [markdown]
# **Traversals per β.** For each model, its active latents (largest KL first) traversed from −2.5 to 2.5 around the
# code of one image, the others held fixed. Look for rows that do one thing each (left–right, up–down, size) and
# rows that do two at once (a diagonal move, a move that also shrinks the shape).

# %%
x_one = x_eval[:1]
for label, model in models.items():
    dims = active_latents(kls[label], 0.1).tolist()[:6] or [int(kls[label].argmax())]
    display(traversal_figure(model, model.embed(x_one).cpu()[0], dims=dims, values=np.linspace(-2.5, 2.5, 9),
                             labels=[f"z{d} ({kls[label][d]:.1f})" for d in dims],
                             title=f"{label}: active latents (KL_d in nats)"))

# %% [markdown]
# **The factor check for every model of the sweep.** The same rank correlations as in section 3.

# %%
print(f"{'model':>10}  " + "  ".join(f"{n:>12}" for n in score4["factor_names"]) + "  separate")
for label, model in models.items():
    s = correlations(model)
    print(f"{label:>10}  " + "  ".join(f"z{l} |rho|={r:.3f}" for l, r in zip(s["latent"], s["abs_rho"]))
          + f"  {s['separate']}")

# %% [markdown]
# ## 7. The multiplier, learned
#
# The constrained run started from β = 1 and updated β by dual ascent with ε = 8 nats. Left: its multiplier beside
# the fixed β of the sweep (flat lines: multipliers frozen). Middle: the KL against the budget ε. Right: the
# reconstruction term. What to look for: while the KL is above ε the multiplier climbs; once the KL sits at ε the
# multiplier stops moving (up to the noise of the batch KL) at a value $\beta^* > 0$ — the constraint is active, as
# complementary slackness says — and that value is the fixed β whose β-VAE would spend the same budget.

# %%
shown = {label: histories[label] for label in ("Lagrangian", "beta=1", "beta=4", "beta=16") if label in histories}
display(multiplier_figure(shown, epsilon=EPSILON, smooth=5 if FAST else 50))
trace = np.asarray(histories["Lagrangian"]["beta"])
tail = trace[len(trace) // 2:]
print(f"multiplier: start {trace[0]:.2f}, mean over the second half {tail.mean():.2f} "
      f"(min {tail.min():.2f}, max {tail.max():.2f}); final KL {histories['Lagrangian'].last(100)['kl']:.2f} nats "
      f"against epsilon = {EPSILON}")
rates = {p["label"]: p["kl"] for p in points}
for label in rates:
    print(f"{label:>10}: rate on the evaluation images {rates[label]:.2f} nats")

# %% [markdown]
# ## 8. Explore
#
# A static view first (for a notebook read without a kernel): each model of the sweep at a glance —
# reconstructions, per-dimension KL and the traversals of its most informative latents.

# %%
x_few = x_eval[:6]
display(sweep_model_figure(models.get("beta=4", model4), x_few, "beta=4"))

# %% [markdown]
# With a kernel: the **traversal explorer** (pick a model, a latent and its value: the decoded image, and the whole
# row of that latent) and the **β explorer** (slide through the sweep; pick the image the traversals start from).

# %%
shown_model = models.get("beta=4", model4)
display(traversal_row_figure(shown_model, shown_model.embed(x_one).cpu()[0],
                             dim=int(model_kl_per_dimension(shown_model, x_eval).argmax()), value=1.5))

# %%
# NBVAL_IGNORE_OUTPUT
sweep_traversal_explorer(models, x_few)

# %%
# NBVAL_IGNORE_OUTPUT
beta_explorer(models, x_few)

# %% [markdown]
# ## Recap
# * The β-VAE is the Lagrangian of "reconstruct as well as possible within an information budget" (Eq. 6–8); a fixed
#   β is that problem with its multiplier frozen (Eq. 9), and dual ascent finds the multiplier for a chosen ε.
# * A larger β spends fewer nats (rate) and reconstructs worse (distortion); the likelihood bound gets worse while
#   the latents get cleaner, so likelihood cannot be the measure of disentanglement.
# * The per-dimension KL shows which latents the budget keeps; on dSprites position and scale are bought first.
# * Why it matters: a probe trained on codes of shapes in one half of the image transfers to the other half from the
#   disentangled code, much less from entangled ones; the decoder is asked to play the simulator (Eq. 2–4).
# * Chapter 3 turns "one latent per factor" into metrics.
#
# Next: `exercises/02_beta_vae.ipynb` — the β-VAE loss, the dual-ascent step, the capacity schedule, and the
# active latents.
#
# **References** (keys as in `docs/references.md`): [higgins2017] β-VAE; [burgess2018] Understanding disentangling in
# β-VAE; [alemi2018] Fixing a broken ELBO (rate–distortion); [boyd2004] Convex Optimization, §5.5.3 (KKT);
# [spearman1904] rank correlation; [matthey2017] dSprites.

# %% [markdown]
# ## Appendix: posterior collapse, the log-variance start, five seeds, and 64×64 images
#
# The details behind section 2's last choice.
#
# * **The encoder's log-variance starts at −4** (`VAE(..., logvar_bias=-4)`, `--logvar-bias -4`), i.e. $\sigma \approx 0.14$
#   instead of $\sigma \approx 1$. With the default start, $z$ is mostly prior noise; the decoder learns to draw
#   the *average image* (about 142 nats of distortion) long before the encoder makes itself heard, and once it
#   has, the KL term switches every latent off: **posterior collapse**, KL ≈ 0. How long a run sits there is a
#   matter of luck. We measured it (`benchmarks/bench_beta_factors.py --logvar-bias none --kl-warmup 500 --steps
#   3000 --seeds 0 1 2`): with the default start and 500 steps of KL warm-up (the weight rising from 0 to β), all
#   three seeds had a KL of 0.0 nats at step 500 — *during* the warm-up, while the decoder learned the average
#   image (log p(x|z) ≈ −142). Seed 2 left the collapsed state by step 1,000, seeds 0 and 1 by step 1,500, and the
#   late start showed: at 3,000 steps seeds 0 and 2 had X and Y mixed over two latents (|ρ| 0.79 / 0.83 and
#   0.86 / 0.85), and only seed 1 had the three factors apart (0.92 / 0.93 / 0.91). Starting $\sigma$ small makes
#   $z$ carry the random encoder's features from the first step, so the decoder uses them at once; the warm-up is
#   then no longer needed, and the β pressure is there from the start, while the code is still forming (with the
#   small $\sigma$ *and* a warm-up, seed 1 learned position under a weak KL weight as a rotated pair, |ρ| 0.86 /
#   0.88 after 4,500 steps, and was still slowly un-rotating; measured on the renderer before its hearts were
#   corrected).
# * **Five seeds, all checked.** The recipe of section 2, β = 4, seeds 0–4, |ρ| for position X / position Y /
#   scale after 4,500 steps, and the first evaluation (every 500 steps) at which all three cleared 0.9 on
#   distinct latents (`benchmarks/bench_beta_factors.py --steps 4500 --seeds 0 1 2 3 4 --cpu-budget 600`, one
#   thread, 149–188 CPU seconds per seed):
#
#   | seed | 0 | 1 | 2 | 3 | 4 |
#   | --- | --- | --- | --- | --- | --- |
#   | \|ρ\| posX / posY / scale | 0.991 / 0.992 / 0.915 | 0.991 / 0.994 / 0.846 | 0.998 / 0.997 / 0.915 | 0.997 / 0.997 / 0.913 | 0.885 / 0.896 / 0.911 |
#   | first at 0.9 | step 1,500 | not by 4,500 | step 1,500 | step 1,000 | not by 4,500 |
#
#   Three of five pass. Seed 1 has position but not yet scale (its scale latent climbed from 0.65 at step 2,000
#   to 0.85), and seed 4 has scale but X and Y still mixed over two latents (0.78 at step 2,000, 0.89 at the end,
#   still rising). Scale is the slow factor (a size latent also reacts to shape: a heart covers fewer pixels than a
#   square of the same scale), and in a 2.5-minute budget the seed decides *whether*, not only when, the factors
#   come apart. (On the renderer before its hearts and ellipses were corrected, all five seeds passed: the
#   five-seed margin was thin then too, 0.905 on scale for seed 1.) That is why chapter 3 reports seeds with error
#   bars, and why a run that "did not disentangle" is not yet evidence against β.
# * The same recipe on the full 64×64 images (`conv64`, `--logvar-bias -4`) costs about 4 times more CPU per step
#   (125 ms against about 30 ms, one thread): measured with `benchmarks/bench_beta_factors.py --encoder conv64
#   --image-size 64 --steps 5000 --cpu-budget 600`, seed 0 cleared the 0.9 bar at step 2,500 (325 CPU seconds)
#   and reached |ρ| 0.981 / 0.985 / 0.913 after 5,000 steps, 630 CPU seconds. It is the choice for a GPU
#   (`python -m vaecourse train --encoder conv64 ...`, see the README).

