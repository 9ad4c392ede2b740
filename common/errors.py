"""The error of a run that its inputs cannot make: the message names the value, the rule and the fix."""

from __future__ import annotations


class InputError(ValueError):
    """A parameter or the log cannot make a run, found before the work it would spoil (CLI, flow or UI alike)."""
