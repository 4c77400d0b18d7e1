"""Yaohua XK3190 continuous output, format 1 ("tf1", "reversed"): `=` + 7 characters + sign.

The 7 characters are the displayed value including its decimal point, lowest digit first;
the 8th is the sign, `0` or `-`. 3.000 kg → `=000.3000`; -1.00 → `=00.1000-`. There is no
checksum: a frame is accepted when its shape is exact. See docs/weighbridge.md.
"""

from __future__ import annotations

import re

from edge.weighbridge.framing import BAD_CONTENT, DecodeResult
from edge.weighbridge.yaohua import YaohuaParser

_FRAME = re.compile(rb"=[0-9.]{7}[0-9-]")


class YaohuaTf1Parser(YaohuaParser):
    protocol = "yaohua-tf1"
    start = b"="
    frame_len = 9
    pattern = _FRAME

    def _decode(self, match: re.Match[bytes]) -> DecodeResult:
        frame = match.group()
        shown = frame[7:0:-1]  # characters 2..8 reversed: the value as displayed
        if shown.count(b".") > 1 or shown[0] == 0x2E or shown[-1] == 0x2E:
            return BAD_CONTENT
        return self._reading(float(shown), frame[8] == 0x2D)  # sign '-'


def encode(weight: float, decimals: int = 0) -> bytes:
    """One frame showing `weight` (in the indicator's unit) with `decimals` decimal places."""
    if not 0 <= decimals <= 5:
        raise ValueError(f"decimals must be 0..5, got {decimals}")
    width = 7 if decimals == 0 else 6  # the decimal point takes one of the 7 places
    digits = round(abs(weight) * 10**decimals)
    if digits >= 10**width:
        raise ValueError(f"weight {weight} does not fit 7 characters with {decimals} decimals")
    text = b"%0*d" % (width, digits)
    if decimals:
        text = text[:-decimals] + b"." + text[-decimals:]
    sign = b"-" if weight < 0 and digits else b"0"
    return b"=" + text[::-1] + sign
