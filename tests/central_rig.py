"""What the central's tests over a real Mosquitto share: a central config for the session's broker,
publishing as an edge would, and waiting for an outcome with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import paho.mqtt.client as mqtt
from broker import Broker

from lanewatch.ids import uuid7

SITE = "laocai"
T = TypeVar("T")


def central_config(tmp_path: Path, broker: Broker, lanes: tuple[tuple[str, str], ...] = (("out-1", "export"),),
                   **extra: object) -> dict:
    """A central config (as its YAML would hold it) for one site, `lanes` as (id, direction)."""
    return {"mqtt": {"host": broker.host, "port": broker.port}, "client_id": f"central-{uuid7()[-12:]}",
            "database": str(tmp_path / "central.sqlite"),
            "sites": [{"id": SITE, "name": "Lào Cai", "lanes": [{"id": i, "direction": d} for i, d in lanes]}],
            **extra}


def wait_until(predicate: Callable[[], T], timeout: float = 15.0, what: str = "condition") -> T:
    """The predicate's first true value, polled until `timeout` seconds; fails naming `what` after that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def publisher(broker: Broker) -> mqtt.Client:
    """A connected client with its network loop running; the caller stops and disconnects it."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid7()[-8:]}", protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def publish(broker: Broker, messages: list[tuple[str, bytes]]) -> None:
    """Publish (topic, payload) pairs at QoS 1, each acknowledged by the broker before the next."""
    client = publisher(broker)
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()
