"""The ``train`` verb: long runs for lab GPUs and Colab, written so that a notebook can load the result.

A run is a :class:`vaecourse.recipes.Recipe`: ``--recipe NAME`` starts from one of the course's named runs and every
other flag overrides one field (``--recipe ch2-beta4 --seed 1``); without ``--recipe`` the flags override the
defaults. A run writes ``OUT`` (a checkpoint: model, hyper-parameters, the recipe's fields and name, optimiser and RNG
state, history, the command line) every ``--checkpoint-every`` steps and at the end, plus ``OUT.log.csv``/
``OUT.log.json`` logs of the terms; ``--resume`` continues an interrupted run from ``OUT`` with the recipe it stored (a flag that
would change it is refused; ``--steps`` may train further), ``--overwrite`` replaces it, and Ctrl-C saves the last
finished step (:mod:`vaecourse.cli.outputs`; what a checkpoint must hold to be resumed: :mod:`vaecourse.cli.resume`).
The run itself is :func:`vaecourse.recipes.build` and :func:`vaecourse.recipes.train`, as in the notebooks; the flags
are a loop over the recipe's fields (:func:`vaecourse.recipes.option`).
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
from dataclasses import fields, replace
from pathlib import Path

from vaecourse import checkpoints, recipes
from vaecourse.cli import checks
from vaecourse.cli.outputs import LOG_SUFFIXES, Interruption, RunLock, check_train_out, check_writable, log_paths
from vaecourse.cli.resume import RUN_OPTIONS, check_resumable, check_training_state, stored_recipe
from vaecourse.files import NOTHING_WRITTEN, atomic_write
from vaecourse.values import positive_int

DEFAULTS = recipes.Recipe()


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train`` flags: one per recipe field, from its declaration (absent unless given, so a recipe's value
    stands), and the run's own."""
    parser.add_argument("--recipe", default=None, choices=tuple(recipes.RECIPES), metavar="NAME",
                        help="start from a named run of the course (" + ", ".join(recipes.RECIPES) + "); the other "
                             "flags override its fields")
    for f in fields(recipes.Recipe):
        if "kind" not in f.metadata:
            continue  # the name: --recipe
        meta, default = f.metadata, getattr(DEFAULTS, f.name)
        if isinstance(default, bool):  # a switch: the flag turns the default off (--no-batch-norm)
            parser.add_argument(recipes.flag_of(f), dest=f.name, action="store_false" if default else "store_true",
                                default=argparse.SUPPRESS, help=meta["help"])
            continue
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        parser.add_argument(recipes.flag_of(f), dest=f.name, type=meta["kind"],
                            choices=meta["choices"],
                            default=argparse.SUPPRESS, help=f"{meta['help']} (default {shown})")
    # how to run (not part of the recipe)
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    parser.add_argument("--checkpoint-every", type=positive_int, default=1000, help="steps between checkpoints")
    parser.add_argument("--resume", action="store_true", help="continue the run saved at --out (its recipe; only "
                                                               "--steps may change)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint at --out")
    parser.add_argument("--out", required=True, type=checks.OUT_FILE, help="checkpoint path, e.g. runs/beta4.pt")
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


def check_free_space(out: Path, run) -> None:
    """Refuse, before the first step, a run whose checkpoint cannot fit in the free space of ``out``'s folder: the
    model's weights and the optimiser's state (Adam: two moments per weight), written to a temporary file first."""
    import shutil

    tensors = [*run.model.state_dict().values()]
    weights = sum(t.numel() * t.element_size() for t in tensors)
    needed = 3 * weights + (1 << 20)  # weights, Adam's two moments, 1 MiB of history and logs
    folder = next(p for p in (out.parent, *out.parents) if p.exists())
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise ValueError(f"--out {out}: its folder {folder} has {free / 2**20:,.1f} MiB free and a checkpoint of this "
                         f"run needs about {needed / 2**20:,.1f} MiB; free some space or choose another --out")


def given_fields(args: argparse.Namespace) -> dict:
    """The recipe fields the command line gave (flags absent are not in ``args``)."""
    return {k: v for k, v in vars(args).items() if k in recipes.FIELDS}


def recipe_from_args(args: argparse.Namespace) -> recipes.Recipe:
    """The run the flags describe: ``--recipe`` (or the defaults) with every given flag replacing its field; a
    flag that does not apply to the run's model, objective or data is refused, even at its default value."""
    given = given_fields(args)
    base = recipes.get(args.recipe) if args.recipe else DEFAULTS
    changed = base.name if not (args.recipe and given) else f"{base.name} + {', '.join(given)}"
    recipe = replace(base, **given, name=changed)
    recipe.check_applies(list(given))
    return recipe


