"""The registry of ``losskit`` subcommands.

A module that owns a command registers it with :func:`command`; :mod:`losskit.cli` imports
those modules and builds the parser from :data:`COMMANDS`. The registry lives in the base layer
so that a module can declare its command without importing the command line (imports point
down).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["COMMANDS", "command"]

Arguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]

#: subcommand name -> (help, function adding its arguments, function running it)
COMMANDS: dict[str, tuple[str, Arguments, Run]] = {}


def command(name: str, help: str, arguments: Arguments) -> Callable[[Run], Run]:
    """Register ``run`` as the subcommand ``name`` (a decorator)."""

    def register(run: Run) -> Run:
        COMMANDS[name] = (help, arguments, run)
        return run

    return register
