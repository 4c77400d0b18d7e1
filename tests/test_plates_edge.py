"""The edge program reads plates and puts them on its events: `lanewatch-edge run` over a simulated
1080p gate camera, real Mosquitto, real models, the real central; the exit events carry the
trucks' plates (truth.jsonl), the central stores them, and the retained lane status counts the reads."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml
from broker import free_port, wait_for_port

from bench.plates_sim import simulate
from lanewatch import contract

SEED = 44  # never used for tuning


def test_exit_events_carry_plates_and_status_counts_reads(tmp_path: Path, broker) -> None:
    world_dir = simulate(tmp_path / "world", SEED, 150.0, lanes=1)
    world = json.loads((world_dir / "world.json").read_text())
    lane = world["lanes"][0]
    gate = next(c for c in lane["cameras"] if c["role"] == "gate")
    config = {
        "site": "laocai", "edge_id": "gate1", "data_dir": str(tmp_path / "edge"), "status_interval_s": 0.5,
        "mqtt": {"host": broker.host, "port": broker.port},
        "lanes": [{"id": lane["id"], "direction": lane["direction"], "cameras": [{
            "id": gate["id"], "analysis_fps": world["fps"], "geometry": gate["geometry"],
            "source": {"type": "file", "path": str(world_dir / gate["video"]), "realtime": False,
                       "start_utc": world["start_utc"].replace("Z", "+00:00")}}]}],
    }  # fmt: skip
    (tmp_path / "edge.yaml").write_text(yaml.safe_dump(config))
    port = free_port()
    central_config = {
        "mqtt": {"host": broker.host, "port": broker.port}, "client_id": f"central-{port}",
        "database": str(tmp_path / "central.sqlite"), "http": {"port": port},
        "web": {"kiosk_token": "plates-kiosk-token-0123456789abcdef"},
        "sites": [{"id": "laocai", "name": "Lào Cai", "lanes": [{"id": lane["id"], "direction": lane["direction"]}]}],
    }  # fmt: skip
    (tmp_path / "central.yaml").write_text(yaml.safe_dump(central_config))
    central = subprocess.Popen([sys.executable, "-m", "central.cli", "run", "--config", str(tmp_path / "central.yaml")])
    try:
        wait_for_port(port, timeout=20)
        edge = subprocess.run(
            [sys.executable, "-m", "edge.cli", "run", "--config", str(tmp_path / "edge.yaml"), "--exit-at-end"],
            timeout=240,
        )
        assert edge.returncode == 0
    finally:
        central.terminate()
        central.wait(timeout=20)
    db = sqlite3.connect(tmp_path / "central.sqlite")
    stored = [json.loads(row[0]) for row in db.execute("SELECT payload FROM events")]
    db.close()
    assert {p["text"] for e in stored if e["type"] == "exit" for p in e.get("plates", ())}  # the central keeps them

    outbox = sqlite3.connect(tmp_path / "edge" / "outbox.sqlite")
    events = [json.loads(row[0]) for row in outbox.execute("SELECT payload FROM events ORDER BY seq")]
    exits = [e for e in events if e["type"] == "exit"]
    truth = [json.loads(line) for line in (world_dir / "truth.jsonl").read_text(encoding="utf-8").splitlines()]
    fronts = {t["plates"][0]["text"] for t in truth if t["exit"] is not None}
    assert len(fronts) >= 2 and len(exits) >= len(fronts)
    read = [e["plates"][0] for e in exits if e["plates"]]
    assert {p["text"] for p in read} >= fronts  # every truck that left carries its front plate
    for plate in read:
        contract.PlateRead.model_validate(plate)
        assert plate["valid_format"] and plate["country"] in ("VN", "CN")

    statuses: list[bytes] = []
    got = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    topic = contract.status_topic("laocai", lane["id"], "gate1")
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_message = lambda c, u, msg: (statuses.append(msg.payload), got.set())
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert got.wait(10), f"no retained status on {topic}"
    finally:
        client.loop_stop()
        client.disconnect()
    counts = json.loads(statuses[-1])["plates"]
    assert counts["accepted"] >= len(fronts) and counts["attempted"] == counts["accepted"] + counts["rejected"]
