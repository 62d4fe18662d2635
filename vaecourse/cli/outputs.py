"""What the command line writes, made safe before any work starts: nothing is written over an input, a
training run's ``--out`` is known to be writable before the first step, and Ctrl-C keeps the finished steps.

- ``train --out OUT`` writes the checkpoint ``OUT`` and the logs ``OUT.log.csv`` and ``OUT.log.json``
  (:func:`log_paths`: appended to the whole name, so a log can never be the checkpoint itself, whatever
  ``OUT`` is called). An existing ``OUT`` is continued with ``--resume`` or replaced with ``--overwrite``,
  never silently (:func:`check_train_out`).
- ``show`` never writes its PNG over the checkpoint it reads; ``site`` never writes into its own sources
  (:func:`refuse_overwriting_input`, :func:`check_site_out`).
- :class:`Interruption`: during training, SIGINT (Ctrl-C), SIGTERM and SIGHUP ask the loop to stop after the step
  in progress; the ``train`` verb then saves that step and exits with status 128 + the signal (130 for Ctrl-C). A
  second signal stops at once, keeping the last periodic checkpoint.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import tempfile
from pathlib import Path

from vaecourse.files import check_regular, longest_temporary_name, naming

INTERRUPTED = 130  # exit status after Ctrl-C: 128 + SIGINT, what shells report for a program stopped by it


def log_paths(out: str | os.PathLike) -> tuple[Path, Path]:
    """The training logs of the checkpoint ``out``: ``OUT.log.csv`` (a row per step), ``OUT.log.json`` (the history)."""
    out = Path(out)
    return tuple(out.with_name(out.name + suffix) for suffix in LOG_SUFFIXES)


LOG_SUFFIXES = (".log.csv", ".log.json")  # the logs beside a checkpoint: OUT.log.csv, OUT.log.json


def _is_training_log(path: Path) -> bool:
    """True when ``path`` holds a log this verb wrote (so writing a new one loses nothing that is not in OUT)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
        if path.name.endswith(".csv"):
            return head.startswith(b"step,") or head.strip() == b""
        data = json.loads(path.read_text())
        return isinstance(data, dict) and "steps" in data and "records" in data
    except (OSError, ValueError):
        return False


def _existing_ancestor(path: Path) -> Path:
    for parent in path.parents:
        if parent.exists():
            return parent
    return Path(".")


def check_writable(out: Path, flag: str = "--out", example: str = "model.pt", beside: tuple[str, ...] = ()) -> None:
    """Refuse, before any work, an ``out`` that could never be written: a directory, a path through a file, a
    folder this user cannot write in, a name too long for the folder (with ``beside``'s suffixes: the files
    written next to it, e.g. the logs)."""
    if out.is_dir():
        raise ValueError(f"{flag} {out} is a directory; give a file name inside it, e.g. {out / example}")
    check_regular(out, flag)  # a FIFO or a device (/dev/null) would be replaced by a regular file
    check_creatable(out, flag, files=[out.name + suffix for suffix in ("", *beside)])


