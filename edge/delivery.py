"""Publishing the outbox over MQTT: QoS 1 events in sequence order, marked delivered on PUBACK.

paho keeps unacknowledged QoS 1 messages only in memory and re-sends them itself after a
reconnect; the outbox covers what paho cannot: a restart of this process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

import paho.mqtt.client as mqtt

from lanewatch import contract
from lanewatch.mqtt import MqttSettings, connect_async, make_client
from edge.outbox import Outbox

log = logging.getLogger(__name__)

WINDOW = 200  # QoS 1 messages handed to paho and not yet acknowledged


class Publisher:
    def __init__(self, settings: MqttSettings, site: str, edge_id: str, outbox: Outbox):
        self.outbox = outbox
        self.availability_topic = contract.availability_topic(site, edge_id)
        self.client = make_client(settings, client_id=f"lanewatch-edge-{site}-{edge_id}")
        self.client.max_inflight_messages_set(WINDOW)
        self.client.will_set(self.availability_topic, contract.OFFLINE, qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = lambda client, userdata: log.warning(
            "cannot reach broker %s:%s; retrying with backoff", client.host, client.port)
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.settings = settings
        self.connected = threading.Event()
        self.reconnects = 0
        self._inflight: dict[int, int] = {}  # paho mid -> outbox seq; touched by the pump thread only
        # Filled by paho's network thread, drained by the pump. No lock of ours is taken inside a paho
        # callback: paho holds its own message lock there, and publish() wants it too.
        self._acked_mids: deque[int] = deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="publisher", daemon=True)

    def start(self) -> None:
        connect_async(self.client, self.settings)
        self.client.loop_start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._flush_acks()
        if self.connected.is_set():
            self.client.publish(self.availability_topic, contract.OFFLINE, qos=1, retain=True).wait_for_publish(2)
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
        log.info("connected to broker %s:%s", self.settings.host, self.settings.port)
        client.publish(self.availability_topic, contract.ONLINE, qos=1, retain=True)
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected.is_set() and not self._stop.is_set():
            self.reconnects += 1
            log.warning("disconnected from broker: %s; reconnecting", reason_code)
        self.connected.clear()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused message %s: %s", mid, reason_code)  # stays pending, re-sent after restart
        else:
            self._acked_mids.append(mid)

    # ------------------------------------------------------------ pump thread
    def _flush_acks(self) -> None:
        acked = []
        while self._acked_mids:
            seq = self._inflight.pop(self._acked_mids.popleft(), None)
            if seq is not None:
                acked.append(seq)
        self.outbox.mark_delivered(acked)

    def _pump(self) -> None:
        last_handed = 0
        while not self._stop.is_set():
            self._flush_acks()
            if not self.connected.is_set():
                # After a reconnect paho re-sends what it holds; we continue after the last handed seq.
                self._stop.wait(0.2)
                continue
            room = WINDOW - len(self._inflight)
            batch = self.outbox.pending(last_handed, room) if room > 0 else []
            for item in batch:
                self._inflight[self.client.publish(item.topic, item.payload, qos=1).mid] = item.seq
                last_handed = item.seq
            if not batch:
                with self.outbox.committed:
                    self.outbox.committed.wait(timeout=0.1)
            elif room <= 0:
                time.sleep(0.005)
