"""The ``train`` verb: long runs for lab GPUs and Colab, written so that a notebook can load the result.

A run is a :class:`vaecourse.recipes.Recipe`: ``--recipe NAME`` starts from one of the course's named runs and every
other flag overrides one field (``--recipe ch2-beta4 --seed 1``); without ``--recipe`` the flags override the
defaults. A run writes ``OUT`` (a checkpoint: model, hyper-parameters, the recipe's fields and name, optimiser and RNG
state, history, the command line) every ``--checkpoint-every`` steps and at the end, plus ``OUT.log.csv``/
``OUT.log.json`` logs of the terms; ``--resume`` continues an interrupted run from ``OUT`` to the same total number of
steps (``--overwrite`` replaces it), and Ctrl-C saves the last finished step (:mod:`vaecourse.cli.outputs`; argument
checks: :mod:`vaecourse.cli.checks`; exact resumption: :mod:`vaecourse.cli.resume`).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import platform
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from vaecourse import checkpoints, recipes
from vaecourse.cli.checks import check_batch_fits, check_combination
from vaecourse.cli.outputs import Interruption, check_train_out, log_paths
from vaecourse.cli.resume import check_resumable, resumed_batches
from vaecourse.data.catalog import DATASETS
from vaecourse.files import atomic_write
from vaecourse.runtime import default_device

DEFAULTS = recipes.Recipe()
RUN_OPTIONS = ("device", "checkpoint_every", "resume", "out", "no_progress")  # how to run, not what is trained


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train`` flags: one per recipe field (absent unless given, so a recipe's value stands), and the run's."""

    def field(flag: str, help: str, **kwargs) -> None:
        name = flag[2:].replace("-", "_")
        shown = ",".join(map(str, getattr(DEFAULTS, name))) if name.endswith("_sizes") else getattr(DEFAULTS, name)
        parser.add_argument(flag, default=argparse.SUPPRESS, help=f"{help} (default {shown})", **kwargs)

    parser.add_argument("--recipe", default=None, choices=tuple(recipes.RECIPES), metavar="NAME",
                        help="start from a named run of the course (" + ", ".join(recipes.RECIPES) + "); the other "
                             "flags override its fields")
    field("--model", "model family (lvae: chapter 4; causalvae, cvae: chapter 5, with --dataset pendulum)",
          choices=recipes.MODELS)
    field("--encoder", "encoder/decoder architecture (mlp, conv64, conv32, mlp28)")
    field("--latent-dim", "latent dimensions (vae)", type=int)
    field("--logvar-bias", "vae: start the encoder's log sigma^2 output at this bias (chapter 2 uses -4)", type=float)
    field("--image-size", "side of the images the model sees (dSprites 32: Pooled(DSprites(), side=32))", type=int)
    field("--objective", f"training objective ({', '.join(recipes.OBJECTIVES)})")
    field("--beta", "KL weight (beta); the initial multiplier for constrained", type=float)
    field("--kl-warmup", "beta objective: steps over which the KL weight ramps 0 -> beta", type=int)
    field("--gamma", "capacity objective: weight of |KL - C|", type=float)
    field("--c-max", "capacity objective: final capacity C in nats", type=float)
    field("--c-steps", "capacity objective: steps to raise C from 0", type=int)
    field("--c-start-step", "capacity objective: step at which C starts rising", type=int)
    field("--epsilon", "constrained objective: KL bound in nats", type=float)
    field("--lr-dual", "constrained objective: dual-ascent step size", type=float)
    field("--dataset", f"data set ({', '.join(DATASETS)})")
    # chapter 4: hierarchical / Ladder VAE
    field("--latent-sizes", "lvae: units per stochastic layer, bottom first")
    field("--hidden-sizes", "lvae: MLP width per layer, bottom first")
    field("--inference", "lvae: inference model", choices=["ladder", "bottom_up"])
    parser.add_argument("--no-batch-norm", dest="batch_norm", action="store_false", default=argparse.SUPPRESS,
                        help="lvae: no batch normalisation")
    field("--warmup-epochs", "ladder objective: epochs of KL warm-up (N_t)", type=float)
    field("--steps", "total optimiser steps", type=int)
    field("--batch-size", "examples per step", type=int)
    field("--lr", "Adam's learning rate", type=float)
    field("--seed", "seeds torch and the batches", type=int)
    field("--clip-grad-norm", "clip the gradient norm", type=float)
    # chapter 5 (CausalVAE); with --model causalvae the objective "elbo" means Eq. (41) ("causal")
    field("--concept-dim", "causalvae/cvae: latent dimensions per concept", type=int)
    field("--lu-weight", "causalvae: weight of l_u (Eq. 38; the paper's beta in Eq. 41)", type=float)
    field("--lm-weight", "causalvae: weight of l_m (Eq. 39; the paper's gamma in Eq. 41)", type=float)
    field("--a-init", "causalvae: initial A", choices=["zero", "random"])
    field("--shadow-noise", "pendulum: standard deviation of the shadow's own noise, in scene units (0: the paper's "
                            "scene, where the shadow is a function of the angles)", type=float)
    field("--label-fit", "causalvae: l_u's prediction of u from its parents: sigma(A^T u) (Eq. 38, the paper) or the "
                         "mask layer's equations on the labels", choices=["tanh", "mask"])
    field("--graph-from", "causalvae: which terms move A: the whole loss (the paper) or only the label terms and H(A)",
          choices=["all", "labels"])
    field("--latent-scm", "causalvae: the latent SCM: the paper's linear layer then the mask layer, or (with "
                          "--graph-from labels) z = g(A o z) + eps through the label equations (l_m is then ||eps||^2: "
                          "use --lm-weight 0)", choices=["linear", "equations"])
    field("--prior-std", "causalvae with --latent-scm equations: p(z|u) = N(u, s^2 I) (1: the paper's)", type=float)
    field("--decoder", "causalvae: one decoder reads all latents (joint), or one per concept block with their logits "
                       "averaged (per_concept, as the authors' code), or the shadow's rows from its own blocks (shadow_rows)",
          choices=["joint", "per_concept", "shadow_rows"])
    field("--prune", "causalvae: after the last step, drop each edge whose removal raises the label loss l_u by less "
                     "than this fraction of it (0: keep every edge; the course's, not the paper's)", type=float)
    field("--shadow-weight", "causalvae, pendulum: weight of the shadow's rows in the loss's log p(x|z) (1: none)",
          type=float)
    field("--independence", "causalvae: weight of the HSIC dependence of the label residuals (0: the paper's loss)",
          type=float)
    # how to run (not part of the recipe)
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    parser.add_argument("--checkpoint-every", type=int, default=1000, help="steps between checkpoints")
    parser.add_argument("--resume", action="store_true", help="continue the run saved at --out")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint at --out")
    parser.add_argument("--out", required=True, help="checkpoint path, e.g. runs/beta4.pt")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")


