"""``python -m vaecourse VERB ...``: the command line (:mod:`vaecourse.cli`)."""

import sys

from vaecourse.cli import main

if __name__ == "__main__":
    sys.exit(main())
