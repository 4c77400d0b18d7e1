"""Speed of the pages, measured in Debian's headless Chromium against a real central on loopback:
- the live board with 20 busy lanes, from navigation to its first full render (target ≤ 1 s), and from an
  event published to the broker to its plate on the open board (target ≤ 1 s);
- the history page for a one-month filter over 10 million stored crossings: server time and load to first
  full render (target ≤ 1 s each), for every lane and for one lane with a part of a plate.

History database: a copy of the central bench's 10-million-crossing file (var/bench/central-10m-crossings.sqlite,
four years on five lanes, about 205,000 crossings a month), which bench/bench_central.py builds once if it is
missing (about 2–3 minutes); LANEWATCH_BENCH_HISTORY_DB names another central database to copy instead. The
copy (about 5 GB, in a temporary folder, removed afterwards) is what the central runs on: its aggregator
rewrites the crossings of its last two hours from their events when it starts, and that file's crossings,
which run into the future, have none, so those after that point go. The month is the last 30 days of data
ending at least a day ago; the stored count is taken as the queries find it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import webdata  # noqa: E402
from broker import Broker, free_port  # noqa: E402
from webdata import SITE  # noqa: E402
from webpages import launch_chromium, sign_in  # noqa: E402

from bench import bench_central  # noqa: E402
from central import history, views  # noqa: E402
from central.config import CentralConfig  # noqa: E402
from central.store import Store  # noqa: E402

RUNS = 5
HISTORY_RUNS = 3


def board_sites(lanes: int) -> list[dict]:
    return webdata.gate_sites([{"id": f"{'out' if i % 2 else 'in'}-{i + 1}",
                                "direction": "export" if i % 2 else "import"} for i in range(lanes)])


def fill_board_db(path: Path, sites: list[dict], now: datetime) -> int:
    store = Store(path)
    seq = webdata.Sequencer()
    events = []
    for k, lane in enumerate(sites[0]["lanes"]):
        trucks = webdata.busy_lane(SITE, lane["id"], "gate-edge", now - timedelta(hours=4), now, seed=k, mean_gap_s=240,
                           first_track=1 + 10_000 * k)
        events += webdata.events_until(trucks, seq, now, crops=True)
    store.add_events(events)
    store.db.conn.close()
    return len(events)


def sites_in(path: Path) -> tuple[list[dict], datetime]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        lanes = db.execute("SELECT DISTINCT site, lane, direction FROM crossings").fetchall()
        last = db.execute("SELECT max(start_ts) FROM crossings").fetchone()[0]
    finally:
        db.close()
    sites: dict[str, list[dict]] = {}
    for site, lane, direction in lanes:
        sites.setdefault(site, []).append({"id": lane, "direction": direction})
    return [{"id": s, "name": s, "lanes": ls} for s, ls in sites.items()], views.parse_ts(last)


def mark(page: Page, name: str) -> float:
    return page.evaluate(f"performance.getEntriesByName('{name}')[0].startTime")


def run() -> list[dict]:
    rows: list[dict] = []
    work = Path(tempfile.mkdtemp(prefix="lanewatch-bench-web-"))
    broker = Broker(work / "mosquitto").start()
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                rows += bench_board(browser, broker, work)
                rows += bench_history(browser, broker, work)
            finally:
                browser.close()
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    return rows


def wait_for_summaries(path: Path, lanes: int, since: float, timeout: float = 120) -> None:
    """Until the central's aggregator has stored a summary of every lane computed after `since` (epoch s): it has
    loaded its lanes and settled, as it is in service."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if db.execute("SELECT count(*) FROM lane_summaries WHERE computed_at > ?", [since]).fetchone()[0] >= lanes:
                return
        finally:
            db.close()
        time.sleep(0.2)
    raise TimeoutError(f"the central did not summarise {lanes} lanes within {timeout} s")


