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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
from torch import Tensor

from vaecourse import values
from vaecourse.data.epochs import shuffled_epochs
from vaecourse.runtime import default_device

Callback = Callable[[int, torch.nn.Module, object], None]
_kinds = values  # ``values`` is also History.append's argument


_STEP = values.step_count  # a step number: an int from 0 to MAX_STEPS
MIN_SECONDS = 1e-9  # perf_counter's resolution: a shorter time is none (5e-324 s gave a speed of inf)
_SECONDS = values.real(f"a time in seconds: 0, or at least {MIN_SECONDS:g}", lambda v: v == 0 or v >= MIN_SECONDS)


def _term_value(name: str, value) -> float:
    """One logged value as a float: a finite real number (a Python or numpy number, or a one-element tensor)."""
    values.with_values(name, value, values.finite.expected)  # (a meta one reached Tensor.item())
    if isinstance(value, Tensor) and value.numel() == 1 and not value.is_complex() and value.dtype != torch.bool:
        value = value.item()
    return values.finite.check(name, value)


def _series(key: str, series) -> list[float]:
    """One term's logged values as floats, each a finite real number (one vectorised pass for a list of numbers,
    then element by element to name the first that is not)."""
    try:
        array = np.asarray(series)
    except (TypeError, ValueError):
        array = None
    if array is not None and array.ndim == 1 and array.dtype.kind in "iuf" and \
            bool((np.abs(array.astype(np.float64)) <= values.MAX_FLOAT).all()) and \
            not (isinstance(series, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in series)):
        return array.astype(np.float64).tolist()
    return [_term_value(f"History's records[{key!r}][{i}]", v) for i, v in enumerate(series)]


def _no_list(value) -> bool:
    """Whether ``value`` is no list of numbers: text, a mapping, a non-iterable, or a 0-d tensor or array (which
    claims to be iterable, then raises torch's "iteration over a 0-d tensor")."""
    return isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable) \
        or (isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 0)


@dataclass
class History:
    """Per-step batch means of every term an objective reports (nats per example), plus timing.

    ``steps`` are increasing step numbers; ``records`` maps each term's name to one finite value per step;
    ``seconds`` >= 0 and ``examples`` >= 0 count the training time and the examples seen."""

    steps: list[int] = field(default_factory=list)
    records: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    examples: int = 0

    def __post_init__(self) -> None:
        if _no_list(self.steps):
            raise ValueError(f"History's steps must be a list of increasing step numbers (ints >= 0), got "
                             f"{values.shown(self.steps)}")
        steps = [_STEP.check(f"History's steps[{i}]", s) for i, s in enumerate(self.steps)]
        for i in range(1, len(steps)):
            if steps[i] <= steps[i - 1]:
                raise ValueError(f"History's steps must increase (one entry per logged step), got step {steps[i]} "
                                 f"after step {steps[i - 1]} at position {i}")
        records = values.mapping.check("History's records", self.records)
        checked: dict[str, list[float]] = {}
        for key, series in records.items():
            values.text.check("History's records' keys (term names)", key)
            if _no_list(series):
                raise ValueError(f"History's records[{key!r}] must be a list of numbers, one per step, got "
                                 f"{values.shown(series)}")
            checked[key] = _series(key, series)
            if len(checked[key]) != len(steps):
                raise ValueError(f"History's records[{key!r}] must hold one value per step ({len(steps)}), got "
                                 f"{len(checked[key])}")
        self.steps, self.records = steps, checked
        self.seconds = _SECONDS.check("History's seconds", self.seconds)
        self.examples = values.non_negative_int.check("History's examples", self.examples)

    def append(self, step: int, values: dict[str, float]) -> None:
        """Log ``values`` (term name -> finite number) at ``step``, after the last logged step; a history that
        already holds steps takes the same terms again."""
        step = _STEP.check("History.append's step", step)
        if self.steps and step <= self.steps[-1]:
            raise ValueError(f"History.append's step must come after the last logged step {self.steps[-1]}, got {step}")
        _kinds.mapping.check("History.append's values", values)
        row = {}
        for key, value in values.items():
            _kinds.text.check("History.append's values' keys (term names)", key)
            row[key] = _term_value(f"History.append's values[{key!r}]", value)
        if self.steps and set(row) != set(self.records):
            raise ValueError(f"History.append's values must have this history's terms {sorted(self.records)}, got "
                             f"{sorted(row)}")
        if not self.steps and not row:
            raise ValueError("History.append's values must hold at least one term, got {}")
        self.steps.append(step)
        for key, value in row.items():
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
    def examples_per_second(self) -> float | None:
        """Training speed, or None before any time was recorded (no rate to give)."""
        return self.examples / self.seconds if self.seconds > 0 else None

    def to_dict(self) -> dict:
        return {"steps": list(self.steps), "records": {k: list(v) for k, v in self.records.items()},
                "seconds": self.seconds, "examples": self.examples}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        if not isinstance(d, dict) or not {"steps", "records"} <= set(d) or not isinstance(d["records"], dict):
            raise ValueError("History.from_dict needs a history as to_dict writes it: a dict with 'steps' and "
                             f"'records' (a dict of term -> values), got {values._shown(d)}")
        return cls(steps=d["steps"], records=d["records"], seconds=d.get("seconds", 0.0),
                   examples=d.get("examples", 0))  # each checked by __post_init__


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


