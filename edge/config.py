"""The edge's configuration: one YAML file per gate computer (see configs/edge.example.yaml)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ByteSize, Field, ValidationInfo, field_validator, model_validator

from edge.plates.rear import RearPlatesConfig
from edge.plates.stage import PlateStageConfig
from edge.weighbridge.config import WeighbridgeConfig
from lanewatch.config import Section, resolve_path
from lanewatch.contract import ID_PATTERN, Direction, check_id
from lanewatch.mqtt import MqttSettings
from lanewatch.prometheus import PrometheusSettings
from lanewatch.sdnotify import WatchdogSettings

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


class LiveSource(Section):
    """What every live camera shares: how a lost stream is noticed and reopened."""

    stall_timeout_s: float = Field(
        5.0, gt=0, le=60, description="no frame for this long and the stream is declared lost and reopened"
    )
    reconnect_initial_s: float = Field(1.0, gt=0, le=60, description="wait before the first reopen attempt")
    reconnect_max_s: float = Field(30.0, gt=0, le=600, description="cap of the doubling wait between reopen attempts")

    @model_validator(mode="after")
    def _backoff_order(self) -> LiveSource:
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError(f"reconnect_max_s must be >= reconnect_initial_s ({self.reconnect_initial_s}), "
                             f"got {self.reconnect_max_s}")
        return self


class NetworkSource(LiveSource):
    type: Literal["network"] = "network"
    url: str = Field(description="rtsp://… or http(s)://… MJPEG stream", pattern=r"^(rtsps?|https?)://")


class UsbSource(LiveSource):
    type: Literal["usb"] = "usb"
    device: int | str = Field(0, description="V4L2 device index or path such as /dev/video0")


SourceConfig = Annotated[FileSource | NetworkSource | UsbSource, Field(discriminator="type")]


class AnchorRefineConfig(Section):
    """Box bottoms near the lines measured against a background model of the empty road (edge/anchor_refine.py)."""

    enabled: bool = Field(True, description="refine the anchors of trucks near the camera's lines from the image")
    band: float = Field(
        0.1, gt=0, le=1, description="the modelled region: the lines' (and the queue zone's) bounding box widened "
        "by this share of the frame's height",
    )
    window: float = Field(
        0.25, gt=0, le=0.5, description="the bottom is searched this share of the box's height above and below "
        "the detector's (near the queue zone's sides, the ends this share of its width either side)",
    )
    min_contrast: float = Field(
        20.0, gt=0, le=255, description="grey levels a truck's pixel differs from the road by at least; a box "
        "whose bottom rows differ by less than twice this (night, a truck the colour of the road) keeps the "
        "detector's bottom",
    )
    background_s: float = Field(
        10.0, gt=0, le=600, description="time constant of the road's model (light changes); it learns only "
        "outside truck boxes",
    )


class TrackingConfig(Section):
    """ByteTrack settings, in seconds rather than frames so they hold at any analysis rate."""

    lost_track_buffer_s: float = Field(
        6.0, ge=0, le=60, description="how long a truck may go unseen (occluded, missed) and keep its id"
    )
    track_activation_threshold: float = Field(0.5, gt=0, le=1, description="detection confidence that starts a track")
    high_conf_det_threshold: float = Field(
        0.5, gt=0, le=1, description="detections below this only extend existing tracks (ByteTrack's second pass)"
    )
    minimum_iou_threshold: float = Field(
        0.3, gt=0, lt=1,
        description="box overlap needed to match a track (lower lets a track jump to a nearby false box, "
        "e.g. an empty weighbridge deck)",
    )
    minimum_consecutive_frames: int = Field(2, ge=1, le=10, description="frames seen before a track gets an id")
    rejoin_window_s: float = Field(
        5.0, ge=0, le=60,
        description="a new track that appears where a lost one vanished this recently is the same truck: "
        "lines it already crossed do not fire again",
    )
    rejoin_radius_px: float = Field(
        80.0, gt=0, description="how close (anchor to anchor, pixels) a new track must appear to a lost one"
    )
    hidden_hold_s: float = Field(
        180.0, ge=0, le=3600,
        description="a truck that vanished inside the queue zone is taken to stand hidden behind the trucks in "
        "front for up to this long: it still counts in the queue, and the next new track inside the zone is it",
    )
    duplicate_window_s: float = Field(
        3.0, ge=0, le=10,
        description="a second crossing of a line this soon after another, close to it, is the same truck seen "
        "twice (two boxes on one long truck), not a second truck: one truck needs longer to clear a line",
    )
    infer_hidden_entries: bool = Field(
        True,
        description="a truck first seen inside the queue zone crossed the entry line hidden behind the queue's "
        "tail: fire its `enter` late rather than never; turn off for a camera that sees its entry line "
        "unobstructed (e.g. from a roadside mast), where such a track is a detector's second box",
    )
    duplicate_radius_px: float = Field(
        80.0, gt=0,
        description="how close (pixels, where the two boxes crossed) a second crossing within duplicate_window_s "
        "must be to count as the same truck's second box",
    )
    queued_past_entry_px: float = Field(
        15.0, ge=0,
        description="with infer_hidden_entries off, a truck whose anchor stands this far (pixels) past the entry "
        "line counts in the queue zone even without an `enter` of its own (its track restarted after it entered); "
        "nearer the line only trucks that crossed it count",
    )
    line_fit_frames: int = Field(
        5, ge=0, le=20,
        description="a crossing's time is fitted to the truck's path over this many analysed frames either side "
        "of the line, which evens out the detector's jitter (the event leaves that many frames later); "
        "0: interpolate between the two frames around the line",
    )


class CameraConfig(Section):
    id: str = Field(pattern=ID_PATTERN, description="camera id, unique on this edge")
    source: SourceConfig
    analysis_fps: float = Field(10.0, gt=0, le=60, description="frames per second given to the detector")
    geometry: GeometryConfig = GeometryConfig()
    tracking: TrackingConfig = TrackingConfig()
    anchor_refine: AnchorRefineConfig = AnchorRefineConfig()
    rear_plates: RearPlatesConfig | None = Field(
        None,
        description="this is the lane's rear plate camera: no truck detector runs on it; it reads the plate on the "
        "back of the truck the deck camera sees alone on the weighbridge deck, inside geometry.weighbridge_zone "
        "(the deck as this camera sees it). See docs/plates.md",
    )

    @model_validator(mode="after")
    def _rear_plate_camera(self) -> CameraConfig:
        if self.rear_plates is None:
            return self
        if not self.geometry.weighbridge_zone:
            raise ValueError(f"camera {self.id}: a rear plate camera (rear_plates) needs geometry.weighbridge_zone, "
                             "the weighbridge deck as this camera sees it")
        unused = [name for name in ("queue_zone", "entry_line", "gate_line", "exit_line")
                  if getattr(self.geometry, name) is not None]
        if unused:
            raise ValueError(f"camera {self.id}: a rear plate camera (rear_plates) tracks no trucks, so its "
                             f"{', '.join(unused)} would never count anything; remove them")
        return self


class LaneConfig(Section):
    id: str = Field(description="lane id, unique within the site")
    direction: Direction = Field(description="export (VN→CN) or import (CN→VN)")
    cameras: list[CameraConfig] = Field(min_length=1)
    weighbridge: WeighbridgeConfig | None = Field(
        None, description="the lane's weighbridge indicator (see docs/weighbridge.md); its weights are joined "
        "with the truck the first camera with a weighbridge_zone (and no rear_plates) sees on the deck",
    )

    @field_validator("id")
    @classmethod
    def _lane_id(cls, value: str) -> str:
        return check_id("lane", value)

    @model_validator(mode="after")
    def _deck_camera(self) -> LaneConfig:
        if self.weighbridge is not None:
            deck = self.deck_camera
            if deck is None:
                raise ValueError("a lane with a weighbridge needs a camera with geometry.weighbridge_zone "
                                 "(the deck camera whose trucks the weights are joined with)")
            if isinstance(deck.source, FileSource) and deck.source.start_utc is not None:
                raise ValueError(f"camera {deck.id}: a replay stamped with source.start_utc has file time, which the "
                                 "weighbridge's live readings cannot be joined with; drop start_utc")
        return self

    @model_validator(mode="after")
    def _rear_camera(self) -> LaneConfig:
        rear = [c.id for c in self.cameras if c.rear_plates is not None]
        if len(rear) > 1:
            raise ValueError(f"lane {self.id}: one rear plate camera per lane, got {', '.join(rear)}")
        if rear:
            deck = self.deck_camera
            if deck is None:
                raise ValueError(f"lane {self.id}: rear plate camera {rear[0]} needs a deck camera in the lane: a "
                                 "camera with a detector and geometry.weighbridge_zone, which says which truck "
                                 "stands on the deck")
            for cam in (self.rear_camera, deck):
                assert cam is not None
                if isinstance(cam.source, FileSource) and not cam.source.realtime:
                    raise ValueError(f"camera {cam.id}: the rear plate camera is joined with the deck camera by time, "
                                     "so both must run in real time; set source.realtime: true")
            if _timebase(deck) != _timebase(self.rear_camera):
                raise ValueError(f"cameras {deck.id} and {rear[0]}: the rear plate camera is joined with the deck "
                                 "camera by time, so both must be stamped alike (source.start_utc on both, equal, "
                                 "or on neither)")
        return self

    @property
    def deck_camera(self) -> CameraConfig | None:
        """The first camera with a detector that watches the weighbridge deck."""
        return next((c for c in self.cameras if c.geometry.weighbridge_zone and c.rear_plates is None), None)

    @property
    def rear_camera(self) -> CameraConfig | None:
        """The lane's rear plate camera, if it has one."""
        return next((c for c in self.cameras if c.rear_plates is not None), None)


