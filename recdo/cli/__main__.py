"""`python -m recdo.cli`: the same as the `recdo` command."""

import sys

from recdo.cli import main

sys.exit(main())
