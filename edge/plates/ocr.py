"""PP-OCRv4 text detection and recognition, run directly on onnxruntime.

The two ONNX models ship inside the `rapidocr-onnxruntime` wheel (Apache-2.0); nothing is downloaded.
We call them ourselves rather than through `RapidOCR` because plates need what it hides: the
per-timestep character probabilities (to fit plate formats by position) and control over how
small crops are scaled for the detector.

Recognition output is folded onto a small plate alphabet: every dictionary entry that normalises
to a plate character (`a`, `Ａ` → `A`) adds to that character's column, separators share one
column and everything else one "other" column.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from lanewatch.plates import CN_PROVINCES, CN_TRAILER_MARK, DIGITS, normalise

DET_MODEL = "ch_PP-OCRv4_det_infer.onnx"
REC_MODEL = "ch_PP-OCRv4_rec_infer.onnx"
REC_HEIGHT = 48
REC_STRIDE = 8  # input pixels per output timestep of the recogniser
DET_MULTIPLE = 32

# Recognised characters we keep apart: everything a plate can hold plus I and O, which plates
# never carry but OCR reads for 1 and 0 (the confusion step needs their probability).
ALPHABET = DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + CN_PROVINCES + CN_TRAILER_MARK
BLANK, SEPARATOR, OTHER = 0, len(ALPHABET) + 1, len(ALPHABET) + 2
N_COLUMNS = len(ALPHABET) + 3  # blank, alphabet..., separator, other


class ModelError(RuntimeError):
    """The OCR model files are missing or not what we expect."""


def default_model_dir() -> Path:
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or spec.origin is None:
        raise ModelError("rapidocr-onnxruntime is not installed: it carries the PP-OCRv4 ONNX models")
    return Path(spec.origin).parent / "models"


@dataclass(frozen=True)
class TextBox:
    """A text line found by the detector: rotated rectangle corners (tl, tr, br, bl) in image pixels."""

    quad: np.ndarray  # float32 (4, 2)
    score: float

    @property
    def width(self) -> float:
        return float(np.linalg.norm(self.quad[1] - self.quad[0]))

    @property
    def height(self) -> float:
        return float(np.linalg.norm(self.quad[3] - self.quad[0]))

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        x, y = self.quad[:, 0], self.quad[:, 1]
        return float(x.min()), float(y.min()), float(x.max()), float(y.max())


def _session(path: Path, threads: int) -> ort.InferenceSession:
    if not path.is_file():
        raise ModelError(f"OCR model not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class _Fold:
    """How the recogniser's classes fold onto ours: gather `source` columns, sum runs starting at `starts`."""

    source: np.ndarray  # class indices, grouped by target column
    starts: np.ndarray  # first position of each target column's run in `source`
    targets: np.ndarray  # target column of each run

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        out = np.zeros((probs.shape[0], N_COLUMNS), np.float32)
        out[:, self.targets] = np.add.reduceat(probs[:, self.source], self.starts, axis=1)
        # Softmax rows sum to one: whatever is not blank, alphabet or separator is "other".
        out[:, OTHER] = np.clip(1.0 - out.sum(axis=1), 0.0, 1.0)
        return out


def _fold(dictionary: list[str]) -> _Fold:
    index = {ch: i + 1 for i, ch in enumerate(ALPHABET)}
    classes = ["<blank>", *dictionary, " "]  # the model adds blank first and space last
    groups: dict[int, list[int]] = {BLANK: [0]}
    for cls, ch in enumerate(classes[1:], start=1):
        key = normalise(ch)
        target = SEPARATOR if key == "" else index.get(key)
        if target is not None:
            groups.setdefault(target, []).append(cls)
    targets = sorted(groups)
    source = np.array([cls for t in targets for cls in groups[t]])
    starts = np.cumsum([0] + [len(groups[t]) for t in targets[:-1]])
    return _Fold(source, starts, np.array(targets))


def order_quad(points: np.ndarray) -> np.ndarray:
    """Corners as top-left, top-right, bottom-right, bottom-left."""
    pts = np.asarray(points, np.float32).reshape(4, 2)
    by_x = pts[np.argsort(pts[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1], kind="stable")]
    tr, br = right[np.argsort(right[:, 1], kind="stable")]
    return np.array([tl, tr, br, bl], np.float32)


