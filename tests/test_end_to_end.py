"""A gate event travels from a real edge process through a real Mosquitto into the central store."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from broker import free_port, wait_for_port
from synthetic import make_lane_video

pytestmark = pytest.mark.slow
START = datetime(2026, 11, 30, 1, 0, 0, tzinfo=UTC)
KIOSK_TOKEN = "e2e-kiosk-token-0123456789abcdef0123"


def write_configs(tmp_path, broker, video, truth):
    w = truth.width
    edge = {
        "site": "laocai", "edge_id": "gate1", "data_dir": str(tmp_path / "edge"), "status_interval_s": 0.5,
        "mqtt": {"host": broker.host, "port": broker.port},
        "detector": {"type": "motion"},  # the synthetic video's plain boxes are no trucks to the model
        "lanes": [{"id": "out-1", "direction": "export", "cameras": [{
            "id": "cam1", "analysis_fps": truth.fps,
            "source": {"type": "file", "path": str(video), "realtime": False, "start_utc": START.isoformat()},
            "geometry": {
                "queue_zone": [[0, 0], [w, 0], [w, truth.entry_y], [0, truth.entry_y]],
                "entry_line": {"start": [0, truth.entry_y], "end": [w, truth.entry_y]},
                "exit_line": {"start": [0, truth.exit_y], "end": [w, truth.exit_y]},
            }}]}],
    }
    port = free_port()
    central = {
        "mqtt": {"host": broker.host, "port": broker.port}, "client_id": f"central-{port}",
        "database": str(tmp_path / "central.sqlite"), "http": {"port": port}, "web": {"kiosk_token": KIOSK_TOKEN},
        "sites": [{"id": "laocai", "name": "Lào Cai", "lanes": [{"id": "out-1", "direction": "export"}]}],
    }
    (tmp_path / "edge.yaml").write_text(yaml.safe_dump(edge))
    (tmp_path / "central.yaml").write_text(yaml.safe_dump(central))
    return port


def test_edge_events_reach_central_store_exactly(tmp_path, broker):
    truth = make_lane_video(tmp_path / "lane.avi", trucks=4)
    port = write_configs(tmp_path, broker, tmp_path / "lane.avi", truth)
    central = subprocess.Popen([sys.executable, "-m", "central.cli", "run", "--config", str(tmp_path / "central.yaml")])
    try:
        wait_for_port(port, timeout=20)
        edge = subprocess.run([sys.executable, "-m", "edge.cli", "run", "--config", str(tmp_path / "edge.yaml"),
                               "--exit-at-end"], timeout=120)
        assert edge.returncode == 0

        outbox = sqlite3.connect(tmp_path / "edge" / "outbox.sqlite")
        produced = {row[0]: json.loads(row[1]) for row in outbox.execute("SELECT id, payload FROM events")}
        assert all(outbox.execute("SELECT delivered_at IS NOT NULL FROM events"))

        stored: dict[str, dict] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(stored) < len(produced):
            time.sleep(0.2)
            db = sqlite3.connect(tmp_path / "central.sqlite")
            stored = {row[0]: json.loads(row[1]) for row in db.execute("SELECT id, payload FROM events")}
            db.close()
        assert stored == produced

        # What the edge produced matches the video's truth: one enter and one exit per truck, on time.
        events = sorted(produced.values(), key=lambda e: e["seq"])
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        for kind, column in (("enter", 1), ("exit", 2)):
            times = sorted(datetime.fromisoformat(e["ts"]) for e in events if e["type"] == kind)
            expected = [START + timedelta(seconds=c[column]) for c in truth.crossings]
            assert len(times) == len(expected)
            for got, want in zip(times, expected, strict=True):
                assert abs((got - want).total_seconds()) <= 2 / truth.fps
        # Each truck keeps one track id from entry to exit.
        by_track = {}
        for e in events:
            by_track.setdefault(e["track_id"], []).append(e["type"])
        assert sorted(by_track.values()) == [["enter", "exit"]] * len(truth.crossings)

        # The board is for signed-in users only: the kiosk token stands in for one.
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/lanes",
                                         headers={"Authorization": f"Bearer {KIOSK_TOKEN}"})
        lanes = json.load(urllib.request.urlopen(request, timeout=5))["lanes"]
        assert [e["edge"] for e in lanes[0]["edges"]] == ["gate1"]
        assert {e["id"] for e in lanes[0]["recent_events"]} <= set(produced)
    finally:
        central.terminate()
        central.wait(timeout=10)
