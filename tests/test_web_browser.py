"""The pages in a real headless Chromium, against a real central process fed through a real Mosquitto.

One browser and one central serve the whole module; the restart test comes last because it restarts
the central. Chromium is Debian's (`apt-get install chromium`), driven by Playwright; nothing is
downloaded at run time.
"""

from __future__ import annotations

import csv
import re
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from broker import free_port
from playwright.sync_api import Browser, Page, expect, sync_playwright
from webdata import (
    PASSWORD,
    SITE,
    Central,
    FreshStatuses,
    Publisher,
    Sequencer,
    Truck,
    gate_sites,
    lane_status,
    truck_events,
)
from webpages import launch_chromium, sign_in

pytestmark = pytest.mark.slow

SITES = gate_sites([
    {"id": "out-1", "direction": "export", "name": "Xuất 1 / Export 1"},
    {"id": "out-2", "direction": "export", "name": "Xuất 2 / Export 2"},
    {"id": "in-1", "direction": "import", "name": "Nhập 1 / Import 1"},
])
LIVE_LANES = ("out-1", "out-2")  # kept fresh by a status every half second; in-1 reports once and goes stale
KIOSK_TOKEN = "k" * 40
VN, CN = timezone(timedelta(hours=7)), timezone(timedelta(hours=8))
# Yesterday 06:00–12:00 Vietnam time: 40 trucks over three lanes, two plate series.
DAY = (datetime.now(VN) - timedelta(days=1)).replace(hour=6, minute=0, second=0, microsecond=0)


def history_trucks() -> list[Truck]:
    trucks = []
    for i in range(40):
        lane = ("out-1", "out-2", "in-1")[i % 3]
        plate = f"24C{10000 + i * 7:05d}" if i % 2 == 0 else f"21H{20000 + i * 11:05d}"
        trucks.append(Truck(SITE, lane, "gate-edge", 1000 + i, plate, "VN", DAY + timedelta(minutes=9 * i, seconds=30),
                            wait_s=600 + 37 * i, process_s=300 + 11 * i, weight_kg=20000 + 250 * i))
    return trucks


@pytest.fixture(scope="module")
def world(tmp_path_factory, broker):
    workdir = tmp_path_factory.mktemp("web-browser")
    central = Central(workdir, broker.host, broker.port, free_port(), SITES, web={
        "board_refresh_s": 1, "history_page_size": 10, "kiosk_token": KIOSK_TOKEN}, metrics={"update_interval_s": 3})
    central.add_user("olga", "operator")
    central.add_user("sam", "staff")
    central.start()
    publisher = Publisher(broker.host, broker.port)
    trucks = history_trucks()
    seq = Sequencer()
    events = [e for t in trucks for e in truck_events(t, seq)]
    publisher.events(events)
    publisher.status(lane_status(SITE, "in-1", "gate-edge", 2, datetime.now(UTC)))
    central.wait_for_events(len(events))

    def live(now: datetime) -> list:
        return [lane_status(SITE, lane, "gate-edge", 4, now, weighbridge_kg=31250.0 if lane == "out-1" else None)
                for lane in LIVE_LANES]

    with FreshStatuses(publisher, live, every_s=0.5):
        yield {"central": central, "publisher": publisher, "trucks": trucks, "seq": seq}
    publisher.close()
    central.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


def signed_in(browser: Browser, central: Central, user: str, lang: str = "vi") -> Page:
    context = browser.new_context(base_url=central.url, viewport={"width": 1920, "height": 1080}, locale="vi-VN")
    page = context.new_page()
    sign_in(page, user, language="English" if lang == "en" else None)
    return page


def expect_image_loaded(img, timeout_ms: float = 5000) -> None:
    """Waits for the image to finish loading and fails if it is broken; the text can arrive before the pixels."""
    img.page.wait_for_function("img => img.complete", arg=img.element_handle(), timeout=timeout_ms)
    assert img.evaluate("img => img.naturalWidth > 0"), "the image loaded but is broken (no pixels)"


def test_signed_out_requests_are_refused(world, browser):
    central = world["central"]
    context = browser.new_context(base_url=central.url)
    page = context.new_page()
    page.goto("/history")
    assert page.url.startswith(f"{central.url}/signin?next=%2Fhistory")
    expect(page.locator("h1")).to_have_text("Đăng nhập")
    for path in ("/board/data", "/board/stream", "/history.csv", "/api/lanes", "/admin/audit"):
        assert context.request.get(path).status == 401, path
    assert context.request.post("/signout", form={"csrf": "x"}).status in (401, 403)
    context.close()