def warp_quad(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The quadrilateral cut out of the image and straightened to an upright rectangle."""
    tl, tr, br, bl = quad
    width = max(int(round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl)))), 2)
    height = max(int(round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr)))), 2)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    return cv2.warpPerspective(image, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


class OcrModels:
    """The detector and recogniser sessions, loaded once and warmed up."""

    def __init__(self, model_dir: Path | None = None, threads: int = 1):
        model_dir = model_dir or default_model_dir()
        self.det = _session(model_dir / DET_MODEL, threads)
        self.rec = _session(model_dir / REC_MODEL, threads)
        meta = self.rec.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise ModelError(f"{model_dir / REC_MODEL} carries no character dictionary in its metadata")
        dictionary = meta["character"].splitlines()
        self.fold = _fold(dictionary)
        self.n_classes = len(dictionary) + 2  # blank and space around the dictionary
        declared = self.rec.get_outputs()[0].shape[-1]
        if isinstance(declared, int) and declared != self.n_classes:
            raise ModelError(f"recogniser has {declared} classes but its dictionary {self.n_classes}")
        # First runs allocate; pay that at load time, not on the first truck.
        self.recognise([np.zeros((24, 94, 3), np.uint8)])
        self.detect(np.zeros((64, 64, 3), np.uint8))

    # ------------------------------------------------------------ detection
    def detect(
        self,
        image: np.ndarray,
        scale: float = 1.0,
        max_side: int = 1280,
        threshold: float = 0.3,
        min_score: float = 0.5,
    ) -> list[TextBox]:
        """Text lines in a BGR image, which is resized by `scale` (capped at `max_side`) first."""
        h, w = image.shape[:2]
        scale = min(scale, max_side / max(h, w))
        out_h = max(DET_MULTIPLE, int(round(h * scale / DET_MULTIPLE)) * DET_MULTIPLE)
        out_w = max(DET_MULTIPLE, int(round(w * scale / DET_MULTIPLE)) * DET_MULTIPLE)
        resized = cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_LINEAR if scale < 1 else cv2.INTER_CUBIC)
        tensor = (resized.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        prob = self.det.run(None, {"x": tensor})[0][0, 0]
        mask = cv2.dilate((prob > threshold).astype(np.uint8), np.ones((2, 2), np.uint8))
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        sx, sy = w / out_w, h / out_h
        boxes = []
        for contour in contours:
            (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
            if min(rw, rh) < 3:
                continue
            score = _mean_inside(prob, contour)
            if score < min_score:
                continue
            # The detector's map covers the text's core; grow it back by area/perimeter·1.6,
            # the expansion the model was trained against.
            grow = rw * rh * 1.6 / (2 * (rw + rh))
            rect = ((cx, cy), (rw + 2 * grow, rh + 2 * grow), angle)
            quad = order_quad(cv2.boxPoints(rect)) * np.array([sx, sy], np.float32)
            quad[:, 0] = quad[:, 0].clip(0, w - 1)
            quad[:, 1] = quad[:, 1].clip(0, h - 1)
            box = TextBox(quad, score)
            if box.width > 3 and box.height > 3:
                boxes.append(box)
        return boxes

    # ------------------------------------------------------------ recognition
    def recognise(self, crops: list[np.ndarray], batch: int = 8) -> list[np.ndarray]:
        """For each BGR crop of one text line, its (timesteps, N_COLUMNS) folded probabilities."""
        results: list[np.ndarray] = [np.zeros((0, N_COLUMNS), np.float32)] * len(crops)
        widths = [_rec_width(c) for c in crops]
        order = sorted(range(len(crops)), key=lambda i: widths[i])
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            width = max(widths[i] for i in chunk)
            # Pad with mid-grey (0 after normalising), the value the model was trained with.
            tensor = np.zeros((len(chunk), 3, REC_HEIGHT, width), np.float32)
            for k, i in enumerate(chunk):
                line = cv2.resize(
                    crops[i],
                    (widths[i], REC_HEIGHT),
                    interpolation=cv2.INTER_CUBIC if crops[i].shape[0] < REC_HEIGHT else cv2.INTER_AREA,
                )
                tensor[k, :, :, : widths[i]] = (line.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)
            probs = self.rec.run(None, {"x": tensor})[0]
            for k, i in enumerate(chunk):
                steps = math.ceil(widths[i] / REC_STRIDE)
                results[i] = self.fold(probs[k, :steps])
        return results


def _rec_width(crop: np.ndarray) -> int:
    h, w = crop.shape[:2]
    return int(min(max(math.ceil(REC_HEIGHT * w / max(h, 1)), REC_HEIGHT // 2), REC_HEIGHT * 25))


def _mean_inside(prob: np.ndarray, contour: np.ndarray) -> float:
    x, y, w, h = cv2.boundingRect(contour)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [contour.reshape(-1, 2) - np.array([x, y])], 1)
    return float(cv2.mean(prob[y : y + h, x : x + w], mask)[0])
