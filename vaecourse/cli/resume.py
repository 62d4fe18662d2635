"""``train --resume``: what a checkpoint must hold to be continued, and a batch stream that continues exactly.

A resumed run draws the same batches as an uninterrupted one. For rendered data (dSprites, the pendulum) every
batch is drawn from the generator alone, so its saved state is enough. Epoch-shuffled data (MNIST, digits)
draws an epoch's order once, at the epoch's first batch: restoring the generator mid-epoch would draw a new
order. So the checkpoint also keeps the generator's state at the start of the current epoch
(``epoch_generator_state``, kept up to date by :class:`EpochStart`), and :func:`resumed_batches` restores it,
starts the epoch again and skips the batches already trained on.
"""

from __future__ import annotations

from pathlib import Path

TRAINING_STATE = ("step", "optimizer", "generator_state", "torch_rng_state", "history")


def check_resumable(saved, out: Path, recipe) -> bool:
    """Refuse a checkpoint that this run (a :class:`vaecourse.recipes.Recipe`) cannot continue; return False when it
    already holds every step."""
    missing = [key for key in TRAINING_STATE if key not in saved.extra]
    if missing:
        raise ValueError(f"cannot resume {out}: it holds a {saved.model_class} without training state (no "
                         f"{', '.join(missing)}), e.g. a published or hand-saved model; load it with "
                         "checkpoints.load, or train a new run with another --out")
    for key, flag in (("objective", "--objective"), ("dataset", "--dataset")):
        if key in saved.extra and saved.extra[key] != getattr(recipe, key):
            raise ValueError(f"cannot resume {out}: it was trained with {flag} {saved.extra[key]}, this command "
                             f"asks for {flag} {getattr(recipe, key)}")
    done = int(saved.extra["step"]) + 1
    if recipe.steps < done:
        raise ValueError(f"cannot resume {out}: it already holds {done} steps and --steps {recipe.steps} asks for "
                         f"fewer; give --steps > {done} to train further")
    return recipe.steps > done


class EpochStart:
    """A ``fit`` callback that remembers the generator's state at the start of the current epoch."""

    def __init__(self, generator, steps_per_epoch: int | None, state=None):
        self.generator, self.per_epoch = generator, steps_per_epoch
        self.state = generator.get_state() if state is None else state

    def __call__(self, step: int, *_) -> None:
        if self.per_epoch and (step + 1) % self.per_epoch == 0:  # the next batch starts an epoch: its order is drawn then
            self.state = self.generator.get_state()


def resumed_batches(data, recipe, steps_per_epoch: int | None, generator, start: int, extra: dict | None):
    """Batches for steps ``start .. recipe.steps - 1``, identical to those of an uninterrupted run, and the
    :class:`EpochStart` callback that keeps the next checkpoint's ``epoch_generator_state``."""
    per_epoch = steps_per_epoch if data.examples else None
    saved_epoch = (extra or {}).get("epoch_generator_state")
    if not per_epoch or start == 0 or saved_epoch is None:  # per-batch draws (or a checkpoint from before epochs
        marks = EpochStart(generator, per_epoch)          # were kept): the generator's state is the whole story
        return data.batches(recipe.batch_size, recipe.steps - start, generator=generator), marks
    epoch_begin = start // per_epoch * per_epoch
    generator.set_state(saved_epoch)
    marks = EpochStart(generator, per_epoch, state=saved_epoch)
    stream = data.batches(recipe.batch_size, recipe.steps - epoch_begin, generator=generator)
    for _ in range(start - epoch_begin):  # the epoch's batches already trained on: drawn again, not used
        next(stream)
    return stream, marks


__all__ = ["EpochStart", "TRAINING_STATE", "check_resumable", "resumed_batches"]
