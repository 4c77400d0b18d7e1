"""Read one plate from one image: a tight crop, a detector's plate box, or a whole vehicle photo.

With a hint box (the truck detector's `plate` class) only that region is read. Without one, a
small plate-shaped image is read as a plate crop, and anything else is searched: the text
detector runs over the whole image, its lines are grouped into plate proposals, each is read,
and the most promising few are read again from a sharper, re-detected crop of their region.

Reading a region tries the ways the plate could lie in it, cheapest first (the whole region as
one line, the detector's rows alone and stacked, the region cut into two rows), on the region as
cut and on a copy warped upright from the plate's outline, until a reading fits a plate format
confidently. The reading that fits a format with the highest confidence wins.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from lanewatch.config import Section
from lanewatch.plates import Country

from .decode import Candidate, candidates, line_slots
from .locate import (
    ONE_ROW_MIN_ASPECT,
    TWO_ROW_ASPECT,
    TWO_ROW_MAX_ASPECT,
    Line,
    Proposal,
    background_colour,
    group_rows,
    plate_quad,
    proposals,
    split_rows,
    whole_line,
)
from .ocr import OcrModels, TextBox, warp_quad

XYXY = tuple[float, float, float, float]

# Colours each format family is issued in; a reading on a plate of another colour is less likely.
_FORMAT_COLOURS = {
    ("CN", "new_energy"): {"green", "white", "yellow"},
    ("CN", "standard"): {"blue", "yellow", "white"},
    ("CN", "trailer"): {"yellow"},
    ("VN", "standard"): {"white", "yellow", "blue"},
    ("VN", "special"): {"white", "yellow", "blue"},
    ("VN", "trailer"): {"white", "yellow"},
}
COLOUR_MISMATCH = 0.6
# A wide crop is far more often a one-row plate than a two-row plate squashed into it: readings
# made on that guess start from this prior (on synthetic sets it kept 0.5–0.6 wrong reads out).
SQUASHED_TWO_ROW_PRIOR = 0.8


class PlateReaderConfig(Section):
    """How plates are located, gated and accepted."""

    model_dir: Path | None = Field(
        None, description="folder with the PP-OCRv4 det/rec ONNX files; default: the copy inside rapidocr-onnxruntime"
    )
    threads: int = Field(1, ge=1, le=16, description="onnxruntime intra-op threads for the plate models")
    accept_confidence: float = Field(0.5, ge=0, le=1, description="reads below this confidence are rejected")
    min_height_px: float = Field(
        14, ge=4, description="one-row plate boxes lower than this many pixels are not read (two-row: twice this)"
    )
    min_sharpness: float = Field(
        60, ge=0, description="plate boxes blurrier than this (Laplacian variance at 32 px height) are not read"
    )
    hint_margin: float = Field(
        0.15, ge=0, le=1, description="share of a hint box's size added around it before reading"
    )
    search_max_side: int = Field(
        1280, ge=320, le=4096, description="whole-image search runs the text detector at most this large"
    )
    search_refine: int = Field(
        3, ge=1, le=10, description="proposals re-read from a sharper crop during a whole-image search"
    )
    early_accept: float = Field(
        0.8,
        ge=0,
        le=1,
        description="stop trying further plate hypotheses once a reading fits a format this confidently",
    )
    crop_max_side: int = Field(
        480, ge=64, le=2048, description="plate-sized images up to this long side are read as plate crops, not searched"
    )


@dataclass(frozen=True)
class PlateResult:
    """What was read. `text` is None when nothing plate-like was found at all."""

    text: str | None
    country: Country | None
    rows: Literal[1, 2]
    confidence: float
    candidates: tuple[Candidate, ...]
    box: tuple[int, int, int, int] | None  # xyxy in the image given
    valid_format: bool
    accepted: bool  # valid format and confidence at or above `accept_confidence`
    crop: np.ndarray | None = field(default=None, repr=False, compare=False)  # upright plate image (BGR)


@dataclass(frozen=True)
class _Reading:
    best: Candidate
    score: float
    ranked: tuple[Candidate, ...]
    rows: int
    box: XYXY  # in the coordinates of the image that was read
    crop: np.ndarray


class PlateReader:
    """Reads VN and CN plates with the PP-OCRv4 models; one instance per process (it holds the sessions)."""

    def __init__(self, config: PlateReaderConfig | None = None, models: OcrModels | None = None):
        self.config = config or PlateReaderConfig()
        self.models = models or OcrModels(self.config.model_dir, self.config.threads)

    # ------------------------------------------------------------ public
    def read_plate(self, image_bgr: np.ndarray, hint_box: XYXY | None = None) -> PlateResult:
        """Read the plate in a BGR image, inside `hint_box` (x0, y0, x1, y1) when given."""
        image = _as_bgr(image_bgr)
        h, w = image.shape[:2]
        if hint_box is not None:
            region = _expand(_check_box(hint_box), self.config.hint_margin, w, h)
            reading = self._read_region(image, region)
        elif max(h, w) <= self.config.crop_max_side and 1.0 <= w / h <= 8.0:
            reading = self._read_region(image, (0, 0, w, h), squashed=True)
        else:
            reading = self._search(image)
        return self._result(reading)

    def search_plate(self, image_bgr: np.ndarray) -> PlateResult:
        """Search the whole image for the most plate-like text and read it, whatever the image's size
        (a rear plate camera's view of the weighbridge deck: no detector boxes its plate)."""
        return self._result(self._search(_as_bgr(image_bgr)))

    def _result(self, reading: _Reading | None) -> PlateResult:
        if reading is None:
            return PlateResult(None, None, 1, 0.0, (), None, False, False)
        best = reading.best
        fmt = best.format
        country: Country | None = fmt.country if fmt is not None else None
        confidence = round(min(1.0, reading.score), 4)
        accepted = fmt is not None and confidence >= self.config.accept_confidence
        x0, y0, x1, y1 = (int(round(v)) for v in reading.box)
        return PlateResult(
            text=best.text,
            country=country,
            rows=2 if reading.rows == 2 else 1,
            confidence=confidence,
            candidates=reading.ranked,
            box=(x0, y0, x1, y1),
            valid_format=fmt is not None,
            accepted=accepted,
            crop=reading.crop,
        )

    # ------------------------------------------------------------ one region
    def _read_region(self, image: np.ndarray, region: XYXY, squashed: bool = False) -> _Reading | None:
        """Read a region holding one plate, cheapest hypotheses first.

        The region is looked at as cut out and, when the plate's coloured outline is found, also
        warped upright from its four corners (undoing tilt, shear and perspective). On each view:
        1. the whole view as one line (a tight one-row crop: one recogniser call);
        2. the detector's rows inside it, alone and stacked in pairs;
        3. the view cut into two rows at a few heights. With `squashed` (a plate crop given as the
           whole image) a view wider than a two-row plate is first stretched to a two-row plate's
           2:1: data sets squash two-row plates into 94×24 boxes; a camera's plate box does not.
           It is tried even after an accepted one-row reading: read as one line, a squashed
           `20C` over `188.65` can give a valid, shorter plate (`20L8865`) at 0.6–0.7.
        Later steps run only while no reading fits a format at `early_accept` confidence.
        """
        x0, y0, x1, y1 = (int(round(v)) for v in region)
        crop = image[y0:y1, x0:x1]
        if crop.shape[0] < 4 or crop.shape[1] < 4:
            return None
        views: list[tuple[np.ndarray, XYXY | None]] = [(crop, None)]
        quad = plate_quad(crop)
        if quad is not None:
            qx, qy = quad[:, 0], quad[:, 1]
            views.append((warp_quad(crop, quad), (float(qx.min()), float(qy.min()), float(qx.max()), float(qy.max()))))
        Step = Callable[[np.ndarray], list[Proposal]]
        attempts: list[tuple[Step, np.ndarray, XYXY | None, float]] = []
        for cheap in (self._as_one_line, self._detected_rows):
            attempts.extend((cheap, view, box, 1.0) for view, box in views)
        for view, box in views:
            vh, vw = view.shape[:2]
            prior = 1.0
            if vw / vh > TWO_ROW_MAX_ASPECT:
                if not squashed:
                    continue
                view = cv2.resize(view, (vw, round(vw / TWO_ROW_ASPECT)), interpolation=cv2.INTER_CUBIC)
                box = box or (0.0, 0.0, float(crop.shape[1]), float(crop.shape[0]))
                prior = SQUASHED_TWO_ROW_PRIOR
            attempts.append((self._cut_in_two, view, box, prior))
        best: _Reading | None = None
        for step, view, box_in_crop, prior in attempts:
            found = self._best_of(view, step(view))
            if found is None:
                continue
            if box_in_crop is not None:  # a warped or stretched view: report the plate's outline
                found = _Reading(found.best, found.score * prior, found.ranked, found.rows, box_in_crop, found.crop)
            if best is None or _rank(found) > _rank(best):
                best = found
            if best.best.valid_format and best.score >= self.config.early_accept:
                break
        if best is None:
            return None
        bx0, by0, bx1, by1 = best.box
        return _Reading(
            best.best, best.score, best.ranked, best.rows, (bx0 + x0, by0 + y0, bx1 + x0, by1 + y0), best.crop
        )

    @staticmethod
    def _as_one_line(view: np.ndarray) -> list[Proposal]:
        h, w = view.shape[:2]
        return [Proposal((whole_line(h, w),))] if w / h >= ONE_ROW_MIN_ASPECT else []

    def _detected_rows(self, view: np.ndarray) -> list[Proposal]:
        return proposals(self._region_rows(view))

    @staticmethod
    def _cut_in_two(view: np.ndarray) -> list[Proposal]:
        h, w = view.shape[:2]
        return [Proposal(rows) for rows in split_rows(h, w)]

    def _region_rows(self, crop: np.ndarray) -> list[Line]:
        ch, cw = crop.shape[:2]
        # Upscale so characters reach the size the detector likes: a two-row plate needs twice
        # the height of a one-row plate for the same character size.
        scale = float(np.clip((192 if cw / ch <= TWO_ROW_MAX_ASPECT else 96) / ch, 0.25, 6.0))
        return group_rows(self.models.detect(crop, scale=scale, min_score=0.4))

    def _best_of(self, image: np.ndarray, props: list[Proposal]) -> _Reading | None:
        best: _Reading | None = None
        for reading in self._read_proposals(image, props):
            if reading is not None and (best is None or _rank(reading) > _rank(best)):
                best = reading
        return best

    def _read_proposals(self, image: np.ndarray, props: list[Proposal]) -> list[_Reading | None]:
        """Read every proposal, all lines in one recogniser batch.

        A two-row proposal is read twice: row by row, and with its rows stitched side by side into
        one line (`云G` + `12345`), which gives the recogniser the context of a whole plate; the
        short top row alone is where it errs most.
        """
        index: dict[bytes, int] = {}
        line_images: list[np.ndarray] = []

        def line(key: bytes, make: Callable[[], np.ndarray]) -> int:
            if key not in index:
                index[key] = len(line_images)
                line_images.append(make())
            return index[key]

        layouts: list[list[list[int]]] = []  # per proposal: ways to read it, each a list of line indices (rows)
        for prop in props:
            rows = [line(row.quad.tobytes(), functools.partial(warp_quad, image, row.quad)) for row in prop.rows]
            ways = [rows]
            if len(rows) == 2:
                key = b"stitch" + b"".join(row.quad.tobytes() for row in prop.rows)
                ways.append([line(key, functools.partial(_stitch, [line_images[i] for i in rows]))])
            layouts.append(ways)
        if not line_images:
            return [None] * len(props)
        slots = [line_slots(p) for p in self.models.recognise(line_images)]
        readings: list[_Reading | None] = []
        for prop, ways in zip(props, layouts, strict=True):
            best_of: dict[str, Candidate] = {}
            for way in ways:
                for cand in candidates([slots[i] for i in way]):
                    if cand.text not in best_of or cand.confidence > best_of[cand.text].confidence:
                        best_of[cand.text] = cand
            if not best_of:
                readings.append(None)
                continue
            x0, y0, x1, y1 = prop.xyxy
            crop = image[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))]
            colour = background_colour(crop)
            scored = sorted(
                ((_score(c, colour), c) for c in best_of.values()),
                key=lambda sc: (sc[1].valid_format, sc[0]),
                reverse=True,
            )
            score, top = scored[0]
            readings.append(_Reading(top, score, tuple(c for _, c in scored[:8]), len(prop.rows), prop.xyxy, crop))
        return readings

    # ------------------------------------------------------------ whole image
    def _search(self, image: np.ndarray) -> _Reading | None:
        h, w = image.shape[:2]
        boxes = [
            b
            for b in self.models.detect(image, scale=1.0, max_side=self.config.search_max_side)
            if _plausible(b, self.config.min_height_px)
        ]
        props = proposals(group_rows(boxes))
        # Single detector boxes too: a row merge can swallow a neighbouring label.
        props.extend(Proposal((Line(b.quad, b.score),)) for b in boxes)
        first = self._rank_proposals(image, props)
        best: _Reading | None = None
        for prop_box in first[: self.config.search_refine]:
            reading = self._read_region(image, _expand(prop_box, 0.25, w, h, min_pad=4))
            if reading is not None and (best is None or _rank(reading) > _rank(best)):
                best = reading
            if best is not None and best.best.valid_format and best.score >= self.config.early_accept:
                break
        return best

    def _rank_proposals(self, image: np.ndarray, props: list[Proposal]) -> list[XYXY]:
        """Proposal boxes ordered by how plate-like their quick reading is."""
        readings = self._read_proposals(image, props)
        scored = [(_rank(r), p.xyxy) for p, r in zip(props, readings, strict=True) if r is not None]
        scored.sort(key=lambda item: item[0], reverse=True)
        unique: list[XYXY] = []
        for _, box in scored:
            if all(_iou(box, other) < 0.5 for other in unique):
                unique.append(box)
        return unique


