"""Incremental scanning of a continuous byte stream for fixed-length frames.

Every protocol here frames with a start byte that cannot occur inside a frame's payload
(STX, `=`, LF), so a parser can restart at any start byte after garbage and a corrupt or
truncated frame never hides the next good one. Scanning is one precompiled regex searched
over the buffer: the loop in Python runs once per frame, not once per byte.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import ClassVar, Final

from edge.weighbridge.reading import ParserStats, Reading


class _Bad:
    """Why a structurally matching frame was refused."""

    __slots__ = ("kind",)

    def __init__(self, kind: str):
        self.kind = kind


BAD_CHECKSUM: Final = _Bad("checksum")
BAD_CONTENT: Final = _Bad("content")  # right shape, impossible values (two decimal points, unknown unit…)
NO_WEIGHT: Final = None  # a valid frame that carries no weight (indicator error reply, tare reply)

DecodeResult = Reading | _Bad | None


class FrameParser(ABC):
    """Feed bytes, get readings. Never raises on any input; keeps at most one partial frame."""

    protocol: ClassVar[str]
    start: bytes  # the frame's first byte
    frame_len: int
    pattern: re.Pattern[bytes]  # set by subclasses (class or instance attribute)

    def __init__(self) -> None:
        self.stats = ParserStats()
        self._buf = b""
        self._in_garbage = False

    @abstractmethod
    def _decode(self, match: re.Match[bytes]) -> DecodeResult: ...

    def _prepare(self, data: bytes) -> bytes:
        """Hook for protocols that must clean raw bytes first (e.g. strip a parity bit)."""
        return data

    def reset(self) -> None:
        """Forget a partial frame (the port was reopened); counters are kept."""
        self._buf = b""
        self._in_garbage = False

    def feed(self, data: bytes | bytearray | memoryview) -> list[Reading]:
        if not data:
            return []
        chunk = self._prepare(bytes(data))
        buf = self._buf + chunk if self._buf else chunk
        stats = self.stats
        search = self.pattern.search
        out: list[Reading] = []
        pos = 0
        while (match := search(buf, pos)) is not None:
            begin = match.start()
            if begin > pos:
                self._skip(begin - pos)
            result = self._decode(match)
            if isinstance(result, _Bad):
                if result is BAD_CHECKSUM:
                    stats.checksum_errors += 1
                else:
                    stats.framing_errors += 1
                # Resume one byte on: the refused frame's last byte may be the next frame's start.
                self._in_garbage = True
                stats.garbage_bytes += 1
                pos = begin + 1
                continue
            stats.frames += 1
            self._in_garbage = False
            if result is not None:
                out.append(result)
            pos = match.end()
        # Keep the earliest start byte that could still begin a complete frame; drop the rest.
        size = len(buf)
        keep = buf.find(self.start, max(pos, size - self.frame_len + 1))
        if keep < 0:
            keep = size
        if keep > pos:
            self._skip(keep - pos)
        self._buf = buf[keep:]
        return out

    def _skip(self, count: int) -> None:
        self.stats.garbage_bytes += count
        if not self._in_garbage:
            self.stats.framing_errors += 1
            self._in_garbage = True
