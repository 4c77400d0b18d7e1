"""The publisher against a real Mosquitto, in one process: order after reconnects, holding events
nobody subscribes to, re-sending what the central's receipts lack, TLS and accounts, availability."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from broker import Broker
from delivery_rig import wait_until
from pydantic import SecretStr

from central.config import CentralConfig
from central.ingest import Ingest
from edge.config import EdgeConfig
from edge.delivery import Publisher
from edge.loadgen import make_builder
from edge.outbox import Outbox
from lanewatch import contract
from lanewatch.mqtt import MqttSettings, TlsSettings, connect_async

CONFIG = EdgeConfig.model_validate({
    "site": "laocai", "edge_id": "gate1",
    "lanes": [{"id": "out-1", "direction": "export", "cameras": [{"id": "cam1", "source": {"type": "usb"}}]}],
})


class Subscriber:
    """A plain QoS 1 subscriber with a persistent session, recording (seq, id) of events in arrival order."""

    def __init__(self, settings: MqttSettings, client_id: str = "listener"):
        self.arrived: list[tuple[int, str]] = []
        self.retained: dict[str, bytes] = {}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if settings.username:
            self.client.username_pw_set(settings.username, settings.password.get_secret_value())
        if settings.tls:
            self.client.tls_set(ca_certs=str(settings.tls.ca_file))
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(contract.EVENT_SUBSCRIPTION, 1),
                                                                     (contract.AVAILABILITY_SUBSCRIPTION, 1)])
        self.client.on_message = self._message
        connect_async(self.client, settings, persistent_session=True)
        self.client.loop_start()

    def _message(self, client, userdata, msg) -> None:
        if msg.topic.endswith("/event"):
            event = contract.decode_event(msg.topic, msg.payload)
            self.arrived.append((event.seq, event.id))
        else:
            self.retained[msg.topic] = msg.payload

    def seqs(self) -> set[int]:
        return {s for s, _ in self.arrived}

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def submit(outbox: Outbox, n: int) -> None:
    first = outbox.last_seq + outbox.queued
    for k in range(first, first + n):
        outbox.submit(make_builder(CONFIG, k, None))
    assert outbox.flush(10)


def first_arrivals(arrived: list[tuple[int, str]]) -> list[int]:
    seen, out = set(), []
    for seq, _ in arrived:
        if seq not in seen:
            seen.add(seq)
            out.append(seq)
    return out


@pytest.fixture
def own_broker(tmp_path):
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


def settings_for(b: Broker, **extra) -> MqttSettings:
    return MqttSettings(host=b.host, port=b.port, reconnect_min_s=1, reconnect_max_s=1, **extra)


def test_events_wait_for_a_subscriber_then_arrive_in_order_across_broker_restarts(tmp_path, own_broker):
    settings = settings_for(own_broker)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    publisher = Publisher(settings, "laocai", "gate1", outbox)
    publisher.start()
    try:
        submit(outbox, 500)
        time.sleep(2.0)  # the broker answers "no matching subscribers": nothing counts as delivered
        assert outbox.health().backlog == 500
        listener = Subscriber(settings)
        wait_until(lambda: outbox.health().backlog == 0, 40, "delivered once someone subscribes")
        for _ in range(2):
            own_broker.stop()
            submit(outbox, 1000)  # produced while the broker is away
            own_broker.start()
            wait_until(lambda: outbox.health().backlog == 0, 40, "backlog replayed")
        submit(outbox, 500)
        wait_until(lambda: len(listener.seqs()) == 3000, 20, "every event at the listener")
        assert first_arrivals(listener.arrived) == list(range(1, 3001))  # replays came first, in seq order
        assert publisher.reconnects == 2
        listener.stop()
    finally:
        publisher.stop()
        outbox.close()


def test_events_the_central_lost_are_sent_again(tmp_path, own_broker):
    """The central's database loses events after the broker acknowledged them (a restore from an
    older backup here; a broker crash looks the same to the edge): its receipts make the edge re-send."""
    settings = settings_for(own_broker)
    central_config = CentralConfig.model_validate({
        "mqtt": settings.model_dump(), "client_id": "central-test", "database": str(tmp_path / "central.sqlite"),
        "sites": [{"id": "laocai", "name": "Lào Cai", "lanes": [{"id": "out-1", "direction": "export"}]}],
    })
    outbox = Outbox(tmp_path / "outbox.sqlite")
    publisher = Publisher(settings, "laocai", "gate1", outbox, repair_after_s=1.0)
    ingest = Ingest(central_config)
    ingest.start()
    publisher.start()
    try:
        submit(outbox, 300)
        wait_until(lambda: publisher.confirmed_seq == 300, 20, "central confirms 300")
        ingest.stop()
        db = sqlite3.connect(tmp_path / "central.sqlite")
        with db:
            db.execute("DELETE FROM events WHERE seq BETWEEN 100 AND 120 OR seq > 280")
        db.close()
        ingest = Ingest(central_config)
        ingest.start()

        def central_has() -> tuple:
            db = sqlite3.connect(tmp_path / "central.sqlite")
            try:
                return db.execute("SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM events").fetchone()
            finally:
                db.close()

        wait_until(lambda: central_has() == (300, 300, 1, 300), 30, "central has all 300 again")
        assert publisher.resent == 21 + 20  # the gap and the tail, nothing else
        wait_until(lambda: publisher.confirmed_seq == 300, 10, "central confirms 300 again")
    finally:
        publisher.stop()
        ingest.stop()
        outbox.close()


@pytest.fixture
def secure_broker(tmp_path):
    """Mosquitto with a TLS listener (a test CA made with openssl) and one account."""
    d = tmp_path / "pki"
    d.mkdir()

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=lanewatch test CA", "-days", "2")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.cnf")
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(d / "passwd"), "gate1", "s3cret"], check=True)
    b = Broker(tmp_path / "broker", tls=(d / "ca.pem", d / "server.pem", d / "server.key"),
               password_file=d / "passwd").start()
    yield b, d / "ca.pem"
    b.stop()


def test_tls_with_an_account_delivers_and_a_wrong_password_is_refused(tmp_path, secure_broker, caplog):
    b, ca = secure_broker
    good = settings_for(b, username="gate1", password=SecretStr("s3cret"), tls=TlsSettings(ca_file=ca))
    listener = Subscriber(good, client_id="tls-listener")
    for name, settings in (("wrong", good.model_copy(update={"password": SecretStr("nope")})), ("good", good)):
        outbox = Outbox(tmp_path / f"{name}.sqlite")
        publisher = Publisher(settings, "laocai", f"gate-{name}", outbox)
        publisher.start()
        try:
            submit(outbox, 50)
            if name == "wrong":
                time.sleep(2.0)
                assert not publisher.connected.is_set() and outbox.health().backlog == 50
                assert any("broker refused the connection" in r.getMessage() for r in caplog.records)
            else:
                wait_until(lambda o=outbox: o.health().backlog == 0, 20, "delivered over TLS")
        finally:
            publisher.stop()
            outbox.close()
    wait_until(lambda: len(listener.seqs()) == 50, 10, "listener got them")
    listener.stop()


def test_availability_is_online_while_connected_and_offline_after_a_crash(tmp_path, own_broker):
    """The retained `online` on connect, and the broker's retained last will `offline` when the edge
    vanishes without saying goodbye (here: its socket is shut down under it)."""
    settings = settings_for(own_broker, keepalive_s=5)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    publisher = Publisher(settings, "laocai", "gate1", outbox)
    publisher.client.reconnect_delay_set(30, 30)  # stay away long enough to be seen offline
    topic = contract.availability_topic("laocai", "gate1")
    listener = Subscriber(settings)
    publisher.start()
    try:
        wait_until(lambda: listener.retained.get(topic) == contract.ONLINE, 10, "online")
        publisher.client.socket().shutdown(socket.SHUT_RDWR)  # gone without a DISCONNECT
        wait_until(lambda: listener.retained.get(topic) == contract.OFFLINE, 10, "offline by last will")
    finally:
        listener.stop()
        threading.Thread(target=publisher.stop, daemon=True).start()  # it may sit in its reconnect delay
        outbox.close()
