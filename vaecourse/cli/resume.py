"""``train --resume``: what a checkpoint must hold to be continued, and the run it continues.

A resumed run is the run the checkpoint stored: its recipe's fields come from the checkpoint's ``arguments``, and
a flag that would change one of them is refused (the checkpoint would record the new value as if it had been one
run, and Adam would even keep the old learning rate); only ``--steps`` may change, to train further. The batches
continue exactly (:meth:`vaecourse.recipes.Run.batches`).
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

from vaecourse import recipes

TRAINING_STATE = ("step", "optimizer", "generator_state", "torch_rng_state", "history")
MAY_CHANGE = ("steps",)  # what a resumed run may be given anew


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
    name = str(saved.extra.get("recipe", "custom"))
    try:
        recipe = recipes.Recipe(**{k: stored[k] for k in recipes.FIELDS if k in stored and k != "name"},
                                name="custom")
    except (TypeError, ValueError) as err:
        raise ValueError(f"cannot resume {out}: the run it stores is not one this version can rebuild ({err})") \
            from None
    recipe = replace(recipe, name=name)
    given = {k: v for k, v in vars(args).items() if k in recipes.FIELDS}
    changed = [f"{recipes.flag_of(f)} {given[f.name]} (the run has {getattr(recipe, f.name)})"
               for f in fields(recipe) if f.name in given and f.name not in MAY_CHANGE
               and f.metadata["kind"].check(f.name, given[f.name]) != getattr(recipe, f.name)]
    if args.recipe:  # a named recipe may continue the run when it is the same run with more steps (ch1-vae-3000)
        named = recipes.get(args.recipe)
        differ = [f.name for f in fields(named) if f.name not in ("name", *MAY_CHANGE)
                  and getattr(named, f.name) != getattr(recipe, f.name)]
        if differ:
            changed.insert(0, f"--recipe {args.recipe} (the run is {name}; they differ in {', '.join(differ)})")
        elif not changed:
            recipe = replace(recipe, name=named.name if "steps" not in given else f"{named.name} + steps",
                             steps=named.steps)
    if changed:
        raise ValueError(f"cannot resume {out} with other settings: {'; '.join(changed)}. A resumed run continues "
                         "the run it saved (only --steps may change); to train with other settings, start a new run "
                         "with another --out (or --overwrite)")
    return replace(recipe, steps=given["steps"]) if "steps" in given else recipe


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


__all__ = ["MAY_CHANGE", "TRAINING_STATE", "check_resumable", "stored_recipe"]
