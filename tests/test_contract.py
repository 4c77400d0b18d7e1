"""The event contract: round trips, topics, and a reason for every rejected payload."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lanewatch import contract
from lanewatch.contract import ClockState, EnterEvent, ExitEvent, PlateRead, Rejected, WeighEvent
from lanewatch.ids import uuid7

NOW = datetime(2026, 11, 30, 8, 0, 0, 123000, tzinfo=UTC)


def make(cls=EnterEvent, **over):
    fields = dict(id=uuid7(), site="laocai", lane="out-1", edge="gate1", seq=1, ts=NOW, mono_ms=10,
                  clock=ClockState(synced=True, offset_ms=0.4, source="chrony"))
    fields.update(over)
    return cls(**fields)


ids = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,10}", fullmatch=True).filter(lambda s: s != "edge")
times = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))


@given(site=ids, lane=ids, edge=ids, seq=st.integers(1, 2**40), ts=times, weight=st.floats(0, 200_000),
       plate=st.from_regex(r"[0-9]{2}[A-Z][0-9]{5}", fullmatch=True), conf=st.floats(0, 1))
def test_event_round_trips_unchanged(site, lane, edge, seq, ts, weight, plate, conf):
    event = make(WeighEvent, site=site, lane=lane, edge=edge, seq=seq, ts=ts, weight_kg=weight, window_s=2.0,
                 plates=(PlateRead(text=plate, country="VN", confidence=conf, valid_format=True),))
    back = contract.decode_event(contract.event_topic(site, lane), contract.encode(event),
                                 now=datetime(2031, 1, 1, tzinfo=UTC))
    assert back == event
    assert back.ts.microsecond % 1000 == 0


def test_wire_format_has_millisecond_utc_and_type():
    data = json.loads(contract.encode(make(ExitEvent)))
    assert data["ts"] == "2026-11-30T08:00:00.123Z"
    assert data["type"] == "exit" and data["v"] == 1


def test_ids_are_uuid7_and_increasing():
    values = [uuid7() for _ in range(5000)]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert all(v[14] == "7" for v in values)


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"v": 2}', "unsupported schema version 2"),
        (b'{"v": 1, "type": "teleport"}', "does not match any of the expected tags"),
        (b"x" * (contract.MAX_PAYLOAD_BYTES + 1), "payload too large"),
    ],
)
def test_rejections_say_why(payload, reason):
    with pytest.raises(Rejected) as info:
        contract.decode_event(contract.event_topic("laocai", "out-1"), payload)
    assert reason in info.value.reason


def test_missing_field_is_named():
    data = json.loads(contract.encode(make()))
    del data["seq"]
    with pytest.raises(Rejected, match=r"seq: Field required"):
        contract.decode_event(contract.event_topic("laocai", "out-1"), json.dumps(data).encode())


def test_event_on_wrong_lane_topic_is_rejected():
    with pytest.raises(Rejected, match="published on topic"):
        contract.decode_event(contract.event_topic("laocai", "out-2"), contract.encode(make()))


def test_far_future_timestamp_is_rejected():
    event = make(ts=datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(Rejected, match="in the future"):
        contract.decode_event(contract.event_topic("laocai", "out-1"), contract.encode(event))


def test_naive_timestamp_is_refused():
    with pytest.raises(ValueError, match="time zone"):
        make(ts=datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "topic, parsed",
    [
        ("lanewatch/v1/laocai/out-1/event", ("event", "laocai", "out-1", None)),
        ("lanewatch/v1/laocai/out-1/summary", ("summary", "laocai", "out-1", None)),
        ("lanewatch/v1/laocai/out-1/status/gate1", ("status", "laocai", "out-1", "gate1")),
        ("lanewatch/v1/laocai/edge/gate1/availability", ("availability", "laocai", None, "gate1")),
        ("lanewatch/v1/laocai/out-1/status", None),
        ("lanewatch/v2/laocai/out-1/event", None),
        ("other/thing", None),
    ],
)
def test_parse_topic(topic, parsed):
    assert contract.parse_topic(topic) == parsed


def test_reserved_lane_id():
    with pytest.raises(ValueError, match="reserved"):
        make(lane="edge")
