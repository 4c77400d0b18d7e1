"""Settings of the central's pages: accounts file, sessions, sign-in limits, kiosk token, board refresh,
history pages."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from lanewatch.config import Section, resolve_path


class WebSettings(Section):
    accounts_database: Path | None = Field(
        None, description="SQLite file of accounts, sessions and the audit log; default: accounts.sqlite next to "
                          "the history database (kept apart so history can be copied without password hashes)")
    kiosk_token: SecretStr | None = Field(
        None, min_length=32, description="when set, a wall screen opening /kiosk?token=… gets a read-only board "
                                         "session; at least 32 characters (e.g. `openssl rand -hex 24`)")
    secure_cookies: Literal["auto", "always"] = Field(
        "auto", description="auto: mark cookies Secure when the request came over TLS; always: mark them always "
                            "(behind a TLS proxy that does not send X-Forwarded-Proto)")
    session_idle_hours: float = Field(12.0, gt=0, le=24 * 7, description="a session unused this long ends (one shift)")
    session_max_days: float = Field(7.0, gt=0, le=90, description="a session ends this long after sign-in")
    kiosk_session_days: float = Field(30.0, gt=0, le=365, description="a kiosk session ends this long after it began")
    signin_max_failures: int = Field(5, ge=1, description="failed sign-ins per account or address before a lock-out")
    signin_window_s: float = Field(900.0, gt=0, description="window in which failed sign-ins are counted; "
                                                            "also how long a lock-out lasts")
    default_language: Literal["vi", "en"] = Field("vi", description="language of the pages until a viewer picks one")
    default_zone: Literal["vn", "cn"] = Field("vn", description="time zone of shown times until a viewer picks one: "
                                                               "vn (UTC+7) or cn (UTC+8)")
    board_refresh_s: float = Field(2.0, gt=0, le=60, description="the board is recomputed at least this often "
                                                                 "(ages, staleness) even without new events")
    board_chart_hours: int = Field(3, ge=1, le=24, description="hours of queue length drawn on each lane card")
    history_page_size: int = Field(50, ge=10, le=500, description="crossings per page of the history table")
    history_max_days: int = Field(92, ge=1, le=3660, description="longest time range one history query may span")

    @field_validator("accounts_database")
    @classmethod
    def _rel(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else resolve_path(value, info)

    def accounts_path(self, history_database: Path) -> Path:
        return self.accounts_database or history_database.parent / "accounts.sqlite"
