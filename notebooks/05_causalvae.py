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
# # Chapter 5 — Structural causal models and CausalVAE
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vaecourse/vaecourse/blob/main/notebooks/05_causalvae.ipynb)
#
# Chapters 2–4 assumed the factors behind an image are **independent**. In the pendulum scene below they are
# not: the pendulum angle θ and the light angle φ *cause* the shadow's length and position. CausalVAE
# [yang2021] builds a small **structural causal model** (SCM) into the VAE so that its latent concepts can be
# intervened on — do(light = …) should move the shadow, do(shadow length = 0) should erase it — and this
# chapter checks those counterfactuals against a simulator that knows the true ones.
#
# **By the end of this notebook you will be able to**
# 1. sample an SCM, intervene with do(·), and answer a counterfactual query (abduction, action, prediction);
# 2. explain why linear-Gaussian data only identify a graph up to its Markov equivalence class;
# 3. write CausalVAE's causal layer z = (I − Aᵀ)⁻¹ε, its mask layer, and its loss (Eq. 36–41), including the
#    acyclicity constraint H(A) = tr((I + A∘A)ⁿ) − n;
# 4. read a trained CausalVAE: its learned graph against the true one, MIC/TIC against β-VAE and a conditional
#    VAE, and its counterfactual images against the simulator's;
# 5. explain, with a measurement, why learning A from the labels' squared error does not recover the pendulum's
#    true graph, and recover it from A = 0 by asking that the exogenous noises be independent (HSIC).
#
# **What is the paper's and what is this course's.** §1–§3 and the model called "CausalVAE" below are the paper's
# [yang2021]: its causal layer, mask layer and loss (Eq. 41). Three additions are **this course's own extension,
# not the paper's**, all off by default: the *independence term* (`independence=λ`, an HSIC penalty on the label
# residuals), the *mask-layer label fit* (`label_fit="mask"`, each label predicted from its parents by a small
# network instead of σ(Aᵀu)), and *`graph_from="labels"`* (only the label terms move A). §4 trains a model with
# them, "CausalVAE + independence", beside the paper's; §5 explains, with measurements, why each was needed.
# §5's last model, the one that keeps the chapter's promise, adds more of the course's own (each flagged where it
# comes): latents that obey the learned label equations, one latent per concept with a narrower label prior, the
# shadow's pixels weighted and drawn from the shadow's own latents, and a prune of the edges the label equations
# do not need. Its last two sections ask whether the models read their concepts from the image at all (fed another
# scene's labels, they follow the labels), and replace the shadow's given rows by a decoder that learns which pixels
# each concept owns, with an encoder that reads the concepts from the image alone.
#
# Exercises for this chapter: `exercises/05_causalvae.ipynb` (solutions in `solutions/05_causalvae.ipynb`).
# Images are 32×32 here (the simulator renders any size; the paper's are 96×96) so that a 2-core laptop
# trains the models within a lab session.

# %% tags=["colab"]
# On Colab only: install the course library from the repository (torch and numpy are left as Colab has them).
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "vaecourse @ git+https://github.com/vaecourse/vaecourse"], check=True)

# %%
import math
import time

import matplotlib.pyplot as plt  # noqa: F401  (activates inline figures)
import numpy as np
import torch
from IPython.display import display

import vaecourse
from vaecourse import pretrained, recipes, scm
from vaecourse.data import Pendulum
from vaecourse.data.pendulum import CONCEPTS, TRUE_GRAPH, official_images, render_scene, split_concepts
from vaecourse.graph_fit import learn_graph_from_labels, prune_edges
from vaecourse.metrics.causal import (ink_left, intervention_fidelity, label_reliance, label_values,
                                      structural_hamming_distance, train_concept_regressor)
from vaecourse.metrics.mic import mic_tic_score, mic_tic_summary
from vaecourse.models.causal import MaskLayer
from vaecourse.objectives import causal_terms, dag_constraint, noise_dependence
from vaecourse.viz import (adjacency_figure, history_figure, image_grid, intervention_grid_figure, mic_matrix_figure,
                           ownership_figure, pendulum_reference_figure, score_figure, scm_scatter_figure)
from vaecourse.prose import claim, say
from vaecourse.widgets import intervention_explorer

FAST = vaecourse.fast_mode()  # CI sets VAECOURSE_FAST=1: tiny runs that only prove the notebook works
device = vaecourse.default_device("auto")  # cuda, then mps, then cpu
generator = vaecourse.seed_everything(0)
SIZE = recipes.get("ch5-causalvae").image_size  # 32x32 RGB, as every chapter-5 recipe
PROSE_NAME = dict(zip(CONCEPTS, ("θ", "φ", "shadow length", "shadow position")))  # as the prose names the concepts
print(f"vaecourse {vaecourse.__version__}, torch {torch.__version__}, device {device}, FAST={FAST}")

# %% [markdown]
# ## 1. Structural causal models
#
# A causal model is a triple ⟨ε, X, F⟩ (slides, "Structural Causal model"): exogenous noise ε decided outside the
# model, endogenous variables X, and one structural equation per variable, $x_i = f_i(x_{\mathrm{pa}(i)}, \varepsilon_i)$.
# Sampling draws ε and evaluates the equations parents-first. An **intervention** do(xᵢ = c) replaces the
# equation of xᵢ by the constant c: the arrows into xᵢ are cut, everything else is unchanged.
#
# The three small graphs every causal course starts with, as linear-Gaussian SCMs $z = A^\top z + \varepsilon$
# (Eq. 27–28; $A_{ij} \neq 0$ is an edge $i \to j$):

# %%
g = torch.Generator().manual_seed(0)
n = 500 if FAST else 3000
correlation = {}  # graph -> panel -> corr(x1, x3)
for name, model in (("chain x1 → x2 → x3", scm.chain()), ("fork x1 ← x2 → x3", scm.fork()),
                    ("collider x1 → x2 ← x3", scm.collider())):
    panels = {"observational": model.sample(n, g),
              "do(x2 = 1)": model.sample(n, g, interventions={"x2": 1.0}),
              "conditioned on x2 ≈ 1": None}
    obs = panels["observational"]
    keep = (obs["x2"] - 1).abs() < 0.3
    panels["conditioned on x2 ≈ 1"] = {k: v[keep] for k, v in obs.items()}
    display(scm_scatter_figure(panels, "x1", "x3", title=name))
    correlation[name.split()[0]] = {panel: float(np.corrcoef(p["x1"].numpy(), p["x3"].numpy())[0, 1])
                                    for panel, p in panels.items()}  # what each panel's title prints


def dependent(r):  # (jointly Gaussian: uncorrelated is independent; a sample correlation of independent ones is ~1/√n)
    return abs(r) > 0.3


def independent(r):
    return abs(r) < 0.15


claim("in the chain and the fork x1 and x3 are dependent, and both conditioning on x2 and do(x2) make them "
      "independent; in the collider they are independent, conditioning on x2 makes them dependent and do(x2) does not",
      all(dependent(correlation[graph]["observational"]) and independent(correlation[graph]["conditioned on x2 ≈ 1"])
          and independent(correlation[graph]["do(x2 = 1)"]) for graph in ("chain", "fork"))
      and independent(correlation["collider"]["observational"])
      and dependent(correlation["collider"]["conditioned on x2 ≈ 1"])
      and independent(correlation["collider"]["do(x2 = 1)"]),
      measured="; ".join(f"{graph}: " + ", ".join(f"{panel} {r:+.2f}" for panel, r in rs.items())
                         for graph, rs in correlation.items()))

# %% [markdown]
# Read the correlations. In the chain and the fork, x1 and x3 are dependent, and both *conditioning* on x2 and
# *intervening* on x2 make them independent. In the collider it is the other way round: x1 and x3 are
# independent, conditioning on their common effect makes them dependent ("explaining away"), and do(x2) does
# not — an intervention on an effect never reaches its causes.
#
# **Counterfactuals** ask about one unit: "x was observed; what would x3 have been had x1 been 0?" Three steps
# [pearl2009]: *abduction* recovers that unit's ε from the observation, *action* applies do(·), *prediction*
# re-evaluates the equations with the same ε.

# %%
chain = scm.chain(b=2.0, c=3.0)  # x2 = 2 x1 + e2, x3 = 3 x2 + e3
observed = {"x1": torch.tensor([1.0]), "x2": torch.tensor([2.5]), "x3": torch.tensor([7.0])}
print("abduction: eps =", {k: round(v.item(), 2) for k, v in chain.abduct(observed).items()})
print("had x1 been 0:  ", {k: round(v.item(), 2) for k, v in chain.counterfactual(observed, x1=0.0).items()})

# %% [markdown]
# ### Markov equivalence (the slides' remark under Eq. 28)
#
# With continuous variables, linear equations and Gaussian noise, observational data identify the graph only up
# to its **Markov equivalence class**: graphs with the same skeleton and the same colliders. For any ordering of
# the variables there is a linear-Gaussian SCM with *exactly* the same covariance (hence the same distribution):
# regress each variable on those before it. For the chain, the reversed order needs no extra edge — the reversed
# chain fits the data as well as the true one. For the collider, putting the collider first needs a third edge.

# %%
reordered = {}  # name -> (number of true edges, number of edges of the reordered SCM, same covariance)
for name, model, order in (("chain", scm.chain(), [2, 1, 0]), ("collider", scm.collider(), [1, 0, 2])):
    cov = scm.linear_covariance(model.graph())
    A_alt, s_alt = scm.linear_scm_from_covariance(cov, order)
    same = torch.allclose(scm.linear_covariance(A_alt, s_alt), cov.double())
    print(f"{name}: true edges {model.graph().nonzero().tolist()}; order {order} gives edges "
          f"{(A_alt.abs() > 1e-9).nonzero().tolist()}, same covariance: {same}, Markov equivalent: "
          f"{scm.markov_equivalent(model.graph(), (A_alt.abs() > 1e-9).float())}")
    reordered[name] = (int((model.graph() != 0).sum()), int((A_alt.abs() > 1e-9).sum()), same)
claim("both orders reproduce the covariance exactly; the reversed chain needs no extra edge, the collider put first "
      "needs a third", all(same for _, _, same in reordered.values()) and reordered["chain"][1] == reordered["chain"][0]
      and reordered["collider"][1] == reordered["collider"][0] + 1,
      measured=", ".join(f"{name} {true} edges → {alt}" for name, (true, alt, _) in reordered.items()))

# %% [markdown]
# ## 2. The pendulum scene, as an SCM that renders images
#
# `vaecourse.data.Pendulum` is the scene of the CausalVAE paper with its geometry written out (pivot $(10, 10.5)$,
# bob at distance $8$ with radius $1.5$, the sun on the line through the pivot with slope tan φ, the shadow between
# the ground projections of the pivot and the bob's far edge). θ and φ are causes; shadow length and position
# are their effects. The grid of the paper has 84 × 87 = 7,308 images; a fixed fifth of them is the test set.

# %%
SHADOW_NOISE = recipes.get("ch5-causalvae").shadow_noise  # 1.0 scene units: each shadow's own exogenous noise
# (eps_l, eps_p), as the chapter's recipes train with; 0 is the paper's scene
data = Pendulum(size=SIZE, device=device, shadow_noise=SHADOW_NOISE)
print(f"{len(data)} images, train {len(data.split_indices('train'))}, test {len(data.split_indices('test'))}; "
      f"concepts {CONCEPTS}")
picks = torch.linspace(0, len(data) - 1, 8).long()
factors = data.factors_at(picks)
display(image_grid(data.render(factors).cpu(), ncols=8, title="grid images (theta and phi vary)"))
concepts = data.concepts(factors, torch.Generator().manual_seed(0))  # each shadow's own noise, seeded
lit = data.counterfactual(concepts, phi=math.pi / 2)[0]
no_shadow = data.counterfactual(concepts, shadow_length=0.0)[0]
display(image_grid(torch.cat([lit, no_shadow]).cpu(), ncols=8,
                   title="the same scenes under do(phi = pi/2) (top) and do(shadow length = 0) (bottom)"))
