"""The official dSprites file [matthey2017]: ``load_official_dsprites`` and the ``OfficialDSprites`` it returns.

``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` is verified by its git blob id and downloaded only on
``download=True`` (into ``download.default_cache_dir()``). The npz is read without unpickling and without
unpacking 3 GB of images: the images are kept bit-packed (N, 64, 8) and unpacked on demand, with the same
256-entry byte table as the renderer (:mod:`vaecourse.data.dsprites`), which also holds the factor grid.

Shape letters: B batch, K factors (6), N stored images.
"""

from __future__ import annotations

import hashlib
import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vaecourse import values
from vaecourse.data.base import GroundTruthDataset
from vaecourse.data.download import DownloadError, default_cache_dir, download_verified
from vaecourse.data.download import fetch as _fetch  # tests replace _fetch
from vaecourse.data.dsprites import (IMAGE_DTYPE, CANVAS, FACTOR_NAMES, FACTOR_SIZES, FACTOR_VALUES, OFFICIAL_BLOB_ID,
                                     OFFICIAL_FILENAME, OFFICIAL_URL, SHAPE_NAMES, _bit_table)
from vaecourse.files import (check_regular, digest_of, expanded, naming, npy_header, npz_member, readable_file,
                             shown_path)
from vaecourse.runtime import default_device

__all__ = ["OfficialDSprites", "load_official_dsprites", "git_blob_id"]


