"""The pages in Debian's headless Chromium (`apt-get install chromium`), driven by Playwright, for the browser
tests, the web bench and the README's screenshots: nothing is downloaded at run time."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, Playwright
from webdata import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def sign_in(page: Page, username: str, *, language: str | None = None, password: str = PASSWORD) -> None:
    """Sign in through the form (after choosing the language button named `language`, e.g. "English") and wait
    for the board."""
    page.goto("/signin")
    if language is not None:
        page.get_by_role("button", name=language).click()
    page.fill("#username", username)
    page.fill("#password", password)
    page.press("#password", "Enter")
    page.wait_for_url("**/")