def _check_names_fit(out: Path, ancestor: Path, flag: str, files: list[str]) -> None:
    """Each folder ``out`` would create, and each file's temporary name (files.atomic_write's), within the
    folder's NAME_MAX: a name too long fails only at the first save, after the training."""
    try:
        limit = os.pathconf(ancestor, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255  # Linux's NAME_MAX
    created = out.parts[len(ancestor.parts):]  # (the ancestor is one of out's parents, or "." of no parts)
    names = [*created[:-1], *(longest_temporary_name(out.with_name(name)) for name in files)] if files else created
    for name in names:
        if len(os.fsencode(name)) > limit:
            raise ValueError(f"{flag} {out} cannot be written: its name is too long for the folder (the file "
                             f"{name[:40]}... would need {len(os.fsencode(name))} bytes, at most {limit}); choose "
                             "a shorter name")


def check_creatable(out: Path, flag: str, files: list[str] | None = None) -> None:
    """Refuse an ``out`` (a file or a folder) that cannot be created where it is: its nearest existing ancestor
    (``out`` itself, for a folder that exists) must be a folder this user can create files in, and the names to
    create must fit it (``files``: the file names written beside each other, ``out``'s among them)."""
    ancestor = out if out.is_dir() else _existing_ancestor(out)
    if not ancestor.is_dir():
        raise ValueError(f"{flag} {out} cannot be created: {ancestor} is a file, not a folder")
    _check_names_fit(out, ancestor, flag, files or [])
    try:
        with tempfile.TemporaryFile(dir=ancestor):  # the only true test of "can be written" (ACLs, read-only mounts)
            pass
    except OSError as err:
        raise ValueError(f"{flag} {out} cannot be written: no file can be created in {ancestor} "
                         f"({err.strerror or err})") from None


def check_train_out(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Everything ``train`` checks about ``--out`` before the first step (see the module's docstring)."""
    if resume and overwrite:
        raise ValueError("--resume continues the run at --out and --overwrite replaces it: give one of them")
    check_writable(out, beside=LOG_SUFFIXES)
    if resume and not out.is_file():
        raise ValueError(f"--resume: there is no checkpoint at {out} to continue (leave out --resume to start one)")
    if out.is_file() and not resume and not _is_checkpoint(out):
        raise ValueError(f"{out} already exists and is not a vaecourse checkpoint: train does not replace it, even "
                         "with --overwrite (which replaces a checkpoint); move it, or choose another --out")
    if out.is_file() and not (resume or overwrite):
        raise ValueError(f"{out} already exists: add --resume to continue it, --overwrite to replace it, "
                         "or choose another --out")
    own_logs = log_paths(os.path.realpath(out))
    for log, own in zip(log_paths(out), own_logs):
        check_regular(log, "the training log")  # a FIFO would be read for ever, a device replaced by a file
        if log.is_dir() or (log.exists() and not _is_training_log(log)):
            raise ValueError(f"the training log {log} would replace a file that is not a training log; move it, "
                             "or choose another --out")
        if log.is_symlink() and Path(os.path.realpath(log)) != own:  # written through: another run's log replaced
            raise ValueError(f"the training log {log} is a link to {os.path.realpath(log)}, which is not this run's "
                             "log: writing it would replace that file; remove the link, or choose another --out")


CHECKPOINT_MARK = b"vaecourse-checkpoint/"  # checkpoints.FORMAT, stored near the start of every checkpoint


def _is_checkpoint(path: Path) -> bool:
    """True when ``path`` looks like a vaecourse checkpoint, whole or damaged (what --overwrite may replace): its
    format string is in the pickle that torch stores first in the archive."""
    try:
        with open(path, "rb") as handle:
            return CHECKPOINT_MARK in handle.read(1 << 16)
    except OSError:
        return False


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def refuse_overwriting_input(out: Path, source: Path, *, what: str, flag: str = "--out",
                             signature: bytes = PNG_SIGNATURE, example: str = "traversal.png") -> None:
    """Refuse to write ``out`` when it is the input file ``source`` itself (same path, link, or hard link), or an
    existing file of another kind (a file that does not start with ``signature``: a checkpoint, notes...);
    ``example`` is the file name suggested inside a directory given as ``out``."""
    for path, name in ((source, "the input"), (out, flag)):
        if path.is_symlink() and not path.exists():  # a link that loops cannot be resolved (pathlib's RuntimeError)
            check_regular(path, name)
    same = out.resolve() == source.resolve()
    if not same and out.exists() and source.exists():
        same = os.path.samefile(out, source)
    if same:
        raise ValueError(f"the {what} would be written over its input {source}; choose another name with {flag}")
    check_writable(out, flag, example=example)
    if out.is_file():
        with open(out, "rb") as handle:
            if handle.read(len(signature)) != signature:
                raise ValueError(f"{flag} {out} exists and is not a {what} (it would be replaced); choose another name")


def check_repository_root(root: Path, folders: tuple[str, ...] = ("notebooks", "solutions"),
                          flag: str = "--root") -> None:
    """The maintainer verbs read the repository root: a folder, holding one of ``folders`` when given."""
    if not root.is_dir():
        raise ValueError(f"{flag} {root} is not a folder (the repository root is expected)")
    if folders and not any((root / folder).is_dir() for folder in folders):
        raise ValueError(f"{flag} {root} is not the repository root: it has no {' or '.join(f + '/' for f in folders)} "
                         "folder")


SOURCES = ("notebooks", "solutions", "exercises", "vaecourse", "docs", "tests")  # what site and --rendered never write


def check_site_out(out: Path, root: Path, rendered: Path | None = None) -> None:
    """``site`` writes NN_name.html pages and index.html under ``out``, and with ``--rendered`` each executed lecture
    as NN_name.ipynb there: never into the repository itself or its sources (``--rendered notebooks`` replaced the
    lectures by their executed copies)."""
    check_repository_root(root, folders=())  # a root without notebooks is the site builder's own error (exit 1)
    root = root.resolve()
    for flag, folder, default in (("--out", out, "_site"), ("--rendered", rendered, "rendered")):
        if folder is None:
            continue
        folder = folder.resolve()
        if folder == root or folder in root.parents:
            raise ValueError(f"site {flag} {folder} would write into the repository {root} itself; give a folder of "
                             f"its own (e.g. {default})")
        for name in SOURCES:
            source = root / name
            if folder == source or source in folder.parents:
                raise ValueError(f"site {flag} {folder} is inside the sources ({source}): the executed notebooks "
                                 f"would replace them; give a folder of its own (e.g. {default})")
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"site {flag} {folder} is a file, not a folder")
        check_creatable(folder, f"site {flag}")  # before any notebook runs, not after an hour of them


def _is_lock(path: Path) -> bool:
    """True when ``path`` is absent or holds what :class:`RunLock` writes (a process number, or nothing yet)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(32)
    except FileNotFoundError:
        return True
    return head.strip().isdigit() or head == b""


LOCK_SUFFIX = ".lock"  # RunLock's file beside a checkpoint: a file of that name is never data (--out refuses it)


class RunLock:
    """``with RunLock(out):`` holds ``OUT.lock`` (an exclusive ``flock``) while a ``train`` run may write ``out``:
    a second run on the same ``--out`` (two new runs, a resume beside a run, an ``--overwrite`` beside a run) is
    refused at once instead of both printing "wrote" and one finished run being lost. The lock dies with its
    process (a killed run leaves nothing locked); the file is removed when the run ends."""

    def __init__(self, out: Path):
        real = Path(os.path.realpath(out))  # one file, one lock: a symlink or ../ spelling of OUT locks OUT itself
        self.out, self.path, self._fd = Path(out), real.with_name(real.name + LOCK_SUFFIX), None

    def __enter__(self) -> "RunLock":
        try:
            import fcntl
        except ImportError:  # Windows: no flock; the run goes on unlocked, as before
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            check_regular(self.path, "the lock file")
            if not _is_lock(self.path):  # a checkpoint or notes someone named OUT.lock: never truncated, never removed
                raise ValueError(f"{self.path} exists and is not a train run's lock (it holds data): train writes "
                                 f"its lock there while it writes {self.out}; move that file, or choose another --out")
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise ValueError(f"another train run is writing {self.out} (process {holder}, lock {self.path}): "
                                 "wait for it to finish, or give this run another --out") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino  # not unlinked by a run that just ended
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            with naming(self.path):  # a write(2) names no file: a full disk or ulimit -f 0 said "the output"
                os.ftruncate(fd, 0)
                os.write(fd, str(os.getpid()).encode())
        except OSError:
            self._fd = fd
            self.__exit__()  # the lock is ours (flock held): removed, as at the end of a run
            raise
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            try:
                if os.stat(self.path).st_ino == os.fstat(self._fd).st_ino:  # still ours: nobody replaced it
                    os.unlink(self.path)
            except FileNotFoundError:
                pass
            os.close(self._fd)
            self._fd = None


class Interruption:
    """``with Interruption() as stop:`` turns the first SIGINT (Ctrl-C), SIGTERM (a batch scheduler's time limit,
    ``kill``) or SIGHUP (a closed terminal or laptop lid) into ``stop.requested = True``; ``stop`` is also a ``fit``
    callback that then ends training after the step in progress (:class:`vaecourse.train.StopTraining`), and the
    ``train`` verb saves that step. A second signal raises KeyboardInterrupt (the last periodic checkpoint stays)."""

    SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

    def __init__(self):
        self.requested = False
        self.signum: int | None = None  # which signal asked
        self.last_step: int | None = None  # the last step that finished in this run
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame):
        if self.requested:  # a second signal: stop at once, named as it came (main's one line and status)
            raise KeyboardInterrupt("" if signum == signal.SIGINT else signal.Signals(signum).name)
        self.requested, self.signum = True, signum

    @property
    def status(self) -> int:
        """The exit status: 128 + the signal's number, what shells report for a program stopped by it (130: SIGINT)."""
        return 128 + (self.signum or signal.SIGINT)

    @property
    def name(self) -> str:
        return "Ctrl-C" if self.signum in (None, signal.SIGINT) else signal.Signals(self.signum).name

    def __call__(self, step: int, *_) -> None:
        from vaecourse.train import StopTraining
        self.last_step = step
        if self.requested:
            raise StopTraining

    def __enter__(self) -> "Interruption":
        for signum in self.SIGNALS:
            try:
                if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup, `cmd &`: an ignored signal stays ignored
                    self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread (a notebook's worker): the signals keep their usual meaning
                pass
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def report(self, out: Path, save, total: int, argv: list[str]) -> int:
        """After an interrupted ``fit``: save the last finished step, say where and how to resume, return the status."""
        how = "" if self.name == "Ctrl-C" else f" ({self.name})"
        if self.last_step is None:
            _say(f"interrupted{how} before the first step: {out} "
                 f"{'is unchanged' if out.exists() else 'was not written'}")
            return self.status
        save(self.last_step)
        _say(f"interrupted{how}: saved step {self.last_step + 1} of {total} to {out}; continue with: "
             f"{resume_command(argv)}")
        return self.status

    @staticmethod
    def kept(out: Path) -> str:
        """What ``out`` holds after training stopped early (one sentence for the error line)."""
        if not out.is_file():
            return f"Nothing was written to {out}."
        from vaecourse import checkpoints
        try:
            step = int(checkpoints.read(out).extra["step"])
        except (ValueError, KeyError, TypeError):
            return f"{out} was left as it was."
        return f"{out} holds the last checkpoint written ({step + 1} steps)."


def _say(line: str) -> None:
    """One line on stderr, if there still is one (after SIGHUP the terminal may be gone: the file is what counts)."""
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        pass


def resume_command(argv: list[str]) -> str:
    """The command line that continues the run of ``argv`` (the train verb's arguments): --resume, no --overwrite."""
    words = [a for a in argv if a != "--overwrite"]
    if "--resume" not in words:
        words.append("--resume")
    return " ".join(shlex.quote(a) for a in ["python", "-m", "vaecourse", *words])


__all__ = ["INTERRUPTED", "Interruption", "LOCK_SUFFIX", "LOG_SUFFIXES", "RunLock", "check_creatable", "check_repository_root", "check_site_out", "check_train_out", "check_writable", "log_paths",
           "refuse_overwriting_input", "resume_command"]
