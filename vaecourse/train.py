"""fit(): the one training loop of the course (chapter 1 writes it by hand once; later chapters call this).

It knows a model and an objective only by what they declare:
    output = model(x)  (model(x, u) when ``model.takes_labels``);
    terms = objective(output, x[, step=..., epoch=...])  (what ``@schedule(...)`` says it reads);  terms.loss.backward()
Everything else (live plots, checkpoints, schedules read from the step) hangs on callbacks
``callback(step, model, terms)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
from torch import Tensor

from vaecourse import values
from vaecourse.data.epochs import shuffled_epochs
from vaecourse.runtime import default_device

Callback = Callable[[int, torch.nn.Module, object], None]


@dataclass
class History:
    """Per-step batch means of every term an objective reports (nats per example), plus timing."""

    steps: list[int] = field(default_factory=list)
    records: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    examples: int = 0

    def append(self, step: int, values: dict[str, float]) -> None:
        self.steps.append(step)
        for key, value in values.items():
            self.records.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.records:
            raise KeyError(f"no term {key!r} in this history; it has {sorted(self.records)}")
        return np.asarray(self.records[key])

    def __len__(self) -> int:
        return len(self.steps)

    def keys(self) -> list[str]:
        return list(self.records)

    def last(self, window: int = 1) -> dict[str, float]:
        """Mean of each term over the last ``window`` logged steps."""
        window = values.positive_int.check("History.last's window", window)
        return {k: float(np.mean(v[-window:])) for k, v in self.records.items()}

    @property
    def examples_per_second(self) -> float:
        return self.examples / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict:
        return {"steps": list(self.steps), "records": {k: list(v) for k, v in self.records.items()},
                "seconds": self.seconds, "examples": self.examples}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        if not isinstance(d, dict) or not {"steps", "records"} <= set(d) or not isinstance(d["records"], dict):
            raise ValueError("History.from_dict needs a history as to_dict writes it: a dict with 'steps' and "
                             f"'records' (a dict of term -> values), got {values._shown(d)}")
        return cls(steps=list(d["steps"]), records={k: list(v) for k, v in d["records"].items()},
                   seconds=float(d.get("seconds", 0.0)), examples=int(d.get("examples", 0)))


class StopTraining(Exception):
    """Raised by a callback to end training after the step that just finished (fit returns the history)."""


class Every:
    """Run ``callback`` only every ``n`` steps (and at step 0): ``fit(..., callbacks=[Every(100, plot)])``."""

    def __init__(self, n: int, callback: Callback):
        self.n = values.positive_int.check("Every's n (run the callback every n steps)", n)
        self.callback = values.function.check("Every's callback", callback)

    def __call__(self, step: int, model: torch.nn.Module, terms) -> None:
        if step % self.n == 0:
            self.callback(step, model, terms)


def _first_tensor(batch) -> Tensor:
    """A batch may be images, or a tuple/list/dict whose first entry (or 'x'/'images') is images."""
    if isinstance(batch, Tensor):
        return batch
    if isinstance(batch, dict):
        for key in ("x", "images", "image"):
            if key in batch:
                return batch[key]
    if isinstance(batch, Sequence) and batch and isinstance(batch[0], Tensor):
        return batch[0]
    raise ValueError(f"fit could not find images in a batch of type {type(batch).__name__}: expected a tensor, "
                     "a (images, ...) tuple or a dict with key 'x'")


def _tensor_batches(data: Tensor, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Endless shuffled minibatches from an in-memory tensor of examples (epochs back to back)."""
    for index in shuffled_epochs(data.shape[0], batch_size, generator):
        yield data[index]


