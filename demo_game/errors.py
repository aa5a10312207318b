"""The demo's own errors: each message says what to do."""

from __future__ import annotations


class DemoError(Exception):
    """A problem the person running the demo can fix (bad flag, bad script, no runtime)."""


class ScriptError(DemoError):
    """A play script (``--script``) is malformed or a step did not finish in time."""