observed_scenes, band = data.render_concepts(concepts), data.shadow_rows()  # band: the rows the shadow can darken
erased_elsewhere = (no_shadow - observed_scenes)[:, :, ~band].abs().max().item()  # 0: nothing else changed
ink_after = (1 - no_shadow[:, :, band]).sum().item()  # 0: no shadow left
lit_elsewhere = (lit - observed_scenes)[:, :, ~band].abs().max().item()
lit_shadow = (lit - observed_scenes)[:, :, band].abs().max().item()
claim("the simulator's do(shadow length = 0) erases the shadow and changes no pixel outside the shadow's rows, "
      "while do(φ) changes the shadow's rows and pixels outside them (the sun moves)",
      erased_elsewhere == 0 and ink_after == 0 and lit_elsewhere > 0 and lit_shadow > 0,
      measured=f"largest change outside the shadow's rows {erased_elsewhere:.2f} under do(shadow length = 0), "
               f"{lit_elsewhere:.2f} under do(φ); ink left in the shadow's rows {ink_after:.0f}")
# each shadow's own noise, in label units (the labels of the same training scenes without noise subtracted)
exact_scene = Pendulum(size=SIZE)
u_noisy = data.labels(split_concepts(data, "train", generator=torch.Generator().manual_seed(0))).cpu()
u_exact = exact_scene.labels(split_concepts(exact_scene, "train")).cpu()
noise_sd, label_sd = (u_noisy - u_exact)[:, 2:].std(0), u_noisy[:, 2:].std(0)  # (2,): length, position
say("Each image's shadow has its own exogenous noise of {s:g} scene unit: a standard deviation of {nl:.2f} label "
    "units in the shadow length and {np_:.2f} in its position, against {ll:.2f} and {lp:.2f} for the labels "
    "themselves over the training images.", s=SHADOW_NOISE, nl=noise_sd[0].item(), np_=noise_sd[1].item(),
    ll=label_sd[0].item(), lp=label_sd[1].item())

# %% [markdown]
# **Is this the paper's data?** The paper's generator draws the scene with matplotlib on a 1 × 1 inch figure saved at
# 96 dpi; the scene fills matplotlib's default axes box, not the image, so it sits inside white margins, the sun
# (at height $20.5$, radius $3$) is cut by the box into a half disc, and circles come out slightly oval ($3.72$ pixels
# per unit across, $3.36$ up). The simulator draws the same figure in torch. Four images the official generator
# wrote ship with the course; here they are above the simulator's images of the same (θ, φ), and the 32 × 32
# images the models below see (the 96 × 96 figure averaged over 3 × 3 blocks).

# %%
official, official_concepts = official_images()
simulated = render_scene(official_concepts, 96)
drawn_sim, drawn_paper = simulated.min(1).values < 0.5, official.min(1).values < 0.5  # pixels with ink
pixel_gap = (simulated - official).abs().mean().item()
iou = (drawn_sim & drawn_paper).sum().item() / (drawn_sim | drawn_paper).sum().item()
print(f"mean |simulator - paper| per pixel: {pixel_gap:.4f} (of 1); IoU of the drawn pixels: {iou:.3f}")
claim("the simulator draws the official generator's images almost pixel for pixel (IoU of the drawn pixels at "
      "least 0.99)", iou >= 0.99, measured=f"IoU {iou:.3f}, mean absolute difference {pixel_gap:.4f} per pixel")
display(pendulum_reference_figure(official, simulated, Pendulum(size=SIZE).render_concepts(official_concepts),
                                  titles=[f"θ = {t:+.2f}, φ = {p:.2f}" for t, p in official_concepts[:, :2].tolist()]))

# %% [markdown]
# do(φ) moves the sun *and* the shadow (the shadow's equations still hold); do(shadow length = 0) removes the
# shadow and nothing else — the physics is broken on purpose, as in the slides' do(shadow = 0) example. These
# are the true counterfactuals a learned model will be compared with.
#
# **Shadow noise.** In the paper's scene the shadow is an exact function of (θ, φ), so the shadow's own
# exogenous noises ε_l, ε_p are zero. Then a decoder can draw the shadow from the angle latents alone and never
# read the shadow's latents — and it does: trained on that scene, every model here (CausalVAE included) made the
# shadow follow do(θ) whatever its graph said, so the graph made no difference to its counterfactual images
# (measured in an earlier run, in the course's earlier framing of the scene, which stretched it over the whole
# image: a CausalVAE whose learned graph was one edge from the truth and one whose graph was empty made
# counterfactuals equally far from the simulator's; the figures are in `vaecourse/pretrained/README.md`, chapter 5).
# The models below are trained on the same scene with `shadow_noise = 1` scene unit (what that is in label units,
# §2's first cell prints): each image's shadow is displaced a little by its own noise, as an SCM's effects are, and
# the labels report the displaced shadow.
#
# ## 3. CausalVAE
#
# CausalVAE (slides, "Causal VAE") encodes an image *and its labels* u into exogenous ε, mixes the concepts with
# a linear SCM whose adjacency A is **learned**, then passes them through a nonlinear mask layer:
#
# $$\varepsilon \sim q(\varepsilon\mid x,u),\qquad z=(I-A^\top)^{-1}\varepsilon \;\;(27),\qquad
# \tilde z_i = g_i(A_i\circ z;\eta_i)+\varepsilon_i,\qquad x\sim p(x\mid \tilde z).$$
#
# Three models of this chapter, side by side (slides, "Generative Model"):
#
# | model | generative model | inference model |
# | --- | --- | --- |
# | VAE (β-VAE baseline) | $p_\theta(x, z) = p_\theta(x\mid z)\,p(z)$, $p(z) = \mathcal N(0, I)$ | $q_\phi(z\mid x)$ |
# | conditional VAE | $p_\theta(x, z\mid u) = p_\theta(x\mid z, u)\,p_\theta(z\mid u)$ | $q_\phi(z\mid x, u)$ |
# | CausalVAE | $p_\theta(x, z, \varepsilon\mid u) = p_\theta(x\mid \varepsilon, z, u)\,p_\theta(\varepsilon, z\mid u)$, with $p_\theta(x\mid \varepsilon, z, u) = p_\theta(x\mid z)$ (29) and $p_\theta(\varepsilon, z\mid u) = p_\varepsilon(\varepsilon)\,p_\theta(z\mid u)$ (32) | $q_\phi(\varepsilon, z\mid x, u) = q_\phi(\varepsilon\mid x, u)\,\delta(z = C\varepsilon)$ (35) |
#
# (The library's conditional VAE decodes from z alone, $p_\theta(x\mid z)$: u enters through the encoder and the
# prior, as in CausalVAE.) The decoder and encoder carry noise (29–31): $x = f(z) + \xi$ and $\varepsilon = h(x, u) + \zeta$,
# with independent noises ξ ~ $p_\xi$ and ζ ~ $q_\zeta$. In the library ζ is the encoder's Gaussian,
# $q_\phi(\varepsilon\mid x, u) = \mathcal N(h(x, u), \operatorname{diag}\sigma^2(x, u))$, so ζ ~ N(0, diag σ²) is what the
# reparameterisation adds to the mean; ξ is the likelihood's: $p(x\mid \tilde z)$ is a Bernoulli per pixel with mean
# $f(\tilde z)$, so ξ = x − f(z̃) is not Gaussian, and the decoder is the map f to that mean (both are measured on a
# trained model in §4).
#
# Each of the four concepts owns a block of latent dimensions with prior $p(z_i\mid u)=\mathcal N(u_i, I)$ (32–33).
# The loss (41) adds to $-$ELBO (36–37) the label term $l_u=\lVert u-\sigma(A^\top u)\rVert^2$ (38), the mask term
# $l_m=\sum_i\lVert z_i-g_i(A_i\circ z)\rVert^2$ (39) and the acyclicity constraint
# $H(A)=\operatorname{tr}((I+A\circ A)^n)-n=0$ (40), enforced by an augmented Lagrangian. A starts at **zero**: the
# graph is learned, not given (the public reference code starts from the true graph).
#
# **σ in $l_u$ is tanh here.** The slides' σ is the logistic function, whose range (0, 1) suits labels in [0, 1];
# the course's labels are centred on [−1, 1], so the library computes $l_u = \lVert u - \tanh(A^\top u)\rVert^2$
# (`objectives.causal.label_residuals`). Everything "σ(Aᵀu)" below means that tanh. (The authors' public code
# also writes H(A) in a scaled form, $\operatorname{tr}((I + A\circ A/n)^n) - n$ [yu2019]: zero for exactly the
# same graphs; the library uses the slides' Eq. 40.)

# %%
print("H(true graph) =", dag_constraint(TRUE_GRAPH).item(), "(a DAG)")
print("H(graph with the edge shadow_length -> theta added) =",
      dag_constraint(TRUE_GRAPH + torch.tensor([[0, 0, 0, 0], [0, 0, 0, 0], [1.0, 0, 0, 0], [0, 0, 0, 0]])).item(),
      "(a cycle theta -> length -> theta)")

# %% [markdown]
# ## 4. Train (or load) CausalVAE and two baselines on the same data
#
# Two CausalVAEs: one with the paper's loss (Eq. 41), and one with **the course's extension** (not in the paper;
# §5 below motivates and measures it) (`label_fit="mask"`, `independence=10`, `graph_from="labels"`: the label
# equations are the mask layer's kind of network, the dependence of their residuals is penalised, and only the label
# terms move A). The baselines: a **β-VAE** (chapter 2's VAE and recipe, β = 4, 16 latents, no labels) and a
# **conditional VAE** (the same encoder and label prior as CausalVAE, without the causal and mask layers). The course
# ships the four models trained with the command line (`python -m vaecourse train --recipe ch5-causalvae`, and so on
# for each recipe; the cell below prints each model's steps, and the commands and training times are in
# `vaecourse/pretrained/README.md`). Set `RETRAIN = True` to train them here instead: on the course's 2-core CPU VM
# that takes from several minutes to half an hour, depending on what else runs there (much less on a GPU). A
# retrained run of this notebook is recorded in the same file, chapter 5: its times, and its scores, which told the
# same story as the shipped models'. Every figure the cells below print or state is computed from the models this
# notebook loaded or trained; figures from runs made elsewhere are pointed to, not quoted.

# %%
RETRAIN = False
INDEPENDENT = "CausalVAE + independence"
NAMES = {"CausalVAE": "ch5_causalvae_pendulum32", INDEPENDENT: "ch5_causalvae_indep_pendulum32",
         "conditional VAE": "ch5_cvae_pendulum32", "β-VAE": "ch5_betavae_pendulum32"}  # the shipped checkpoints
RECIPES = {"CausalVAE": recipes.get("ch5-causalvae"), INDEPENDENT: recipes.get("ch5-causalvae-indep"),
           "conditional VAE": recipes.get("ch5-cvae"), "β-VAE": recipes.get("ch5-betavae")}  # how each was trained
shipped = all(pretrained.available(name) for name in NAMES.values())
steps = {kind: 5 if FAST else recipe.steps for kind, recipe in RECIPES.items()}  # each recipe's own steps

models, histories = {}, {}
if shipped and not RETRAIN and not FAST:
    for kind, name in NAMES.items():
        models[kind] = pretrained.load(name).to(device)
        histories[kind] = pretrained.history(name)  # the history the checkpoint stored (its SHA-256 checked)
        print(f"{kind}: loaded {name} ({pretrained.info(name)['steps']:,} steps)")
else:
    for kind, recipe in RECIPES.items():
        run = recipes.build(recipe, device=device, steps=steps[kind])  # CausalVAE(...), CausalObjective(...), Adam
        started = time.perf_counter()
        histories[kind] = recipes.train(run, progress=not FAST, desc=kind)  # the command line's run of the recipe
        models[kind] = run.model
        print(f"{kind}: {steps[kind]} steps in {time.perf_counter() - started:.0f} s")
causal_model, independent_model = models["CausalVAE"], models[INDEPENDENT]

# %%
for kind in ("CausalVAE", INDEPENDENT):  # l_ind: the HSIC of the label residuals, logged by both, optimised by one
    panels = [("elbo",), ("l_u", "l_m")] + ([("l_ind",)] if "l_ind" in histories[kind].keys() else []) + [("H",)]
    display(history_figure(histories[kind], panels=panels, smooth=1 if FAST else 50,
                           titles=[f"{kind}: ELBO"] + [", ".join(p) for p in panels[1:]]))

