"""The aggregator on a real SQLite store: late events rebuild a lane's crossings in place, lanes closed
by people leave their direction's expected wait, and a silent edge makes its lane stale."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from eventsfromtruth import Knobs, events_from_truth
from truthgen import busy_day

from central.aggregator import Aggregator
from central.config import CentralConfig
from central.store import Store
from lanewatch.contract import ClockState, LaneStatus

SITE = "laocai"
START = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)


@pytest.fixture
def setup(tmp_path):
    config = CentralConfig.model_validate({
        "database": str(tmp_path / "c.sqlite"), "metrics": {"update_interval_s": 60},
        "sites": [{"id": SITE, "name": "Lào Cai", "lanes": [{"id": "out-1", "direction": "export"},
                                                           {"id": "out-2", "direction": "export"}]}]})
    store = Store(config.database)
    clock = [START.timestamp()]
    agg = Aggregator(config, store, clock=lambda: clock[0])
    agg.start()
    yield config, store, agg, clock
    store.close()


def stream(lane: str, seed: int):
    trucks = busy_day(START, lane=lane, seed=seed, hourly=[40, 40, 40, 40] + [0] * 20)
    return trucks, events_from_truth(trucks, SITE, lane, Knobs(confusion_rate=0, missing_plate_rate=0, seed=seed),
                                     queue_edge=f"{lane}-q", gate_edge=f"{lane}-g")


def feed(agg, store, clock, events, until):
    for e in events:
        if e.ts.timestamp() <= until:
            clock[0] = max(clock[0], e.ts.timestamp())
            agg.on_events(store.add_new_events([e]))
            agg.last_run.clear()
            agg.run()


def test_gate_edge_backlog_hours_late_is_assembled_in_place(setup):
    config, store, agg, clock = setup
    trucks, s = stream("out-1", 4)
    queue_side = [e for e in s.events if e.edge == "out-1-q"]
    gate_side = [e for e in s.events if e.edge == "out-1-g"]
    end = START.timestamp() + 4 * 3600 + 1800
    feed(agg, store, clock, queue_side, end)  # the gate edge is offline: only enters arrive
    clock[0] = end + 3 * 3600  # it comes back three hours later and delivers everything at once
    for i in range(0, len(gate_side), 50):
        agg.on_events(store.add_new_events(gate_side[i:i + 50]))
        agg.last_run.clear()
        agg.run()
    rows = list(store.db.query("SELECT status, event_ids FROM crossings WHERE lane = 'out-1'"))
    ids = [i for r in rows for i in json.loads(r["event_ids"])]
    assert sorted(ids) == sorted(e.id for e in s.events)  # every event in exactly one crossing
    complete = [r for r in rows if r["status"] == "complete"]
    assert len(complete) >= 0.98 * len(trucks)
    assert all(len({s.truth_of[i] for i in json.loads(r["event_ids"])}) == 1 for r in complete)


def test_closed_lane_leaves_its_direction_and_a_silent_edge_makes_its_lane_stale(setup):
    config, store, agg, clock = setup
    _, a = stream("out-1", 1)
    _, b = stream("out-2", 2)
    events = sorted(a.events + b.events, key=lambda e: e.ts)
    now = START.timestamp() + 2 * 3600
    feed(agg, store, clock, events, now)

    def heartbeat(lanes):
        for lane in lanes:
            for edge in (f"{lane}-q", f"{lane}-g"):
                agg.on_status(LaneStatus(site=SITE, lane=lane, edge=edge, clock=ClockState(synced=True),
                                         ts=datetime.fromtimestamp(clock[0], UTC), queue_occupancy=3))

    clock[0] = now
    heartbeat(["out-1", "out-2"])
    agg.last_run.clear()
    agg.run()
    one, two = (agg.summaries[(SITE, lane)][0] for lane in ("out-1", "out-2"))
    assert one.state == two.state == "ok" and one.camera_occupancy == 6
    both = one.direction_expected_wait_s
    assert both is not None and one.direction_expected_wait_s == two.direction_expected_wait_s

    store.set_lane_open(SITE, "out-2", False, by="Trần Thị B")  # as the CLI or the API does
    clock[0] += 3  # picked up at the next periodic tick
    heartbeat(["out-1", "out-2"])
    agg.run()
    one, two = (agg.summaries[(SITE, lane)][0] for lane in ("out-1", "out-2"))
    assert two.open is False and two.expected_wait_state == "closed" and two.expected_wait_s is None
    assert one.direction_expected_wait_s == one.expected_wait_s  # only the open lane feeds its direction

    clock[0] = now + 120  # out-2's edges go quiet; out-1's keep reporting
    heartbeat(["out-1"])
    agg.last_run.clear()
    agg.run()
    one, two = (agg.summaries[(SITE, lane)][0] for lane in ("out-1", "out-2"))
    assert one.state == "ok" and two.state == "stale"
    assert two.queue_length is None and two.camera_occupancy is None and two.trucks_per_hour is None


def test_departure_rate_does_not_drop_at_the_site_midnight(tmp_path):
    """The busy-period rate needs departures from before midnight; the new day must not hide them."""
    config = CentralConfig.model_validate({
        "database": str(tmp_path / "c.sqlite"), "metrics": {"update_interval_s": 90},
        "sites": [{"id": SITE, "name": "Lào Cai", "lanes": [{"id": "out-1", "direction": "export"}]}]})
    store = Store(config.database)
    midnight = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 00:00 in Vietnam
    clock = [midnight.timestamp() - 3 * 3600]
    agg = Aggregator(config, store, clock=lambda: clock[0])
    agg.start()
    trucks = busy_day(midnight - timedelta(hours=3), lane="out-1", seed=9, hourly=[70, 70, 70, 70] + [0] * 20)
    s = events_from_truth(trucks, SITE, "out-1", Knobs(seed=9), queue_edge="q", gate_edge="g")
    rates = {}
    for label, at in (("before", midnight.timestamp() - 120), ("after", midnight.timestamp() + 120)):
        feed(agg, store, clock, s.events, at)
        clock[0] = at
        agg.last_run.clear()
        agg.run()
        summary, rates[label] = agg.summaries[(SITE, "out-1")]
        assert summary.waiting and summary.waiting > 5  # a queue that has not emptied for hours
    assert rates["after"] == pytest.approx(rates["before"], rel=0.15)
    store.close()


def test_restored_crossings_without_their_events_survive_a_start(tmp_path):
    """A database restored or imported with its crossings but not all their events: the aggregator's
    start rebuilds what it can and keeps the rest as stored (it used to delete the last hours' rows)."""
    def make(name):
        config = CentralConfig.model_validate({
            "database": str(tmp_path / name), "metrics": {"update_interval_s": 60},
            "sites": [{"id": SITE, "name": "Lào Cai", "lanes": [{"id": "out-1", "direction": "export"}]}]})
        return config, Store(config.database)

    config, source = make("source.sqlite")
    # Recent hours of real time: the restored store stamps events with the time they were stored.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    clock = [start.timestamp()]
    agg = Aggregator(config, source, clock=lambda: clock[0])
    agg.start()
    trucks = busy_day(start, lane="out-1", seed=5, hourly=[40] + [0] * 23)
    s = events_from_truth(trucks, SITE, "out-1", Knobs(seed=5), queue_edge="out-1-q", gate_edge="out-1-g")
    end = start.timestamp() + 3600
    feed(agg, source, clock, s.events, end)
    columns = "key, site, lane, direction, status, method, plate_distance, plate, plate_country, start_ts, " \
              "enter_ts, gate_ts, weigh_ts, exit_ts, last_ts, weight_kg, wait_s, processing_s, crossing_s, " \
              "event_ids, edges, clock_synced, note"
    original = {r[0]: r for r in source.db.execute(f"SELECT {columns} FROM crossings")}
    assert len(original) > 20
    source.close()

    config, restored = make("restored.sqlite")
    with restored.db.conn:
        restored.db.conn.executemany(f"INSERT INTO crossings ({columns}, updated_at) VALUES ({','.join('?' * 24)})",
                                     [(*r, 0.0) for r in original.values()])
    # Only the queue edge's events came along: the gate side's are gone for good.
    restored.add_new_events([e for e in s.events if e.edge == "out-1-q" and e.ts.timestamp() <= end])
    agg = Aggregator(config, restored)  # started now: the crossings are within its rebuild window
    agg.start()
    agg.run()
    after = {r[0]: r for r in restored.db.execute(f"SELECT {columns} FROM crossings")}
    # Nothing deleted, nothing rewritten from half the events (those still waiting were rebuilt as they were).
    assert after == original
    restored.close()


def test_status_staleness_counts_from_its_arrival_and_its_own_time_orders_an_edge(setup):
    """A status handled late (the writer was storing a backlog) is as old as its arrival; a retained one
    the broker hands over hours later is as old as its own (synchronised) time; one that arrives after a
    newer one from the same edge changes nothing."""
    config, store, agg, clock = setup
    key = (SITE, "out-1")

    def status(at: float, occupancy: int, synced: bool = True) -> LaneStatus:
        return LaneStatus(site=SITE, lane="out-1", edge="out-1-q", clock=ClockState(synced=synced),
                          ts=datetime.fromtimestamp(at, UTC), queue_occupancy=occupancy)

    def summary():
        agg.last_run.clear()
        agg.run()
        return agg.summaries[key][0]

    t = clock[0] = START.timestamp() + 600
    agg.on_status(status(t, 4))
    assert summary().camera_occupancy == 4

    clock[0] = t + 200
    agg.on_status(status(t + 200, 6))
    agg.on_status(status(t + 150, 9))  # an older one, delivered after the newer one
    assert summary().camera_occupancy == 6

    clock[0] = t + 4000  # the broker hands over the retained status of an edge silent for an hour
    agg.on_status(status(t + 400, 7))
    assert summary().camera_occupancy is None and summary().state == "stale"
    # An unsynchronised clock says nothing about age: only the arrival counts.
    agg.on_status(status(t + 500, 8, synced=False), received_at=t + 3990)
    assert summary().camera_occupancy == 8

    clock[0] = t + 4100  # handled 90 s after it arrived: older than the 60 s update interval
    agg.on_status(status(t + 4010, 5), received_at=t + 4010)
    assert summary().camera_occupancy is None and summary().state == "stale"


def test_store_keeps_an_edges_newest_status(tmp_path):
    store = Store(tmp_path / "c.sqlite")
    for at, occupancy in ((100.0, 3), (50.0, 9)):
        store.put_status(LaneStatus(site=SITE, lane="out-1", edge="e", clock=ClockState(synced=True),
                                    ts=datetime.fromtimestamp(START.timestamp() + at, UTC),
                                    queue_occupancy=occupancy), received_at=START.timestamp() + 200)
    (held,) = store.statuses()[(SITE, "out-1")]
    assert held["queue_occupancy"] == 3 and held["fresh_at"] == START.timestamp() + 100
    store.close()


def test_a_minute_sampled_before_the_lanes_had_figures_is_sampled_again_once_they_have(setup):
    config, store, agg, clock = setup
    clock[0] = START.timestamp() + 5
    agg.last_run.clear()
    agg.run()  # just started: no edge heard from, every lane stale
    minute = START.isoformat()[:16]
    assert [r["queue_length"] for r in store.samples(SITE, "out-1", minute, minute + "~")] == [None]

    clock[0] += 10  # same minute: the edges report
    for lane in ("out-1", "out-2"):
        agg.on_status(LaneStatus(site=SITE, lane=lane, edge=f"{lane}-g", clock=ClockState(synced=True),
                                 ts=datetime.fromtimestamp(clock[0], UTC), queue_occupancy=2))
    agg.last_run.clear()
    agg.run()
    for lane in ("out-1", "out-2"):
        rows = store.samples(SITE, lane, minute, minute + "~")
        assert [(r["queue_length"], r["camera_occupancy"]) for r in rows] == [(0, 2)]
