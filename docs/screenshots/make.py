"""Make the README's screenshots of the board and the history, in Vietnamese and in English.

Starts a throw-away Mosquitto and central under a temporary folder, publishes thirty hours of synthetic
traffic on five lanes (one of them left stale on purpose), and photographs the pages at 1920×1080 in
Debian's Chromium. Run from the repository root:

    PYTHONPATH=. python docs/screenshots/make.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))

import webdata  # noqa: E402
from broker import Broker, free_port  # noqa: E402
from webdata import SITE  # noqa: E402
from webpages import launch_chromium, sign_in  # noqa: E402

from central.store import Store  # noqa: E402
from lanewatch.contract import LaneStatus  # noqa: E402

LANES = [("out-1", "export", "Xuất 1 / Export 1"), ("out-2", "export", "Xuất 2 / Export 2"),
         ("in-1", "import", "Nhập 1 / Import 1"), ("in-2", "import", "Nhập 2 / Import 2"),
         ("in-3", "import", "Nhập 3 / Import 3")]
STALE = "in-3"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="lanewatch-shots-") as tmp:
        work = Path(tmp)
        broker = Broker(work / "mosquitto").start()
        sites = webdata.gate_sites([{"id": i, "direction": d, "name": n} for i, d, n in LANES])
        central = webdata.Central(work / "central", broker.host, broker.port, free_port(), sites,
                          web={"board_refresh_s": 1}, metrics={"update_interval_s": 5})
        central.add_user("lan.nguyen", "staff")
        now = datetime.now(UTC)
        traffic = {lane: webdata.busy_lane(SITE, lane, "gate-edge", now - timedelta(hours=30), now, seed=k,
                                   mean_gap_s=200 + 60 * k, mean_wait_s=1500 + 400 * k, first_track=1 + 100_000 * k)
                   for k, (lane, _, _) in enumerate(LANES)}
        past_samples(work / "central" / "central.sqlite", traffic, now)
        central.start()
        publisher = webdata.Publisher(broker.host, broker.port)
        try:
            publisher.status(webdata.lane_status(SITE, STALE, "gate-edge", 3, now))  # its only report: stale within 5 s
            seq = webdata.Sequencer()
            events = []
            for trucks in traffic.values():
                events += webdata.events_until(trucks, seq, now)
            for chunk in range(0, len(events), 500):
                publisher.events(events[chunk:chunk + 500])
            central.wait_for_events(len(events), timeout=120)
            while (datetime.now(UTC) - now).total_seconds() < 6:
                time.sleep(0.2)
            with webdata.FreshStatuses(publisher, live_statuses, every_s=1):
                shoot(central, now)
        finally:
            publisher.close()
            central.stop()
            broker.stop()
    return 0


def live_statuses(now: datetime) -> list[LaneStatus]:
    """What the gate edges report every second: every lane but the stale one."""
    return [webdata.lane_status(SITE, lane, "gate-edge", 6 + 3 * i, now,
                                weighbridge_kg=28_640.0 if lane == "out-1" else None, backlog=0 if i else 2)
            for i, (lane, _, _) in enumerate(LANES) if lane != STALE]


def past_samples(path: Path, traffic: dict[str, list[webdata.Truck]], now: datetime) -> None:
    """The central samples each lane's queue once a minute while it runs; this one starts now, so the minutes
    of the synthetic past are written from the same trucks (in the queue from entering to leaving)."""
    store = Store(path)
    rows = []
    for lane, trucks in traffic.items():
        minute = (now - timedelta(hours=30)).replace(second=0, microsecond=0)
        while minute < now - timedelta(minutes=1):
            queue = sum(1 for t in trucks if t.enter <= minute < t.exit)
            waiting = sum(1 for t in trucks if t.enter <= minute < t.gate)
            rows.append((SITE, lane, minute.strftime("%Y-%m-%dT%H:%M"), queue, waiting, queue))
            minute += timedelta(minutes=1)
    with store.db.conn:
        store.db.conn.executemany("INSERT INTO lane_samples (site, lane, minute, queue_length, waiting, "
                                  "camera_occupancy) VALUES (?, ?, ?, ?, ?, ?)", rows)
    store.close()


def shoot(central: webdata.Central, now: datetime) -> None:
    with sync_playwright() as p:
        browser = launch_chromium(p)
        vn = now + timedelta(hours=7)
        history = (f"/history?from={(vn - timedelta(hours=28)).strftime('%Y-%m-%dT%H:00')}"
                   f"&to={(vn - timedelta(hours=4)).strftime('%Y-%m-%dT%H:00')}")
        for lang, locale, button in (("vi", "vi-VN", "Tiếng Việt"), ("en", "en-GB", "English")):
            page = browser.new_page(base_url=central.url, viewport={"width": 1920, "height": 1080}, locale=locale)
            sign_in(page, "lan.nguyen", language=button)
            page.wait_for_selector(".conn-live")
            # Until the central has caught up with the thirty hours just delivered: every lane but the stale one
            # live, with the trucks of its last hour counted.
            page.wait_for_function(f"""() => [...document.querySelectorAll("section.lane")].every((card) =>
                card.dataset.lane.endsWith("/{STALE}") ? card.dataset.state === "stale"
                : card.dataset.state === "live"
                  && /[1-9]/.test(card.querySelector('[data-figure="tph"]').textContent))""",
                timeout=180_000)
            page.screenshot(path=HERE / f"board-{lang}.png")
            page.goto(history)
            page.wait_for_selector("body[data-rendered]")
            page.screenshot(path=HERE / f"history-{lang}.png")
            print(f"wrote board-{lang}.png, history-{lang}.png")
            page.close()
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