# %% [markdown]
# ### The prior and the ELBO, computed by hand
# A training curve shows the ELBO as a number; here it is built from one forward pass of the paper-loss CausalVAE
# on a batch of test images, term by term, with nothing but the output's tensors and the equations, and compared
# with the library's objective (`objectives.causal.causal_terms`). The joint prior (32–33) is
# $p(\varepsilon, z\mid u) = \mathcal N(\varepsilon; 0, I)\,\prod_i \mathcal N(z_i; u_i\mathbf 1, I)$; the posterior
# over z is the causal layer's image of the posterior over ε (35), $q(z\mid x, u) = \mathcal N(C\mu, C\operatorname{diag}\sigma^2 C^\top)$
# for each of the k latent columns, so both KLs of (37) are between Gaussians. The ELBO (36–37) is
#
# $$\mathrm{ELBO} = \mathbb E_{q}\log p(x\mid \tilde z) - D(q(\varepsilon\mid x, u)\,\|\,p(\varepsilon)) - D(q(z\mid x, u)\,\|\,p(z\mid u)).$$

# %%
batch_index = data.split_indices("test")[:64]
batch_concepts = data.concepts(data.factors_at(batch_index), torch.Generator(device=device).manual_seed(0))
xb, ub = data.render_concepts(batch_concepts), data.labels(batch_concepts).float()
with torch.no_grad():
    out = causal_model(xb, ub, generator=torch.Generator(device=device).manual_seed(0))
n_c, k_c = causal_model.n, causal_model.k
mu, var = out.q_eps.mu.view(-1, n_c, k_c), out.q_eps.logvar.exp().view(-1, n_c, k_c)  # q(eps|x, u), (B, n, k)
C = torch.linalg.inv(torch.eye(n_c, device=device) - out.A.detach().T)  # z = C eps  (27)
# log p(x|z~): Bernoulli per pixel with mean f(z~) = sigmoid(logits) (29), summed over pixels; with logits l,
# x log sigmoid(l) + (1 - x) log(1 - sigmoid(l)) = x l - log(1 + e^l)
logits = out.p_x.base_dist.logits
log_px = (xb * logits - torch.nn.functional.softplus(logits)).flatten(1).sum(1)
# D(q(eps|x, u) || p(eps) = N(0, I))  (32), closed form per dimension
kl_eps = 0.5 * (mu ** 2 + var - 1 - var.log()).flatten(1).sum(1)
# D(q(z|x, u) || p(z|u) = N(u, I))  (33, 35), one n-dimensional Gaussian per latent column, by torch.distributions
kl_z = sum(torch.distributions.kl_divergence(
    torch.distributions.MultivariateNormal(mu[:, :, r] @ C.T, C @ torch.diag_embed(var[:, :, r]) @ C.T),
    torch.distributions.MultivariateNormal(ub, torch.eye(n_c, device=device))) for r in range(k_c))
elbo = log_px - kl_eps - kl_z  # (36-37)
lib_log_px, lib_kl_eps, lib_kl_z, lib_elbo = causal_terms(out, xb)
for name, mine, lib in (("log p(x|z~)", log_px, lib_log_px), ("KL_eps", kl_eps, lib_kl_eps), ("KL_z", kl_z, lib_kl_z),
                        ("ELBO", elbo, lib_elbo)):
    print(f"{name:12s} by hand {mine.mean().item():9.3f}   library {lib.mean().item():9.3f}")
assert torch.allclose(elbo, lib_elbo, rtol=1e-3, atol=0.05), "the hand-built ELBO should equal the library's"
# the noises of (29)-(31): zeta = eps - h(x, u) is the encoder's reparameterised noise, xi = x - f(z~) the decoder's
zeta, xi = out.eps - out.q_eps.mu, xb - out.p_x.mean
print(f"zeta: std {zeta.std().item():.3f} (the encoder's own sigma, mean {out.q_eps.logvar.mul(0.5).exp().mean().item():.3f});"
      f"  xi: mean {xi.mean().item():+.4f}, mean square {xi.pow(2).mean().item():.4f} per pixel")

# %% [markdown]
# ## 5. What did it learn?
#
# ### The graph
# Rows cause columns. The true graph has the four edges θ → length, θ → position, φ → length, φ → position.

# %%
learned_A, shd = {}, {}
for kind in ("CausalVAE", INDEPENDENT):
    A = learned_A[kind] = models[kind].adjacency().detach().cpu()
    shd[kind] = structural_hamming_distance(A, TRUE_GRAPH, 0.3)
    display(adjacency_figure(A, TRUE_GRAPH, CONCEPTS, title=f"{kind}: learned A (rows cause columns)"))
    print(f"{kind}: H(A) = {dag_constraint(A).item():.2e};  structural Hamming distance to the true graph "
          f"(|A| > 0.3): {shd[kind]} of 6 node pairs")
largest = learned_A["CausalVAE"].abs().max().item()  # the diagonal is 0
A_ind = learned_A[INDEPENDENT]
say("With the paper's loss, after {n:,} steps from A = 0, the largest entry of A is {m:.2f} in magnitude: SHD {s}. "
    "With the independence term, SHD {si}; its length edges θ → length and φ → length weigh {tl:+.2f} and {pl:+.2f}, "
    "its position edges {tp:+.2f} and {pp:+.2f}.", n=steps["CausalVAE"], m=largest, s=shd["CausalVAE"],
    si=shd[INDEPENDENT], tl=A_ind[0, 2].item(), pl=A_ind[1, 2].item(), tp=A_ind[0, 3].item(), pp=A_ind[1, 3].item())
claim("the paper's loss does not recover the graph: no entry of its A reaches the threshold 0.3, so its graph is "
      "empty and the four true edges are missing", largest < 0.3 and shd["CausalVAE"] == 4,
      measured=f"largest |A| {largest:.2f}, SHD {shd['CausalVAE']}")
length_edges, position_edges = A_ind[:2, 2].abs(), A_ind[:2, 3].abs()
claim("with the independence term the model learns exactly the true graph from A = 0 (SHD 0), its length edges more "
      "than twice as heavy as its position edges", shd[INDEPENDENT] == 0
      and length_edges.min().item() > 2 * position_edges.max().item(),
      measured=f"SHD {shd[INDEPENDENT]}; |A| of the length edges at least {length_edges.min().item():.2f}, of the "
               f"position edges at most {position_edges.max().item():.2f}")

# %% [markdown]
# With the paper's loss the model does **not** recover the graph: from A = 0 every entry of A stays small, below the
# threshold, so the thresholded graph is empty (the four true edges missing). With the independence term (below)
# the model learns exactly the true graph from A = 0: the four edges, none reversed, nothing extra. (The mask layer
# bounds how much gᵢ depends on z_j by |A_ji|, so small entries cannot hide a cycle and the thresholded A means what
# it says; the length edges need entries several times larger than the position edges', because the shadow length
# is a steep, non-monotone function of the angles.)
#
# Why does the paper's loss fail? In the paper A is driven mostly by $l_u=\lVert u-\sigma(A^\top u)\rVert^2$
# (38), a regression of each label on its parents. Take the labels alone — no images, seconds to run — and learn A
# from zero with $l_u$ and the same augmented Lagrangian (`learn_graph_from_labels`); then give $l_u$ the *best*
# weights on three fixed graphs: the true one, the reversed one (the shadow causes the angles) and the one just
# learned.

# %%
paper_scene = Pendulum(size=SIZE)  # the labels of the paper's scene (no shadow noise): the shadow is exact
u_train = paper_scene.labels(paper_scene.concepts(paper_scene.factors_at(paper_scene.split_indices("train")))).float()
label_steps = 150 if FAST else 2000
label_fits = {}  # units -> {"learned": l_u, "true": best l_u, "reversed": best l_u, "shd": SHD of the learned graph}
for units, u_fit in (("the course's label units", u_train),
                     ("standardised labels", (u_train - u_train.mean(0)) / u_train.std(0))):
    A_labels, lu_learned = learn_graph_from_labels(u_fit, steps=label_steps)
    best = {graph: learn_graph_from_labels(u_fit, support=G, steps=label_steps)[1]
            for graph, G in (("true", TRUE_GRAPH), ("reversed", TRUE_GRAPH.T))}
    label_fits[units] = {"learned": lu_learned, **best, "shd": structural_hamming_distance(A_labels, TRUE_GRAPH)}
    print(f"{units}: l_u learned from A = 0 {lu_learned:.3f} (SHD {label_fits[units]['shd']}"
          f", H {dag_constraint(A_labels):.1e});  best l_u on the true graph {best['true']:.3f}, "
          f"on the reversed graph {best['reversed']:.3f}")
display(adjacency_figure(A_labels, TRUE_GRAPH, CONCEPTS))
position_fit = torch.linalg.lstsq(torch.cat([u_train[:, :2], torch.ones(len(u_train), 1)], 1), u_train[:, 3:]).solution
residual = u_train[:, 3:] - torch.cat([u_train[:, :2], torch.ones(len(u_train), 1)], 1) @ position_fit
position_r2 = (1 - residual.var() / u_train[:, 3].var()).item()
say("A straight line in (θ, φ) predicts the shadow position with R² = {r2:.4f}.", r2=position_r2)
claim("the true graph has the highest label loss of the three, in the course's units and after standardising, and "
      "l_u learned from A = 0 lands on a wrong graph", all(f["true"] > max(f["reversed"], f["learned"]) and f["shd"] > 0
                                                          for f in label_fits.values()),
      measured="; ".join(f"{units}: true {f['true']:.3f}, reversed {f['reversed']:.3f}, learned {f['learned']:.3f} "
                         f"(SHD {f['shd']})" for units, f in label_fits.items()))

# %% [markdown]
# The true graph has the **highest** label loss of the three, in the course's units and after standardising, so
# no optimiser setting, learning rate, schedule or threshold can make $l_u$ find it: its minimum is elsewhere.
# The reason is in what a squared error counts. A root is predicted by σ(0), so each root pays its whole variance;
# a child pays only what its parents leave unexplained. The shadow is an exact function of (θ, φ), and its
# position is almost a straight line in them (the R² above), so a graph rooted at the shadow explains most of θ and φ
# from it and pays less than the true graph, which must pay for both causes in full. What orients the true edges
# is a *conditional independence*: θ and φ are independent, yet dependent once the shadow is known — the collider
# (v-structure) of §1. A sum of squared residuals does not look at independence. The mask layer's $l_m$ is a
# regression of the same kind on latents tied to u, with a nonlinear $g_i$; the inverse map (shadow → angles) is a
# function too, so it does not break the tie: fitted to the labels alone from A = 0 it also lands far from the true
# graph (the row "learned from A = 0" of the next cell). Rescaling the labels *does* change which graph wins, because
# a root pays its variance: spread the two effects three times wider than the standardised causes and the true
# graph's best $l_u$ drops below the reversed one's, and the mask-layer fit from A = 0 comes close to the truth
# (`benchmarks/bench_causal_graph.py` prints these runs; their figures are in `vaecourse/pretrained/README.md`,
# chapter 5). That is "varsortability" [reisach2021]: the answer then comes from the units chosen, not from the
# data. This is also why the reference code of [yang2021] starts A at the true graph; this course does not, and
# reports what learning from zero gives.
#
# ### What does orient the edges: independent noise
# An SCM's exogenous noises are **mutually independent** (§1: one independent εᵢ per variable). For a candidate
# graph and its equations, the residuals $r_i = u_i - g_i(u_{\mathrm{pa}(i)})$ *are* that graph's noises. On the
# true graph they are θ and φ themselves (independent by design) and two near-zero residuals of the effects. On
# the reversed graph the two shadow labels become roots, and both are functions of the same (θ, φ): dependent
# noises, which no SCM with that graph can produce. A squared error does not see this; a measure of dependence
# does. HSIC [gretton2005] with Gaussian kernels,
#
# $$\mathrm{HSIC}(x, y) = \frac{1}{(m-1)^2}\operatorname{tr}(KHLH),\qquad K_{ab} = e^{-(x_a-x_b)^2/2s^2},\;
# H = I - \tfrac{1}{m}\mathbf 1\mathbf 1^\top,$$
#
# is zero (in the population) exactly when x and y are independent, and differentiable. The width $s = 0.5$ label
# units is fixed, so a residual much smaller than s costs almost nothing however it depends on the causes
# (`vaecourse.objectives.independence`). Below, the same nonlinear label equations — the library's `MaskLayer`,
# one number per concept — are fitted on the true graph, on the reversed one and from A = 0, and we measure both
# the squared error and $\sum_{i<j}\mathrm{HSIC}(r_i, r_j)$ of what each leaves:

