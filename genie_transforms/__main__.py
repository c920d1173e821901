"""`python -m genie_transforms ...` runs the `genie` command line."""

import sys

from .cli import main

sys.exit(main())
