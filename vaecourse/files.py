"""Files written whole or not at all: write a temporary file beside the target, then rename it into place.

Used by checkpoints (``checkpoints.save``) and downloads (``data.download.download_verified``). ``os.replace``
is atomic on one file system, so a reader sees the old file or the new one, never half of one.

The temporary file is named ``.NAME.pidPID.RANDOM.tmp``. A process killed while writing (SIGKILL, power loss)
cannot remove its own; the next write of the same target removes those whose process ``PID`` is gone
(:func:`remove_stale_temporaries`), so they never pile up beside a checkpoint.

Files read: every reader of the library opens its file through :func:`readable_file` (``~`` expanded, only a
regular file, "no X at PATH" when absent), reads .npy members of an .npz through :func:`npz_member` (headers checked
against the member's size first), and shows a path in a message with :func:`shown_path` (one line, always).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import math
import os
import stat
import re
import tempfile
from collections.abc import Callable
from pathlib import Path


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}.pid"


def longest_temporary_name(path: Path) -> str:
    """The longest name :func:`atomic_write` gives ``path``'s temporary file (a pid of up to 7 digits, mkstemp's 8
    random characters): a name the folder cannot hold fails at the first save, so it is checked up front."""
    return f"{_temporary_prefix(Path(path))}{'9' * 7}.{'x' * 8}.tmp"


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process (or a platform without kill): leave its file alone
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that writes of ``path`` left behind when their process died; return them."""
    path = expanded(path, "remove_stale_temporaries' path", "a file")  # '~' as every writer reads it
    prefix = _temporary_prefix(path)
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.[^/]*\.tmp$")
    removed = []
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        match = pattern.match(candidate.name)
        if match and not _process_alive(int(match.group(1))):
            try:
                candidate.unlink()
                removed.append(candidate)
            except OSError:
                pass
    return removed


def _shown(value) -> str:
    """``value`` in one line (a tensor by its shape, not its numbers)."""
    from vaecourse import values
    return values.shown(value)


def shown_path(path) -> str:
    """``path`` as a message shows it, in one line: as typed, or quoted (``repr``) when it holds a control character
    (a newline, a tab, an escape), which would break the one-line refusal or hide what the name really is."""
    text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path)
    text = text if isinstance(text, str) else repr(text)  # (a bytes path)
    return repr(text) if any(c < " " or c == "\x7f" for c in text) else text


def _path_text(path, what: str, expected: str) -> str:
    """``path`` as text, or a ValueError: bytes, None, a number, '' (which pathlib reads as the current folder) or a
    NUL character (which no system call takes) name no file or folder."""
    text = os.fspath(path) if isinstance(path, (str, os.PathLike)) and not isinstance(path, bytes) else None
    if not isinstance(text, str) or not text or "\0" in text:
        raise ValueError(f"{what}: expected the path of {expected} (a non-empty str or os.PathLike, no NUL "
                         f"character), got {_shown(path)}")
    return text


def expanded(path, what: str, expected: str = "a folder") -> Path:
    """``path`` (checked as by :func:`_path_text`) with ``~`` / ``~user`` expanded, or a ValueError for a user this
    system does not know (pathlib's RuntimeError "Could not determine home directory")."""
    text = _path_text(path, what, expected)
    try:
        return Path(text).expanduser()
    except RuntimeError:
        user = text.split("/", 1)[0]
        raise ValueError(f"{what} {shown_path(text)}: cannot expand {shown_path(user)}, no such user (or no home "
                         f"folder) on this system: expected the path of {expected}") from None


def _errno_name(err: OSError) -> str:
    return errno.errorcode.get(err.errno, str(err.errno))


def _blocking_part(path: Path, code: int) -> Path:
    """The first part of ``path`` (itself included) that a lookup failing with ``code`` stops at: the file that is
    not a folder (ENOTDIR), the link that loops (ELOOP), the one too long or that cannot be searched."""
    for part in (*reversed(path.parents), path):
        try:
            os.stat(part)
        except OSError as err:
            if err.errno == code:
                return part
    return path


def _refuse_lookup(err: OSError, path: Path, what: str, expected: str):
    """One ValueError line for a lookup of ``path`` that failed other than by being absent."""
    if err.errno == errno.ENOTDIR:
        through = _file_on_the_way(path)
        raise ValueError(f"{what} {shown_path(path)}: expected a path through folders, got one through "
                         f"{shown_path(through)}, a file ({shown_path(through.name)} is a file, not a "
                         f"folder)") from None
    if err.errno == errno.ELOOP:
        raise ValueError(f"{what} {shown_path(path)}: {shown_path(_blocking_part(path, errno.ELOOP))} is a symbolic "
                         f"link that loops (it never reaches a file or folder): expected {expected}") from None
    part = _blocking_part(path, err.errno)
    where = f" at {shown_path(part)}" if part != path else ""
    if err.errno == errno.EACCES:  # looking up part needs search (x) permission on the folder holding it
        where = f": {shown_path(part.parent)} cannot be searched (no x permission)"
    raise ValueError(f"{what} {shown_path(path)}: {err.strerror} (errno {_errno_name(err)}){where}: expected "
                     f"{expected}") from None