# %%
fix_steps = 150 if FAST else 4000
probe = u_train[torch.randperm(len(u_train), generator=torch.Generator().manual_seed(0))[:1000]]
residual_fits = {}  # graph -> (squared error, dependence of the residuals, SHD)
for graph, G in (("true graph", TRUE_GRAPH), ("reversed graph", TRUE_GRAPH.T), ("learned from A = 0", None)):
    torch.manual_seed(0)
    equations = MaskLayer(4, 1)
    A_g, squared = learn_graph_from_labels(u_train, support=G, steps=fix_steps, batch_size=128, predictor=equations)
    with torch.no_grad():
        dependence = noise_dependence(probe - equations.predict_labels(probe, A_g)).item()
    residual_fits[graph] = (squared, dependence, structural_hamming_distance(A_g, TRUE_GRAPH))
    print(f"{graph:19s} squared error {squared:.3f}   dependence of the residuals {dependence:.4f}   "
          f"SHD {residual_fits[graph][2]}")
squared_of, dependence_of = ({graph: fit[k] for graph, fit in residual_fits.items()} for k in (0, 1))
claim("the squared error ranks the true graph last, the dependence of the residuals ranks it first",
      max(squared_of, key=squared_of.get) == "true graph" and min(dependence_of, key=dependence_of.get) == "true graph",
      measured="; ".join(f"{graph} {sq:.3f} / {dep:.4f}" for graph, (sq, dep, _) in residual_fits.items()))
claim("fitted from A = 0 by its squared error alone, the mask layer's label equations land far from the true graph "
      "(SHD 3 or more of 6 node pairs)", residual_fits["learned from A = 0"][2] >= 3,
      measured=f"SHD {residual_fits['learned from A = 0'][2]}")

# %% [markdown]
# The squared error ranks the true graph last, the dependence ranks it first. So add the dependence to the label
# loss, $l_u + \lambda \sum_{i<j}\mathrm{HSIC}(r_i, r_j)$ with λ = 10, and learn A from zero again, with the same
# augmented Lagrangian for H(A) = 0:

# %%
torch.manual_seed(0)
fixed_equations = MaskLayer(4, 1)  # g_i(A_i o u): fitted alongside A
A_fixed, squared_fixed = learn_graph_from_labels(u_train, steps=fix_steps, batch_size=128, predictor=fixed_equations,
                                                 independence=10.0)
print(f"from A = 0 with the independence term: SHD {structural_hamming_distance(A_fixed, TRUE_GRAPH)}, "
      f"squared error {squared_fixed:.3f}, H(A) {dag_constraint(A_fixed):.1e}")
display(adjacency_figure(A_fixed, TRUE_GRAPH, CONCEPTS, title="labels only: l_u (mask layer) + 10 × HSIC, from A = 0"))
edges_fixed = A_fixed.detach().abs() > 0.3  # the thresholded graph, as the SHD reads it
true_edges = [tuple(e) for e in TRUE_GRAPH.nonzero().tolist()]
extra = [f"{PROSE_NAME[CONCEPTS[j]]} → {PROSE_NAME[CONCEPTS[i]]}" for j, i in edges_fixed.nonzero().tolist()
         if (j, i) not in true_edges]
claim("from A = 0 with the independence term the label equations find all four true edges, none reversed",
      all(bool(edges_fixed[j, i]) and not bool(edges_fixed[i, j]) for j, i in true_edges),
      measured="extra edges: " + (", ".join(extra) or "none"))

# %% [markdown]
# All four true edges, in the right direction, from A = 0 (any extra edge the check names is one the angles already
# explain; the prune below is for it). `benchmarks/bench_causal_graph.py` repeats this over three seeds and two
# starts (its figures: `vaecourse/pretrained/README.md`, chapter 5): most runs found the true graph, exactly or with
# the one extra edge position → length; on one seed, from both starts, the length edges never formed, even after
# 12,000 steps (two true edges missing, none reversed). The length is a steep, non-monotone function of the
# angles, and while its edges are small the bounded equations cannot fit it well enough to pull them up: a local
# minimum of the optimisation, not of the score. No run reversed an edge.
#
# **Pruning what the equations do not need** (again the course's, not the paper's). An extra edge such as position →
# length, when the angles already give the length, is one the fitted equation barely reads. An ablation test says so
# in numbers: remove an edge (keeping the fitted equations) and see how much $l_u$ rises; drop the edge that costs
# least if that is under a hundredth of $l_u$ (`tolerance=0.01`), then test the rest again (backward elimination,
# `prune_edges`). A true edge cannot go: without it its child's equation loses a cause. Below, the fit above (the
# paper's exact scene) and the same fit on the labels of this chapter's scene, whose shadow has its own noise:

# %%
chapter_scene = Pendulum(size=SIZE, shadow_noise=SHADOW_NOISE)
u_chapter = chapter_scene.labels(split_concepts(chapter_scene, "train", generator=torch.Generator().manual_seed(0))).float()
torch.manual_seed(0)
chapter_equations = MaskLayer(4, 1)
A_chapter, _ = learn_graph_from_labels(u_chapter, steps=fix_steps, batch_size=128, predictor=chapter_equations,
                                       independence=10.0)
pruning = {}  # scene -> SHD before and after, the relative rise in l_u without each true and each extra edge
for scene, A_fit, equations, labels in (("the paper's scene", A_fixed, fixed_equations, u_train),
                                        ("this chapter's scene", A_chapter, chapter_equations, u_chapter)):
    def label_loss(A):  # l_u of the fitted equations reading the graph A (no refit)
        with torch.no_grad():
            return float((labels - equations.predict_labels(labels, A)).pow(2).sum(1).mean())

    keep, rises = prune_edges(A_fit, label_loss, tolerance=0.01)
    before = structural_hamming_distance(A_fit, TRUE_GRAPH)
    after = structural_hamming_distance(A_fit * keep, TRUE_GRAPH)
    print(f"{scene}: SHD {before} before pruning, {after} after")
    for (j, i), rise in rises.items():
        print(f"  {CONCEPTS[j]:>15s} -> {CONCEPTS[i]:15s} without it l_u rises {rise / label_loss(A_fit):6.1%}: "
              f"{'kept' if keep[j, i] else 'pruned'}")
    relative = {edge: rise / label_loss(A_fit) for edge, rise in rises.items()}
    pruning[scene] = {"before": before, "after": after, "kept": {edge: bool(keep[edge]) for edge in rises},
                      "true": [r for edge, r in relative.items() if edge in true_edges],
                      "extra": {edge: r for edge, r in relative.items() if edge not in true_edges}}
chapter, paper = pruning["this chapter's scene"], pruning["the paper's scene"]
claim("in this chapter's scene the extra edge costs under the tolerance and goes, while every true edge costs "
      "several percent and stays: the true graph after the prune",
      bool(chapter["extra"]) and max(chapter["extra"].values()) < 0.01 and min(chapter["true"]) > 0.02
      and not any(chapter["kept"][edge] for edge in chapter["extra"]) and chapter["after"] == 0,
      measured=f"extra edge {max(chapter['extra'].values(), default=float('nan')):.1%}, true edges at least "
               f"{min(chapter['true']):.1%}; SHD {chapter['before']} → {chapter['after']}")
claim("in the paper's exact scene the same extra edge is not free: it costs more than the tolerance, about as much "
      "as the cheapest true edge, and stays",
      bool(paper["extra"]) and all(r > 0.01 and paper["kept"][edge] for edge, r in paper["extra"].items())
      and max(paper["extra"].values()) > 0.5 * min(paper["true"]),
      measured=f"extra edge {max(paper['extra'].values(), default=float('nan')):.1%}, cheapest true edge "
               f"{min(paper['true']):.1%}; SHD {paper['before']} → {paper['after']}")

# %% [markdown]
# In this chapter's scene the extra edge costs a fraction of a percent and goes, while every true edge costs several
# percent. In the paper's exact scene the same extra edge is not free: there the position is an exact function of the
# angles, and the bounded length equation does use it, about as much as it uses a true edge, so no tolerance separates
# it cleanly from the true edges. The prune is a test of what the fitted equations *use*; it needs the effects to
# carry their own noise, as an SCM's do.
#
# Why it works here is §1's lesson: the true graph has two colliders (θ → length ← φ, θ → position ← φ) with θ and φ
# not adjacent, so its Markov equivalence class holds that graph alone; the orientation is written in an
# independence, and now the loss reads independences. On a chain the same term could not choose between a graph and
# its reverse when the noise is Gaussian and the equations linear.
#
# **In the model.** `CausalVAE + independence` (§4) uses exactly this label loss: `label_fit="mask"` (a bounded
# network per concept instead of σ(Aᵀu), which cannot express the shadow length: it is not monotone in θ) and
# `independence=10`. One more change was needed, and measured: in the paper's setup the ELBO also pulls on A
# through the causal layer and the KL terms, and with it A's entries stayed small and the length edges never
# formed (runs with the label loss weighted 10 and λ = 100, or 30 and 300; their figures are in
# `vaecourse/pretrained/README.md`, chapter 5).
# `graph_from="labels"` lets only the label terms and H(A) move A; the image side uses A as it is learned. That is
# the model whose graph is shown at the top of this section.
#
# ### MIC and TIC against the baselines
# The paper's metrics [reshef2011]: the maximal and total information coefficients between each learned latent
# and each true concept (implemented in `vaecourse.metrics.mic`), reported for each concept's best-matching
# latent and averaged. For the label-conditioned models each concept block is read as one number (its mean).

# %%
n_mic = 100 if FAST else 1000


def representation(kind):
    model = models[kind]
    if kind == "β-VAE":
        return lambda x, u: model.embed(x)
    return lambda x, u: model.concept_latents(x, u)


scores = {kind: mic_tic_score(data, representation(kind), generator=torch.Generator().manual_seed(0), n=n_mic)
          for kind in models}
print(f"{'model':26s} {'sees labels':>11s} {'MIC':>6s} {'TIC':>6s}   (n = {n_mic} test images)")
for kind, s in scores.items():
    print(f"{kind:26s} {'no' if kind == 'β-VAE' else 'yes':>11s} {s['mic']:6.3f} {s['tic']:6.3f}")
conditioned = [kind for kind in scores if kind != "β-VAE"]
lowest = min(conditioned, key=lambda kind: scores[kind]["mic"])
print(f"lowest MIC of the label-conditioned models: {lowest}; the β-VAE, which sees no labels, is "
      f"{'above' if scores['β-VAE']['mic'] > scores[lowest]['mic'] else 'below'} it")
display(score_figure(scores))
display(mic_matrix_figure({k: s["mic_matrix"] for k, s in scores.items()}, CONCEPTS))
say("Here the model that learned the true graph scores MIC {i:.3f} and TIC {it:.3f}, the paper-loss CausalVAE "
    "{c:.3f} and {ct:.3f}, the conditional VAE {v:.3f} and {vt:.3f}; the β-VAE, which sees no labels, {b:.3f} and "
    "{bt:.3f}, {side} the model that learned the graph.", i=scores[INDEPENDENT]["mic"], it=scores[INDEPENDENT]["tic"],
    c=scores["CausalVAE"]["mic"], ct=scores["CausalVAE"]["tic"], v=scores["conditional VAE"]["mic"],
    vt=scores["conditional VAE"]["tic"], b=scores["β-VAE"]["mic"], bt=scores["β-VAE"]["tic"],
    side="above" if scores["β-VAE"]["mic"] > scores[INDEPENDENT]["mic"] else "below")
