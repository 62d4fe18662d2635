"""Save and load models with their constructor hyper-parameters, safely.

A checkpoint is a plain dict of tensors and Python values, written with ``torch.save`` to a
temporary file in the target folder and renamed into place (never a half-written file), and
read back with ``torch.load(..., weights_only=True)`` (no pickled code is ever executed).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import vaecourse
from vaecourse import values
from vaecourse.files import atomic_write  # re-exported: checkpoints.atomic_write
from vaecourse.files import read_once, shown_path
from vaecourse.models.base import MODEL_REGISTRY, check_weights

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
    check_weights(model, f"save's {name}")  # nothing is written
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    for key, tensor in state.items():  # read() would refuse the file: nothing is written
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(f"cannot save {shown_path(path)}: the {name}'s weights must be finite, got NaN or inf "
                             f"in {key} (the run that trained it diverged: train again with a smaller lr or "
                             f"clip_grad_norm); nothing was written")
    for key, value in extra.items():  # what read() gives back as it was, and what content_digest reads alike
        if not _plain(value):
            raise ValueError(f"cannot save {shown_path(path)}: the extra value {key!r} must be a plain Python value "
                             f"or a dense tensor (int, float, str, bool, None, lists, tuples, dicts of them), got "
                             f"{_kinds(value)}; nothing was written")
    payload = {"format": FORMAT, "vaecourse_version": vaecourse.__version__, "model_class": name,
               "hparams": dict(model.hparams), "state_dict": state, "state_digest": state_digest(state),
               "extra": extra}
    payload["content_digest"] = content_digest(payload)

    def write_and_verify(tmp: str) -> None:
        buffer = io.BytesIO()  # torch's zip writer turns a full disk (ENOSPC, EFBIG) into "unexpected pos" words:
        torch.save(payload, buffer)  # the bytes are written by Python, whose OSError names the file (atomic_write)
        with open(tmp, "wb") as handle:  # (every extra value is plain, checked above: pickle stores each of them)
            handle.write(buffer.getbuffer())
        back = torch.load(tmp, map_location="cpu", weights_only=True)  # never replace a good checkpoint by a bad one
        if content_digest(back) != payload["content_digest"]:
            raise ValueError(f"cannot save {shown_path(path)}: some extra values do not read back as they were "
                             f"written (plain Python values and tensors only: int, float, str, bool, None, lists, "
                             f"tuples, dicts); nothing was written")

    return atomic_write(path, write_and_verify)


PLAIN = (bool, int, float, str, type(None))


def _plain(value: Any) -> bool:
    """Whether ``value`` is tensors and plain values all the way down (a set's order, and so its digest, changes from
    one Python process to the next; a numpy number or an object is not what a safe load reads back as itself)."""
    if isinstance(value, dict):
        return all(_plain(k) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, torch.Tensor):  # a dense tensor in memory (a meta or sparse one does not read back alike)
        return type(value) in (torch.Tensor, torch.nn.Parameter) and value.layout == torch.strided \
            and value.device.type != "meta" and not value.is_nested and not value.is_quantized
    return type(value) in PLAIN


def _kinds(value: Any) -> str:
    """The first value in ``value`` that is not plain, in words."""
    if isinstance(value, dict):
        value = next(iter([k for k in value if not _plain(k)] + [v for v in value.values() if not _plain(v)]))
        return _kinds(value)
    if isinstance(value, (list, tuple)):
        return _kinds(next(v for v in value if not _plain(v)))
    if isinstance(value, torch.Tensor):
        return f"a {type(value).__qualname__} of layout {value.layout} on {value.device}"
    return f"a {type(value).__module__}.{type(value).__qualname__}".replace("builtins.", "")


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict: every tensor's name, dtype, shape and bytes, in name order. torch's zip reader does
    not check the archive's CRCs, so a flipped byte in the weights would load silently; :func:`read` compares this."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"state_digest expected a state dict (name -> tensor holding values), got "
                         f"{type(state).__name__}")
    for key, tensor in state.items():  # (a meta tensor has no bytes to digest)
        values.with_values(f"state_digest's {key}", tensor, "a state dict (name -> tensor holding values)")
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


DIGESTED = ("model_class", "hparams", "state_dict", "extra")  # what content_digest covers (the whole checkpoint)


def content_digest(payload: dict) -> str:
    """SHA-256 of everything a checkpoint holds but its format and digests: the model class, hyper-parameters,
    weights and every extra value (optimiser state, RNG states, history, the stored recipe). A flipped byte in the
    optimiser's moments or in a stored learning rate would otherwise resume a run silently changed; :func:`read`
    compares it (files written before it existed carry only :func:`state_digest`)."""
    if not isinstance(payload, dict):
        raise ValueError(f"content_digest expected a checkpoint's payload (a dict), got {type(payload).__name__}")
    digest = hashlib.sha256()

    def feed(value) -> None:
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            digest.update(f"T{tensor.dtype}{tuple(tensor.shape)}|".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
        elif isinstance(value, dict):
            digest.update(f"D{len(value)}|".encode())
            for key, item in value.items():  # insertion order: what torch.load gives back
                feed(key)
                feed(item)
        elif isinstance(value, (list, tuple)):
            digest.update(f"{type(value).__name__[0]}{len(value)}|".encode())
            for item in value:
                feed(item)
        else:  # str, int, float (repr round-trips exactly), bool, None, torch.Size...
            digest.update(f"{type(value).__name__}:{value!r}|".encode())

    for key in DIGESTED:
        feed(key)
        feed(payload.get(key))
    return digest.hexdigest()


def _first_line(err: Exception) -> str:
    """An exception's first line without terminal colour codes: ``TypeName: message``."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()
    first = text.splitlines()[0] if text else ""
    if "weights_only" in first or "weights only" in first.lower():  # torch's advice to load unsafely: never passed on
        first = "a safe load (weights_only=True) could not read it"
    return f"{type(err).__name__}: {first}"


