"""Stable-weight capture: one weight per truck on the deck, decided in software.

A weight is stable when every reading of the last `window_s` seconds lies within `tolerance_kg`
(max - min) and the indicator, where it reports motion, says the scale is still. The first stable
weight above `min_load_kg` is captured; the next capture waits until the deck has been empty
(|weight| within `zero_band_kg`), so a truck standing for minutes is weighed once.

While the deck is empty and stable the software zero follows slow drift (auto-zero tracking,
bounded by `auto_zero_range_kg`), so a bridge that creeps 60 kg off zero over a hot afternoon
still weighs trucks right. Overload and negative weights are flagged once per episode and never
captured. Pure logic: the caller passes monotonic timestamps.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from statistics import median
from typing import Literal

from edge.weighbridge.config import StableConfig
from edge.weighbridge.reading import Reading

_EPSILON_S = 1e-6  # readings stamped exactly window_s apart count as covering the window


@dataclass(frozen=True, slots=True)
class StableWeight:
    """A captured truck weight."""

    mono_s: float  # monotonic time of the reading that completed the window
    weight_kg: float  # gross where the indicator says net and sends its tare
    window_s: float  # how long the weight had stayed within tolerance
    spread_kg: float
    net: bool  # True only when the indicator was in net mode and sent no tare
    zero_offset_kg: float  # software zero applied (auto-zero tracking)


@dataclass(frozen=True, slots=True)
class WeightFlag:
    """A weight that must not be recorded as a truck's (overload, below zero), or an empty deck whose zero
    has drifted past what software zero tracking may follow (`zero-drift`: the indicator needs re-zeroing)."""

    mono_s: float
    kind: Literal["overload", "negative", "zero-drift"]
    weight_kg: float


Event = StableWeight | WeightFlag


class StableWeighing:
    def __init__(self, config: StableConfig):
        self.config = config
        self.zero_offset_kg = 0.0
        self.stable = False  # the last reading completed a stable window
        self.armed = True  # a truck may be captured (the deck was empty since the last capture)
        self._window: deque[tuple[float, float]] = deque()
        self._last_mono: float | None = None
        self._flagged: set[str] = set()
        self._drift_flagged = False

    def update(self, mono_s: float, reading: Reading) -> list[Event]:
        cfg = self.config
        if self._last_mono is not None and mono_s - self._last_mono > cfg.max_gap_s:
            self._window.clear()  # lost readings: stability can't be vouched for across the gap
        self._last_mono = mono_s
        self.stable = False

        weight = reading.weight_kg - self.zero_offset_kg
        net = reading.net
        if net and reading.tare_kg is not None:
            weight, net = weight + reading.tare_kg, False

        if reading.overload or weight > cfg.capacity_kg:
            return self._flag(mono_s, "overload", weight)
        if reading.underload or weight < -cfg.zero_band_kg:
            return self._flag(mono_s, "negative", weight)
        empty = abs(weight) <= cfg.zero_band_kg
        if empty:
            self.armed = True
            self._flagged.clear()
        elif weight >= cfg.min_load_kg:
            self._flagged.discard("negative")
        if cfg.trust_motion and reading.motion:
            self._window.clear()
            return []

        window = self._window
        window.append((mono_s, weight))
        while len(window) >= 2 and mono_s - window[1][0] >= cfg.window_s - _EPSILON_S:
            window.popleft()
        covered = mono_s - window[0][0]
        if covered < cfg.window_s - _EPSILON_S:
            return []
        values = [v for _, v in window]
        spread = max(values) - min(values)
        if spread > cfg.tolerance_kg:
            return []
        self.stable = True

        if empty:
            return self._track_zero(mono_s, values)
        if self.armed and weight >= cfg.min_load_kg:
            self.armed = False
            return [
                StableWeight(
                    mono_s=mono_s,
                    weight_kg=median(values),
                    window_s=covered,
                    spread_kg=spread,
                    net=net,
                    zero_offset_kg=self.zero_offset_kg,
                )
            ]
        return []

    def _track_zero(self, mono_s: float, values: list[float]) -> list[Event]:
        limit = self.config.auto_zero_range_kg
        if limit <= 0:
            return []
        drift = sum(values) / len(values)
        wanted = self.zero_offset_kg + drift
        offset = min(max(wanted, -limit), limit)
        shift = offset - self.zero_offset_kg
        if shift:
            self.zero_offset_kg = offset
            self._window = deque((t, v - shift) for t, v in self._window)
        if abs(wanted) <= limit:
            self._drift_flagged = False
            return []
        if self._drift_flagged:
            return []
        self._drift_flagged = True  # once per episode: until the zero is back within reach
        return [WeightFlag(mono_s=mono_s, kind="zero-drift", weight_kg=wanted)]

    def _flag(self, mono_s: float, kind: Literal["overload", "negative"], weight: float) -> list[Event]:
        self._window.clear()
        if kind in self._flagged:
            return []
        self._flagged.add(kind)
        return [WeightFlag(mono_s=mono_s, kind=kind, weight_kg=weight)]
