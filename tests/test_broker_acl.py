"""The shipped Mosquitto configuration, run for real, keeps every account to its own topics.

One broker for the module: configs/mosquitto/mosquitto.conf rendered into a temporary directory
(ports and paths moved, nothing else), with a CA, certificates, passwords and ACL made by
`central.pki` and `central.provision` exactly as an operator would. When the tests run as root,
Mosquitto drops to its own user as in production, so file ownership is tested too.

"Never receives" is shown with markers: a forbidden message is sent first, then an allowed one
on the same connection; once the allowed one has arrived, the forbidden one would have too.
"""

from __future__ import annotations

import grp
import os
import pwd
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from broker import free_port
from delivery_rig import wait_until
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from central import pki, provision
from central.broker_config import render
from lanewatch.contract import MAX_PAYLOAD_BYTES, availability_topic, event_topic, status_topic, summary_topic

REPO = Path(__file__).resolve().parents[1]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
SITE, OTHER_SITE = "laocai-kimthanh2", "hekou-test"
TIMEOUT = 5.0


@dataclass
class Broker:
    root: Path
    tls_port: int
    cert_port: int
    plain_port: int
    process: subprocess.Popen[bytes]
    passwords: dict[str, str] = field(default_factory=dict)

    @property
    def dirs(self) -> dict[str, Path]:
        return site_dirs(self.root)

    @property
    def ca(self) -> Path:
        return pki.PkiFiles(self.dirs["pki_dir"]).ca_crt

    def log(self) -> str:
        return (self.root / "mosquitto.log").read_text(errors="replace")


def site_dirs(root: Path) -> dict[str, Path]:
    """Where the site's CA and the broker's accounts live, as `central.provision` takes them."""
    return {"pki_dir": root / "pki", "broker_dir": root / "broker"}


def _hand_to_broker_user(root: Path, state: Path) -> None:
    """As root, Mosquitto drops to the `mosquitto` user: give it what production gives it."""
    if os.geteuid() != 0:
        return
    gid = grp.getgrnam(pki.BROKER_GROUP).gr_gid
    for directory in (root, *site_dirs(root).values()):
        os.chown(directory, -1, gid)
        directory.chmod(0o750)
    os.chown(state, pwd.getpwnam("mosquitto").pw_uid, gid)


