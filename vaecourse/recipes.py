"""Recipes: one named, frozen record per training run of the course, and the one way to build and train it.

A :class:`Recipe` says everything a run depends on: the model and its arguments, the objective and its
hyper-parameters, the data view (data set, image side, the pendulum's shadow noise), steps, batch size, learning
rate and seed. Its field names are the ``train`` verb's flags (``latent_dim`` is ``--latent-dim``), so

    python -m vaecourse train --recipe ch2-beta4 --out runs/beta4.pt            # the shipped ch2_beta4, again
    python -m vaecourse train --recipe ch2-beta4 --seed 1 --out runs/b4s1.pt    # a flag overrides one field

and a notebook's train-or-load, the shipped checkpoints' provenance (``pretrained/MANIFEST.json`` names each file's
recipe; ``tests/test_pretrained.py`` checks the stored hyper-parameters against it) and the benchmarks all read the
same record. A run is built from its recipe once and trained by one loop, whoever asks:

    run = recipes.build(recipes.get("ch2-beta4"), device="auto")   # data, generator, model, objective, optimiser
    history = recipes.train(run)                                    # fit to the last step, then the recipe's end

The command line adds only its flags, checkpoints and resumption around the same two calls; the notebooks and the
benchmarks call them as they are, so on a CPU a notebook that trains ``RECIPES["ch2-beta4"]`` gets the shipped
model's numbers.

Nothing here knows argparse: the command line's flags are a loop over the fields (:func:`option` declares each
field once: default, kind, help, what it applies to), turned into ``dataclasses.replace(recipe, **flags)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import Field, asdict, dataclass, field, fields, replace
from functools import partial

import torch

from vaecourse import values as v
from vaecourse.data.catalog import DATASETS, TrainingData, make_dataset
from vaecourse.models import VAE, CausalVAE, ConditionalVAE, LadderVAE
from vaecourse.models.causal import PRIOR_STD
from vaecourse.nn import CONV_SIDES
from vaecourse.runtime import default_device

FINITE = ("mnist", "digits")  # the data sets of a fixed size (epochs); dsprites and the pendulum are rendered
MODELS = {"vae": VAE, "lvae": LadderVAE, "causalvae": CausalVAE, "cvae": ConditionalVAE}
OBJECTIVES = ("elbo", "beta", "beta_norm", "capacity", "constrained", "ladder", "causal", "cvae")
# which objectives each model can be trained with (the objective reads the fields of that model's output)
COMBINATIONS = {
    "vae": ("elbo", "beta", "beta_norm", "capacity", "constrained"),
    "lvae": ("elbo", "beta", "capacity", "constrained", "ladder"),  # beta_norm counts M for one latent layer
    "causalvae": ("elbo", "causal", "cvae"),
    "cvae": ("elbo", "cvae"),  # no graph: the causal objective's l_u, l_m and H(A) would have nothing to act on
}


def option(default, kind: v.Kind, help: str, *, applies: dict[str, tuple[str, ...]] | None = None,
           choices: tuple[str, ...] | None = None, flag: str | None = None):
    """One Recipe field, declared once: its default, the kind of value it takes (:mod:`vaecourse.values`), the
    help the ``train`` verb prints, and what it applies to (``applies=dict(model=("vae",))``: a value other than
    the default, or the flag given, with another model is refused). The command line's flags are these fields."""
    kind = v.one_of(*choices) if choices else kind
    return field(default=default, metadata=dict(kind=kind, help=help, applies=applies or {}, choices=choices,
                                                flag=flag))


_VAE, _LVAE, _CAUSAL, _LABELLED = dict(model=("vae",)), dict(model=("lvae",)), dict(model=("causalvae",)), \
    dict(model=("causalvae", "cvae"))


