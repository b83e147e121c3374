"""`python -m undertow`: the command line (see `undertow.cli.main`)."""

import sys

from undertow.cli.main import main

sys.exit(main())
