"""Tell systemd how the service is doing (sd_notify), and feed its watchdog only while work progresses.

Protocol: a `Type=notify` service finds a unix datagram socket in `$NOTIFY_SOCKET` (a path, or an
abstract name written with a leading `@`) and sends newline-separated `KEY=value` fields:
`READY=1` once started, `STATUS=...` for `systemctl status`, `STOPPING=1`, `WATCHDOG=1` at least
once per `$WATCHDOG_USEC` (set by `WatchdogSec=`), `EXTEND_TIMEOUT_USEC=...` during a slow start.
Without `$NOTIFY_SOCKET` (a terminal, a test, another init) every call does nothing and returns False.

Watchdog design
---------------
A timer thread that pings systemd proves only that the timer thread runs: the camera loop could be
stuck in a read for an hour and the service would look healthy. So pings are gated on progress:

- each processing loop (a camera reader, inference, the outbox publisher, the central's ingest)
  registers a `Heartbeat` with a deadline and calls `beat()` once per iteration;
- an idle loop still iterates: it waits with a timeout (`queue.get(timeout=...)`, a camera read
  with a timeout, a reconnect backoff slept in slices) and beats after each wait, so a publisher
  with nothing to send keeps the pings going;
- a stalled loop (blocked in a call without a timeout, deadlocked, spinning inside one iteration)
  stops beating; once its heartbeat is older than its deadline the `Watchdog` thread stops sending
  `WATCHDOG=1` and sets `STATUS=` to the late loop's name. If the loop does not recover within
  `WatchdogSec`, systemd kills the process (SIGABRT; with `PYTHONFAULTHANDLER=1`, set by our units,
  Python first writes every thread's stack to the journal, showing where it hung) and
  `Restart=on-failure` starts it again.

Choose each deadline above the loop's longest legitimate iteration (a slow inference, one camera
reconnect attempt) and beat at least every deadline/2. A camera that is unplugged is not a stall:
its loop keeps iterating (reconnecting) and reports the camera lost in the lane status, because a
restart would not bring the camera back. A loop that ends on purpose calls `Heartbeat.close()`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType

from pydantic import Field

from lanewatch.config import Section

log = logging.getLogger(__name__)

# A unix datagram send blocks while the receiver's queue is full (net.unix.max_dgram_qlen, often
# 10). systemd reads at once; should it not, the caller gives up after this long instead of hanging.
SEND_TIMEOUT_S = 2.0


class WatchdogSettings(Section):
    """When a processing loop counts as stalled (see the module's notes); systemd's `WatchdogSec=` says
    how often it wants a ping, this says how long a loop may go without progress before pings stop."""

    stall_after_s: float = Field(60.0, gt=0, le=3600, description="a camera, publisher, ingest or aggregator "
                                 "loop without progress for this long stops the watchdog pings, and systemd "
                                 "restarts the service; keep it above the slowest frame's inference")


def _socket_address(address: str) -> str | None:
    if address.startswith("@"):
        return "\0" + address[1:]  # abstract namespace: no file, no permissions to get wrong
    if address.startswith("/"):
        return address
    return None


class Notifier:
    """A sender of sd_notify messages to one socket (by default `$NOTIFY_SOCKET`)."""

    def __init__(self, address: str | None = None, env: Mapping[str, str] = os.environ):
        address = address if address is not None else env.get("NOTIFY_SOCKET")
        self._address = _socket_address(address) if address else None
        if address and self._address is None:
            log.warning("NOTIFY_SOCKET=%r is neither a path nor an @abstract name; not notifying systemd", address)
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._failing = False

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *fields: str) -> bool:
        """Send `KEY=value` fields in one datagram; False when disabled or the send failed (never raises)."""
        if self._address is None:
            return False
        data = "\n".join(fields).encode()
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._sock.settimeout(SEND_TIMEOUT_S)
                self._sock.sendto(data, self._address)
            except OSError as exc:
                # Logged once per outage: a missed ping every 15 s must not flood the journal.
                if not self._failing:
                    log.warning("cannot notify systemd at %r: %s", self._address.replace("\0", "@"), exc)
                self._failing = True
                return False
        if self._failing:
            log.info("notifying systemd again")
            self._failing = False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for `seconds` more to finish starting (or stopping), e.g. while a model loads."""
        return self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def watchdog_timeout(env: Mapping[str, str] = os.environ, pid: int | None = None) -> float | None:
    """`WatchdogSec=` in seconds when systemd expects pings from this process, else None."""
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner and owner != str(pid if pid is not None else os.getpid()):
        return None  # meant for our parent: a child must not feed the parent's watchdog
    try:
        value = int(usec)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: expected microseconds", usec)
        return None
    return value / 1_000_000 if value > 0 else None


class Heartbeat:
    """One loop's proof of progress: `beat()` once per iteration, idle iterations included."""

    def __init__(self, watchdog: Watchdog, name: str, deadline_s: float):
        self.name = name
        self.deadline_s = deadline_s
        self._watchdog = watchdog
        self.last = watchdog.clock()

    def beat(self) -> None:
        self.last = self._watchdog.clock()  # one attribute store: safe from any thread

    def close(self) -> None:
        """The loop ended on purpose: stop waiting for it."""
        self._watchdog.unregister(self)


class Watchdog:
    """Sends `WATCHDOG=1` every `interval_s` while every registered heartbeat is within its deadline.

    `Watchdog.for_systemd()` takes the interval from the service's `WatchdogSec=` (pinging at half
    of it, as systemd advises). With `interval_s=None` `start()` does nothing, and `stalled()`
    still serves health checks.
    """

    def __init__(self, notifier: Notifier, interval_s: float | None, clock: Callable[[], float] = time.monotonic):
        if interval_s is not None and interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.notifier = notifier
        self.interval_s = interval_s
        self.clock = clock
        self._beats: dict[str, Heartbeat] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reported: tuple[str, ...] = ()

    @classmethod
    def for_systemd(cls, env: Mapping[str, str] = os.environ) -> Watchdog:
        timeout = watchdog_timeout(env)
        return cls(Notifier(env=env), timeout / 2 if timeout else None)

    def register(self, name: str, deadline_s: float) -> Heartbeat:
        if deadline_s <= 0:
            raise ValueError(f"deadline_s must be > 0, got {deadline_s}")
        with self._lock:
            if name in self._beats:
                raise ValueError(f"a loop named {name!r} is already registered")
            beat = self._beats[name] = Heartbeat(self, name, deadline_s)
        return beat

    def unregister(self, heartbeat: Heartbeat) -> None:
        with self._lock:
            if self._beats.get(heartbeat.name) is heartbeat:
                del self._beats[heartbeat.name]

    def stalled(self) -> list[tuple[str, float]]:
        """(name, seconds since its last beat) of every loop past its deadline."""
        now = self.clock()
        with self._lock:
            beats = list(self._beats.values())
        return [(b.name, now - b.last) for b in beats if now - b.last > b.deadline_s]

    def check(self) -> bool:
        """Ping systemd if every loop is on time; True when a ping was sent."""
        late = self.stalled()
        names = tuple(name for name, _ in late)
        if names != self._reported:
            if late:
                text = ", ".join(f"{name} ({age:.1f} s without progress)" for name, age in late)
                log.error("stalled: %s; not feeding the watchdog", text)
                self.notifier.status(f"stalled: {text}")
            else:
                log.warning("every loop is making progress again")
                self.notifier.status("running")
            self._reported = names
        return not late and self.notifier.watchdog()

    def start(self) -> None:
        if self.interval_s is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(self.interval_s,), name="sd-watchdog", daemon=True)
        self._thread.start()

    def _run(self, interval_s: float) -> None:
        # Should this thread ever die, the pings stop and systemd restarts us: the safe way to fail.
        while not self._stop.wait(interval_s):
            self.check()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Watchdog:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
