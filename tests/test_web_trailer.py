"""Tractor-trailers and uncertain plate reads on the pages, in a real headless Chromium, against a real central
process fed through a real Mosquitto: the trailer's plate beside the tractor's on the history table, the crossing
page and the live board; a plate read below the uncertain level marked with a visible `?` whose tooltip says how
sure the read was, explained by a legend, in both languages; the same in the JSON API and the CSV download."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta, timezone

import pytest
from broker import free_port
from playwright.sync_api import Browser, Page, expect, sync_playwright
from webdata import SITE, Central, FreshStatuses, Publisher, Sequencer, Truck, gate_sites, lane_status, truck_events
from webpages import launch_chromium, sign_in

pytestmark = pytest.mark.slow

VN = timezone(timedelta(hours=7))
DAY = (datetime.now(VN) - timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
SITES = gate_sites([{"id": "out-1", "direction": "export", "name": "Xuất 1 / Export 1"}])
# Yesterday: a sure tractor-trailer, a Chinese one read unsurely at both ends (the demo's 川Y49015 at 0.48),
# and a rigid truck.
TRUCKS = [
    Truck(SITE, "out-1", "gate-edge", 1, "24C50001", "VN", DAY, 600, 300, 30000.0, trailer="24R00123",
          trailer_country="VN"),
    Truck(SITE, "out-1", "gate-edge", 2, "川Y49015", "CN", DAY + timedelta(minutes=10), 600, 300, 31000.0,
          confidence=0.48, trailer="云G1234挂", trailer_country="CN", trailer_confidence=0.31),
    Truck(SITE, "out-1", "gate-edge", 3, "24C50003", "VN", DAY + timedelta(minutes=20), 600, 300, 12000.0),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory, broker):
    central = Central(tmp_path_factory.mktemp("web-trailer"), broker.host, broker.port, free_port(), SITES,
                      web={"board_refresh_s": 1}, metrics={"update_interval_s": 3})
    central.add_user("sam", "staff")
    central.start()
    publisher = Publisher(broker.host, broker.port)
    seq = Sequencer()
    now = datetime.now(UTC).replace(microsecond=0)
    # On the weighbridge now: a tractor-trailer whose front plate was read unsurely.
    weighing = Truck(SITE, "out-1", "gate-edge", 9, "24C77777", "VN", now - timedelta(minutes=6), 240, 600, 36000.0,
                     confidence=0.45, trailer="24R00999", trailer_country="VN")
    events = [e for t in TRUCKS for e in truck_events(t, seq)]
    events += truck_events(weighing, seq, stages=("enter", "gate", "weigh"))
    publisher.events(events)
    central.wait_for_events(len(events))

    def live(at: datetime) -> list:
        return [lane_status(SITE, "out-1", "gate-edge", 1, at, weighbridge_kg=36020.0)]

    with FreshStatuses(publisher, live, every_s=0.5):
        yield central
    publisher.close()
    central.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


def signed_in(browser: Browser, central: Central, lang: str) -> Page:
    context = browser.new_context(base_url=central.url, viewport={"width": 1920, "height": 1080}, locale="vi-VN")
    page = context.new_page()
    sign_in(page, "sam", language="English" if lang == "en" else None)
    return page


def search(page: Page, plate: str) -> None:
    page.goto("/history")
    page.fill("#f-plate", plate)
    page.fill("#f-from", DAY.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#f-to", (DAY + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.locator(".filters button[type=submit]").click()


def test_history_shows_and_finds_trailer_plates_and_marks_uncertain_reads(world, browser):
    page = signed_in(browser, world, "en")
    search(page, "")
    expect(page.locator("#total")).to_have_attribute("data-total", "3")
    rows = {r.get_attribute("data-id"): r for r in page.locator("#crossings tbody tr").all()}
    by_plate = {r.locator("td").first.locator("a").inner_text(): r for r in rows.values()}
    assert set(by_plate) == {t.plate for t in TRUCKS}
    sure, unsure, rigid = (by_plate[t.plate] for t in TRUCKS)
    expect(sure.locator("td.trailer .plate")).to_have_text("24R00123")
    expect(unsure.locator("td.trailer .plate")).to_have_text("云G1234挂")
    expect(rigid.locator("td.trailer")).to_have_text("")
    # Only the unsure reads carry the mark, visible, with the read's confidence in the tooltip.
    assert sure.locator(".uncertain").count() == 0 and rigid.locator(".uncertain").count() == 0
    front, rear = unsure.locator("td").first.locator(".uncertain"), unsure.locator("td.trailer .uncertain")
    expect(front).to_be_visible()
    expect(front).to_have_text("?")
    expect(front).to_have_attribute("title", "Uncertain read: confidence 48 %, below 50 %. Check the plate image.")
    expect(rear).to_have_attribute("title", "Uncertain read: confidence 31 %, below 50 %. Check the plate image.")
    expect(page.locator("#uncertain-legend")).to_have_text("? plate read uncertain: confidence below 50 %")
    expect(page.locator("#crossings thead")).to_contain_text("Trailer plate")

    # A trailer plate, whole as printed or in part, finds its tractor's crossing and nothing else.
    for typed, plate in (("24R-001.23", "24C50001"), ("R0012", "24C50001"), ("1234挂", "川Y49015")):
        search(page, typed)
        expect(page.locator("#total")).to_have_attribute("data-total", "1")
        expect(page.locator("#crossings tbody tr td:first-child a")).to_have_text(plate)

    with page.expect_download() as info:
        page.locator("#csv").click()
    with open(info.value.path(), encoding="utf-8") as f:
        (row,) = list(csv.DictReader(f))
    assert (row["plate"], row["trailer_plate"], row["trailer_country"]) == ("川Y49015", "云G1234挂", "CN")
    assert (row["plate_uncertain"], row["trailer_uncertain"]) == ("True", "True")
    assert (float(row["plate_confidence"]), float(row["trailer_confidence"])) == (0.48, 0.31)

    api = page.context.request.get("/api/crossings", params={"plate_contains": "r00123"})
    assert api.ok, api.text()
    (found,) = api.json()["crossings"]
    assert (found["plate"], found["plate_uncertain"], found["trailer_plate"], found["trailer_uncertain"]) == (
        "24C50001", False, "24R00123", False)

    # The crossing page: the trailer's plate among the facts, each read with its role, the unsure ones marked.
    page.locator("#crossings tbody tr td:first-child a").click()
    expect(page.locator("h1 .uncertain")).to_be_visible()
    expect(page.locator("#trailer")).to_contain_text("云G1234挂")
    expect(page.locator("#trailer .uncertain")).to_be_visible()
    expect(page.locator(".crops")).to_contain_text("tractor")
    expect(page.locator(".crops")).to_contain_text("trailer")
    assert page.locator(".crops .uncertain").count() == 5  # enter (vehicle); weigh and exit (tractor, trailer)
    page.context.close()


def test_board_shows_the_trailer_plate_and_the_mark_in_vietnamese(world, browser):
    page = signed_in(browser, world, "vi")
    card = page.locator(f'[data-lane="{SITE}/out-1"]')
    expect(card).to_have_attribute("data-state", "live")
    bridge = card.locator(".weighbridge")
    expect(bridge).to_contain_text("24C77777")
    expect(bridge).to_contain_text("rơ moóc 24R00999")
    mark = bridge.locator(".uncertain")
    expect(mark).to_have_count(1)  # the front read only: the trailer's was sure
    expect(mark).to_be_visible()
    expect(mark).to_have_attribute("title",
                                   "Đọc chưa chắc chắn: độ tin cậy 45 %, dưới 50 %. Hãy đối chiếu ảnh biển số.")
    last = card.locator(".plates li").first
    expect(last).to_contain_text("24C77777")
    expect(last).to_contain_text("rơ moóc 24R00999")
    expect(last.locator(".uncertain")).to_have_count(1)
    expect(page.locator("#uncertain-legend")).to_have_text("? biển số đọc chưa chắc chắn: độ tin cậy dưới 50 %")
    page.context.close()
