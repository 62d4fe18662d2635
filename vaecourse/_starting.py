"""``python -m vaecourse``: a Ctrl-C (or SIGTERM, SIGHUP) in the second or two while torch and numpy load is one
line, not a traceback or a silent death.

Python imports the package (this ``__init__``) before it runs ``__main__``, so ``__main__``'s own ``try`` cannot
catch an interrupt that lands in the imports. While the module is being located ``sys.argv[0]`` is ``"-m"``; only
then does the package install this handler, and :mod:`vaecourse.__main__` puts Python's own back before the command
runs (whose Ctrl-C is the command's: ``train`` saves the finished steps). A library import (a notebook) never
installs it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

SIGNALS = {"SIGINT": "interrupted (Ctrl-C)", "SIGTERM": "terminated (SIGTERM)", "SIGHUP": "hung up (SIGHUP)"}


def message(name: str) -> str:
    """The one line for signal ``name`` arriving while the course loads."""
    return f"{SIGNALS.get(name, name)} while starting; nothing was written"


MESSAGE = message("SIGINT")  # (``__main__``'s own KeyboardInterrupt)


def _exit_at_once(signum, frame):  # nothing has been written yet: no clean-up is owed
    name = signal.Signals(signum).name
    try:  # a second signal while this one writes would write the line again: the first one answers
        for other in _ours():
            signal.signal(other, signal.SIG_IGN)
    except ValueError:  # pragma: no cover - the handler runs in the main thread
        pass
    try:
        sys.stderr.write(message(name) + "\n")
        sys.stderr.flush()
    finally:
        os._exit(128 + signum)  # 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP: the shell's convention


def _ours() -> list[signal.Signals]:
    return [getattr(signal, name) for name in SIGNALS if hasattr(signal, name)]


def answer_ctrl_c_while_starting() -> None:
    """Ctrl-C, SIGTERM and SIGHUP, until :func:`started`, print one line and exit with status 128 + N; a signal
    someone else handles or ignores (``nohup``: SIGHUP ignored) is left as it is."""
    try:
        for signum in _ours():
            if signal.getsignal(signum) in (signal.default_int_handler, signal.SIG_DFL):
                signal.signal(signum, _exit_at_once)
    except ValueError:  # not the main thread
        pass


def finished() -> None:
    """Ignore Ctrl-C, SIGTERM and SIGHUP once the command's status is decided: while Python exits, torch's atexit
    finalisers run, and one more Ctrl-C there (a user pressing it three times) printed a KeyboardInterrupt traceback
    after the command's own one line. A handler not set from Python (``getsignal`` None) cannot be put back by
    :func:`handlers_kept`: it is left alone."""
    for signum in _ours():
        try:
            if signal.getsignal(signum) is not None:
                signal.signal(signum, signal.SIG_IGN)
        except ValueError:  # not the main thread
            pass


@contextlib.contextmanager
def handlers_kept():
    """Ctrl-C's, SIGTERM's and SIGHUP's handlers as they were when the block began, put back when it ends (those set
    from Python, in the main thread): the command line changes them while a verb runs, and nbclient's loop, removing
    its own, leaves Python's defaults."""
    try:
        previous = {s: signal.getsignal(s) for s in _ours() if signal.getsignal(s) is not None}
    except ValueError:  # not the main thread: nothing changes handlers there
        previous = {}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def started() -> None:
    """Python's own handlers again (KeyboardInterrupt for Ctrl-C), for the command itself, which installs its own
    (``train`` saves the finished steps)."""
    for signum in _ours():
        if signal.getsignal(signum) is _exit_at_once:
            signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)
