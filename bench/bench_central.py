"""The central service: sustained ingest from Mosquitto, accuracy on a busy simulated day, history queries
over 10 million crossings, CSV export, lane recompute time, and the central process's resident memory.

The 10-million-crossing database is generated once with bulk SQL into var/bench/ (a few minutes and
a few GB) and reused by later runs; delete the file to regenerate it.
"""

from __future__ import annotations

import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml

from central import history
from central.store import Store
from lanewatch import contract
from lanewatch.contract import ClockState, EnterEvent, ExitEvent, GateEvent, PlateRead, WeighEvent
from lanewatch.ids import uuid7

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = ROOT / "var" / "bench" / "central-10m-crossings.sqlite"
SITE = "laocai-kimthanh2"
LANES = [("out-1", "export"), ("out-2", "export"), ("in-1", "import"), ("in-2", "import"), ("in-3", "import")]
N_CROSSINGS = 10_000_000
N_PLATES = 200_000  # distinct trucks over the years
HISTORY_START = datetime(2023, 1, 1, tzinfo=UTC)
HISTORY_DAYS = 4 * 365
INGEST_EVENTS = 60_000


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


# ------------------------------------------------------------------ ingest from Mosquitto
def _events(n: int) -> list[tuple[str, bytes]]:
    """Valid events as two edges per lane publish them (enter from the queue edge, gate/weigh/exit from the gate
    edge), a truck a minute on each of the site's lanes: the backlog of days that a link outage can leave."""
    clock = ClockState(synced=True, offset_ms=0.5, source="chrony")
    trucks = n // 4
    start = datetime.now(UTC) - timedelta(minutes=trucks // len(LANES) + 45)
    seqs: dict[str, int] = {}
    out = []
    rng = random.Random(1)
    for i in range(trucks):
        lane, _ = LANES[i % len(LANES)]
        plate = (PlateRead(text=f"24C{rng.randint(0, 99999):05d}", country="VN", confidence=0.9, valid_format=True),)
        t = start + timedelta(minutes=i // len(LANES), seconds=rng.uniform(0, 30))
        wait = rng.uniform(300, 1800)
        steps = (("enter", f"{lane}-q", 0), ("gate", f"{lane}-g", wait), ("weigh", f"{lane}-g", wait + 20),
                 ("exit", f"{lane}-g", wait + 90))
        for kind, edge, dt in steps:
            extra = {"weight_kg": 30000.0, "window_s": 3.0} if kind == "weigh" else {}
            cls = {"enter": EnterEvent, "gate": GateEvent, "weigh": WeighEvent, "exit": ExitEvent}[kind]
            event = cls(id=uuid7(), site=SITE, lane=lane, edge=edge, seq=1, ts=t + timedelta(seconds=dt),
                        mono_ms=int((t - start).total_seconds() * 1000 + dt * 1000), clock=clock, track_id=i,
                        plates=plate, **extra)
            out.append((event.ts, contract.event_topic(SITE, lane), event))
    out.sort(key=lambda x: x[0])  # each edge sends in its own time order, numbering as it goes
    messages = []
    for _, topic, event in out:
        seqs[event.edge] = seqs.get(event.edge, 0) + 1
        messages.append((topic, contract.encode(event.model_copy(update={"seq": seqs[event.edge]}))))
    return messages


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_kb(pid: int) -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def _publish(broker, messages: list[tuple[str, bytes]]) -> float:
    """Publish with QoS 1 as fast as paho goes; returns messages per second."""
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid7()[-6:]}", protocol=mqtt.MQTTv5)
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    started = time.perf_counter()
    infos = [pub.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(120)
    rate = len(messages) / (time.perf_counter() - started)
    pub.loop_stop()
    pub.disconnect()
    return rate


def _count(db: Path, sql: str) -> int:
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        return conn.execute(sql).fetchone()[0]


def _wait_count(db: Path, sql: str, target: int, timeout: float) -> tuple[float, float, int]:
    """(first time the count moved, time it reached target, count) by perf_counter."""
    first = done = None
    deadline = time.perf_counter() + timeout
    n = 0
    while time.perf_counter() < deadline:
        n = _count(db, sql)
        now = time.perf_counter()
        if n and first is None:
            first = now
        if n >= target:
            done = now
            break
        time.sleep(0.05)
    return first or time.perf_counter(), done or time.perf_counter(), n


def bench_ingest() -> list[dict]:
    """A backlog queued in Mosquitto for the central's persistent session, drained (the central's
    own rate, whatever the publisher manages on this machine); then events published live."""
    from tests.broker import Broker, free_port, wait_for_port

    with tempfile.TemporaryDirectory(prefix="lanewatch-bench-") as tmp_name:
        tmp = Path(tmp_name)
        broker = Broker(tmp / "mosquitto").start()
        port = free_port()
        db = tmp / "central.sqlite"
        config = {"mqtt": {"host": broker.host, "port": broker.port}, "client_id": "bench-central",
                  "database": str(db), "http": {"port": port},
                  "sites": [{"id": SITE, "name": "bench", "lanes": [{"id": k, "direction": d} for k, d in LANES]}]}
        (tmp / "central.yaml").write_text(yaml.safe_dump(config))

        def start_central() -> subprocess.Popen:
            proc = subprocess.Popen([sys.executable, "-m", "central.cli", "run", "--config", str(tmp / "central.yaml")],
                                    cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(tmp / "central.log", "ab"))
            wait_for_port(port, timeout=60)
            return proc

        def stop(proc: subprocess.Popen) -> None:
            proc.terminate()
            proc.wait(timeout=30)

        messages = _events(2 * INGEST_EVENTS)
        backlog, live = messages[:INGEST_EVENTS], messages[INGEST_EVENTS:]
        central = start_central()  # creates the persistent session
        time.sleep(1.0)
        stop(central)
        try:
            publish_rate = _publish(broker, backlog)
            central = start_central()
            idle_rss, _ = _rss_kb(central.pid)
            cpu_before = _cpu_s(central.pid)
            first, done, stored = _wait_count(db, "SELECT count(*) FROM events", len(backlog), 300)
            drain_rate = stored / max(done - first, 1e-9)
            cpu_per_event = (_cpu_s(central.pid) - cpu_before) / stored
            trucks = len(backlog) // 4
            # A few trucks of this synthetic traffic stay unmatched (near-identical plates, random waits).
            _, caught_up, assembled = _wait_count(
                db, "SELECT count(*) FROM crossings WHERE status = 'complete'", int(0.99 * trucks), 300)
            catch_up_s = caught_up - done
            started = time.perf_counter()
            live_publish_rate = _publish(broker, live)
            _, live_done, live_stored = _wait_count(db, "SELECT count(*) FROM events", len(messages), 300)
            live_rate = (live_stored - stored) / (live_done - started)
            rss, peak = _rss_kb(central.pid)
        finally:
            stop(central)
            broker.stop()
    return [
        {"name": f"ingest: backlog of {len(backlog):,} QoS 1 events drained from Mosquitto, stored",
         "value": drain_rate, "unit": "events/s", "target": ">= 5000",
         "ok": drain_rate >= 5000 and stored == len(backlog)},
        {"name": "  central CPU per stored event during the drain (storing + figures)",
         "value": cpu_per_event * 1e6, "unit": "µs", "target": "", "ok": None},
        {"name": f"ingest: {len(live):,} events published live, stored (publisher alone {live_publish_rate:,.0f}/s)",
         "value": live_rate, "unit": "events/s", "target": "", "ok": None},
        {"name": f"  paho publisher, QoS 1 ({publish_rate:,.0f}/s for the backlog)", "value": publish_rate,
         "unit": "events/s", "target": "", "ok": None},
        {"name": f"  crossings assembled after the backlog was stored ({assembled:,}/{trucks:,} trucks)",
         "value": catch_up_s, "unit": "s", "target": "", "ok": None},
        {"name": "central process resident memory, idle", "value": idle_rss / 1024, "unit": "MiB", "target": "",
         "ok": None},
        {"name": "central process resident memory, after ingest (peak)",
         "value": f"{rss / 1024:.0f} ({peak / 1024:.0f})", "unit": "MiB", "target": "", "ok": None},
    ]


# ------------------------------------------------------------------ 10 million crossings
def _build_history(path: Path) -> None:
    """Bulk SQL into the real schema (migrations), indexes built after the rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    Store(partial).close()
    db = sqlite3.connect(partial)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'crossings' AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        db.execute(f"DROP INDEX {name}")
    step = HISTORY_DAYS * 86400 / N_CROSSINGS
    lanes = " ".join(f"WHEN {i} THEN '{lane}'" for i, (lane, _) in enumerate(LANES))
    directions = " ".join(f"WHEN {i} THEN '{d}'" for i, (_, d) in enumerate(LANES))
    t0 = HISTORY_START.timestamp()
    db.execute(f"""
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {N_CROSSINGS - 1}),
        c AS (SELECT i, {t0} + i * {step} AS t, (i * 7919) % {N_PLATES} AS p, abs(random() % 5400) AS w,
                     60 + abs(random() % 240) AS pr FROM n)
        INSERT INTO crossings (key, site, lane, direction, status, method, plate_distance, plate, plate_country,
            start_ts, enter_ts, gate_ts, weigh_ts, exit_ts, last_ts, weight_kg, wait_s, processing_s, crossing_s,
            event_ids, edges, clock_synced, note, updated_at, plate_confidence, trailer_plate, trailer_country,
            trailer_confidence)
        SELECT printf('bench-%08d', i), '{SITE}', CASE i % 5 {lanes} END, CASE i % 5 {directions} END,
            'complete', 'plate', 0.0,
            printf('%02d%s%05d', 12 + p % 80, substr('CDHKLMN', 1 + p % 7, 1), p / 2),
            'VN',
            strftime('%Y-%m-%dT%H:%M:%fZ', t, 'unixepoch'), strftime('%Y-%m-%dT%H:%M:%fZ', t, 'unixepoch'),
            strftime('%Y-%m-%dT%H:%M:%fZ', t + w, 'unixepoch'), strftime('%Y-%m-%dT%H:%M:%fZ', t + w + 20, 'unixepoch'),
            strftime('%Y-%m-%dT%H:%M:%fZ', t + w + pr, 'unixepoch'),
            strftime('%Y-%m-%dT%H:%M:%fZ', t + w + pr, 'unixepoch'),
            20000 + (p % 200) * 100, w, pr, w + pr,
            printf('["bench-%08d"]', i), 'g1,q1', 1, NULL, t + w + pr, 0.9,
            -- A fifth of the trucks are tractor-trailers: a trailer plate of the R series, its own 40,000 of them.
            CASE WHEN p % 5 = 0 THEN printf('%02dR%05d', 12 + p % 80, (i * 104729) % 40000) END,
            CASE WHEN p % 5 = 0 THEN 'VN' END, CASE WHEN p % 5 = 0 THEN 0.8 END
        FROM c""")
    for _, sql in indexes:
        db.execute(sql)
    db.execute("INSERT INTO plates (plate, first_ts, last_ts) SELECT plate, min(start_ts), max(start_ts) "
               "FROM (SELECT plate, start_ts FROM crossings UNION ALL "
               "      SELECT trailer_plate, start_ts FROM crossings WHERE trailer_plate IS NOT NULL) GROUP BY plate")
    db.execute("ANALYZE")
    db.commit()
    db.execute("PRAGMA journal_mode = WAL")
    db.close()
    partial.rename(path)


def _timed(fn, repeats: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def bench_history() -> list[dict]:
    rows: list[dict] = []
    if not BENCH_DB.exists():
        started = time.perf_counter()
        _build_history(BENCH_DB)
        rows.append({"name": f"build {N_CROSSINGS:,} crossings (once, cached in var/bench/)",
                     "value": time.perf_counter() - started, "unit": "s", "target": "", "ok": None})
    rng = random.Random(7)
    vn = history.zone("vn")
    Store(BENCH_DB).close()  # a database cached by an older version upgrades in place (seconds: no row rewritten)
    with closing(history.connect(BENCH_DB)) as conn:
        count = conn.execute("SELECT max(id) FROM crossings").fetchone()[0]
        samples = []
        for _ in range(40):
            lane, _ = rng.choice(LANES)
            day = HISTORY_START + timedelta(days=rng.randrange(HISTORY_DAYS - 1))
            flt = history.Filter(site=SITE, lane=lane, start=day, end=day + timedelta(days=1))
            times, day = _timed(lambda flt=flt: list(history.iter_all(conn, flt, vn)), 1)
            samples += times
        day_rows = len(day)  # type: ignore[arg-type]
        plates = [r[0] for r in conn.execute("SELECT plate FROM plates ORDER BY random() LIMIT 60")]
        exact = []
        for plate in plates:
            t, found = _timed(lambda plate=plate: history.page(conn, history.Filter(plate=plate), vn, limit=100), 1)
            exact += t
        partial = []
        for plate in plates[:30]:
            t, _ = _timed(lambda p=plate: history.page(conn, history.Filter(plate_part=p[-5:]), vn, limit=100), 1)
            partial += t
        short = []
        for plate in plates[:30]:
            t, _ = _timed(lambda p=plate: history.page(conn, history.Filter(plate_part=p[-3:]), vn, limit=100), 1)
            short += t
        # Trailer plates (none in a database built before they were kept: then the row says so).
        trailers: list[str] = []
        for start in (f"{rng.randrange(12, 80):02d}R", ""):  # from a random point of the trailer index, else its start
            trailers = trailers or [r[0] for r in conn.execute(  # a seek in the partial index, not a scan
                "SELECT DISTINCT trailer_plate FROM crossings WHERE trailer_plate > ? LIMIT 30", [start])]
        by_trailer = []
        for plate in trailers:
            t, found = _timed(lambda plate=plate: history.page(conn, history.Filter(plate=plate), vn, limit=100), 1)
            assert any(r["trailer_plate"] == plate for r in found.rows), plate  # type: ignore[attr-defined]
            by_trailer += t
        lane = "out-1"
        month = HISTORY_START + timedelta(days=400)
        flt = history.Filter(site=SITE, lane=lane, start=month, end=month + timedelta(days=30))
        started = time.perf_counter()
        size, n = 0, 0
        for chunk in history.csv_chunks(history.iter_all(conn, flt, vn)):
            size += len(chunk)
            n += chunk.count("\n")
        export_s = time.perf_counter() - started
    size_gb = BENCH_DB.stat().st_size / 1e9
    p95_day, p95_exact, p95_part = _p95(samples), _p95(exact), _p95(partial)
    rows += [
        {"name": f"crossings stored (database {size_gb:.1f} GB)", "value": f"{count:,}", "unit": "",
         "target": "10,000,000",
         "ok": count >= N_CROSSINGS},
        {"name": f"lane-and-day query p95 (1 lane, 1 day: all {day_rows:,} rows, times in UTC+7)", "value": p95_day,
         "unit": "ms",
         "target": "<= 100", "ok": p95_day <= 100},
        {"name": "plate lookup p95 (exact, 100 newest)", "value": p95_exact, "unit": "ms", "target": "<= 20",
         "ok": p95_exact <= 20},
        {"name": "plate lookup p95 (partial: last 5 characters)", "value": p95_part, "unit": "ms", "target": "",
         "ok": None},
        {"name": "plate lookup p95 (partial: last 3 characters, hundreds of plates)", "value": _p95(short),
         "unit": "ms", "target": "", "ok": None},
        {"name": f"trailer plate lookup p95 (exact, {len(by_trailer)} plates)",
         "value": _p95(by_trailer) if len(by_trailer) > 1 else "no trailer plates in this database",
         "unit": "ms" if len(by_trailer) > 1 else "", "target": "<= 20",
         "ok": _p95(by_trailer) <= 20 if len(by_trailer) > 1 else None},
        {"name": f"CSV export, 1 lane, 30 days ({n - 1:,} rows, {size / 1e6:.1f} MB)", "value": export_s, "unit": "s",
         "target": "<= 5", "ok": export_s <= 5},
    ]
    return rows


def bench_recompute() -> list[dict]:
    """One lane's reassembly and figures, as the aggregator runs them, with two busy hours in the book."""
    sys.path.insert(0, str(ROOT / "tests"))
    from eventsfromtruth import Knobs, events_from_truth
    from truthgen import busy_day

    from central.aggregator import Aggregator
    from central.config import CentralConfig

    now = datetime.now(UTC)
    trucks = busy_day(now - timedelta(hours=2), lane="out-1", seed=3, hourly=[55, 55] + [0] * 22)
    events = events_from_truth(trucks, SITE, "out-1", Knobs()).events
    with tempfile.TemporaryDirectory() as tmp:
        config = CentralConfig.model_validate({"database": f"{tmp}/c.sqlite", "sites": [
            {"id": SITE, "name": "bench", "lanes": [{"id": "out-1", "direction": "export"}]}]})
        store = Store(config.database)
        agg = Aggregator(config, store)
        agg.start()
        agg.on_events(store.add_new_events([e for e in events if e.ts <= now]))
        agg.run()
        times = []
        for _ in range(30):
            agg.dirty.add((SITE, "out-1"))
            agg.last_run.clear()
            started = time.perf_counter()
            agg.run()
            times.append((time.perf_counter() - started) * 1000)
        store.close()
    return [{"name": f"lane recompute ({len(trucks)} trucks in 2 busy hours)", "value": statistics.median(times),
             "unit": "ms", "target": "", "ok": None}]


def bench_accuracy() -> list[dict]:
    """The accuracy test's figures (tests/test_accuracy.py): a busy simulated day on two lanes, from the
    simulator's truth with edge noise and imperfect delivery."""
    sys.path.insert(0, str(ROOT / "tests"))
    import test_accuracy as acc
    from simtruth import simulate

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        day = simulate(Path(tmp) / "sim", seed=acc.SEED, duration_s=acc.DAY_S, lanes=2, scenario="busy")
        for lane, f in acc.measure(Path(tmp) / "central.sqlite", day).items():
            assembled = f.assembled_right / f.crossed
            queue = f.queue_within_1 / f.queue_minutes
            waiting = f.waiting_within_1 / f.queue_minutes
            error = statistics.median(f.crossing_errors)
            expected = f.expected_within_20 / f.expected_samples if f.expected_samples else 0.0
            rows += [
                {"name": f"accuracy {lane} ({f.trucks} trucks, up to {f.max_waiting} waiting): crossings assembled "
                         f"({f.wrong_joins} wrong joins)", "value": f"{assembled:.1%}", "unit": "",
                 "target": ">= 98%, 0 wrong", "ok": assembled >= 0.98 and f.wrong_joins == 0},
                {"name": f"  {lane}: minutes with queue length within ±1 (waiting: {waiting:.1%})",
                 "value": f"{queue:.1%}", "unit": "", "target": ">= 95%", "ok": queue >= 0.95 and waiting >= 0.95},
                {"name": f"  {lane}: median |error| of crossing time", "value": error, "unit": "s", "target": "<= 2",
                 "ok": error <= 2},
                {"name": f"  {lane}: expected wait within 20% of the next truck's ({f.expected_samples} stable min)",
                 "value": f"{expected:.1%}", "unit": "", "target": ">= 80%", "ok": expected >= 0.8},
            ]
    return rows


def run() -> list[dict]:
    return bench_ingest() + bench_recompute() + bench_accuracy() + bench_history()


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table([{"bench": "central", **r} for r in run()])