def _batches(data, batch_size: int, generator: torch.Generator) -> tuple[Iterator, int | None]:
    """An endless iterator of batches, and the number of steps per epoch when it is known."""
    if isinstance(data, Tensor):
        if data.dim() == 0 or data.shape[0] == 0:
            raise ValueError(f"fit's data must hold at least one example (a tensor (N, ...) with N >= 1), got an "
                             f"empty tensor of shape {tuple(data.shape)}")
        return _tensor_batches(data, batch_size, generator), max(1, data.shape[0] // batch_size)
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise ValueError(f"fit's data must be a tensor of examples or an iterable of batches, got "
                         f"{type(data).__name__}")
    per_epoch = len(data) if hasattr(data, "__len__") and not isinstance(data, Iterator) else None

    def cycle() -> Iterator:
        while True:
            produced = False
            for batch in data:
                produced = True
                yield batch
            if not produced or isinstance(data, Iterator):
                return  # an exhausted one-shot iterator (or an empty iterable) ends training

    return cycle(), per_epoch


def _labels(batch, device) -> Tensor:
    """The labels u of a labelled batch: the second entry of an (images, labels) tuple, or batch['u']."""
    if isinstance(batch, dict) and "u" in batch:
        return batch["u"].to(device)
    if isinstance(batch, Sequence) and len(batch) >= 2 and isinstance(batch[1], Tensor):
        return batch[1].to(device)
    raise ValueError("this model takes labels (model(x, u)): give fit batches of (images, labels) or dicts with 'u'")


def _schedule(objective: Callable) -> tuple[str, ...]:
    """What of the schedule ``objective`` declares it reads (``@schedule("step")``, seen through partials)."""
    while isinstance(objective, partial):
        objective = objective.func
    return tuple(getattr(objective, "schedule", ()))


def fit(model: torch.nn.Module, objective: Callable, data, *, steps: int | None = None, epochs: float | None = None,
        batch_size: int = 64, lr: float = 1e-3, optimizer: torch.optim.Optimizer | None = None,
        device: str | torch.device | None = "auto", seed: int | None = 0, clip_grad_norm: float | None = None,
        transform: Callable[[Tensor], Tensor] | None = None, callbacks: Sequence[Callback] = (),
        progress: bool = True, log_every: int | None = None, desc: str = "training",
        start_step: int = 0, history: History | None = None) -> History:
    """Train ``model`` by minimising ``objective(model(x), x).loss``; return the History of its terms.

    data       a tensor of examples (shuffled into ``batch_size`` minibatches), or any iterable of
               batches (a DataLoader, ``DSprites.batches(...)``); batches may be (images, factors) tuples.
    steps      optimiser steps to take, or ``epochs`` over the data (needs a known epoch length).
    device     "auto" picks cuda, then mps, then cpu; the model and every batch are moved there.
    seed       seeds torch (and the shuffling) so CPU runs repeat exactly at one thread count (the thread
               governor may change it with the load: VAECOURSE_THREADS=N fixes it); None leaves RNGs alone.
    transform  applied to each batch on the device (e.g. dynamic binarisation, pooling).
    log_every  steps between reads of the terms from the device (1 on CPU, 10 on accelerators): also
               how often non-finite values are looked for.
    start_step, history  continue a run (resume) with its step counter and history.

    A model with ``takes_labels`` (CausalVAE) is called as ``model(x, u)`` with the second entry of each
    (images, labels) batch; an objective gets the step and epoch it declares (``@schedule("step")``).

    A NaN or infinite loss or term stops training with a FloatingPointError naming the step and term. A callback
    that raises :class:`StopTraining` ends training after its step (Ctrl-C in the command line).
    """
    if (steps is None) == (epochs is None):
        raise ValueError("fit needs exactly one of steps=... or epochs=...")
    batch_size = values.batch_size.check("fit's batch_size", batch_size)  # the checks Recipe and the CLI apply
    clip_grad_norm = values.positive.or_none().check("fit's clip_grad_norm", clip_grad_norm)
    start_step = values.step_count.check("fit's start_step", start_step)
    seed = values.seed.or_none().check("fit's seed", seed)  # as seed_everything: torch's manual_seed took -1
    transform = values.function.or_none().check("fit's transform", transform)
    callbacks = values.functions.check("fit's callbacks", callbacks)
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"fit's model must be a torch.nn.Module (e.g. a vaecourse.models.VAE), got "
                         f"{type(model).__name__}")
    objective = values.function.check("fit's objective", objective)
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"fit's optimizer must be a torch.optim.Optimizer over the model's parameters (or None: "
                         f"Adam at lr), got {type(optimizer).__name__}")
    if history is not None and not isinstance(history, History):
        raise ValueError(f"fit's history must be a vaecourse.train.History (what fit returned) or None, got "
                         f"{type(history).__name__}")
    if optimizer is None:
        lr = values.learning_rate.check("fit's lr", lr)
    if log_every is not None:
        log_every = values.positive_int.check("fit's log_every", log_every)
    if epochs is not None:
        epochs = values.epochs.check("fit's epochs", epochs)
    dev = default_device(device)
    model.to(dev)
    if seed is not None:
        torch.manual_seed(seed)
    shuffle_gen = torch.Generator().manual_seed(0 if seed is None else seed)
    batches, per_epoch = _batches(data, batch_size, shuffle_gen)
    if steps is None:
        if per_epoch is None:
            raise ValueError("epochs=... needs data whose length is known (a tensor or a DataLoader); pass steps=...")
        steps = int(math.ceil(epochs * per_epoch))
    steps = values.step_count.check("fit's steps", steps)  # the command line's bound: 10^9 steps is years
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    log_every = log_every or (1 if dev.type == "cpu" else 10)
    keywords = _schedule(objective)
    labelled = getattr(model, "takes_labels", False)
    history = history if history is not None else History()

    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, desc=desc, leave=True)
    pending: list[tuple[int, dict[str, Tensor]]] = []
    model.train()
    started = time.perf_counter()
    step = start_step
    try:
        for step in range(start_step, start_step + steps):
            try:
                batch = next(batches)
            except StopIteration:
                break
            x = _first_tensor(batch).to(dev, non_blocking=True)
            if transform is not None:
                x = transform(x)
            hyper = {}
            if "step" in keywords:
                hyper["step"] = step
            if "epoch" in keywords:
                hyper["epoch"] = step / per_epoch if per_epoch else None
            output = model(x, _labels(batch, dev)) if labelled else model(x)
            terms = objective(output, x, **hyper)
            optimizer.zero_grad(set_to_none=True)
            terms.loss.backward()
            if clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            optimizer.step()
            history.examples += x.shape[0]
            pending.append((step, terms.scalars()))
            if len(pending) >= log_every:
                _flush(pending, history, bar)
            try:
                for callback in callbacks:
                    callback(step, model, terms)
            except StopTraining:
                break
        _flush(pending, history, bar)
    finally:
        history.seconds += time.perf_counter() - started
        if bar is not None:
            bar.close()
    return history