claim("the model that learned the true graph (CausalVAE + independence) has the lowest MIC of the label-conditioned "
      "models", lowest == INDEPENDENT, measured=", ".join(f"{kind} {scores[kind]['mic']:.3f}" for kind in conditioned))

# %% [markdown]
# Label-conditioned models can score high almost by construction: their prior ties block i to $u_i$. The β-VAE
# sees no labels, so its MIC measures how well an unsupervised latent happens to line up with a concept. Every
# number is in the table the cell prints, beside its model's name. In every run we made, the model that learned
# the true graph (CausalVAE + independence) had the *lowest* MIC of the label-conditioned models (the check above
# says whether the models loaded here do too); whether it also fell below the β-VAE changed from run to run (the
# sentence above says which, for the models loaded here). Its concept latents are the causal layer's output
# z = (I − Aᵀ)⁻¹ε, and its A has entries of a few units on the length edges (what the bounded label equations need;
# the graph cell printed them): read as linear coefficients they mix the angles' latents into the shadow's, and the
# prior N(uᵢ, I) is too weak to pull each block back onto its own concept (the MIC matrix shows the blocks that
# moved). MIC and TIC measure how well each block *reads off* a concept; they do not measure whether the model's
# interventions are right. The next two sections do. (One run per model does not rank close scores: two earlier,
# shorter CausalVAE runs from two starts of A scored MICs far apart; `vaecourse/pretrained/README.md`, chapter 5.)
#
# ### Interventions next to the truth
# For one test scene: each row intervenes on one concept's latent block, do(zᵢ = c), for five values c (label
# units, between the 5th and 95th percentiles of the training labels); the right-hand grid is the simulator's
# counterfactual of the same scene under do(conceptᵢ = c).

# %%
test_index = data.split_indices("test")[7:8]
scene = data.concepts(data.factors_at(test_index), torch.Generator().manual_seed(7))  # its shadow noise, seeded
x0, u0 = data.render_concepts(scene), data.labels(scene)
values = [label_values(data, i, 5) for i in range(4)]
true_rows = torch.stack([torch.cat([data.counterfactual(scene, **{name: float(data.from_labels(
    torch.full((1, 4), v))[0, i])})[0] for v in values[i].tolist()]).cpu() for i, name in enumerate(CONCEPTS)])
for kind in ("CausalVAE", INDEPENDENT):
    model_rows = torch.stack([torch.cat([models[kind].intervene(x0, u0, {i: v}) for v in values[i].tolist()]).cpu()
                              for i in range(len(CONCEPTS))])
    display(intervention_grid_figure(model_rows, true_rows, CONCEPTS, values=[v.tolist() for v in values],
                                     title=f"{kind}: do(concept = value), model (left) and simulator (right)"))

# %% [markdown]
# ### Intervention fidelity, measured
# Over test scenes, the decoded counterfactual is compared with the simulator's: the pixel error, and the error
# of the concepts a CNN regressor (trained on simulator images) reads back from the decoded image — for the
# intervened concept itself and for the others (the shadow should follow the angles, the angles should not
# follow the shadow).
#
# The regressor is a measuring instrument, and it must read each concept from that concept's own pixels. Trained
# on observed scenes only, where the shadow nearly follows the angles, it learned to read the shadow's position
# partly from the pendulum and the sun: on the simulator's own do(shadow position) images it was off by about two
# thirds of the error we allow a model on average, and by more at the ends of the range (that earlier instrument's
# figures: `vaecourse/pretrained/README.md`, chapter 5). So it is trained on
# scenes whose shadow length and position are redrawn at random, independently of the angles (`free=(2, 3)`: the
# simulator renders do(shadow) scenes), and we print its error on the truth beside every model's.

# %%
regressor, regressor_report = train_concept_regressor(data, steps=10 if FAST else 800, free=(2, 3),
                                                      generator=torch.Generator().manual_seed(1))
print("regressor R² on simulator test images:", {k: round(v, 3) for k, v in regressor_report["r2"].items()})
print("              ... with the shadow redrawn:", {k: round(v, 3) for k, v in regressor_report["r2_free"].items()})
fidelity = {}
for kind in ("CausalVAE", INDEPENDENT, "conditional VAE"):
    model = models[kind]
    fidelity[kind] = intervention_fidelity(data, lambda x, u, i, v, m=model: m.intervene(x, u, {i: v}), regressor,
                                           n=8 if FAST else 128, generator=torch.Generator().manual_seed(2))
    f = fidelity[kind]
    print(f"{kind:24s} pixel MSE {f['pixel_mse']:.4f}; error of the intervened concept read back "
          f"{f['intervened_concept_mae']:.3f} (label units)")
    for name in CONCEPTS:
        print(f"   do({name:15s}) concept errors {np.round(f[name]['concept_mae'], 3)}  "
              f"(regressor on the truth: {np.round(f[name]['reference_mae'], 3)})")
OTHERS = ("CausalVAE", "conditional VAE")  # the models the one that learned the graph is compared with


def errors(kind, name):  # (4,) concept errors θ, φ, length, position read back under do(name)
    return fidelity[kind][name]["concept_mae"]


def slashed(values):
    return " / ".join(f"{v:.2f}" for v in values)


pixel = {kind: fidelity[kind]["pixel_mse"] for kind in fidelity}
theta_row, phi_row = ({kind: errors(kind, name) for kind in fidelity} for name in ("theta", "phi"))
shadow_miss = {kind: (errors(kind, "shadow_length")[2], errors(kind, "shadow_position")[3]) for kind in fidelity}
truth_read = max(float(fidelity[kind][name]["reference_mae"].max()) for kind in fidelity for name in CONCEPTS)
say("**What this run measured.** Pixel error of the counterfactuals: {pi:.4f} for the model that learned the graph, "
    "{pc:.4f} for the paper-loss CausalVAE and {pv:.4f} for the conditional VAE ({rc:.1f} and {rv:.1f} times its "
    "own). Concept errors θ / φ / length / position under do(θ): {ti} for the model that learned the graph, {tc} for "
    "the paper-loss model, {tv} for the conditional VAE; under do(φ): {fi}, {fc} and {fv}. The intervened shadow "
    "concept read back, under do(shadow length) and do(shadow position): {si}, {sc} and {sv}, where the regressor "
    "reads every concept of the simulator's own counterfactuals to within {ref:.3f}.",
    pi=pixel[INDEPENDENT], pc=pixel["CausalVAE"], pv=pixel["conditional VAE"],
    rc=pixel["CausalVAE"] / pixel[INDEPENDENT], rv=pixel["conditional VAE"] / pixel[INDEPENDENT],
    ti=slashed(theta_row[INDEPENDENT]), tc=slashed(theta_row["CausalVAE"]), tv=slashed(theta_row["conditional VAE"]),
    fi=slashed(phi_row[INDEPENDENT]), fc=slashed(phi_row["CausalVAE"]), fv=slashed(phi_row["conditional VAE"]),
    si=slashed(shadow_miss[INDEPENDENT]), sc=slashed(shadow_miss["CausalVAE"]),
    sv=slashed(shadow_miss["conditional VAE"]), ref=truth_read)
claim("the regressor reads the simulator's own counterfactuals to less than half the error allowed a model (0.15 "
      "label units)", truth_read < 0.075, measured=f"its largest error on the truth {truth_read:.3f}")
claim("the model that learned the graph makes the counterfactuals closest to the simulator's: its pixel error is "
      "under two thirds of either other model's", all(pixel[INDEPENDENT] < 2 / 3 * pixel[k] for k in OTHERS),
      measured=", ".join(f"{kind} {pixel[kind]:.4f}" for kind in pixel))
claim("under do(θ) it draws the intervened angle best and keeps φ where it was best, and moves the shadow with θ "
      "about as well as the paper-loss model (within 0.03 on length and on position)",
      all(theta_row[INDEPENDENT][c] < theta_row[k][c] for k in OTHERS for c in (0, 1))
      and all(abs(theta_row[INDEPENDENT][c] - theta_row["CausalVAE"][c]) <= 0.03 for c in (2, 3)),
      measured=f"θ / φ / length / position {slashed(theta_row[INDEPENDENT])} against "
               f"{slashed(theta_row['CausalVAE'])} and {slashed(theta_row['conditional VAE'])}")
claim("under do(φ) it is the closest of the three on all four concepts, the shadow length its weakest",
      all(phi_row[INDEPENDENT][c] < phi_row[k][c] for k in OTHERS for c in range(4))
      and int(np.argmax(phi_row[INDEPENDENT])) == 2,
      measured=f"{slashed(phi_row[INDEPENDENT])} against {slashed(phi_row['CausalVAE'])} and "
               f"{slashed(phi_row['conditional VAE'])}")
claim("do(shadow length) and do(shadow position) are out of reach of all three models: the intervened shadow concept "
      "stays more than twice the allowed 0.15 off", all(min(miss) > 0.3 for miss in shadow_miss.values()),
      measured="; ".join(f"{kind} {slashed(miss)}" for kind, miss in shadow_miss.items()))

# %% [markdown]
# Read the rows for θ and φ first. The model that learned the graph makes counterfactuals clearly closer to the
# simulator's than the paper-loss CausalVAE or the conditional VAE (most pixels are the white margin and sky, so
# all three pixel errors are small). Under do(θ) it draws the intervened angle best and keeps φ where it was; the
# shadow it moves with θ about as well as the paper-loss model. Under do(φ) it is the closest on all four concepts,
# the shadow length its weakest. That is the graph at work: the shadow blocks are recomputed from the intervened
# angle through the learned equations. The rows for the shadow are the limit of all three models: do(shadow
# length = c) barely changes the drawn shadow, although the regressor reads the simulator's counterfactual closely.
# Two things stand in the way, both measured. Those counterfactuals break the physics — a shadow far from where the
# angles put it — and no training image shows one. And even in plain reconstructions these decoders draw almost
# none of the shadow's own variation: a scene whose shadow is 3 scene units longer than the angles put it comes
# back barely longer, where the regressor reads nearly the whole difference on the true images (measured on 200
# test scenes for these models and for the promise model of the next section, which does draw it:
# `vaecourse/pretrained/README.md`, chapter 5). At 32×32, in the paper's framing, the shadow is a bar 1⅓ pixels
# high, and the Bernoulli likelihood pays little for it; the paper's images are 96×96.

# %% [markdown]
# ### An independence-based model cannot intervene on the shadow
# The slides' claim: disentanglement that assumes *independent* factors cannot extract causally related ones.
# The β-VAE has no graph, and its KL term asks its latents to be independent; but in the data the shadow is not
# independent of the angles. So whichever latent "is" the shadow carries the angles along. Take the β-VAE latent
# whose MIC with a shadow concept is highest, traverse it on the test scene above (its other latents fixed), and
# let the regressor read what the decoded images show:

# %%
beta_model = models["β-VAE"]
with torch.no_grad():
    codes = beta_model.embed(data.render_concepts(data.concepts(data.factors_at(data.split_indices("test")[:256]),
                                                                torch.Generator().manual_seed(4))))
active = codes.std(0) > 0.1  # latents whose posterior mean moves across images (the others are collapsed)
shadow_mic = np.where(active.cpu().numpy()[:, None], scores["β-VAE"]["mic_matrix"][:, 2:], -1.0)  # [length, position]
if not active.any():
    print("every β-VAE latent is collapsed (posterior means vary by < 0.1 across test images): nothing to walk")
