"""The command line: the only part of the package that knows argparse.

``python -m vaecourse VERB ...`` and the ``vaecourse`` console script call :func:`main`
(:mod:`vaecourse.cli.main`: the verbs and their parser; :mod:`vaecourse.cli.train`: the ``train`` verb).
"""

from vaecourse.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
