"""`python -m recdo.cli`: the same as the `recdo` command."""

from recdo.cli import entry

entry()