def _wait_for_listeners(broker: Broker) -> None:
    deadline = time.monotonic() + 10
    for port in (broker.tls_port, broker.cert_port, broker.plain_port):
        while True:
            if broker.process.poll() is not None:
                pytest.fail(f"mosquitto exited with {broker.process.returncode}:\n{broker.log()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"mosquitto does not listen on {port}:\n{broker.log()}")
                time.sleep(0.05)


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    root = Path(tempfile.mkdtemp(prefix="lanewatch-broker-"))
    state = root / "state"
    state.mkdir()
    dirs = site_dirs(root)
    pki.init_site(dirs["pki_dir"], SITE, ["localhost", "127.0.0.1"])
    conf = dirs["broker_dir"] / "mosquitto.conf"
    conf.parent.mkdir()
    tls_port, cert_port, plain_port = free_port(), free_port(), free_port()
    conf.write_text(
        render(
            (REPO / "configs/mosquitto/mosquitto.conf").read_text(),
            **dirs, state_dir=state,
            tls_port=tls_port, cert_port=cert_port, bind="127.0.0.1", demo_plain_port=plain_port,
        )
    )
    _hand_to_broker_user(root, state)
    passwords: dict[str, str] = {}
    for edge_id, lanes in (("gate1", ["x1", "x2"]), ("gate2", ["n1"])):
        bundle = root / f"edge-{edge_id}"
        provision.provision_edge(SITE, edge_id, lanes, out=bundle, **dirs)
        passwords[f"edge.{SITE}.{edge_id}"] = (bundle / f"{edge_id}.mqtt-password").read_text().strip()
    provision.provision_edge(SITE, "gate4", ["n2"], out=root / "edge-gate4", auth="certificate", **dirs)
    for account in (
        provision.accounts.central_account(),
        provision.accounts.kiosk_account("lobby"),
        provision.accounts.kiosk_account("hekou-office", OTHER_SITE),
    ):
        bundle = root / account.username
        provision.provision_reader(account, out=bundle, **dirs)
        passwords[account.username] = (bundle / f"{account.username}.mqtt-password").read_text().strip()

    with open(root / "mosquitto.log", "wb") as log:
        process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    site = Broker(root, tls_port, cert_port, plain_port, process, passwords)
    try:
        _wait_for_listeners(site)
        if os.geteuid() == 0:  # it runs as mosquitto, reading files the provisioning made group-readable
            uid = Path(f"/proc/{process.pid}/status").read_text().split("\nUid:")[1].split()[0]
            assert int(uid) == pwd.getpwnam("mosquitto").pw_uid
        yield site
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(root)


# ---------------------------------------------------------------- a small synchronous client
class Client:
    """A paho client on its own network thread, with waits instead of callbacks."""

    def __init__(
        self,
        broker: Broker,
        username: str | None,
        *,
        password: str | None = None,
        port: int | None = None,
        tls: bool = True,
        ca: Path | None = None,
        cert: tuple[Path, Path] | None = None,
        will: tuple[str, bytes] | None = None,
    ):
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5, reconnect_on_failure=False,
        )
        if username is not None:
            self.client.username_pw_set(username, password if password is not None else broker.passwords[username])
        if tls:
            certfile, keyfile = cert if cert else (None, None)
            self.client.tls_set(ca_certs=str(ca or broker.ca), certfile=certfile and str(certfile),
                                keyfile=keyfile and str(keyfile))
        if will:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self.port = port or broker.tls_port
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connack: ReasonCode | None = None
        self.done = threading.Event()  # connected, refused or dropped: the connect attempt is over
        self.disconnected = threading.Event()
        self.published: dict[int, ReasonCode] = {}
        self.subscribed: dict[int, list[ReasonCode]] = {}
        self._acks = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda _c, _u, msg: self.messages.put((msg.topic, msg.payload))
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: Properties | None) -> None:
        self.connack = reason
        self.done.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        self.disconnected.set()
        self.done.set()

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, reason: ReasonCode, _p: object) -> None:
        with self._acks:
            self.published[mid] = reason
            self._acks.notify_all()

    def _on_subscribe(self, _c: mqtt.Client, _u: object, mid: int, reasons: list[ReasonCode], _p: object) -> None:
        with self._acks:
            self.subscribed[mid] = reasons
            self._acks.notify_all()

    def connect(self) -> str:
        """"ok", or why the broker (or TLS) would not have us."""
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        if not self.done.wait(TIMEOUT):
            return "no answer"
        if self.connack is None:
            return "dropped before CONNACK"
        return "ok" if not self.connack.is_failure else str(self.connack)

    def subscribe(self, topic: str) -> None:
        _, mid = self.client.subscribe(topic, qos=1)
        with self._acks:
            assert self._acks.wait_for(lambda: mid in self.subscribed, TIMEOUT), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> ReasonCode:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        with self._acks:
            assert self._acks.wait_for(lambda: info.mid in self.published, TIMEOUT), f"no PUBACK for {topic}"
            return self.published[info.mid]

    def receive_until(self, topic: str, payload: bytes) -> list[tuple[str, bytes]]:
        """Everything received up to and including (topic, payload)."""
        seen = []
        deadline = time.monotonic() + TIMEOUT
        while (topic, payload) not in seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{payload!r} on {topic} never arrived; got {seen}"
            try:
                seen.append(self.messages.get(timeout=remaining))
            except queue.Empty:
                continue
        return seen

    def drain(self, settle_s: float = 0.3) -> list[tuple[str, bytes]]:
        time.sleep(settle_s)
        seen = []
        while not self.messages.empty():
            seen.append(self.messages.get())
        return seen

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def connect(broker: Broker) -> Iterator:
    clients: list[Client] = []

    def make(username: str | None, **options: object) -> Client:
        client = Client(broker, username, **options)  # type: ignore[arg-type]
        clients.append(client)
        outcome = client.connect()
        assert outcome == "ok", f"{username} could not connect: {outcome}\n{broker.log()[-2000:]}"
        return client

    yield make
    for client in clients:
        client.close()


