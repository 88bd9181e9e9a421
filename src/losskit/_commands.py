"""The registry of ``losskit`` subcommands.

A module that owns a command registers it with :func:`command`. :data:`MODULES` names every
command's module and help line, so that :mod:`losskit.cli` lists all commands but imports only
the module of the command that runs (``losskit predict`` does not load compare, explain or
diagnose); that module's registration in :data:`COMMANDS` then gives the command's arguments
and its function. The registry lives in the base layer so that a module can declare its
command without importing the command line (imports point down).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["COMMANDS", "MODULES", "command"]

Arguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]

#: subcommand name -> (help, function adding its arguments, function running it)
COMMANDS: dict[str, tuple[str, Arguments, Run]] = {}

#: every subcommand, in the order ``losskit --help`` lists them: name -> (the module that
#: registers it, its help line: the same text as its registration, which a test checks)
MODULES: dict[str, tuple[str, str]] = {
    "advise": ("losskit.cli", "which output layer, loss and metrics fit the target, and why"),
    "explain": ("losskit.explain", "formula, distribution, activation, gradient and pitfalls "
                "of a loss or family"),
    "fit": ("losskit.nn.cli", "train an MLP on a table and write the model, metrics and "
            "report"),
    "predict": ("losskit.nn.cli", "predict with a model saved by losskit fit (CSV out)"),
    "evaluate": ("losskit.nn.cli", "loss and metrics of a model saved by losskit fit on a "
                 "table (JSON)"),
    "compare": ("losskit.compare._cli", "is one loss really better than another on this data? "
                "repeated cross-validation with statistical tests"),
    "demo": ("losskit.demo", "reproduce the loss-comparison study on generated data"),
    "diagnose": ("losskit._diagnose_cli", "what any framework's learning curves say: "
                 "converged, still improving, overfitting, diverged"),
}


def command(name: str, help: str, arguments: Arguments) -> Callable[[Run], Run]:
    """Register ``run`` as the subcommand ``name`` (a decorator)."""

    def register(run: Run) -> Run:
        COMMANDS[name] = (help, arguments, run)
        return run

    return register