def _timebase(camera: CameraConfig | None) -> datetime | None:
    """A file replay stamped from `start_utc` runs on file time; everything else on the monotonic clock."""
    source = camera.source if camera is not None else None
    return source.start_utc if isinstance(source, FileSource) else None


class MotionDetectorConfig(Section):
    """Background subtraction: no model, a first honest detector for fixed cameras."""

    type: Literal["motion"] = "motion"
    min_area_fraction: float = Field(0.004, gt=0, lt=1, description="smallest blob kept, as a fraction of the frame")
    history_frames: int = Field(300, ge=10, description="frames the background model remembers")


ClassName = Literal["truck", "plate"]
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "lanewatch-truck-v3.onnx"


class YoloOnnxDetectorConfig(Section):
    """A YOLO ONNX export (Ultralytics v8/11 layout): the project's model or a user's own."""

    type: Literal["yolo-onnx"] = "yolo-onnx"
    model: Path = Field(DEFAULT_MODEL, description="the .onnx file; relative paths are relative to this config file")
    sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$",
        description="expected checksum; when empty, the manifest.json beside the model is consulted",
    )
    classes: dict[int, ClassName] | None = Field(
        None,
        description="model class index -> our class, e.g. {7: truck, 5: truck} for a COCO export; "
        "other classes are ignored; empty: take the map from the model's manifest entry",
    )
    input_size: int | None = Field(
        None, ge=32, le=2048, multiple_of=32,
        description="square input side in pixels; empty: the model's own (required for dynamic-shape exports)",
    )
    confidence: float = Field(0.35, gt=0, lt=1, description="lowest class score kept")
    iou: float = Field(0.5, gt=0, lt=1, description="non-maximum suppression: boxes overlapping more are merged")
    max_detections: int = Field(100, ge=1, le=1000, description="most boxes kept per frame")
    threads: int = Field(1, ge=1, le=16, description="onnxruntime intra-op threads per inference")

    @field_validator("model")
    @classmethod
    def _rel(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve_path(value, info)


DetectorConfig = Annotated[MotionDetectorConfig | YoloOnnxDetectorConfig, Field(discriminator="type")]


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
    alarm_hold_h: float = Field(
        24.0, ge=0, description="how long the alarm stays up after undelivered events were dropped"
    )

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
    detector: DetectorConfig = Field(
        default_factory=YoloOnnxDetectorConfig, description="the project's truck model unless configured otherwise"
    )
    lanes: list[LaneConfig] = Field(min_length=1)
    prometheus: PrometheusSettings = Field(PrometheusSettings(), description="metrics endpoint; off by default")
    watchdog: WatchdogSettings = Field(WatchdogSettings(), description="when a stalled loop gets the edge restarted")
    plates: PlateStageConfig = Field(
        default_factory=PlateStageConfig, description="plate reading of tracked trucks (see docs/plates.md)"
    )

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

    @model_validator(mode="after")
    def _rear_cameras_read(self) -> EdgeConfig:
        rear = [cam.id for lane in self.lanes for cam in lane.cameras if cam.rear_plates is not None]
        if rear and not self.plates.enabled:
            raise ValueError(f"camera(s) {', '.join(rear)} read rear plates, but plates.enabled is false; "
                             "enable the plate stage or remove rear_plates")
        return self
