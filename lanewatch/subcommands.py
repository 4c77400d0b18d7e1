"""Sub-commands that parse their own arguments (installer tools with parsers of their own).

The main parser lists them for `--help`; `dispatch` hands their arguments over untouched before the
main parser runs, so `lanewatch-central pki --help` shows the tool's own options. Each tool is
imported only when it runs.
"""

from __future__ import annotations

import argparse
import importlib
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
