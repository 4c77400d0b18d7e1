"""What the pages show (central/views.py) against ground truth, over a real SQLite store filled the way the
central fills it: events stored, then assembled and summarised by the real aggregator. Nothing here is
recomputed by the views; these tests check that the pages read the right rows and figures and say "stale"
or "insufficient" instead of a number."""

from __future__ import annotations

import asyncio
import json
import statistics
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from webdata import Sequencer, Truck, lane_status, truck_events

from central import history, views
from central.aggregator import Aggregator
from central.config import CentralConfig
from central.feed import BoardFeed, Readers
from central.store import Store, iso_utc

T0 = datetime(2026, 11, 20, 1, 0, 0, tzinfo=UTC)


def make_config(tmp_path, **metrics) -> CentralConfig:
    return CentralConfig.model_validate({
        "database": str(tmp_path / "c.sqlite"), "metrics": {"min_trucks": 3, **metrics},
        "sites": [{"id": "laocai", "name": "Lào Cai", "lanes": [
            {"id": "out-1", "direction": "export"}, {"id": "in-1", "direction": "import"}]},
            {"id": "hekou", "name": "Hà Khẩu", "lanes": [{"id": "out-1", "direction": "export"}]}],
    })


def ingest(config: CentralConfig, store: Store, events: list, at: datetime, statuses: tuple = ()) -> Aggregator:
    """Store events and statuses, and let the central's aggregator assemble and summarise them as of `at`,
    as the ingest hands them over."""
    aggregator = Aggregator(config, store, clock=lambda: at.timestamp())
    aggregator.start()
    aggregator.on_events(store.add_new_events(events))
    for s in statuses:
        store.put_status(s)
    for s in statuses:
        aggregator.on_status(s)
    for _ in range(3):  # late events trigger a rebuild on the next run
        aggregator.run()
        aggregator.last_run.clear()
    return aggregator


def reader(config: CentralConfig) -> Store:
    return Store.reader(history.connect(config.database))


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
    ingest(config, store, [e for i, t in enumerate(trucks) for e in truck_events(t, seq, crops=i < 3)],
           datetime.now(UTC))
    with closing(reader(config)) as r:
        yield config, r, trucks
    store.close()


def test_history_filter_returns_exactly_the_matching_crossings(world):
    config, store, trucks = world
    f = views.HistoryFilter(since=T0 + timedelta(minutes=25), until=T0 + timedelta(minutes=245), site="laocai",
                            direction="export", plate="24c-12")
    expected = [t for t in trucks if t.site == "laocai" and t.lane == "out-1" and t.plate.startswith("24C12")
                and f.since <= t.enter < f.until]
    expected.sort(key=lambda t: t.enter, reverse=True)
    assert len(expected) == 4
    first = views.history_query(store, config, f, page_size=3)
    assert first.total == 4 and first.newer is None and first.older is not None
    assert [r.plate for r in first.rows] == [t.plate for t in expected[:3]]
    second = views.history_query(store, config, f, page_size=3, older=first.older)
    assert [r.plate for r in second.rows] == [expected[3].plate] and second.older is None
    back = views.history_query(store, config, f, page_size=3, newer=second.newer)
    assert [r.id for r in back.rows] == [r.id for r in first.rows] and back.newer is None
    rows = [views.CrossingRow.from_history(r) for r in views.history_rows(store, f)]
    assert [(r.plate, r.enter, r.gate, r.exit, r.weight_kg) for r in rows] == [
        (t.plate, t.enter, t.gate, t.exit, t.weight_kg) for t in expected]
    for r, t in zip(rows, expected, strict=True):
        assert (r.wait_s, r.crossing_s, r.status, r.method) == (t.wait_s, t.wait_s + t.process_s, "complete", "track")
    # Histogram of exactly these crossing times.
    assert sum(n for _, _, n in first.histogram) == 4
    for t in expected:
        d = t.wait_s + t.process_s
        assert any(lo <= d < hi and n for lo, hi, n in first.histogram)