def _flush(pending: list[tuple[int, dict[str, Tensor]]], history: History, bar) -> None:
    """Move pending per-step terms from the device into the history, failing loudly on NaN/inf."""
    if not pending:
        return
    keys = list(pending[0][1])
    table = torch.stack([torch.stack([values[k].float() for k in keys]) for _, values in pending]).cpu()  # (n, terms)
    bad = ~torch.isfinite(table)
    if bad.any():
        row, col = (int(i) for i in bad.nonzero()[0])
        step = pending[row][0]
        raise FloatingPointError(
            f"training stopped at step {step}: the term {keys[col]!r} is {table[row, col].item()} "
            f"(other terms: {', '.join(f'{k}={table[row, j].item():.4g}' for j, k in enumerate(keys) if j != col)}). "
            "Lower the learning rate, clip gradients (clip_grad_norm=...) or check the input range.")
    for (step, _), row in zip(pending, table.tolist()):
        history.append(step, dict(zip(keys, row)))
    if bar is not None:
        last = dict(zip(keys, table[-1].tolist()))
        bar.set_postfix(loss=f"{last['loss']:.1f}", elbo=f"{last['elbo']:.1f}", refresh=False)
        bar.update(len(pending))
    pending.clear()


__all__ = ["Every", "History", "StopTraining", "fit"]