@dataclass(frozen=True)
class Recipe:
    """One training run. Defaults are the ``train`` verb's defaults; a named recipe sets what its run changed.

    Each field is declared once, with :func:`option`: the flag ``--latent-dim``, its help and its check all come
    from the declaration of ``latent_dim``. A recipe checks itself when it is made (``Recipe(...)``,
    ``dataclasses.replace``, the command line alike): each value against its kind, the model against the data
    and the objective, and each field against what it applies to.
    """

    name: str = "custom"
    # the model
    model: str = option("vae", None, "model family (lvae: chapter 4; causalvae, cvae: chapter 5, with --dataset "
                        "pendulum)", choices=tuple(MODELS))
    encoder: str = option("conv64", None, "encoder/decoder architecture", choices=("mlp", "conv64", "conv32", "mlp28"),
                          applies=dict(model=("vae", "causalvae", "cvae")))
    latent_dim: int = option(10, v.units, "latent dimensions (vae)", applies=_VAE)
    logvar_bias: float | None = option(None, v.log_variance.or_none(), "vae: start the encoder's log sigma^2 output at "
                                       "this bias (chapter 2 uses -4)", applies=_VAE)
    latent_sizes: tuple[int, ...] = option((64, 32, 16, 8, 4), v.layer_sizes, "lvae: units per stochastic layer, "
                                           "bottom first", applies=_LVAE)
    hidden_sizes: tuple[int, ...] = option((512, 256, 128, 64, 32), v.layer_sizes, "lvae: MLP width per layer, "
                                           "bottom first", applies=_LVAE)
    inference: str = option("ladder", None, "lvae: inference model", choices=("ladder", "bottom_up"), applies=_LVAE)
    batch_norm: bool = option(True, v.Kind("True or False", lambda b: isinstance(b, bool)), "lvae: no batch "
                              "normalisation", applies=_LVAE, flag="--no-batch-norm")
    concept_dim: int = option(4, v.units, "causalvae/cvae: latent dimensions per concept", applies=_LABELLED)
    a_init: str = option("zero", None, "causalvae: initial A", choices=("zero", "random"), applies=_CAUSAL)
    graph_from: str = option("all", None, "causalvae: which terms move A: the whole loss (the paper) or only the "
                             "label terms and H(A)", choices=("all", "labels"), applies=_CAUSAL)
    latent_scm: str = option("linear", None, "causalvae: the latent SCM: the paper's linear layer then the mask "
                             "layer, or (with --graph-from labels) z = g(A o z) + eps through the label equations "
                             "(l_m is then ||eps||^2: use --lm-weight 0)", choices=("linear", "equations"),
                             applies=_CAUSAL)
    prior_std: float = option(1.0, PRIOR_STD, "causalvae with --latent-scm equations: p(z|u) = N(u, s^2 I) (1: the "
                              "paper's)",
                              applies=dict(model=("causalvae",), latent_scm=("equations",)))
    decoder: str = option("joint", None, "causalvae: one decoder reads all latents (joint), or one per concept block "
                          "with their logits averaged (per_concept, as the authors' code), the shadow's rows from "
                          "its own blocks (shadow_rows), or layers that learn which pixels each concept owns "
                          "(layered)", choices=("joint", "per_concept", "shadow_rows", "layered"), applies=_CAUSAL)
    label_dropout: float = option(0.0, v.fraction, "causalvae: probability that an example's labels are withheld from "
                                  "the encoder in training, so that it learns to read the concepts from the image "
                                  "alone (0: always given, the paper)", applies=_CAUSAL)
    prune: float = option(0.0, v.fraction, "causalvae: after the last step, drop each edge whose removal raises the "
                          "label loss l_u by less than this fraction of it (0: keep every edge; the course's, not the "
                          "paper's)", applies=_CAUSAL)
    # the objective and its hyper-parameters
    objective: str = option("elbo", None, "training objective", choices=OBJECTIVES)
    beta: float = option(4.0, v.non_negative, "KL weight (beta); the initial multiplier for constrained",
                         applies=dict(objective=("beta", "beta_norm", "constrained")))
    kl_warmup: int = option(0, v.non_negative_int, "beta objective: steps over which the KL weight ramps 0 -> beta",
                            applies=dict(objective=("beta", "beta_norm")))
    gamma: float = option(1000.0, v.non_negative, "capacity objective: weight of |KL - C|",
                          applies=dict(objective=("capacity",)))
    c_max: float = option(25.0, v.non_negative, "capacity objective: final capacity C in nats",
                          applies=dict(objective=("capacity",)))
    c_steps: int = option(100_000, v.positive_int, "capacity objective: steps to raise C from 0",
                          applies=dict(objective=("capacity",)))
    c_start_step: int = option(0, v.non_negative_int, "capacity objective: step at which C starts rising",
                               applies=dict(objective=("capacity",)))
    epsilon: float = option(25.0, v.non_negative, "constrained objective: KL bound in nats",
                            applies=dict(objective=("constrained",)))
    lr_dual: float = option(0.01, v.non_negative, "constrained objective: dual-ascent step size",
                            applies=dict(objective=("constrained",)))
    warmup_epochs: float = option(200.0, v.non_negative, "ladder objective: epochs of KL warm-up (N_t)",
                                  applies=dict(objective=("ladder",)))
    lu_weight: float = option(1.0, v.non_negative, "causalvae: weight of l_u (Eq. 38; the paper's beta in Eq. 41)",
                              applies=dict(objective=("causal",)))
    lm_weight: float = option(1.0, v.non_negative, "causalvae: weight of l_m (Eq. 39; the paper's gamma in Eq. 41)",
                              applies=dict(objective=("causal",)))
    label_fit: str = option("tanh", None, "causalvae: l_u's prediction of u from its parents: sigma(A^T u) (Eq. 38, "
                            "the paper) or the mask layer's equations on the labels", choices=("tanh", "mask"),
                            applies=dict(objective=("causal",)))
    independence: float = option(0.0, v.non_negative, "causalvae: weight of the HSIC dependence of the label "
                                 "residuals (0: the paper's loss)", applies=dict(objective=("causal",)))
    cycle: float = option(0.0, v.non_negative, "causalvae, labels withheld: weight of a counterfactual drawn and read "
                          "back through the encoder (CausalVAE.read_back; 0: none)", applies=dict(objective=("causal",)))
    ownership: float = option(0.0, v.non_negative, "causalvae, layered decoder: nats each pixel pays for every "
                              "concept it reads", applies=dict(objective=("causal",), decoder=("layered",)))
    exclusive: float = option(0.0, v.non_negative, "causalvae, layered decoder: nats paid for each pair of layers "
                              "that read one concept (0: none)", applies=dict(objective=("causal",),
                                                                               decoder=("layered",)))
    overlap: float = option(0.0, v.non_negative, "causalvae, layered decoder: nats each pixel pays for being blended "
                            "from several layers (sum over pairs of pi_a pi_b; 0: none)",
                            applies=dict(objective=("causal",), decoder=("layered",)))
    shadow_weight: float = option(1.0, v.non_negative, "causalvae, pendulum: weight of the shadow's rows in the "
                                  "loss's log p(x|z) (1: none)",
                                  applies=dict(model=("causalvae",), objective=("causal",), dataset=("pendulum",)))
    # the data view
    dataset: str = option("dsprites", None, "data set", choices=DATASETS)
    image_size: int = option(64, v.image_side, "side of the images the model sees (dSprites 32: "
                             "Pooled(DSprites(), side=32); the pendulum: rendered so)",
                             applies=dict(dataset=("dsprites", "pendulum")))
    shadow_noise: float = option(0.0, v.non_negative, "pendulum: standard deviation of the shadow's own noise, in "
                                 "scene units (0: the paper's scene, where the shadow is a function of the angles)",
                                 applies=dict(dataset=("pendulum",)))
    # the optimisation
    steps: int = option(10_000, v.steps, "total optimiser steps")
    batch_size: int = option(64, v.batch_size, "examples per step")
    lr: float = option(1e-3, v.learning_rate, "Adam's learning rate")
    seed: int = option(0, v.seed, "seeds torch and the batches")
    clip_grad_norm: float | None = option(None, v.positive.or_none(), "clip the gradient norm")

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a recipe's name must be a non-empty string (e.g. 'custom'), got {self.name!r}")
        who = "" if self.name == "custom" else f"recipe {self.name}: "
        for f in fields(self):
            if f.metadata.get("kind") is not None:
                object.__setattr__(self, f.name, f.metadata["kind"].check(who + f.name, getattr(self, f.name)))
        if MODELS[self.model].takes_labels:
            if self.dataset != "pendulum":
                raise ValueError(f"{who}model {self.model!r} needs labelled data: use dataset 'pendulum'")
            if self.objective == "elbo":  # a label-conditioned model's ELBO is Eq. (41) (causalvae) or the CVAE's
                object.__setattr__(self, "objective", "causal" if self.model == "causalvae" else "cvae")
        allowed = COMBINATIONS[self.model]
        if self.objective not in allowed:
            users = [m for m, names in COMBINATIONS.items() if self.objective in names]
            raise ValueError(f"{who}model {self.model} cannot be trained with objective {self.objective}: model "
                             f"{self.model} takes objective {' | '.join(allowed)}"
                             + (f"; objective {self.objective} goes with model {' | '.join(users)}" if users else ""))
        self.check_applies([f.name for f in fields(self) if getattr(self, f.name) != f.default])
        if MODELS[self.model].takes_labels:  # a block of concept_dim latents per concept of the pendulum
            from vaecourse.data.pendulum import RANGES
            v.units.check(f"{who}concept_dim (--concept-dim) x the pendulum's {len(RANGES)} concepts (the latent size)",
                          len(RANGES) * self.concept_dim)
        if self.model == "causalvae":  # the latent SCM's own rules, in the flags' words (CausalVAE checks them too)
            if self.latent_scm == "equations" and self.graph_from != "labels":
                raise ValueError(f"{who}latent_scm (--latent-scm) 'equations' reads the label equations, which only "
                                 f"--graph-from labels learns: got graph_from {self.graph_from!r}")
            if self.cycle and (self.label_dropout == 0 or self.latent_scm != "equations"):
                raise ValueError(f"{who}cycle (--cycle) reads each counterfactual back with the labels withheld: it "
                                 "needs --label-dropout > 0 and --latent-scm equations, got label_dropout "
                                 f"{self.label_dropout:g} and latent_scm {self.latent_scm!r}")
        if self.objective == "ladder" and self.dataset not in FINITE:  # N_t counts epochs of a finite set
            raise ValueError(f"{who}objective ladder warms its KL up over epochs (--warmup-epochs): it needs a data "
                             f"set of a fixed size, --dataset {' | '.join(FINITE)}, got {self.dataset} (rendered "
                             "afresh at every step: it has no epochs)")
        if self.dataset == "dsprites" and 64 % self.image_size:  # Pooled(DSprites(), side): blocks of 64 / side
            raise ValueError(f"{who}image_size (--image-size) of dsprites must divide 64 (its 64x64 images are "
                             f"average-pooled: 1, 2, 4, 8, 16, 32 or 64), got {self.image_size}")
        if self.dataset == "pendulum":
            from vaecourse.data.pendulum_scene import SIDE
            SIDE.check(f"{who}image_size (--image-size) of the pendulum", self.image_size)
        side = CONV_SIDES.get(self.encoder)  # the convolutional bodies' one image side
        image = 28 if self.dataset in ("mnist", "digits") else self.image_size
        if self.model != "lvae" and side is not None and image != side:
            raise ValueError(f"{who}encoder (--encoder) {self.encoder} is built for {side}x{side} images, and the "
                             f"{self.dataset} images are {image}x{image}"
                             + (f": use --image-size {side}, or --encoder mlp" if image != 28 else
                                ": use --encoder mlp28 or mlp"))
        if self.model == "lvae" and len(self.latent_sizes) != len(self.hidden_sizes):
            raise ValueError(f"{who}latent_sizes (--latent-sizes) and hidden_sizes (--hidden-sizes) take one entry per "
                             f"stochastic layer each, got {len(self.latent_sizes)} latent sizes "
                             f"{','.join(map(str, self.latent_sizes))} and {len(self.hidden_sizes)} hidden sizes "
                             f"{','.join(map(str, self.hidden_sizes))}")
        if self.model == "lvae" and self.batch_norm and self.batch_size < 2:
            raise ValueError(f"{who}model lvae normalises each batch (batch norm): it needs batch_size >= 2, got "
                             f"{self.batch_size} (or batch_norm=False, --no-batch-norm)")

    def check_applies(self, names: Sequence[str]) -> None:
        """Refuse the fields ``names`` that do not apply to this recipe's model, objective or data set: the rule of
        :func:`option`'s ``applies``, for changed values (here) and for every flag given (the command line)."""
        who = "" if self.name == "custom" else f"recipe {self.name}: "
        names = v.sequence("a list of Recipe field names (recipes.FIELDS, e.g. ['beta', 'lr'])",
                           lambda got: all(n in FIELDS for n in got)).check("check_applies' names", names)
        for f in fields(self):
            for on, allowed in f.metadata.get("applies", {}).items() if f.name in names else ():
                if getattr(self, on) not in allowed:
                    tail = "leave it out (it would change nothing)" if not who else \
                        "the recipe sets it or you gave it: it would change nothing, so leave out the flag, or " \
                        "start from a recipe that trains what you asked for"
                    raise ValueError(f"{who}{f.name} ({flag_of(f)}) applies to {on} {' | '.join(allowed)} only, "
                                     f"not to {on} {getattr(self, on)}: {tail}")

    def arguments(self) -> dict:
        """The fields as a plain dict (tuples as lists): what a checkpoint stores as its ``arguments``."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def flag_of(f) -> str:
    """The command-line flag of the Recipe field ``f`` (``latent_dim``: ``--latent-dim``)."""
    if not isinstance(f, Field) or f.name not in FIELDS:
        raise TypeError(f"flag_of expected a field of Recipe (dataclasses.fields(Recipe)), got {v.shown(f)}")
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


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
    # chapter 3: chapter 2's recipe with a second seed; a third for β = 1 and 4 (chapter 2's transfer test: 3 seeds)
    *(_named(f"ch3-beta{b}-seed1", **_CH2, beta=float(b), seed=1) for b in (1, 4, 8)),
    *(_named(f"ch3-beta{b}-seed2", **_CH2, beta=float(b), seed=2) for b in (1, 4)),
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
    # the same promise without the scene's layout (issue 26): layers that learn which pixels each concept owns, an
    # encoder that also reads the concepts with the labels withheld, and counterfactuals read back through it (no
    # shadow weight, no rows given; notebook 05, pretrained/README.md)
    _named("ch5-causalvae-layered", **_CH5, model="causalvae", objective="causal", steps=3000, label_fit="mask",
           independence=30.0, graph_from="labels", latent_scm="equations", lm_weight=0.0, concept_dim=1,
           prior_std=0.1, decoder="layered", ownership=0.02, label_dropout=0.5, cycle=1.0, prune=0.01),
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
_UNSET = object()  # an argument a step does not take


def _step(who: str, recipe, model=_UNSET, data=_UNSET) -> None:
    """The arguments of one of build's steps (each public, for a notebook or a benchmark that takes a run apart),
    refused in one line naming them: a device string, None or a class had reached AttributeError."""
    from vaecourse.models.base import CourseModel
    v.instance("a Recipe (recipes.get(name) gives a named one)", Recipe).check(f"{who}'s recipe", recipe)
    if model is not _UNSET:
        v.instance("a course model (make_model(recipe, data))", CourseModel).check(f"{who}'s model", model)
    if data is not _UNSET:
        v.instance("the recipe's data (make_data(recipe, device))", TrainingData).check(f"{who}'s data", data)


def make_data(recipe: Recipe, device: torch.device) -> TrainingData:
    """The recipe's data view on ``device`` (batches, evaluation batch, image shape, the view itself)."""
    _step("make_data", recipe)
    device = default_device(device)
    shape = None if recipe.dataset in FINITE else (1, recipe.image_size, recipe.image_size)  # the digits are 28x28
    return make_dataset(recipe.dataset, device, image_shape=shape, shadow_noise=recipe.shadow_noise)


