"""An unreachable broker is retried with backoff and reported; events wait in the outbox, none are lost."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import paho.mqtt.client as mqtt
import yaml
from broker import Broker, free_port
from synthetic import make_lane_video


def test_edge_keeps_events_until_broker_appears(tmp_path):
    truth = make_lane_video(tmp_path / "lane.avi", trucks=2)
    port = free_port()
    config = {
        "site": "laocai", "edge_id": "gate1", "data_dir": str(tmp_path / "edge"), "status_interval_s": 0.5,
        "mqtt": {"host": "127.0.0.1", "port": port, "reconnect_max_s": 2},
        "detector": {"type": "motion"},  # the synthetic boxes are not trucks to the model
        "lanes": [{"id": "out-1", "direction": "export", "cameras": [{
            "id": "cam1", "analysis_fps": truth.fps,
            "source": {"type": "file", "path": str(tmp_path / "lane.avi"), "realtime": False,
                       "start_utc": "2026-11-30T01:00:00Z"},
            "geometry": {"entry_line": {"start": [0, truth.entry_y], "end": [truth.width, truth.entry_y]}}}]}],
    }
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "edge.cli", "run", "--config", str(path), "--exit-at-end", "--drain-timeout", "4"]

    first = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert first.returncode == 3, first.stderr
    assert f"cannot reach broker 127.0.0.1:{port}; retrying with backoff" in first.stderr
    assert "Traceback" not in first.stderr
    db = sqlite3.connect(tmp_path / "edge" / "outbox.sqlite")
    assert db.execute("SELECT count(*), count(delivered_at) FROM events").fetchone() == (2, 0)
    db.close()

    broker = Broker(tmp_path / "mosquitto", port=port).start()
    # A subscriber stands in for the central: with none, the edge rightly keeps its events.
    central = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="central-stand-in")
    central.on_connect = lambda c, *_: c.subscribe("lanewatch/v1/+/+/event", qos=1)
    central.connect("127.0.0.1", port)
    central.loop_start()
    try:
        second = subprocess.run(command, capture_output=True, text=True, timeout=60)
    finally:
        central.disconnect()
        central.loop_stop()
        broker.stop()
    assert second.returncode == 0, second.stderr
    db = sqlite3.connect(tmp_path / "edge" / "outbox.sqlite")
    seqs = [r[0] for r in db.execute("SELECT seq FROM events WHERE delivered_at IS NOT NULL ORDER BY seq")]
    assert seqs == [1, 2, 3, 4]  # the first run's two events, then the replay's two, all acknowledged
