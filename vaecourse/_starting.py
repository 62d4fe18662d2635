"""``python -m vaecourse``: a Ctrl-C in the second or two while torch and numpy load is one line, not a traceback.

Python imports the package (this ``__init__``) before it runs ``__main__``, so ``__main__``'s own ``try`` cannot
catch an interrupt that lands in the imports. While the module is being located ``sys.argv[0]`` is ``"-m"``; only
then does the package install this handler, and :mod:`vaecourse.__main__` puts Python's own back before the command
runs (whose Ctrl-C is the command's: ``train`` saves the finished steps). A library import (a notebook) never
installs it.
"""

from __future__ import annotations

import os
import signal
import sys

MESSAGE = "interrupted (Ctrl-C) while starting; nothing was written"


def _exit_at_once(signum, frame):  # nothing has been written yet: no clean-up is owed
    try:
        sys.stderr.write(MESSAGE + "\n")
        sys.stderr.flush()
    finally:
        os._exit(130)


def answer_ctrl_c_while_starting() -> None:
    """SIGINT, until :func:`started`, prints one line and exits with status 130; an ignored SIGINT stays ignored."""
    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _exit_at_once)
    except ValueError:  # not the main thread
        pass


def started() -> None:
    """Python's own Ctrl-C (KeyboardInterrupt) again, for the command itself."""
    if signal.getsignal(signal.SIGINT) is _exit_at_once:
        signal.signal(signal.SIGINT, signal.default_int_handler)
