"""`python -m digitnet.cli ...`: the same as the `digitnet` command."""

import sys

from . import main

sys.exit(main())
