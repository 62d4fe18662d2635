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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vaecourse/vaecourse/blob/main/exercises/05_causalvae.ipynb)
#
# Four functions, each the code form of one line of the lecture (`notebooks/05_causalvae.ipynb`). Fill in the body
# where it says `raise NotImplementedError`, run the cell, then run the **check** cell below it: it compares
# your function with the library's on fixed inputs and tells you what is off. If an exercise is not done yet,
# the check says so and the rest of the notebook uses the library's version, so *Run All* always reaches the end.
#
# Then three exercises to think through: **5.5** (*predict, then run*): conditioning on a collider against
# intervening on it; **5.6** (*predict, then run*): what an intervention on an effect moves in a learned model's
# images; **5.7** (*vary and measure*): the weight of the independence term, and the graph it lets the labels give.
# You answer in a small function; the check reads the run, tells you whether you were right, and explains the outcome
# either way.
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
from vaecourse import check, pretrained, scm
from vaecourse.data import Pendulum
from vaecourse.data.pendulum import CONCEPTS, TRUE_GRAPH, split_concepts
from vaecourse.graph_fit import learn_graph_from_labels
from vaecourse.metrics.causal import label_values
from vaecourse.models.causal import MaskLayer
from vaecourse.objectives import dag_constraint
from vaecourse.viz import adjacency_figure, intervention_grid_figure, scm_scatter_figure

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
    # Exercise 5.1: sampling an SCM and do() — compute the samples x (n, K) of the linear SCM from A, eps and the interventions dict (lecture section 1); the check tries other DAGs, do(x = 0) and several interventions at once
    raise NotImplementedError("Exercise 5.1: sampling an SCM and do() — compute the samples x (n, K) of the linear SCM from A, eps and the interventions dict (lecture section 1); the check tries other DAGs, do(x = 0) and several interventions at once")


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
    # Exercise 5.2: the causal layer — compute z of Eq. (27) for every row of eps, differentiably in A and eps; the check tries other DAG sizes and compares the gradients
    raise NotImplementedError("Exercise 5.2: the causal layer — compute z of Eq. (27) for every row of eps, differentiably in A and eps; the check tries other DAG sizes and compares the gradients")


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
    # Exercise 5.3: the acyclicity constraint — compute H(A) of Eq. (40) as a 0-d tensor, differentiable in A; the check tries graphs of several sizes, a DAG (H = 0) and the gradient
    raise NotImplementedError("Exercise 5.3: the acyclicity constraint — compute H(A) of Eq. (40) as a 0-d tensor, differentiable in A; the check tries graphs of several sizes, a DAG (H = 0) and the gradient")


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
# encoder's mean). Return `z` (B, n) under do(z_i = value): **cut** the edges into z_i, fix z_i to
# the value, keep every other ε, and solve $z = A^\top z + \varepsilon$ — so that the descendants of z_i follow
# and its ancestors do not move. The value can be anything, not only 0.

# %%
def intervene_latent(A, eps, i, value):
    # Exercise 5.4: an intervention on the latent — compute z under do(z_i = value) from A and the abducted eps, leaving A and eps unchanged; the check tries other DAGs, the value 0 and roots
    raise NotImplementedError("Exercise 5.4: an intervention on the latent — compute z under do(z_i = value) from A and the abducted eps, leaving A and eps unchanged; the check tries other DAGs, the value 0 and roots")


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


# %% [markdown]
# ## Exercise 5.5 — predict, then run: conditioning or intervening on a collider
#
# In the collider $x_1 \to x_2 \leftarrow x_3$ ($x_2 = x_1 + x_3 + \varepsilon_2$), the cell after next draws samples
# with your sampler of 5.1 and shows $(x_1, x_3)$ three ways: observed; observed but kept only where $x_2 \approx 1$
# (conditioned); and under do($x_2 = 1$) (intervened). **Before you run it**, predict in which panel $x_1$ and $x_3$
# will be dependent: `"observational"`, `"conditioned"` or `"intervened"`.

# %%
def predict_collider():
    # Exercise 5.5: [predict] in the collider x1 -> x2 <- x3, where will x1 and x3 be dependent? Return "observational", "conditioned" (on x2 near 1) or "intervened" (under do(x2 = 1))
    raise NotImplementedError("Exercise 5.5: [predict] in the collider x1 -> x2 <- x3, where will x1 and x3 be dependent? Return \"observational\", \"conditioned\" (on x2 near 1) or \"intervened\" (under do(x2 = 1))")


# %%
A_collider = scm.collider().graph()
eps_collider = torch.randn(3000, 3, generator=torch.Generator().manual_seed(5))
observed = sample_linear_scm(A_collider, eps_collider, {})
near_one = (observed[:, 1] - 1).abs() < 0.3
collider_panels = {name: dict(zip(("x1", "x2", "x3"), x.T)) for name, x in (
    ("observational", observed), ("conditioned", observed[near_one]),
    ("intervened", sample_linear_scm(A_collider, eps_collider, {1: 1.0})))}
