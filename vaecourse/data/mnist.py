"""Handwritten digits for chapter 4: the real MNIST (IDX files, verified) and an offline default.

- :func:`load_mnist` reads the four official IDX files [lecun1998] from a folder (by default the course
  cache, ``$VAECOURSE_CACHE`` or ``~/.cache/vaecourse/mnist``). With ``download=True`` a missing file is
  fetched from a standard mirror, decompressed, and kept only when the MD5 of the decompressed IDX file is
  the published one; a file already there is checked the same way. Anything else is a clear error.
- The offline default, used in FAST mode and whenever MNIST is absent, is 5,000 real MNIST digits shipped
  inside the package (:func:`vaecourse.data.mnist5k.load_mnist5k`, a fixed stratified 4,000 / 1,000 split).
- :func:`load_digit_images` picks one: ``"mnist"``, ``"mnist5k"`` (also called ``"digits"``, the command
  line's name for the offline digits) or ``"auto"`` (MNIST when it is cached).
- :func:`dynamic_binarize`: a fresh Bernoulli sample of the grey images at every use, as Sønderby et al.
  train (each epoch sees new binary images drawn from the same grey levels).

Images are float tensors in [0, 1] of shape (N, 1, 28, 28); labels are int64 (N,).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vaecourse import values
from vaecourse.data.digit_images import DigitImages  # also importable from here, as before
from vaecourse.data.download import DownloadError, default_cache_dir, download_verified, is_url
from vaecourse.data.download import fetch as _fetch  # tests replace _fetch
from vaecourse.data.mnist5k import check_digit_labels, load_mnist5k
from vaecourse.files import check_folder, digest_of, naming, readable_file, shown_path

# name: (file name, MD5 of the decompressed IDX file, expected number of dimensions)
MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb", 3),
    "train_labels": ("train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624", 1),
    "test_images": ("t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea", 3),
    "test_labels": ("t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637", 1),
}
MNIST_MIRRORS = (  # each serves FILE.gz; the first that answers is used
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
IDX_UBYTE = 0x08  # the only element type MNIST uses (unsigned byte)
MAX_IDX_DIMS = 64 if int(np.__version__.split(".")[0]) >= 2 else 32  # numpy's NPY_MAXDIMS (64 from numpy 2.0)


_MIRRORS = values.sequence("a non-empty list of mirror URLs (https:// or http:// URLs naming a host, ending in /: "
                           "no spaces or control characters, a port of 1 to 65535)",
                           lambda v: len(v) > 0 and all(is_url(m) and m.endswith("/") for m in v))


# ------------------------------------------------------------------------------------------------ IDX files
def read_idx(path: str | os.PathLike, expected_dims: int | None = None) -> np.ndarray:
    """Read one IDX file of unsigned bytes [lecun1998]: 2 zero bytes, a type byte (0x08), a byte with the
    number of dimensions n, n big-endian int32 sizes, then the data. Returns a uint8 array.

    A wrong magic number, a dimension count other than ``expected_dims``, or a file shorter or longer
    than its header says is a ValueError naming the file and what was found.
    """
    path = readable_file(path, "IDX file")  # ~ expanded; a FIFO or /dev/zero would be read for ever
    expected_dims = values.integer("a number of dimensions between 1 and 255", 1, 255).or_none().check(
        "read_idx's expected_dims", expected_dims)
    with naming(path):
        data = path.read_bytes()
    if len(data) < 4:
        raise ValueError(f"{shown_path(path)} is not an IDX file: only {len(data)} bytes, not even the 4-byte magic "
                         f"number")
    magic = int.from_bytes(data[:4], "big")
    zero, kind, ndim = data[0] | data[1], data[2], data[3]
    if zero != 0 or kind != IDX_UBYTE or ndim == 0:
        raise ValueError(f"{shown_path(path)} has magic number 0x{magic:08x}; an IDX file of unsigned bytes starts "
                         f"with 0x000008NN (NN = number of dimensions, e.g. 0x00000803 for images, 0x00000801 for "
                         "labels). Is it still gzip-compressed, or another file?")
    if expected_dims is not None and ndim != expected_dims:
        raise ValueError(f"{shown_path(path)} holds a {ndim}-dimensional array (magic 0x{magic:08x}), expected "
                         f"{expected_dims} dimensions (magic 0x{0x800 + expected_dims:08x})")
    if ndim > MAX_IDX_DIMS:
        raise ValueError(f"{shown_path(path)} announces a {ndim}-dimensional array (magic 0x{magic:08x}): expected "
                         f"at most {MAX_IDX_DIMS} dimensions (what numpy holds); is it an IDX file?")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{shown_path(path)} is truncated: {len(data)} bytes, but its header alone needs {header}")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(shape)  # Python ints: np.prod would wrap past 2**63 to a negative count
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise ValueError(f"{shown_path(path)} is {what}: its header announces shape {shape}, i.e. {expected} bytes, "
                         f"but the file has {len(data)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def md5_of(path: str | os.PathLike) -> str:
    return digest_of(path, hashlib.md5(), "MNIST file").hexdigest()


def _download_idx(name: str, dest: Path, md5: str, mirrors=MNIST_MIRRORS) -> None:
    """Fetch NAME.gz from the first mirror that answers, decompress, verify the MD5, then rename into place."""
    errors = []
    for mirror in mirrors:
        url = mirror + name + ".gz"

        def write(out, url=url) -> None:  # the IDX file, decompressed from the fetched .gz
            with tempfile.TemporaryFile() as packed:
                _fetch(url, packed)
                packed.seek(0)
                with gzip.GzipFile(fileobj=packed) as unpacked:
                    shutil.copyfileobj(unpacked, out, length=1 << 20)

        try:
            download_verified(dest, write, source=url, digest=md5_of, expected=md5, digest_name="MD5 (decompressed)")
            return
        except (OSError, ValueError, EOFError) as err:  # network errors are OSErrors; try the next mirror
            errors.append(f"{mirror}: {err}")
    raise DownloadError(f"could not download a verified {name}; nothing was kept. Tried: " + "; ".join(errors))


def mnist_dir(root: str | os.PathLike | None = None) -> Path:
    """The folder the IDX files are read from: ``root``, else ``<cache>/mnist``; a ``root`` that exists and is not a
    folder (a file, a FIFO) is a ValueError."""
    if root is None:
        return check_folder(default_cache_dir() / "mnist", "the MNIST cache folder")
    return check_folder(root, "root (the folder of the MNIST files)")


def load_mnist(root: str | os.PathLike | None = None, *, download: bool = False, verify: bool = True,
               mirrors=MNIST_MIRRORS) -> DigitImages:
    """The 60,000 + 10,000 MNIST digits [lecun1998] from the four IDX files in ``root`` (see :func:`mnist_dir`).

    Each file is checked against the MD5 of the official decompressed file (``verify=False`` skips that,
    for a subset you wrote yourself; the IDX structure is always checked). A missing file is downloaded
    only with ``download=True``; otherwise a FileNotFoundError says how to get it.
    """
    folder = mnist_dir(root)
    download = values.boolean.check("load_mnist's download", download)
    verify = values.boolean.check("load_mnist's verify", verify)
    mirrors = _MIRRORS.check("load_mnist's mirrors", mirrors)
    arrays = {}
    for key, (name, md5, ndim) in MNIST_FILES.items():
        path = folder / name
        if not path.exists():
            if not download:
                raise FileNotFoundError(
                    f"MNIST file {name} is not in {shown_path(folder)}. Fetch the four files (about 11 MB, verified "
                    f"by MD5) with load_mnist(download=True) or `python -m vaecourse data mnist --download`, or put "
                    f"the decompressed IDX files there yourself; load_mnist5k() (5,000 shipped MNIST digits) needs no "
                    "download.")
            _download_idx(name, path, md5, mirrors)
        elif verify and (actual := md5_of(path)) != md5:
            remedy = ("Delete it (the course's cache wrote it) and load with download=True" if root is None else
                      "It is yours, so it is left alone: put the official file there, or pass root=None to use the "
                      "course's cache (with download=True)")
            raise ValueError(f"{shown_path(path)} is not the official MNIST file: MD5 {actual}, expected {md5}. "
                             f"{remedy}, or pass verify=False for a file you wrote yourself.")
        arrays[key] = read_idx(path, expected_dims=ndim)
        if not len(arrays[key]):  # a split of no digits: its first batch would fail far from here, inside torch
            raise ValueError(f"{shown_path(path)} holds no {'labels' if ndim == 1 else 'images'} (shape "
                             f"{arrays[key].shape}): expected an MNIST file of at least one")
        if ndim == 1:  # a labels file
            check_digit_labels(arrays[key], path)
    for part in ("train", "test"):
        n_images, n_labels = len(arrays[f"{part}_images"]), len(arrays[f"{part}_labels"])
        if n_images != n_labels:
            raise ValueError(f"MNIST {part} split has {n_images} images but {n_labels} labels")

    def images(a: np.ndarray) -> Tensor:
        return torch.from_numpy(a).float().div_(255.0).unsqueeze(1)  # (N, 1, 28, 28) in [0, 1]

    return DigitImages(train=images(arrays["train_images"]), train_labels=torch.from_numpy(arrays["train_labels"]).long(),
                       test=images(arrays["test_images"]), test_labels=torch.from_numpy(arrays["test_labels"]).long(),
                       source=f"MNIST (LeCun et al.), IDX files from {shown_path(folder)}")


# ---------------------------------------------------------------------------------------------- the choice
def load_digit_images(source: str = "auto", root: str | os.PathLike | None = None, *,
                      download: bool = False) -> DigitImages:
    """``"mnist"`` (the IDX files, see :func:`load_mnist`), ``"mnist5k"`` or its synonym ``"digits"`` (the 5,000
    shipped MNIST digits, offline, see :func:`~vaecourse.data.mnist5k.load_mnist5k`) or ``"auto"``: MNIST when
    its four files are in ``root``/the cache (or ``download``), else the shipped digits."""
    download = values.boolean.check("load_digit_images' download", download)
    if not isinstance(source, str) or source not in ("mnist", "mnist5k", "digits", "auto"):
        raise ValueError(f"unknown digit source {values.shown(source)}: expected 'mnist', 'mnist5k' (or 'digits') or "
                         "'auto'")
    if source == "mnist":
        return load_mnist(root, download=download)
    if source in ("mnist5k", "digits"):
        return load_mnist5k()
    if source == "auto":
        folder = mnist_dir(root)
        if download or all((folder / name).exists() for name, _, _ in MNIST_FILES.values()):
            return load_mnist(root, download=download)
        return load_mnist5k()
    raise AssertionError(source)  # (every name is handled above)


def dynamic_binarize(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A fresh binary image per call: each pixel ~ Bernoulli(grey level).  [sonderby2016, Sec. 3]"""
    if not isinstance(x, Tensor):
        raise TypeError(f"dynamic_binarize expected a tensor of grey images in [0, 1], got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"dynamic_binarize expected grey images in [0, 1] (floating point), got dtype {x.dtype}")
    values.with_values("dynamic_binarize's x", x, "grey images in [0, 1]")
    if x.numel():
        lo, hi = (float(v) for v in torch.aminmax(x))  # one pass; NaN reaches both ends
        if not (0.0 <= lo and hi <= 1.0):
            what = "NaN" if math.isnan(lo) or math.isnan(hi) else f"values from {lo:g} to {hi:g}"
            raise ValueError(f"dynamic_binarize expected grey images in [0, 1] (each pixel is a probability), "
                             f"got {what}")
    return torch.bernoulli(x, generator=values.generator.or_none().check("dynamic_binarize's generator", generator))


__all__ = ["MNIST_FILES", "MNIST_MIRRORS", "DigitImages", "dynamic_binarize", "load_digit_images", "load_mnist",
           "md5_of", "mnist_dir", "read_idx"]