def _write_logs(out: Path, history) -> None:
    """OUT.log.csv (one row per step) and OUT.log.json (the whole history), each written atomically."""
    keys = history.keys()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["step", *keys])
    for i, step in enumerate(history.steps):
        writer.writerow([step, *(f"{history.records[k][i]:.6g}" for k in keys)])
    csv_log, json_log = log_paths(out)
    atomic_write(csv_log, lambda tmp: Path(tmp).write_text(buffer.getvalue()))
    atomic_write(json_log, lambda tmp: Path(tmp).write_text(json.dumps(history.to_dict())))


def _sizes(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in str(text).split(","))
    except ValueError:
        raise ValueError(f"{flag} expects comma-separated integers such as 64,32,16, got {text!r}") from None


def recipe_from_args(args: argparse.Namespace) -> recipes.Recipe:
    """The run the flags describe: ``--recipe`` (or the defaults) with every given flag replacing its field."""
    given = {k: v for k, v in vars(args).items() if k in recipes.FIELDS}
    for name in ("latent_sizes", "hidden_sizes"):
        if name in given:
            given[name] = _sizes(given[name], "--" + name.replace("_", "-"))
    base = recipes.get(args.recipe) if args.recipe else DEFAULTS
    changed = base.name if not (args.recipe and given) else f"{base.name} + {', '.join(given)}"
    return replace(base, **given, name=changed)