else:
    latent, concept = np.unravel_index(int(np.argmax(shadow_mic)), shadow_mic.shape)
    latent, concept = int(latent), 2 + int(concept)
    with torch.no_grad():
        low, high = torch.quantile(codes[:, latent], torch.tensor([0.05, 0.95], device=codes.device)).tolist()
        walk = beta_model.embed(x0).repeat(7, 1)
        walk[:, latent] = torch.linspace(low, high, 7, device=walk.device)
        walked = beta_model.decode(walk).mean
        read = regressor(walked).cpu()  # (7, 4) concepts read back, label units
    print(f"β-VAE latent {latent} (of {int(active.sum())} in use) best matches {CONCEPTS[concept]} "
          f"(MIC {shadow_mic.max():.2f}); traversing it from {low:+.2f} to {high:+.2f}, the regressor reads:")
    print(f"{'latent value':>12s} " + " ".join(f"{name:>15s}" for name in CONCEPTS))
    for value, row in zip(walk[:, latent].tolist(), read.tolist()):
        print(f"{value:12.2f} " + " ".join(f"{v:15.2f}" for v in row))
    moved = (read.max(0).values - read.min(0).values).tolist()
    print("range of each concept along the walk:", {name: round(m, 2) for name, m in zip(CONCEPTS, moved)})
    shadow_values = torch.linspace(read[:, concept].min().item(), read[:, concept].max().item(), 7)
    truth_row = torch.cat([data.counterfactual(scene, **{CONCEPTS[concept]: float(data.from_labels(
        torch.full((1, 4), v))[0, concept])})[0] for v in shadow_values.tolist()])
    display(image_grid(torch.cat([walked.cpu(), truth_row.cpu()]), ncols=7,
                       row_labels=["β-VAE walk", f"do({CONCEPTS[concept]})"],
                       title=f"top: the β-VAE's latent {latent} traversed; bottom: the simulator's "
                             f"do({CONCEPTS[concept]}) over the same range (the angles stay)"))
    other = 5 - concept  # the other shadow concept (length 2, position 3)
    say("Walking the β-VAE's latent {l} (of {k} in use) moves the {c} by {m:.2f} label units and the {o} by {mo:.2f}, "
        "and the light angle φ by {f:.2f} and θ by {t:.2f}.", l=latent, k=int(active.sum()),
        c=PROSE_NAME[CONCEPTS[concept]], m=moved[concept], o=PROSE_NAME[CONCEPTS[other]], mo=moved[other],
        f=moved[1], t=moved[0])
    claim("walking the β-VAE latent that best matches a shadow concept moves an angle at least as far as that shadow "
          "concept: the latent is not the shadow alone", max(moved[0], moved[1]) >= moved[concept],
          measured=f"{PROSE_NAME[CONCEPTS[concept]]} {moved[concept]:.2f}, θ {moved[0]:.2f}, φ {moved[1]:.2f}")

# %% [markdown]
# Read the ranges the cell prints: a latent that is the shadow alone would move only the shadow's two concepts.
# In the data a shadow only ever moves when an angle moves, so an unsupervised latent that tracks the shadow tracks
# a *mixture* of the causes and their effect, and walking it moves the angles too, as far as the shadow or further
# (the sentence under the cell gives the ranges for the β-VAE loaded here): the sun swings with the shadow, as the
# regressor reads and the top row shows. No choice of one β-VAE latent is do(shadow): the model has no variable
# that is the shadow alone and no equations that say what depends on it. CausalVAE is built to have both. (If the
# cell reports no latent in use, the β-VAE loaded here has stopped using its latents altogether, the posterior
# collapse of chapter 2, and there is nothing to walk: with this recipe stopped at 2,000 steps instead of 6,000,
# that is what happened on this scene.)

# %% [markdown]
# ### One model for the whole promise
# The models above each keep part of the promise: one learns the graph, another reads off the concepts, none
# draws do(shadow). Five more changes, again **this course's extension, not the paper's**, each found by a short
# measured run (`benchmarks/bench_causal_promise.py`; the runs and what each change bought are listed in
# `vaecourse/pretrained/README.md`):
#
# - **keep A's magnitudes out of a linear layer** (`latent_scm="equations"`): the latent concepts obey the label
#   equations themselves, $z_i = \hat g_i(A_i\circ z) + \varepsilon_i$ (the nonlinear SCM that the paper's mask layer
#   writes, solved parents-first), and the decoder reads z. Nothing mixes the blocks linearly, so each stays on its
#   own concept, and do(zᵢ = c) recomputes the descendants through the same equations that learned the graph from
#   the labels. (The KL of z stays exact in expectation: the map ε → z has a unit Jacobian determinant on a DAG.)
# - **one latent per concept, and a narrower label prior** (`concept_dim=1`, `prior_std=0.1`, i.e. $p(z_i\mid u) =
#   \mathcal N(u_i, 0.1^2)$ instead of the paper's $\mathcal N(u_i, 1)$): with the paper's prior the encoder put θ's
#   latent at more than twice uᵢ, so do(z = c), given in label units, drew the pendulum at less than half of c, and it
#   left the shadow's latents nearly as noisy as the prior, so the decoder drew the shadow from the angles (measured
#   in the recipe search: `vaecourse/pretrained/README.md`, chapter 5). With four dimensions per concept it also hid
#   the concept in the block's spread, which do() cannot set.
# - **a likelihood that weights the shadow's pixels** (`shadow_weight=10`): at 32×32 the shadow is a bar of two
#   rows, and the Bernoulli likelihood pays little for it.
# - **the shadow's rows drawn from the shadow's own latents** (`decoder="shadow_rows"`): the decoder is the joint
#   one everywhere except on the two ground rows that only the shadow darkens, whose pixels a small network draws from
#   (z_length, z_position) alone. With the joint decoder, do(shadow position) stayed about twice the allowed error off
#   on five seeds of five: in the data the shadow hardly moves apart from the angles (its own noise is small beside
#   the spread of the position; §2's first cell printed both), so the decoder drew it mostly from the angle latents,
#   and do(shadow position) had to extrapolate. Here the angles reach the shadow only through the shadow's latents, as
#   in the SCM. This uses the scene's layout (which rows the shadow can reach), knowledge a model of photographs would
#   not have.
# - **a stronger independence term, and a prune** (`independence=30`, `prune=0.01`): λ = 30 forms the length edges
#   on every seed (with λ = 10 they stayed unformed on some), and the end-of-training prune of the label-only
#   section removes the extra edge the angles already explain.
#
# The shipped model was trained with `python -m vaecourse train` (command, time and scores in
# `vaecourse/pretrained/README.md`). Below: its graph, its concept alignment, its counterfactuals against the
# simulator's, and the slides' example, do(shadow length = 0), beside the simulator's truth.

# %%
PROMISE = "ch5_causalvae_promise_pendulum32"
promise_recipe = recipes.get("ch5-causalvae-promise")  # equations, concept_dim 1, prior_std 0.1, independence 30,
# shadow_weight 10, shadow rows, prune 0.01 (the bullets above)
if pretrained.available(PROMISE) and not RETRAIN and not FAST:
    promise_model = pretrained.load(PROMISE).to(device)
    print(f"loaded {PROMISE} ({pretrained.info(PROMISE)['steps']:,} steps)")
else:
    promise_run = recipes.build(promise_recipe, device=device, steps=5 if FAST else None)  # CausalVAE(latent_scm=...)
    recipes.train(promise_run, progress=not FAST, desc="promise")  # ... then the prune, on the training labels
    promise_model = promise_run.model
    print("rise in l_u without each edge j -> i:", {edge: round(r, 4) for edge, r in promise_run.pruned.items()})
A_promise = promise_model.adjacency().detach().cpu()
display(adjacency_figure(A_promise, TRUE_GRAPH, CONCEPTS, title="the promise model: learned A (rows cause columns)"))
promise_scores = mic_tic_score(data, promise_model.concept_latents, generator=torch.Generator().manual_seed(0), n=n_mic)
promise_fidelity = intervention_fidelity(data, lambda x, u, i, v: promise_model.intervene(x, u, {i: v}), regressor,
                                         n=8 if FAST else 128, generator=torch.Generator().manual_seed(2))
print(f"SHD {structural_hamming_distance(A_promise, TRUE_GRAPH)}; MIC {promise_scores['mic']:.3f}, "
      f"TIC {promise_scores['tic']:.3f}  (goals: SHD 0, MIC >= 0.85, TIC >= 0.70)")
for i, name in enumerate(CONCEPTS):
    f = promise_fidelity[name]
    print(f"do({name:15s}) intervened-concept error {f['concept_mae'][i]:.3f}, pixel MSE {f['pixel_mse']:.4f}  "
          f"(goals: <= 0.15, <= 0.005); all concept errors {np.round(f['concept_mae'], 3)}")
promise_shd = structural_hamming_distance(A_promise, TRUE_GRAPH)
promise_pruned = [f"{PROSE_NAME[CONCEPTS[j]]} → {PROSE_NAME[CONCEPTS[i]]}"
                  for j, i in (promise_model.edge_mask == 0).nonzero().tolist() if j != i]  # removed edges stay zero
promise_error = {name: float(promise_fidelity[name]["concept_mae"][i]) for i, name in enumerate(CONCEPTS)}
promise_pixel = max(promise_fidelity[name]["pixel_mse"] for name in CONCEPTS)
best_section4 = {name: min(float(fidelity[kind][name]["concept_mae"][i]) for kind in fidelity)
                 for i, name in enumerate(CONCEPTS)}  # the closest §4 model under each do()
others_under_position = promise_fidelity["shadow_position"]["concept_mae"][:3]  # θ, φ, length under do(position)
say("**What this run measured.** The promise model's graph: SHD {shd}; the prune removed {pruned}. MIC {mic:.3f}, "
    "TIC {tic:.3f}. The intervened concept read back from its counterfactuals: do(θ) {t:.3f}, do(φ) {f:.3f}, "
    "do(shadow length) {l:.3f}, do(shadow position) {p:.3f} label units off the simulator's (the closest §4 model: "
    "{bt:.3f}, {bf:.3f}, {bl:.3f}, {bp:.3f}), with pixel errors of at most {px:.4f}.", shd=promise_shd,
    pruned=", ".join(promise_pruned) or "no edge", mic=promise_scores["mic"], tic=promise_scores["tic"],
    t=promise_error["theta"], f=promise_error["phi"], l=promise_error["shadow_length"],
    p=promise_error["shadow_position"], bt=best_section4["theta"], bf=best_section4["phi"],
    bl=best_section4["shadow_length"], bp=best_section4["shadow_position"], px=promise_pixel)
claim("the promise model's graph is the true one: the four edges, none reversed, nothing extra",
      promise_shd == 0, measured=f"SHD {promise_shd}")
claim("its concept latents read off the concepts (MIC ≥ 0.85, TIC ≥ 0.70)",
      promise_scores["mic"] >= 0.85 and promise_scores["tic"] >= 0.70,
      measured=f"MIC {promise_scores['mic']:.3f}, TIC {promise_scores['tic']:.3f}")
claim("each of do(θ), do(φ), do(shadow length) and do(shadow position) comes within 0.15 label units of the "
      "simulator's counterfactual, with pixel errors of at most 0.005, closer than every §4 model under each",
      all(promise_error[name] <= 0.15 and promise_error[name] < best_section4[name] for name in CONCEPTS)
      and promise_pixel <= 0.005,
      measured=", ".join(f"do({PROSE_NAME[name]}) {promise_error[name]:.3f}" for name in CONCEPTS)
      + f"; pixel errors ≤ {promise_pixel:.4f}")
claim("under do(shadow position) the other three concepts stay where the simulator keeps them (within 0.1)",
      bool((others_under_position < 0.1).all()),
      measured="θ / φ / length " + slashed(others_under_position))

# %%
promise_rows = torch.stack([torch.cat([promise_model.intervene(x0, u0, {i: v}) for v in values[i].tolist()]).cpu()
                            for i in range(len(CONCEPTS))])  # the §5 test scene and values
display(intervention_grid_figure(promise_rows, true_rows, CONCEPTS, values=[v.tolist() for v in values],
                                 title="the promise model: do(concept = value), model (left) and simulator (right)"))

# %% [markdown]
# **do(shadow length = 0).** The slides' example, on six test scenes: the observed image, the simulator's
# counterfactual (the shadow gone, nothing else changed) and each model's.

# %%
erase_index = data.split_indices("test")[torch.randperm(len(data.split_indices("test")),
                                                        generator=torch.Generator().manual_seed(3))[:6]]
erase_concepts = data.concepts(data.factors_at(erase_index), torch.Generator(device=device).manual_seed(3))
x_erase, u_erase = data.render_concepts(erase_concepts), data.labels(erase_concepts).float()
zero_length = float(data.labels(torch.zeros(1, 4, dtype=torch.float64))[0, 2])  # length 0 in label units
erase_truth = data.counterfactual(erase_concepts, shadow_length=0.0)[0]
erasers = {"promise model": promise_model, INDEPENDENT: independent_model, "CausalVAE": causal_model,
           "conditional VAE": models["conditional VAE"]}  # the promise model and §4's label-conditioned models
