"""Make the README's screenshots of the board and the history, in Vietnamese and in English.

Starts a throw-away Mosquitto and central under a temporary folder, publishes thirty hours of synthetic
traffic on five lanes (one of them left stale on purpose), and photographs the pages at 1920×1080 in
Debian's Chromium. Run from the repository root:

    PYTHONPATH=. python docs/screenshots/make.py
"""

from __future__ import annotations

import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))

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
)

from central.store import Store  # noqa: E402

SITE = "laocai-kimthanh2"
LANES = [("out-1", "export", "Xuất 1 / Export 1"), ("out-2", "export", "Xuất 2 / Export 2"),
         ("in-1", "import", "Nhập 1 / Import 1"), ("in-2", "import", "Nhập 2 / Import 2"),
         ("in-3", "import", "Nhập 3 / Import 3")]
STALE = "in-3"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="lanewatch-shots-") as tmp:
        work = Path(tmp)
        broker = Broker(work / "mosquitto").start()
        sites = [{"id": SITE, "name": "Lào Cai – Hà Khẩu (Kim Thành II)",
                  "lanes": [{"id": i, "direction": d, "name": n} for i, d, n in LANES]}]
        central = Central(work / "central", broker.host, broker.port, free_port(), sites,
                          web={"board_refresh_s": 1}, metrics={"update_interval_s": 5})
        central.add_user("lan.nguyen", "staff")
        now = datetime.now(UTC)
        traffic = {lane: busy_lane(SITE, lane, "gate-edge", now - timedelta(hours=30), now, seed=k,
                                   mean_gap_s=200 + 60 * k, mean_wait_s=1500 + 400 * k, first_track=1 + 100_000 * k)
                   for k, (lane, _, _) in enumerate(LANES)}
        past_samples(work / "central" / "central.sqlite", traffic, now)
        central.start()
        publisher = Publisher(broker.host, broker.port)
        stop = threading.Event()
        try:
            publisher.status(lane_status(SITE, STALE, "gate-edge", 3, now))  # its only report: stale within 5 s
            seq = Sequencer()
            events = []
            for trucks in traffic.values():
                events += events_until(trucks, seq, now)
            for chunk in range(0, len(events), 500):
                publisher.events(events[chunk:chunk + 500])
            central.wait_for_events(len(events), timeout=120)
            while (datetime.now(UTC) - now).total_seconds() < 6:
                stop.wait(0.2)

            def keep_fresh() -> None:
                while not stop.is_set():
                    for i, (lane, _, _) in enumerate(LANES):
                        if lane != STALE:
                            publisher.status(lane_status(SITE, lane, "gate-edge", 6 + 3 * i, datetime.now(UTC),
                                                         weighbridge_kg=28_640.0 if lane == "out-1" else None,
                                                         backlog=0 if i else 2))
                    stop.wait(1)

            threading.Thread(target=keep_fresh, daemon=True).start()
            shoot(central, now)
        finally:
            stop.set()
            publisher.close()
            central.stop()
            broker.stop()
    return 0


def past_samples(path: Path, traffic: dict[str, list[Truck]], now: datetime) -> None:
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


def shoot(central: Central, now: datetime) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        vn = now + timedelta(hours=7)
        history = (f"/history?from={(vn - timedelta(hours=28)).strftime('%Y-%m-%dT%H:00')}"
                   f"&to={(vn - timedelta(hours=4)).strftime('%Y-%m-%dT%H:00')}")
        for lang, locale, button in (("vi", "vi-VN", "Tiếng Việt"), ("en", "en-GB", "English")):
            page = browser.new_page(base_url=central.url, viewport={"width": 1920, "height": 1080}, locale=locale)
            page.goto("/signin")
            page.get_by_role("button", name=button).click()
            page.fill("#username", "lan.nguyen")
            page.fill("#password", PASSWORD)
            page.press("#password", "Enter")
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
