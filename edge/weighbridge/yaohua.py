"""What the Yaohua XK3190 continuous formats (tf0, tf1) share: their frames carry the displayed number and
its sign only, so the unit (kg or t) comes from the config and stability is decided in software."""

from __future__ import annotations

from edge.weighbridge.framing import FrameParser
from edge.weighbridge.reading import UNIT_TO_KG, Reading


class YaohuaParser(FrameParser):
    def __init__(self, unit: str = "kg"):
        super().__init__()
        self._to_kg = UNIT_TO_KG[unit]

    def _reading(self, shown: float, negative: bool) -> Reading:
        """A reading of `shown` in the display's unit (no motion flag: the frames have none)."""
        return Reading(weight_kg=(-shown if negative else shown) * self._to_kg)
