"""Sub-commands that parse their own arguments (installer tools with parsers of their own).

The main parser lists them for `--help`; `dispatch` hands their arguments over untouched before the
main parser runs, so `lanewatch-central pki --help` shows the tool's own options. Each tool is
imported only when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Delegated:
    help: str
    target: str  # "package.module:function", called with the remaining arguments, returning an exit code

    def load(self) -> Callable[[list[str]], int]:
        module, function = self.target.split(":")
        return getattr(importlib.import_module(module), function)


def add_listing(sub: argparse._SubParsersAction, commands: Mapping[str, Delegated]) -> None:
    for name, command in commands.items():
        sub.add_parser(name, help=command.help, add_help=False)


def dispatch(argv: list[str], commands: Mapping[str, Delegated]) -> int | None:
    """The tool's exit code when `argv` names a delegated command, else None."""
    if argv[:1] and argv[0] in commands:
        return commands[argv[0]].load()(argv[1:])
    return None


def run_main(prog: str, argv: list[str] | None, commands: Mapping[str, Delegated],
             build_parser: Callable[[], argparse.ArgumentParser], errors: tuple[type[Exception], ...]) -> int:
    """A console script's `main`: a delegated tool gets its arguments untouched; otherwise the parsed
    sub-command's `func` runs, and the errors it is known to raise (a bad config, a bad model) become one
    line on stderr naming `prog`, with exit code 2, instead of a traceback."""
    argv = sys.argv[1:] if argv is None else argv
    delegated = dispatch(argv, commands)
    if delegated is not None:
        return delegated
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except errors as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
