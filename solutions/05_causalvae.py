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
# # Chapter 5 exercises — SCMs and the pieces of CausalVAE
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vaecourse/vaecourse/blob/main/solutions/05_causalvae.ipynb)
#
# Four functions, each the code form of one line of the lecture (`notebooks/05_causalvae.ipynb`). Fill in the body
# where it says `raise NotImplementedError`, run the cell, then run the **check** cell below it: it compares
# your function with the library's on fixed inputs and tells you what is off. If an exercise is not done yet,
# the check says so and the rest of the notebook uses the library's version, so *Run All* always reaches the end.
#
# Convention throughout: $A_{ij}\neq 0$ is an edge $i\to j$, so column $j$ of A holds the parents of $x_j$, and
# a batch of samples is a tensor with one **row** per sample.

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
from vaecourse import check, scm
from vaecourse.objectives import dag_constraint
from vaecourse.viz import scm_scatter_figure

FAST = vaecourse.fast_mode()
generator = vaecourse.seed_everything(0)

# %% [markdown]
# ## Exercise 5.1 — sampling an SCM, and do()
#
# Given a DAG `A` (K, K), exogenous noise `eps` (n, K) and a dict `interventions` {index: value}, return the
# samples `x` (n, K) of the linear SCM $x_j = \sum_i A_{ij} x_i + \varepsilon_j$. Evaluate the variables
# **parents first** (`scm.topological_order(A)` gives such an order), and for an intervened index j replace the
# whole equation by the constant: $x_j = v$ (no parents, no noise).

# %%
def sample_linear_scm(A, eps, interventions):
    # Exercise 5.1: sampling an SCM and do() — evaluate the equations parents first, do() replaces an equation
    # BEGIN SOLUTION
    x = torch.zeros_like(eps)
    for j in scm.topological_order(A):
        x[:, j] = interventions[j] if j in interventions else x @ A[:, j] + eps[:, j]
    return x
    # END SOLUTION


# %%
if not check.scm_sample(sample_linear_scm):
    sample_linear_scm = scm.linear_sample

# %% [markdown]
# With your sampler: the chain x1 → x2 → x3, observed and under do(x2 = 2). Does x1 still predict x3?

# %%
A_chain = scm.chain().graph()
eps = torch.randn(500 if FAST else 3000, 3, generator=generator)
samples = {name: dict(zip(("x1", "x2", "x3"), sample_linear_scm(A_chain, eps, do).T))
           for name, do in (("observational", {}), ("do(x2 = 2)", {1: 2.0}))}
display(scm_scatter_figure(samples, "x1", "x3", title="chain x1 → x2 → x3"))

# %% [markdown]
# ## Exercise 5.2 — the causal layer z = (I − Aᵀ)⁻¹ε
#
# CausalVAE's causal layer (Eq. 27) turns independent exogenous factors into causally related ones. For a batch
# `eps` (B, n) (one row per example) return `z` (B, n) with $z = A^\top z + \varepsilon$ for every row, i.e.
# $z = (I - A^\top)^{-1}\varepsilon$. Keep it differentiable in A (the layer learns A): use `torch.linalg.solve`
# or `torch.linalg.inv`. Mind the row convention: for row vectors, $z^\top = \varepsilon^\top (I - A)^{-1}$.

# %%
def causal_layer(A, eps):
    # Exercise 5.2: the causal layer — return z = (I - A^T)^{-1} eps, row by row
    # BEGIN SOLUTION
    eye = torch.eye(A.shape[0], dtype=A.dtype)
    return torch.linalg.solve(eye - A.T, eps.T).T
    # END SOLUTION


# %%
if not check.causal_layer(causal_layer):
    causal_layer = scm.linear_solve

# %% [markdown]
# The layer agrees with the sampler of 5.1 (for a DAG, solving and evaluating parents-first are the same thing):

# %%
print("max |causal_layer - sampler| =", (causal_layer(A_chain, eps) - sample_linear_scm(A_chain, eps, {})).abs().max().item())

# %% [markdown]
# ## Exercise 5.3 — the acyclicity constraint H(A) and its gradient
#
# $H(A) = \operatorname{tr}\big((I + A\circ A)^n\big) - n$ (Eq. 40), where $A\circ A$ squares each entry and the power
# is a matrix power. It is 0 exactly when A has no cycle. Return H as a 0-dimensional tensor computed with torch
# operations (the augmented Lagrangian differentiates it).

# %%
def dag_penalty(A):
    # Exercise 5.3: the acyclicity constraint H(A) — return tr((I + A * A)^n) - n
    # BEGIN SOLUTION
    n = A.shape[0]
    return torch.trace(torch.linalg.matrix_power(torch.eye(n, dtype=A.dtype) + A * A, n)) - n
    # END SOLUTION


# %%
if not check.dag_penalty(dag_penalty):
    dag_penalty = dag_constraint

# %% [markdown]
# Where does the gradient push? For a 2-cycle a ⇄ b with weights (1.0, 0.4), $\partial H/\partial A$ points
# along both edges; gradient descent on H shrinks both, the weaker one relatively faster.

# %%
A_cycle = torch.tensor([[0.0, 1.0], [0.4, 0.0]], requires_grad=True)
H = dag_penalty(A_cycle)
H.backward()
print(f"H = {H.item():.3f}, dH/dA =\n{A_cycle.grad}")

# %% [markdown]
# ## Exercise 5.4 — an intervention on the latent
#
# A counterfactual in the latent SCM: the exogenous `eps` (B, n) of some examples has been abducted (the
# encoder's mean). Return `z` (B, n) under do(z_i = value): **cut** the edges into z_i (column i of A), fix z_i to
# the value, keep every other ε, and solve $z = A^\top z + \varepsilon$ — so that the descendants of z_i follow
# and its ancestors do not move. The value can be anything, not only 0.

# %%
def intervene_latent(A, eps, i, value):
    # Exercise 5.4: an intervention on the latent — cut the edges into z_i, set it, keep the other eps, solve
    # BEGIN SOLUTION
    A_cut = A.clone()
    A_cut[:, i] = 0
    e = eps.clone()
    e[:, i] = value
    return causal_layer(A_cut, e)
    # END SOLUTION


# %%
if not check.latent_intervention(intervene_latent):
    intervene_latent = scm.linear_intervene

# %% [markdown]
# In the chain, do(z2 = 3) moves z3 and leaves z1 alone:

# %%
e = torch.randn(4, 3, generator=generator)
print("factual        ", causal_layer(A_chain, e)[0].tolist())
print("do(z2 = 3)     ", intervene_latent(A_chain, e, 1, 3.0)[0].tolist())

# %% [markdown]
# That is all of CausalVAE's causal machinery: `vaecourse.models.CausalVAE` uses the same layer on blocks of
# latent dimensions, a learned A kept acyclic by H, and a nonlinear mask layer for the prediction step.