display(scm_scatter_figure(collider_panels, "x1", "x3", title="collider x1 → x2 ← x3"))

# %%
answered = check.predict_collider(predict_collider, collider_panels)

# %% [markdown]
# ## Exercise 5.6 — predict, then run: intervening on an effect
#
# The course ships the chapter's "promise" CausalVAE (`ch5_causalvae_promise_pendulum32`; lecture §5), which learned
# the pendulum's true graph from A = 0: θ and φ (the light) cause the shadow's length and position. The cell after
# next asks it for do(θ = c) and do(shadow position = c) on one test scene, five values each, beside the simulator's
# true counterfactuals. **Before you run it**, predict what moves in the model's images under do(shadow position = c):
# `"shadow only"`, `"shadow and pendulum"`, `"pendulum only"` or `"nothing"`.

# %%
def predict_effect_intervention():
    # Exercise 5.6: [predict] under do(shadow position = c) in the promise model, what moves? Return "shadow only", "shadow and pendulum", "pendulum only" or "nothing"
    raise NotImplementedError("Exercise 5.6: [predict] under do(shadow position = c) in the promise model, what moves? Return \"shadow only\", \"shadow and pendulum\", \"pendulum only\" or \"nothing\"")


# %%
pendulum = Pendulum(size=32, shadow_noise=1.0)  # the chapter's scene (recipe ch5-causalvae-promise)
promise = pretrained.load("ch5_causalvae_promise_pendulum32").eval()
scene = pendulum.concepts(pendulum.factors_at(pendulum.split_indices("test")[7:8]), torch.Generator().manual_seed(7))
x_scene, u_scene = pendulum.render_concepts(scene), pendulum.labels(scene)
model_rows, true_rows = {}, {}
for i, name in enumerate(CONCEPTS):
    if name not in ("theta", "shadow_position"):
        continue
    values = label_values(pendulum, i, 5).tolist()  # label units, 5th to 95th percentile of the training labels
    with torch.no_grad():
        model_rows[name] = torch.cat([promise.intervene(x_scene, u_scene, {i: v}) for v in values])  # (5, C, H, W)
    true_rows[name] = torch.cat([pendulum.counterfactual(scene, **{name: float(pendulum.from_labels(
        torch.full((1, 4), v))[0, i])})[0] for v in values])
display(intervention_grid_figure(torch.stack([model_rows[n] for n in model_rows]),
                                 torch.stack([true_rows[n] for n in model_rows]), list(model_rows),
                                 title="do(concept = value): the promise model (left) and the simulator (right)"))

# %%
answered = check.predict_effect_intervention(predict_effect_intervention, model_rows, true_rows,
                                             pendulum.shadow_rows())

# %% [markdown]
# ## Exercise 5.7 — vary and measure: the independence term orients the edges
#
# The lecture learns the pendulum's graph from its labels alone, from A = 0: label equations fitted by squared error
# ($l_u$, Eq. 38) under H(A) = 0, plus λ times the HSIC dependence of their residuals. Choose your own λ ≥ 0 (up to
# 100) in `my_independence` (try 0, and something like 10 or 30), run the next cell, and write `graph_distance(A)`:
# return the structural Hamming distance of the learned A to the true graph, the number of node pairs (of 6) whose
# edge is missing, extra or reversed, an edge being $|A_{ij}| > 0.3$. Read it off the figure or compute it; the
# check recomputes it and names each wrong edge.

# %%
def my_independence():
    # Exercise 5.7: [vary and measure] choose the weight of the independence term: return a number lambda from 0 to 100
    raise NotImplementedError("Exercise 5.7: [vary and measure] choose the weight of the independence term: return a number lambda from 0 to 100")


# %%
independence_mine = check.choose(my_independence, "5.7", "λ", low=0.0, high=100.0, default=10.0)
u_labels = pendulum.labels(split_concepts(pendulum, "train", generator=torch.Generator().manual_seed(0))).float()
torch.manual_seed(0)
label_equations = MaskLayer(4, 1)  # one small network per concept, fitted alongside A
A_mine, _ = learn_graph_from_labels(u_labels, steps=150 if FAST else 4000, batch_size=128, predictor=label_equations,
                                    independence=independence_mine)  # 7-20 s on a 2-core laptop CPU
display(adjacency_figure(A_mine, TRUE_GRAPH, CONCEPTS, title=f"labels only, λ = {independence_mine:g}, from A = 0"))


# %%
def graph_distance(A):
    # Exercise 5.7: [vary and measure] return the structural Hamming distance of A (rows cause columns, edge where |A| > 0.3) to the true graph, a whole number from 0 to 6
    raise NotImplementedError("Exercise 5.7: [vary and measure] return the structural Hamming distance of A (rows cause columns, edge where |A| > 0.3) to the true graph, a whole number from 0 to 6")


# %%
answered = check.vary_independence(graph_distance, A_mine, TRUE_GRAPH, independence_mine, names=CONCEPTS)
