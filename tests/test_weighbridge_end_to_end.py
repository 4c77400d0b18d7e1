"""Weights end to end: a simulated lane's gate camera video and its indicator, played into a pseudo-terminal
in step with the video, through the edge (project model, tracking, weighbridge reader and join), a real
Mosquitto and the central service into its store. Every true truck's weight must arrive joined to the
truck's own track, within the indicator's resolution.

The simulated trucks reach the gate after ~100 s and stand on the deck for a minute, so the test plays
the stretch from 102 s to 212 s (two trucks weighed) at twice real time: the video is re-written at
20 frames/s and the indicator's timeline plays at speed 2, with the stable window halved to match.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import cv2
import pytest
import yaml
from broker import free_port, wait_for_port

from bench.vision_eval import simulate
from edge.app import EdgeApp
from edge.config import EdgeConfig
from sim.outputs import read_weighbridge_rows
from sim.weighbridge import PtyIndicator, encode_timeline

pytestmark = pytest.mark.slow
SEED, DURATION_S = 3, 215
CUT_FROM_S, CUT_TO_S = 102.0, 212.0
SPEED = 2.0
DIVISION_KG = 10.0  # the simulated indicator's resolution
SITE, LANE, CAMERA = "laocai", "lane-1", "lane-1-gate"


@pytest.fixture(scope="module")
def lane(tmp_path_factory: pytest.TempPathFactory) -> dict:
    world_dir = simulate(tmp_path_factory.mktemp("sim") / f"busy-{SEED}", SEED, DURATION_S)
    world = json.loads((world_dir / "world.json").read_text())
    [gate] = [c for c in world["lanes"][0]["cameras"] if c["role"] == "gate"]
    video = world_dir / "cut-gate.mp4"
    cap = cv2.VideoCapture(str(world_dir / gate["video"]))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.set(cv2.CAP_PROP_POS_FRAMES, round(CUT_FROM_S * fps))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), fps * SPEED,
                             (world["width"], world["height"]))
    for _ in range(round((CUT_TO_S - CUT_FROM_S) * fps)):
        ok, frame = cap.read()
        assert ok
        writer.write(frame)
    writer.release()
    cap.release()
    rows = [dict(r, t_s=round(r["t_s"] - CUT_FROM_S, 1))
            for r in read_weighbridge_rows(world_dir / world["lanes"][0]["weighbridge"]["timeline"])
            if CUT_FROM_S <= r["t_s"] < CUT_TO_S]
    trucks = [json.loads(line) for line in (world_dir / "truth.jsonl").read_text().splitlines()]
    weighed = sorted((t for t in trucks if t["weigh"] and CUT_FROM_S <= t["weigh"]["video_s"] < CUT_TO_S - 10),
                     key=lambda t: t["weigh"]["video_s"])
    return {"video": video, "geometry": gate["geometry"], "rows": rows, "weighed": weighed}


def write_configs(tmp_path: Path, broker, lane: dict, device: str) -> tuple[EdgeConfig, Path, int]:  # type: ignore[no-untyped-def]
    mqtt = {"host": broker.host, "port": broker.port}
    edge = EdgeConfig.model_validate({
        "site": SITE, "edge_id": "gate-edge", "data_dir": str(tmp_path / "edge"), "status_interval_s": 0.5,
        "mqtt": mqtt,
        "lanes": [{"id": LANE, "direction": "export", "cameras": [{
            "id": CAMERA, "analysis_fps": 10,
            "source": {"type": "file", "path": str(lane["video"]), "realtime": True},
            "geometry": lane["geometry"]}],
            "weighbridge": {"protocol": "yaohua-tf0", "connection": {"device": device},
                            # The simulated indicator re-zeroes itself: its empty-deck drift is not in a truck's weight.
                            "stable": {"window_s": 3.0 / SPEED, "max_gap_s": 0.5, "auto_zero_range_kg": 0}}}],
    })
    port = free_port()
    central = {
        "mqtt": mqtt, "client_id": f"central-{port}", "database": str(tmp_path / "central.sqlite"),
        "http": {"port": port}, "web": {"kiosk_token": "weigh-e2e-kiosk-token-0123456789abcdef"},
        "sites": [{"id": SITE, "name": "Lào Cai", "lanes": [{"id": LANE, "direction": "export"}]}],
    }
    (tmp_path / "central.yaml").write_text(yaml.safe_dump(central, allow_unicode=True))
    return edge, tmp_path / "central.yaml", port


def stored(db_path: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(db_path)
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []  # the central has not created its tables yet
    finally:
        db.close()


def test_every_truck_weight_reaches_the_central_joined_to_its_track(tmp_path, broker, lane):
    assert len(lane["weighed"]) >= 2
    with PtyIndicator() as indicator:
        config, central_config, port = write_configs(tmp_path, broker, lane, indicator.path)
        central = subprocess.Popen([sys.executable, "-m", "central.cli", "run", "--config", str(central_config)])
        try:
            wait_for_port(port, timeout=20)
            app = EdgeApp(config)
            reader = app.weighbridges[LANE].reader
            timeline = encode_timeline(lane["rows"], "yaohua-tf0", random.Random(SEED), noise_rate=0.02)

            def start_indicator() -> None:
                # The video starts with app.run(); the reader opens the port a moment later, and pyserial
                # flushes what was waiting: the indicator starts as soon as it is read.
                deadline = time.monotonic() + 10
                while reader.opens == 0 and time.monotonic() < deadline:
                    time.sleep(0.005)
                indicator.play(timeline, speed=SPEED)

            threading.Thread(target=start_indicator, daemon=True).start()
            started_wall = time.time()
            assert app.run(exit_at_end=True, drain_timeout_s=30) == 0

            outbox = sqlite3.connect(config.data_dir / "outbox.sqlite")
            produced = {row[0]: json.loads(row[1]) for row in outbox.execute("SELECT id, payload FROM events")}
            outbox.close()
            weighs = sorted((e for e in produced.values() if e["type"] == "weigh"), key=lambda e: e["seq"])
            gates = [e for e in produced.values() if e["type"] == "gate"]
            assert len(weighs) == len(lane["weighed"]), weighs

            for truck, weigh in zip(lane["weighed"], weighs, strict=True):
                assert abs(weigh["weight_kg"] - truck["weight_kg"]) <= DIVISION_KG, (truck["truck"], weigh)
                # The truck's own track: the one whose gate event is the truth's gate crossing.
                due = started_wall + (truck["gate"]["video_s"] - CUT_FROM_S) / SPEED
                gate = min(gates, key=lambda e: abs(_epoch(e["ts"]) - due))
                assert abs(_epoch(gate["ts"]) - due) <= 2.0, (truck["truck"], gate, due)
                assert weigh["track_id"] == gate["track_id"], (truck["truck"], weigh, gate)
                assert weigh["camera"] == CAMERA and weigh["clock"]["source"] != "unknown"
                # Captured when the truck had stood still for the window, as the truth's weigh time says.
                stood = started_wall + (truck["weigh"]["video_s"] - CUT_FROM_S) / SPEED
                assert abs(_epoch(weigh["ts"]) - weigh["window_s"] - stood) <= 1.5

            # The central files each weight on its truck's crossing (with the gate event of the same track).
            db = tmp_path / "central.sqlite"
            deadline = time.monotonic() + 30
            crossings: dict[str, tuple[float, list[str]]] = {}
            while time.monotonic() < deadline and not all(w["id"] in crossings for w in weighs):
                time.sleep(0.3)
                rows = stored(db, "SELECT weight_kg, event_ids FROM crossings WHERE weight_kg IS NOT NULL")
                crossings = {i: (weight, json.loads(ids)) for weight, ids in rows for i in json.loads(ids)}
            for weigh in weighs:
                assert weigh["id"] in crossings, (weigh, crossings)
                weight, event_ids = crossings[weigh["id"]]
                assert weight == weigh["weight_kg"]
                [gate_id] = [i for i in event_ids if produced[i]["type"] == "gate"]
                assert produced[gate_id]["track_id"] == weigh["track_id"]
        finally:
            central.terminate()
            central.wait(timeout=15)


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()