def bench_board(browser, broker: Broker, work: Path) -> list[dict]:
    sites = board_sites(20)
    db_path = work / "board" / "central.sqlite"
    central = webdata.Central(work / "board", broker.host, broker.port, free_port(), sites,
                      web={"board_refresh_s": 0.5}, metrics={"update_interval_s": 600})
    now = datetime.now(UTC)
    events = fill_board_db(db_path, sites, now)
    store = Store(db_path)
    for lane in sites[0]["lanes"]:
        store.put_status(webdata.lane_status(SITE, lane["id"], "gate-edge", 7, now, weighbridge_kg=25_000.0))
    store.close()
    central.add_user("bench", "operator")
    started = time.time()
    central.start()
    try:
        wait_for_summaries(db_path, 20, started)
        config = CentralConfig.model_validate({"database": str(db_path), "sites": sites})
        reader = Store.reader(history.connect(db_path))
        started = time.perf_counter()
        snapshot = views.board_snapshot(reader, config, datetime.now(UTC))
        compute_ms = (time.perf_counter() - started) * 1000
        reader.close()
        assert len(snapshot["lanes"]) == 20 and not any(card["stale"] for card in snapshot["lanes"])
        page = browser.new_page(base_url=central.url, viewport={"width": 1920, "height": 1080})
        sign_in(page, "bench")
        renders = []
        for _ in range(RUNS):
            time.sleep(0.6)  # past the snapshot's refresh interval: every load computes a fresh one
            page.goto("/")
            page.wait_for_selector("#board[data-rendered]")
            assert page.locator("section.lane").count() == 20
            renders.append(mark(page, "board-rendered"))
        # From publishing an event to its plate on the open board: broker, ingest, snapshot, push, render.
        publisher = webdata.Publisher(broker.host, broker.port)
        latencies = []
        for i in range(RUNS):
            truck = webdata.Truck(SITE, sites[0]["lanes"][i]["id"], "queue-edge", 900_000 + i, f"24C9{i:04d}", "VN",
                          datetime.now(UTC), 0, 0, None)
            enter = webdata.truck_events(truck, webdata.Sequencer(), stages=("enter",))
            started = time.perf_counter()
            publisher.events(enter)
            page.locator(f'[data-lane="{SITE}/{truck.lane}"] .plates').get_by_text(truck.plate).wait_for()
            latencies.append((time.perf_counter() - started) * 1000)
        publisher.close()
        page.close()
    finally:
        central.stop()
    render = statistics.median(renders)
    latency = max(latencies)
    return [
        {"name": f"board snapshot, 20 lanes ({events} events in 4 h)", "value": compute_ms, "unit": "ms",
         "target": "", "ok": None},
        {"name": "board load to first full render, 20 lanes (median of 5)", "value": render, "unit": "ms",
         "target": "≤ 1000", "ok": render <= 1000},
        {"name": "event published to shown on the open board, 20 lanes (worst of 5)", "value": latency,
         "unit": "ms", "target": "≤ 1000", "ok": latency <= 1000},
    ]


def bench_history(browser, broker: Broker, work: Path) -> list[dict]:
    given = os.environ.get("LANEWATCH_BENCH_HISTORY_DB")
    source = Path(given) if given else bench_central.BENCH_DB
    if not source.exists():
        if given:
            raise FileNotFoundError(f"LANEWATCH_BENCH_HISTORY_DB names {source}, which does not exist")
        started = time.perf_counter()
        bench_central._build_history(source)
        print(f"# bench_web: built {source} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    # The central runs on a copy: its aggregator rewrites the crossings of its last hours from their events at
    # start, and the synthetic file has no events (nor should a benchmark change a file others measure).
    db_path = work / "month" / "central.sqlite"
    db_path.parent.mkdir(parents=True)
    started = time.perf_counter()
    with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src, closing(sqlite3.connect(db_path)) as dst:
        src.backup(dst)
    print(f"# bench_web: copied {source.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    sites, last = sites_in(db_path)
    # The month ends a day ago at the latest: what the central's start may rewrite lies after that.
    end = min(last, datetime.now(UTC) - timedelta(days=1))
    central = webdata.Central(work / "month", broker.host, broker.port, free_port(), sites)
    central.add_user("bench", "staff")
    started = time.time()
    central.start(timeout=120)
    wait_for_summaries(db_path, sum(len(site["lanes"]) for site in sites), started + 5)
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
        stored = db.execute("SELECT count(*) FROM crossings").fetchone()[0]  # as the queries find it
    vn = end + timedelta(hours=7)
    month = {"from": (vn - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"), "to": vn.strftime("%Y-%m-%dT%H:%M")}
    # A part of a plate that is really there: the last four characters of the lane's latest plate.
    lane = sites[0]["lanes"][0]["id"]
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
        plate = db.execute("SELECT plate FROM crossings WHERE site = ? AND lane = ? AND plate IS NOT NULL AND "
                           "start_ts < ? ORDER BY start_ts DESC LIMIT 1",
                           [sites[0]["id"], lane, history.stored(end)]).fetchone()[0]
    one_lane = month | {"lane": lane, "plate": plate[-4:]}
    rows = []
    try:
        page = browser.new_page(base_url=central.url, viewport={"width": 1920, "height": 1080})
        sign_in(page, "bench")
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
        with httpx.Client(base_url=central.url, cookies=cookies, timeout=120) as client:
            for label, query in (("every lane", month), (f"one lane, plate contains {plate[-4:]}", one_lane)):
                server, renders = [], []
                for _ in range(HISTORY_RUNS):
                    started = time.perf_counter()
                    r = client.get("/history", params=query)
                    server.append((time.perf_counter() - started) * 1000)
                    assert r.status_code == 200, r.status_code
                for _ in range(HISTORY_RUNS):
                    page.goto("/history?" + urlencode(query))
                    page.wait_for_selector("body[data-rendered]")
                    renders.append(mark(page, "history-rendered"))
                total = int(page.locator("#total").get_attribute("data-total") or 0)
                assert page.locator("#crossings tbody tr").count() >= min(total, 10)
                server_ms, render_ms = statistics.median(server), statistics.median(renders)
                rows += [
                    {"name": f"history one-month page, {label}: server ({total:,} crossings of {stored:,})",
                     "value": server_ms, "unit": "ms", "target": "≤ 1000", "ok": server_ms <= 1000},
                    {"name": f"history one-month page, {label}: load to first full render", "value": render_ms,
                     "unit": "ms", "target": "≤ 1000", "ok": render_ms <= 1000},
                ]
        page.close()
    finally:
        central.stop()
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
