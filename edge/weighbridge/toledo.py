"""Mettler Toledo continuous output: STX, status words A/B/C, 6-digit weight, 6-digit tare, CR, checksum.

Status word A bits 0-2 place the decimal point (code 2 = no decimal, 3..7 = 1..5 decimals,
1 and 0 = one or two dummy zeros); status word B: bit 0 net, bit 1 negative, bit 2 out of range,
bit 3 motion, bit 4 kg (else lb). The checksum makes the 7-bit sum of the whole frame zero; it is
optional on many terminals, hence `checksum=False`. See docs/weighbridge.md.
"""

from __future__ import annotations

import re

from edge.weighbridge.framing import BAD_CHECKSUM, DecodeResult, FrameParser
from edge.weighbridge.reading import LB_TO_KG, Reading

# Seven data bits plus parity (7E1) read as eight bits, or sent with bit 7 as "check bit": drop it.
_STRIP_BIT7 = bytes(i & 0x7F for i in range(256))
_STATUS = rb"[\x00-\x7f]"
_WITH_SUM = re.compile(rb"\x02" + _STATUS * 3 + rb"[0-9]{12}\r[\x00-\x7f]")
_WITHOUT_SUM = re.compile(rb"\x02" + _STATUS * 3 + rb"[0-9]{12}\r")
# Status word A code → factor on the displayed digits.
_SCALE = (100.0, 10.0, 1.0, 0.1, 0.01, 0.001, 0.0001, 0.00001)
_DIVISOR = (None, None, None, 10, 100, 1000, 10000, 100000)


def checksum(frame_without_sum: bytes) -> int:
    return -sum(frame_without_sum) & 0x7F


class ToledoParser(FrameParser):
    protocol = "toledo"
    start = b"\x02"

    def __init__(self, checksum: bool = True):
        super().__init__()
        self._checked = checksum
        self.pattern = _WITH_SUM if checksum else _WITHOUT_SUM
        self.frame_len = 18 if checksum else 17

    def _prepare(self, data: bytes) -> bytes:
        return data.translate(_STRIP_BIT7)

    def _decode(self, match: re.Match[bytes]) -> DecodeResult:
        frame = match.group()
        if self._checked and sum(frame) & 0x7F:
            return BAD_CHECKSUM
        code = frame[1] & 0x07
        swb = frame[2]
        weight = _scaled(int(frame[4:10]), code)
        tare = _scaled(int(frame[10:16]), code)
        if not swb & 0x10:  # pounds
            weight *= LB_TO_KG
            tare *= LB_TO_KG
        negative = bool(swb & 0x02)
        out_of_range = bool(swb & 0x04)
        return Reading(
            weight_kg=-weight if negative else weight,
            motion=bool(swb & 0x08),
            overload=out_of_range and not negative,
            underload=out_of_range and negative,
            net=bool(swb & 0x01),
            tare_kg=tare if swb & 0x01 else None,
        )


def _scaled(digits: int, code: int) -> float:
    divisor = _DIVISOR[code]
    # Divide rather than multiply by 0.1… so that 12345 with 2 decimals is exactly float("123.45").
    return digits / divisor if divisor else digits * _SCALE[code]


def encode(
    weight_kg: float,
    *,
    decimals: int = 0,
    motion: bool = False,
    tare_kg: float | None = None,
    out_of_range: bool = False,
    with_checksum: bool = True,
) -> bytes:
    """One frame in kg; `decimals` 0..5 (the indicator's display resolution)."""
    if not 0 <= decimals <= 5:
        raise ValueError(f"decimals must be 0..5, got {decimals}")
    digits = round(abs(weight_kg) * 10**decimals)
    tare_digits = round(abs(tare_kg or 0.0) * 10**decimals)
    if digits > 999_999 or tare_digits > 999_999:
        raise ValueError(f"weight {weight_kg} or tare {tare_kg} does not fit 6 digits with {decimals} decimals")
    swa = 0x20 | 0x08 | (2 + decimals)  # bit 5 always set; increment size x1
    swb = 0x20 | 0x10  # bit 5 set (most terminals), kg
    if tare_kg is not None:
        swb |= 0x01
    if weight_kg < 0 and digits:
        swb |= 0x02
    if out_of_range:
        swb |= 0x04
    if motion:
        swb |= 0x08
    swc = 0x20
    frame = bytes((0x02, swa, swb, swc)) + b"%06d%06d\r" % (digits, tare_digits)
    return frame + bytes((checksum(frame),)) if with_checksum else frame
