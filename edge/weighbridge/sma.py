"""SMA SCP-01 (Scale Manufacturers Association serial protocol), level 1: request `<LF>W<CR>`.

Reply: `<LF> s r n m f <10-char weight> <3-char unit> <CR>` (20 bytes). `s` status (Z centre of zero,
O over capacity, U under capacity, E/I zero error, T tare error, space), `r` range digit, `n` G/N/T/g/n,
`m` `M` in motion else space, `f` reserved. No checksum. See docs/weighbridge.md.
"""

from __future__ import annotations

import re

from edge.weighbridge.framing import BAD_CONTENT, NO_WEIGHT, DecodeResult, FrameParser
from edge.weighbridge.reading import UNIT_TO_KG, Reading

REQUEST_WEIGHT = b"\nW\r"
_FRAME = re.compile(rb"\n[ ZOUEIT][0-9][GNTgn][M ][\x20-\x7e][ +\-.0-9]{10}[\x20-\x7e]{3}\r")
_NUMBER = re.compile(rb" *[+-]? *(?:[0-9]+\.?[0-9]*|\.[0-9]+) *")
_UNITS = {b"kg ": UNIT_TO_KG["kg"], b"lb ": UNIT_TO_KG["lb"], b"t  ": UNIT_TO_KG["t"], b"g  ": UNIT_TO_KG["g"]}


class SmaParser(FrameParser):
    protocol = "sma"
    start = b"\n"
    frame_len = 20
    pattern = _FRAME

    def _decode(self, match: re.Match[bytes]) -> DecodeResult:
        frame = match.group()
        status = frame[1]
        if status in b"EIT" or frame[3] == 0x54:  # error replies carry dashes; 'T' is a tare reply
            return NO_WEIGHT
        field = frame[6:16]
        to_kg = _UNITS.get(frame[16:19])
        if to_kg is None or not _NUMBER.fullmatch(field):
            return BAD_CONTENT
        return Reading(
            weight_kg=float(field.replace(b" ", b"")) * to_kg,
            motion=frame[4] == 0x4D,  # 'M'
            overload=status == 0x4F,  # 'O'
            underload=status == 0x55,  # 'U'
            net=frame[3] in b"Nn",
        )


def encode(
    weight_kg: float,
    *,
    decimals: int = 0,
    motion: bool = False,
    net: bool = False,
    overload: bool = False,
    underload: bool = False,
) -> bytes:
    """One standard reply in kg, as an indicator would send it for `<LF>W<CR>`."""
    text = b"%.*f" % (decimals, weight_kg)
    if len(text) > 10:
        raise ValueError(f"weight {weight_kg} does not fit 10 characters with {decimals} decimals")
    status = b"O" if overload else b"U" if underload else b"Z" if not float(text) else b" "
    return (
        b"\n" + status + b"1" + (b"N" if net else b"G") + (b"M" if motion else b" ") + b" "
        + text.rjust(10) + b"kg \r"
    )