@dataclass(frozen=True)
class Checkpoint:
    model: torch.nn.Module
    extra: dict[str, Any]
    model_class: str
    hparams: dict[str, Any]
    vaecourse_version: str


ZIP_END = b"PK\x05\x06"  # a zip archive's end-of-central-directory record: torch writes it last, 22 bytes, no comment


def _check_archive_end(path: Path, data: bytes) -> None:
    """A zip archive (what torch.save writes) must end with its end record: bytes appended after it are read past
    by torch's zip reader without a word, so a file that grew (a copy gone wrong, a log written onto it) is refused."""
    if not data.startswith(b"PK\x03\x04"):
        return  # not a zip: torch.load says what it is
    if data[-22:].startswith(ZIP_END):
        return
    block = data[-(1 << 20):]  # where the archive ended, to say how much was added
    end = block.rfind(ZIP_END)
    if end >= 0 and len(block) - end > 22:  # (no end record at all: cut short, which torch.load's words report)
        raise ValueError(f"{shown_path(path)} is damaged: {len(block) - end - 22:,} bytes follow the end of its "
                         f"archive (a file appended to or written over); expected a vaecourse checkpoint exactly as "
                         f"it was written")


def _what_it_is(data: bytes) -> str:
    """What a file that torch cannot load is, when its first bytes say so ('' when only torch's words can tell)."""
    head = data[:16]
    if not head:
        return "the file is empty (0 bytes)"
    if not head.startswith((b"PK\x03\x04", b"\x80")):  # a zip archive (torch.save) or a pickle (older torch)
        return f"it is not a torch archive: it starts with {head!r}"
    return ""