class OfficialDSprites(GroundTruthDataset):
    """The official dSprites images [matthey2017], stored bit-packed (N, 64, 8) and unpacked on demand.

    ``render(factors)`` looks the images up by ``index_of(factors)``. A file holding a subset of the
    grid (N < 737,280 rows) works too: then ``len`` and ``__getitem__`` run over the stored rows,
    ``sample_factors`` draws stored rows, and asking for a combination that is not stored is an error.
    """

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    shape_names = SHAPE_NAMES

    def __init__(self, packed_images: Tensor, latents_classes: Tensor, *, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32):
        self.device = default_device(device)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating torch dtype (images in [0, 1]), got {values.shown(dtype)}; "
                             "use render(..., dtype=torch.uint8) for bytes")
        self.dtype = dtype
        self.image_size = CANVAS
        values.instance("a uint8 tensor (N, 64, 8) of packed images", torch.Tensor).check("packed_images",
                                                                                          packed_images)
        if packed_images.dtype != torch.uint8 or packed_images.shape[1:] != (CANVAS, CANVAS // 8):
            raise ValueError(f"packed_images must be uint8 (N, 64, 8), got {packed_images.dtype} "
                             f"{tuple(packed_images.shape)}")
        if packed_images.shape[0] == 0:  # no row to draw: sample_factors would fail inside torch (randint of 0)
            raise ValueError("packed_images holds no images (shape (0, 64, 8)): expected at least one")
        self._packed = packed_images.to(self.device)  # (N, 64, 8)  bit i of byte j = column 8 j + i
        self._classes = self.check_factors(latents_classes)  # (N, K)
        if self._classes.shape[0] != self._packed.shape[0]:
            raise ValueError(f"{self._packed.shape[0]} images but {self._classes.shape[0]} rows of latents_classes")
        self._values = [torch.as_tensor(v, dtype=torch.float32, device=self.device) for v in FACTOR_VALUES]
        self._table = _bit_table(self.device)
        index = self.index_of(self._classes)  # (N,)
        self.complete = bool(index.shape[0] == self.num_combinations
                             and torch.equal(index, torch.arange(self.num_combinations, device=self.device)))
        if not self.complete:  # look rows up by their official index
            self._sorted_index, self._order = torch.sort(index)
            if bool((self._sorted_index[1:] == self._sorted_index[:-1]).any()):
                raise ValueError("latents_classes holds the same factor combination twice")

    @classmethod
    def from_arrays(cls, imgs, latents_classes, **kwargs) -> OfficialDSprites:
        """From 0/1 images ``(N, 64, 64)`` and classes ``(N, K)`` (numpy or torch)."""
        given = imgs
        try:
            imgs = np.asarray(imgs)
        except (TypeError, ValueError):
            imgs = None
        if imgs is None or imgs.ndim != 3 or imgs.shape[1:] != (CANVAS, CANVAS) or imgs.dtype.kind not in "biuf":
            raise ValueError(f"imgs must be 0/1 images (N, {CANVAS}, {CANVAS}) (numpy or torch), got "
                             f"{values.shown(given)}")
        packed = np.packbits(imgs.astype(bool), axis=-1, bitorder="little")  # (N, 64, 8)
        return cls(torch.from_numpy(packed), torch.as_tensor(np.asarray(latents_classes)), **kwargs)

    def __len__(self) -> int:
        return self._packed.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        """(image ``(1, 64, 64)``, factors ``(K,)``) of stored row ``i`` (the official index for the full file)."""
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"a data set's index must be an integer, got {values.shown(i)}")
        i = int(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} stored images")
        return self._unpack(self._packed[i][None], self.dtype)[0], self._classes[i]

    def factor_values(self, factors) -> Tensor:
        """Real values of factor classes -> ``(n, K)`` (the same table the official file stores)."""
        factors = self.check_factors(factors)
        return torch.stack([self._values[k][factors[:, k]] for k in range(self.num_factors)], dim=1)

    def sample_factors(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Uniform over the grid for the full file; uniform over the stored rows for a subset."""
        if self.complete:
            return super().sample_factors(n, generator)
        n = values.draws.check("n", n)
        generator = values.generator.or_none().check("generator", generator)
        where = generator.device if generator is not None else torch.device("cpu")
        rows = torch.randint(len(self), (n,), generator=generator, device=where).to(self.device)
        return self._classes[rows]

    def render(self, factors, dtype: torch.dtype | None = None) -> Tensor:
        """The stored images of factor classes ``(B, K)`` -> ``(B, 1, 64, 64)`` (``dtype=torch.uint8``: bytes)."""
        dtype = IMAGE_DTYPE.check("render's dtype", dtype)
        index = self.index_of(factors)  # (B,)
        if self.complete:
            rows = index
        else:
            pos = torch.searchsorted(self._sorted_index, index).clamp(max=len(self) - 1)
            missing = self._sorted_index[pos] != index
            if bool(missing.any()):
                raise ValueError(f"factor combination with official index {int(index[missing][0])} is not in this "
                                 f"file, which holds {len(self)} of {self.num_combinations} images")
            rows = self._order[pos]
        return self._unpack(self._packed[rows], dtype)

    def render_uint8(self, factors) -> Tensor:
        return self.render(factors, dtype=torch.uint8)

    def _unpack(self, packed: Tensor, dtype: torch.dtype | None) -> Tensor:
        images = self._table[packed.long()].view(torch.uint8).unsqueeze(1)  # (B, 1, 64, 64)
        dtype = self.dtype if dtype is None else dtype
        return images if dtype == torch.uint8 else images.to(dtype)


def git_blob_id(path: str | os.PathLike) -> str:
    """Git's object id of a file: ``sha1(b"blob <size>\\0" + bytes)`` (what ``git hash-object`` prints)."""
    path = readable_file(path, "file to hash")  # ~ expanded; a FIFO or /dev/zero would be read for ever
    return digest_of(path, hashlib.sha1(b"blob %d\0" % path.stat().st_size), "file to hash").hexdigest()


def _download(url: str, dest: Path, expected_blob_id: str | None) -> None:
    """Fetch ``url`` into ``dest`` via ``download_verified`` (temporary file, blob id, rename)."""
    def write(out) -> None:
        try:
            _fetch(url, out)
        except OSError as err:  # no network, DNS, a dropped connection, HTTP errors
            raise DownloadError(f"could not download {url}: {err}. Nothing was kept; check the network, or "
                                "download the file yourself and pass path=...") from err

    download_verified(dest, write, source=url, digest=git_blob_id, expected=expected_blob_id,
                      digest_name="git blob id")


_BLOB_ID = values.Kind("a git blob id (40 hexadecimal digits)", lambda v: isinstance(v, str) and len(v) == 40
                       and all(c in "0123456789abcdefABCDEF" for c in v)).or_none()


def load_official_dsprites(path: str | os.PathLike | None = None, *, download: bool = False,
                           cache_dir: str | os.PathLike | None = None,
                           expected_blob_id: str | None = OFFICIAL_BLOB_ID,
                           device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> OfficialDSprites:
    """Load the official dSprites file [matthey2017] (``path``, or ``OFFICIAL_FILENAME`` in the cache dir).

    Downloads from ``OFFICIAL_URL`` only when ``download=True`` and the file is absent. The file is
    checked against ``expected_blob_id`` (its git blob id; ``None`` skips the check, e.g. for a subset
    you wrote yourself) and then its keys, shapes, dtypes and values; anything else is a ValueError
    naming what is wrong. The pickled ``metadata`` entry is never unpickled.
    """
    download = values.boolean.check("load_official_dsprites' download", download)
    _BLOB_ID.check("load_official_dsprites' expected_blob_id", expected_blob_id)
    device = default_device(device)  # checked at the call, before a 26 MB download
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"load_official_dsprites' dtype must be a floating torch dtype (images in [0, 1]), got "
                         f"{values.shown(dtype)}")
    cached = path is None  # a file in the course's cache, which the course wrote (and may advise deleting)
    if cached:
        path = default_cache_dir(cache_dir) / OFFICIAL_FILENAME
    else:
        values.path.or_none().check("load_official_dsprites' cache_dir", cache_dir)
        path = expanded(path, "load_official_dsprites' path", "a file")
    check_regular(path, "the dSprites file")  # a FIFO or /dev/zero would be read for ever (absent: downloaded)
    remedy = ("Delete it (the course's cache wrote it) and load with download=True" if cached else
              "It is yours, so it is left alone: pass the official file as path, or leave path out to use the "
              "course's cache (with download=True)")
    if not path.exists():
        if not download:
            raise FileNotFoundError(
                f"the official dSprites file is not at {shown_path(path)}. Fetch it (about 26 MB, verified) with "
                f"load_official_dsprites(download=True) or `python -m vaecourse data dsprites --download`, or "
                f"download {OFFICIAL_URL} yourself and pass path=...; the procedural DSprites() renderer needs "
                "no file at all.")
        _download(OFFICIAL_URL, path, expected_blob_id)
    elif readable_file(path, "dSprites file").stat().st_size == 0:  # (EACCES: one line) empty, or a /proc or /sys
        # file (stat says 0 bytes whatever it reads)
        raise ValueError(f"{shown_path(path)} is not a dSprites file: the file system gives it 0 bytes (an empty "
                         f"file, or a /proc or /sys file). {remedy}.")
    elif expected_blob_id is not None:
        actual = git_blob_id(path)
        if actual != expected_blob_id:
            raise ValueError(f"{shown_path(path)} is not the official dSprites file: expected git blob id "
                             f"{expected_blob_id}, got {actual} ({path.stat().st_size} bytes). {remedy}, or pass "
                             f"expected_blob_id=None to load a file you trust.")
    with naming(path):
        packed, classes = _read_npz(path, require_full=expected_blob_id is not None, remedy=remedy)
    return OfficialDSprites(torch.from_numpy(packed), torch.from_numpy(classes), device=device, dtype=dtype)


# ---- reading the npz without unpickling and without 3 GB of unpacked images ---------------------
_KEYS = {  # key: (dtype, shape after the N rows)
    "imgs": (np.uint8, (CANVAS, CANVAS)),
    "latents_classes": (np.int64, (6,)),
    "latents_values": (np.float64, (6,)),
}


def _check_member(path: Path, key: str):
    """The check :func:`files.npz_member` runs on ``key``'s header: dtype, trailing shape and C order."""
    def check(shape, dtype, fortran_order) -> None:
        want_dtype, want_tail = _KEYS[key]
        if dtype != np.dtype(want_dtype):
            raise ValueError(f"{shown_path(path)}: {key} must have dtype {np.dtype(want_dtype)}, got {dtype}")
        if len(shape) != 1 + len(want_tail) or tuple(shape[1:]) != want_tail:
            raise ValueError(f"{shown_path(path)}: {key} must have shape (N, {', '.join(map(str, want_tail))}), got "
                             f"{tuple(shape)}")
        if fortran_order:
            raise ValueError(f"{shown_path(path)}: {key} is stored in Fortran order; expected C order as numpy.savez "
                             "writes it")
        if shape[0] == 0:  # a data set of no images: its first draw would fail inside torch (randint of 0 rows)
            raise ValueError(f"{shown_path(path)}: {key} holds no rows (shape {tuple(shape)}): expected a dSprites "
                             f"file of at least one image")
    return check


def _read_exact(stream, nbytes: int, path: Path, key: str) -> bytes:
    data = stream.read(nbytes)
    if len(data) != nbytes:
        raise ValueError(f"{shown_path(path)}: {key} is truncated: expected {nbytes} bytes of data, got {len(data)}")
    return data


def _read_npz(path: Path, require_full: bool, chunk_rows: int = 8192,
              remedy: str = "Delete it and fetch it again (load_official_dsprites(download=True))"
              ) -> tuple[np.ndarray, np.ndarray]:
    """Validated (packed images ``(N, 64, 8)`` uint8, latents_classes ``(N, 6)`` int64) from a dSprites npz."""
    try:
        with zipfile.ZipFile(path) as archive:
            found = sorted(name.removesuffix(".npy") for name in archive.namelist())
            missing = [key for key in _KEYS if f"{key}.npy" not in archive.namelist()]
            if missing:
                raise ValueError(f"{shown_path(path)} is not a dSprites file: missing key(s) {missing}; expected "
                                 f"{sorted(_KEYS)} (plus metadata), found {found}")
            arrays = {}
            for key in ("latents_classes", "latents_values"):
                arrays[key] = npz_member(archive, f"{key}.npy", path, "dSprites file", _check_member(path, key))
            n = arrays["latents_classes"].shape[0]
            _check_latents(path, arrays["latents_classes"], arrays["latents_values"], require_full)
            info = archive.getinfo("imgs.npy")
            with archive.open(info) as stream:  # read in chunks, packed as it comes: 3 GB unpacked
                shape, fortran_order, dtype = npy_header(stream, info.file_size, path, "imgs.npy", "dSprites file")
                _check_member(path, "imgs")(shape, dtype, fortran_order)
                if shape[0] != n:
                    raise ValueError(f"{shown_path(path)}: imgs has {shape[0]} rows but latents_classes has {n}")
                packed = np.empty((n, CANVAS, CANVAS // 8), dtype=np.uint8)
                for first in range(0, n, chunk_rows):  # 8192 images = 32 MB at a time
                    rows = min(chunk_rows, n - first)
                    chunk = np.frombuffer(_read_exact(stream, rows * CANVAS * CANVAS, path, "imgs"), dtype=np.uint8)
                    chunk = chunk.reshape(rows, CANVAS, CANVAS)
                    if chunk.max(initial=0) > 1:
                        raise ValueError(f"{shown_path(path)}: imgs must be binary 0/1, found the value "
                                         f"{int(chunk.max())}")
                    packed[first:first + rows] = np.packbits(chunk, axis=-1, bitorder="little")
                stream.read()  # CRC check
    except (zipfile.BadZipFile, EOFError, zlib.error) as err:
        raise ValueError(f"{shown_path(path)} is truncated or corrupted ({type(err).__name__}: {err}). "
                         f"{remedy}.") from err
    return packed, arrays["latents_classes"].copy()


def _check_latents(path: Path, classes: np.ndarray, values: np.ndarray, require_full: bool) -> None:
    """Classes in range, values on the dSprites grid, and the full 737,280 rows when asked."""
    n = classes.shape[0]
    if values.shape[0] != n:
        raise ValueError(f"{shown_path(path)}: latents_values has {values.shape[0]} rows but latents_classes has {n}")
    full = math.prod(FACTOR_SIZES)
    if require_full and n != full:
        raise ValueError(f"{shown_path(path)}: the official file has {full} images, this one has {n}")
    for k, (name, size) in enumerate(zip(FACTOR_NAMES, FACTOR_SIZES)):
        column = classes[:, k]
        if n and (column.min() < 0 or column.max() >= size):
            raise ValueError(f"{shown_path(path)}: latents_classes column {name!r} must be in [0, {size - 1}], "
                             f"got values in [{column.min()}, {column.max()}]")
        gap = np.abs(values[:, k] - FACTOR_VALUES[k][column]).max(initial=0.0)
        if not gap <= 1e-4:
            raise ValueError(f"{shown_path(path)}: latents_values column {name!r} does not match the dSprites grid "
                             f"(largest difference {gap:.3g}): not a dSprites file?")
