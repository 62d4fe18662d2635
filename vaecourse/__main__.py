"""``python -m vaecourse VERB ...``: the command line (:mod:`vaecourse.cli`).

Importing the course (torch, numpy) takes a second or two; a Ctrl-C then is answered in one line, as one during
the command is, never with a KeyboardInterrupt traceback.
"""

import sys

if __name__ == "__main__":
    try:
        from vaecourse.cli import main
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C) while starting; nothing was written", file=sys.stderr)
        sys.exit(130)
    sys.exit(main())
