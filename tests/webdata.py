"""Helpers for the web tests, bench and screenshots: contract-valid crossings with plate crops, a real
central process with accounts, the Kim Thành II site, and publishing through a real broker (statuses kept
fresh from a thread)."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml
from PIL import Image, ImageDraw, ImageFont

from lanewatch import contract
from lanewatch.contract import (
    CameraHealth,
    ClockState,
    EnterEvent,
    ExitEvent,
    GateEvent,
    LaneStatus,
    OutboxHealth,
    PlateRead,
    WeighbridgeHealth,
    WeighEvent,
)
from lanewatch.ids import uuid7

ROOT = Path(__file__).resolve().parent.parent
FONTS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",  # has the Chinese province characters
         "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf")
PASSWORD = "correct horse battery"
SITE = "laocai-kimthanh2"
SITE_NAME = "Lào Cai – Hà Khẩu (Kim Thành II)"


def gate_sites(lanes: list[dict]) -> list[dict]:
    """The central's `sites:` for the Kim Thành II gate with these lanes (`id`, `direction`, optional `name`)."""
    return [{"id": SITE, "name": SITE_NAME, "lanes": lanes}]


def crop_jpeg(text: str) -> str:
    """A small synthetic yellow plate with black characters, as base64 JPEG (what an edge would send)."""
    image = Image.new("RGB", (192, 48), (250, 204, 21))
    draw = ImageDraw.Draw(image)
    draw.rectangle((1, 1, 190, 46), outline=(0, 0, 0), width=2)
    font = next((ImageFont.truetype(f, 26) for f in FONTS if Path(f).exists()), None) or ImageFont.load_default(26)
    draw.text((96, 24), text, fill=(0, 0, 0), font=font, anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=70)
    return base64.b64encode(buffer.getvalue()).decode()


def printed(plate: str) -> str:
    """`24C12345` as printed on a Vietnamese plate, `24C-123.45` (others unchanged)."""
    if len(plate) == 8 and plate[:2].isdigit() and plate[3:].isdigit():
        return f"{plate[:3]}-{plate[3:6]}.{plate[6:]}"
    return plate


@dataclass(frozen=True)
class Truck:
    """Ground truth of one crossing."""

    site: str
    lane: str
    edge: str
    track_id: int
    plate: str
    country: str
    enter: datetime
    wait_s: float
    process_s: float
    weight_kg: float | None
    confidence: float = 0.93  # of every read of the front plate
    trailer: str | None = None  # a tractor-trailer's rear plate, read at the gate side only (the rear camera)
    trailer_country: str | None = None
    trailer_confidence: float = 0.9

    @property
    def gate(self) -> datetime:
        return self.enter + timedelta(seconds=self.wait_s)

    @property
    def exit(self) -> datetime:
        return self.gate + timedelta(seconds=self.process_s)


class Sequencer:
    """Gapless per-edge sequence numbers, as an edge keeps them."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def __call__(self, edge: str) -> int:
        self.next[edge] = self.next.get(edge, 0) + 1
        return self.next[edge]


def truck_events(truck: Truck, seq: Sequencer, crops: bool = True,
                 stages: tuple[str, ...] = ("enter", "gate", "weigh", "exit")) -> list[contract.LaneEvent]:
    plate = PlateRead(text=truck.plate, country=truck.country, confidence=truck.confidence, valid_format=True,
                      crop_jpeg_b64=crop_jpeg(printed(truck.plate)) if crops else None)
    gate_side: tuple[PlateRead, ...] = (plate,)
    if truck.trailer is not None:  # the gate edge's front read (tractor) and rear camera's (trailer), on weigh and exit
        gate_side = (plate.model_copy(update={"role": "tractor"}),
                     PlateRead(text=truck.trailer, country=truck.trailer_country, role="trailer",
                               confidence=truck.trailer_confidence, valid_format=True,
                               crop_jpeg_b64=crop_jpeg(truck.trailer) if crops else None))
    clock = ClockState(synced=True, offset_ms=3.0, source="chrony")
    at = {"enter": truck.enter, "gate": truck.gate, "weigh": truck.gate + timedelta(seconds=truck.process_s / 3),
          "exit": truck.exit}
    out: list[contract.LaneEvent] = []
    for stage in stages:
        if stage == "weigh" and truck.weight_kg is None:
            continue
        common = dict(id=uuid7(), site=truck.site, lane=truck.lane, edge=truck.edge, camera="cam1", seq=seq(truck.edge),
                      ts=at[stage], mono_ms=int(at[stage].timestamp() * 1000) % 10**9, clock=clock,
                      track_id=truck.track_id,
                      plates=(plate,) if stage == "enter" else gate_side if stage == "exit" or (
                          stage == "weigh" and truck.trailer is not None) else ())
        if stage == "enter":
            out.append(EnterEvent(**common))
        elif stage == "gate":
            out.append(GateEvent(**common))
        elif stage == "weigh":
            out.append(WeighEvent(**common, weight_kg=truck.weight_kg, window_s=2.5))
        else:
            out.append(ExitEvent(**common))
    return out


def lane_status(site: str, lane: str, edge: str, occupancy: int, at: datetime, *, weighbridge_kg: float | None = None,
                backlog: int = 0) -> LaneStatus:
    return LaneStatus(
        site=site, lane=lane, edge=edge, ts=at, clock=ClockState(synced=True, offset_ms=3.0, source="chrony"),
        queue_occupancy=occupancy, weighbridge_occupied=weighbridge_kg is not None,
        cameras={"cam1": CameraHealth(state="ok", fps=10.0, dropped_frames=0)},
        weighbridge=WeighbridgeHealth(state="ok", weight_kg=weighbridge_kg, stable=weighbridge_kg is not None),
        outbox=OutboxHealth(backlog=backlog),
    )


class Publisher:
    """A plain MQTT client that publishes contract messages with QoS 1 and waits for the broker's ack."""

    def __init__(self, host: str, port: int):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"web-test-{uuid7()[-12:]}",
                                  protocol=mqtt.MQTTv5)
        self.client.connect(host, port)
        self.client.loop_start()

    def events(self, events: list[contract.LaneEvent]) -> None:
        infos = [self.client.publish(contract.event_topic(e.site, e.lane), contract.encode(e), qos=1) for e in events]
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()

    def status(self, status: LaneStatus) -> None:
        topic = contract.status_topic(status.site, status.lane, status.edge)
        info = self.client.publish(topic, contract.encode(status), qos=1, retain=True)
        info.wait_for_publish(10)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class FreshStatuses:
    """Publishes `statuses(now)` every `every_s` from a thread while the `with` block runs: lanes whose status
    keeps coming stay live on the board, the others go stale."""

    def __init__(self, publisher: Publisher, statuses: Callable[[datetime], list[LaneStatus]], every_s: float):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(publisher, statuses, every_s), name="fresh-statuses",
                                        daemon=True)

    def _run(self, publisher: Publisher, statuses: Callable[[datetime], list[LaneStatus]], every_s: float) -> None:
        while not self._stop.is_set():
            for status in statuses(datetime.now(UTC)):
                publisher.status(status)
            self._stop.wait(every_s)

    def __enter__(self) -> FreshStatuses:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)