_IMAGES = "images with values (a tensor on 'cpu' or 'cuda')"


def _first_tensor(batch) -> Tensor:
    """A batch may be images, or a tuple/list/dict whose first entry (or 'x'/'images') is images."""
    if isinstance(batch, Tensor):
        return values.with_values("fit's batch", batch, _IMAGES)
    if isinstance(batch, dict):
        for key in ("x", "images", "image"):
            if key in batch:
                if not isinstance(batch[key], Tensor):
                    raise ValueError(f"fit expected the batch's {key!r} to be a tensor of images, got "
                                     f"{values.shown(batch[key])}")
                return values.with_values(f"fit's batch[{key!r}]", batch[key], _IMAGES)
    if isinstance(batch, Sequence) and batch and isinstance(batch[0], Tensor):
        return values.with_values("fit's batch[0]", batch[0], _IMAGES)
    raise ValueError(f"fit could not find images in a batch of type {type(batch).__name__}: expected a tensor, "
                     "a (images, ...) tuple or a dict with key 'x'")


def _tensor_batches(data: Tensor, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Endless shuffled minibatches from an in-memory tensor of examples (epochs back to back)."""
    for index in shuffled_epochs(data.shape[0], batch_size, generator):
        yield data[index]


def _batches(data, batch_size: int, generator: torch.Generator) -> tuple[Iterator, int | None]:
    """An endless iterator of batches, and the number of steps per epoch when it is known."""
    if isinstance(data, Tensor):
        values.with_values("fit's data", data, f"examples (N, ...) with values: {_IMAGES}")  # before any step
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


_LABELS = "labels with values (a tensor on 'cpu' or 'cuda')"


def _labels(batch, device) -> Tensor:
    """The labels u of a labelled batch: the second entry of an (images, labels) tuple, or batch['u']."""
    if isinstance(batch, dict) and "u" in batch:
        return values.with_values("fit's batch['u']", batch["u"], _LABELS).to(device)
    if isinstance(batch, Sequence) and len(batch) >= 2 and isinstance(batch[1], Tensor):
        return values.with_values("fit's batch[1] (the labels)", batch[1], _LABELS).to(device)
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
    from vaecourse.models.base import CourseModel, check_weights

    if not isinstance(model, CourseModel):
        raise ValueError(f"fit's model must be a torch.nn.Module of the course (a vaecourse CourseModel: VAE, LadderVAE, "
                         f"CausalVAE, ...), got {type(model).__name__}")
    progress = values.boolean.check("fit's progress", progress)
    desc = values.text.check("fit's desc", desc)
    objective = values.function.check("fit's objective", objective)
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"fit's optimizer must be a torch.optim.Optimizer over the model's parameters (or None: "
                         f"Adam at lr), got {type(optimizer).__name__}")
    if optimizer is not None:
        own = {id(p) for p in model.parameters()}
        theirs = [p for group in optimizer.param_groups for p in group["params"]]
        if not any(id(p) in own for p in theirs):
            raise ValueError(f"fit's optimizer must be an optimizer over the model's parameters (it would train "
                             f"nothing), got {type(optimizer).__name__} over {len(theirs)} tensors, none of them "
                             f"a parameter of this {type(model).__name__}")
        for i, group in enumerate(optimizer.param_groups):  # what fit(lr=...) refuses, an optimiser's lr too
            values.learning_rate.check(f"fit's optimizer's param_groups[{i}]['lr']", group.get("lr"))
        if isinstance(optimizer, torch.optim.LBFGS):  # its step(closure) re-evaluates the loss: fit steps once
            raise ValueError("fit's optimizer must take one step per batch (Adam, SGD, ...), got LBFGS, whose "
                             "step needs a closure that re-evaluates the loss")
    if history is not None and not isinstance(history, History):
        raise ValueError(f"fit's history must be a vaecourse.train.History (what fit returned) or None, got "
                         f"{type(history).__name__}")
    if history is not None and history.steps and start_step <= history.steps[-1]:
        raise ValueError(f"fit's start_step must come after the history's last step {history.steps[-1]} (a resumed "
                         f"run continues it), got {start_step}")
    if optimizer is None:
        lr = values.learning_rate.check("fit's lr", lr)
    if log_every is not None:
        log_every = values.positive_int.check("fit's log_every", log_every)
    if epochs is not None:
        epochs = values.epochs.check("fit's epochs", epochs)
    check_weights(model, f"fit's {type(model).__name__}", finite=True)
    dev = default_device(device)
    model.to(dev)
    if seed is not None:
        torch.manual_seed(seed)
    shuffle_gen = torch.Generator().manual_seed(0 if seed is None else seed)
    batches, per_epoch = _batches(data, batch_size, shuffle_gen)
    if steps is None:
        if per_epoch is None:
            raise ValueError("epochs=... needs data whose length is known (a tensor or a DataLoader); pass steps=...")
        if per_epoch == 0:  # [] or an empty DataLoader (or drop_last with fewer examples than a batch): no step
            raise ValueError(f"fit's data must give at least one batch per epoch to train for epochs={epochs!r}, got "
                             f"{type(data).__name__} of no batch (empty, or drop_last with fewer examples than a batch)")
        steps = int(math.ceil(epochs * per_epoch))
        if steps > values.MAX_STEPS:
            raise ValueError(f"fit's epochs must give at most {values.MAX_STEPS:,} steps ({per_epoch:,} per epoch), "
                             f"got {epochs!r} epochs = {steps:,} steps")
    steps = values.step_count.check("fit's steps", steps)  # the command line's bound: 10^9 steps is years
    if start_step + steps > values.MAX_STEPS:  # the history's last step would be refused after the training
        raise ValueError(f"fit's start_step + steps must be at most {values.MAX_STEPS:,} (the last step's number), "
                         f"got {start_step:,} + {steps:,}")
    if optimizer is None:  # Adam's eps 1e-8 is 0 in float16 (its update then divides by zero): at least the weights'
        tiny = min((torch.finfo(p.dtype).tiny for p in model.parameters() if p.is_floating_point()), default=0.0)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, eps=max(1e-8, tiny))  # smallest normal number
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
                if step == start_step:
                    raise ValueError(f"fit's data must give at least one batch, got {type(data).__name__} that gave "
                                     "none (an empty or exhausted iterator?)") from None
                break
            x = _first_tensor(batch).to(dev, non_blocking=True)
            if transform is not None:
                x = transform(x)
                if not isinstance(x, Tensor):
                    raise ValueError(f"fit's transform must return a tensor of images, got {values.shown(x)}")
                if hasattr(model, "check_pixels"):  # a refusal names the transform, not only the model
                    x = model.check_pixels(x, who=f"the {type(model).__name__}, reading fit's transform output,")
            hyper = {}
            if "step" in keywords:
                hyper["step"] = step
            if "epoch" in keywords:
                hyper["epoch"] = step / per_epoch if per_epoch else None
            output = model(x, _labels(batch, dev)) if labelled else model(x)
            terms = objective(output, x, **hyper)
            if step == start_step:
                _check_terms(terms, history)
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


def _check_terms(terms, history: History) -> None:
    """The first step's terms: a Terms whose loss is a scalar that depends on the parameters, with the terms of the
    history being continued (checked once: the same objective gives the same kinds of terms at every step)."""
    loss = getattr(terms, "loss", None)
    if not isinstance(loss, Tensor) or not hasattr(terms, "scalars"):
        raise ValueError(f"fit's objective must return a vaecourse.objectives.Terms (its .loss is minimised), got "
                         f"{values.shown(terms)}")
    if not loss.requires_grad:
        raise ValueError(f"fit's objective must return a loss that depends on the model's parameters (a tensor that "
                         f"requires grad), got a loss of {float(loss.detach()) if loss.numel() == 1 else values.shown(loss)} "
                         "with no gradient")
    if history.steps and set(terms.scalars()) != set(history.records):
        raise ValueError(f"fit's history must hold the objective's terms {sorted(terms.scalars())} to be continued, "
                         f"got a history of {sorted(history.records)}")


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