def marker() -> bytes:
    return f"marker-{uuid.uuid4().hex}".encode()


GATE1, GATE2, GATE4 = (f"edge.{SITE}.{name}" for name in ("gate1", "gate2", "gate4"))


# ---------------------------------------------------------------- edges
def test_edge_publishes_only_its_own_lanes(broker: Broker, connect) -> None:
    central = connect("central")
    central.subscribe("lanewatch/v1/#")
    gate1 = connect(GATE1)
    forbidden = [
        event_topic(SITE, "n1"),  # a lane of the same site served by gate2
        status_topic(SITE, "n1", "gate2"),
        event_topic(OTHER_SITE, "x1"),  # its own lane id, another site
        summary_topic(SITE, "x1"),  # the central's figures
        availability_topic(SITE, "gate2"),  # another edge's availability
        "lanewatch/v1/laocai-kimthanh2/x1/event/extra",
        "somewhere/else",
    ]
    for topic in forbidden:
        assert gate1.publish(topic, b"forged").getName() == "Not authorized", topic
    allowed = [event_topic(SITE, "x1"), status_topic(SITE, "x2", "gate1"), availability_topic(SITE, "gate1")]
    for topic in allowed:
        assert not gate1.publish(topic, b"genuine").is_failure, topic
    end = marker()
    gate1.publish(event_topic(SITE, "x2"), end)
    received = central.receive_until(event_topic(SITE, "x2"), end)
    assert [topic for topic, payload in received if payload == b"forged"] == []
    assert {topic for topic, payload in received if payload == b"genuine"} == set(allowed)


def test_edge_reads_nothing_of_other_edges(broker: Broker, connect) -> None:
    gate2 = connect(GATE2)
    gate2.publish(status_topic(SITE, "n1", "gate2"), b"retained status of n1", retain=True)
    gate1 = connect(GATE1)
    gate1.subscribe("lanewatch/v1/#")
    gate1.subscribe(event_topic(SITE, "n1"))
    central = connect("central")
    central.subscribe(event_topic(SITE, "n1"))
    end = marker()
    gate2.publish(event_topic(SITE, "n1"), end)
    central.receive_until(event_topic(SITE, "n1"), end)  # the broker has routed it
    assert gate1.drain() == []  # neither the live event nor the retained status


def test_edge_last_will_reaches_the_central(broker: Broker, connect) -> None:
    central = connect("central")
    central.subscribe(availability_topic(SITE, "+"))
    topic = availability_topic(SITE, "gate1")
    gate1 = connect(GATE1, will=(topic, b"offline"))
    gate1.publish(topic, b"online", retain=True)
    central.receive_until(topic, b"online")
    gate1.client.socket().close()  # the cabinet loses power: no DISCONNECT, so the will fires
    assert central.receive_until(topic, b"offline")[-1] == (topic, b"offline")


def test_edge_with_a_client_certificate(broker: Broker, connect) -> None:
    bundle = broker.root / "edge-gate4"
    cert = (bundle / "gate4.crt", bundle / "gate4.key")
    central = connect("central")
    central.subscribe("lanewatch/v1/#")
    gate4 = connect(None, port=broker.cert_port, cert=cert)
    assert gate4.publish(event_topic(SITE, "x1"), b"forged").getName() == "Not authorized"
    end = marker()
    assert not gate4.publish(event_topic(SITE, "n2"), end).is_failure
    received = central.receive_until(event_topic(SITE, "n2"), end)
    assert (event_topic(SITE, "x1"), b"forged") not in received
    # A certificate edge has no password to fall back on.
    refused = Client(broker, GATE4, password="anything")
    assert refused.connect() == "Not authorized"
    refused.close()


