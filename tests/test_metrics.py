"""Lane figures, pure: percentiles, bins, insufficient and stale data, Little's law, open lanes."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.metrics import (
    Finished,
    LaneInputs,
    MetricsParams,
    day_start,
    departure_rate,
    direction_expected_wait,
    duration_stats,
    lane_summary,
    percentile,
)

NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC).timestamp()  # 12:00 in Vietnam
PARAMS = MetricsParams(update_interval_s=30, min_trucks=5, rate_window_s=900, rate_lookback_s=7200)


def done(exit_ago: float, wait: float, processing: float = 90.0) -> Finished:
    exit_ts = NOW - exit_ago
    gate = exit_ts - processing
    return Finished("complete", gate - wait, gate, exit_ts, wait, processing, wait + processing)


def inputs(finished, waiting=10, is_open=True, data_age=1.0, occupancy=9, direction="export", lane="out-1"):
    return LaneInputs(site="laocai", lane=lane, direction=direction, is_open=is_open, now=NOW,
                      day_start=day_start(NOW, "Asia/Ho_Chi_Minh"), data_age_s=data_age, queue_length=waiting + 1,
                      waiting=waiting, camera_occupancy=occupancy, finished=finished)


@given(st.lists(st.floats(0, 1e5), min_size=1, max_size=50), st.floats(0, 1))
def test_percentile_matches_numpy(values, q):
    assert percentile(sorted(values), q) == pytest.approx(float(np.percentile(values, q * 100)), rel=1e-9, abs=1e-6)


def test_duration_stats_and_buffer_index():
    s = duration_stats([60, 120, 180, 240, 300, 600], min_trucks=5)
    assert (s.state, s.trucks, s.median_s, s.mean_s) == ("ok", 6, 210.0, 250.0)
    assert s.p95_s == pytest.approx(525.0) and s.buffer_index == pytest.approx((525 - 250) / 250, abs=1e-3)


def test_too_few_trucks_is_insufficient_data_not_zero():
    s = duration_stats([60, 120], min_trucks=5)
    assert (s.state, s.trucks, s.median_s, s.p95_s) == ("insufficient_data", 2, None, None)


def test_bins_use_gate_time_for_wait_and_exit_time_for_crossing():
    finished = [done(60 * i, wait=600 + i) for i in range(1, 70)]  # one truck a minute for 69 minutes
    summary, rate = lane_summary(inputs(finished), PARAMS)
    assert summary.last_15min.crossing.trucks == 15 and summary.last_hour.crossing.trucks == 60
    assert summary.last_15min.departures == 15 and summary.trucks_per_hour == 60
    # gate times are 90 s before exit: the wait bin of the last 15 minutes holds the trucks with gate >= now - 15 min
    assert summary.last_15min.wait.trucks == sum(1 for f in finished if f.gate_ts >= NOW - 900)
    assert summary.today.crossing.trucks == 69 and summary.state == "ok"
    assert rate == pytest.approx(sum(1 for f in finished if f.gate_ts >= NOW - 900) / 900)


def test_expected_wait_is_queue_over_departure_rate():
    finished = [done(120 * i, wait=900) for i in range(0, 30)]  # a departure every 2 minutes
    summary, rate = lane_summary(inputs(finished, waiting=12), PARAMS)
    assert rate == pytest.approx(7 / 900)  # gates 90 s before exits: i = 0..6 within the last 15 minutes
    assert summary.expected_wait_state == "ok" and summary.expected_wait_s == pytest.approx(12 / rate, rel=1e-3)


def test_expected_wait_falls_back_to_the_last_departures_when_the_window_is_thin():
    finished = [done(600 * i, wait=900) for i in range(0, 8)]  # one every 10 minutes: 2 in the window
    rate = departure_rate([f.gate_ts for f in finished], NOW, PARAMS)
    assert rate == pytest.approx(5 / (600 * 4 + 90))  # the 5th latest gate passage was 4 × 10 min + 90 s ago


def test_departure_rate_covers_the_queue_busy_period():
    # Departures every 2 minutes for 3 hours, the queue never empty for the last 90 minutes.
    gates = [NOW - 120 * i for i in range(90)]
    rate = departure_rate(gates, NOW, PARAMS, busy_since=NOW - 5400)
    assert rate == pytest.approx(sum(1 for t in gates if t >= NOW - 5400) / 5400)
    assert departure_rate(gates, NOW, PARAMS, busy_since=NOW - 60) == pytest.approx(8 / 900)  # at least the window
    assert departure_rate(gates, NOW, PARAMS, busy_since=NOW - 9 * 3600) == pytest.approx(61 / 7200)  # capped


def test_no_departures_means_insufficient_data_but_an_empty_queue_is_a_known_zero():
    summary, _ = lane_summary(inputs([], waiting=4), PARAMS)
    assert (summary.expected_wait_state, summary.expected_wait_s) == ("insufficient_data", None)
    summary, _ = lane_summary(inputs([], waiting=0), PARAMS)
    assert (summary.expected_wait_state, summary.expected_wait_s) == ("ok", 0.0)


def test_stale_lane_withholds_every_current_figure():
    finished = [done(60 * i, wait=600) for i in range(1, 30)]
    for age in (31.0, None):
        summary, _ = lane_summary(inputs(finished, data_age=age), PARAMS)
        assert summary.state == "stale"
        assert summary.queue_length is None and summary.waiting is None and summary.camera_occupancy is None
        assert summary.expected_wait_s is None and summary.expected_wait_state == "stale"
        assert summary.trucks_per_hour is None
        for b in (summary.last_15min, summary.last_hour, summary.today):
            assert b.crossing.state == "stale" and b.crossing.median_s is None and b.departures is None


def test_closed_lane_has_no_expected_wait_and_does_not_feed_its_direction():
    finished = [done(60 * i, wait=600) for i in range(0, 20)]
    open_lane = lane_summary(inputs(finished, waiting=10, lane="out-1"), PARAMS)
    closed = lane_summary(inputs(finished, waiting=30, is_open=False, lane="out-2"), PARAMS)
    assert closed[0].expected_wait_state == "closed" and closed[0].expected_wait_s is None
    assert direction_expected_wait([open_lane, closed]) == pytest.approx(10 / open_lane[1], rel=1e-3)
    other = lane_summary(inputs(finished, waiting=20, lane="out-3"), PARAMS)
    assert direction_expected_wait([open_lane, closed, other]) == pytest.approx(30 / (2 * open_lane[1]), rel=1e-3)
    assert direction_expected_wait([closed]) is None


def test_direction_is_unknown_when_an_open_lane_is_stale():
    finished = [done(60 * i, wait=600) for i in range(0, 20)]
    fresh = lane_summary(inputs(finished, waiting=10), PARAMS)
    stale = lane_summary(inputs(finished, waiting=10, data_age=100, lane="out-2"), PARAMS)
    assert direction_expected_wait([fresh, stale]) is None


def test_day_starts_at_site_midnight():
    assert datetime.fromtimestamp(day_start(NOW, "Asia/Ho_Chi_Minh"), UTC) == \
        datetime(2026, 11, 29, 17, 0, tzinfo=UTC)
    assert datetime.fromtimestamp(day_start(NOW, "Asia/Shanghai"), UTC) == \
        datetime(2026, 11, 29, 16, 0, tzinfo=UTC)


def test_lost_today_counts_lost_trucks_that_entered_today():
    lost = [Finished("lost", NOW - 3600 * h, None, None, None, None, None) for h in (1, 2, 13)]
    summary, _ = lane_summary(inputs(lost), PARAMS)
    assert summary.lost_today == 2  # 13 hours ago was yesterday in Vietnam
