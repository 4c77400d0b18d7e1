"""What the pages show (central/views.py) against ground truth, over a real SQLite store: the history filter,
crossing detail, histogram, queue length, and the board's figures with their stale and insufficient states."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from webdata import Sequencer, Truck, lane_status, truck_events

from central import views
from central.config import CentralConfig
from central.store import Store

T0 = datetime(2026, 11, 20, 1, 0, 0, tzinfo=UTC)


def make_config(tmp_path, **web) -> CentralConfig:
    return CentralConfig.model_validate({
        "database": str(tmp_path / "c.sqlite"), "web": web,
        "sites": [{"id": "laocai", "name": "Lào Cai", "lanes": [
            {"id": "out-1", "direction": "export"}, {"id": "in-1", "direction": "import"}]},
            {"id": "hekou", "name": "Hà Khẩu", "lanes": [{"id": "out-1", "direction": "export"}]}],
    })


@pytest.fixture
def world(tmp_path):
    config = make_config(tmp_path)
    store = Store(config.database)
    seq = Sequencer()
    trucks = []
    for i in range(30):
        site, lane = (("laocai", "out-1"), ("laocai", "in-1"), ("hekou", "out-1"))[i % 3]
        plate = f"24C{12000 + i}" if i % 2 else f"云G{34000 + i}"
        trucks.append(Truck(site, lane, f"edge-{site}", i, plate, "VN" if i % 2 else "CN",
                            T0 + timedelta(minutes=10 * i), wait_s=60 * (i + 1), process_s=90, weight_kg=10000 + i))
    store.add_events([e for i, t in enumerate(trucks) for e in truck_events(t, seq, crops=i < 3)])
    return config, store, trucks


def test_history_filter_returns_exactly_the_matching_crossings(world):
    config, store, trucks = world
    f = views.HistoryFilter(since=T0 + timedelta(minutes=25), until=T0 + timedelta(minutes=245), site="laocai",
                            direction="export", plate="24c-12")
    expected = [t for t in trucks if t.site == "laocai" and t.lane == "out-1" and t.plate.startswith("24C12")
                and f.since <= t.enter < f.until]
    expected.sort(key=lambda t: t.enter, reverse=True)
    assert len(expected) == 4
    result = views.history_query(store, config, f, page=1, page_size=3)
    assert result.total == 4
    assert [r.plate for r in result.rows] == [t.plate for t in expected[:3]]
    assert [r.plate for r in views.history_query(store, config, f, page=2, page_size=3).rows] == [expected[3].plate]
    rows = list(views.history_rows(store, config, f))
    assert [(r.plate, r.enter, r.gate, r.exit, r.weight_kg) for r in rows] == [
        (t.plate, t.enter, t.gate, t.exit, t.weight_kg) for t in expected]
    for r, t in zip(rows, expected, strict=True):
        assert (r.wait_s, r.crossing_s) == (t.wait_s, t.wait_s + t.process_s)
    # Histogram of exactly these crossing times.
    assert sum(n for _, _, n in result.histogram) == 4
    for t in expected:
        d = t.wait_s + t.process_s
        assert any(lo <= d < hi and n for lo, hi, n in result.histogram)


def test_same_lane_id_on_two_sites_and_a_chinese_plate(world):
    config, store, trucks = world
    f = views.HistoryFilter(since=T0, until=T0 + timedelta(days=1), lane="out-1", plate="云g")
    rows = list(views.history_rows(store, config, f))
    assert {r.site for r in rows} == {"laocai", "hekou"}
    assert sorted(r.plate for r in rows) == sorted(t.plate for t in trucks if t.lane == "out-1" and t.country == "CN")


def test_a_crossing_belongs_to_the_range_it_started_in(world):
    config, store, trucks = world
    t = trucks[4]  # enters at T0 + 40 min, leaves 5.5 min later
    inside = views.HistoryFilter(since=t.enter, until=t.enter + timedelta(seconds=1))
    assert [r.plate for r in views.history_rows(store, config, inside)] == [t.plate]
    before = views.HistoryFilter(since=t.enter + timedelta(seconds=1), until=t.exit + timedelta(minutes=1))
    assert t.plate not in [r.plate for r in views.history_rows(store, config, before)]


def test_track_ids_reused_later_make_separate_crossings(tmp_path):
    config = make_config(tmp_path)
    store = Store(config.database)
    seq = Sequencer()
    first = Truck("laocai", "out-1", "gate", 7, "24C11111", "VN", T0, 300, 60, None)
    again = Truck("laocai", "out-1", "gate", 7, "24C22222", "VN", T0 + timedelta(hours=5), 300, 60, None)
    store.add_events(truck_events(first, seq, crops=False) + truck_events(again, seq, crops=False))
    rows = list(views.history_rows(store, config, views.HistoryFilter(since=T0, until=T0 + timedelta(days=1))))
    assert [(r.plate, r.crossing_s) for r in rows] == [("24C22222", 360), ("24C11111", 360)]


def test_crossing_detail_and_plate_crop(world):
    config, store, trucks = world
    row = next(iter(views.history_rows(store, config, views.HistoryFilter(since=T0, until=T0 + timedelta(minutes=1)))))
    detail = views.crossing_detail(store, config, row.id)
    assert [e["type"] for e in detail.events] == ["enter", "gate", "weigh", "exit"]
    assert detail.crossing.plate == trucks[0].plate and detail.crossing.weight_kg == trucks[0].weight_kg
    crops = [p for p in detail.plates if p.has_crop]
    assert crops and views.plate_crop(store, crops[0].event_id, crops[0].index)[:3] == b"\xff\xd8\xff"
    assert views.plate_crop(store, crops[0].event_id, 3) is None
    assert views.crossing_detail(store, config, "0190a0c0-0000-7000-8000-000000000000") is None


def test_queue_length_over_time_counts_trucks_between_entering_and_the_gate(tmp_path):
    config = make_config(tmp_path)
    store = Store(config.database)
    seq = Sequencer()
    # Enter at 0, 1, 2 min; gates at 10, 11, 12 min.
    trucks = [Truck("laocai", "out-1", "gate", i, f"24C1000{i}", "VN", T0 + timedelta(minutes=i), 600, 60, None)
              for i in range(3)]
    store.add_events([e for t in trucks for e in truck_events(t, seq, crops=False)])
    f = views.HistoryFilter(since=T0 - timedelta(minutes=30), until=T0 + timedelta(minutes=30))
    result = views.history_query(store, config, f, 1, 50)
    assert result.queue_bin_s == 60
    by_minute = {views.parse_ts(ts): q for ts, q in result.queue}
    expected = {-1: 0, 0: 1, 1: 2, 2: 3, 5: 3, 10: 2, 11: 1, 12: 0, 20: 0}
    for minute, q in expected.items():
        assert by_minute[T0 + timedelta(minutes=minute)] == q, minute


def test_board_figures_from_the_last_hour(tmp_path):
    config = make_config(tmp_path, min_crossings=3)
    store = Store(config.database)
    seq = Sequencer()
    now = datetime.now(UTC).replace(microsecond=0)
    # Ten trucks finished in the last hour, four still queueing.
    done = [Truck("laocai", "out-1", "gate", i, f"24C2000{i}", "VN", now - timedelta(minutes=100 - 5 * i),
                  wait_s=600 + 120 * i, process_s=300, weight_kg=None) for i in range(10)]
    waiting = [Truck("laocai", "out-1", "gate", 100 + i, f"24C3000{i}", "VN", now - timedelta(minutes=4 - i),
                     0, 0, None) for i in range(4)]
    store.add_events([e for t in done for e in truck_events(t, seq, crops=False)]
                     + [e for t in waiting for e in truck_events(t, seq, crops=False, stages=("enter",))])
    store.put_status(lane_status("laocai", "out-1", "gate", 5, now, weighbridge_kg=30500.0))
    snap = views.board_snapshot(store, config, now)
    card = next(c for c in snap["lanes"] if (c["site"], c["lane"]) == ("laocai", "out-1"))
    last_hour = [t for t in done if now - timedelta(hours=1) < t.gate <= now]
    waits = sorted(t.wait_s for t in last_hour)
    crossings = sorted(t.wait_s + t.process_s for t in done if now - timedelta(hours=1) < t.exit <= now)
    assert card["stale"] is False
    assert card["queue_events"] == {"value": 4, "state": "ok"}
    assert card["queue_camera"] == {"value": 5, "state": "ok"}
    assert card["wait_s"]["median"]["value"] == round(statistics.median(waits))
    assert card["wait_s"]["p85"]["value"] == waits[math.ceil(0.85 * len(waits)) - 1]
    assert card["crossing_s"]["median"]["value"] == round(statistics.median(crossings))
    departures = sum(1 for t in done if now - timedelta(hours=1) < t.gate <= now)
    assert card["trucks_per_hour"]["value"] == departures
    assert card["expected_wait_s"]["value"] == round(4 / (departures / 3600))
    assert card["weighbridge"]["truck"]["weight_kg"] == 30500.0
    assert [p["text"] for p in card["last_plates"]] == ["24C30003", "24C30002", "24C30001", "24C30000"]
    assert card["queue_series"][-1] == 4 and len(card["queue_series"]) == 36


def test_board_says_stale_and_insufficient_instead_of_numbers(tmp_path):
    config = make_config(tmp_path, stale_after_s=30, min_crossings=3)
    store = Store(config.database)
    seq = Sequencer()
    now = datetime.now(UTC)
    one = Truck("laocai", "in-1", "gate", 1, "24C40001", "VN", now - timedelta(minutes=20), 300, 60, None)
    store.add_events(truck_events(one, seq, crops=False))
    store.put_status(lane_status("laocai", "in-1", "gate", 1, now))
    card = next(c for c in views.board_snapshot(store, config, now)["lanes"] if c["lane"] == "in-1")
    assert card["stale"] is False
    assert card["wait_s"]["median"] == {"value": None, "state": "insufficient"}
    assert card["expected_wait_s"] == {"value": 0, "state": "ok"}  # nobody waiting: zero is known, not guessed
    # A minute later with no new status, every current figure is stale (no old number carried forward).
    later = views.board_snapshot(store, config, now + timedelta(seconds=61))
    card = next(c for c in later["lanes"] if c["lane"] == "in-1")
    assert card["stale"] is True and card["health"][0]["online"] is False
    for key in ("queue_events", "queue_camera", "expected_wait_s", "trucks_per_hour"):
        assert card[key] == {"value": None, "state": "stale"}, key
    assert card["wait_s"]["median"]["state"] == "stale" and card["weighbridge"] == {"state": "stale"}
    never = next(c for c in later["lanes"] if c["site"] == "hekou")
    assert never["stale"] is True and never["health"] == []