def read(path: str | os.PathLike, *, expected_class: str | type | None = None,
         map_location: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model stored at ``path`` and return it with the ``extra`` values saved beside it.

    Raises ValueError for a file that is not a vaecourse checkpoint (corrupted, truncated, foreign)
    or that holds another model class than ``expected_class``.
    """
    known = isinstance(expected_class, str) or (isinstance(expected_class, type) and
                                                issubclass(expected_class, torch.nn.Module))
    if expected_class is not None and not known:
        raise TypeError(f"read's expected_class must be a model class or its name (e.g. 'VAE'), got "
                        f"{expected_class!r}")
    if isinstance(expected_class, str) and expected_class not in MODEL_REGISTRY:  # '' read "but a  was expected"
        raise ValueError(f"read's expected_class must be one of {sorted(MODEL_REGISTRY)}, got {expected_class!r}")
    try:
        device = torch.device(map_location) if isinstance(map_location, (str, torch.device)) else None
    except RuntimeError:  # 'gpu9'
        device = None
    if device is None or device.type == "meta":
        raise ValueError(f"read's map_location must be a device that holds values ('cpu', 'cuda', a torch.device), "
                         f"got {map_location!r}")
    if device.type == "cuda" and not torch.cuda.is_available():  # torch's error blamed the (good) file
        raise ValueError(f"read's map_location must be a device this machine has, got {map_location!r}: CUDA is not "
                         f"available")
    # ~ expanded; absent or a link to nothing: "no checkpoint at PATH"; EIO (/proc/self/mem) names it; read once
    path, data = read_once(path, "checkpoint")
    _check_archive_end(path, data)
    try:
        with warnings.catch_warnings():  # torch's two-line "Detected pickle protocol" warning for a plain pickle
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, random bytes, pickled code...
        found = re.search(r"GLOBAL (\S+)", str(err)) if isinstance(err, pickle.UnpicklingError) else None
        if found:  # pickled code or objects: refused, and never worth running (torch's advice to do so is dropped)
            raise ValueError(f"{shown_path(path)} is not a readable vaecourse checkpoint: it holds pickled Python "
                             f"objects ({found.group(1)}) that a safe load refuses to run; vaecourse checkpoints "
                             f"hold only tensors and plain values, so do not load this file") from None
        raise ValueError(f"{shown_path(path)} is not a readable vaecourse checkpoint (corrupted, truncated, or "
                         f"written by something else): {_what_it_is(data) or _first_line(err)}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"{shown_path(path)} is not a vaecourse checkpoint: expected format {FORMAT!r}, found "
                         f"{found!r}")
    _check_payload(path, payload, data)
    name = payload["model_class"]
    if expected_class is not None:
        expected = expected_class if isinstance(expected_class, str) else expected_class.__name__
        if name != expected:
            raise ValueError(f"{shown_path(path)} holds a {name} model, but a {expected} was expected")
    if name not in MODEL_REGISTRY:
        raise ValueError(f"{shown_path(path)} holds a model of unknown class {name!r}; known: {sorted(MODEL_REGISTRY)}")
    try:
        # shapes only (hyper-parameters edited to 10^6 units allocate nothing here), the random state kept
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            shapes = MODEL_REGISTRY[name](**payload["hparams"])
    except (TypeError, ValueError) as err:  # hyper-parameters of another model (or another version, or hand-edited)
        raise ValueError(f"{shown_path(path)}: the hyper-parameters {payload['hparams']} do not fit a {name}: "
                         f"{err}") from None
    except (RuntimeError, NotImplementedError):  # a model that reads values while it is built: checked when built
        shapes = None
    if shapes is not None:
        _check_weights_fit(path, payload, shapes.state_dict(), name)
    try:
        model = MODEL_REGISTRY[name](**payload["hparams"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{shown_path(path)}: the hyper-parameters {payload['hparams']} do not fit a {name}: "
                         f"{err}") from None
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{shown_path(path)}: the weights do not fit a {name}{payload['hparams']}: "
                         f"{str(err).splitlines()[0]}") from None
    if "content_digest" in payload and payload["content_digest"] != content_digest(payload):
        raise ValueError(f"{shown_path(path)} is damaged or was edited by hand: what it holds (hyper-parameters, "
                         f"training state or history) does not match the digest stored when it was written; train it "
                         f"again or copy it again from its source")
    model.to(map_location)
    return Checkpoint(model=model, extra=payload.get("extra", {}), model_class=name,
                      hparams=payload["hparams"], vaecourse_version=str(payload.get("vaecourse_version", "?")))


def _check_payload(path: Path, payload: dict, data: bytes) -> None:
    """Each part of a checkpoint of the right type, its weights whole (the digest, when stored) and finite."""
    for key, kind in (("model_class", str), ("hparams", dict), ("state_dict", dict), ("extra", dict),
                      ("vaecourse_version", str)):
        if key not in payload and key != "extra":
            raise ValueError(f"{shown_path(path)} is damaged or hand-edited: it has no {key!r}")
        if key in payload and not isinstance(payload[key], kind):
            raise ValueError(f"{shown_path(path)} is damaged or hand-edited: {key!r} should be a {kind.__name__}, "
                             f"found a {type(payload[key]).__name__}")
    state = payload["state_dict"]
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"{shown_path(path)} is damaged or hand-edited: the weights {bad[:3]} are not named tensors")
    for key in ("state_dict", "extra"):  # what save writes (a sparse, nested or meta tensor failed inside the digests)
        if not _plain(payload.get(key, {})):
            raise ValueError(f"{shown_path(path)} is damaged or hand-edited: its {key} holds {_kinds(payload[key])}: "
                             f"expected dense tensors and plain values, which is all vaecourse writes")
    if "state_digest" not in payload and "content_digest" not in payload and not _shipped(data):
        raise ValueError(f"{shown_path(path)} carries no digest of what it holds (every checkpoint vaecourse writes "
                         f"has one; a shipped model is checked against its SHA-256 in pretrained/MANIFEST.json "
                         f"instead), so a changed byte or a hand edit cannot be told from the real thing: train it "
                         f"again")
    if "state_digest" in payload and payload["state_digest"] != state_digest(state):
        raise ValueError(f"{shown_path(path)} is damaged: its weights do not match the digest stored when it was "
                         f"written (a changed byte on disk or in a copy); train it again or copy it again from its "
                         f"source")
    for key, tensor in state.items():  # in float32, what the models compute in: a float64 1e39 loads as inf
        if tensor.is_floating_point() and not torch.isfinite(tensor.to(torch.float32)).all():
            raise ValueError(f"{shown_path(path)} holds NaN or infinite weights ({key}): the run that wrote it "
                             f"diverged, so every image it draws and every score is meaningless; train it again with "
                             f"a smaller --lr or --clip-grad-norm")


def _shipped(data: bytes) -> bool:
    """Whether ``data`` (a checkpoint's bytes) is, byte for byte, one of the models shipped in pretrained/ (written
    before checkpoints carried a digest; the manifest's SHA-256 is theirs)."""
    from vaecourse import pretrained  # pretrained reads checkpoints: imported when needed

    return hashlib.sha256(data).hexdigest() in {entry["sha256"] for entry in pretrained._manifest().values()}


SAVED_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)  # the dtypes a model trains in, so all
# save writes; float8 is a storage format with 8 steps between 1 and 2, never a course model's weights


def _check_weights_fit(path: Path, payload: dict, expected: dict[str, torch.Tensor], name: str) -> None:
    """The stored weights are the tensors the hyper-parameters build, of their shapes and kinds (a float weight
    stored as int64, bool or complex was cast silently), before the model itself is allocated."""
    stored = payload["state_dict"]
    for key, want in expected.items():
        got = stored.get(key)
        if got is None:
            continue  # load_state_dict names the missing keys
        if tuple(got.shape) != tuple(want.shape):
            raise ValueError(f"{shown_path(path)}: the weights do not fit a {name}{payload['hparams']}: {key} should "
                             f"have shape {tuple(want.shape)}, found {tuple(got.shape)}")
        if want.is_floating_point() and got.dtype not in SAVED_FLOATS:
            raise ValueError(f"{shown_path(path)} is damaged or hand-edited: the weights {key} should be "
                             f"floating-point ({want.dtype}), found {got.dtype} (a model's weights are one of "
                             f"{', '.join(str(d) for d in SAVED_FLOATS)})")


def load(path: str | os.PathLike, *, expected_class: str | type | None = None,
         map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """The model stored at ``path`` (see :func:`read` for the extras and the errors), in eval mode."""
    return read(path, expected_class=expected_class, map_location=map_location).model.eval()


__all__ = ["Checkpoint", "atomic_write", "content_digest", "load", "read", "save", "state_digest"]
