"""`python -m genie_transforms.cli ...` (for launchers such as `accelerate launch -m`)."""

import sys

from . import main

sys.exit(main())