def _file_on_the_way(path: Path) -> Path:
    """The first parent of ``path`` that exists and is not a folder (what makes a lookup fail with ENOTDIR)."""
    return next((p for p in reversed(path.parents) if os.path.exists(p) and not os.path.isdir(p)), path.parent)


def _kind_of(mode: int) -> str:
    """What a file of ``mode`` (``st_mode``) is, in words."""
    return "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device" if \
        stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a file" if stat.S_ISREG(mode) else "a socket" if \
        stat.S_ISSOCK(mode) else "not a regular file"


def check_folder(path, what: str = "folder", must_exist: bool = False) -> Path:
    """``path`` (``~`` expanded) if it is a folder that can be searched, or absent (unless ``must_exist``); else one
    ValueError line naming ``what`` and the path: no path ('' , None, bytes, a number, a NUL), an unknown ``~user``, a
    name too long, a loop, a file on the way or at the end, a folder that cannot be searched (EACCES)."""
    expected = "a folder"
    path = expanded(path, what, expected)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise ValueError(f"{what} {shown_path(path)} is a symbolic link to nothing "
                             f"({shown_path(os.readlink(path))}): expected "
                             f"{expected}") from None
        if must_exist:
            raise ValueError(f"{what} {shown_path(path)} does not exist: expected {expected}") from None
        return path
    except OSError as err:
        _refuse_lookup(err, path, what, expected)
    if not stat.S_ISDIR(mode):
        raise ValueError(f"{what} must be {expected}, got {shown_path(path)}, which is not one (it is "
                         f"{_kind_of(mode)})")
    try:
        os.stat(os.path.join(path, "."))  # a lookup inside needs search (x) on the folder (Path drops a ".")
    except OSError as err:
        raise ValueError(f"{what} {shown_path(path)}: {err.strerror} (errno {_errno_name(err)}): expected {expected} "
                         f"that can be searched (x permission)") from None
    return path


