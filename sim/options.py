"""What `lanewatch-sim generate` is asked to make, validated in one place."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Light = Literal["day", "dusk", "night"]
Weather = Literal["clear", "rain"]


def parse_utc(text: str) -> datetime:
    """ISO 8601 with Z or an offset -> aware UTC datetime; a naive time is refused."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"start_utc must be ISO 8601 such as 2025-06-02T01:00:00Z, got {text!r}") from exc
    if value.tzinfo is None:
        raise ValueError(f"start_utc needs a time zone (Z or +07:00), got {text!r}")
    return value.astimezone(UTC)


def format_utc(value: datetime) -> str:
    """ISO 8601 UTC with milliseconds and Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class GenerateOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(
        ge=0, le=2**63 - 1, description="random seed: the same seed gives the same world, truth and frames"
    )
    duration_s: float = Field(gt=0, le=7 * 24 * 3600, description="length of every video, seconds")
    out: Path = Field(description="output directory (created; existing files are overwritten)")
    lanes: int = Field(default=1, ge=1, le=12, description="number of lanes; odd lanes are export, even lanes import")
    width: int = Field(default=960, ge=160, le=3840, description="frame width in pixels")
    height: int = Field(default=540, ge=90, le=2160, description="frame height in pixels")
    fps: float = Field(default=10.0, ge=1, le=60, description="frames per second of every video")
    gate_width: int | None = Field(
        default=None, ge=160, le=3840, description="gate camera frame width (it reads plates); None: width"
    )
    gate_height: int | None = Field(
        default=None, ge=90, le=2160, description="gate camera frame height (it reads plates); None: height"
    )
    scenario: Literal["steady", "busy", "plates", "demo"] = Field(default="steady", description="traffic scenario")
    light: Light = Field(default="day", description="lighting: day, dusk, or night (headlights on)")
    weather: Weather = Field(default="clear", description="clear or rain")
    label_every: int = Field(
        default=0,
        ge=0,
        description="0: object truth for every frame; N > 0: every Nth frame with a JPEG and YOLO labels",
    )
    start_utc: datetime = Field(
        default_factory=lambda: parse_utc("2025-06-02T01:00:00Z"), description="wall-clock time of frame 0 (UTC)"
    )
    video: bool = Field(default=True, description="render and encode videos (False: truth, queue and weighbridge only)")
    weighbridge: bool = Field(
        default=True,
        description="simulate the weighbridge indicators: their timelines and byte streams (False: none; the truth's "
        "`weigh` events and weights stay, they do not come from the indicator)",
    )
    noise: float | None = Field(
        default=None, ge=0, le=40, description="sensor noise sigma in grey levels (None: by light)"
    )
    motion_blur: bool = Field(default=True, description="blur moving trucks along their motion")
    glare: bool = Field(default=False, description="sun glare by day, strong headlight bloom at dusk and night")
    rear_camera: bool = Field(
        default=False,
        description="add a rear plate camera per lane (lane-N-rear, the gate camera's frame size) that sees the"
        " backs of trucks on the deck and their rear plates",
    )
    jpeg_quality: int = Field(
        default=0, ge=0, le=100, description="0: off; otherwise pass each frame through JPEG at this quality"
    )

    @field_validator("start_utc", mode="before")
    @classmethod
    def _utc(cls, value: object) -> object:
        return parse_utc(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _even(self) -> GenerateOptions:
        if self.width % 2 or self.height % 2:
            raise ValueError(f"width and height must be even for the video encoder, got {self.width}x{self.height}")
        if (self.gate_width is None) != (self.gate_height is None):
            raise ValueError(f"gate_width and gate_height go together, got {self.gate_width} and {self.gate_height}")
        gw, gh = self.gate_width, self.gate_height
        if gw is not None and gh is not None and (gw % 2 or gh % 2):
            raise ValueError(f"gate_width and gate_height must be even for the video encoder, got {gw}x{gh}")
        return self

    def frame_size(self, role: str) -> tuple[int, int]:
        """(width, height) of one camera role's frames: the plate cameras (gate, rear) may have a larger size."""
        if role in ("gate", "rear") and self.gate_width is not None and self.gate_height is not None:
            return self.gate_width, self.gate_height
        return self.width, self.height

    @property
    def n_frames(self) -> int:
        return max(1, round(self.duration_s * self.fps))

    @property
    def sensor_noise(self) -> float:
        if self.noise is not None:
            return self.noise
        return {"day": 2.0, "dusk": 3.5, "night": 6.0}[self.light] + (1.0 if self.weather == "rain" else 0.0)
