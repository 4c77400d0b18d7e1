"""Speed of the pages, measured in Debian's headless Chromium against a real central on loopback:
- the live board with 20 busy lanes, from navigation to its first full render (target ≤ 1 s);
- the history page for a one-month filter, server time and first full render (target ≤ 1 s).

History database: by default a month of synthetic traffic is built here
(LANEWATCH_BENCH_MONTH_CROSSINGS crossings, default 60 000 ≈ 2 000 trucks a day on 5 lanes), stored as raw
events because that is what central/views.py reads until it is pointed at the crossings of issue 8.
Set LANEWATCH_BENCH_HISTORY_DB to an existing central database (e.g. the 10-million-crossing one of the
central bench) to measure against it instead; its sites and lanes are read from the file, the month is
the last 30 days of its data, and the file is only read.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from broker import Broker, free_port  # noqa: E402
from webdata import (  # noqa: E402
    PASSWORD,
    Central,
    Publisher,
    Sequencer,
    Truck,
    busy_lane,
    events_until,
    lane_status,
    truck_events,
)

from central import views  # noqa: E402
from central.config import CentralConfig  # noqa: E402
from central.store import Store  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RUNS = 5
HISTORY_RUNS = 3
SITE = "laocai-kimthanh2"


def board_sites(lanes: int) -> list[dict]:
    return [{"id": SITE, "name": "Lào Cai – Hà Khẩu (Kim Thành II)", "lanes": [
        {"id": f"{'out' if i % 2 else 'in'}-{i + 1}", "direction": "export" if i % 2 else "import"}
        for i in range(lanes)]}]


def fill_board_db(path: Path, sites: list[dict], now: datetime) -> int:
    store = Store(path)
    seq = Sequencer()
    events = []
    for k, lane in enumerate(sites[0]["lanes"]):
        trucks = busy_lane(SITE, lane["id"], "gate-edge", now - timedelta(hours=4), now, seed=k, mean_gap_s=240,
                           first_track=1 + 10_000 * k)
        events += events_until(trucks, seq, now, crops=True)
    store.add_events(events)
    store.db.conn.close()
    return len(events)


def fill_month_db(path: Path, sites: list[dict], crossings: int, end: datetime) -> None:
    store = Store(path)
    seq = Sequencer()
    lanes = sites[0]["lanes"]
    gap = 30 * 86400 * len(lanes) / crossings
    for k, lane in enumerate(lanes):
        trucks = busy_lane(SITE, lane["id"], "gate-edge", end - timedelta(days=30), end, seed=100 + k, mean_gap_s=gap,
                           first_track=1 + 10_000_000 * k)
        batch = events_until(trucks, seq, end, crops=False)
        for i in range(0, len(batch), 20_000):
            store.add_events(batch[i:i + 20_000])
    store.db.conn.close()


def sites_in(path: Path) -> tuple[list[dict], datetime]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        pairs = db.execute("SELECT DISTINCT site, lane FROM events").fetchall()
        last = db.execute("SELECT max(ts) FROM events").fetchone()[0]
    finally:
        db.close()
    sites: dict[str, list[dict]] = {}
    for site, lane in pairs:
        sites.setdefault(site, []).append({"id": lane, "direction": "import" if lane.startswith("in") else "export"})
    return [{"id": s, "name": s, "lanes": ls} for s, ls in sites.items()], views.parse_ts(last)


def sign_in(page: Page) -> None:
    page.goto("/signin")
    page.fill("#username", "bench")
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url("**/")


def mark(page: Page, name: str) -> float:
    return page.evaluate(f"performance.getEntriesByName('{name}')[0].startTime")


def run() -> list[dict]:
    rows: list[dict] = []
    work = Path(tempfile.mkdtemp(prefix="lanewatch-bench-web-"))
    broker = Broker(work / "mosquitto").start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            try:
                rows += bench_board(browser, broker, work)
                rows += bench_history(browser, broker, work)
            finally:
                browser.close()
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    return rows


def bench_board(browser, broker: Broker, work: Path) -> list[dict]:
    sites = board_sites(20)
    central = Central(work / "board", broker.host, broker.port, free_port(), sites,
                      web={"board_refresh_s": 0.5, "stale_after_s": 600})
    now = datetime.now(UTC)
    events = fill_board_db(work / "board" / "central.sqlite", sites, now)
    store = Store(work / "board" / "central.sqlite")
    for lane in sites[0]["lanes"]:
        store.put_status(lane_status(SITE, lane["id"], "gate-edge", 7, now, weighbridge_kg=25_000.0))
    config = CentralConfig.model_validate({"database": str(work / "board" / "central.sqlite"), "sites": sites})
    started = time.perf_counter()
    snapshot = views.board_snapshot(store, config, now)
    compute_ms = (time.perf_counter() - started) * 1000
    assert len(snapshot["lanes"]) == 20
    central.add_user("bench", "operator")
    central.start()
    try:
        page = browser.new_page(base_url=central.url, viewport={"width": 1920, "height": 1080})
        sign_in(page)
        renders = []
        for _ in range(RUNS):
            time.sleep(0.6)  # past the snapshot's refresh interval: every load computes a fresh one
            page.goto("/")
            page.wait_for_selector("#board[data-rendered]")
            assert page.locator("section.lane").count() == 20
            renders.append(mark(page, "board-rendered"))
        # From publishing an event to its plate on the open board: broker, ingest, snapshot, push, render.
        publisher = Publisher(broker.host, broker.port)
        latencies = []
        for i in range(RUNS):
            truck = Truck(SITE, sites[0]["lanes"][i]["id"], "queue-edge", 900_000 + i, f"24C9{i:04d}", "VN",
                          datetime.now(UTC), 0, 0, None)
            enter = truck_events(truck, Sequencer(), stages=("enter",))
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
    if given:
        db_path = Path(given)
        sites, end = sites_in(db_path)
        source = f"{db_path.name}"
    else:
        crossings = int(os.environ.get("LANEWATCH_BENCH_MONTH_CROSSINGS", "60000"))
        sites = [{"id": SITE, "name": "Lào Cai", "lanes": [{"id": i, "direction": d} for i, d in (
            ("out-1", "export"), ("out-2", "export"), ("in-1", "import"), ("in-2", "import"), ("in-3", "import"))]}]
        end = datetime.now(UTC).replace(microsecond=0)
        db_path = work / "month" / "central.sqlite"
        db_path.parent.mkdir(parents=True)
        started = time.perf_counter()
        fill_month_db(db_path, sites, crossings, end)
        print(f"# bench_web: built a month of {crossings} crossings in {time.perf_counter() - started:.0f} s",
              file=sys.stderr)
        source = f"{crossings} synthetic crossings stored as events"
    central = Central(work / "month", broker.host, broker.port, free_port(), sites)
    central.config.write_text(central.config.read_text().replace(str(work / "month" / "central.sqlite"), str(db_path)))
    central.add_user("bench", "staff")
    central.start(timeout=60)
    vn = end + timedelta(hours=7)
    query = {"from": (vn - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"), "to": vn.strftime("%Y-%m-%dT%H:%M")}
    try:
        page = browser.new_page(base_url=central.url, viewport={"width": 1920, "height": 1080})
        sign_in(page)
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
        server, renders, total = [], [], 0
        with httpx.Client(base_url=central.url, cookies=cookies, timeout=120) as client:
            for _ in range(HISTORY_RUNS):
                started = time.perf_counter()
                r = client.get("/history", params=query)
                server.append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200, r.status_code
        for _ in range(HISTORY_RUNS):
            page.goto(f"/history?from={query['from']}&to={query['to']}")
            page.wait_for_selector("body[data-rendered]")
            renders.append(mark(page, "history-rendered"))
            total = int(page.locator("#total").get_attribute("data-total"))
        page.close()
    finally:
        central.stop()
    server_ms, render_ms = statistics.median(server), statistics.median(renders)
    return [
        {"name": f"history one-month page, server ({total} crossings in the month; {source})", "value": server_ms,
         "unit": "ms", "target": "≤ 1000", "ok": server_ms <= 1000},
        {"name": "history one-month page, load to first full render", "value": render_ms, "unit": "ms",
         "target": "≤ 1000", "ok": render_ms <= 1000},
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