def make_model(recipe: Recipe, data: TrainingData) -> torch.nn.Module:
    """The recipe's model for the images of ``data`` (``make_data(recipe, device)``); the scene's layout, where
    the model needs it (``decoder="shadow_rows"``), comes from the data set (``Pendulum.shadow_band``)."""
    _step("make_model", recipe, data=data)
    image_shape = tuple(data.image_shape)
    if recipe.model == "causalvae":
        band = dict(zip(("band_rows", "band_owners"), data.dataset.shadow_band())) \
            if recipe.decoder == "shadow_rows" else {}
        return CausalVAE(concept_dim=recipe.concept_dim, encoder=recipe.encoder, image_shape=image_shape,
                         a_init=recipe.a_init, graph_from=recipe.graph_from, latent_scm=recipe.latent_scm,
                         prior_std=recipe.prior_std, decoder=recipe.decoder, label_dropout=recipe.label_dropout,
                         cycle=recipe.cycle > 0, **band)
    if recipe.model == "cvae":
        return ConditionalVAE(concept_dim=recipe.concept_dim, encoder=recipe.encoder, image_shape=image_shape)
    if recipe.model == "lvae":
        return LadderVAE(list(recipe.latent_sizes), list(recipe.hidden_sizes), inference=recipe.inference,
                         batch_norm=recipe.batch_norm, image_shape=image_shape)
    return VAE(latent_dim=recipe.latent_dim, encoder=recipe.encoder, image_shape=image_shape,
               logvar_bias=recipe.logvar_bias)


