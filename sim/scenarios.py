"""Traffic scenarios: how trucks arrive and how long each step of the crossing takes.

Arrivals are a non-homogeneous Poisson process (rate piecewise linear over a repeating cycle)
plus convoys: bursts of trucks released together from an upstream parking lot or customs yard.
Service times are lognormal (median, sigma) and clipped to a plausible range.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

ScenarioName = Literal["steady", "busy", "plates", "demo"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogNormal(_Model):
    median_s: float = Field(gt=0, description="median duration in seconds")
    sigma: float = Field(ge=0, le=2, description="sigma of the underlying normal (spread)")
    min_s: float = Field(ge=0, description="shortest duration drawn")
    max_s: float = Field(gt=0, description="longest duration drawn")

    @model_validator(mode="after")
    def _range(self) -> LogNormal:
        if not self.min_s <= self.median_s <= self.max_s:
            raise ValueError(f"expected min_s <= median_s <= max_s, got {self.min_s}, {self.median_s}, {self.max_s}")
        return self

    def draw(self, rng: np.random.Generator) -> float:
        return float(np.clip(self.median_s * np.exp(self.sigma * rng.standard_normal()), self.min_s, self.max_s))


class Convoys(_Model):
    per_hour: float = Field(ge=0, description="convoys starting per hour while the rate profile allows them")
    only_before_min: float = Field(description="convoys start only in the first minutes of each cycle")
    min_size: int = Field(ge=1, description="fewest trucks in a convoy")
    max_size: int = Field(ge=1, description="most trucks in a convoy")
    min_headway_s: float = Field(gt=0, description="shortest gap between trucks of a convoy")
    max_headway_s: float = Field(gt=0, description="longest gap between trucks of a convoy")


class Scenario(_Model):
    name: ScenarioName = Field(description="scenario name")
    cycle_min: float = Field(gt=0, description="the rate profile repeats with this period (minutes)")
    rate_points: tuple[tuple[float, float], ...] = Field(
        description="(minute in cycle, trucks per hour) points; the rate is linear between them"
    )
    convoys: Convoys = Field(description="bursts of arrivals")
    checkin: LogNormal = Field(description="yard-entrance booth: ticket and registration")
    yard_transit: LogNormal = Field(description="driving through the holding yard when nobody waits")
    yard_soft_capacity: int = Field(ge=0, description="beyond this many trucks in the yard the marshal meters entry")
    weigh: LogNormal = Field(description="standing still on the weighbridge deck")
    inspection: LogNormal = Field(description="document check at the barrier")
    physical_inspection: LogNormal = Field(description="occasional physical inspection of the cargo")
    physical_share: float = Field(ge=0, le=1, description="share of trucks inspected physically")
    signal_clearance_s: float = Field(ge=0, description="red-light time after a truck left before the next may go")

    def rate_per_hour(self, t_s: float) -> float:
        minute = (t_s / 60.0) % self.cycle_min
        xs = [p[0] for p in self.rate_points] + [self.cycle_min]
        ys = [p[1] for p in self.rate_points] + [self.rate_points[0][1]]
        return float(np.interp(minute, xs, ys))

    def arrivals(self, rng: np.random.Generator, convoy_rng: np.random.Generator, duration_s: float) -> list[float]:
        """Arrival times in [0, duration_s), sorted; separate streams make a longer run start like a shorter one."""
        peak = max(p[1] for p in self.rate_points) / 3600.0
        times: list[float] = []
        t = 0.0
        while peak > 0:
            t += float(rng.exponential(1.0 / peak))
            if t >= duration_s:
                break
            if rng.random() * peak <= self.rate_per_hour(t) / 3600.0:  # thinning
                times.append(t)
        c = self.convoys
        t = 0.0
        while c.per_hour > 0:
            t += float(convoy_rng.exponential(3600.0 / c.per_hour))
            if t >= duration_s:
                break
            size = int(convoy_rng.integers(c.min_size, c.max_size + 1))
            gaps = convoy_rng.uniform(c.min_headway_s, c.max_headway_s, size)
            if (t / 60.0) % self.cycle_min >= c.only_before_min:
                continue
            at = t
            for gap in gaps:
                if at < duration_s:
                    times.append(at)
                at += float(gap)
        return sorted(times)


_SERVICE = dict(
    checkin=LogNormal(median_s=5, sigma=0.35, min_s=2, max_s=15),
    yard_transit=LogNormal(median_s=60, sigma=0.3, min_s=30, max_s=180),
    weigh=LogNormal(median_s=38, sigma=0.35, min_s=20, max_s=90),
    inspection=LogNormal(median_s=25, sigma=0.4, min_s=10, max_s=90),
    physical_inspection=LogNormal(median_s=180, sigma=0.35, min_s=90, max_s=420),
    physical_share=0.1,
    signal_clearance_s=3.0,
)

STEADY = Scenario(
    name="steady",
    cycle_min=45,
    rate_points=((0, 22), (15, 28), (30, 16)),
    convoys=Convoys(per_hour=1.5, only_before_min=45, min_size=2, max_size=4, min_headway_s=20, max_headway_s=40),
    yard_soft_capacity=20,
    **_SERVICE,  # type: ignore[arg-type]
)

# A morning rush after the gate opens: trucks that waited overnight arrive in a few minutes,
# the queue reaches about 30 in ten minutes, peaks near 50 and drains within the 170-minute cycle.
BUSY = Scenario(
    name="busy",
    cycle_min=170,
    rate_points=((0, 230), (10, 190), (20, 40), (25, 6), (160, 6)),
    convoys=Convoys(per_hour=4, only_before_min=20, min_size=2, max_size=4, min_headway_s=10, max_headway_s=20),
    yard_soft_capacity=20,
    **_SERVICE,  # type: ignore[arg-type]
)

NO_CONVOYS = Convoys(per_hour=0, only_before_min=0, min_size=1, max_size=1, min_headway_s=1, max_headway_s=1)

# Plate reading: a truck every ~15 s, no convoys, brisk service, so many trucks pass the gate
# camera in a short video (the plate accuracy test and benchmark); not a real day at the gate.
PLATES = Scenario(
    name="plates",
    cycle_min=60,
    rate_points=((0, 240), (60, 240)),
    convoys=NO_CONVOYS,
    checkin=LogNormal(median_s=2, sigma=0.2, min_s=1, max_s=4),
    yard_transit=LogNormal(median_s=8, sigma=0.2, min_s=5, max_s=15),
    yard_soft_capacity=50,
    weigh=LogNormal(median_s=4, sigma=0.3, min_s=2, max_s=8),
    inspection=LogNormal(median_s=3, sigma=0.3, min_s=2, max_s=8),
    physical_inspection=LogNormal(median_s=6, sigma=0.3, min_s=3, max_s=10),
    physical_share=0.0,
    signal_clearance_s=1.0,
)

# `make demo`: a ten-minute video that is looped, so every truck that arrives must also leave within
# it: trucks arrive in the first four minutes (a queue forms), then the lane empties before the loop.
DEMO = Scenario(
    name="demo",
    cycle_min=10,
    rate_points=((0, 75), (4, 75), (4.01, 0), (9.99, 0)),
    convoys=NO_CONVOYS,
    checkin=LogNormal(median_s=5, sigma=0.35, min_s=2, max_s=15),
    yard_transit=LogNormal(median_s=30, sigma=0.3, min_s=15, max_s=60),
    yard_soft_capacity=20,
    weigh=LogNormal(median_s=30, sigma=0.3, min_s=20, max_s=60),
    inspection=LogNormal(median_s=15, sigma=0.3, min_s=8, max_s=40),
    physical_inspection=LogNormal(median_s=90, sigma=0.3, min_s=60, max_s=150),
    physical_share=0.0,
    signal_clearance_s=3.0,
)

SCENARIOS: dict[str, Scenario] = {"steady": STEADY, "busy": BUSY, "plates": PLATES, "demo": DEMO}
