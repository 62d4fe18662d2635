"""The command line's argument checks: one ``error: ...`` line for a mistake, and number types for the verbs' flags.

Every numeric flag gets a ``type=`` that refuses what cannot mean anything (a learning rate of 0, a NaN
warm-up, a negative clipping norm) before any data is rendered or any model built, so a bad value ends in one
``error: argument --lr: expected ...`` line and exit status 2 (:class:`Parser`), never in a training run or a
traceback. The kinds are :mod:`vaecourse.values`, the same checks the library's ``Recipe`` and ``fit`` apply; the
``train`` verb's flags take theirs from the recipe's field declarations, the other verbs' from the tables below
(:func:`constrain`), so the verbs' argument lists stay as they are.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from vaecourse import files, values
from vaecourse.cli.outputs import LOCK_SUFFIX


class UsageError(Exception):
    """A command line that argparse refused; :func:`vaecourse.cli.main.main` prints it as one line."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a mistake as one ``error: ...`` line (exit status 2), not usage plus a message.

    ``--help`` and ``-h`` still print the full usage. Sub-command parsers are of the same class.
    """

    def error(self, message: str):  # noqa: D401 - argparse's hook
        raise UsageError(f"{message} (see: {self.prog} --help)")


def _home(text: str) -> str:
    """``text`` with ``~`` / ``~user`` expanded, as the library expands every path (a quoted ``'~/a.pt'``, which the
    shell leaves alone, names the same file as ``~/a.pt``); an unknown ``~user`` is refused (files.expanded)."""
    try:
        if text.startswith("~"):  # ('' and a NUL are refused by the Kind's test, in its words)
            files.expanded(text, "the path", "a file or folder")
    except ValueError as err:  # (argparse's own kind of error: Kind passes it on with these words, not its own)
        raise argparse.ArgumentTypeError(str(err)) from None
    return os.path.expanduser(text)  # (the text kept as typed otherwise: a trailing / still names a folder)


def _file_name(text: str) -> str:
    if text.endswith(("/", "\\", "/.")):
        raise ValueError("it ends in a folder separator, so it names a folder")
    if text.endswith(LOCK_SUFFIX):
        raise ValueError("a name ending in .lock is the lock train holds beside a checkpoint")
    return _home(text)


OUT_FILE = values.Kind("a file name (not a folder, and not ending in .lock: the lock train holds beside a "
                       "checkpoint)", values.is_path, parse=_file_name)
FOLDER = values.Kind("a folder (a non-empty path)", values.is_path, parse=_home)
PATH = values.Kind("a path (not empty)", values.is_path, parse=_home)
SPAN = values.real("a span between 0.001 and 100 prior standard deviations", lambda v: 0.001 <= v <= 100)
COLUMNS = values.integer("a number of columns between 1 and 100", 1, 100)
LAYER = values.integer("a stochastic layer's number (1 is next to x; the model says how many it has)",
                       -values.MAX_INT, values.MAX_INT)
SHOW_TYPES = {"checkpoint": PATH, "out": OUT_FILE, "span": SPAN, "columns": COLUMNS, "dpi": values.dpi, "layer": LAYER}
EXAMPLES = values.examples
SAMPLES = values.integer(f"a number of importance samples between 0 and {values.MAX_SAMPLES:,} (0: the ELBO only)", 0,
                         values.MAX_SAMPLES)
CHUNK = values.integer(f"a chunk size between 1 and {values.MAX_SAMPLES:,}", 1, values.MAX_SAMPLES)
DATASET = values.Kind("a data set's name (not empty: e.g. dsprites, pendulum)", values.is_path)
EVALUATE_TYPES = {"checkpoint": PATH, "dataset": DATASET, "n": EXAMPLES, "k": SAMPLES, "chunk": CHUNK, "seed": values.seed}
SITE_TYPES = {"timeout": values.positive_int, "out": FOLDER, "root": FOLDER, "rendered": FOLDER}
BUILD_TYPES = {"root": FOLDER}
DATA_TYPES = {"path": PATH, "cache_dir": FOLDER}


def constrain(parser: argparse.ArgumentParser, types: dict[str, Callable[[str], object]]) -> None:
    """Give the flags of ``parser`` named in ``types`` (by destination) those argparse ``type=`` functions.

    A name that matches no flag is a mistake in the table (a renamed flag would lose its check): it raises.
    """
    actions = {action.dest: action for action in parser._actions}  # argparse keeps its flags here
    missing = sorted(set(types) - set(actions))
    if missing:
        raise LookupError(f"{parser.prog}: no flags {missing} to constrain")
    for dest, convert in types.items():
        actions[dest].type = convert


__all__ = ["BUILD_TYPES", "DATA_TYPES", "EVALUATE_TYPES", "FOLDER", "OUT_FILE", "Parser", "SHOW_TYPES", "SITE_TYPES",
           "UsageError", "constrain"]