def check_regular(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` if it is absent or a regular file (a link to one included); a ValueError for a FIFO, a device
    (``/dev/null``, ``/dev/zero``), a socket or a folder: reading one can hang for ever, and writing over one
    would replace it by a regular file (as root, which Colab is, even ``/dev/null``). A path through a file or
    through a loop, too long a name, or a folder that cannot be searched is a ValueError too. ``~`` and ``~user``
    are expanded (:func:`expanded`: an unknown user is a ValueError), so every reader and writer reads a path alike."""
    if not isinstance(what, str):
        raise ValueError(f"check_regular's what must be a string (what the file is, for the message), got {_shown(what)}")
    path = expanded(path, what, "a file")  # '~' / '~user' expanded, as every folder reader does: one rule for paths
    try:
        os.lstat(path)
    except FileNotFoundError:
        pass  # absent (or through a missing folder): the reader or writer says so in its own words
    except OSError as err:  # a name longer than the file system holds, a folder that cannot be searched, ...
        _refuse_lookup(err, path, what, "the path of a regular file")
    if path.is_symlink() and not path.exists():  # dangling, or a loop (a -> a), which nothing can read or write
        try:
            os.stat(path)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise ValueError(f"{what} {shown_path(path)} is a symbolic link that loops (it never reaches a "
                                 f"file): expected a regular file") from None
    if path.exists() and not path.is_file():
        raise ValueError(f"{what} {shown_path(path)} is {_kind_of(path.stat().st_mode)}: expected a regular file")
    return path


def readable_file(path, what: str = "file", missing: str = "") -> Path:
    """``path`` (``~`` expanded, as every folder reader does) when it is a regular file to read (a link to one
    included); else one line in the library's words: a ValueError as :func:`check_regular` gives (a FIFO, a device,
    a folder, a loop, an unknown ``~user``), or a FileNotFoundError "no ``what`` at PATH" (followed by ``missing``,
    what to do) for a file that is absent, a link to nothing, or a path through a missing folder; pathlib's own
    FileNotFoundError never comes out; a file that cannot be opened for reading (EACCES: no r permission) is a
    ValueError "cannot read the ``what`` PATH". Every file reader of the library comes through here."""
    path = check_regular(expanded(path, f"the {what}", "a file"), f"the {what}")
    if not path.is_file():  # absent: check_regular refused everything else that exists
        link = f" (a symbolic link to nothing: {shown_path(os.readlink(path))})" if path.is_symlink() else ""
        raise FileNotFoundError(f"no {what} at {shown_path(path)}{link}" + (f". {missing}" if missing else ""))
    try:  # can it be opened for reading (EACCES: no r permission)? O_NONBLOCK: a FIFO swapped in meanwhile never waits
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except OSError as err:
        raise ValueError(f"cannot read the {what} {shown_path(path)}: {err.strerror} (errno {_errno_name(err)}): "
                         f"expected a file you can read") from None
    return path


def read_once(path, what: str = "file", missing: str = "") -> tuple[Path, bytes]:
    """``path`` (as :func:`readable_file` reads it) and its bytes, read through one descriptor that is a regular file:
    a reader that checked the name, then opened it again (three times, for a checkpoint), could meet a FIFO swapped in
    meanwhile and wait for ever."""
    path = readable_file(path, what, missing)
    with naming(path):
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # (a FIFO opened so does not wait for a writer)
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise ValueError(f"the {what} {shown_path(path)} is {_kind_of(mode)} now (it changed while it was "
                                 "being read): expected a regular file")
            return path, handle.read()


NOTHING_WRITTEN = "; nothing was written"  # what a failed atomic_write adds to its OSError's words (the old file stays)


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it onto ``path``.

    On any error the temporary file is removed and ``path`` is left as it was. Temporary files of earlier
    writes of ``path`` whose process died are removed first. Only a regular file is ever replaced
    (:func:`check_regular`); a symbolic link is written through (its target replaced, the link kept).
    """
    if not callable(write):
        raise TypeError(f"atomic_write's write must be a function write(tmp_path), got {type(write).__name__}")
    path = check_regular(path, "cannot write")  # (also refuses a path through a file: mkdir's FileExistsError)
    if path.is_symlink():  # write the file the link names (a resume through a link continues its target); the
        path = Path(os.path.realpath(path))  # link itself stays a link
        check_regular(path, "cannot write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a read-only folder, /proc, a loop on the way: one line naming the path given
        raise ValueError(f"cannot write {shown_path(path)}: {err.strerror} (errno "
                         f"{errno.errorcode.get(err.errno, err.errno)}) "
                         f"creating {shown_path(err.filename or path.parent)}: expected a path whose folders can be "
                         f"made") from None
    remove_stale_temporaries(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{_temporary_prefix(path)}{os.getpid()}.", suffix=".tmp", dir=path.parent)
    except OSError as err:  # /proc, a read-only folder: named by the target, not by a temporary name never made
        raise OSError(err.errno, f"{err.strerror} (cannot create a file in {shown_path(path.parent)}; nothing was "
                      f"written)", os.fspath(path)) from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # the permissions a plain open() would give, not mkstemp's 0600
    with naming(path, NOTHING_WRITTEN, tmp):  # a write(2) names no file: name ours (the old file is kept)
        try:
            write(tmp)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    return path


@contextlib.contextmanager
def naming(path: str | os.PathLike, outcome: str = "", temporary: str | None = None):
    """An OSError raised inside that names no file (a read(2) or write(2) failing: EIO, ENOSPC, EFBIG), or names the
    ``temporary`` file written for ``path``, is raised again naming ``path``, so that its one line says which file;
    ``outcome`` (``"; nothing was written"``) follows its words. The errno (and so the kind: PermissionError) is
    kept: the command line maps a full disk by it."""
    try:
        yield
    except OSError as err:
        if err.errno and (not err.filename or err.filename == temporary or outcome):
            name = path if err.filename in (None, temporary) else err.filename
            raise OSError(err.errno, f"{err.strerror}{outcome}", os.fspath(name)) from err
        raise


def digest_of(path: str | os.PathLike, digest, what: str = "file"):
    """``digest`` (a hashlib object, perhaps already fed a header) updated with the file's bytes, read in 1 MiB
    blocks; only a regular file is read (a FIFO or /dev/zero would be read for ever, :func:`readable_file`), and a
    failing read (EIO) names the file. ``what`` names the file in a refusal ("no MNIST file at PATH")."""
    path = readable_file(path, what)
    with naming(path), open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest


# ---- .npy members of an .npz archive, read without pickle and without trusting their headers -------------------
DEFLATE_MAX_RATIO = 1032  # deflate's largest expansion (258-byte matches of 2 bits): a member whose declared size
# exceeds its compressed bytes times this cannot hold that many bytes, whatever its header says


def npy_header(stream, size: int, path, member: str, what: str) -> tuple[tuple[int, ...], bool, object]:
    """(shape, fortran_order, dtype) of the .npy member ``member`` of ``what`` ``path``, read from ``stream``, whose
    uncompressed ``size`` (the zip's ``file_size``) is known: a header announcing more (or fewer) bytes than the
    member holds (an edited shape, 2 * 10^12 images) is one ValueError line here, before numpy would allocate it;
    so are a malformed header and an object dtype (which only pickle reads)."""
    import tokenize

    import numpy as np
    where = f"the {what} {shown_path(path)}"
    try:
        version = np.lib.format.read_magic(stream)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read(stream)
    except (ValueError, SyntaxError, tokenize.TokenError, TypeError, KeyError) as err:  # numpy's parse of the
        first = (str(err.args[0] if err.args else "").splitlines() or [type(err).__name__])[0]  # header's dict
        # text, cut short (tokenize.TokenError, SyntaxError) or garbage (ValueError)
        raise ValueError(f"{where}: member {member} has a malformed header ({first})") from None
    name = member.removesuffix(".npy")
    if dtype.hasobject:
        raise ValueError(f"{where}: {name} holds Python objects (dtype {dtype}), which only pickle reads: expected an "
                         "array of numbers")
    nbytes, held = math.prod(shape) * dtype.itemsize, size - stream.tell()  # Python ints: no wrap past 2**63
    if nbytes != held:
        state = "is truncated" if nbytes > held else "is longer than its header says"
        raise ValueError(f"{where}: {name} {state}: expected {nbytes:,} bytes of data (its header announces shape "
                         f"{tuple(shape)} of {dtype}), got {held:,}")
    return tuple(shape), bool(fortran_order), dtype


def npz_member(archive, member: str, path, what: str, check: Callable | None = None):
    """The array stored as ``member`` (``"images.npy"``) of the zip ``archive`` (an open ``zipfile.ZipFile`` of the
    .npz at ``path``, a ``what``), read as ``np.load(allow_pickle=False)`` would, but with :func:`npy_header`'s
    checks first and the member's declared size bounded by its compressed bytes, so that no edited header or zip
    entry makes numpy allocate what the file cannot hold. ``check(shape, dtype, fortran_order)`` may refuse before
    the data are read. A missing member is a KeyError (the caller names what the file should hold)."""
    import numpy as np
    info = archive.getinfo(member)
    if info.file_size > info.compress_size * DEFLATE_MAX_RATIO + (1 << 10):
        raise ValueError(f"the {what} {shown_path(path)}: member {member} claims {info.file_size:,} bytes, more than "
                         f"its {info.compress_size:,} compressed bytes can hold: expected an .npz as numpy writes it")
    with archive.open(info) as stream:
        shape, fortran_order, dtype = npy_header(stream, info.file_size, path, member, what)
        if check is not None:
            check(shape, dtype, fortran_order)
        if not dtype.itemsize:  # a zero-size dtype ('V0'): no bytes to read, and none to view as the array
            return np.empty(shape, dtype, order="F" if fortran_order else "C")
        data = np.empty(math.prod(shape) * dtype.itemsize, dtype=np.uint8)
        view, got = memoryview(data), 0
        while got < len(data) and (n := stream.readinto(view[got:got + (1 << 24)])):
            got += n
        if got != len(data) or stream.read(1):  # reading to the end checks the member's CRC
            raise ValueError(f"the {what} {shown_path(path)}: {member.removesuffix('.npy')} is truncated: expected "
                             f"{len(data):,} bytes of data, got {got:,}")
    return data.view(dtype).reshape(shape, order="F" if fortran_order else "C")


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file: what shipped files (checkpoints, data) are pinned by."""
    return digest_of(path, hashlib.sha256()).hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str, remedy: str = "") -> Path:
    """``path`` when its SHA-256 is ``expected``; otherwise a ValueError naming both (and ``remedy``, what to do)."""
    from vaecourse import values
    values.text.check("verify_sha256's expected (a SHA-256 in hex)", expected)
    values.text.check("verify_sha256's remedy", remedy)
    path = readable_file(path, "file to verify", remedy)
    actual = sha256_of(path)
    if actual != expected:
        raise ValueError(f"{shown_path(path)} is damaged or not the shipped file: SHA-256 {actual}, expected {expected}"
                         + (f". {remedy}" if remedy else ""))
    return path


__all__ = ["atomic_write", "check_folder", "check_regular", "expanded", "readable_file", "remove_stale_temporaries",
           "npy_header", "npz_member", "sha256_of", "shown_path", "verify_sha256"]
