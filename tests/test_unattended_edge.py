"""A real edge (file and network cameras, motion detector, outbox, real Mosquitto) under a test listener
playing systemd's notify socket, and scraped over its real metrics endpoint.

- READY=1 after start-up, and WATCHDOG=1 pings while every loop progresses, including an idle one (no
  trucks) and one whose camera is unplugged (it keeps reconnecting: a restart would not help);
- a deliberately stalled camera loop (its detector blocks) stops the pings and says which loop is late;
  the pings resume when it recovers;
- /metrics carries the camera, outbox, publisher and clock figures.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from broker import free_port
from test_sdnotify import Listener

from edge.app import EdgeApp
from edge.config import EdgeConfig
from edge.exporter import collect
from lanewatch.prometheus import serve


def write_video(path: Path, frames: int = 30) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    for _ in range(frames):
        writer.write(np.full((120, 160, 3), 90, np.uint8))  # an empty lane: nothing moves
    writer.release()
    return path


class BlockingDetector:
    """Wraps the real detector; while `hold` is set, detect() blocks as a hung inference would."""

    def __init__(self, inner):  # noqa: ANN001 - a Detector
        self.inner, self.names = inner, inner.names
        self.hold = threading.Event()
        self.released = threading.Event()

    def detect(self, image):  # noqa: ANN001, ANN201
        while self.hold.is_set():
            self.released.wait(0.05)
        return self.inner.detect(image)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        return response.read().decode()


def value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} {labels} not in the scrape:\n{text}")


def pings_within(listener: Listener, seconds: float) -> list[str]:
    time.sleep(seconds)
    return [m for m in listener.drain() if "WATCHDOG=1" in m]


@pytest.fixture
def notify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = str(tmp_path / "notify.sock")
    listener = Listener(path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "600000")  # pings every 0.3 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield listener
    listener.close()


def test_watchdog_follows_the_loops_and_metrics_are_scraped(tmp_path: Path, broker, notify: Listener) -> None:
    video = write_video(tmp_path / "cam1.avi")
    config = EdgeConfig.model_validate({
        "site": "laocai", "edge_id": "gate1", "data_dir": str(tmp_path / "data"), "status_interval_s": 0.5,
        "mqtt": {"host": broker.host, "port": broker.port}, "detector": {"type": "motion"},
        "prometheus": {"port": 0}, "watchdog": {"stall_after_s": 1.5},
        "lanes": [{"id": "x1", "direction": "export", "cameras": [
            {"id": "cam1", "analysis_fps": 10, "source": {"type": "file", "path": str(video), "loop": True}},
            {"id": "cam2", "source": {"type": "network", "url": f"http://127.0.0.1:{free_port()}/gone",
                                      "stall_timeout_s": 1, "reconnect_max_s": 1}}]}],
    })
    app = EdgeApp(config)
    cam1 = next(p for p in app.pipelines if p.camera.id == "cam1")
    blocking = cam1.analysis.detector = BlockingDetector(cam1.analysis.detector)
    served = serve(config.prometheus, lambda: collect(app))
    assert served is not None
    server, port = served
    runner = threading.Thread(target=app.run, daemon=True)
    runner.start()
    try:
        first = notify.receive()
        assert first.startswith("READY=1\nSTATUS=1 lane(s), 2 camera(s)"), first

        # Healthy and idle (no trucks), one camera unplugged: still pinging, about every 0.3 s.
        assert len(pings_within(notify, 2.0)) >= 4

        text = scrape(port)
        assert value(text, "lanewatch_camera_frames_total", camera="cam1", lane="x1", site="laocai", edge="gate1") > 0
        assert value(text, "lanewatch_camera_up", camera="cam1") == 1.0
        assert value(text, "lanewatch_camera_up", camera="cam2") == 0.0
        assert value(text, "lanewatch_camera_reconnects_total", camera="cam2") >= 1
        assert value(text, "lanewatch_inference_seconds_count", camera="cam1") > 0
        assert value(text, "lanewatch_mqtt_connected", edge="gate1") == 1.0
        assert value(text, "lanewatch_outbox_backlog", edge="gate1") == 0.0
        assert value(text, "lanewatch_watchdog_stalled_loops") == 0.0
        assert value(text, "lanewatch_lane_queue_occupancy", lane="x1") == 0.0
        assert 'lanewatch_publish_latency_seconds_bucket{edge="gate1",le="+Inf",site="laocai"}' in text
        assert re.search(r'^lanewatch_clock_synced\{.*source="', text, re.M)

        # Stall cam1's analysis: pings stop and systemd's status names the loop.
        blocking.hold.set()
        time.sleep(2.5)  # past stall_after_s
        late = notify.drain()
        assert any("STATUS=stalled: camera cam1" in m for m in late), late
        assert pings_within(notify, 1.5) == []
        assert value(scrape(port), "lanewatch_watchdog_stalled_loops") == 1.0

        # It recovers: pings come back.
        blocking.hold.clear()
        blocking.released.set()
        resumed = pings_within(notify, 1.5)
        assert len(resumed) >= 2
    finally:
        blocking.hold.clear()
        blocking.released.set()
        app.stop_event.set()
        runner.join(timeout=30)
        server.shutdown()
        server.server_close()
    assert not runner.is_alive()
    assert any("STOPPING=1" in m for m in notify.drain())
