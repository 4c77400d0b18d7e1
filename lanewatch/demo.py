"""`make demo`: the whole chain on one machine — simulated lanes, a local Mosquitto, the central
service and two edges (queue cameras; gate cameras and rear plate cameras) — until Ctrl-C.

Everything lives under var/demo/; the simulated world is generated once and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from sim.outputs import read_weighbridge_rows
from sim.weighbridge import TcpIndicator, encode_timeline

ROOT = Path(__file__).resolve().parent.parent
SITE = "laocai-kimthanh2"
# Loopback-only demo: a fixed wall-screen token and a demo admin account, printed at start.
KIOSK_TOKEN = "demo-wall-screen-token-0123456789abcdef"
DEMO_USER, DEMO_PASSWORD = "demo", "lanewatch-demo"


def free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"demo: nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def broker_user_line(var: Path) -> str:
    """Started as root, Mosquitto switches to the `mosquitto` account, which cannot write its persistence
    under a checkout it does not own. Run it as the checkout's owner instead: the broker's files then
    belong to whoever owns var/demo, and no chown is needed (nor left behind)."""
    if os.geteuid() != 0:
        return ""  # an ordinary user's Mosquitto keeps its own identity
    return f"user {pwd.getpwuid(var.stat().st_uid).pw_name}\n"


def generate_world(out: Path, seed: int, duration: int) -> dict:
    if not (out / "world.json").exists():
        print(f"demo: simulating {duration} s of two lanes into {out} (once; reused next time)…", flush=True)
        try:
            subprocess.run(
                [sys.executable, "-m", "sim.cli", "generate", "--seed", str(seed), "--duration", str(duration),
                 "--out", str(out), "--lanes", "2", "--scenario", "demo", "--width", "640", "--height", "360",
                 "--fps", "10", "--gate-width", "1920", "--gate-height", "1080",  # a gate camera that reads plates
                 "--rear-camera"],  # and a rear plate camera on the deck: trailer plates
                check=True,
            )
        except KeyboardInterrupt:
            raise SystemExit("demo: stopped while simulating; the next run simulates again") from None
    return json.loads((out / "world.json").read_text())


# The lanes' simulated indicators: a different protocol per lane, both behind serial-to-Ethernet converters.
INDICATOR_PROTOCOLS = ("yaohua-tf0", "toledo")


def start_indicators(world_dir: Path, world: dict, seed: int) -> dict[str, tuple[str, TcpIndicator]]:
    """Each lane's weighbridge timeline, played as its indicator's bytes on a local TCP port in real time;
    the edge's first connection starts the clock, and it loops with the videos. Lane id -> (protocol, server)."""
    indicators = {}
    for i, lane in enumerate(world["lanes"]):
        rows = read_weighbridge_rows(world_dir / lane["weighbridge"]["timeline"])
        protocol = INDICATOR_PROTOCOLS[i % len(INDICATOR_PROTOCOLS)]
        timeline = encode_timeline(rows, protocol, random.Random(seed + i))
        indicators[lane["id"]] = (protocol, TcpIndicator(timeline, loop_s=world["duration_s"]).start())
    return indicators


def weighbridge_config(protocol: str, indicator: TcpIndicator) -> dict:
    return {"protocol": protocol, "connection": {"host": indicator.host, "port": indicator.port},
            # The simulated indicator zeroes itself: its empty-deck drift never reaches a truck's weight.
            "stable": {"auto_zero_range_kg": 0}}


