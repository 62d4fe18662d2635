"""Recipes: one named, frozen record per training run of the course, and the one way to build and train it.

A :class:`Recipe` says everything a run depends on: the model and its arguments, the objective and its
hyper-parameters, the data view (data set, image side, the pendulum's shadow noise), steps, batch size, learning
rate and seed. Its field names are the ``train`` verb's flags (``latent_dim`` is ``--latent-dim``), so

    python -m vaecourse train --recipe ch2-beta4 --out runs/beta4.pt            # the shipped ch2_beta4, again
    python -m vaecourse train --recipe ch2-beta4 --seed 1 --out runs/b4s1.pt    # a flag overrides one field

and a notebook's train-or-load, the shipped checkpoints' provenance (``pretrained/MANIFEST.json`` names each file's
recipe; ``tests/test_pretrained.py`` checks the stored hyper-parameters against it) and the benchmarks all read the
same record. :func:`train` is the command line's run without its checkpoints: the same seeding (``torch`` seeded,
then the model built; the batches from a generator of their own seeded alike), so on a CPU a notebook that trains
``RECIPES["ch2-beta4"]`` gets the shipped model's numbers.

Nothing here knows argparse: the command line turns its flags into ``dataclasses.replace(recipe, **flags)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from functools import partial

import torch

from vaecourse.data.catalog import DATASETS, TrainingData, make_dataset
from vaecourse.runtime import default_device

MODELS = ("vae", "lvae", "causalvae", "cvae")
CAUSAL_MODELS = ("causalvae", "cvae")  # chapter 5: label-conditioned models, trained on (images, labels) batches
OBJECTIVES = ("elbo", "beta", "beta_norm", "capacity", "constrained", "ladder", "causal", "cvae")


@dataclass(frozen=True)
class Recipe:
    """One training run. Defaults are the ``train`` verb's defaults; a named recipe sets what its run changed."""

    name: str = "custom"
    # the model
    model: str = "vae"  # vae (chapters 1-3), lvae (4), causalvae / cvae (5)
    encoder: str = "conv64"  # encoder/decoder architecture: mlp, conv64, conv32, mlp28
    latent_dim: int = 10
    logvar_bias: float | None = None  # vae: the encoder's log sigma^2 starts here (chapter 2: -4)
    latent_sizes: tuple[int, ...] = (64, 32, 16, 8, 4)  # lvae: units per stochastic layer, bottom first
    hidden_sizes: tuple[int, ...] = (512, 256, 128, 64, 32)  # lvae: MLP width per layer, bottom first
    inference: str = "ladder"  # lvae: "ladder" or "bottom_up"
    batch_norm: bool = True  # lvae
    concept_dim: int = 4  # causalvae / cvae: latent dimensions per concept
    a_init: str = "zero"  # causalvae: initial A ("zero" or "random")
    graph_from: str = "all"  # causalvae: which terms move A ("all": the paper; "labels")
    latent_scm: str = "linear"  # causalvae: "linear" (the paper's layer, then the mask layer) or "equations" (course)
    prior_std: float = 1.0  # causalvae, latent_scm "equations": p(z|u) = N(u, s^2 I) (1: the paper's)
    decoder: str = "joint"  # causalvae: one decoder for all of z~, "per_concept" (the authors' code), "shadow_rows"
    prune: float = 0.0  # causalvae: at the end, drop edges raising l_u by less than this fraction (0: keep all; course)
    # the objective and its hyper-parameters
    objective: str = "elbo"
    beta: float = 4.0  # beta / beta_norm: the KL weight; constrained: the initial multiplier
    kl_warmup: int = 0  # beta: steps over which the KL weight ramps 0 -> beta
    gamma: float = 1000.0  # capacity: weight of |KL - C|
    c_max: float = 25.0  # capacity: final capacity C (nats)
    c_steps: int = 100_000  # capacity: steps to raise C from 0
    c_start_step: int = 0  # capacity: step at which C starts rising
    epsilon: float = 25.0  # constrained: KL budget (nats)
    lr_dual: float = 0.01  # constrained: dual-ascent step size
    warmup_epochs: float = 200.0  # ladder: epochs of KL warm-up
    lu_weight: float = 1.0  # causal: weight of l_u (Eq. 38; the paper's beta in Eq. 41)
    lm_weight: float = 1.0  # causal: weight of l_m (Eq. 39; the paper's gamma in Eq. 41)
    label_fit: str = "tanh"  # causal: l_u's prediction of u from its parents ("tanh", Eq. 38, or "mask")
    independence: float = 0.0  # causal: weight of the HSIC dependence of the label residuals
    shadow_weight: float = 1.0  # causal, pendulum: weight of the shadow's rows in the fit term's log p(x|z) (course)
    # the data view
    dataset: str = "dsprites"  # dsprites, mnist, digits, pendulum
    image_size: int = 64  # side the model sees (dSprites: Pooled(DSprites(), side); the pendulum: rendered so)
    shadow_noise: float = 0.0  # pendulum: the shadow's own exogenous noise (scene units)
    # the optimisation
    steps: int = 10_000
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    clip_grad_norm: float | None = None

    def __post_init__(self):
        who = "" if self.name == "custom" else f"recipe {self.name}: "
        for name, allowed in (("model", MODELS), ("objective", OBJECTIVES), ("dataset", DATASETS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{who}unknown {name} {getattr(self, name)!r}: expected one of {allowed}")
        for name in ("steps", "batch_size", "image_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{who}{name} must be a positive int, got {value!r}")
        if self.latent_scm not in ("linear", "equations"):
            raise ValueError(f"{who}unknown latent_scm {self.latent_scm!r}: expected 'linear' or 'equations'")
        if self.shadow_weight != 1.0 and (self.model != "causalvae" or self.dataset != "pendulum"):
            raise ValueError(f"{who}shadow_weight applies to model 'causalvae' on dataset 'pendulum' only, got model "
                             f"{self.model!r} on {self.dataset!r}")
        if isinstance(self.prune, bool) or not isinstance(self.prune, (int, float)) or not 0 <= self.prune < 1:
            raise ValueError(f"{who}prune must be a fraction of l_u in [0, 1), got {self.prune!r}")
        if self.prune and self.model != "causalvae":
            raise ValueError(f"{who}prune applies to model 'causalvae' (it prunes the learned graph), got model "
                             f"{self.model!r}")
        if self.shadow_noise and self.dataset != "pendulum":
            raise ValueError(f"{who}shadow_noise applies to dataset 'pendulum' only, got dataset {self.dataset!r}")
        if self.model in CAUSAL_MODELS:
            if self.dataset != "pendulum":
                raise ValueError(f"{who}model {self.model!r} needs labelled data: use dataset 'pendulum'")
            if self.objective == "elbo":  # a label-conditioned model's ELBO is Eq. (41) (causalvae) or the CVAE's
                object.__setattr__(self, "objective", "causal" if self.model == "causalvae" else "cvae")
        for name in ("latent_sizes", "hidden_sizes"):
            object.__setattr__(self, name, tuple(int(n) for n in getattr(self, name)))

    def arguments(self) -> dict:
        """The fields as a plain dict (tuples as lists): what a checkpoint stores as its ``arguments``."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


FIELDS = tuple(f.name for f in fields(Recipe))

# ---- the course's runs -------------------------------------------------------------------------------------
_CH2 = dict(model="vae", encoder="conv32", image_size=32, logvar_bias=-4.0, objective="beta", kl_warmup=0,
            steps=4500)  # chapter 2: dSprites pooled to 32x32, the encoder's log sigma^2 started at -4, no warm-up
_CH5 = dict(dataset="pendulum", image_size=32, encoder="conv32", shadow_noise=1.0)  # chapter 5's scene


def _named(name: str, **changes) -> Recipe:
    return Recipe(name=name, **changes)


RECIPES: dict[str, Recipe] = {r.name: r for r in [
    # chapter 1: the plain ELBO (beta = 1) after a 500-step KL warm-up, on 64x64 dSprites
    # (the encoder's log sigma^2 starts at -4: with the warm-up alone the VAE sat in the collapsed state on dSprites)
    _named("ch1-vae", encoder="conv64", objective="beta", beta=1.0, kl_warmup=500, logvar_bias=-4.0, steps=15_000),
    # the same run stopped at the notebook's 3,000 steps (its first 3,000 steps exactly): what the course site loads
    _named("ch1-vae-3000", encoder="conv64", objective="beta", beta=1.0, kl_warmup=500, logvar_bias=-4.0,
           steps=3_000),
    # chapter 2: the beta sweep and the constrained problem (epsilon = 8 nats, dual ascent from beta = 1)
    *(_named(f"ch2-beta{b}", **_CH2, beta=float(b)) for b in (1, 2, 4, 8, 16)),
    _named("ch2-constrained", **_CH2 | dict(objective="constrained"), beta=1.0, epsilon=8.0, lr_dual=0.01),
    # chapter 3: chapter 2's recipe with a second seed
    *(_named(f"ch3-beta{b}-seed1", **_CH2, beta=float(b), seed=1) for b in (1, 4, 8)),
    # chapter 5: CausalVAE (the paper's loss; + the independence change), the conditional VAE and a beta-VAE
    _named("ch5-causalvae", **_CH5, model="causalvae", objective="causal", steps=6000),
    _named("ch5-causalvae-indep", **_CH5, model="causalvae", objective="causal", steps=6000, label_fit="mask",
           independence=10.0, graph_from="labels"),
    # the course's model that keeps chapter 5's promise: the label equations as the latent SCM, one latent per
    # concept, a narrow label prior, the shadow's rows weighted 10x and drawn from the shadow's own latents, and
    # the edges the label equations do not need pruned at the end (notebook 05, pretrained/README.md)
    _named("ch5-causalvae-promise", **_CH5, model="causalvae", objective="causal", steps=6000, label_fit="mask",
           independence=30.0, graph_from="labels", latent_scm="equations", lm_weight=0.0, concept_dim=1,
           prior_std=0.1, shadow_weight=10.0, decoder="shadow_rows", prune=0.01),
    _named("ch5-cvae", **_CH5, model="cvae", objective="cvae", steps=2000),
    _named("ch5-betavae", **_CH5, model="vae", objective="beta", beta=4.0, kl_warmup=0, logvar_bias=-4.0,
           latent_dim=16, steps=6000),  # (at 2,000 steps every latent was still collapsed on the faithful scene)
]}


def get(name: str) -> Recipe:
    """The recipe called ``name``, or a ValueError listing them."""
    if name not in RECIPES:
        raise ValueError(f"no recipe called {name!r}; the course's recipes are {tuple(RECIPES)}")
    return RECIPES[name]


# ---- building a run ------------------------------------------------------------------------------------------
def make_data(recipe: Recipe, device: str | torch.device = "cpu") -> TrainingData:
    """The recipe's data view on ``device`` (batches, evaluation batch, image shape, the view itself)."""
    return make_dataset(recipe.dataset, default_device(device), image_shape=(1, recipe.image_size, recipe.image_size),
                        shadow_noise=recipe.shadow_noise)


def make_model(recipe: Recipe, image_shape: tuple[int, int, int]) -> torch.nn.Module:
    """The recipe's model for images of ``image_shape`` (C, H, W) (``make_data(recipe).image_shape``)."""
    from vaecourse.models import VAE, CausalVAE, ConditionalVAE, LadderVAE
    if recipe.model == "causalvae":
        return CausalVAE(concept_dim=recipe.concept_dim, encoder=recipe.encoder, image_shape=image_shape,
                         a_init=recipe.a_init, graph_from=recipe.graph_from, latent_scm=recipe.latent_scm,
                         prior_std=recipe.prior_std, decoder=recipe.decoder)
    if recipe.model == "cvae":
        return ConditionalVAE(concept_dim=recipe.concept_dim, encoder=recipe.encoder, image_shape=image_shape)
    if recipe.model == "lvae":
        return LadderVAE(list(recipe.latent_sizes), list(recipe.hidden_sizes), inference=recipe.inference,
                         batch_norm=recipe.batch_norm, image_shape=image_shape)
    return VAE(latent_dim=recipe.latent_dim, encoder=recipe.encoder, image_shape=image_shape,
               logvar_bias=recipe.logvar_bias)


def make_objective(recipe: Recipe, model: torch.nn.Module, steps_per_epoch: int | None = None):
    """The recipe's objective for ``model``; ``steps_per_epoch`` (finite data sets) times the ladder's warm-up.

    ``beta_norm`` reads ``beta`` as Higgins et al.'s normalised beta_norm = beta M / N [higgins2017, Sec. 3] with
    M = the model's latent dimensions and N = its input size C * H * W (colour channels included).
    """
    from vaecourse import objectives as o
    name = recipe.objective
    if name == "elbo":
        return o.elbo
    if name == "beta":
        return partial(o.beta_vae, beta=recipe.beta, warmup_steps=recipe.kl_warmup)
    if name == "beta_norm":
        beta = o.unnormalised_beta(recipe.beta, model.latent_dim, math.prod(model.image_shape))
        return partial(o.beta_vae, beta=beta, warmup_steps=recipe.kl_warmup)
    if name == "capacity":
        return partial(o.capacity_vae, gamma=recipe.gamma, c_max=recipe.c_max, c_steps=recipe.c_steps,
                       c_start_step=recipe.c_start_step)
    if name == "constrained":
        return o.ConstrainedVAE(epsilon=recipe.epsilon, lr_dual=recipe.lr_dual, beta=recipe.beta)
    if name == "ladder":
        return partial(o.ladder_elbo, warmup_epochs=recipe.warmup_epochs, steps_per_epoch=steps_per_epoch)
    if name == "causal":
        return o.CausalObjective(lu_weight=recipe.lu_weight, lm_weight=recipe.lm_weight, label_fit=recipe.label_fit,
                                 independence=recipe.independence, pixel_weights=_pixel_weights(recipe))
    return o.conditional_vae_loss  # "cvae"


def _pixel_weights(recipe: Recipe) -> torch.Tensor | None:
    """The fit term's per-pixel weights (H, 1): the shadow's rows weighted ``shadow_weight``, the rest 1."""
    if recipe.shadow_weight == 1.0:
        return None
    from vaecourse.data.pendulum import Pendulum
    rows = Pendulum(size=recipe.image_size).shadow_rows()[:, None].float()  # (H, 1)
    return 1 + (recipe.shadow_weight - 1) * rows


def make_optimizer(recipe: Recipe, model: torch.nn.Module) -> torch.optim.Optimizer:
    """Adam at ``recipe.lr``; chapter 5's models through ``parameter_groups`` (A learns faster)."""
    params = model.parameter_groups(recipe.lr) if recipe.model in CAUSAL_MODELS else model.parameters()
    return torch.optim.Adam(params, lr=recipe.lr)


def make_generator(recipe: Recipe, device: torch.device) -> torch.Generator:
    """The batches' generator, seeded with the recipe's seed (on the GPU for CUDA runs, else on the CPU)."""
    return torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(recipe.seed)


def finish(recipe: Recipe, model: torch.nn.Module, dataset) -> dict | None:
    """What a run does after its last step: with ``recipe.prune``, drop the learned graph's edges that the label
    equations do not need (``CausalVAE.prune_graph`` on the labels of ``dataset``'s training split, the pendulum
    the run trained on, their shadow noise drawn with the recipe's seed). Returns the tested edges' rises in l_u,
    or None."""
    from vaecourse.metrics.mic import split_concepts
    if not recipe.prune:
        return None
    generator = torch.Generator(device=dataset.device).manual_seed(recipe.seed)
    labels = dataset.labels(split_concepts(dataset, "train", generator=generator)).float()
    return model.prune_graph(labels, tolerance=recipe.prune)


def train(recipe: Recipe, *, device: str | torch.device = "auto", steps: int | None = None, progress: bool = True,
          desc: str | None = None):
    """Train ``recipe`` from scratch (``steps`` overrides its steps) -> ``(model in eval mode, History)``.

    The command line's seeding, step for step: the data's generator seeded, ``torch`` seeded, the model built.
    """
    from vaecourse.train import fit

    recipe = replace(recipe, steps=steps) if steps is not None else recipe
    device = default_device(device)
    data = make_data(recipe, device)
    generator = make_generator(recipe, device)
    torch.manual_seed(recipe.seed)
    model = make_model(recipe, data.image_shape).to(device)
    per_epoch = max(1, data.examples // recipe.batch_size) if data.examples else None
    objective = make_objective(recipe, model, per_epoch)
    history = fit(model, objective, data.batches(recipe.batch_size, recipe.steps, generator), steps=recipe.steps,
                  optimizer=make_optimizer(recipe, model), device=device, seed=None,
                  clip_grad_norm=recipe.clip_grad_norm, progress=progress, desc=desc or recipe.name)
    finish(recipe, model, data.dataset)
    return model.eval(), history


__all__ = ["CAUSAL_MODELS", "FIELDS", "MODELS", "OBJECTIVES", "RECIPES", "Recipe", "finish", "get", "make_data",
           "make_generator", "make_model", "make_objective", "make_optimizer", "train"]
