"""``python -m vaecourse VERB ...``: the command line (:mod:`vaecourse.cli`).

Importing the course (torch, numpy) takes a second or two; a Ctrl-C then is answered in one line, as one during
the command is, never with a KeyboardInterrupt traceback (the package's own import: :mod:`vaecourse._starting`).
"""

import sys

if __name__ == "__main__":
    from vaecourse._starting import MESSAGE, finished, started
    try:
        from vaecourse.cli import main
    except KeyboardInterrupt:
        print(MESSAGE, file=sys.stderr)
        sys.exit(130)
    started()
    status = main()
    finished()  # the status is decided: a signal while Python exits is not another traceback
    sys.exit(status)