def make_objective(recipe: Recipe, model: torch.nn.Module, data: TrainingData, steps_per_epoch: int | None = None):
    """The recipe's objective for ``model`` trained on ``data``; ``steps_per_epoch`` (finite data sets) times the
    ladder's warm-up.

    ``beta_norm`` reads ``beta`` as Higgins et al.'s normalised beta_norm = beta M / N [higgins2017, Sec. 3] with
    M = the model's latent dimensions and N = its input size C * H * W (colour channels included).
    """
    from vaecourse import objectives as o
    _step("make_objective", recipe, model=model, data=data)
    if steps_per_epoch is not None:
        steps_per_epoch = v.positive_int.check("make_objective's steps_per_epoch", steps_per_epoch)
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
                                 independence=recipe.independence, pixel_weights=_pixel_weights(recipe, data),
                                 ownership=recipe.ownership, cycle=recipe.cycle, exclusive=recipe.exclusive,
                                 overlap=recipe.overlap)
    return o.conditional_vae_loss  # "cvae"


def _pixel_weights(recipe: Recipe, data: TrainingData) -> torch.Tensor | None:
    """The fit term's per-pixel weights (H, 1): the shadow's rows (the data set's) weighted ``shadow_weight``."""
    if recipe.shadow_weight == 1.0:
        return None
    rows = torch.zeros(recipe.image_size, 1)
    rows[data.dataset.shadow_band()[0]] = 1.0
    return 1 + (recipe.shadow_weight - 1) * rows