erase_rows = [x_erase, erase_truth] + [m.intervene(x_erase, u_erase, {2: zero_length}) for m in erasers.values()]
display(image_grid(torch.cat(erase_rows).cpu(), ncols=6, row_labels=["observed", "simulator", *erasers],
                   title="do(shadow length = 0): the truth erases the shadow"))
ink_shares = {label: ink_left(x_erase, images, erase_truth, data.shadow_rows())  # (metrics.causal)
              for label, images in zip(erasers, erase_rows[2:])}
for label, left in ink_shares.items():
    print(f"{label:26s} shadow ink left after do(shadow length = 0): {left:.0%} of the observed shadow's")
say("do(shadow length = 0) leaves {p:.0%} of the observed shadow's ink in the promise model's images; {others}.",
    p=ink_shares["promise model"], others="; ".join(f"{label} {left:.0%}" for label, left in ink_shares.items()
                                                   if label != "promise model"))
claim("the promise model's do(shadow length = 0) erases most of the shadow (less than half of its ink left), and "
      "none of §4's models does (each leaves more than three quarters)",
      ink_shares["promise model"] < 0.5
      and all(left > 0.75 for label, left in ink_shares.items() if label != "promise model"),
      measured=", ".join(f"{label} {left:.0%}" for label, left in ink_shares.items()))

# %% [markdown]
# **What it reaches, measured.** The promise model of this run, scored as above against issue 13's goals (the checks
# under its cells; the shipped model's scores are also in `vaecourse/pretrained/README.md`): its graph is the true
# one, the four edges, none reversed, nothing extra (the sentence under the cell names the edges the prune removed:
# for the shipped model the one extra edge the training left, shadow position → length, whose removal barely raised
# $l_u$ while every true edge's raised it many times more; the rises are in the same file); its concept latents read
# off the concepts; each of do(θ), do(φ), do(shadow length) and do(shadow position) comes within the allowed error of
# the simulator's counterfactual, closer than every §4 model (compare the §4 models' rows above, and the grid: the
# shadow moves under do(shadow position) and nothing else does); and do(shadow length = 0) erases most of the shadow,
# leaving a faint stub under the bob, which no model of §4 does.
#
# Over five seeds of the same recipe (`benchmarks/bench_causal_promise.py`, 6,000 steps, a few minutes of CPU on one
# thread each), every goal was met on every seed: the true graph with no reversed edge, concept latents that read
# off the concepts, every do(·) within the allowed error. At 3,000 steps four seeds had already met them all; on the
# fifth the length edges had not yet formed. (Measured over five seeds: `vaecourse/pretrained/README.md`, chapter 5.)
#
# What it took, measured (earlier recipes' figures in `vaecourse/pretrained/README.md`, chapter 5):
#
# - do(shadow position) needed the shadow's rows drawn from the shadow's latents. With the joint decoder it stayed
#   about twice the allowed error off on five seeds of five, and the sun moved with the shadow: the decoder had
#   learned the shadow from the angle latents, because in the data the shadow hardly moves apart from them. More of
#   the shadow's own noise (3 scene units instead of 1) did fix do(shadow position), but broke do(shadow length) on
#   four seeds of five. Decoding each concept's latent by its own network, as the authors' code does
#   (`decoder="per_concept"`), was worse on every score but the graph.
# - the graph needed λ = 30 and the prune. With λ = 10 the length edges stayed unformed on some seeds; with λ = 30
#   they formed on every seed, and on three of five one extra edge remained, the one the prune removes.
# - the measuring instrument had to read each concept from its own pixels: the regressor is trained with the
#   shadow redrawn independently of the angles (above), and reads the simulator's own counterfactuals closely (the
#   check under the fidelity cell).
#
# What is still the course's, and why it matters: the shadow-rows decoder knows which image rows the shadow can reach,
# and the prune needs the shadow to carry noise of its own (on the paper's exact scene the extra edge is used by
# the length equation, and no tolerance separates it from the true edges). Neither is in [yang2021].

# %% [markdown]
# ### Read from the image, or passed through from the labels?
# Every label-conditioned model of this chapter has an encoder $q(z\mid x, u)$ that takes the labels u beside the
# image, and every MIC / TIC above was computed with each image's own labels. So a high score does not yet say that
# the model reads the concepts *from the image*: it could pass the labels through. The test: feed each test image the
# labels of *another* scene (a random derangement of the test images, `metrics.causal.label_reliance`), and score
# the concept latents twice, against the labels fed and against the concepts actually in the image. A model that
# reads the image keeps the second score; one that passes the labels through keeps the first.

# %%
conditioned_models = {"CausalVAE": causal_model, INDEPENDENT: independent_model,
                      "conditional VAE": models["conditional VAE"], "promise model": promise_model}
reliance = {kind: label_reliance(model, data, n=n_mic, generator=torch.Generator().manual_seed(0))
            for kind, model in conditioned_models.items()}
chance = mic_tic_summary(np.random.default_rng(0).normal(size=(n_mic, 4)),
                         split_concepts(data, "test", n_mic, torch.Generator().manual_seed(0)).cpu().numpy())
print(f"{'model':26s} {'own labels':>10s} {'other labels: vs fed':>21s} {'vs the image':>13s}   (MIC, n = {n_mic})")
for kind, r in reliance.items():
    print(f"{kind:26s} {r['given']['mic']:10.3f} {r['swapped_vs_fed']['mic']:21.3f} {r['swapped_vs_image']['mic']:13.3f}")
print(f"{'(noise, for scale)':26s} {'':10s} {'':21s} {chance['mic']:13.3f}")
follows = [kind for kind, r in reliance.items() if r["swapped_vs_fed"]["mic"] > r["swapped_vs_image"]["mic"] + 0.3]
image_mics = [r["swapped_vs_image"]["mic"] for r in reliance.values()]
say("With another scene's labels fed, the concept latents' MIC against the scene in the image falls to "
    "{low:.2f}–{high:.2f} (unrelated random numbers score {noise:.2f} on as many images), while against the labels fed "
    "it stays at {fed_low:.2f}–{fed_high:.2f}.", low=min(image_mics), high=max(image_mics), noise=chance["mic"],
    fed_low=min(r["swapped_vs_fed"]["mic"] for r in reliance.values()),
    fed_high=max(r["swapped_vs_fed"]["mic"] for r in reliance.values()))
claim("every label-conditioned model so far follows the labels it is fed, not the image: with another scene's "
      "labels its MIC against the labels fed exceeds its MIC against the image by more than 0.3",
      len(follows) == len(reliance), measured=", ".join(f"{kind} {r['swapped_vs_fed']['mic']:.2f} vs "
                                                       f"{r['swapped_vs_image']['mic']:.2f}"
                                                       for kind, r in reliance.items()))

# %% [markdown]
# So the MIC / TIC table above mostly measures how faithfully the labels pass through the encoder, not whether a
# model reads the concepts from the pixels (the β-VAE, which sees no labels, is the only model there whose score is
# the image's alone). For these models that is what the training asked: the prior $p(z_i\mid u) =
# \mathcal N(u_i, \cdot)$ rewards a latent that copies $u_i$, and with $u$ in the input, copying is the easiest way.
# It matters for what the models can be used for. Their counterfactuals start from an abduction that was handed the
# labels, and on a photograph nobody labelled there is nothing to hand them. The next model is trained for that case.

# %% [markdown]
# ### Without the scene's layout: layers that learn which pixels each concept owns
# The promise model was *told* where the shadow is: the shadow-rows decoder draws two ground rows from the shadow's
# latents alone, and the likelihood weights those rows tenfold. No model of photographs can be told that. The
# general form, again **this course's, not the paper's**: each concept block may draw its own *layer*, and the
# layers are alpha-composited over a learned background (`decoder="layered"`, `models.causal_layers.LayeredDecoder`):
#
# $$\text{layer } l = f_l(z \circ r_l) = (c_l, m_l), \qquad \pi(p) = \operatorname{softmax}\big(0, m_1(p), \dots,
# m_L(p)\big), \qquad \text{logits}(p) = \pi_0(p)\, b(p) + \sum_l \pi_l(p)\, c_l(p)$$
#
# Layer l draws content $c_l$ and a mask $m_l$ from the concept blocks its gates $r_l \in [0, 1]^n$ let through;
# $\pi$ shares each pixel among the background b and the layers. The gates are hard-concrete switches [louizos2018],
# exactly 0 or 1 most of the time, so a closed gate cannot be undone by larger weights behind it. Concept i then
# *owns* pixel p to the extent $\text{owned}_i(p) = \sum_l \pi_l(p)\, r_{li}$, and do(zᵢ = c) can change a pixel only
# through what concept i owns. The loss pays `ownership=0.02` nats for each unit of $\sum_p \sum_i
# \text{owned}_i(p)$, so a pixel reads as few concepts as drawing it needs. Nothing in the class knows the scene: no
# rows, no owners; there are as many layers as concept blocks, and layer l starts with its gate on block l open and
# the others half open.
#
# The layers alone were not enough: on one seed, after 3,000 steps, do(shadow position) was still more than twice
# the allowed error off, because the θ layer drew the shadow, which in the data follows the angles (measured:
# `vaecourse/pretrained/README.md`, chapter 5). Two more changes teach the model to read and draw each concept from
# its own pixels:
#
# - **the labels withheld half of the time** (`label_dropout=0.5`): the encoder sees u beside x only for half of the
#   training images, and must otherwise infer the concepts from the image, as it must on an image nobody labelled
#   (`model.encode(x, None)`). The prior $p(z\mid u)$ still has the labels: they are training data.
# - **counterfactuals read back** (`cycle=1`, `CausalVAE.read_back`): each step, one concept i of each image is set
#   to another image's value, do(zᵢ = c); the decoded image goes back through the encoder *with the labels withheld*,
#   and the loss pays $\lVert \hat z - z' \rVert^2 / 2s^2$ for every concept read back away from where the
#   intervention put it ($z'$: c for concept i, its descendants recomputed, the others unchanged). A shadow drawn from
#   the angles does not move under do(shadow position), and is read back wrong.
#
# Everything else is the promise model's recipe without `shadow_weight` (`recipes.get("ch5-causalvae-layered")`).

# %%
LAYERED = "ch5_causalvae_layered_pendulum32"
layered_recipe = recipes.get("ch5-causalvae-layered")  # decoder="layered", label_dropout=0.5, cycle=1 (above)
if pretrained.available(LAYERED) and not RETRAIN and not FAST:
    layered_model = pretrained.load(LAYERED).to(device)
    print(f"loaded {LAYERED} ({pretrained.info(LAYERED)['steps']:,} steps)")
else:
    layered_run = recipes.build(layered_recipe, device=device, steps=5 if FAST else None)
    recipes.train(layered_run, progress=not FAST, desc="layered")
    layered_model = layered_run.model
layered_model.eval()
owner_concepts = split_concepts(data, "test", 256, torch.Generator().manual_seed(4))
owner_images = data.render_concepts(owner_concepts)
owned_each = layered_model.ownership(owner_images, None)  # (n, 4, H, W): labels withheld
display(ownership_figure(owned_each.mean(0).cpu(), CONCEPTS, owner_images[0].cpu()))
shadowless = data.counterfactual(owner_concepts, shadow_length=0.0)[0]  # the same scenes with no shadow
shadow_ink = ((owner_images - shadowless).abs().amax(1) > 0.1)[:, None]  # (n, 1, H, W): each shadow's own pixels
owned_there = (owned_each * shadow_ink).sum((0, 2, 3)).cpu()  # (4,)
shadow_share = owned_there / owned_there.sum()  # who draws the shadow, per concept
say("Of what the concepts draw on the shadow's own pixels, shadow length owns {l:.0%}, shadow position {p:.0%}, "
    "θ {t:.0%} and φ {f:.0%}.", l=float(shadow_share[2]), p=float(shadow_share[3]), t=float(shadow_share[0]),
    f=float(shadow_share[1]))