def test_new_event_appears_on_the_board_within_two_seconds(world, browser):
    page = signed_in(browser, world["central"], "olga")
    card = page.locator(f'[data-lane="{SITE}/out-1"]')
    expect(page.locator("#conn")).to_have_text("trực tiếp")
    expect(card).to_have_attribute("data-state", "live")
    now = datetime.now(UTC)
    truck = Truck(SITE, "out-1", "queue-edge", 77, "24C99871", "VN", now, 0, 0, None)
    published = time.monotonic()
    world["publisher"].events(truck_events(truck, world["seq"], stages=("enter",)))
    expect(card.locator(".plates")).to_contain_text("24C99871", timeout=2000)
    elapsed = time.monotonic() - published
    assert elapsed < 2.0
    expect_image_loaded(card.locator(".plates img").first)
    # The weighbridge of out-1 reports a stable load; its figure is on the card, grouped the Vietnamese way.
    expect(card.locator(".weighbridge")).to_contain_text("31.250 kg")
    # The edge's health from its latest status: online, camera, weighbridge with its reading, clock, backlog.
    for text in ("gate-edge trực tuyến", "camera cam1 tốt 10 fps", "cân tốt 31.250 kg", "đồng hồ đã đồng bộ (3 ms)",
                 "tồn 0"):
        expect(card.locator(".health")).to_contain_text(text)
    page.context.close()


def test_stale_lane_is_shown_as_stale(world, browser):
    page = signed_in(browser, world["central"], "olga")
    stale = page.locator(f'[data-lane="{SITE}/in-1"]')
    live = page.locator(f'[data-lane="{SITE}/out-2"]')
    expect(stale).to_have_attribute("data-state", "stale", timeout=6000)
    expect(stale.locator('[data-figure="queue"]')).to_have_text("dữ liệu cũ")
    expect(stale.locator(".stale-banner")).to_be_visible()
    for figure in ("queue", "expected", "tph"):
        assert not re.search(r"\d", stale.locator(f'[data-figure="{figure}"]').inner_text())
    expect(live).to_have_attribute("data-state", "live")
    expect(live.locator('[data-figure="queue"]')).to_have_text(re.compile(r"^\d+$"))
    page.context.close()


def test_switching_language_changes_the_labels(world, browser):
    page = signed_in(browser, world["central"], "sam")
    nav = page.get_by_role("navigation")
    expect(nav).to_contain_text("Bảng làn xe")
    expect(nav).to_contain_text("Lịch sử")
    expect(page.locator(".direction.export h3")).to_contain_text("Xuất khẩu (Việt Nam → Trung Quốc)")
    card = page.locator(f'[data-lane="{SITE}/out-1"]')
    expect(card).to_contain_text("Đang chờ")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(nav).to_contain_text("Lane board")
    expect(nav).to_contain_text("History")
    expect(page.locator(".direction.export h3")).to_contain_text("Export (Vietnam → China)")
    expect(card).to_contain_text("In queue")
    expect(card).to_contain_text("Expected wait")
    expect(page.locator("#conn")).to_have_text("live")
    assert "Đang chờ" not in page.locator("#board").inner_text()
    page.get_by_role("button", name="Tiếng Việt").click()
    expect(nav).to_contain_text("Bảng làn xe")
    page.context.close()


def shown_plates(page: Page) -> list[str]:
    plates = page.locator("#crossings tbody tr td:first-child a").all_inner_texts()
    while page.get_by_role("link", name=re.compile("Next")).count():
        page.get_by_role("link", name=re.compile("Next")).click()
        plates += page.locator("#crossings tbody tr td:first-child a").all_inner_texts()
    return plates