class Central:
    """A real `lanewatch-central run` process with a config of its own."""

    def __init__(self, workdir: Path, broker_host: str, broker_port: int, http_port: int, sites: list[dict],
                 web: dict | None = None, metrics: dict | None = None):
        self.workdir, self.port = workdir, http_port
        self.config = workdir / "central.yaml"
        workdir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(yaml.safe_dump({
            "mqtt": {"host": broker_host, "port": broker_port}, "client_id": f"central-{http_port}",
            "database": str(workdir / "central.sqlite"), "http": {"host": "127.0.0.1", "port": http_port},
            "web": web or {}, "metrics": metrics or {}, "sites": sites,
        }, allow_unicode=True))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "central.cli", *args], input=stdin, capture_output=True, text=True,
                              timeout=60, cwd=ROOT)

    def add_user(self, name: str, role: str, password: str = PASSWORD) -> None:
        result = self.cli("users", "add", "--config", str(self.config), "--role", role, "--password-stdin", name,
                          stdin=password + "\n")
        assert result.returncode == 0, result.stderr

    def start(self, timeout: float = 20) -> Central:
        with open(self.workdir / "central.log", "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "central.cli", "run", "--config", str(self.config)],
                                         stdout=log, stderr=log, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/signin", timeout=1)
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if self.proc.poll() is not None:
                    log_file = self.workdir / "central.log"
                    raise RuntimeError(f"central exited with {self.proc.returncode}; see {log_file}") from None
                time.sleep(0.1)
        raise TimeoutError(f"central did not serve {self.url} within {timeout} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def stored_events(self) -> int:
        import sqlite3

        db = sqlite3.connect(self.workdir / "central.sqlite")
        try:
            return db.execute("SELECT count(*) FROM events").fetchone()[0]
        finally:
            db.close()

    def wait_for_events(self, count: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stored_events() >= count:
                return
            time.sleep(0.1)
        raise TimeoutError(f"central stored {self.stored_events()} events, expected {count}")


def busy_lane(site: str, lane: str, edge: str, start: datetime, end: datetime, seed: int, *,
              mean_gap_s: float = 240, mean_wait_s: float = 1800, first_track: int = 1) -> list[Truck]:
    """Trucks arriving at random through [start, end) and queueing for a while: a plausible busy lane."""
    import random

    rng = random.Random(seed)
    trucks, at, track = [], start, first_track
    vn_series, cn_series = ("24C", "24H", "21C", "29H", "15C"), ("云G", "云A", "川A")
    while at < end:
        if rng.random() < 0.8:
            plate, country = f"{rng.choice(vn_series)}{rng.randrange(10000, 99999)}", "VN"
        else:
            plate, country = f"{rng.choice(cn_series)}{rng.randrange(10000, 99999)}", "CN"
        trucks.append(Truck(site, lane, edge, track, plate, country, at, wait_s=rng.expovariate(1 / mean_wait_s) + 120,
                            process_s=rng.uniform(240, 900), weight_kg=round(rng.uniform(12000, 42000), -1)))
        track += 1
        at += timedelta(seconds=rng.expovariate(1 / mean_gap_s))
    return trucks


def events_until(trucks: list[Truck], seq: Sequencer, now: datetime, crops: bool = True) -> list[contract.LaneEvent]:
    """The events of these trucks that have happened by `now` (a truck still queueing has only its enter)."""
    out = []
    for t in sorted(trucks, key=lambda t: t.enter):
        stages = tuple(s for s, at in (("enter", t.enter), ("gate", t.gate),
                                        ("weigh", t.gate + timedelta(seconds=t.process_s / 3)), ("exit", t.exit))
                       if at <= now)
        if stages:
            out += truck_events(t, seq, crops=crops, stages=stages)
    return out
