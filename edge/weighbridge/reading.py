"""What a weighbridge indicator told us in one frame, and the counters a parser keeps."""

from __future__ import annotations

from dataclasses import dataclass

LB_TO_KG = 0.45359237
UNIT_TO_KG = {"kg": 1.0, "t": 1000.0, "lb": LB_TO_KG, "g": 0.001}


@dataclass(frozen=True, slots=True)
class Reading:
    """One displayed weight, already converted to kilograms.

    `motion` is None when the protocol does not report it (Yaohua): software then decides stability.
    `overload`/`underload` come from the indicator's own status where it has one.
    """

    weight_kg: float
    motion: bool | None = None
    overload: bool = False
    underload: bool = False
    net: bool = False
    tare_kg: float | None = None


@dataclass(slots=True)
class ParserStats:
    """Counters since the parser was made; a reopened port keeps counting."""

    frames: int = 0  # well-formed frames with a good checksum (readings or indicator status replies)
    checksum_errors: int = 0
    framing_errors: int = 0  # runs of bytes that were not part of any frame
    garbage_bytes: int = 0

    @property
    def frame_errors(self) -> int:
        return self.checksum_errors + self.framing_errors
