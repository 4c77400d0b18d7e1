"""Logging set-up: one line per record, with the site, edge and lane on every line (journald keeps it)."""

from __future__ import annotations

import logging
import sys


class _Context(logging.Filter):
    def __init__(self, fields: dict[str, str]):
        super().__init__()
        self.text = " ".join(f"{k}={v}" for k, v in fields.items())

    def filter(self, record: logging.LogRecord) -> bool:
        record.context = self.text
        return True


def setup_logging(level: int = logging.INFO, **fields: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Context(fields))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(context)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