claim("the layers learned that the shadow belongs mostly to the shadow: on its pixels, shadow length and position "
      "own more than the two angles together", float(shadow_share[2:].sum()) > float(shadow_share[:2].sum()),
      measured=f"shadow {float(shadow_share[2:].sum()):.0%}, angles {float(shadow_share[:2].sum()):.0%}")

# %% [markdown]
# The figure is the model's own answer to "which pixels does each concept draw?", learned: nobody told it where the
# sun, the rod and the bob, or the shadow are (the claim above reads the shadow's pixels from the simulator, to
# compare what the model learned with the truth). Its scores, with the labels **withheld** (the image alone: the
# latents, and the abduction of every do()), against the promise model's goals:

# %%
A_layered = layered_model.adjacency().detach().cpu()
layered_shd = structural_hamming_distance(A_layered, TRUE_GRAPH)
layered_scores = mic_tic_score(data, lambda x, u: layered_model.concept_latents(x, None),
                               generator=torch.Generator().manual_seed(0), n=n_mic)
layered_fidelity = intervention_fidelity(data, lambda x, u, i, v: layered_model.intervene(x, None, {i: v}), regressor,
                                         n=8 if FAST else 128, generator=torch.Generator().manual_seed(2))
layered_error = {name: float(layered_fidelity[name]["concept_mae"][i]) for i, name in enumerate(CONCEPTS)}
layered_pixel = max(layered_fidelity[name]["pixel_mse"] for name in CONCEPTS)
layered_reliance = label_reliance(layered_model, data, n=n_mic, generator=torch.Generator().manual_seed(0))
layered_erased = layered_model.intervene(x_erase, None, {2: zero_length})
ink_shares["layered model"] = ink_left(x_erase, layered_erased, erase_truth, data.shadow_rows())
print(f"SHD {layered_shd}; labels withheld: MIC {layered_scores['mic']:.3f}, TIC {layered_scores['tic']:.3f}")
for name in CONCEPTS:
    print(f"do({name:15s}) error {layered_error[name]:.3f}, pixel MSE {layered_fidelity[name]['pixel_mse']:.4f}   "
          f"(promise model, labels given: {promise_error[name]:.3f}, {promise_fidelity[name]['pixel_mse']:.4f})")
print(f"other scenes' labels fed: MIC {layered_reliance['swapped_vs_fed']['mic']:.3f} against them, "
      f"{layered_reliance['swapped_vs_image']['mic']:.3f} against the image")
display(image_grid(torch.cat([x_erase, erase_truth, erase_rows[2], layered_erased]).cpu(), ncols=6,
                   row_labels=["observed", "simulator", "promise model", "layered model"],
                   title="do(shadow length = 0), the layered model with the labels withheld"))
say("The layered model, from the image alone: SHD {shd}; MIC {mic:.3f}, TIC {tic:.3f}; do(θ) {t:.3f}, do(φ) {f:.3f}, "
    "do(shadow length) {l:.3f}, do(shadow position) {p:.3f} label units off the simulator's, pixel errors at most "
    "{px:.4f}; do(shadow length = 0) leaves {ink:.0%} of the shadow's ink (the promise model {pink:.0%}). Fed other "
    "scenes' labels, its latents score MIC {fed:.3f} against those labels and {img:.3f} against the image.",
    shd=layered_shd, mic=layered_scores["mic"], tic=layered_scores["tic"], t=layered_error["theta"],
    f=layered_error["phi"], l=layered_error["shadow_length"], p=layered_error["shadow_position"], px=layered_pixel,
    ink=ink_shares["layered model"], pink=ink_shares["promise model"], fed=layered_reliance["swapped_vs_fed"]["mic"],
    img=layered_reliance["swapped_vs_image"]["mic"])
claim("from the image alone, the layered model's concept latents read off the concepts (MIC ≥ 0.85, TIC ≥ 0.70)",
      layered_scores["mic"] >= 0.85 and layered_scores["tic"] >= 0.70,
      measured=f"MIC {layered_scores['mic']:.3f}, TIC {layered_scores['tic']:.3f}")
claim("from the image alone, each of its do(θ), do(φ), do(shadow length), do(shadow position) comes within 0.15 label "
      "units of the simulator's, with pixel errors of at most 0.005",
      all(e <= 0.15 for e in layered_error.values()) and layered_pixel <= 0.005,
      measured=", ".join(f"do({PROSE_NAME[n]}) {e:.3f}" for n, e in layered_error.items())
      + f"; pixel errors ≤ {layered_pixel:.4f}")
section4_ink = [left for label, left in ink_shares.items() if label not in ("promise model", "layered model")]
claim("its do(shadow length = 0) leaves less of the shadow than any §4 model, but more than the promise model",
      ink_shares["promise model"] < ink_shares["layered model"] < min(section4_ink),
      measured=f"layered {ink_shares['layered model']:.0%}, promise {ink_shares['promise model']:.0%}, "
               f"§4 models at least {min(section4_ink):.0%}")
claim("the light angle's layer draws part of the shadow (more than a tenth of what the concepts draw on its pixels), "
      "which do(shadow length = 0) cannot remove", float(shadow_share[1]) > 0.1,
      measured=f"φ owns {float(shadow_share[1]):.0%} of the shadow's pixels")
claim("it reads the image, not the labels fed: with other scenes' labels its MIC against the image stays above "
      "0.85 and against the labels fed falls below 0.3",
      layered_reliance["swapped_vs_image"]["mic"] > 0.85 and layered_reliance["swapped_vs_fed"]["mic"] < 0.3,
      measured=f"{layered_reliance['swapped_vs_image']['mic']:.3f} against the image, "
               f"{layered_reliance['swapped_vs_fed']['mic']:.3f} against the labels fed")

# %% [markdown]
# **What it reaches, measured, and what to take from it.** The checks above say, for the model loaded here, which
# of the promise model's goals hold from the image alone. On the shipped run they all do but one: the true graph,
# concept latents that read off the concepts, every do(·) within the allowed error, and another scene's labels
# ignored (the promise model followed them). The one it misses is the slides' example: do(shadow length = 0) leaves
# more of the shadow than the goal allows (the sentence under the cell gives the share, beside the promise model's).
# The ownership figure says why: the light angle's layer draws part of the shadow from φ alone, and an intervention
# on the length cannot remove what φ draws. And the shipped run is the lucky one. Over five seeds of the recipe
# (`benchmarks/bench_causal_promise.py`, 3,000 steps each, the figures in `vaecourse/pretrained/README.md`, chapter
# 5), every do(·) came within the allowed error on one seed of five, the true graph on three, and the ink goal on
# none, where the promise model met every goal on five of five. On the other seeds the layers came to read several
# concepts each (one seed's light layer also reads θ and draws over the pendulum; another's length layer reads φ
# and draws the sun), so an intervention on one concept redraws another's pixels. Trying the recipe at 64×64, as
# the paper's larger images would need, cost between three and four times as much per step, and after 1,500 steps
# it had met none of the goals but do(φ) (the same file).
#
# The obvious repair does not work, and why is worth a moment. Paying for every pair of layers that read the same
# concept (`CausalObjective(exclusive=w)`, in the library to try) does keep one concept per layer, but it keeps
# *exactly* one: no layer then reads both shadow length and position, which the shadow needs (how long it is and where
# it lies), so the layer that can predict most of the shadow from a single concept, the light angle's, draws it, and
# do(shadow length = 0) removes almost none of it. Paying for pixels drawn by two layers at once (`overlap=w`) settles
# early which layer owns which region, before the latents line up with the concepts, and keeps the wrong answer
# (measured at 1,500 steps: the pair cost alone on one seed, both costs together on two; same file). Which pixels a
# concept owns depends on which concepts act *together* on a part; a cost on counting does not know that.
#
# What a learner should take from the difference: the layout the promise model was given is worth a lot. It stands
# for knowledge the data barely contain, because the shadow hardly moves apart from the angles, so a decoder left to
# learn ownership from observational images alone is pulled towards drawing the shadow from the angles. What moved
# the shadow to the shadow's own latents here was asking the model's *counterfactuals* to be legible, read back by an
# encoder that sees no labels: an inductive bias about interventions, not about pixels. And a model's alignment
# scores mean little until it is tested without the labels it was trained beside.

# %% [markdown]
# ### Explore
# Move a slider away from the scene's own value to set do(zᵢ = c); the model's counterfactual (the promise model's)
# appears beside the simulator's. (A static example follows for readers without a kernel.)

# %%
def counterfactual(x, u, interventions):  # the promise model
    return promise_model.intervene(x.to(device), u.to(device), interventions).cpu()


from vaecourse.viz import render_intervention  # noqa: E402

display(render_intervention(counterfactual, Pendulum(size=SIZE), scene[0].cpu(), {1: 0.0}))

# %%
# NBVAL_IGNORE_OUTPUT
intervention_explorer(counterfactual, Pendulum(size=SIZE), scene[0].cpu())

# %% [markdown]
# ### The paper's other data: faces
# Besides the pendulum (and a water-flow scene), [yang2021] trains CausalVAE on CelebA faces with two sets of
# four binary attribute labels, each with its own graph. **CelebA(SMILE)**: gender, smile, eyes open and mouth
# open, where gender and smile cause eyes open and smile causes mouth open (the slides' "Experiments"), so do(smile)
# should open the mouth and narrow the eyes while do(mouth open) leaves the smile alone. **CelebA(BEARD)**: age,
# gender, bald and beard, where age and gender cause bald and beard. There is no simulator of faces, so those
# counterfactuals can only be looked at, not measured; that is why this chapter works on the pendulum, whose true
# counterfactuals the simulator renders.

# %% [markdown]
# ## 6. Exercises
# `exercises/05_causalvae.ipynb`: sample an SCM and intervene; write the causal layer $(I-A^\top)^{-1}\varepsilon$;
# write H(A) and check its gradient; intervene on a latent and propagate to the descendants; then predict in which
# panel a collider's causes are dependent and what do(shadow position) moves in the promise model, and vary the
# independence weight of the label fit and read the graph it learns.
#
# ## 7. Recap
# - An SCM is noise plus one equation per variable; do(·) swaps an equation for a constant; a counterfactual is
#   abduction, action, prediction.
# - Linear-Gaussian observational data identify a graph only up to Markov equivalence. On the pendulum's labels
#   the minimum of $l_u$ is not the true graph: squared errors make the shadow a cause of the angles, while the
#   true orientation is written in an independence (θ ⊥ φ, a collider) that a regression loss does not see.
# - An SCM's noises are independent. Penalising the dependence (HSIC) of the label residuals, fitting the labels
#   with the mask layer's kind of network and letting only the label terms move A, CausalVAE learns the true
#   graph from A = 0; its counterfactuals for the causes then follow the simulator's more closely, while its
#   concept latents read off the concepts less cleanly (lower MIC). Physics-breaking interventions on the effects
#   stay out of reach of those models.
# - The course's further extension (the latents obeying the learned label equations, one latent per concept, a
#   narrower label prior, the shadow's pixels weighted and drawn from the shadow's own latents, a prune of unneeded
#   edges) keeps the whole promise in one model, on five seeds of five: the true graph from A = 0, concept latents
#   that read off the concepts, every do(·) within the allowed error of the simulator's, and do(shadow length = 0)
#   erases most of the shadow.
# - High MIC / TIC can be the labels passing through: fed another scene's labels, every model that was always
#   handed its labels follows them. Withholding the labels half of the time, reading the model's counterfactuals
#   back through its own encoder, and a decoder whose layers learn which pixels each concept owns replace the
#   shadow's given rows; what that model reaches, and over how many seeds, is measured in §5's last section.
# - CausalVAE = encoder to ε, a linear SCM layer with learned A, a mask layer of per-concept networks, a label
#   prior; trained with Eq. (41) and an augmented Lagrangian on H(A) = 0.
# - Counterfactual images can be *measured* when the data come from a simulator that knows the truth.
#
# **References** (docs/references.md): [yang2021] CausalVAE, CVPR 2021 · [pearl2009] Causality, 2nd ed. ·
# [reshef2011] Detecting novel associations in large data sets · [zheng2018] DAGs with NO TEARS ·
# [reisach2021] Beware of the simulated DAG · [gretton2005] HSIC · [peters2014] additive noise models ·
# [louizos2018] L0 regularisation (the hard-concrete gates).
