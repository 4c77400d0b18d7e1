"""The central service's configuration (see configs/central.example.yaml)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator, model_validator

from central.websettings import WebSettings
from lanewatch.config import Section, resolve_path
from lanewatch.contract import ID_PATTERN, Direction, check_id
from lanewatch.mqtt import MqttSettings


class LaneDef(Section):
    id: str = Field(description="lane id as the edges publish it")
    direction: Direction = Field(description="export (VN→CN) or import (CN→VN)")
    name: str | None = Field(None, description="label shown on the board")

    @field_validator("id")
    @classmethod
    def _lane_id(cls, value: str) -> str:
        return check_id("lane", value)


class SiteDef(Section):
    id: str = Field(pattern=ID_PATTERN, description="site id as the edges publish it")
    name: str = Field(description="site name shown to people")
    lanes: list[LaneDef] = Field(min_length=1)


class HttpSettings(Section):
    host: str = Field("127.0.0.1", description="address the web server listens on")
    port: int = Field(8080, ge=0, le=65535, description="port of the web server (0: any free port)")


class CentralConfig(Section):
    mqtt: MqttSettings = MqttSettings()
    client_id: str = Field("lanewatch-central", description="MQTT client id; keeps the persistent session")
    database: Path = Field(Path("var/central/lanewatch.sqlite"), description="SQLite history file")
    http: HttpSettings = HttpSettings()
    web: WebSettings = Field(default_factory=WebSettings, description="pages: accounts, sessions, kiosk, board")
    sites: list[SiteDef] = Field(min_length=1)

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

    def lane(self, site: str, lane: str) -> LaneDef | None:
        for s in self.sites:
            if s.id == site:
                return next((ln for ln in s.lanes if ln.id == lane), None)
        return None
