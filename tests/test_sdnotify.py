"""sd_notify over a real unix datagram socket, and the progress-gated watchdog with real threads."""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lanewatch import sdnotify
from lanewatch.sdnotify import Notifier, Watchdog, watchdog_timeout


class Listener:
    """Plays systemd's side: reads every notification as it arrives, noting when."""

    def __init__(self, address: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.settimeout(0.05)
        self.received: queue.Queue[tuple[float, str]] = queue.Queue()
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self.closed.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.received.put((time.monotonic(), data.decode()))

    def receive(self) -> str:
        return self.received.get(timeout=2)[1]

    def drain(self) -> list[str]:
        """Every message received so far and not yet taken."""
        messages = []
        while not self.received.empty():
            messages.append(self.received.get()[1])
        return messages

    def close(self) -> None:
        self.closed.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def socket_path(tmp_path: Path) -> str:
    return str(tmp_path / "notify.sock")


@pytest.fixture
def listener(socket_path: str) -> Iterator[Listener]:
    server = Listener(socket_path)
    yield server
    server.close()


@pytest.fixture
def notifier(listener: Listener, socket_path: str) -> Iterator[Notifier]:
    sender = Notifier(env={"NOTIFY_SOCKET": socket_path})
    yield sender
    sender.close()


def test_ready_and_watchdog_reach_a_path_socket(listener: Listener, notifier: Notifier) -> None:
    assert notifier.enabled
    assert notifier.ready("2 lanes, 3 cameras")
    assert listener.receive() == "READY=1\nSTATUS=2 lanes, 3 cameras"
    assert notifier.watchdog()
    assert listener.receive() == "WATCHDOG=1"
    assert notifier.extend_timeout(1.5)
    assert listener.receive() == "EXTEND_TIMEOUT_USEC=1500000"


def test_abstract_socket_name() -> None:
    address = f"@lanewatch-test-{uuid.uuid4().hex}"
    server = Listener(address)
    try:
        notifier = Notifier(env={"NOTIFY_SOCKET": address})
        assert notifier.ready()
        assert server.receive() == "READY=1"
        notifier.close()
    finally:
        server.close()


def test_without_systemd_nothing_is_sent_and_nothing_raises() -> None:
    notifier = Notifier(env={})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False


def test_a_vanished_socket_is_reported_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(env={"NOTIFY_SOCKET": str(tmp_path / "nobody-listens.sock")})
    assert notifier.watchdog() is False
    assert notifier.watchdog() is False
    assert len([r for r in caplog.records if "cannot notify systemd" in r.message]) == 1  # once, not every ping
    notifier.close()


def test_a_receiver_that_stops_reading_does_not_hang_the_sender(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sdnotify, "SEND_TIMEOUT_S", 0.2)
    deaf = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    deaf.bind(str(tmp_path / "deaf.sock"))  # bound, never read: its queue fills up
    notifier = Notifier(env={"NOTIFY_SOCKET": str(tmp_path / "deaf.sock")})
    try:
        started = time.monotonic()
        results = [notifier.watchdog() for _ in range(15)]
        assert results[0] and not results[-1]
        assert time.monotonic() - started < 15 * 0.2 + 1  # each blocked send gave up after its timeout
    finally:
        notifier.close()
        deaf.close()


def test_bad_socket_address_disables_notifications() -> None:
    assert not Notifier(env={"NOTIFY_SOCKET": "vsock:2:1234"}).enabled


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 30.0),
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # our parent's watchdog, not ours
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_timeout_from_environment(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_timeout(env, pid=4242) == expected


def test_stalled_uses_each_loops_own_deadline() -> None:
    now = [100.0]
    dog = Watchdog(Notifier(env={}), interval_s=1, clock=lambda: now[0])
    camera = dog.register("camera-x1", deadline_s=5)
    publisher = dog.register("publisher", deadline_s=20)
    now[0] = 110.0
    publisher.beat()
    assert dog.stalled() == [("camera-x1", 10.0)]
    camera.beat()
    assert dog.stalled() == []
    camera.close()
    now[0] = 200.0
    assert dog.stalled() == [("publisher", 90.0)]
    with pytest.raises(ValueError, match="already registered"):
        dog.register("publisher", 1)
    with pytest.raises(ValueError, match="deadline_s must be > 0"):
        dog.register("inference", 0)


# ---------------------------------------------------------------- real loops on real threads
INTERVAL = 0.05  # as if WatchdogSec were 0.1 s
DEADLINE = 0.8  # each loop beats every 0.02 s: a 40x margin on a busy two-core machine


class Loop:
    """A processing loop on its own thread: iterates (waiting on an empty queue) until told to hang."""

    def __init__(self, dog: Watchdog, name: str):
        self.heartbeat = dog.register(name, DEADLINE)
        self.work: queue.Queue[int] = queue.Queue()
        self.hang = threading.Event()
        self.release = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            if self.hang.is_set():
                self.release.wait()  # stuck in one call, as a blocking read without a timeout would be
                self.hang.clear()
            try:
                self.work.get(timeout=0.02)  # idle: nothing ever arrives
            except queue.Empty:
                pass
            self.heartbeat.beat()

    def stop(self) -> None:
        self.release.set()
        self.done.set()
        self.thread.join()


def pings(listener: Listener, seconds: float) -> int:
    listener.drain()
    time.sleep(seconds)
    return sum(message == "WATCHDOG=1" for message in listener.drain())


def test_idle_loops_keep_the_watchdog_fed(listener: Listener, notifier: Notifier) -> None:
    with Watchdog(notifier, interval_s=INTERVAL) as dog:
        loops = [Loop(dog, "publisher"), Loop(dog, "camera-x1")]
        try:
            # Three deadlines long with no work at all: idle is not stalled.
            assert pings(listener, 3 * DEADLINE) >= 10
            assert dog.stalled() == []
        finally:
            for loop in loops:
                loop.stop()


def test_a_stalled_loop_stops_the_pings_until_it_recovers(listener: Listener, notifier: Notifier) -> None:
    with Watchdog(notifier, interval_s=INTERVAL) as dog:
        publisher, camera = Loop(dog, "publisher"), Loop(dog, "camera-x1")
        try:
            assert pings(listener, 0.5) >= 3

            camera.hang.set()
            time.sleep(DEADLINE + 4 * INTERVAL)  # the deadline passes, the next check notices
            assert pings(listener, 2 * DEADLINE) == 0
            assert [name for name, _ in dog.stalled()] == ["camera-x1"]  # the idle publisher is not blamed

            camera.release.set()
            time.sleep(4 * INTERVAL)
            assert pings(listener, 0.5) >= 3
        finally:
            publisher.stop()
            camera.stop()
    messages = listener.drain()
    assert not any("publisher" in message for message in messages)


def test_stall_and_recovery_are_shown_in_the_status(listener: Listener, notifier: Notifier) -> None:
    now = [0.0]
    dog = Watchdog(notifier, interval_s=1, clock=lambda: now[0])
    dog.register("publisher", deadline_s=5)
    inference = dog.register("inference", deadline_s=3)
    assert dog.check()
    assert listener.receive() == "WATCHDOG=1"
    now[0] = 4.0
    assert not dog.check()
    assert listener.receive() == "STATUS=stalled: inference (4.0 s without progress)"
    assert not dog.check()  # still stalled: no ping, and the status is not repeated
    inference.beat()
    assert dog.check()
    assert [listener.receive(), listener.receive()] == ["STATUS=running", "WATCHDOG=1"]


def test_for_systemd_pings_at_half_the_watchdog_timeout(listener: Listener, socket_path: str) -> None:
    env = {"NOTIFY_SOCKET": socket_path, "WATCHDOG_USEC": "100000", "WATCHDOG_PID": str(os.getpid())}
    with Watchdog.for_systemd(env) as dog:
        assert dog.interval_s == 0.05
        dog.register("publisher", deadline_s=60)
        assert pings(listener, 0.5) >= 5
    dog.notifier.close()


def test_for_systemd_without_watchdog_sends_no_pings(listener: Listener, socket_path: str) -> None:
    with Watchdog.for_systemd({"NOTIFY_SOCKET": socket_path}) as dog:
        assert dog.interval_s is None
        assert pings(listener, 0.3) == 0
    dog.notifier.close()
