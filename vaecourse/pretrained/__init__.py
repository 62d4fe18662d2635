"""Small checkpoints shipped with the course (train-or-load), each verified by its SHA-256.

Each was written by ``python -m vaecourse train ...`` from a named recipe (:mod:`vaecourse.recipes`; ``recipe(name)``);
the command, steps, machine, time and final terms are stored inside the checkpoint (``info(name)``) and listed in
``README.md`` beside this file. ``MANIFEST.json`` holds each file's SHA-256 and recipe name; a file whose SHA-256 does
not match is refused.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from vaecourse import checkpoints, values
from vaecourse.files import atomic_write, readable_file, sha256_of, shown_path, verify_sha256

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "MANIFEST.json"


_ENTRY = re.compile(r"[0-9a-f]{64}")  # an entry's sha256


def _installed(file: Path, what: str) -> Path:
    """``file`` of the install when it is a regular file to read (a FIFO there would hang the read, a link to
    /dev/zero never end it: readable_file); absent: a FileNotFoundError; there but no regular file (or unreadable):
    one ValueError line saying the install is damaged."""
    try:
        return readable_file(file, what)
    except ValueError as err:
        reason, lead = str(err), f"the {what} {shown_path(file)} "
        reason = f"it {reason[len(lead):]}" if reason.startswith(lead) else reason  # "it is a FIFO: expected ..."
        raise ValueError(f"the {what} {shown_path(file)} is damaged: {reason}; reinstall vaecourse") from None


def _manifest() -> dict[str, dict[str, Any]]:
    """The manifest {name: {"sha256", "bytes", "recipe"}}, or a ValueError saying the install is damaged."""
    try:
        _installed(MANIFEST, "shipped manifest")
    except FileNotFoundError:  # (none shipped: no checkpoints)
        return {}
    damaged = f"the shipped manifest {shown_path(MANIFEST)} is damaged"
    try:
        manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:  # (json's JSONDecodeError is a ValueError)
        raise ValueError(f"{damaged} ({type(err).__name__}: {err}); reinstall vaecourse") from None
    for name, entry in manifest.items() if isinstance(manifest, dict) else [(None, None)]:
        if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and _ENTRY.fullmatch(entry["sha256"])
                and isinstance(entry.get("recipe"), str)):
            raise ValueError(f"{damaged}: expected each entry to hold a SHA-256 and a recipe name, got "
                             f"{values.shown(entry if name is not None else manifest)}"
                             f"{f' for {name!r}' if name is not None else ''}; reinstall vaecourse")
    return manifest


def names() -> list[str]:
    """The checkpoints listed in the manifest."""
    return sorted(_manifest())


def path(name: str) -> Path:
    """The file of shipped checkpoint ``name``: a plain name (letters, digits, _ and -), never a path, so that no
    name can reach outside this folder."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"a shipped checkpoint's name is letters, digits, '_' and '-' (e.g. "
                         f"'ch5_causalvae_promise_pendulum32'; `pretrained.names()` lists them), got {values.shown(name)}")
    return HERE / f"{name}.pt"


def available(name: str) -> bool:
    """True when ``name`` is listed and its file is present; a string that is not a plain name (see :func:`path`)
    is never listed, and anything but a string (None, 3) is refused."""
    from vaecourse import values
    values.text.check("available's name (a shipped checkpoint's name)", name)
    return name in _manifest() and path(name).is_file()


def _verified(name: str) -> Path:
    path(name)  # a plain name, or a ValueError saying what a name is
    manifest = _manifest()
    if name not in manifest:
        raise ValueError(f"no shipped checkpoint called {name!r}; available: {names()}")
    file = path(name)
    try:
        _installed(file, "shipped checkpoint")
    except FileNotFoundError:
        raise FileNotFoundError(f"the shipped checkpoint {shown_path(file)} is missing (reinstall vaecourse)") from None
    return verify_sha256(file, manifest[name]["sha256"], "Reinstall vaecourse")


def load(name: str, map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """The shipped model ``name``, verified, in eval mode."""
    return checkpoints.load(_verified(name), map_location=map_location)


def recipe(name: str):
    """The recipe (:class:`vaecourse.recipes.Recipe`) the shipped checkpoint ``name`` was trained from."""
    from vaecourse import recipes

    path(name)
    manifest = _manifest()
    if name not in manifest:
        raise ValueError(f"no shipped checkpoint called {name!r}; available: {names()}")
    return recipes.get(manifest[name]["recipe"])


def info(name: str) -> dict[str, Any]:
    """How ``name`` was made: command, steps, seconds, machine, final terms (from the checkpoint itself)."""
    saved = checkpoints.read(_verified(name))
    extra = saved.extra
    history = extra.get("history", {}).get("records", {})
    last = {k: sum(v[-100:]) / len(v[-100:]) for k, v in history.items() if v}
    return {"steps": int(extra.get("step", -1)) + 1, "command": extra.get("command"),
            "seconds": extra.get("seconds"), "machine": extra.get("machine"), "final_terms": last,
            "hparams": saved.hparams}


__all__ = ["available", "info", "load", "names", "path", "recipe"]


def publish(source: str | Path, name: str) -> Path:
    """Maintainers: copy a ``train`` checkpoint here without its optimiser state, and record its SHA-256 and recipe.

    The slim copy keeps the model, the command line, steps, seconds, machine and the history of terms. The source must
    have been trained from a named recipe as it stands (``train --recipe NAME`` with no field changed).
    """
    from vaecourse import recipes, values

    source = values.path.check("publish's source (a checkpoint file)", source)
    path(name)  # the name checked before anything is read or written
    saved = checkpoints.read(source)
    recipe_name = saved.extra.get("recipe")
    if recipe_name not in recipes.RECIPES:
        raise ValueError(f"{source} was trained from {recipe_name!r}, not from one of the course's recipes "
                         f"{tuple(recipes.RECIPES)}: train it with --recipe NAME (and no other field changed)")
    keep = {k: v for k, v in saved.extra.items() if k not in {"optimizer", "generator_state", "torch_rng_state"}}
    target = checkpoints.save(saved.model, path(name), **keep)
    manifest = _manifest()
    manifest[name] = {"sha256": sha256_of(target), "bytes": target.stat().st_size, "recipe": recipe_name}
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    atomic_write(MANIFEST, lambda tmp: Path(tmp).write_text(text))
    return target


__all__.append("publish")


def history(name: str):
    """The training History (per-step terms: loss, elbo, log_px_z, kl, beta, ...) stored in ``name``, verified."""
    from vaecourse.train import History

    return History.from_dict(checkpoints.read(_verified(name)).extra.get("history", {"steps": [], "records": {}}))


__all__.append("history")
