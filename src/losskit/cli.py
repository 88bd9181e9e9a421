"""The ``losskit`` command: parse arguments, call the API, write files. No logic of its own.

Every command that writes a folder (``--out DIR``) writes machine-readable JSON there beside the
human report; all JSON is strict (no ``NaN``/``Infinity``). Errors from the API
(``ValueError``/``TypeError``, already in the project's message template) are printed as
``losskit <command>: error: ...`` with exit status 2, and so are file-system errors
(``OSError``) and running out of memory: never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from losskit._commands import COMMANDS, MODULES, command

__all__ = ["COMMANDS", "command", "main"]


def _advise_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help="CSV or Parquet file")
    parser.add_argument("--target", required=True, help="the column to predict")
    parser.add_argument("--json", action="store_true", help="print JSON for programs")


@command("advise", "which output layer, loss and metrics fit the target, and why",
         _advise_arguments)
def _advise(args: argparse.Namespace) -> int:
    from losskit._io import strict_json
    from losskit.advise import advise
    from losskit.datasets import read_table, split_target

    X, y = split_target(read_table(args.data, command="advise"), args.target,
                        allow_missing_features=True, command="advise")
    numeric = X.select_dtypes("number")
    try:
        advice = advise(y, numeric if numeric.shape[1] else None)
    except (ValueError, TypeError) as error:  # the column in the user's words, not "y"
        text = str(error)
        if text.startswith("advise: y "):
            text = f"advise: --target {args.target!r} " + text[len("advise: y "):]
        raise type(error)(text) from None
    print(strict_json(advice.to_dict(), where="advise", nonfinite="null") if args.json else advice)
    return 0


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every default; an option whose help already states it (or that has none) is
    left as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False) or "default" in text:
            return action.help
        return super()._get_help_string(action)


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """Every command with its help line; the arguments of the one ``argv`` runs (the first
    word that is not an option), whose module alone is imported (see :func:`_load`)."""
    # no abbreviations: `--ep 4` must not silently mean --epochs (or a future --epsilon)
    parser = argparse.ArgumentParser(
        prog="losskit", description="Choose, compute and diagnose the loss of a neural network.",
        allow_abbrev=False)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    name = next((word for word in argv if not word.startswith("-")), None)
    for command_name, (_, help_text) in MODULES.items():
        sub = subparsers.add_parser(command_name, help=help_text, description=help_text,
                                    formatter_class=_HelpFormatter, allow_abbrev=False)
        if command_name == name:
            _, arguments, run = _load(command_name)
            arguments(sub)
            sub.set_defaults(run=run, parser=sub)
    return parser


#: the imports whose absence means an optional extra is not installed (not a bug)
_OPTIONAL = ("torch", "pandas", "matplotlib")


def _load(name: str) -> tuple[str, Any, Any]:
    """Import the module of the command ``name``; its registration in :data:`COMMANDS`."""
    import importlib

    if name in COMMANDS:  # registered already (advise, by this module)
        return COMMANDS[name]
    try:
        importlib.import_module(MODULES[name][0])
    except ImportError as error:  # a missing optional extra: say which, not a traceback
        if error.name is None or not (error.name.startswith("losskit")
                                      or error.name in _OPTIONAL):
            raise
        raise _MissingExtra(f"losskit {name}: error: needs {error.name!r}, which is not "
                            f"installed here ({error}). Install it to use this command") from None
    return COMMANDS[name]


class _MissingExtra(Exception):
    """A command whose module needs an optional dependency that is not installed."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``losskit`` with ``argv`` (default: the process arguments); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = _parser(argv)
    except _MissingExtra as error:
        print(error, file=sys.stderr)
        return 2
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # reported by the command's own parser: its usage, "losskit <command>: error"
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return args.run(args)
    except (ValueError, TypeError) as error:
        print(f"losskit {args.command}: error: {_message(args.command, error)}",
              file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader stopped reading (losskit advise ... | head): not an
        # error of the command; stdout to /dev/null so that Python's exit flush stays quiet
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a command a closed pipe ended
    except OSError as error:  # a path problem the command did not foresee
        where = f" {error.filename!r}" if error.filename else ""
        print(f"losskit {args.command}: error: cannot use{where}: "
              f"{error.strerror or error}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"losskit {args.command}: error: ran out of memory. Use smaller --hidden "
              "layers, fewer rows or fewer columns", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"losskit {args.command}: interrupted", file=sys.stderr)
        return 130


def _message(name: str, error: BaseException) -> str:
    """The error's message without a repeated ``<command>:`` prefix."""
    text = str(error)
    return text[len(name) + 2:] if text.startswith(f"{name}: ") else text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
