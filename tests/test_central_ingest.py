"""Central ingest over a real Mosquitto: dead letters with reasons and counts, sequence gaps closed by late
events, crossings assembled across two edges, and the lane summary published retained."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from central_rig import SITE, central_config, publisher, wait_until
from eventsfromtruth import Knobs, events_from_truth
from truthgen import busy_day

from central.config import CentralConfig
from central.ingest import Ingest
from central.store import Store
from lanewatch import contract
from lanewatch.contract import ClockState, EnterEvent, LaneStatus
from lanewatch.ids import uuid7


def rows(db_path, sql, params=()):
    db = sqlite3.connect(db_path)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


@pytest.fixture
def central(tmp_path, broker):
    config = CentralConfig.model_validate(central_config(tmp_path, broker, (("out-1", "export"), ("in-1", "import"))))
    ingest = Ingest(config)
    ingest.start()
    assert ingest.connected.wait(10)
    yield ingest
    ingest.stop()


def test_bad_payloads_land_in_dead_letters_with_reasons_and_are_counted(central, broker):
    now = datetime.now(UTC)
    good = EnterEvent(id=uuid7(), site=SITE, lane="out-1", edge="q1", seq=1, ts=now, mono_ms=5,
                      clock=ClockState(synced=True), track_id=1)
    good_json = json.loads(contract.encode(good))
    ghost = good.model_copy(update={"id": uuid7(), "lane": "out-9"})
    cases = [
        (contract.event_topic(SITE, "out-1"), b"{not json", "malformed_json", "malformed JSON"),
        (contract.event_topic(SITE, "out-1"), json.dumps(good_json | {"v": 2}).encode(), "schema_version",
         "unsupported schema version 2"),
        (contract.event_topic(SITE, "out-1"), b"{" + b" " * contract.MAX_PAYLOAD_BYTES + b"}", "too_large",
         "payload too large"),
        (contract.event_topic(SITE, "out-9"), contract.encode(ghost), "unknown_lane", "not in the central config"),
        (contract.event_topic(SITE, "out-1"),
         json.dumps(good_json | {"id": uuid7(), "ts": contract.format_ts(now + timedelta(hours=2))}).encode(),
         "future_timestamp", "in the future"),
        (contract.event_topic(SITE, "in-1"), contract.encode(good.model_copy(update={"id": uuid7()})),
         "topic_mismatch", "published on topic"),
        (contract.event_topic(SITE, "out-1"), json.dumps(good_json | {"id": uuid7(), "seq": 0}).encode(), "invalid",
         "seq: Input should be greater than or equal to 1"),
        (contract.event_topic("hekou", "out-1"), contract.encode(good.model_copy(update={"id": uuid7(),
                                                                                       "site": "hekou"})),
         "unknown_lane", "site/lane hekou/out-1 is not in the central config"),
        (contract.event_topic(SITE, "out-1"), b"[1, 2, 3]", "malformed_json", "expected a JSON object, got list"),
        (contract.status_topic(SITE, "out-7", "q1"),
         contract.encode(LaneStatus(site=SITE, lane="out-7", edge="q1", ts=now, clock=ClockState(synced=True),
                                    queue_occupancy=3)), "unknown_lane", "site/lane laocai/out-7 is not in"),
        (contract.event_topic(SITE, "out-1"),
         json.dumps(good_json | {"id": uuid7(), "ts": "2026-11-30T10:00:00"}).encode(), "invalid",
         "timestamps must carry a time zone"),
    ]
    pub = publisher(broker)
    try:
        for topic, payload, _, _ in cases:
            pub.publish(topic, payload, qos=1).wait_for_publish(5)
        pub.publish(contract.event_topic(SITE, "out-1"), contract.encode(good), qos=1).wait_for_publish(5)
        pub.publish(contract.event_topic(SITE, "out-1"), contract.encode(good), qos=1).wait_for_publish(5)  # again
        wait_until(lambda: central.counts["dead_letters"] == len(cases) and central.counts["events"] == 1
                   and central.counts["duplicates"] == 1, what="every message handled")
    finally:
        pub.loop_stop()
        pub.disconnect()
    stored = rows(central.config.database, "SELECT topic, kind, reason FROM dead_letters ORDER BY id")
    assert [(t, k) for t, k, _ in stored] == [(topic, kind) for topic, _, kind, _ in cases]
    for (_, _, reason), (_, _, _, words) in zip(stored, cases, strict=True):
        assert words in reason
    assert rows(central.config.database, "SELECT count(*) FROM events") == [(1,)]
    expected = Counter(kind for _, _, kind, _ in cases)
    assert dict(central.dead_letter_kinds) == expected  # what the metrics export
    reader = Store(central.config.database)
    try:
        assert reader.dead_letter_counts() == expected  # what /api/ingest serves
    finally:
        reader.close()


def test_two_edges_one_lane_assembled_with_a_gap_filled_late_and_summary_retained(central, broker):
    start = datetime.now(UTC) - timedelta(minutes=40)
    hourly = [40] + [0] * 23
    trucks = [t for t in busy_day(start, lane="out-1", seed=5, hourly=hourly) if t.exit and
              datetime.fromisoformat(t.exit) < datetime.now(UTC)]
    # No OCR slips here (assembly has its own tests): every truck must be assembled, by plate or order.
    stream = events_from_truth(trucks, SITE, "out-1", Knobs(confusion_rate=0, missing_plate_rate=0.05, seed=5),
                               queue_edge="q1", gate_edge="g1")
    gate_events = [e for e in stream.events if e.edge == "g1"]
    withheld = {e.id for e in gate_events[10:13]}  # the gate edge's seq 11-13 arrive last
    summaries: list[contract.LaneSummary] = []
    got_summary = threading.Event()

    def on_message(client, userdata, msg):
        summaries.append(contract.decode_summary(msg.topic, msg.payload))
        got_summary.set()

    pub = publisher(broker)
    pub.on_message = on_message
    pub.subscribe(contract.summary_topic(SITE, "out-1"), qos=1)
    try:
        for e in stream.events:
            if e.id not in withheld:
                pub.publish(contract.event_topic(SITE, "out-1"), contract.encode(e), qos=1)
        wait_until(lambda: central.counts["events"] == len(stream.events) - 3, what="events stored")
        gaps = rows(central.config.database, "SELECT missing, gaps FROM edge_sequences WHERE edge = 'g1'")
        assert gaps == [(3, "[[11, 13]]")]
        for e in stream.events:
            if e.id in withheld:
                pub.publish(contract.event_topic(SITE, "out-1"), contract.encode(e), qos=1)
        wait_until(lambda: rows(central.config.database, "SELECT missing FROM edge_sequences WHERE edge = 'g1'")
                   == [(0,)], what="gap filled")
        assert central.counts["sequence_gaps"] == 1 and central.counts["gap_fills"] == 3

        def assembled():
            done = rows(central.config.database, "SELECT event_ids FROM crossings WHERE status = 'complete'")
            return len(done) == len(trucks) and done
        done = wait_until(assembled, what="every truck assembled")
        for (event_ids,) in done:
            assert len({stream.truth_of[i] for i in json.loads(event_ids)}) == 1
        assert got_summary.wait(10)
        last = wait_until(lambda: summaries and summaries[-1].last_hour.crossing.trucks == len(trucks)
                          and summaries[-1], what="a summary with every truck")
        assert (last.site, last.lane, last.direction, last.state) == (SITE, "out-1", "export", "ok")
        assert last.queue_length == 0 and last.waiting == 0 and last.expected_wait_s == 0.0
        assert last.last_hour.departures == len(trucks) and last.last_hour.crossing.state == "ok"
    finally:
        pub.loop_stop()
        pub.disconnect()
    # Retained: a consumer that subscribes later gets the summary at once.
    late = []
    sub = publisher(broker)
    sub.on_message = lambda c, u, msg: late.append(msg)
    sub.subscribe(contract.summary_topic(SITE, "out-1"), qos=1)
    try:
        wait_until(lambda: late, what="the retained summary")
        assert late[0].retain and contract.decode_summary(late[0].topic, late[0].payload).lane == "out-1"
    finally:
        sub.loop_stop()
        sub.disconnect()


def test_a_retained_status_handed_over_on_connecting_is_as_old_as_it_says(tmp_path, broker):
    """An edge that went quiet an hour ago left its last status retained: the broker hands it to a central
    that starts now. It arrives now but says what the edge saw an hour ago (its clock synchronised): stale."""
    lane, edge = "out-r", f"q{uuid7()[-8:]}"
    sent = datetime.now(UTC) - timedelta(hours=1)
    topic = contract.status_topic(SITE, lane, edge)
    publish_retained = [(topic, contract.encode(LaneStatus(site=SITE, lane=lane, edge=edge, ts=sent,
                                                           clock=ClockState(synced=True), queue_occupancy=4)))]
    pub = publisher(broker)
    try:
        for t, payload in publish_retained:
            pub.publish(t, payload, qos=1, retain=True).wait_for_publish(5)
        ingest = Ingest(CentralConfig.model_validate(central_config(tmp_path, broker, ((lane, "export"),))))
        ingest.start()
        try:
            assert ingest.connected.wait(10)
            wait_until(lambda: (agg := getattr(ingest, "aggregator", None)) is not None
                       and edge in agg.edge_status.get((SITE, lane), {}), what="the status handled")
            handled = time.time()
            summary = wait_until(lambda: (s := ingest.aggregator.summaries.get((SITE, lane))) and
                                 s[0].ts.timestamp() > handled and s[0], what="a summary since")
            assert summary.state == "stale" and summary.camera_occupancy is None
            reader = Store(ingest.config.database)
            try:
                (held,) = reader.statuses()[(SITE, lane)]
            finally:
                reader.close()
            assert held["received_at"] > sent.timestamp() + 3000  # it arrived just now
            assert held["fresh_at"] == pytest.approx(sent.timestamp(), abs=0.01)
        finally:
            ingest.stop()
    finally:
        pub.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)  # the session's broker is shared
        pub.loop_stop()
        pub.disconnect()
