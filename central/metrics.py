"""Lane figures from crossings, the way border wait-time studies report them. Pure logic, no I/O.

- Actual times are measured on trucks that finished: wait (enter → gate) binned by gate time,
  processing (gate → exit) and crossing (enter → exit) binned by exit time; median, 85th and 95th
  percentile, mean and buffer index (p95 − mean) ÷ mean, over the last 15 minutes, the last hour
  and the site's day so far. A bin with fewer than `min_trucks` says `insufficient_data`.
- Expected wait for a truck joining now: trucks waiting ÷ recent gate departure rate (Little's law,
  W = L / λ). The rate is measured over the queue's current busy period (since it was last empty, at
  least the rate window, at most the lookback): while trucks wait, departures run at the lane's
  capacity, and a longer sample of it predicts an hours-long wait far better than the last minutes
  do. A lane's direction figure pools its open lanes: Σ waiting ÷ Σ rate.
- When the lane's newest event or edge status is older than the update interval, it is `stale`:
  every current figure is withheld (null), never carried forward and never shown as 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from lanewatch.contract import BinSummary, Direction, DurationStats, LaneSummary


@dataclass(frozen=True)
class MetricsParams:
    update_interval_s: float = 30.0
    min_trucks: int = 5
    rate_window_s: float = 900.0
    rate_lookback_s: float = 7200.0  # longest busy period sampled; older departures never count


@dataclass(frozen=True)
class Finished:
    """What metrics need of one crossing (UTC epoch seconds)."""

    status: str
    enter_ts: float | None
    gate_ts: float | None
    exit_ts: float | None
    wait_s: float | None
    processing_s: float | None
    crossing_s: float | None


@dataclass(frozen=True)
class LaneInputs:
    site: str
    lane: str
    direction: Direction
    is_open: bool
    now: float
    day_start: float
    data_age_s: float | None  # None: never any data
    queue_length: int
    waiting: int
    camera_occupancy: int | None
    finished: Sequence[Finished]
    busy_since: float | None = None  # when the lane's queue was last empty; None: not known


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default) of a sorted, non-empty sequence."""
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def duration_stats(values: Sequence[float], min_trucks: int, stale: bool = False) -> DurationStats:
    if stale:
        return DurationStats(state="stale", trucks=len(values))
    if len(values) < min_trucks:
        return DurationStats(state="insufficient_data", trucks=len(values))
    ordered = sorted(values)
    mean = sum(ordered) / len(ordered)
    p95 = percentile(ordered, 0.95)
    return DurationStats(
        state="ok", trucks=len(ordered), median_s=round(percentile(ordered, 0.5), 1),
        p85_s=round(percentile(ordered, 0.85), 1), p95_s=round(p95, 1), mean_s=round(mean, 1),
        buffer_index=round((p95 - mean) / mean, 3) if mean > 0 else None,
    )


def bin_summary(finished: Sequence[Finished], since: float, now: float, min_trucks: int, stale: bool) -> BinSummary:
    def within(t: float | None) -> bool:
        return t is not None and since <= t <= now

    waits = [f.wait_s for f in finished if within(f.gate_ts) and f.wait_s is not None]
    by_exit = [f for f in finished if within(f.exit_ts)]
    return BinSummary(
        since=datetime.fromtimestamp(since, UTC),
        departures=None if stale else len(by_exit),
        wait=duration_stats(waits, min_trucks, stale),
        processing=duration_stats([f.processing_s for f in by_exit if f.processing_s is not None], min_trucks, stale),
        crossing=duration_stats([f.crossing_s for f in by_exit if f.crossing_s is not None], min_trucks, stale),
    )


def departure_rate(gate_times: Sequence[float], now: float, params: MetricsParams,
                   busy_since: float | None = None) -> float | None:
    """Trucks through the gate per second, recently: since the queue was last empty (at least the rate
    window, at most the lookback), or over the last `min_trucks` departures when that holds fewer;
    None when even those are missing."""
    since = now - params.rate_window_s
    if busy_since is not None:
        since = max(now - params.rate_lookback_s, min(busy_since, since))
    recent = sorted((t for t in gate_times if now - params.rate_lookback_s <= t <= now), reverse=True)
    in_window = [t for t in recent if t >= since]
    if len(in_window) >= params.min_trucks:
        return len(in_window) / (now - since)
    if len(recent) >= params.min_trucks:
        return params.min_trucks / (now - recent[params.min_trucks - 1])
    return None


def day_start(now: float, tz: str) -> float:
    """UTC epoch seconds of midnight, in the site's zone, of the day `now` falls on."""
    local = datetime.fromtimestamp(now, ZoneInfo(tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def is_stale(data_age_s: float | None, params: MetricsParams) -> bool:
    return data_age_s is None or data_age_s > params.update_interval_s


def lane_summary(inp: LaneInputs, params: MetricsParams) -> tuple[LaneSummary, float | None]:
    """The lane's figures, and its recent departure rate (for the direction's expected wait)."""
    stale = is_stale(inp.data_age_s, params)
    rate = departure_rate([f.gate_ts for f in inp.finished if f.gate_ts is not None], inp.now, params,
                          inp.busy_since)
    if stale:
        expected, expected_state = None, "stale"
    elif not inp.is_open:
        expected, expected_state = None, "closed"
    elif inp.waiting == 0:
        expected, expected_state = 0.0, "ok"  # an empty queue is a known zero wait
    elif rate is None:
        expected, expected_state = None, "insufficient_data"
    else:
        expected, expected_state = round(inp.waiting / rate, 1), "ok"
    hour_ago = inp.now - 3600
    summary = LaneSummary(
        site=inp.site, lane=inp.lane, direction=inp.direction, ts=datetime.fromtimestamp(inp.now, UTC),
        state="stale" if stale else "ok",
        data_age_s=None if inp.data_age_s is None else round(inp.data_age_s, 1),
        open=inp.is_open,
        queue_length=None if stale else inp.queue_length,
        waiting=None if stale else inp.waiting,
        camera_occupancy=None if stale else inp.camera_occupancy,
        trucks_per_hour=None if stale else
        sum(1 for f in inp.finished if f.exit_ts and hour_ago <= f.exit_ts <= inp.now),
        expected_wait_s=expected, expected_wait_state=expected_state,  # type: ignore[arg-type]
        lost_today=sum(1 for f in inp.finished if f.status == "lost" and f.enter_ts and f.enter_ts >= inp.day_start),
        last_15min=bin_summary(inp.finished, inp.now - 900, inp.now, params.min_trucks, stale),
        last_hour=bin_summary(inp.finished, hour_ago, inp.now, params.min_trucks, stale),
        today=bin_summary(inp.finished, inp.day_start, inp.now, params.min_trucks, stale),
    )
    return summary, rate


def direction_expected_wait(lanes: Sequence[tuple[LaneSummary, float | None]]) -> float | None:
    """Σ waiting ÷ Σ departure rate over the open lanes of one site and direction; None when any open
    lane's queue is unknown (stale) or has trucks waiting but no measured rate, or no lane is open."""
    waiting, rate, any_open = 0, 0.0, False
    for summary, lane_rate in lanes:
        if not summary.open:
            continue
        any_open = True
        if summary.waiting is None:
            return None
        if summary.waiting and lane_rate is None:
            return None
        waiting += summary.waiting
        rate += lane_rate or 0.0
    if not any_open:
        return None
    if waiting == 0:
        return 0.0
    return round(waiting / rate, 1) if rate > 0 else None