def _rank(reading: _Reading) -> tuple[bool, float]:
    return reading.best.valid_format, reading.score


def _score(candidate: Candidate, colour: str) -> float:
    fmt = candidate.format
    if fmt is None or colour == "other":
        return candidate.confidence
    allowed = _FORMAT_COLOURS.get((fmt.country, fmt.kind), set())
    return candidate.confidence * (1.0 if colour in allowed else COLOUR_MISMATCH)


def _stitch(rows: list[np.ndarray]) -> np.ndarray:
    """Rows scaled to one height and laid side by side, top row first."""
    height = max(r.shape[0] for r in rows)
    return np.hstack([cv2.resize(r, (max(2, round(r.shape[1] * height / r.shape[0])), height)) for r in rows])


def _plausible(box: TextBox, min_height_px: float) -> bool:
    # Plate characters fill about two thirds of a one-row plate's height, less on two-row plates.
    return box.height >= 0.4 * min_height_px and 0.6 <= box.width / max(box.height, 1e-6) <= 16


def _check_box(box: XYXY) -> XYXY:
    try:
        values = np.asarray(box, dtype=float).ravel()
    except (TypeError, ValueError):
        values = np.zeros(0)
    if values.size != 4 or not np.isfinite(values).all():
        raise ValueError(f"hint_box must be (x0, y0, x1, y1) in pixels, got {box!r}")
    return float(values[0]), float(values[1]), float(values[2]), float(values[3])


def _expand(box: XYXY, margin: float, width: int, height: int, min_pad: float = 2) -> XYXY:
    x0, y0, x1, y1 = box
    pad_x = max(min_pad, margin * (x1 - x0))
    pad_y = max(min_pad, margin * (y1 - y0))
    return max(0.0, x0 - pad_x), max(0.0, y0 - pad_y), min(float(width), x1 + pad_x), min(float(height), y1 + pad_y)


def _iou(a: XYXY, b: XYXY) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(f"image must be a uint8 numpy array, got {type(image).__name__} {getattr(image, 'dtype', '')}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"image must be H×W, H×W×3 or H×W×4, got shape {image.shape}")
    if min(image.shape[:2]) < 4:
        raise ValueError(f"image too small to hold a plate: {image.shape[1]}×{image.shape[0]} px")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:
        return np.ascontiguousarray(image[:, :, :3])
    return image