def train_from_args(args: argparse.Namespace) -> int:
    from vaecourse.train import Every, History, fit

    recipe = recipe_from_args(args)
    if args.checkpoint_every < 1:
        raise ValueError(f"--checkpoint-every must be >= 1, got {args.checkpoint_every}")
    device = default_device(args.device)
    out = Path(args.out)
    check_combination(recipe)
    check_train_out(out, resume=args.resume, overwrite=getattr(args, "overwrite", False))
    data = recipes.make_data(recipe, device)
    check_batch_fits(recipe, data.examples)
    generator = recipes.make_generator(recipe, device)
    torch.manual_seed(recipe.seed)
    model = recipes.make_model(recipe, data.image_shape).to(device)
    steps_per_epoch = max(1, data.examples // recipe.batch_size) if data.examples else None
    objective = recipes.make_objective(recipe, model, steps_per_epoch)
    optimizer = recipes.make_optimizer(recipe, model)
    history, start, saved = History(), 0, None
    if args.resume:
        saved = checkpoints.read(out, expected_class=type(model), map_location=device)
        if saved.hparams != model.hparams:
            raise ValueError(f"cannot resume {out}: it holds {saved.hparams}, this command builds {model.hparams}")
        if not check_resumable(saved, out, recipe):
            print(f"{out} already holds all {recipe.steps} steps; nothing to do (give more --steps to train further)")
            return 0
        model.load_state_dict(saved.model.state_dict())
        optimizer.load_state_dict(saved.extra["optimizer"])
        generator.set_state(saved.extra["generator_state"])
        torch.set_rng_state(saved.extra["torch_rng_state"])
        history = History.from_dict(saved.extra["history"])
        if hasattr(objective, "load_state_dict"):
            objective.load_state_dict(saved.extra["objective_state"])
        start = int(saved.extra["step"]) + 1
        print(f"resuming {out} at step {start} of {recipe.steps}")
    command = " ".join(shlex.quote(a) for a in ["python", "-m", "vaecourse", *sys.argv[1:]])
    arguments = recipe.arguments() | {k: getattr(args, k) for k in RUN_OPTIONS}
    started, seconds_before = time.time(), history.seconds  # fit adds its own time to history.seconds when it ends

    batches, epoch_start = resumed_batches(data, recipe, steps_per_epoch, generator, start,
                                           saved.extra if saved else None)

    def save(step: int, *_):
        checkpoints.save(model, out, step=step, total_steps=recipe.steps, optimizer=optimizer.state_dict(),
                         epoch_generator_state=epoch_start.state,
                         generator_state=generator.get_state(), torch_rng_state=torch.get_rng_state(),
                         history=history.to_dict(), objective=recipe.objective,
                         objective_state=objective.state_dict() if hasattr(objective, "state_dict") else {},
                         dataset=recipe.dataset, recipe=recipe.name, command=command,
                         machine=f"{platform.node()} {platform.machine()} {device}",
                         seconds=seconds_before + (time.time() - started), arguments=arguments)
        _write_logs(out, history)

    remaining = recipe.steps - start
    periodic = Every(args.checkpoint_every, lambda step, *rest: step > start and save(step))
    with Interruption() as stop:
        try:
            fit(model, objective, batches, steps=remaining, optimizer=optimizer, device=device, seed=None,
                clip_grad_norm=recipe.clip_grad_norm, callbacks=[epoch_start, periodic, stop],
                progress=not args.no_progress, desc=out.name, start_step=start, history=history)
        except FloatingPointError as err:
            raise ValueError(f"{err} {stop.kept(out)}") from None
        if stop.requested and stop.last_step != recipe.steps - 1:
            return stop.report(out, save, recipe.steps, sys.argv[1:])
        rises = recipes.finish(recipe, model, data.dataset)
        if rises is not None:
            print(f"pruned the graph (--prune {recipe.prune:g}): rise in l_u without each edge j -> i "
                  f"{ {k: round(v, 4) for k, v in rises.items()} }; kept edges: "
                  f"{(model.adjacency().abs() > 0.3).nonzero().tolist()}")
        save(recipe.steps - 1)
    last = history.last(window=min(100, len(history)))
    print(f"wrote {out} after {recipe.steps} steps: ELBO {last.get('elbo', float('nan')):.2f} nats "
          f"(log p(x|z) {last.get('log_px_z', float('nan')):.2f}, KL {last.get('kl', float('nan')):.2f})")
    return 0
