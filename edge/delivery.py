"""Publishing the outbox over MQTT: QoS 1 events in sequence order, marked delivered on PUBACK.

Three rules keep anything from being skipped or stuck:

1. One way to (re)send. paho keeps unacknowledged QoS 1 messages in memory and re-sends them after
   a reconnect; on a fresh session that is all it does, and after a restart of this process it has
   nothing. So on every connect we drop paho's copies (`drop_out_messages`) and re-hand every event
   the broker has not acknowledged from the outbox, oldest first, before any newer one. Restarts,
   reconnects and paho's behaviour all reduce to the same path, in strict seq order.
2. An acknowledgement counts only when the broker took the event for someone. "No matching
   subscribers" (0x10) means the central's persistent session is gone (a broker that restarted
   without its state): the event stays undelivered and the pump pauses with a capped backoff
   before it tries again. Refusals (reason codes >= 0x80) are handled the same way.
3. The central's receipts close the last hole: a broker that crashes loses what it acknowledged but
   had not yet passed on. Each receipt lists what the central has; delivered events that fall in
   its gaps, or after its newest seq while the central is up and idle, are sent again once they
   have been delivered for `repair_after_s`. The central stores each id once, so a re-send costs
   bandwidth, never a duplicate.

Nothing here runs on the vision threads: they only put events in the outbox's queue.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from edge.outbox import Outbox
from lanewatch import contract
from lanewatch.contract import Receipt
from lanewatch.mqtt import MqttSettings, connect_async, make_client
from lanewatch.prometheus import Timings

log = logging.getLogger(__name__)

WINDOW = 200  # QoS 1 events handed to paho and not yet acknowledged
NO_MATCHING_SUBSCRIBERS = 0x10
HOLD_MAX_S = 10.0  # longest pause after the broker would not take events
REPAIR_CHECK_S = 1.0


class Publisher:
    def __init__(self, settings: MqttSettings, site: str, edge_id: str, outbox: Outbox, repair_after_s: float = 30.0):
        self.outbox = outbox
        self.settings = settings
        self.repair_after_s = repair_after_s
        self.availability_topic = contract.availability_topic(site, edge_id)
        self.receipt_topic = contract.receipt_topic(site, edge_id)
        self.client = make_client(settings, client_id=f"lanewatch-edge-{site}-{edge_id}")
        self.client.max_inflight_messages_set(WINDOW + 20)  # room for status and availability beside the events
        self.client.will_set(self.availability_topic, contract.OFFLINE, qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = lambda client, userdata: log.warning(
            "cannot reach broker %s:%s; retrying with backoff", client.host, client.port)
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.connected = threading.Event()
        self.reconnects = 0
        self.resent = 0  # events sent again because a receipt showed the central lacks them
        self.receipt: Receipt | None = None  # the latest one, live or retained
        self.latency = Timings()  # hand-over to paho -> broker's PUBACK, per delivered event
        self._sent_at: dict[int, float] = {}  # paho mid -> monotonic hand-over time; pump thread only
        # Called once per pump iteration (at least every 0.1 s, idle or not): the watchdog's proof of progress.
        self.on_progress: Callable[[], None] = lambda: None
        # Filled by paho's network thread, drained by the pump. No lock of ours is taken inside a paho
        # callback: paho holds its own locks there, and publish() wants them too.
        self._acks: deque[tuple[int, int]] = deque()
        self._receipts: deque[tuple[str, bytes, bool]] = deque()
        self._generation = 0  # connections so far; written by the network thread only
        self._delivered_some = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="publisher", daemon=True)
        outbox.on_commit = self._wake.set

    @property
    def confirmed_seq(self) -> int:
        return self.receipt.contiguous_seq if self.receipt else 0

    def start(self) -> None:
        connect_async(self.client, self.settings)
        self.client.loop_start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        if self.connected.is_set():
            info = self.client.publish(self.availability_topic, contract.OFFLINE, qos=1, retain=True)
            info.wait_for_publish(2)
            if not info.is_published():
                log.warning("could not publish offline before disconnecting; the broker's last will says it")
        self.client.disconnect()
        self.client.loop_stop()

    def publish_retained(self, topic: str, payload: bytes) -> None:
        """Latest-state messages (lane status): retained, not kept in the outbox."""
        if self.connected.is_set():
            self.client.publish(topic, payload, qos=1, retain=True)

    # ------------------------------------------------------------ paho callbacks (network thread)
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        # Rule 1: forget paho's in-memory copies; the pump re-hands everything unacknowledged in order.
        dropped = client.drop_out_messages()
        self._generation += 1
        log.info("connected to broker %s:%s (%d unacknowledged message(s) will be re-sent from the outbox)",
                 self.settings.host, self.settings.port, len(dropped))
        client.subscribe(self.receipt_topic, qos=1)
        client.publish(self.availability_topic, contract.ONLINE, qos=1, retain=True)
        self.connected.set()
        self._wake.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected.is_set() and not self._stop.is_set():
            self.reconnects += 1
            log.warning("disconnected from broker: %s; reconnecting", reason_code)
        self.connected.clear()
        self._wake.set()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._acks.append((mid, reason_code.value))
        self._wake.set()

    def _on_message(self, client, userdata, message) -> None:
        self._receipts.append((message.topic, message.payload, bool(message.retain)))
        self._wake.set()

    # ------------------------------------------------------------ pump thread
    def _pump(self) -> None:
        generation, cursor = 0, 0  # cursor: every undelivered seq <= cursor is in flight in this connection
        inflight: dict[int, int] = {}  # paho mid -> seq
        inflight_seqs: set[int] = set()
        hold_until, backoff = 0.0, 1.0
        live_at = max_changed_at = last_repair = 0.0  # monotonic times of receipts and repair checks
        while not self._stop.is_set():
            self.on_progress()
            self._wake.wait(0.1)
            self._wake.clear()
            now = time.monotonic()
            if self._generation != generation:
                self._take_acks(inflight, inflight_seqs)  # acks that came on the old connection still count
                generation, cursor = self._generation, 0
                hold_until, backoff = 0.0, 1.0  # a new connection: try at once
                inflight.clear()
                inflight_seqs.clear()
                self._sent_at.clear()
            refused = self._take_acks(inflight, inflight_seqs)
            if refused:
                cursor = min(cursor, min(s for s, _ in refused) - 1)
                if now >= hold_until:  # a new pause; refusals of the window already handed join the current one
                    log.warning("broker did not take %d event(s) (%s); holding them for %.0f s",
                                len(refused), _describe(refused[0][1]), backoff)
                    hold_until, backoff = now + backoff, min(backoff * 2, HOLD_MAX_S)
            elif self._delivered_some:
                backoff = 1.0
            for receipt, live in self._take_receipts():
                if live:
                    if self.receipt is None or receipt.max_seq != self.receipt.max_seq or not live_at:
                        max_changed_at = now
                    live_at = now
                self.receipt = receipt
                self.outbox.confirm(receipt.contiguous_seq)
            if not self.connected.is_set() or now < hold_until:
                continue
            if now - last_repair >= REPAIR_CHECK_S and self.receipt is not None:
                last_repair = now
                seqs = self._repair(now - live_at, now - max_changed_at)
                if seqs:
                    cursor = min(cursor, seqs[0] - 1)
            room = WINDOW - len(inflight)
            if room <= 0:
                continue
            handed = 0
            for item in self.outbox.pending(cursor, room + len(inflight_seqs)):
                if handed == room:
                    break
                if item.seq not in inflight_seqs:
                    mid = self.client.publish(item.topic, item.payload, qos=1).mid
                    inflight[mid] = item.seq
                    self._sent_at[mid] = time.monotonic()
                    inflight_seqs.add(item.seq)
                    handed += 1
                cursor = item.seq
            if handed == room:
                self._wake.set()  # more may be waiting; go round again without sleeping

    def _take_acks(self, inflight: dict[int, int], inflight_seqs: set[int]) -> list[tuple[int, int]]:
        """Mark acknowledged events delivered; returns (seq, reason code) of those the broker did not take."""
        delivered, refused = [], []
        while self._acks:
            mid, code = self._acks.popleft()
            seq = inflight.pop(mid, None)
            sent_at = self._sent_at.pop(mid, None)
            if seq is None:
                continue  # status, availability, or a message of an earlier connection
            inflight_seqs.discard(seq)
            if code == NO_MATCHING_SUBSCRIBERS or code >= 0x80:
                refused.append((seq, code))
            else:
                delivered.append(seq)
                if sent_at is not None:
                    self.latency.observe(time.monotonic() - sent_at)
        self.outbox.mark_delivered(delivered)
        self._delivered_some = bool(delivered)
        return refused

    def _take_receipts(self) -> list[tuple[Receipt, bool]]:
        out = []
        while self._receipts:
            topic, payload, retained = self._receipts.popleft()
            try:
                out.append((contract.decode_receipt(topic, payload), not retained))
            except contract.Rejected as exc:
                log.warning("ignoring receipt on %s: %s", topic, exc.reason)
        return out

    def _repair(self, live_age: float, max_unchanged: float) -> list[int]:
        """Rule 3: requeue delivered events the central's live receipt says it lacks; returns their seqs."""
        receipt = self.receipt
        assert receipt is not None
        if live_age > 3 * receipt.interval_s:
            return []  # the central is not running (or not publishing): nobody can tell what is missing
        ranges: list[tuple[int, int | None]] = list(receipt.missing)
        if max_unchanged >= self.repair_after_s:
            ranges.append((receipt.max_seq + 1, None))  # the central is idle, yet we delivered more long ago
        if not ranges:
            return []
        seqs = self.outbox.requeue(ranges, delivered_before=time.time() - self.repair_after_s)
        if seqs:
            self.resent += len(seqs)
            log.warning("central lacks %d event(s) the broker acknowledged (seq %d-%d); sending them again",
                        len(seqs), seqs[0], seqs[-1])
        return seqs


def _describe(code: int) -> str:
    if code == NO_MATCHING_SUBSCRIBERS:
        return "no subscriber: the central's session is missing on the broker"
    return f"reason code 0x{code:02x}"