def make_optimizer(recipe: Recipe, model: torch.nn.Module) -> torch.optim.Optimizer:
    """Adam at ``recipe.lr`` over the model's parameter groups (CausalVAE's A learns faster)."""
    _step("make_optimizer", recipe, model=model)
    return torch.optim.Adam(model.parameter_groups(recipe.lr), lr=recipe.lr)


def make_generator(recipe: Recipe, device: torch.device) -> torch.Generator:
    """The batches' generator, seeded with the recipe's seed (on the GPU for CUDA runs, else on the CPU)."""
    _step("make_generator", recipe)
    device = default_device(device)
    return torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(recipe.seed)


class EpochStart:
    """A ``fit`` callback that remembers the generator's state at the start of the current epoch.

    Epoch-shuffled data (MNIST, digits) draws an epoch's order once, at the epoch's first batch: restoring the
    generator mid-epoch would draw a new order. A checkpoint keeps this state, so a resumed run starts the epoch
    again from it and skips the batches already trained on (:meth:`Run.batches`).
    """

    def __init__(self, generator: torch.Generator, steps_per_epoch: int | None):
        self.generator, self.per_epoch = generator, steps_per_epoch
        self.state = generator.get_state()

    def __call__(self, step: int, *_) -> None:
        if self.per_epoch and (step + 1) % self.per_epoch == 0:  # the next batch starts an epoch: its order is drawn then
            self.state = self.generator.get_state()


