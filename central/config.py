"""The central service's configuration (see configs/central.example.yaml)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationInfo, field_validator, model_validator

from central.websettings import WebSettings
from lanewatch.config import Section, resolve_path
from lanewatch.contract import ID_PATTERN, Direction, check_id
from lanewatch.mqtt import MqttSettings
from lanewatch.prometheus import PrometheusSettings
from lanewatch.sdnotify import WatchdogSettings


class LaneDef(Section):
    id: str = Field(description="lane id as the edges publish it")
    direction: Direction = Field(description="export (VN→CN) or import (CN→VN)")
    name: str | None = Field(None, description="label shown on the board")
    open: bool = Field(True, description="open when the service first sees the lane; later changes come from "
                                         "`lanewatch-central lane open|close` or the API and are kept in the database")

    @field_validator("id")
    @classmethod
    def _lane_id(cls, value: str) -> str:
        return check_id("lane", value)


class SiteDef(Section):
    id: str = Field(pattern=ID_PATTERN, description="site id as the edges publish it")
    name: str = Field(description="site name shown to people")
    timezone: str = Field("Asia/Ho_Chi_Minh", description="IANA time zone of the site: where its day starts and ends")
    lanes: list[LaneDef] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone must be an IANA zone name such as Asia/Ho_Chi_Minh, got {value!r}") from None
        return value


class HttpSettings(Section):
    host: str = Field("127.0.0.1", description="address the web server listens on")
    port: int = Field(8080, ge=0, le=65535, description="port of the web server (0: any free port)")


class AssemblySettings(Section):
    """How events become crossings (see central/assembly.py)."""

    window_min: float = Field(120.0, gt=0, le=24 * 60, description="longest wait from enter to gate that is still "
                              "joined; an enter without a gate after this long is `lost`")
    plate_max_distance: float | None = Field(None, ge=0, description="largest plate distance that still counts as "
                                             "the same plate; unset: 0.75 (three OCR confusions, below one full "
                                             "substitution)")
    plate_margin: float = Field(0.5, gt=0, description="how much closer the best plate must be than the next one; "
                                "closer rivals make the match ambiguous and it is left to order (FIFO) or unmatched")
    duplicate_enter_s: float = Field(60.0, ge=0, description="a second enter of the same plate or track within this "
                                     "many seconds is the same truck (a broken track), not a new one")
    fifo_max_block: int = Field(4, ge=0, description="most trucks paired by queue order alone between two "
                                "plate-matched trucks; 0 turns order-only matching off")
    fifo_max_distance: float = Field(1.0, ge=0, description="largest plate distance that does not contradict a "
                                     "pairing by queue order (1: one character read wrong outright)")
    settle_s: float = Field(300.0, ge=0, description="quiet time after which the last trucks of a drained queue "
                            "are paired by order")


class MetricsSettings(Section):
    """Lane figures (see central/metrics.py)."""

    update_interval_s: float = Field(30.0, gt=0, description="a lane whose newest event or edge status is older "
                                     "than this is `stale`: its figures are withheld, never shown as current")
    min_trucks: int = Field(5, ge=1, description="fewest finished trucks for a time bin's percentiles; fewer "
                            "says `insufficient_data`")
    rate_window_min: float = Field(15.0, gt=0, description="departure rate for the expected wait is measured over "
                                   "the queue's busy period since it was last empty, at least this many minutes "
                                   "(and at least the last `min_trucks` departures), at most `assembly.window_min`")
    summary_interval_s: float = Field(30.0, gt=0, description="the retained lane summary is republished at least "
                                      "this often, and whenever a figure changes")
    recompute_interval_s: float = Field(0.5, gt=0, description="a lane's crossings and figures are recomputed "
                                        "at most this often (events in between are taken together)")


class CentralConfig(Section):
    mqtt: MqttSettings = MqttSettings()
    client_id: str = Field("lanewatch-central", description="MQTT client id; keeps the persistent session")
    database: Path = Field(Path("var/central/lanewatch.sqlite"), description="SQLite history file")
    http: HttpSettings = HttpSettings()
    assembly: AssemblySettings = AssemblySettings()
    metrics: MetricsSettings = MetricsSettings()
    web: WebSettings = Field(default_factory=WebSettings, description="pages: accounts, sessions, kiosk, board")
    sites: list[SiteDef] = Field(min_length=1)
    prometheus: PrometheusSettings = Field(PrometheusSettings(), description="metrics endpoint; off by default")
    watchdog: WatchdogSettings = Field(WatchdogSettings(), description="when a stalled loop gets the service restarted")

    @field_validator("database")
    @classmethod
    def _rel(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve_path(value, info)

    @model_validator(mode="after")
    def _unique(self) -> CentralConfig:
        ids = [s.id for s in self.sites]
        if len(set(ids)) != len(ids):
            raise ValueError(f"site ids must be unique, got {ids}")
        for site in self.sites:
            lanes = [lane.id for lane in site.lanes]
            if len(set(lanes)) != len(lanes):
                raise ValueError(f"lane ids of site {site.id} must be unique, got {lanes}")
        return self

    def site(self, site: str) -> SiteDef | None:
        return next((s for s in self.sites if s.id == site), None)

    def lane(self, site: str, lane: str) -> LaneDef | None:
        for s in self.sites:
            if s.id == site:
                return next((ln for ln in s.lanes if ln.id == lane), None)
        return None