def test_histogram_counts_every_matching_crossing_in_its_bin(world):
    config, store, trucks = world
    f = views.HistoryFilter(since=T0, until=T0 + timedelta(days=1))
    result = views.history_query(store, config, f, page_size=10)
    assert result.total == 30 and len(result.rows) == 10
    widths = {hi - lo for lo, hi, _ in result.histogram}
    assert len(widths) == 1 and len(result.histogram) <= views.HISTOGRAM_BINS
    width = widths.pop()
    counts = [0] * len(result.histogram)
    for t in trucks:
        counts[int((t.wait_s + t.process_s) // width)] += 1
    assert [n for _, _, n in result.histogram] == counts


def test_same_lane_id_on_two_sites_and_a_chinese_plate(world):
    config, store, trucks = world
    f = views.HistoryFilter(since=T0, until=T0 + timedelta(days=1), lane="out-1", plate="云g")
    rows = list(views.history_rows(store, f))
    assert {r["site"] for r in rows} == {"laocai", "hekou"}
    cn = [t.plate for t in trucks if t.lane == "out-1" and t.country == "CN"]
    assert sorted(r["plate"] for r in rows) == sorted(cn)


def test_a_crossing_belongs_to_the_range_it_started_in(world):
    config, store, trucks = world
    t = trucks[4]  # enters at T0 + 40 min, leaves 6.5 min later
    inside = views.HistoryFilter(since=t.enter, until=t.enter + timedelta(seconds=1))
    assert [r["plate"] for r in views.history_rows(store, inside)] == [t.plate]
    before = views.HistoryFilter(since=t.enter + timedelta(seconds=1), until=t.exit + timedelta(minutes=1))
    assert t.plate not in [r["plate"] for r in views.history_rows(store, before)]


def test_crossing_detail_says_how_it_was_matched_and_has_the_plate_crops(world):
    config, store, trucks = world
    row = next(views.history_rows(store, views.HistoryFilter(since=T0, until=T0 + timedelta(minutes=1))))
    detail = views.crossing_detail(store, row["id"])
    assert [e["type"] for e in detail.events] == ["enter", "gate", "weigh", "exit"]
    assert detail.crossing.plate == trucks[0].plate and detail.crossing.weight_kg == trucks[0].weight_kg
    assert detail.crossing.method == "track" and detail.crossing.edges == ["edge-laocai"]
    crops = [p for p in detail.plates if p.has_crop]
    assert crops and views.plate_crop(store, crops[0].event_id, crops[0].index)[:3] == b"\xff\xd8\xff"
    assert views.plate_crop(store, crops[0].event_id, 3) is None
    assert views.crossing_detail(store, 999_999) is None


def _rigs_world(tmp_path):
    """Tractor-trailers (rear plate read at the gate side) beside rigid trucks, some plates read unsurely."""
    config = make_config(tmp_path)
    store = Store(config.database)
    seq = Sequencer()
    trucks = [
        Truck("laocai", "out-1", "gate", 1, "24C50001", "VN", T0, 600, 120, 30000.0, trailer="24R00123",
              trailer_country="VN"),
        Truck("laocai", "out-1", "gate", 2, "川Y49015", "CN", T0 + timedelta(minutes=5), 600, 120, 30000.0,
              confidence=0.48, trailer="云G1234挂", trailer_country="CN", trailer_confidence=0.31),
        Truck("laocai", "out-1", "gate", 3, "24C50003", "VN", T0 + timedelta(minutes=10), 600, 120, None),
    ]
    ingest(config, store, [e for t in trucks for e in truck_events(t, seq, crops=True)], datetime.now(UTC))
    return config, store, trucks


def test_tractor_trailer_crossings_keep_both_plates_and_are_found_by_either(tmp_path):
    config, store, trucks = _rigs_world(tmp_path)
    day = dict(since=T0, until=T0 + timedelta(days=1))
    with closing(reader(config)) as r:
        every = {row["plate"]: row for row in views.history_rows(r, views.HistoryFilter(**day))}
        assert set(every) == {t.plate for t in trucks}
        for t in trucks:
            row = every[t.plate]
            assert (row["trailer_plate"], row["trailer_country"]) == (t.trailer, t.trailer_country)
            assert row["plate_confidence"] == pytest.approx(t.confidence)
            assert row["plate_uncertain"] is (t.confidence < history.UNCERTAIN_BELOW)
            assert row["trailer_uncertain"] is (None if t.trailer is None else
                                                t.trailer_confidence < history.UNCERTAIN_BELOW)
        # A trailer plate, whole or in part and however it is written, finds its crossing (and only that one).
        for search, plate in (("24R-001.23", "24C50001"), ("r0012", "24C50001"), ("G1234挂", "川Y49015"),
                              ("1234挂", "川Y49015")):
            found = views.history_query(r, config, views.HistoryFilter(**day, plate=search), 10)
            assert [row.plate for row in found.rows] == [plate] and found.total == 1, search
            assert found.rows[0].trailer_plate == every[plate]["trailer_plate"]
        detail = views.crossing_detail(r, every["川Y49015"]["id"])
        assert detail.crossing.trailer_plate == "云G1234挂" and detail.crossing.plate_uncertain is True
        roles = {(p.text, p.role, p.uncertain) for p in detail.plates}
        assert roles == {("川Y49015", "vehicle", True), ("川Y49015", "tractor", True), ("云G1234挂", "trailer", True)}
    store.close()


def test_board_shows_the_trailer_plate_and_marks_uncertain_reads(tmp_path):
    config = make_config(tmp_path)
    store = Store(config.database)
    seq = Sequencer()
    now = datetime.now(UTC).replace(microsecond=0)
    done = Truck("laocai", "out-1", "gate", 1, "24C60001", "VN", now - timedelta(minutes=20), 300, 200, 30000.0,
                 trailer="24R00777", trailer_country="VN", trailer_confidence=0.44)
    weighing = Truck("laocai", "out-1", "gate", 2, "川Y49015", "CN", now - timedelta(minutes=8), 300, 600, 31750.0,
                     confidence=0.48, trailer="云G1234挂", trailer_country="CN")
    events = truck_events(done, seq) + truck_events(weighing, seq, stages=("enter", "gate", "weigh"))
    status = lane_status("laocai", "out-1", "gate", 1, now, weighbridge_kg=31800.0)
    ingest(config, store, events, now, (status,))
    with closing(reader(config)) as r:
        snap = views.board_snapshot(r, config, now)
    assert snap["uncertain_below"] == history.UNCERTAIN_BELOW
    card = next(c for c in snap["lanes"] if (c["site"], c["lane"]) == ("laocai", "out-1"))
    truck = card["weighbridge"]["truck"]
    assert (truck["plate"], truck["uncertain"], truck["confidence"]) == ("川Y49015", True, pytest.approx(0.48))
    assert truck["trailer"] == {"text": "云G1234挂", "country": "CN", "confidence": pytest.approx(0.9),
                                "uncertain": False}  # read by the rear camera while it stood on the deck
    last = [(p["text"], p["uncertain"], p["trailer"] and (p["trailer"]["text"], p["trailer"]["uncertain"]))
            for p in card["last_plates"]]
    assert last == [("川Y49015", True, ("云G1234挂", False)), ("24C60001", False, ("24R00777", True))]
    # The crop shown is the front read's (the first of the exit event's reads here).
    assert card["last_plates"][1]["crop"].endswith("/0")
    store.close()


def test_history_queue_comes_from_the_minute_samples(tmp_path):
    config = make_config(tmp_path)
    store = Store(config.database)
    samples = {0: 3, 60: 5, 120: 2}  # minutes after T0 -> trucks in the queue of laocai/out-1
    for minute, q in samples.items():
        store.put_sample("laocai", "out-1", iso_utc((T0 + timedelta(minutes=minute)).timestamp())[:16], q, q, q, None)
    store.put_sample("laocai", "in-1", iso_utc((T0 + timedelta(minutes=60)).timestamp())[:16], 4, 4, 4, None)
    with closing(reader(config)) as r:
        everything = views.history_query(r, config, views.HistoryFilter(since=T0, until=T0 + timedelta(hours=3)), 10)
        exports = views.history_query(r, config, views.HistoryFilter(since=T0, until=T0 + timedelta(hours=3),
                                                                     direction="export"), 10)
    assert everything.queue_bin_s == 60
    at = {views.parse_ts(ts): q for ts, q in everything.queue}
    assert len(at) == 180 and min(at) == T0 + timedelta(minutes=1)  # bin ends
    assert [at[T0 + timedelta(minutes=m + 1)] for m in (0, 60, 120)] == [3, 9, 2]
    assert at[T0 + timedelta(minutes=30)] is None  # no sample then: unknown, not zero
    assert {views.parse_ts(ts): q for ts, q in exports.queue}[T0 + timedelta(minutes=61)] == 5
    with closing(reader(config)) as r:
        coarse = views.history_query(r, config, views.HistoryFilter(since=T0, until=T0 + timedelta(days=5),
                                                                    lane="out-1", site="laocai"), 10)
    # 30-minute bins: each ends with the lane's latest sample inside it.
    assert coarse.queue_bin_s == 1800
    at = {views.parse_ts(ts): q for ts, q in coarse.queue}
    assert [at[T0 + timedelta(minutes=m)] for m in (30, 60, 90, 120, 150)] == [3, None, 5, None, 2]
    store.close()


def test_board_shows_the_aggregators_figures(tmp_path):
    config = make_config(tmp_path)
    store = Store(config.database)
    seq = Sequencer()
    now = datetime.now(UTC).replace(microsecond=0)
    # Ten trucks finished (the later ones in the last hour), four still queueing, one on the weighbridge.
    done = [Truck("laocai", "out-1", "gate", i, f"24C2000{i}", "VN", now - timedelta(minutes=100 - 5 * i),
                  wait_s=600 + 120 * i, process_s=300, weight_kg=None) for i in range(10)]
    waiting = [Truck("laocai", "out-1", "gate", 100 + i, f"24C3000{i}", "VN", now - timedelta(minutes=4 - i),
                     0, 0, None) for i in range(4)]
    weighing = Truck("laocai", "out-1", "gate", 200, "24C40000", "VN", now - timedelta(minutes=30), 1700, 600, 31750.0)
    events = ([e for t in done for e in truck_events(t, seq, crops=False)]
              + [e for t in waiting for e in truck_events(t, seq, crops=False, stages=("enter",))]
              + truck_events(weighing, seq, crops=False, stages=("enter", "gate", "weigh")))
    status = lane_status("laocai", "out-1", "gate", 5, now, weighbridge_kg=31800.0, backlog=2)
    ingest(config, store, events, now, (status,))
    with closing(reader(config)) as r:
        snap = views.board_snapshot(r, config, now)
    card = next(c for c in snap["lanes"] if (c["site"], c["lane"]) == ("laocai", "out-1"))
    hour_ago = now - timedelta(hours=1)
    waits = sorted(t.wait_s for t in done + [weighing] if hour_ago <= t.gate <= now)
    crossings = sorted(t.wait_s + t.process_s for t in done if hour_ago <= t.exit <= now)
    assert card["stale"] is False
    assert card["queue_events"] == {"value": 5, "state": "ok"}  # four waiting, one past the gate
    assert card["queue_camera"] == {"value": 5, "state": "ok"}
    assert card["wait_s"]["median"]["value"] == pytest.approx(statistics.median(waits), abs=0.05)
    assert card["wait_s"]["p85"]["value"] == pytest.approx(np.percentile(waits, 85), abs=0.05)
    assert card["crossing_s"]["median"]["value"] == pytest.approx(statistics.median(crossings), abs=0.05)
    assert card["trucks_per_hour"] == {"value": len(crossings), "state": "ok"}
    assert card["expected_wait_s"]["state"] == "ok" and card["expected_wait_s"]["value"] > 0
    assert card["weighbridge"] == {"state": "ok", "truck": {"plate": "24C40000", "uncertain": False,
                                                            "confidence": 0.93, "trailer": None,
                                                            "weight_kg": 31750.0, "stable": True}}
    assert [p["text"] for p in card["last_plates"]] == ["24C30003", "24C30002", "24C30001", "24C30000"]
    assert card["health"][0]["online"] is True and card["health"][0]["backlog"] == 2
    assert card["queue_series"][-1] == 5 and len(card["queue_series"]) == 36
    assert all(q is None for q in card["queue_series"][:-1])  # the aggregator was not running then
    store.close()


def test_board_says_stale_and_insufficient_instead_of_numbers(tmp_path):
    config = make_config(tmp_path, update_interval_s=30)
    store = Store(config.database)
    seq = Sequencer()
    now = datetime.now(UTC)
    one = Truck("laocai", "in-1", "gate", 1, "24C40001", "VN", now - timedelta(minutes=20), 300, 60, None)
    status = lane_status("laocai", "in-1", "gate", 1, now)
    ingest(config, store, truck_events(one, seq, crops=False), now, (status,))
    with closing(reader(config)) as r:
        card = next(c for c in views.board_snapshot(r, config, now)["lanes"] if c["lane"] == "in-1")
    assert card["stale"] is False
    assert card["wait_s"]["median"] == {"value": None, "state": "insufficient"}
    assert card["expected_wait_s"] == {"value": 0, "state": "ok"}  # nobody waiting: zero is known, not guessed
    # A minute later with no new status, the aggregator marks the lane stale: no figure is carried forward.
    later = now + timedelta(seconds=61)
    ingest(config, store, [], later)
    with closing(reader(config)) as r:
        snap = views.board_snapshot(r, config, later)
    card = next(c for c in snap["lanes"] if c["lane"] == "in-1")
    assert card["stale"] is True and card["health"][0]["online"] is False
    for key in ("queue_events", "queue_camera", "expected_wait_s", "trucks_per_hour"):
        assert card[key] == {"value": None, "state": "stale"}, key
    assert card["wait_s"]["median"]["state"] == "stale" and card["weighbridge"] == {"state": "stale"}
    never = next(c for c in snap["lanes"] if c["site"] == "hekou")
    assert never["stale"] is True and never["health"] == []
    # Figures the aggregator stopped refreshing are stale too, even if they said "ok" when written.
    with closing(reader(config)) as r:
        snap = views.board_snapshot(r, config, later + timedelta(seconds=45))
    assert all(c["stale"] for c in snap["lanes"])
    store.close()


def test_a_failed_snapshot_does_not_stop_the_live_feed(tmp_path):
    config = make_config(tmp_path)
    store = Store(config.database)
    now = datetime.now(UTC)
    ingest(config, store, [], now, (lane_status("laocai", "in-1", "gate", 2, now),))
    notices: asyncio.Queue[str] = asyncio.Queue()

    async def listen() -> AsyncIterator[str]:
        while True:
            yield await notices.get()

    async def watch() -> list[str]:
        feed = BoardFeed(config, Readers(config.database), listen)
        stream = feed.stream()
        pushed = [await anext(stream), await anext(stream)]  # retry hint, first snapshot
        with store.db.conn:
            store.db.execute("UPDATE lane_summaries SET payload = '{}' WHERE lane = 'in-1'")  # unreadable
        notices.put_nowait("lanes")
        await asyncio.sleep(0.5)
        ingest(config, store, [], datetime.now(UTC), (lane_status("laocai", "in-1", "gate", 3, now),))
        notices.put_nowait("lanes")
        pushed.append(await asyncio.wait_for(anext(stream), 5))
        await stream.aclose()
        return pushed

    retry, first, after = asyncio.run(watch())
    assert retry.startswith("retry:") and first.startswith("event: board")
    lanes = json.loads(after.removeprefix("event: board\ndata: "))["lanes"]
    assert next(c for c in lanes if c["lane"] == "in-1")["queue_camera"] == {"value": 3, "state": "ok"}
    store.close()