@dataclass
class Run:
    """One training run, built from its recipe once (:func:`build`): the data view, the batches' generator, the
    model, objective and optimiser, on one device. :func:`train` trains it; :meth:`state` is what a checkpoint
    keeps to continue it exactly, :meth:`load_state` puts that back."""

    recipe: Recipe
    device: torch.device
    data: TrainingData
    generator: torch.Generator
    model: torch.nn.Module
    objective: Callable
    optimizer: torch.optim.Optimizer
    steps_per_epoch: int | None  # finite data sets (epoch-shuffled): batches per epoch
    epoch_start: EpochStart
    pruned: dict | None = None  # after the last step with ``recipe.prune``: the rise in l_u without each edge

    def batches(self, start: int = 0) -> Iterator:
        """Batches for steps ``start .. recipe.steps - 1``, identical to those of an uninterrupted run (rendered
        data draws each batch from the generator alone; epoch-shuffled data restarts the epoch and skips)."""
        recipe, per_epoch = self.recipe, self.steps_per_epoch
        if not per_epoch or start == 0 or self.epoch_start.state is None:  # (None: a checkpoint from before epochs
            self.epoch_start.state = self.generator.get_state()            # were kept: the generator's state is all)
            return self.data.batches(recipe.batch_size, recipe.steps - start, self.generator)
        epoch_begin = start // per_epoch * per_epoch
        self.generator.set_state(self.epoch_start.state)
        stream = self.data.batches(recipe.batch_size, recipe.steps - epoch_begin, self.generator)
        for _ in range(start - epoch_begin):  # the epoch's batches already trained on: drawn again, not used
            next(stream)
        return stream

    def state(self) -> dict:
        """The training state a checkpoint keeps beside the model to continue this run exactly."""
        objective_state = self.objective.state_dict() if hasattr(self.objective, "state_dict") else {}
        return dict(optimizer=self.optimizer.state_dict(), generator_state=self.generator.get_state(),
                    epoch_generator_state=self.epoch_start.state, torch_rng_state=torch.get_rng_state(),
                    objective_state=objective_state)

    def load_state(self, model_state: dict, state: dict) -> None:
        """Put back the weights and the training state of :meth:`state` (a checkpoint's ``extra``)."""
        self.model.load_state_dict(model_state)
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator_state"])
        self.epoch_start.state = state.get("epoch_generator_state")
        torch.set_rng_state(state["torch_rng_state"])
        if hasattr(self.objective, "load_state_dict"):
            self.objective.load_state_dict(state["objective_state"])


