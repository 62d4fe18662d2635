"""Downloads that fail cleanly: the one function that touches the network, and the error it ends in.

The loaders (``data/dsprites.py``, ``data/mnist.py``) stream into a temporary file beside the destination,
verify it against a published checksum, and only then rename it into place; on any failure the temporary
file is removed and a :class:`DownloadError` says what was tried, so nothing half-written is ever kept.
"""

from __future__ import annotations

import shutil
import urllib.request


class DownloadError(OSError):
    """A download that did not produce a verified file (no network, a mirror down, a wrong checksum)."""


def fetch(url: str, out) -> None:
    """Stream ``url`` into the binary file object ``out`` (60 s timeout per read)."""
    with urllib.request.urlopen(url, timeout=60) as response:
        shutil.copyfileobj(response, out, length=1 << 20)


__all__ = ["DownloadError", "fetch"]