def test_certificate_listener_refuses_clients_without_a_certificate(broker: Broker) -> None:
    client = Client(broker, GATE1, port=broker.cert_port)
    outcome = client.connect()
    client.close()
    assert outcome != "ok"


# ---------------------------------------------------------------- authentication and transport
@pytest.mark.parametrize(
    ("username", "password"),
    [(GATE1, "not-the-password"), ("edge.laocai-kimthanh2.nobody", "whatever"), (GATE1, "")],
)
def test_wrong_credentials_are_refused(broker: Broker, username: str, password: str) -> None:
    client = Client(broker, username, password=password)
    outcome = client.connect()
    client.close()
    assert outcome == "Not authorized"


def test_anonymous_is_refused(broker: Broker) -> None:
    client = Client(broker, None)
    outcome = client.connect()
    client.close()
    assert outcome == "Not authorized"


def test_plain_text_to_the_tls_listener_is_refused(broker: Broker) -> None:
    client = Client(broker, GATE1, tls=False)
    outcome = client.connect()
    client.close()
    assert outcome in ("dropped before CONNACK", "no answer")
    assert "wrong version number" in broker.log() or "protocol error" in broker.log().lower()


def tls_handshake(
    port: int, ca: Path, server_hostname: str = "127.0.0.1", newest: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED
) -> str:
    context = ssl.create_default_context(cafile=str(ca))
    context.maximum_version = newest
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
            with context.wrap_socket(raw, server_hostname=server_hostname) as tls:
                return f"ok {tls.version()}"
    except ssl.SSLError as exc:
        return str(exc)


def test_the_broker_proves_itself_with_the_site_ca(broker: Broker, tmp_path: Path) -> None:
    assert tls_handshake(broker.tls_port, broker.ca) == "ok TLSv1.3"
    assert tls_handshake(broker.tls_port, broker.ca, newest=ssl.TLSVersion.TLSv1_2) == "ok TLSv1.2"  # older edges
    assert tls_handshake(broker.tls_port, broker.ca, server_hostname="localhost").startswith("ok")
    assert "certificate verify failed" in tls_handshake(broker.tls_port, broker.ca, server_hostname="elsewhere.example")
    pki.init_site(tmp_path, "impostor", ["127.0.0.1"])  # an edge of another site trusts another CA
    assert "certificate verify failed" in tls_handshake(broker.tls_port, tmp_path / "ca.crt")


def test_demo_plain_listener_still_needs_a_password(broker: Broker, connect) -> None:
    refused = Client(broker, GATE1, password="wrong", port=broker.plain_port, tls=False)
    assert refused.connect() == "Not authorized"
    refused.close()
    gate1 = connect(GATE1, port=broker.plain_port, tls=False)
    assert gate1.publish(event_topic(SITE, "n1"), b"forged").getName() == "Not authorized"


def test_the_largest_event_passes_and_a_larger_one_is_refused(broker: Broker, connect) -> None:
    central = connect("central")
    central.subscribe(event_topic(SITE, "+"))
    gate1 = connect(GATE1)
    largest = b"x" * MAX_PAYLOAD_BYTES
    assert not gate1.publish(event_topic(SITE, "x1"), largest).is_failure
    assert central.receive_until(event_topic(SITE, "x1"), largest)
    gate1.client.publish(event_topic(SITE, "x1"), b"x" * (MAX_PAYLOAD_BYTES + 4096), qos=1)
    assert gate1.disconnected.wait(TIMEOUT)  # the broker hangs up on it
    # The client can see the hang-up before mosquitto has written its log line about it.
    wait_until(lambda: "disconnected due to oversize packet" in broker.log(), TIMEOUT, "mosquitto's oversize log line")


