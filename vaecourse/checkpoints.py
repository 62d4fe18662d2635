"""Save and load models with their constructor hyper-parameters, safely.

A checkpoint is a plain dict of tensors and Python values, written with ``torch.save`` to a
temporary file in the target folder and renamed into place (never a half-written file), and
read back with ``torch.load(..., weights_only=True)`` (no pickled code is ever executed).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import vaecourse
from vaecourse.files import atomic_write  # re-exported: checkpoints.atomic_write
from vaecourse.models.base import MODEL_REGISTRY

FORMAT = "vaecourse-checkpoint/1"


def save(model: torch.nn.Module, path: str | os.PathLike, **extra: Any) -> Path:
    """Write ``model`` (class name, hyper-parameters, weights, package version) and ``extra`` to ``path``.

    ``extra`` holds plain values and tensors only (steps, histories as dicts, optimiser state_dicts,
    scores): anything ``torch.load(weights_only=True)`` can read back.
    """
    name = type(model).__name__
    if name not in MODEL_REGISTRY or not hasattr(model, "hparams"):
        raise ValueError(f"cannot save a {name}: only registered vaecourse models ({sorted(MODEL_REGISTRY)}) "
                         "can be rebuilt from a checkpoint")
    payload = {"format": FORMAT, "vaecourse_version": vaecourse.__version__, "model_class": name,
               "hparams": dict(model.hparams),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "extra": extra}

    def write_and_verify(tmp: str) -> None:
        torch.save(payload, tmp)
        try:  # never replace a good checkpoint by one that load() would refuse
            torch.load(tmp, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError("cannot save: the extra values must be plain Python values and tensors "
                             f"(what torch.load(weights_only=True) reads back); {_first_line(err)}") from err

    return atomic_write(path, write_and_verify)


def _first_line(err: Exception) -> str:
    """An exception's first line without terminal colour codes: ``TypeName: message``."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"


@dataclass(frozen=True)
class Checkpoint:
    model: torch.nn.Module
    extra: dict[str, Any]
    model_class: str
    hparams: dict[str, Any]
    vaecourse_version: str


def read(path: str | os.PathLike, *, expected_class: str | type | None = None,
         map_location: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model stored at ``path`` and return it with the ``extra`` values saved beside it.

    Raises ValueError for a file that is not a vaecourse checkpoint (corrupted, truncated, foreign)
    or that holds another model class than ``expected_class``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, random bytes, a pickle with code in it...
        raise ValueError(f"{path} is not a readable vaecourse checkpoint (corrupted, truncated, or written by "
                         f"something else): {_first_line(err)}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"{path} is not a vaecourse checkpoint: expected format {FORMAT!r}, found {found!r}")
    name = payload["model_class"]
    if expected_class is not None:
        expected = expected_class if isinstance(expected_class, str) else expected_class.__name__
        if name != expected:
            raise ValueError(f"{path} holds a {name} model, but a {expected} was expected")
    if name not in MODEL_REGISTRY:
        raise ValueError(f"{path} holds a model of unknown class {name!r}; known: {sorted(MODEL_REGISTRY)}")
    try:
        model = MODEL_REGISTRY[name](**payload["hparams"])
    except TypeError as err:  # hyper-parameters of another model (or another version)
        raise ValueError(f"{path}: the hyper-parameters {payload['hparams']} do not fit a {name}: {err}") from err
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{path}: the weights do not fit a {name}{payload['hparams']}: {err}") from err
    model.to(map_location)
    return Checkpoint(model=model, extra=payload.get("extra", {}), model_class=name,
                      hparams=payload["hparams"], vaecourse_version=payload.get("vaecourse_version", "?"))


def load(path: str | os.PathLike, *, expected_class: str | type | None = None,
         map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """The model stored at ``path`` (see :func:`read` for the extras and the errors), in eval mode."""
    return read(path, expected_class=expected_class, map_location=map_location).model.eval()


__all__ = ["Checkpoint", "atomic_write", "load", "read", "save"]
