"""Every label of the pages exists in Vietnamese and English, with the same placeholders, and every key the
templates, scripts and code ask for is in the catalogues."""

from __future__ import annotations

import re
import typing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from central import audit, history, i18n
from central.accounts import ROLES
from central.assembly import Method
from lanewatch import contract

CENTRAL = Path(__file__).parent.parent / "central"
VI, EN = i18n.catalogue("vi"), i18n.catalogue("en")
# Vietnamese letters with diacritics: a Vietnamese catalogue without them has been typed without accents.
VIETNAMESE_MARKS = re.compile("[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]", re.I)
SAME_IN_BOTH = {"js.p85", "crossing.col.camera", "js.health.camera"}  # "85%", "Camera", "camera"


def test_both_languages_have_the_same_keys_and_placeholders():
    assert set(VI) == set(EN)
    for key in EN:
        assert VI[key].strip() and EN[key].strip(), key
        assert i18n.placeholders(VI[key]) == i18n.placeholders(EN[key]), key


def test_vietnamese_is_written_with_its_diacritics_and_not_left_in_english():
    untranslated = [k for k in EN if VI[k] == EN[k] and k not in SAME_IN_BOTH]
    assert untranslated == []
    words = [k for k, v in VI.items() if re.search(r"[a-zA-Z]{2}", v)]
    accented = [k for k in words if VIETNAMESE_MARKS.search(VI[k])]
    assert len(accented) / len(words) > 0.9
    assert VI["signin.title"] == "Đăng nhập" and VI["js.state.stale"] == "dữ liệu cũ"


def used_keys() -> set[str]:
    """Literal keys: t('…') in templates, every "word.word" string in the scripts (they pass keys through
    conditionals), and the error keys named in the page code. Keys ending in "." are completed at run time."""
    keys = set()
    for path in (CENTRAL / "templates").glob("*.html"):
        keys |= set(re.findall(r"\bt\('([a-z0-9_.]+)'", path.read_text()))
    for path in (CENTRAL / "static").glob("*.js"):
        text = path.read_text()
        pairs = re.findall(r'"([a-z0-9_]+(?:\.[a-z0-9_]+)+)"|\bt\("([a-z0-9_]+)"', text)
        keys |= {"js." + k for pair in pairs for k in pair if k}
    for path in CENTRAL.glob("*.py"):
        keys |= set(re.findall(r'"((?:history|users)\.error\.[a-z_]+|signin\.(?:failed|locked))"', path.read_text()))
    return {k for k in keys if not k.endswith(".")}


def dynamic_keys() -> set[str]:
    """Keys built from a value at run time: every value they can take."""
    device_states = set(typing.get_args(contract.CameraHealth.model_fields["state"].annotation)) | set(
        typing.get_args(contract.WeighbridgeHealth.model_fields["state"].annotation))
    keys = {f"role.{r}" for r in (*ROLES, "kiosk")}
    keys |= {f"audit.action.{a}" for a in audit.ACTIONS}
    keys |= {f"js.direction.{d}{s}" for d in ("export", "import") for s in ("", "_long")}
    keys |= {f"js.event.{e}" for e in contract.EVENT_TYPES}
    keys |= {f"js.plate_role.{r}" for r in typing.get_args(contract.PlateRead.model_fields["role"].annotation)}
    keys |= {f"js.state.{s}" for s in ("stale", "insufficient", "unknown", "closed")}
    keys |= {f"js.device.{s}" for s in device_states}
    keys |= {f"js.conn.{s}" for s in ("connecting", "live", "reconnecting", "signin")}
    keys |= {f"users.done.{a}" for a in ("add", "password", "remove")}
    keys |= {f"prefs.zone.{z}" for z in i18n.ZONES}
    keys |= {f"matched.{m}" for m in (*typing.get_args(Method), "none")}
    keys |= {f"status.{s}" for s in history.STATUSES}
    keys |= {"history.error.from", "history.error.to"}
    return keys


def test_every_key_asked_for_is_in_the_catalogues():
    used = used_keys() | dynamic_keys()
    assert len(used) > 100
    assert sorted(used - set(EN)) == []


def test_no_catalogue_entry_is_unused():
    assert sorted(set(EN) - used_keys() - dynamic_keys()) == []


@pytest.mark.parametrize("zone, shown", [("vn", "2026-12-01 06:30:05"), ("cn", "2026-12-01 07:30:05")])
def test_times_are_shown_in_the_chosen_zone(zone, shown):
    assert i18n.local(datetime(2026, 11, 30, 23, 30, 5, tzinfo=UTC), zone) == shown


def test_numbers_and_durations():
    assert i18n.number(32450, "vi") == "32.450" and i18n.number(32450, "en") == "32,450"
    assert [i18n.duration(s) for s in (45, 720, 3900, None)] == ["45 s", "12 min", "1 h 05 min", ""]
    assert i18n.translate("en", "history.count", n="7") == "7 crossings"
    assert i18n.translate("vi", "no.such.key") == "no.such.key"