def train_from_args(args: argparse.Namespace) -> int:
    out = Path(args.out)
    check_writable(out, beside=LOG_SUFFIXES)
    with RunLock(out):  # one run at a time on one --out, from the checks to the last save
        check_train_out(out, resume=args.resume, overwrite=getattr(args, "overwrite", False))
        return _train(out, args)


def _train(out: Path, args: argparse.Namespace) -> int:
    """The run, under the lock: build (or continue) it, train with periodic checkpoints, save; the exit status."""
    from vaecourse.train import Every, History

    saved = checkpoints.read(out) if args.resume else None
    recipe = stored_recipe(saved, out, args) if saved else recipe_from_args(args)
    run = recipes.build(recipe, device=args.device)
    history, start = History(), 0
    if saved:
        if saved.model_class != type(run.model).__name__ or saved.hparams != run.model.hparams:
            raise ValueError(f"cannot resume {out}: it holds {saved.model_class}{saved.hparams}, its recipe builds "
                             f"{type(run.model).__name__}{run.model.hparams}")
        try:  # nothing is written before the whole state is back: a damaged one is refused, the file kept as it is
            check_training_state(saved, out, run)
            if not check_resumable(saved, out, recipe):
                print(f"{out} already holds all {recipe.steps} steps; nothing to do (give more --steps to train "
                      "further)")
                return 0
            run.load_state(saved.model.state_dict(), saved.extra)
            history = History.from_dict(saved.extra["history"])
            start = int(saved.extra["step"]) + 1
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as err:
            if isinstance(err, ValueError) and str(err).startswith("cannot resume"):
                raise
            raise ValueError(f"cannot resume {out}: its training state is damaged or hand-edited "
                             f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no detail'}); "
                             "the file is left as it is: train a new run with another --out, or --overwrite") from None
        print(f"resuming {out} at step {start} of {recipe.steps}")
    command = " ".join(shlex.quote(a) for a in ["python", "-m", "vaecourse", *sys.argv[1:]])
    arguments = recipe.arguments() | {k: getattr(args, k) for k in RUN_OPTIONS}
    started, seconds_before = time.time(), history.seconds  # fit adds its own time to history.seconds when it ends

    def save(step: int, *_):
        try:
            checkpoints.save(run.model, out, step=step, total_steps=recipe.steps, **run.state(),
                             history=history.to_dict(), objective=recipe.objective, dataset=recipe.dataset,
                             recipe=recipe.name, command=command,
                             machine=f"{platform.node()} {platform.machine()} {run.device}",
                             seconds=seconds_before + (time.time() - started), arguments=arguments)
            _write_logs(out, history)
        except (OSError, RuntimeError) as err:  # a full disk, a file-size limit: torch's zip writer says RuntimeError
            reason = err.strerror.removesuffix(NOTHING_WRITTEN) if isinstance(err, OSError) and err.strerror else \
                "the write failed part way: a full disk or a file-size limit (ulimit -f)"
            raise ValueError(f"could not save step {step + 1} to {out} ({reason}). {Interruption.kept(out)}") \
                from None

    check_free_space(out, run)

    periodic = Every(args.checkpoint_every, lambda step, *rest: step > start and save(step))
    with Interruption() as stop:
        try:
            recipes.train(run, start_step=start, history=history, callbacks=[periodic, stop],
                          progress=not args.no_progress, desc=out.name)
        except FloatingPointError as err:
            raise ValueError(f"{err} {stop.kept(out)}") from None
        if stop.requested and stop.last_step != recipe.steps - 1:
            return stop.report(out, save, recipe.steps, sys.argv[1:])
        if run.pruned is not None:
            print(f"pruned the graph (--prune {recipe.prune:g}): rise in l_u without each edge j -> i "
                  f"{ {k: round(v, 4) for k, v in run.pruned.items()} }; kept edges: "
                  f"{(run.model.adjacency().abs() > 0.3).nonzero().tolist()}")
        save(recipe.steps - 1)
    last = history.last(window=min(100, len(history)))
    print(f"wrote {out} after {recipe.steps} steps: ELBO {last.get('elbo', float('nan')):.2f} nats "
          f"(log p(x|z) {last.get('log_px_z', float('nan')):.2f}, KL {last.get('kl', float('nan')):.2f})")
    return 0
