"""The ``train`` verb: long runs for lab GPUs and Colab, written so that a notebook can load the result.

A run writes ``OUT`` (a checkpoint: model, hyper-parameters, optimiser and RNG state, history, the command
line) every ``--checkpoint-every`` steps and at the end, plus ``OUT.csv``/``OUT.json`` logs of the terms;
``--resume`` continues an interrupted run from ``OUT`` to the same total number of steps.
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
from pathlib import Path

import torch

from vaecourse import checkpoints
from vaecourse.data.catalog import DATASETS, make_dataset
from vaecourse.runtime import default_device

CAUSAL_MODELS = ("causalvae", "cvae")  # chapter 5: label-conditioned models, trained on (images, labels) batches


def objective_names() -> tuple[str, ...]:
    from vaecourse.objectives import OBJECTIVES
    return tuple(OBJECTIVES)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="vae", choices=["vae", "lvae", *CAUSAL_MODELS],
                        help="model family (lvae: chapter 4; causalvae, cvae: chapter 5, with --dataset pendulum)")
    parser.add_argument("--encoder", default="conv64", help="encoder/decoder architecture (mlp, conv64, conv32, mlp28)")
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--logvar-bias", type=float, default=None,
                        help="vae: start the encoder's log sigma^2 output at this bias (chapter 2 uses -4)")
    parser.add_argument("--image-size", type=int, default=64, help="side of the images the model sees (32: pooled)")
    parser.add_argument("--objective", default="elbo", help=f"training objective ({', '.join(objective_names())})")
    parser.add_argument("--beta", type=float, default=4.0, help="KL weight (beta); the initial multiplier for constrained")
    parser.add_argument("--kl-warmup", type=int, default=0, help="beta objective: steps over which the KL weight ramps 0 -> beta")
    parser.add_argument("--gamma", type=float, default=1000.0, help="capacity objective: weight of |KL - C|")
    parser.add_argument("--c-max", type=float, default=25.0, help="capacity objective: final capacity C in nats")
    parser.add_argument("--c-steps", type=int, default=100_000, help="capacity objective: steps to raise C from 0")
    parser.add_argument("--c-start-step", type=int, default=0, help="capacity objective: step at which C starts rising")
    parser.add_argument("--epsilon", type=float, default=25.0, help="constrained objective: KL bound in nats")
    parser.add_argument("--lr-dual", type=float, default=0.01, help="constrained objective: dual-ascent step size")
    parser.add_argument("--dataset", default="dsprites", help=f"data set ({', '.join(DATASETS)})")
    # chapter 4: hierarchical / Ladder VAE
    parser.add_argument("--latent-sizes", default="64,32,16,8,4", help="lvae: units per stochastic layer, bottom first")
    parser.add_argument("--hidden-sizes", default="512,256,128,64,32", help="lvae: MLP width per layer, bottom first")
    parser.add_argument("--inference", default="ladder", choices=["ladder", "bottom_up"], help="lvae: inference model")
    parser.add_argument("--no-batch-norm", action="store_true", help="lvae: no batch normalisation")
    parser.add_argument("--warmup-epochs", type=float, default=200.0, help="ladder objective: epochs of KL warm-up (N_t)")
    parser.add_argument("--steps", type=int, default=10_000, help="total optimiser steps")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    parser.add_argument("--clip-grad-norm", type=float, default=None)
    parser.add_argument("--checkpoint-every", type=int, default=1000, help="steps between checkpoints")
    parser.add_argument("--resume", action="store_true", help="continue the run saved at --out")
    parser.add_argument("--out", required=True, help="checkpoint path, e.g. runs/beta4.pt")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    # chapter 5 (CausalVAE); with --model causalvae the objective "elbo" means Eq. (41) ("causal")
    parser.add_argument("--concept-dim", type=int, default=4, help="causalvae/cvae: latent dimensions per concept")
    parser.add_argument("--lu-weight", type=float, default=1.0, help="causalvae: weight of l_u (Eq. 38)")
    parser.add_argument("--lm-weight", type=float, default=1.0, help="causalvae: weight of l_m (Eq. 39)")
    parser.add_argument("--a-init", default="zero", choices=["zero", "random"], help="causalvae: initial A")
    parser.add_argument("--shadow-noise", type=float, default=0.0,
                        help="pendulum: standard deviation of the shadow's own noise, in scene units (0: the paper's "
                             "scene, where the shadow is a function of the angles)")
    parser.add_argument("--label-fit", default="tanh", choices=["tanh", "mask"],
                        help="causalvae: l_u's prediction of u from its parents: sigma(A^T u) (Eq. 38, the paper) or "
                             "the mask layer's equations on the labels")
    parser.add_argument("--graph-from", default="all", choices=["all", "labels"],
                        help="causalvae: which terms move A: the whole loss (the paper) or only the label terms and H(A)")
    parser.add_argument("--shadow-weight", type=float, default=1.0,
                        help="causalvae, pendulum: weight of the shadow's rows in the loss's log p(x|z) (1: none)")
    parser.add_argument("--prior-std", type=float, default=1.0,
                        help="causalvae with --latent-scm equations: p(z|u) = N(u, s^2 I) (1: the paper's)")
    parser.add_argument("--latent-scm", default="linear", choices=["linear", "equations"],
                        help="causalvae: the latent SCM: the paper's linear layer then the mask layer, or (with "
                             "--graph-from labels) z = g(A o z) + eps through the label equations (l_m is then ||eps||^2: "
                             "use --lm-weight 0)")
    parser.add_argument("--independence", type=float, default=0.0,
                        help="causalvae: weight of the HSIC dependence of the label residuals (0: the paper's loss)")


def _write_logs(out: Path, history) -> None:
    """OUT.csv (one row per step) and OUT.json (the whole history), each written atomically."""
    keys = history.keys()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["step", *keys])
    for i, step in enumerate(history.steps):
        writer.writerow([step, *(f"{history.records[k][i]:.6g}" for k in keys)])
    checkpoints.atomic_write(out.with_suffix(".csv"), lambda tmp: Path(tmp).write_text(buffer.getvalue()))
    checkpoints.atomic_write(out.with_suffix(".json"),
                             lambda tmp: Path(tmp).write_text(json.dumps(history.to_dict())))


def _sizes(text: str, flag: str) -> list[int]:
    try:
        return [int(s) for s in str(text).split(",")]
    except ValueError:
        raise ValueError(f"{flag} expects comma-separated integers such as 64,32,16, got {text!r}") from None


def _build_model(args: argparse.Namespace, image_shape):
    from vaecourse.models import VAE, CausalVAE, ConditionalVAE, LadderVAE
    if args.model == "causalvae":
        return CausalVAE(concept_dim=args.concept_dim, encoder=args.encoder, image_shape=image_shape, a_init=args.a_init,
                         graph_from=args.graph_from, latent_scm=getattr(args, "latent_scm", "linear"),
                         prior_std=getattr(args, "prior_std", 1.0))
    if args.model == "cvae":
        return ConditionalVAE(concept_dim=args.concept_dim, encoder=args.encoder, image_shape=image_shape)
    if args.model == "lvae":
        return LadderVAE(_sizes(args.latent_sizes, "--latent-sizes"), _sizes(args.hidden_sizes, "--hidden-sizes"),
                         inference=args.inference, batch_norm=not args.no_batch_norm, image_shape=image_shape)
    return VAE(latent_dim=args.latent_dim, encoder=args.encoder, image_shape=image_shape,
               logvar_bias=getattr(args, "logvar_bias", None))


def train_from_args(args: argparse.Namespace) -> int:
    from vaecourse.objectives import make_objective
    from vaecourse.train import Every, History, fit

    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    if args.checkpoint_every < 1:
        raise ValueError(f"--checkpoint-every must be >= 1, got {args.checkpoint_every}")
    device = default_device(args.device)
    out = Path(args.out)
    causal = getattr(args, "model", "vae") in CAUSAL_MODELS
    shadow_noise = getattr(args, "shadow_noise", 0.0)
    if shadow_noise and args.dataset != "pendulum":
        raise ValueError(f"--shadow-noise applies to --dataset pendulum only, got --dataset {args.dataset}")
    if causal and args.dataset != "pendulum":
        raise ValueError(f"--model {args.model} needs labelled data: use --dataset pendulum")
    if causal and args.objective == "elbo":
        args.objective = "causal" if args.model == "causalvae" else "cvae"
    data = make_dataset(args.dataset, device, image_shape=(1, args.image_size, args.image_size),
                        shadow_noise=shadow_noise)
    args.steps_per_epoch = max(1, data.examples // args.batch_size) if data.examples else None
    if getattr(args, "shadow_weight", 1.0) != 1.0:
        if args.dataset != "pendulum" or args.model != "causalvae":
            raise ValueError("--shadow-weight applies to --model causalvae --dataset pendulum only")
        from vaecourse.data import Pendulum
        rows = Pendulum(size=args.image_size, device=device).shadow_rows()[:, None].float()  # (H, 1)
        args.pixel_weights = 1 + (args.shadow_weight - 1) * rows
    objective = make_objective(args.objective, args)
    vars(args).pop("pixel_weights", None)  # rebuilt from --shadow-weight; the checkpoint keeps the flag
    generator = torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(args.seed)
    torch.manual_seed(args.seed)
    model = _build_model(args, data.image_shape).to(device)
    optimizer = torch.optim.Adam(model.parameter_groups(args.lr) if causal else model.parameters(), lr=args.lr)
    history, start = History(), 0
    if args.resume:
        saved = checkpoints.read(out, expected_class=type(model), map_location=device)
        if saved.hparams != model.hparams:
            raise ValueError(f"cannot resume {out}: it holds {saved.hparams}, this command builds {model.hparams}")
        model.load_state_dict(saved.model.state_dict())
        optimizer.load_state_dict(saved.extra["optimizer"])
        generator.set_state(saved.extra["generator_state"])
        torch.set_rng_state(saved.extra["torch_rng_state"])
        history = History.from_dict(saved.extra["history"])
        if hasattr(objective, "load_state_dict"):
            objective.load_state_dict(saved.extra["objective_state"])
        start = int(saved.extra["step"]) + 1
        print(f"resuming {out} at step {start} of {args.steps}")
    command = " ".join(shlex.quote(a) for a in ["python", "-m", "vaecourse", *sys.argv[1:]])
    started, seconds_before = time.time(), history.seconds  # fit adds its own time to history.seconds when it ends

    def save(step: int, *_):
        checkpoints.save(model, out, step=step, total_steps=args.steps, optimizer=optimizer.state_dict(),
                         generator_state=generator.get_state(), torch_rng_state=torch.get_rng_state(),
                         history=history.to_dict(), objective=args.objective,
                         objective_state=objective.state_dict() if hasattr(objective, "state_dict") else {}, dataset=args.dataset,
                         command=command, machine=f"{platform.node()} {platform.machine()} {device}",
                         seconds=seconds_before + (time.time() - started), arguments=vars(args) | {"func": None})
        _write_logs(out, history)

    remaining = args.steps - start
    if remaining > 0:
        periodic = Every(args.checkpoint_every, lambda step, *rest: step > start and save(step))
        fit(model, objective, data.batches(args.batch_size, remaining, generator=generator), steps=remaining,
            optimizer=optimizer, device=device, seed=None, clip_grad_norm=args.clip_grad_norm,
            callbacks=[periodic], progress=not args.no_progress, desc=out.name, start_step=start, history=history)
    save(args.steps - 1)
    last = history.last(window=min(100, len(history)))
    print(f"wrote {out} after {args.steps} steps: ELBO {last.get('elbo', float('nan')):.2f} nats "
          f"(log p(x|z) {last.get('log_px_z', float('nan')):.2f}, KL {last.get('kl', float('nan')):.2f})")
    return 0
