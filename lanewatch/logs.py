"""Structured logs: one `key=value` line per record, with the site, edge and lane on every line.

    2026-12-01T00:00:01.234Z level=warning site=laocai-kimthanh2 edge=gate1 lane=out-1 camera=cam1 \
        logger=edge.sources msg="camera cam1: stream lost"      (one line)

Fields, in this order: `level`, the process's own fields (`site`, `edge`, or `service` for the central),
then `lane` and `camera` where the line is about one, `logger`, `msg`, and `exc` with an escaped
traceback. A line's lane comes from, first to last: `extra={"lane": ...}` on the call, `bind(lane=...)`
in the logging thread, or the camera whose thread logs (`pipeline-CAM`, `camera-CAM`,
`camera-CAM-reader-N`, named by edge/app.py and edge/sources.py) mapped through the config.

Records go to stderr, which systemd hands to the journal (stdout carries some commands' output,
such as `loadgen`'s JSON). Under systemd (`$JOURNAL_STREAM` set) each line starts with a `<N>` syslog
priority, which journald turns into the entry's priority (`journalctl -p warning`), and the timestamp
is left to journald; a multi-line traceback stays on its record's line, so no line lacks its fields.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

CONTEXT_KEYS = ("lane", "camera")  # per-line fields, after the process's own
_THREAD_CAMERA = re.compile(r"^(?:pipeline|camera)-(?P<camera>.+?)(?:-reader-\d+)?$")
_BARE = re.compile(r"^[^\s\"=\\]+$")
_SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}
_local = threading.local()


def bind(**fields: str | None) -> None:
    """Attach fields (e.g. `lane`) to every record this thread logs from now on; None removes one."""
    current = dict(getattr(_local, "fields", {}))
    for key, value in fields.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value
    _local.fields = current


def quote(value: object) -> str:
    """A logfmt value: bare when it is one plain word, else double-quoted with escapes (one line always)."""
    text = str(value)
    if text and _BARE.match(text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


class StructuredFormatter(logging.Formatter):
    def __init__(self, fields: Mapping[str, str], cameras: Mapping[str, str] | None = None, journald: bool = False):
        super().__init__()
        self.fields = dict(fields)
        self.cameras = dict(cameras or {})  # camera id -> lane id
        self.journald = journald

    def context(self, record: logging.LogRecord) -> dict[str, str]:
        found: dict[str, str] = {}
        match = _THREAD_CAMERA.match(record.threadName or "")
        if match and match["camera"] in self.cameras:
            found = {"lane": self.cameras[match["camera"]], "camera": match["camera"]}
        found.update(getattr(_local, "fields", {}) if record.thread == threading.get_ident() else {})
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                found[key] = str(value)
        return found

    def format(self, record: logging.LogRecord) -> str:
        parts = [] if self.journald else [
            datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"]
        parts.append(f"level={record.levelname.lower()}")
        context = self.context(record)
        for key, value in {**self.fields, **{k: context[k] for k in CONTEXT_KEYS if k in context}}.items():
            parts.append(f"{key}={quote(value)}")
        parts.append(f"logger={quote(record.name)}")
        parts.append(f"msg={quote(record.getMessage())}")
        if record.exc_info:
            parts.append(f"exc={quote(self.formatException(record.exc_info))}")
        line = " ".join(parts)
        if self.journald:
            return f"<{_SYSLOG_PRIORITY.get(record.levelno, 6)}>{line}"
        return line


def setup_logging(level: int = logging.INFO, *, cameras: Mapping[str, str] | None = None,
                  stream: TextIO | None = None, **fields: str) -> None:
    """Send every record through one structured handler. `fields` go on every line (site=, edge=,
    service=); `cameras` maps camera ids to lane ids, for lines logged by a camera's threads."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(StructuredFormatter(fields, cameras, journald=bool(os.environ.get("JOURNAL_STREAM"))))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
