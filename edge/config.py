"""The edge's configuration: one YAML file per gate computer (see configs/edge.example.yaml)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ByteSize, Field, ValidationInfo, field_validator, model_validator

from lanewatch.config import Section, resolve_path
from lanewatch.contract import ID_PATTERN, Direction, check_id
from lanewatch.mqtt import MqttSettings

Point = tuple[float, float]


class LineConfig(Section):
    """A counting line. A truck crosses it forward when its anchor (bottom centre of its box) moves
    from the side where cross(end - start, p - start) < 0 to the side where it is > 0."""

    start: Point
    end: Point

    @model_validator(mode="after")
    def _not_a_point(self) -> LineConfig:
        if self.start == self.end:
            raise ValueError(f"line start and end must differ, got {self.start} twice")
        return self


def _polygon(value: list[Point]) -> list[Point]:
    if len(value) < 3:
        raise ValueError(f"a zone needs at least 3 points, got {len(value)}")
    return value


class GeometryConfig(Section):
    """Zones and lines in this camera's pixel coordinates."""

    queue_zone: list[Point] | None = Field(None, description="polygon where trucks wait in the queue")
    weighbridge_zone: list[Point] | None = Field(None, description="polygon of the weighbridge deck")
    entry_line: LineConfig | None = Field(None, description="crossing it forward: the truck joined the queue")
    gate_line: LineConfig | None = Field(None, description="crossing it forward: the truck's wait ended")
    exit_line: LineConfig | None = Field(None, description="crossing it forward: the truck left through the gate")

    @field_validator("queue_zone", "weighbridge_zone")
    @classmethod
    def _zones(cls, value: list[Point] | None) -> list[Point] | None:
        return None if value is None else _polygon(value)


class FileSource(Section):
    type: Literal["file"] = "file"
    path: Path = Field(description="video file")
    realtime: bool = Field(True, description="pace frames at the file's frame rate, as a live camera would")
    loop: bool = Field(False, description="start again at the end (demos)")
    start_utc: datetime | None = Field(
        None, description="UTC time of the first frame; frames are then stamped with file time, for replays"
    )

    @field_validator("path")
    @classmethod
    def _rel(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve_path(value, info)


class NetworkSource(Section):
    type: Literal["network"] = "network"
    url: str = Field(description="rtsp://… or http(s)://… MJPEG stream")


class UsbSource(Section):
    type: Literal["usb"] = "usb"
    device: int | str = Field(0, description="V4L2 device index or path such as /dev/video0")


SourceConfig = Annotated[FileSource | NetworkSource | UsbSource, Field(discriminator="type")]


class CameraConfig(Section):
    id: str = Field(pattern=ID_PATTERN, description="camera id, unique on this edge")
    source: SourceConfig
    analysis_fps: float = Field(10.0, gt=0, le=60, description="frames per second given to the detector")
    geometry: GeometryConfig = GeometryConfig()


class LaneConfig(Section):
    id: str = Field(description="lane id, unique within the site")
    direction: Direction = Field(description="export (VN→CN) or import (CN→VN)")
    cameras: list[CameraConfig] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _lane_id(cls, value: str) -> str:
        return check_id("lane", value)


class MotionDetectorConfig(Section):
    """Background subtraction: no model, a first honest detector for fixed cameras."""

    type: Literal["motion"] = "motion"
    min_area_fraction: float = Field(0.004, gt=0, lt=1, description="smallest blob kept, as a fraction of the frame")
    history_frames: int = Field(300, ge=10, description="frames the background model remembers")


DetectorConfig = Annotated[MotionDetectorConfig, Field(discriminator="type")]


class OutboxConfig(Section):
    """How much disk the outbox may use and what goes first when it is tight (see docs/delivery.md)."""

    max_bytes: ByteSize = Field(
        ByteSize(1 << 30), ge=256 << 10, title="soft size limit",
        description="above it, plate crops go first (oldest first), then the oldest delivered events; "
                    "undelivered events are kept. Accepts units: 512MiB, 1GiB",
    )
    hard_limit_bytes: ByteSize = Field(
        ByteSize(4 << 30), ge=512 << 10, title="hard size limit",
        description="above it, the oldest undelivered events are dropped for good and the status and the log "
                    "raise an alarm. The database file never grows past it; the write-ahead log adds up to a 16th",
    )
    max_age_days: float = Field(30.0, gt=0, description="delivered events older than this are deleted")
    crop_max_age_days: float = Field(7.0, gt=0, description="plate crops older than this are deleted, delivered or not")
    repair_after_s: float = Field(
        30.0, ge=1, description="re-send events the broker acknowledged but the central's receipt still lacks after "
                                "this long (a broker that crashed loses what it had not passed on)",
    )
    alarm_hold_h: float = Field(24.0, ge=0, description="how long the alarm stays up after undelivered events were dropped")

    @model_validator(mode="after")
    def _soft_below_hard(self) -> OutboxConfig:
        if self.max_bytes >= self.hard_limit_bytes:
            raise ValueError(f"max_bytes ({self.max_bytes.human_readable()}) must be below hard_limit_bytes "
                             f"({self.hard_limit_bytes.human_readable()})")
        return self


class EdgeConfig(Section):
    site: str = Field(pattern=ID_PATTERN, description="site id, e.g. laocai-kimthanh2")
    edge_id: str = Field(pattern=ID_PATTERN, description="this gate computer's id on the broker")
    mqtt: MqttSettings = MqttSettings()
    data_dir: Path = Field(Path("var/edge"), description="where the outbox and images live")
    status_interval_s: float = Field(2.0, gt=0, description="how often lane status is published (retained)")
    outbox: OutboxConfig = Field(OutboxConfig(), description="disk limits of the outbox")
    detector: DetectorConfig = MotionDetectorConfig()
    lanes: list[LaneConfig] = Field(min_length=1)

    @field_validator("data_dir")
    @classmethod
    def _rel(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve_path(value, info)

    @model_validator(mode="after")
    def _unique_ids(self) -> EdgeConfig:
        lanes = [lane.id for lane in self.lanes]
        cams = [cam.id for lane in self.lanes for cam in lane.cameras]
        for kind, ids in (("lane", lanes), ("camera", cams)):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"{kind} ids must be unique, repeated: {', '.join(dupes)}")
        return self
