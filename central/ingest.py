"""Receiving from the broker: validate every message against the contract, store it, tell listeners.

The subscription uses a persistent session (clean start off, long expiry) with QoS 1, so the
broker keeps events for us while this process is down. Messages are handed from paho's network
thread to a writer thread that stores them in batches; one bad payload goes to the dead-letter
table with its reason and never stops the stream. Each message is acknowledged to the broker only
after its batch is committed (manual acks), so a crash between receipt and commit makes the broker
send it again instead of losing it. After each batch the central's receipts (central/receipts.py)
tell the edges what it has stored.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

from central.config import CentralConfig
from central.receipts import Receipts
from central.store import Store
from lanewatch import contract
from lanewatch.mqtt import connect_async, make_client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """What a batch changed, for listeners such as the live board."""

    lanes: frozenset[tuple[str, str]]


class Ingest:
    def __init__(self, config: CentralConfig, on_change: Callable[[Change], None] | None = None):
        self.config = config
        self.on_change = on_change
        self._queue: queue.Queue[tuple[int, mqtt.MQTTMessage] | None] = queue.Queue(maxsize=100_000)
        self.client = make_client(config.mqtt, client_id=config.client_id)
        self.client.manual_ack_set(True)
        self._generation = 0  # connections so far: an ack is only valid on the connection its message came on
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = lambda client, userdata: log.warning(
            "cannot reach broker %s:%s; retrying with backoff", client.host, client.port)
        self.client.on_message = lambda client, userdata, msg: self._queue.put((self._generation, msg))
        self.connected = threading.Event()
        self.counts = {"events": 0, "duplicates": 0, "dead_letters": 0, "statuses": 0}
        self._thread = threading.Thread(target=self._write_loop, args=(config.database,), name="ingest", daemon=True)

    def start(self) -> None:
        self._thread.start()
        connect_async(self.client, self.config.mqtt, persistent_session=True)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        self._generation += 1
        client.subscribe([(contract.EVENT_SUBSCRIPTION, 1), (contract.STATUS_SUBSCRIPTION, 1)])
        log.info("subscribed to %s (session present: %s)", contract.EVENT_SUBSCRIPTION, flags.session_present)
        self.connected.set()

    # ------------------------------------------------------------ writer thread
    def _write_loop(self, database: Path) -> None:
        store = Store(database)
        receipts = Receipts(store.db)
        while True:
            try:
                first = self._queue.get(timeout=0.5)
            except queue.Empty:
                self._publish_receipts(receipts)
                continue
            if first is None:
                return
            batch, ending = [first], False
            while len(batch) < 2000:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    ending = True
                    break
                batch.append(item)
            receipts.note(self._store(store, [msg for _, msg in batch]))
            for generation, msg in batch:
                if generation == self._generation:  # older ones are re-sent by the broker on this session
                    self.client.ack(msg.mid, msg.qos)
            self._publish_receipts(receipts)
            if ending:
                return

    def _publish_receipts(self, receipts: Receipts) -> None:
        if self.connected.is_set():
            for receipt in receipts.due():
                self.client.publish(contract.receipt_topic(receipt.site, receipt.edge), contract.encode(receipt),
                                    qos=1, retain=True)

    def _store(self, store: Store, batch: list[mqtt.MQTTMessage]) -> list[contract.LaneEvent]:
        """Store a batch; returns every event that decoded, stored or dead-lettered for an unknown lane: the
        receipts count them as received, so that edges do not send them again and again."""
        events, decoded, lanes = [], [], set()
        for msg in batch:
            try:
                kind = contract.parse_topic(msg.topic)
                if kind is None:
                    raise contract.Rejected(f"not a lanewatch topic: {msg.topic!r}")
                if kind.kind == "status":
                    status = contract.decode_status(msg.topic, msg.payload)
                    self._check_known(status.site, status.lane)
                    store.put_status(status)
                    self.counts["statuses"] += 1
                else:
                    event = contract.decode_event(msg.topic, msg.payload)
                    decoded.append(event)
                    self._check_known(event.site, event.lane)
                    events.append(event)
                lanes.add((kind.site, kind.lane))
            except contract.Rejected as exc:
                log.warning("dead letter from %s: %s", msg.topic, exc.reason)
                store.add_dead_letter(msg.topic, exc.reason, msg.payload)
                self.counts["dead_letters"] += 1
        if events:
            new = store.add_events(events)
            self.counts["events"] += new
            self.counts["duplicates"] += len(events) - new
        if lanes and self.on_change:
            self.on_change(Change(frozenset(lanes)))
        return decoded

    def _check_known(self, site: str, lane: str) -> None:
        if self.config.lane(site, lane) is None:
            raise contract.Rejected(f"site/lane {site}/{lane} is not in the central config")
