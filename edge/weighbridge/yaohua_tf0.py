"""Yaohua XK3190 continuous output, format 0 ("tf0"): 12-byte frames with an XOR check.

`02 | sign | 6 digits, high first | decimals 0-4 | XOR high nibble | XOR low nibble | 03`,
XOR over bytes 2..9 (sign to decimals) sent as two ASCII hex characters. See docs/weighbridge.md.
"""

from __future__ import annotations

import re

from edge.weighbridge.framing import BAD_CHECKSUM, DecodeResult
from edge.weighbridge.yaohua import YaohuaParser

STX, ETX = 0x02, 0x03
_FRAME = re.compile(rb"\x02[+-][0-9]{6}[0-4][0-9A-Fa-f]{2}\x03")


def xor8(data: bytes) -> int:
    """XOR of all bytes of an 8-byte string, folded in integer arithmetic (no per-byte loop)."""
    x = int.from_bytes(data, "little")
    x ^= x >> 32
    x ^= x >> 16
    x ^= x >> 8
    return x & 0xFF


class YaohuaTf0Parser(YaohuaParser):
    protocol = "yaohua-tf0"
    start = b"\x02"
    frame_len = 12
    pattern = _FRAME

    def _decode(self, match: re.Match[bytes]) -> DecodeResult:
        frame = match.group()
        if xor8(frame[1:9]) != int(frame[9:11], 16):
            return BAD_CHECKSUM
        return self._reading(int(frame[2:8]) / 10 ** (frame[8] - 0x30), frame[1] == 0x2D)  # sign '-'


def encode(weight: float, decimals: int = 0) -> bytes:
    """One frame showing `weight` (in the indicator's unit) with `decimals` decimal places."""
    if not 0 <= decimals <= 4:
        raise ValueError(f"decimals must be 0..4, got {decimals}")
    digits = round(abs(weight) * 10**decimals)
    if digits > 999_999:
        raise ValueError(f"weight {weight} does not fit 6 digits with {decimals} decimals")
    body = (b"-" if weight < 0 and digits else b"+") + b"%06d%d" % (digits, decimals)
    return b"\x02" + body + b"%02X" % xor8(body) + b"\x03"
