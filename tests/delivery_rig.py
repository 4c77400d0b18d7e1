"""A delivery test rig: a real Mosquitto (own persistence), an optional TCP proxy between edge and
broker, a real central process and a real edge process running `edge.loadgen`, plus readers of
both SQLite files for assertions."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from broker import Broker, free_port, wait_for_port
from tcp_proxy import TcpProxy

ROOT = Path(__file__).parent.parent
SITE, EDGE, LANES = "laocai", "gate1", ("out-1", "in-1")


def wait_until(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise TimeoutError(f"{what}: not reached after {timeout} s")


@contextmanager
def running_rig(tmp: Path, *, proxy: bool = False, outbox: dict | None = None) -> Iterator[Rig]:
    """A rig with its central started; every process it started is stopped on the way out."""
    rig = Rig(tmp, proxy=proxy, outbox=outbox)
    try:
        rig.start_central()
        yield rig
    finally:
        rig.close()


def _read(path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql, args).fetchall()
    except sqlite3.OperationalError:  # the table does not exist yet
        return []
    finally:
        db.close()


class Rig:
    def __init__(self, tmp: Path, *, proxy: bool = False, outbox: dict | None = None):
        self.tmp = tmp
        self.broker = Broker(tmp / "broker").start()
        self.proxy = TcpProxy(self.broker.port).start() if proxy else None
        link = self.proxy or self.broker
        self.outbox_path = tmp / "edge" / "outbox.sqlite"
        self.central_db = tmp / "central.sqlite"
        self.edge_config = tmp / "edge.yaml"
        self.central_config = tmp / "central.yaml"
        self.http_port = free_port()
        cameras = lambda lane: [{"id": f"{lane}-cam", "source": {"type": "usb"}}]  # noqa: E731 - never opened by loadgen
        self.edge_config.write_text(yaml.safe_dump({
            "site": SITE, "edge_id": EDGE, "data_dir": str(tmp / "edge"), "status_interval_s": 0.5,
            "mqtt": {"host": link.host, "port": link.port, "keepalive_s": 5,
                     "reconnect_min_s": 1, "reconnect_max_s": 2},
            "outbox": {"repair_after_s": 2, **(outbox or {})},
            "lanes": [{"id": lane, "direction": "export", "cameras": cameras(lane)} for lane in LANES],
        }))
        self.central_config.write_text(yaml.safe_dump({
            "mqtt": {"host": self.broker.host, "port": self.broker.port, "reconnect_max_s": 2},
            "client_id": f"central-{self.http_port}", "database": str(self.central_db),
            "http": {"port": self.http_port},
            "sites": [{"id": SITE, "name": "Lào Cai",
                       "lanes": [{"id": lane, "direction": "export"} for lane in LANES]}],
        }))
        self.central: subprocess.Popen | None = None
        self.edges: list[subprocess.Popen] = []
        self._logs = 0

    # ------------------------------------------------------------ processes
    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        self._logs += 1
        with open(self.tmp / f"{self._logs:02d}-{name}.out", "wb") as out, \
                open(self.tmp / f"{self._logs:02d}-{name}.log", "wb") as err:
            return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, stdout=out, stderr=err,
                                    env={**os.environ, "PYTHONPATH": str(ROOT)})

    def start_central(self) -> None:
        self.central = self._spawn("central", ["central.cli", "run", "--config", str(self.central_config)])
        wait_for_port(self.http_port, timeout=30)

    def kill_central(self) -> None:
        assert self.central is not None
        self.central.kill()
        self.central.wait(timeout=10)

    def start_edge(self, count: int, *, rate: float = 0, until: str = "confirmed", crop_every: int = 0,
                   timeout: float = 200) -> subprocess.Popen:
        proc = self._spawn("edge", ["edge.loadgen", "--config", str(self.edge_config), "--count", str(count),
                                    "--rate", str(rate), "--until", until, "--crop-every", str(crop_every),
                                    "--timeout", str(timeout)])
        self.edges.append(proc)
        return proc

    def finish_edge(self, proc: subprocess.Popen, timeout: float = 200) -> dict:
        """Wait for a loadgen run to end; its JSON summary. Fails with the edge's log tail if it did not succeed."""
        code = proc.wait(timeout=timeout)
        index = self.edges.index(proc)
        logs = sorted(self.tmp.glob("*-edge.log"))[index].read_text(errors="replace")
        outs = sorted(self.tmp.glob("*-edge.out"))[index].read_text()
        assert code == 0, f"edge exited with {code}\n{logs[-3000:]}"
        return json.loads(outs.strip().splitlines()[-1])

    def edge_log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.tmp.glob("*-edge.log")))

    def close(self) -> None:
        for proc in [*self.edges, self.central]:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.proxy:
            self.proxy.stop()
        self.broker.stop()

    # ------------------------------------------------------------ what the files say
    def committed(self) -> int:
        rows = _read(self.outbox_path, "SELECT value FROM meta WHERE key = 'last_seq'")
        return rows[0][0] if rows else 0

    def stored(self) -> int:
        rows = _read(self.central_db, "SELECT count(*) FROM events WHERE edge = ?", (EDGE,))
        return rows[0][0] if rows else 0

    def central_events(self) -> list[tuple[str, int, dict]]:
        """(id, seq, payload) of every event the central stored from our edge."""
        return [(i, s, json.loads(p)) for i, s, p in
                _read(self.central_db, "SELECT id, seq, payload FROM events WHERE edge = ? ORDER BY seq", (EDGE,))]

    def outbox_ids(self) -> dict[int, str]:
        return dict(_read(self.outbox_path, "SELECT seq, id FROM events"))

    def outbox_rows(self, sql: str) -> list[tuple]:
        return _read(self.outbox_path, sql)

    def statuses(self) -> list[dict]:
        rows = _read(self.central_db, "SELECT payload FROM lane_status WHERE edge = ?", (EDGE,))
        return [json.loads(p) for (p,) in rows]

    def assert_exactly(self, n: int, timeout: float = 60) -> list[tuple[str, int, dict]]:
        """The central holds exactly seq 1..n from our edge, once each, with the ids the outbox gave them."""
        wait_until(lambda: self.stored() >= n, timeout, f"central stores {n} events (has {self.stored()})")
        time.sleep(1.0)  # anything extra (a duplicate under a new id) would arrive now
        events = self.central_events()
        seqs = [s for _, s, _ in events]
        assert len(events) == n, f"central holds {len(events)} events, expected {n}"
        assert seqs == list(range(1, n + 1)), f"seqs not 1..{n}: first differences {_diff(seqs, n)}"
        ids = self.outbox_ids()
        assert {s: i for i, s, _ in events} == ids, "ids at the central differ from the outbox's"
        return events


def _diff(seqs: list[int], n: int) -> str:
    counts = Counter(seqs)
    missing = [s for s in range(1, n + 1) if s not in counts][:10]
    dupes = sorted(s for s, c in counts.items() if c > 1)[:10]
    return f"missing {missing}, duplicated {dupes}"
