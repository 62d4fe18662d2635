"""The command line's argument checks: number types for argparse and the model/objective combinations.

Every numeric flag gets a ``type=`` that refuses what cannot mean anything (a learning rate of 0, a NaN
warm-up, a negative clipping norm) before any data is rendered or any model built, so a bad value ends in one
``error: argument --lr: expected ...`` line and exit status 2 (:class:`Parser`), never in a training run or a
traceback. The tables below attach the types to the flags by destination name (:func:`constrain`), so the verbs'
argument lists stay as they are.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

MAX_BATCH = 65_536  # one batch of 64x64 float images is 1 GiB at this size: larger is a typo (1e11), not a plan
MAX_SEED = 2 ** 63 - 1  # torch.Generator.manual_seed's range for non-negative seeds
MAX_FLOAT = 3.4e38  # training runs in float32: a larger value overflows to inf inside the optimiser
MAX_SIDE = 1024  # image side in pixels: the course's images are 28 to 64; 1024 is already 3 MiB per RGB image
MAX_DPI = 1200  # a traversal PNG of 9 columns at 1200 dpi is already poster-sized


class UsageError(Exception):
    """A command line that argparse refused; :func:`vaecourse.cli.main.main` prints it as one line."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a mistake as one ``error: ...`` line (exit status 2), not usage plus a message.

    ``--help`` and ``-h`` still print the full usage. Sub-command parsers are of the same class.
    """

    def error(self, message: str):  # noqa: D401 - argparse's hook
        raise UsageError(f"{message} (see: {self.prog} --help)")


def _number(text: str, flag_kind: str, convert: Callable[[str], float | int]) -> float | int:
    try:
        value = convert(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {flag_kind}, got {text!r}") from None
    if isinstance(value, float) and not (math.isfinite(value) and abs(value) <= MAX_FLOAT):
        raise argparse.ArgumentTypeError(f"expected {flag_kind} (a float32: at most {MAX_FLOAT:g} in size), "
                                         f"got {text!r}")
    return value


def _integer(text: str) -> int:
    return int(str(text).strip())


def positive_int(text: str) -> int:
    value = _number(text, "a positive integer", _integer)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    value = _number(text, "an integer >= 0", _integer)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _at_most(limit: int, what: str) -> Callable[[str], int]:
    def bounded(text: str) -> int:
        value = positive_int(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"expected {what} of at most {limit:,}, got {text!r}")
        return value
    bounded.__name__ = f"at_most_{limit}"
    return bounded


image_side = _at_most(MAX_SIDE, "an image side in pixels")
batch_size = _at_most(MAX_BATCH, "a batch size")
dpi = _at_most(MAX_DPI, "a resolution in dots per inch")


def seed(text: str) -> int:
    value = non_negative_int(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a seed between 0 and 2**63 - 1, got {text!r}")
    return value


def finite(text: str) -> float:
    return float(_number(text, "a finite number", float))


def positive(text: str) -> float:
    value = _number(text, "a finite number > 0", float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return float(value)


def non_negative(text: str) -> float:
    value = _number(text, "a finite number >= 0", float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return float(value)


TRAIN_TYPES = {
    "latent_dim": positive_int, "logvar_bias": finite, "image_size": image_side, "beta": non_negative,
    "kl_warmup": non_negative_int, "gamma": non_negative, "c_max": non_negative, "c_steps": positive_int,
    "c_start_step": non_negative_int, "epsilon": non_negative, "lr_dual": non_negative,
    "warmup_epochs": non_negative, "steps": positive_int, "batch_size": batch_size, "lr": positive, "seed": seed,
    "clip_grad_norm": positive, "checkpoint_every": positive_int, "concept_dim": positive_int,
    "lu_weight": non_negative, "lm_weight": non_negative, "shadow_noise": non_negative, "independence": non_negative,
    "prior_std": positive, "shadow_weight": non_negative,
}
SHOW_TYPES = {"span": positive, "columns": positive_int, "dpi": dpi}
EVALUATE_TYPES = {"n": positive_int, "k": non_negative_int, "chunk": positive_int, "seed": seed}
SITE_TYPES = {"timeout": positive_int}


def constrain(parser: argparse.ArgumentParser, types: dict[str, Callable[[str], object]]) -> None:
    """Give the flags of ``parser`` named in ``types`` (by destination) those argparse ``type=`` functions.

    A name that matches no flag is a mistake in the table (a renamed flag would lose its check): it raises.
    """
    actions = {action.dest: action for action in parser._actions}  # argparse keeps its flags here
    missing = sorted(set(types) - set(actions))
    if missing:
        raise LookupError(f"{parser.prog}: no flags {missing} to constrain")
    for dest, convert in types.items():
        actions[dest].type = convert


# which objectives each model can be trained with (the objective reads the fields of that model's output)
COMBINATIONS = {
    "vae": ("elbo", "beta", "beta_norm", "capacity", "constrained"),
    "lvae": ("elbo", "beta", "capacity", "constrained", "ladder"),  # beta_norm counts M for one latent layer
    "causalvae": ("elbo", "causal", "cvae"),
    "cvae": ("elbo", "causal", "cvae"),
}


def check_combination(recipe) -> None:
    """Refuse a model/objective/batch combination of a run (a :class:`vaecourse.recipes.Recipe`) that cannot train,
    naming the ones that can."""
    model, objective = recipe.model, recipe.objective
    allowed = COMBINATIONS.get(model)
    if allowed is not None and objective not in allowed:
        users = [m for m, names in COMBINATIONS.items() if objective in names]
        raise ValueError(f"--model {model} cannot be trained with --objective {objective}: --model {model} takes "
                         f"--objective {' | '.join(allowed)}"
                         + (f"; --objective {objective} goes with --model {' | '.join(users)}" if users else ""))
    if model == "lvae" and recipe.batch_norm and recipe.batch_size < 2:
        raise ValueError(f"--model lvae normalises each batch (batch norm): it needs --batch-size >= 2, got "
                         f"{recipe.batch_size} (or add --no-batch-norm)")


def check_batch_fits(recipe, examples: int | None) -> None:
    """A data set of ``examples`` training images (epoch-shuffled) must hold at least one batch of the run."""
    if examples is not None and recipe.batch_size > examples:
        raise ValueError(f"--batch-size {recipe.batch_size} is larger than the {recipe.dataset} training set "
                         f"({examples:,} images): an epoch would hold no batch")


__all__ = ["COMBINATIONS", "Parser", "UsageError", "batch_size", "check_batch_fits", "check_combination",
           "constrain", "dpi", "finite", "image_side", "non_negative", "non_negative_int", "positive", "positive_int",
           "seed"]