_SIZES = "--latent-dim, --latent-sizes, --hidden-sizes, --concept-dim, --image-size or --encoder"


def check_weights_fit(recipe: Recipe, data: TrainingData) -> None:
    """Refuse, before a weight is allocated, a model whose weights, their gradients and Adam's two moments would
    need more than ``values.MAX_BYTES``: the model is built on the meta device (shapes only) and its weights counted.
    (A 1024x1024 pendulum through the ``mlp`` encoder is 3.8e9 weights in its first layer alone.)"""
    _step("check_weights_fit", recipe, data=data)
    try:
        with torch.device("meta"):
            shapes = make_model(recipe, data)
    except (RuntimeError, NotImplementedError):  # a model that reads values while it is built: counted when built
        return
    weights = sum(p.numel() * p.element_size() for p in shapes.parameters())
    if 4 * weights > v.MAX_BYTES:
        encoder = "" if recipe.model == "lvae" else f" with encoder {recipe.encoder}"
        raise ValueError(f"the {recipe.model} model{encoder} on {tuple(data.image_shape)} images "
                         f"would have {weights // 4:,} weights: about {4 * weights / 2**30:,.1f} GiB with their "
                         f"gradients and Adam's two moments, expected at most {v.MAX_BYTES / 2**30:g} GiB; choose "
                         f"smaller sizes ({_SIZES})")


def check_step_fits(recipe: Recipe, model: torch.nn.Module) -> None:
    """Refuse, before the first step, a batch whose training step would need more than ``values.MAX_BYTES``: every
    layer's output for one image (measured on a forward pass of a blank image, in eval mode, the random state kept)
    is held for the backward pass beside its gradient and the layer's input, for each image of the batch. (A batch
    of 65,536 64x64 images through ``conv64`` asked the allocator for 8 GiB in its first layer, then more.)"""
    _step("check_step_fits", recipe, model=model)
    outputs: list[int] = []

    def count(module, inputs, output):
        if isinstance(output, torch.Tensor):
            outputs.append(output.numel() * output.element_size())

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    x = torch.zeros(1, *model.image_shape, device=model.device)
    try:
        with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []), torch.no_grad(), \
                model.evaluating():
            model(x, torch.zeros(1, model.n, device=model.device)) if model.takes_labels else model(x)
    finally:
        for hook in hooks:
            hook.remove()
    per_image = 3 * sum(outputs) + 2 * x.numel() * x.element_size()  # outputs, their gradients, inputs; the batch
    if recipe.batch_size * per_image > v.MAX_BYTES:
        raise ValueError(f"batch_size (--batch-size) {recipe.batch_size:,}: one training step of this model would hold "
                         f"about {recipe.batch_size * per_image / 2**30:,.1f} GiB ({per_image / 2**20:,.2f} MiB per "
                         f"image), expected at most {v.MAX_BYTES / 2**30:g} GiB: give --batch-size "
                         f"{max(1, v.MAX_BYTES // per_image):,} or less")


