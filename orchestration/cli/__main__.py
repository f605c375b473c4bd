"""`python -m orchestration.cli`: the `ganime` console script, run by its module."""

import sys

from orchestration.cli import main

sys.exit(main())
