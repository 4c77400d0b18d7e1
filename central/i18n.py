"""Languages and time zones of the pages.

Labels live in central/locales/{vi,en}.json as flat `key: text` maps with `{name}` placeholders;
both files carry the same keys (tests/test_web_i18n.py holds them to it). Keys starting with `js.`
are also sent to the browser for the live board and the charts.
Times are stored in UTC and shown in the zone the viewer picks: Vietnam (UTC+7) or China (UTC+8);
neither keeps daylight saving time, so a fixed offset is exact.
"""

from __future__ import annotations

import json
import logging
import string
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

LOCALES = Path(__file__).parent / "locales"
LANGUAGES = ("vi", "en")
ZONES = {"vn": timezone(timedelta(hours=7)), "cn": timezone(timedelta(hours=8))}


@cache
def catalogue(lang: str) -> dict[str, str]:
    if lang not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {lang!r}")
    return json.loads((LOCALES / f"{lang}.json").read_text(encoding="utf-8"))


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def translate(lang: str, key: str, **params: object) -> str:
    text = catalogue(lang).get(key)
    if text is None:  # a page must still render; the i18n test makes this never happen in a release
        log.warning("no %s text for %r", lang, key)
        return key
    return text.format(**params) if params else text


def client_strings(lang: str) -> dict[str, str]:
    return {k: v for k, v in catalogue(lang).items() if k.startswith("js.")}


def local(value: datetime | None, zone: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return "" if value is None else value.astimezone(ZONES[zone]).strftime(fmt)


def duration(seconds: float | None) -> str:
    """`1 h 05 min`, `12 min`, `45 s`: the same in both languages."""
    if seconds is None:
        return ""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def number(value: float | None, lang: str, decimals: int = 0) -> str:
    """Grouped the local way: 32.450 in Vietnamese, 32,450 in English."""
    if value is None:
        return ""
    text = f"{value:,.{decimals}f}"
    return text.translate(str.maketrans(",.", ".,")) if lang == "vi" else text