def build(recipe: Recipe, *, device: str | torch.device = "auto", steps: int | None = None) -> Run:
    """The run of ``recipe`` (``steps`` overrides its steps) on ``device`` ("auto": cuda, then mps, then cpu),
    resolved here once. The command line's seeding: the batches' generator seeded, ``torch`` seeded, the model
    built, so a notebook that builds ``RECIPES["ch2-beta4"]`` on a CPU gets the shipped model's numbers."""
    if not isinstance(recipe, Recipe):
        raise TypeError(f"build takes a Recipe (recipes.get(name) gives a named one: recipes.get('ch1-vae')), got "
                        f"{type(recipe).__name__} {recipe!r}"[:200])
    recipe = replace(recipe, steps=steps) if steps is not None else recipe
    device = default_device(device)
    data = make_data(recipe, device)
    if data.examples is not None and recipe.batch_size > data.examples:
        raise ValueError(f"batch_size {recipe.batch_size} is larger than the {recipe.dataset} training set "
                         f"({data.examples:,} images): an epoch would hold no batch")
    check_weights_fit(recipe, data)
    generator = make_generator(recipe, device)
    torch.manual_seed(recipe.seed)
    model = make_model(recipe, data).to(device)
    check_step_fits(recipe, model)
    per_epoch = max(1, data.examples // recipe.batch_size) if data.examples else None
    objective = make_objective(recipe, model, data, per_epoch)
    return Run(recipe, device, data, generator, model, objective, make_optimizer(recipe, model), per_epoch,
               EpochStart(generator, per_epoch))


def finish(recipe: Recipe, model: torch.nn.Module, dataset) -> dict | None:
    """What a run does after its last step: with ``recipe.prune``, drop the learned graph's edges that the label
    equations do not need (``CausalVAE.prune_graph`` on the labels of ``dataset``'s training split, their shadow
    noise drawn with the recipe's seed). Returns the tested edges' rises in l_u, or None. (:func:`train` calls it;
    a benchmark may call it on a copy of a model mid-run, to score it as the run would end there.)"""
    from vaecourse.data.pendulum import split_concepts
    _step("finish", recipe, model=model)
    if not recipe.prune:
        return None
    generator = torch.Generator(device=dataset.device).manual_seed(recipe.seed)
    labels = dataset.labels(split_concepts(dataset, "train", generator=generator)).float()
    return model.prune_graph(labels, tolerance=recipe.prune)


def train(run: Run, *, start_step: int = 0, history=None, callbacks: Sequence[Callable] = (), progress: bool = True,
          desc: str | None = None):
    """Train ``run`` from ``start_step`` to its recipe's last step -> the History (``history`` continued).

    After the last step the run does what its recipe asks at the end (:func:`finish`: the prune, whose rises in
    l_u are kept in ``run.pruned``); a callback that stops training early (Ctrl-C on the command line) skips it.
    The model is left in eval mode.
    """
    from vaecourse.train import fit

    v.instance("a Run (recipes.build(recipe))", Run).check("train's run", run)
    callbacks = v.functions.check("train's callbacks (functions called after each step)", callbacks)
    recipe = run.recipe
    history = fit(run.model, run.objective, run.batches(start_step), steps=recipe.steps - start_step,
                  optimizer=run.optimizer, device=run.device, seed=None, clip_grad_norm=recipe.clip_grad_norm,
                  callbacks=[run.epoch_start, *callbacks], progress=progress, desc=desc or recipe.name,
                  start_step=start_step, history=history)
    if history.steps and history.steps[-1] == recipe.steps - 1:
        run.pruned = finish(recipe, run.model, run.data.dataset)
    run.model.eval()
    return history


__all__ = ["COMBINATIONS", "EpochStart", "FIELDS", "MODELS", "OBJECTIVES", "RECIPES", "Recipe", "Run", "build",
           "finish", "flag_of", "get", "make_data", "make_generator", "make_model", "make_objective", "make_optimizer",
           "option", "train"]