def write_configs(var: Path, world_dir: Path, world: dict, broker_port: int, http_port: int,
                  indicators: dict[str, tuple[str, TcpIndicator]] | None = None) -> list[Path]:
    mqtt = {"host": "127.0.0.1", "port": broker_port}
    central = {
        "mqtt": mqtt, "client_id": "lanewatch-central-demo", "database": str(var / "central" / "lanewatch.sqlite"),
        "http": {"host": "127.0.0.1", "port": http_port}, "web": {"kiosk_token": KIOSK_TOKEN},
        "sites": [{"id": SITE, "name": "Lào Cai – Hà Khẩu (Kim Thành II)",
                   "lanes": [{"id": lane["id"], "direction": lane["direction"]} for lane in world["lanes"]]}],
    }
    (var / "central.yaml").write_text(yaml.safe_dump(central, allow_unicode=True))
    edge_files = []
    for role in ("queue", "gate"):
        lanes = []
        for lane in world["lanes"]:
            # The gate edge also runs the lane's rear plate camera, bound to the gate camera's deck.
            roles = {"gate", "rear"} if role == "gate" else {role}
            cameras = [
                {"id": cam["id"], "analysis_fps": 5,
                 "source": {"type": "file", "path": str(world_dir / cam["video"]), "realtime": True, "loop": True},
                 "geometry": cam["geometry"], **({"rear_plates": {}} if cam["role"] == "rear" else {})}
                for cam in lane["cameras"] if cam["role"] in roles
            ]
            entry = {"id": lane["id"], "direction": lane["direction"], "cameras": cameras}
            if role == "gate" and indicators and lane["id"] in indicators:  # the gate camera watches the deck
                entry["weighbridge"] = weighbridge_config(*indicators[lane["id"]])
            lanes.append(entry)
        edge = {"site": SITE, "edge_id": f"{role}-edge", "mqtt": mqtt, "data_dir": str(var / f"{role}-edge"),
                "status_interval_s": 1.0, "lanes": lanes}
        path = var / f"edge-{role}.yaml"
        path.write_text(yaml.safe_dump(edge, allow_unicode=True))
        edge_files.append(path)
    return edge_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--duration", type=int, default=600,
                        help="seconds of simulated lanes (looped); long enough for whole crossings")
    parser.add_argument("--port", type=int, default=8080, help="web port (another free one if taken)")
    args = parser.parse_args(argv)

    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    var = ROOT / "var" / "demo"
    var.mkdir(parents=True, exist_ok=True)
    world_dir = var / f"world-demo-seed{args.seed}-{args.duration}s-gate1080-rear"
    world = generate_world(world_dir, args.seed, args.duration)
    # Each run starts with empty history, outboxes and broker store: the looped video starts again
    # at its first truck, and trucks of a run stopped halfway would otherwise wait forever in the queue.
    for state in ("central", "queue-edge", "gate-edge", "mosquitto"):
        shutil.rmtree(var / state, ignore_errors=True)

    broker_port, http_port = free_port(18830), free_port(args.port)
    (var / "mosquitto").mkdir(exist_ok=True)
    conf = (ROOT / "configs" / "mosquitto" / "demo.conf").read_text()
    conf = conf.replace("@PORT@", str(broker_port)).replace("@DATA@", str(var / "mosquitto"))
    (var / "mosquitto.conf").write_text(conf + broker_user_line(var))
    indicators = start_indicators(world_dir, world, args.seed)
    edge_files = write_configs(var, world_dir, world, broker_port, http_port, indicators)

    procs: list[subprocess.Popen] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        procs.append(subprocess.Popen([mosquitto, "-c", str(var / "mosquitto.conf")]))
        wait_for_port(broker_port)
        subprocess.run([sys.executable, "-m", "central.cli", "users", "add", "--config", str(var / "central.yaml"),
                        "--role", "admin", "--password-stdin", DEMO_USER], input=DEMO_PASSWORD + "\n", text=True,
                       capture_output=True)  # fails harmlessly when the account exists from an earlier run
        procs.append(subprocess.Popen([sys.executable, "-m", "central.cli", "run", "--config",
                                       str(var / "central.yaml")]))
        wait_for_port(http_port)
        for path in edge_files:
            procs.append(subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(path)]))
        print(f"\n  lanewatch demo (Ctrl-C stops everything):\n"
              f"    wall screen: http://127.0.0.1:{http_port}/kiosk?token={KIOSK_TOKEN}\n"
              f"    history:     http://127.0.0.1:{http_port}/history   (sign in as {DEMO_USER} / {DEMO_PASSWORD})\n",
              flush=True)
        while not stopping:
            for p in procs:
                if p.poll() is not None:
                    print(f"demo: {' '.join(map(str, p.args[:4]))} exited with {p.returncode}; stopping", flush=True)
                    stopping = True
            time.sleep(0.5)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        for _, indicator in indicators.values():
            indicator.close()
        print("demo: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
