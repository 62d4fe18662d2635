"""Downloads that fail cleanly: the one function that touches the network, and the one that keeps a file.

- ``fetch(url, out)``: stream a URL into an open binary file; the only network call in the library.
- ``default_cache_dir()``: where downloaded files are kept (``$VAECOURSE_CACHE``, else ``~/.cache/vaecourse``).
- ``download_verified(dest, write, ...)``: ``write(out)`` fills a temporary file beside ``dest``; it is checked
  against a published checksum and only then renamed into place (``files.atomic_write``). On any failure the
  temporary file is removed, so nothing half-written or unverified is ever kept.

The loaders (``data/dsprites_official.py``, ``data/mnist.py``) pass a ``write`` that calls ``fetch`` (and, for MNIST,
decompresses) and turn network failures into a :class:`DownloadError` that says what was tried.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from vaecourse import values
from vaecourse.files import atomic_write, check_folder, shown_path


CACHE_ENV = "VAECOURSE_CACHE"


class DownloadError(OSError):
    """A download that did not produce a verified file (no network, a mirror down, a wrong checksum)."""


def is_url(url) -> bool:
    """Whether ``url`` is an https:// or http:// URL that urllib can send as it stands: ``urlsplit`` parses it (no
    unclosed ``[::1``), it names a host, its port (if any) is a number in 1..65535, it holds no space or control
    character (http.client refuses them: the request line would break), its path is ASCII (%-encoded), and its host
    encodes with the idna codec (each label 1 to 63 characters, DNS's limit). ``file://`` would copy a local file,
    ``ftp://`` is no mirror."""
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) \
            or any(c.isspace() or c < " " or "\x7f" <= c <= "\x9f" for c in url):
        return False
    try:
        parts = urllib.parse.urlsplit(url)
        port, host = parts.port, parts.hostname  # (port: a ValueError when no number in 0..65535)
        if host and ":" not in host:  # (an IPv6 address in brackets: urlsplit checked it)
            host.encode("idna")  # a UnicodeError (a ValueError) for an empty label or one over 63 characters
    except ValueError:
        return False
    return bool(host) and port != 0 and (parts.path + parts.query).isascii()  # (http.client sends the request line
    # in ASCII: a path of 'ü' is a UnicodeEncodeError; %C3%BC is how a URL spells it)


URL = values.Kind("an https:// or http:// URL naming a host (a string: no spaces or control characters, a port of "
                  "1 to 65535, host labels of 1 to 63 characters, the path in ASCII: %-encoded)", is_url)


def fetch(url: str, out) -> None:
    """Stream ``url`` into the binary file object ``out`` (60 s timeout per read): a URL as :func:`is_url` says."""
    URL.check("fetch's url", url)
    if not callable(getattr(out, "write", None)):
        raise ValueError(f"fetch's out must be a binary file open for writing (with a write method), got "
                         f"{values.shown(out)}")
    with urllib.request.urlopen(url, timeout=60) as response:
        shutil.copyfileobj(response, out, length=1 << 20)


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` if given, else ``$VAECOURSE_CACHE``, else ``~/.cache/vaecourse`` (``~`` expanded); one that is
    no folder (a file, a FIFO, a loop, a name too long, ...) is a ValueError (:func:`vaecourse.files.check_folder`)."""
    if cache_dir is not None:
        return check_folder(cache_dir, "cache_dir (the folder where downloads are kept)")
    if os.environ.get(CACHE_ENV):
        return check_folder(os.environ[CACHE_ENV], f"${CACHE_ENV} (the folder where downloads are kept)")
    return check_folder("~/.cache/vaecourse", "the cache folder")


def download_verified(dest: str | os.PathLike, write: Callable[[BinaryIO], object], *, source: str,
                      digest: Callable[[str], str] | None = None, expected: str | None = None,
                      digest_name: str = "checksum") -> Path:
    """Keep ``dest`` only if what ``write(out)`` puts in a temporary file beside it has ``digest(file) == expected``.

    ``expected=None`` skips the check (a file you trust). A wrong checksum is a ValueError naming ``source``, both
    values and the size; any error (from ``write`` too) removes the temporary file and leaves ``dest`` as it was.
    """
    values.path.check("download_verified's dest", dest)
    values.function.check("download_verified's write (a function write(out))", write)
    values.text.check("download_verified's source", source)
    values.function.or_none().check("download_verified's digest (a function digest(path) -> str)", digest)
    values.text.or_none().check("download_verified's expected (a checksum)", expected)
    values.text.check("download_verified's digest_name", digest_name)
    if expected is not None and digest is None:
        raise ValueError(f"expected {digest_name} {expected} given without a digest function to compute it")

    def write_and_verify(tmp: str) -> None:
        with open(tmp, "wb") as out:
            write(out)
        if expected is not None and (actual := digest(tmp)) != expected:
            raise ValueError(f"downloaded {shown_path(source)} but it is not the expected file: expected {digest_name} "
                             f"{expected}, got {actual} ({os.path.getsize(tmp)} bytes); nothing was kept")

    return atomic_write(dest, write_and_verify)


__all__ = ["CACHE_ENV", "DownloadError", "default_cache_dir", "download_verified", "fetch", "is_url", "URL"]
