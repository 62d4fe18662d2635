"""``train --resume``: what a checkpoint must hold to be continued, and the run it continues.

A resumed run is the run the checkpoint stored: its recipe's fields come from the checkpoint's ``arguments``, and
a flag that would change one of them is refused (the checkpoint would record the new value as if it had been one
run, and Adam would even keep the old learning rate); only ``--steps`` may change, to train further. The batches
continue exactly (:meth:`vaecourse.recipes.Run.batches`).
"""

from __future__ import annotations

import math
from dataclasses import fields, replace
from pathlib import Path

import torch

from vaecourse import recipes

TRAINING_STATE = ("step", "optimizer", "generator_state", "torch_rng_state", "history")
MAY_CHANGE = ("steps",)  # what a resumed run may be given anew
RUN_OPTIONS = ("device", "checkpoint_every", "resume", "out", "no_progress")  # how to run: stored beside the fields
# Recipe fields added after the first checkpoints were written: a run saved without one ran at its default (the
# shipped chapter 1-5 runs lack some). Every other field must be stored: without lr, a resume took the default.
ADDED_LATER = ("batch_norm", "cycle", "decoder", "exclusive", "label_dropout", "latent_scm", "name", "overlap",
               "ownership", "prior_std", "prune", "shadow_weight")


def stored_recipe(saved, out: Path, args) -> recipes.Recipe:
    """The recipe of the run saved in ``saved`` (read from ``out``), with ``--steps`` if given; a given flag that
    differs from the stored run is refused, naming each. ``--recipe NAME`` continues it when NAME is the same run with
    other steps (``--recipe ch1-vae`` continues a ``ch1-vae-3000`` run to 15,000 steps, and names it so)."""
    missing = [key for key in TRAINING_STATE + ("arguments",) if key not in saved.extra]
    if missing:
        raise ValueError(f"cannot resume {out}: it holds a {saved.model_class} without training state (no "
                         f"{', '.join(missing)}), e.g. a published or hand-saved model; load it with "
                         "checkpoints.load, or train a new run with another --out")
    if not isinstance(saved.extra["arguments"], dict):
        raise ValueError(f"cannot resume {out}: its stored arguments are damaged or hand-edited (a "
                         f"{type(saved.extra['arguments']).__name__}, not the run's fields)")
    stored = dict(saved.extra["arguments"])
    if "no_batch_norm" in stored:  # the flag's old destination
        stored.setdefault("batch_norm", not stored.pop("no_batch_norm"))
    unknown = sorted(str(k) for k in set(stored) - set(recipes.FIELDS) - set(RUN_OPTIONS))
    if unknown:  # a setting this version cannot apply: resuming without it would continue another run
        raise ValueError(f"cannot resume {out}: the run it stores has settings this version does not know "
                         f"({', '.join(unknown)}), so it cannot continue it as it was; train a new run with another "
                         "--out, or use the version that wrote it")
    absent = [k for k in recipes.FIELDS if k not in stored and k not in ADDED_LATER]
    if absent:
        raise ValueError(f"cannot resume {out}: the run it stores does not say its {', '.join(absent)} (damaged or "
                         "hand-edited), so it cannot continue it as it was; train a new run with another --out")
    name = _stored_name(saved.extra.get("recipe", "custom"), out)
    if stored.get("name", name) != name:
        raise ValueError(f"cannot resume {out}: its stored run is named {stored['name']!r} but the checkpoint says "
                         f"{name!r} (damaged or hand-edited); train a new run with another --out")
    try:
        recipe = recipes.Recipe(**{k: stored[k] for k in recipes.FIELDS if k in stored and k != "name"},
                                name="custom")
    except (TypeError, ValueError) as err:
        raise ValueError(f"cannot resume {out}: the run it stores is not one this version can rebuild ({err})") \
            from None
    if name != "custom":  # a named run is that recipe but for the fields its name lists: a relabelled run is not
        base, _, listed = name.partition(" + ")
        differ = [f.name for f in fields(recipes.RECIPES[base]) if f.name not in ("name", *MAY_CHANGE)
                  and f.name not in listed.split(", ") and getattr(recipes.RECIPES[base], f.name) != getattr(recipe, f.name)]
        if differ:
            raise ValueError(f"cannot resume {out}: it says it is the recipe {name}, but its stored run differs from "
                             f"that recipe in {', '.join(differ)} (damaged or hand-edited); train a new run with "
                             "another --out")
    recipe = replace(recipe, name=name)
    given = {k: v for k, v in vars(args).items() if k in recipes.FIELDS}
    changed = [_change(f, given[f.name], getattr(recipe, f.name)) for f in fields(recipe)
               if f.name in given and f.name not in MAY_CHANGE
               and f.metadata["kind"].check(f.name, given[f.name]) != getattr(recipe, f.name)]
    if args.recipe:  # a named recipe may continue the run when it is the same run with more steps (ch1-vae-3000)
        overrides = {f.name: f.metadata["kind"].check(f.name, given[f.name]) for f in fields(recipe)
                     if f.name in given and f.name not in MAY_CHANGE}  # the run's own flags, given again
        named = recipes.get(args.recipe)
        as_given = replace(named, **overrides) if overrides and not changed else named
        differ = [f.name for f in fields(named) if f.name not in ("name", *MAY_CHANGE)
                  and getattr(as_given, f.name) != getattr(recipe, f.name)]
        if differ:
            changed.insert(0, f"--recipe {args.recipe} (the run is {name}; they differ in {', '.join(differ)})")
        elif not changed and not overrides:
            recipe = replace(recipe, name=named.name if "steps" not in given else f"{named.name} + steps",
                             steps=named.steps)
    if changed:
        raise ValueError(f"cannot resume {out} with other settings: {'; '.join(changed)}. A resumed run continues "
                         "the run it saved (only --steps may change); to train with other settings, start a new run "
                         "with another --out (or --overwrite)")
    return replace(recipe, steps=given["steps"]) if "steps" in given else recipe


