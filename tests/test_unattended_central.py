"""The central under a test listener playing systemd's notify socket, scraped over its real metrics endpoint.

- `lanewatch-central run` as a real process: READY=1 once the board answers, WATCHDOG=1 pings while idle,
  /metrics counts events, dead letters and ingest latency, STOPPING=1 and exit 0 on SIGTERM;
- the ingest's loops feed the watchdog: a deliberately stalled aggregator stops the pings.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from broker import free_port
from central_rig import SITE, publish, wait_until
from central_rig import central_config as rig_config
from test_sdnotify import Listener

from central import aggregator as aggregator_module
from central.config import CentralConfig
from central.ingest import Ingest
from lanewatch import contract
from lanewatch.contract import ClockState, EnterEvent
from lanewatch.ids import uuid7
from lanewatch.sdnotify import Notifier, Watchdog

REPO = Path(__file__).resolve().parents[1]


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def value(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


def central_config(tmp_path: Path, broker, **extra: object) -> dict:  # noqa: ANN001
    return rig_config(tmp_path, broker, http={"host": "127.0.0.1", "port": free_port()}, **extra)


def test_central_process_notifies_systemd_and_serves_metrics(tmp_path: Path, broker) -> None:
    metrics_port = free_port()
    path = tmp_path / "central.yaml"
    path.write_text(yaml.safe_dump(central_config(tmp_path, broker, prometheus={"port": metrics_port}),
                                   allow_unicode=True))
    listener = Listener(str(tmp_path / "notify.sock"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
           "WATCHDOG_USEC": "600000"}
    process = subprocess.Popen([sys.executable, "-m", "central.cli", "run", "--config", str(path)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ready = listener.received.get(timeout=60)[1]
        assert ready.startswith("READY=1\nSTATUS=ingesting; board at http://127.0.0.1:"), ready
        time.sleep(1.5)
        assert sum("WATCHDOG=1" in m for m in listener.drain()) >= 3  # idle, no events: still alive

        event = EnterEvent(id=uuid7(), site=SITE, lane="out-1", edge="q1", seq=1, ts=datetime.now(UTC), mono_ms=5,
                           clock=ClockState(synced=True), track_id=1)
        publish(broker, [(contract.event_topic(SITE, "out-1"), contract.encode(event)),
                         (contract.event_topic(SITE, "out-1"), b"{not json")])
        text = wait_until(lambda: (t := scrape(metrics_port)) and value(t, "lanewatch_ingest_events_total") == 1
                        and value(t, "lanewatch_ingest_dead_letters_total", kind="malformed_json") == 1 and t,
                        what="the event and the dead letter in the metrics")
        # every message stored is timed (the session's shared broker may hold retained statuses of other tests)
        handled = sum(value(text, f"lanewatch_ingest_{name}_total") or 0
                      for name in ("events", "duplicates", "statuses"))
        dead = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("lanewatch_ingest_dead_letters_total{"))
        assert value(text, "lanewatch_ingest_latency_seconds_count") == handled + dead >= 2
        assert value(text, "lanewatch_ingest_dead_letters_total", kind="too_large") == 0
        assert value(text, "lanewatch_mqtt_connected") == 1
        assert value(text, "lanewatch_watchdog_stalled_loops") == 0
        wait_until(lambda: value(scrape(metrics_port), "lanewatch_lane_queue_length", site=SITE, lane="out-1") == 1,
                 what="the lane's queue length")
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        last = listener.drain()
        listener.close()
    assert process.returncode == 0, output  # SIGTERM: a clean stop, after the ingest committed and said so
    assert any("STOPPING=1" in m for m in last), last
    assert "Traceback" not in output
    assert all(line.startswith(("level=", "20")) and "service=central" in line
               for line in output.splitlines() if "level=" in line)


def test_a_stalled_aggregator_stops_the_pings(tmp_path: Path, broker, monkeypatch: pytest.MonkeyPatch) -> None:
    hold = threading.Event()
    real_run = aggregator_module.Aggregator.run

    def run(self, limit=None):  # noqa: ANN001, ANN202 - blocks like a figure computation that never ends
        while hold.is_set():
            time.sleep(0.05)
        return real_run(self, limit)

    monkeypatch.setattr(aggregator_module.Aggregator, "run", run)
    listener = Listener(str(tmp_path / "notify.sock"))
    watchdog = Watchdog(Notifier(str(tmp_path / "notify.sock")), interval_s=0.3)
    config = CentralConfig.model_validate(central_config(tmp_path, broker, watchdog={"stall_after_s": 3}))
    ingest = Ingest(config)
    beats = {loop: watchdog.register(loop, config.watchdog.stall_after_s) for loop in ("ingest", "aggregate")}
    ingest.on_progress = lambda loop: beats[loop].beat()
    ingest.start()
    watchdog.start()
    try:
        time.sleep(1.5)
        assert sum("WATCHDOG=1" in m for m in listener.drain()) >= 3
        hold.set()
        time.sleep(5.0)  # one aggregator round (at most 2 s) plus the 3 s deadline
        late = listener.drain()
        assert any("STATUS=stalled: aggregate" in m for m in late), late
        time.sleep(1.0)
        assert not any("WATCHDOG=1" in m for m in listener.drain())
        hold.clear()
        time.sleep(3.0)
        assert any("WATCHDOG=1" in m for m in listener.drain())
    finally:
        hold.clear()
        watchdog.stop()
        watchdog.notifier.close()
        ingest.stop()
        listener.close()
