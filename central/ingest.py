"""Receiving from the broker: validate every message against the contract, store it, tell listeners.

The subscription uses a persistent session (clean start off, long expiry) with QoS 1, so the
broker keeps events for us while this process is down. Messages are handed from paho's network
thread to a writer thread that stores them in batches; one bad payload goes to the dead-letter
table with its reason and kind (counted) and never stops the stream. Each message is acknowledged
to the broker only after its batch is committed (manual acks), so a crash between receipt and commit
makes the broker send it again instead of losing it. After each batch the central's receipts
(central/receipts.py) tell the edges what it has stored. New events go on to per-edge sequence
tracking (gaps and late fills), and then to the aggregator thread (crossings, lane figures, retained
summaries), which has its own database connection: storing never waits for figures. While a burst is
being stored (an edge delivering its backlog) the aggregator takes at most a share of the time.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt

from central.aggregator import TICK_S, Aggregator
from central.config import CentralConfig
from central.receipts import Receipts
from central.sequences import SequenceTracker
from central.store import Store
from lanewatch import contract
from lanewatch.mqtt import connect_async, make_client
from lanewatch.prometheus import Timings

log = logging.getLogger(__name__)


BURST_RATE = 200  # messages a second: far above any live site (a busy gate makes about one a second)
AGGREGATOR_SHARE = 0.1  # of the time while a burst is being stored; the rest goes to storing it
BURST_SLICE = 400  # new events per lane per aggregator run during a burst: keeps each run short

# Dead-letter kinds, from how the reason starts (the contract's `Rejected` carries only a reason).
_KINDS = (
    ("payload too large", "too_large"),
    ("malformed JSON", "malformed_json"),
    ("expected a JSON object", "malformed_json"),
    ("unsupported schema version", "schema_version"),
    ("timestamp ", "future_timestamp"),
    ("site/lane ", "unknown_lane"),
    ("event for ", "topic_mismatch"),
    ("status for ", "topic_mismatch"),
    ("not a", "wrong_topic"),
    ("invalid ", "invalid"),
)
DEAD_LETTER_KINDS = tuple(sorted({kind for _, kind in _KINDS} | {"other"}))


def classify(reason: str) -> str:
    return next((kind for start, kind in _KINDS if reason.startswith(start)), "other")


@dataclass(frozen=True)
class Change:
    """What a batch changed, for listeners such as the live board."""

    lanes: frozenset[tuple[str, str]]


class Ingest:
    def __init__(self, config: CentralConfig, on_change: Callable[[Change], None] | None = None):
        self.config = config
        self.on_change = on_change
        # Unbounded, and cheap per message: what it can hold is bounded by what the broker queues for us
        # (`max_queued_messages`), since each message is acknowledged only once it is stored.
        self._queue: queue.SimpleQueue[tuple[int, mqtt.MQTTMessage] | None] = queue.SimpleQueue()
        # MQTT 3.1.1: it has all the ingest needs (a persistent session, QoS 1, manual acks), and paho
        # decodes its messages in half the time of MQTT 5 ones (no properties to unpack per message).
        self.client = make_client(config.mqtt, client_id=config.client_id, protocol=mqtt.MQTTv311,
                                  persistent_session=True)
        self.client.manual_ack_set(True)
        self._generation = 0  # connections so far: an ack is only valid on the connection its message came on
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = lambda client, userdata: log.warning(
            "cannot reach broker %s:%s; retrying with backoff", client.host, client.port)
        self.client.on_message = lambda client, userdata, msg: self._queue.put((self._generation, msg))
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = lambda client, userdata, flags, reason_code, properties: self.connected.clear()
        self.connected = threading.Event()  # connected and subscribed: messages published from now on reach us
        self.counts = {"events": 0, "duplicates": 0, "dead_letters": 0, "statuses": 0, "sequence_gaps": 0,
                       "gap_fills": 0, "sequence_resets": 0}
        self.dead_letter_kinds: Counter[str] = Counter()
        self._known = {(site.id, lane.id) for site in config.sites for lane in site.lanes}
        # New events and statuses, from the writer to the aggregator; None ends it.
        # Statuses go with their arrival time (UTC epoch seconds).
        self._handoff: queue.Queue[tuple[list[contract.LaneEvent], list[tuple[contract.LaneStatus, float]]] | None] = \
            queue.Queue()
        self._rate_window = (0.0, 0)  # (start, messages stored since) for the burst test
        self._burst_until = 0.0
        self.latency = Timings()  # a message's arrival from the broker -> its batch committed
        # Called once per iteration of the ingest and aggregate loops (idle ones too): the watchdog's proof.
        self.on_progress: Callable[[str], None] = lambda loop: None
        self._threads = [threading.Thread(target=self._write_loop, args=(config.database,), name="ingest", daemon=True),
                         threading.Thread(target=self._aggregate_loop, name="aggregate", daemon=True)]

    def start(self) -> None:
        Store(self.config.database).close()  # migrated once, before two threads open it
        for thread in self._threads:
            thread.start()
        connect_async(self.client, self.config.mqtt, persistent_session=True)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        self._generation += 1
        client.subscribe([(contract.EVENT_SUBSCRIPTION, 1), (contract.STATUS_SUBSCRIPTION, 1)])
        log.info("subscribing to %s (session present: %s)", contract.EVENT_SUBSCRIPTION, flags.session_present)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            log.error("broker refused the subscription: %s", ", ".join(refused))
            return
        self.connected.set()

    # ------------------------------------------------------------ writer thread
    def _write_loop(self, database: Path) -> None:
        store = Store(database)
        self.sequences = SequenceTracker(store.sequences())
        receipts = Receipts(store.db)
        try:
            while True:
                self.on_progress("ingest")
                try:
                    first = self._queue.get(timeout=0.5)
                except queue.Empty:
                    self._publish_receipts(receipts)
                    continue
                if first is None:
                    return
                batch, end = [first], False
                while len(batch) < 2000:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        end = True
                        break
                    batch.append(item)
                self._note_rate(len(batch))
                decoded, lanes = self._store(store, [msg for _, msg in batch])
                stored_at = time.monotonic()  # paho stamps each message with the monotonic clock on arrival
                for _, msg in batch:
                    self.latency.observe(stored_at - msg.timestamp)
                receipts.note(decoded)
                for generation, msg in batch:
                    if generation == self._generation:  # older ones are re-sent by the broker on this session
                        self.client.ack(msg.mid, msg.qos)
                self._publish_receipts(receipts)
                if lanes and self.on_change:
                    self.on_change(Change(frozenset(lanes)))
                if end:
                    return
        finally:
            self._handoff.put(None)

    def _publish_receipts(self, receipts: Receipts) -> None:
        if self.connected.is_set():
            for receipt in receipts.due():
                self.client.publish(contract.receipt_topic(receipt.site, receipt.edge), contract.encode(receipt),
                                    qos=1, retain=True)

    def _publish_retained(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1, retain=True)

    def _note_rate(self, n: int) -> None:
        now = time.monotonic()
        start, count = self._rate_window
        count += n
        if now - start >= 1.0:
            if count / (now - start) >= BURST_RATE:
                self._burst_until = now + 5.0
            start, count = now, 0
        self._rate_window = (start, count)

    def _storing_a_burst(self) -> bool:
        return time.monotonic() < self._burst_until or self._queue.qsize() > BURST_RATE

    # ------------------------------------------------------------ aggregator thread
    def _aggregate_loop(self) -> None:
        store = Store(self.config.database)
        self.aggregator = aggregator = Aggregator(self.config, store, publish=self._publish_retained)
        aggregator.start()
        while True:
            self.on_progress("aggregate")
            # Wake up for lanes waiting out their recompute interval, and for the periodic tick.
            timeout = self.config.metrics.recompute_interval_s if aggregator.dirty else TICK_S
            items = []
            try:
                items.append(self._handoff.get(timeout=timeout))
                while True:
                    items.append(self._handoff.get_nowait())
            except queue.Empty:
                pass
            for item in items:
                if item is None:
                    return
                events, statuses = item
                aggregator.on_events(events)
                for status, received_at in statuses:
                    aggregator.on_status(status, received_at)
            started = time.monotonic()
            burst = self._storing_a_burst() or any(len(p) > BURST_SLICE for p in aggregator.pending.values())
            try:
                lanes = aggregator.run(limit=BURST_SLICE if burst else None)
            except Exception:  # a bug in the figures must never stop events being stored
                log.exception("aggregation failed; events keep being stored")
                lanes = set()
            if lanes and self.on_change:
                self.on_change(Change(frozenset(lanes)))
            if self._storing_a_burst():  # yield to the writer; once it is idle, catch up at full speed
                spent = time.monotonic() - started
                time.sleep(min(spent * (1 / AGGREGATOR_SHARE - 1), 10.0))

    def _store(self, store: Store,
               batch: list[mqtt.MQTTMessage]) -> tuple[list[contract.LaneEvent], set[tuple[str, str]]]:
        """Store a batch; returns every event that decoded (stored, or dead-lettered for an unknown lane: the
        receipts count them as received, so edges do not send them again and again) and the lanes touched."""
        decoded: list[contract.LaneEvent] = []
        events: list[contract.LaneEvent] = []
        statuses: list[tuple[contract.LaneStatus, float]] = []
        lanes: set[tuple[str, str]] = set()
        now = datetime.now(UTC)
        # paho stamps each message on arrival with the monotonic clock: its arrival on the wall clock.
        wall_minus_mono = time.time() - time.monotonic()
        for msg in batch:
            try:
                kind = contract.parse_topic(msg.topic)
                if kind is None:
                    raise contract.Rejected(f"not a lanewatch topic: {msg.topic!r}")
                if kind.kind == "status":
                    status = contract.decode_status(msg.topic, msg.payload)
                    self._check_known(status.site, status.lane)
                    received_at = msg.timestamp + wall_minus_mono
                    store.put_status(status, received_at)
                    statuses.append((status, received_at))
                    self.counts["statuses"] += 1
                else:
                    event = contract.decode_event(msg.topic, msg.payload, now)
                    decoded.append(event)
                    self._check_known(event.site, event.lane)
                    events.append(event)
                lanes.add((kind.site, kind.lane or ""))
            except contract.Rejected as exc:
                log.warning("dead letter from %s: %s", msg.topic, exc.reason)
                kind_of = classify(exc.reason)
                store.add_dead_letter(msg.topic, exc.reason, msg.payload, kind=kind_of)
                self.counts["dead_letters"] += 1
                self.dead_letter_kinds[kind_of] += 1
        new: list[contract.LaneEvent] = []
        if events:
            new = store.add_new_events(events)
            self.counts["events"] += len(new)
            self.counts["duplicates"] += len(events) - len(new)
            self._track_sequences(store, new)
        if new or statuses:
            self._handoff.put((new, statuses))
        return decoded, lanes

    def _track_sequences(self, store: Store, events: list[contract.LaneEvent]) -> None:
        touched = {}
        for e in sorted(events, key=lambda e: (e.edge, e.seq)):
            state, what = self.sequences.observe(e.site, e.edge, e.seq, e.ts.timestamp())
            touched[(e.site, e.edge)] = state
            if what == "gap":
                self.counts["sequence_gaps"] += 1
                log.warning("edge %s/%s: events missing before seq %d (%d missing in all)",
                            e.site, e.edge, e.seq, state.missing)
            elif what == "fill":
                self.counts["gap_fills"] += 1
            elif what == "reset":
                self.counts["sequence_resets"] += 1
                log.warning("edge %s/%s started its sequence over at %d", e.site, e.edge, e.seq)
            elif what == "repeat":
                log.warning("edge %s/%s sent seq %d again under a new event id", e.site, e.edge, e.seq)
        now = time.time()
        store.put_sequences([state.row(now) for state in touched.values()])

    def _check_known(self, site: str, lane: str) -> None:
        if (site, lane) not in self._known:
            raise contract.Rejected(f"site/lane {site}/{lane} is not in the central config")