# ---------------------------------------------------------------- central and kiosks
def test_central_reads_everything_and_writes_only_summaries(broker: Broker, connect) -> None:
    central = connect("central")
    central.subscribe("lanewatch/v1/#")
    gate1, gate2 = connect(GATE1), connect(GATE2)
    sent = [
        (gate1, event_topic(SITE, "x1")),
        (gate1, status_topic(SITE, "x2", "gate1")),
        (gate1, availability_topic(SITE, "gate1")),
        (gate2, event_topic(SITE, "n1")),
    ]
    for client, topic in sent:
        client.publish(topic, b"seen by central")
    assert central.publish(event_topic(SITE, "x1"), b"forged").getName() == "Not authorized"
    end = marker()
    assert not central.publish(summary_topic(SITE, "x1"), end).is_failure
    received = central.receive_until(summary_topic(SITE, "x1"), end)
    assert {topic for topic, payload in received if payload == b"seen by central"} == {t for _, t in sent}
    assert (event_topic(SITE, "x1"), b"forged") not in received


def test_kiosk_reads_only_summaries(broker: Broker, connect) -> None:
    central = connect("central")
    central.subscribe("lanewatch/v1/#")
    kiosk = connect("kiosk.lobby")
    kiosk.subscribe("lanewatch/v1/#")
    gate1 = connect(GATE1)
    gate1.publish(status_topic(SITE, "x1", "gate1"), b"status", retain=True)
    first = marker()
    gate1.publish(event_topic(SITE, "x1"), first)
    central.receive_until(event_topic(SITE, "x1"), first)
    assert kiosk.publish(summary_topic(SITE, "x1"), b"forged").getName() == "Not authorized"
    end = marker()
    central.publish(summary_topic(OTHER_SITE, "y1"), end)
    received = kiosk.receive_until(summary_topic(OTHER_SITE, "y1"), end)
    assert all(topic.endswith("/summary") for topic, _ in received), received
    assert (summary_topic(SITE, "x1"), b"forged") not in received


def test_site_kiosk_reads_only_its_sites_summaries(broker: Broker, connect) -> None:
    central = connect("central")
    kiosk = connect("kiosk.hekou-office")
    kiosk.subscribe("lanewatch/v1/+/+/summary")
    central.publish(summary_topic(SITE, "x1"), b"not for hekou")
    end = marker()
    central.publish(summary_topic(OTHER_SITE, "y1"), end)
    received = kiosk.receive_until(summary_topic(OTHER_SITE, "y1"), end)
    assert (summary_topic(SITE, "x1"), b"not for hekou") not in received


# ---------------------------------------------------------------- operations
def test_reload_picks_up_a_newly_provisioned_edge(broker: Broker, connect) -> None:
    bundle = broker.root / "edge-gate9"
    provision.provision_edge(SITE, "gate9", ["x9"], out=bundle, **broker.dirs)
    password = (bundle / "gate9.mqtt-password").read_text().strip()
    before = Client(broker, f"edge.{SITE}.gate9", password=password)
    assert before.connect() == "Not authorized"  # the running broker has not read the new account yet
    before.close()
    broker.process.send_signal(signal.SIGHUP)  # what `systemctl reload mosquitto` sends
    deadline = time.monotonic() + TIMEOUT
    while True:
        after = Client(broker, f"edge.{SITE}.gate9", password=password)
        outcome = after.connect()
        after.close()
        if outcome == "ok" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert outcome == "ok"
    gate9 = connect(f"edge.{SITE}.gate9", password=password)
    assert not gate9.publish(event_topic(SITE, "x9"), b"hello").is_failure
    assert gate9.publish(event_topic(SITE, "x1"), b"forged").getName() == "Not authorized"
