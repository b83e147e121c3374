"""`python -m undertow`: the command line (see `undertow.cli.main`)."""

import sys

from undertow.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