def _change(field, value, stored) -> str:
    """A flag given against the run's own setting, in words: a switch by what it turns on or off."""
    if isinstance(stored, bool):
        word = {True: "on", False: "off"}
        return f"{recipes.flag_of(field)} ({field.name} {word[bool(value)]}; the run has it {word[stored]})"
    return f"{recipes.flag_of(field)} {value} (the run has {stored})"


def _stored_name(name, out: Path) -> str:
    """The recipe name a checkpoint stores: "custom", a recipe of this version, or one with flags ("NAME + a, b")."""
    if not isinstance(name, str) or (name != "custom" and name.partition(" + ")[0] not in recipes.RECIPES):
        raise ValueError(f"cannot resume {out}: it names its recipe {name!r}, which is not \"custom\" or a recipe of "
                         f"this version (or one with flags: 'ch2-beta4 + seed'); train a new run with another --out")
    return name


def check_training_state(saved, out: Path, run) -> None:
    """Refuse a training state that is not the one this run wrote (crafted, hand-edited, or from another version):
    its step a count, its history the steps 0 .. step with a number per term for each, and its optimiser's settings
    (learning rates, Adam's betas...) those the recipe builds. Before, ``step`` -5 resumed at step -4 and an
    optimiser saved with another learning rate trained on at that rate while the checkpoint recorded the recipe's."""
    from vaecourse import values

    def refuse(what: str):
        raise ValueError(f"cannot resume {out}: its training state is damaged or hand-edited ({what}); the file is left "
                         "as it is: train a new run with another --out, or --overwrite")

    extra = saved.extra
    try:
        step = values.step_count.check("its step", extra["step"])
    except ValueError as err:
        refuse(str(err))
    history = extra["history"]
    if not isinstance(history, dict) or not isinstance(history.get("steps"), list) \
            or not isinstance(history.get("records"), dict):
        refuse(f"its history should be a dict of steps and records, found a {type(history).__name__}")
    if history["steps"] != list(range(step + 1)):
        refuse(f"its history holds steps {_span(history['steps'])}, expected 0 .. {step}, the steps it says it took")
    for term, record in history["records"].items():
        if not isinstance(record, list) or len(record) != step + 1 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in record):
            refuse(f"its history's {term!r} should be {step + 1} numbers, found "
                   f"{len(record) if isinstance(record, list) else type(record).__name__}")
    if step >= 0 and "loss" not in history["records"]:  # every objective logs its loss at every step
        refuse(f"its history records no loss (terms: {', '.join(map(str, history['records'])) or 'none'})")
    for key in ("seconds", "examples"):
        value = history.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
            refuse(f"its history's {key} should be a number >= 0, found {value!r}")
    total = extra.get("total_steps", step + 1)
    if isinstance(total, bool) or not isinstance(total, int) or not step + 1 <= total <= values.MAX_STEPS:
        refuse(f"its total_steps should be a number of steps of at least {step + 1}, found {total!r}")
    kept = extra.get("objective_state", {})
    if not isinstance(kept, dict) or (kept and not hasattr(run.objective, "load_state_dict")):
        refuse(f"its objective_state {values.shown(kept)} is not what this run's objective keeps (it keeps "
               f"{'a dict' if hasattr(run.objective, 'load_state_dict') else 'nothing'})")
    optimizer = extra["optimizer"]
    groups = optimizer.get("param_groups") if isinstance(optimizer, dict) else None
    if not isinstance(groups, list) or len(groups) != len(run.optimizer.param_groups):
        refuse(f"its optimiser should hold {len(run.optimizer.param_groups)} parameter groups, found "
               f"{len(groups) if isinstance(groups, list) else type(groups).__name__}")
    for i, (got, built) in enumerate(zip(groups, run.optimizer.param_groups)):
        if not isinstance(got, dict):
            refuse(f"its optimiser's group {i} is a {type(got).__name__}")
        changed = [f"{key} {got[key]!r} (the recipe's {built[key]!r})" for key in built
                   if key != "params" and key in got and got[key] != built[key]]
        if changed:
            refuse(f"its optimiser's group {i} has {', '.join(changed)}")
    params = [p for group in run.optimizer.param_groups for p in group["params"]]  # what the state's indices name
    state = optimizer.get("state", {})
    if not isinstance(state, dict) or (step >= 0 and not state):  # Adam's moments: without them, another run
        refuse("its optimiser holds no moments after a step was taken" if isinstance(state, dict) else
               f"its optimiser's state is a {type(state).__name__}")
    for index, moments in state.items():
        if not isinstance(index, int) or not 0 <= index < len(params) or not isinstance(moments, dict):
            refuse(f"its optimiser's state names parameter {index!r}; the model has {len(params)}")
        for key, value in moments.items():
            if key != "step" and isinstance(value, torch.Tensor) and tuple(value.shape) != tuple(params[index].shape):
                refuse(f"its optimiser's {key} for parameter {index} has shape {tuple(value.shape)}, the parameter "
                       f"{tuple(params[index].shape)}")
            if isinstance(value, torch.Tensor) and (not value.is_floating_point() or not torch.isfinite(value).all()
                                                    or (key in ("step", "exp_avg_sq") and (value < 0).any())):
                refuse(f"its optimiser's {key} for parameter {index} is not a finite"
                       f"{' non-negative' if key in ('step', 'exp_avg_sq') else ''} floating tensor")
        if "step" in moments and not (isinstance(moments["step"], torch.Tensor) and moments["step"].numel() == 1
                                      and float(moments["step"]) <= step + 1):
            refuse(f"its optimiser's step for parameter {index} is {moments['step']!r}, more than the {step + 1} "
                   "steps the run took")


def _span(steps: list) -> str:
    return "none" if not steps else f"{steps[0]!r} .. {steps[-1]!r} ({len(steps)} entries)"


def check_resumable(saved, out: Path, recipe) -> bool:
    """Refuse a checkpoint that this run (a :class:`vaecourse.recipes.Recipe`) cannot continue; return False when it
    already holds every step."""
    for key, flag in (("objective", "--objective"), ("dataset", "--dataset")):
        if key in saved.extra and saved.extra[key] != getattr(recipe, key):
            raise ValueError(f"cannot resume {out}: it was trained with {flag} {saved.extra[key]}, this command "
                             f"asks for {flag} {getattr(recipe, key)}")
    done = int(saved.extra["step"]) + 1
    if recipe.steps < done:
        raise ValueError(f"cannot resume {out}: it already holds {done} steps and --steps {recipe.steps} asks for "
                         f"fewer; give --steps > {done} to train further")
    return recipe.steps > done


__all__ = ["ADDED_LATER", "MAY_CHANGE", "RUN_OPTIONS", "TRAINING_STATE", "check_resumable", "check_training_state", "stored_recipe"]