def downloaded_csv(page: Page) -> list[dict]:
    with page.expect_download() as info:
        page.locator("#csv").click()
    with open(info.value.path(), encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_history_filter_returns_exactly_the_expected_crossings_and_the_csv_matches(world, browser):
    page = signed_in(browser, world["central"], "sam", lang="en")
    page.get_by_role("button", name="UTC+8").click()
    page.goto("/history")
    # Lane out-1, 07:00–12:30 China time (06:00–11:30 Vietnam): 13 crossings, two pages of 10.
    since, until = DAY.astimezone(CN).replace(hour=7), DAY.astimezone(CN).replace(hour=12, minute=30)
    page.select_option("#f-lane", "out-1")
    page.fill("#f-from", since.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#f-to", until.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Search").click()
    in_range = sorted((t for t in world["trucks"] if t.lane == "out-1" and since <= t.enter < until),
                      key=lambda t: t.enter, reverse=True)
    assert len(in_range) == 13
    expect(page.locator("#total")).to_have_attribute("data-total", "13")
    # Times are shown in the chosen zone (UTC+8), to the second.
    expect(page.locator("#crossings tbody tr").first).to_contain_text(
        in_range[0].enter.astimezone(CN).strftime("%Y-%m-%d %H:%M:%S"))
    # The histogram holds exactly these crossings; the central was not running yesterday, so it has no queue
    # samples for then and the queue chart says so rather than drawing zeros.
    bars = page.locator("#histogram rect.bar title").evaluate_all("titles => titles.map((t) => t.textContent)")
    assert sum(int(b.rsplit(": ", 1)[1]) for b in bars) == 13
    expect(page.locator("#queue-chart")).to_contain_text("No data")
    assert page.locator("#queue-chart polyline").count() == 0
    rows = downloaded_csv(page)
    assert shown_plates(page) == [r["plate"] for r in rows] == [t.plate for t in in_range]
    page.get_by_role("link", name=re.compile("Previous")).click()  # back from the last page
    assert page.locator("#crossings tbody tr td:first-child a").all_inner_texts() == [t.plate for t in in_range[:10]]
    for row, truck in zip(rows, in_range, strict=True):
        assert row["enter"].endswith("+08:00")
        assert datetime.fromisoformat(row["enter"]) == truck.enter
        assert datetime.fromisoformat(row["gate"]) == truck.gate
        assert datetime.fromisoformat(row["exit"]) == truck.exit
        assert float(row["wait_s"]) == pytest.approx(truck.wait_s, abs=0.002)
        assert float(row["crossing_s"]) == pytest.approx(truck.wait_s + truck.process_s, abs=0.002)
        assert float(row["weight_kg"]) == truck.weight_kg
        assert (row["site"], row["lane"], row["direction"], row["status"], row["method"]) == (
            SITE, "out-1", "export", "complete", "track")

    # A part of a plate, typed the way it is printed: only the 24C1… plates of that range.
    page.goto("/history")
    page.select_option("#f-lane", "out-1")
    page.fill("#f-plate", "24c-1")
    page.fill("#f-from", since.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#f-to", until.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Search").click()
    wanted = [t.plate for t in in_range if t.plate.startswith("24C1")]
    assert len(wanted) == 7
    expect(page.locator("#total")).to_have_attribute("data-total", "7")
    assert shown_plates(page) == wanted
    assert [r["plate"] for r in downloaded_csv(page)] == wanted

    # The crossing detail shows how it was matched, and the plate crops.
    page.locator("#crossings tbody tr td:first-child a").first.click()
    expect(page.locator("h1")).to_contain_text(wanted[0])
    expect(page.locator("#matched")).to_have_text("same track")
    img = page.locator(".crops img").first
    expect(img).to_be_visible()
    expect_image_loaded(img)

    # The last day of lane out-1, while the central has been running: its queue, sampled each minute.
    page.goto("/history?lane=out-1")
    expect(page.locator("#queue-chart polyline").first).to_be_attached()
    page.context.close()


def test_operator_cannot_open_history_or_export(world, browser):
    page = signed_in(browser, world["central"], "olga")
    assert page.get_by_role("navigation").get_by_role("link", name="Lịch sử").count() == 0
    assert page.goto("/history").status == 403
    assert page.context.request.get("/history.csv").status == 403
    assert page.context.request.get("/admin/users").status == 403
    page.context.close()


def test_kiosk_token_opens_a_read_only_board(world, browser):
    central = world["central"]
    context = browser.new_context(base_url=central.url)
    page = context.new_page()
    page.goto(f"/kiosk?token={KIOSK_TOKEN}")
    assert page.url == f"{central.url}/"  # the token does not stay in the address bar
    expect(page.locator("#conn")).to_have_text("trực tiếp")
    assert page.goto("/history").status == 403
    context.close()


def test_keyboard_only_on_a_tablet(world, browser):
    context = browser.new_context(base_url=world["central"].url, viewport={"width": 820, "height": 1180},
                                  has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto("/signin")
    expect(page.locator("#username")).to_be_focused()  # the sign-in form is ready to type into
    page.keyboard.type("olga")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("#board[data-rendered]")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.lane") == f"{SITE}/out-1"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.lane") == f"{SITE}/out-2"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # nothing cut off sideways
    context.close()


def test_board_reconnects_by_itself_after_the_central_restarts(world, browser):
    central = world["central"]
    page = signed_in(browser, central, "olga")
    conn = page.locator("#conn")
    expect(conn).to_have_text("trực tiếp")
    central.stop()
    expect(conn).to_have_text("đang kết nối lại…", timeout=5000)
    central.start()
    expect(conn).to_have_text("trực tiếp", timeout=10000)
    truck = Truck(SITE, "out-2", "queue-edge", 78, "24C55501", "VN", datetime.now(UTC), 0, 0, None)
    world["publisher"].events(truck_events(truck, world["seq"], stages=("enter",)))
    expect(page.locator(f'[data-lane="{SITE}/out-2"] .plates')).to_contain_text("24C55501", timeout=3000)
    page.context.close()
