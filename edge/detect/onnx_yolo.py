"""YOLO detector on onnxruntime, for any export in the Ultralytics v8/11 layout.

Input `[1, 3, H, W]` (Ultralytics exports are square): the frame letterboxed to W×H, RGB, 0..1.
Output `[1, 4+C, N]`: for each of N candidates, the box centre, width and height in input pixels,
then C class scores. The project's own model (models/) is exported in this layout too, so a user's
`yolo11n.onnx` and ours share this code; the config's class map says which model classes are our
trucks (COCO: truck=7, bus=5).
"""

from __future__ import annotations

import ast
import logging
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import supervision as sv

from edge.config import YoloOnnxDetectorConfig
from edge.detect.letterbox import letterbox, to_tensor
from edge.detect.models import EXPECTED_LAYOUT, ModelError, verify_model_file

log = logging.getLogger(__name__)

CLASS_NAMES = ("truck", "plate")  # our classes; class_id in the detections indexes this
DYNAMIC_INPUT_SIZE = 640  # what Ultralytics exports at when a dynamic model gets no input_size


class YoloOnnxDetector:
    """Load with `YoloOnnxDetector.load(config)`; `detect(frame)` is safe to call from several threads."""

    def __init__(self, session: ort.InferenceSession, path: Path, input_wh: tuple[int, int], classes: dict[int, str],
                 config: YoloOnnxDetectorConfig):
        self.session, self.path, self.input_wh, self.config = session, path, input_wh, config
        self.names = tuple(dict.fromkeys(classes.values()))  # our class names, in class_id order
        self._input = session.get_inputs()[0].name
        self._dtype = np.float16 if session.get_inputs()[0].type == "tensor(float16)" else np.float32
        # For each of our classes, the model's class indices that count as it (truck <- truck, bus).
        self._model_classes = [np.array([k for k, v in classes.items() if v == name]) for name in self.names]

    @classmethod
    def load(cls, config: YoloOnnxDetectorConfig, classes: dict[int, str] | None = None) -> YoloOnnxDetector:
        """Open, verify, check the layout and warm up; raises ModelError naming the file and what was expected."""
        path = config.model
        entry = verify_model_file(path, config.sha256)
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Busy-waiting worker threads would steal the shared cores from the other cameras.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable files
            raise ModelError(f"{path}: not a usable ONNX model ({str(exc).splitlines()[0][:200]}); "
                             f"expected {EXPECTED_LAYOUT}") from None
        input_wh = _check_input(path, session, config.input_size)
        class_map = classes or config.classes or _manifest_classes(entry) or _metadata_classes(session)
        if not class_map:
            raise ModelError(f"{path}: no class map: set detector.classes (e.g. {{7: truck, 5: truck}} for COCO); "
                             "the model has no manifest entry and no class names inside")
        detector = cls(session, path, input_wh, class_map, config)
        detector._warm_up()
        log.info("detector loaded: %s (input %dx%d px, classes %s, %d thread(s))", path.name, *input_wh,
                 {k: v for k, v in sorted(class_map.items())}, config.threads)
        return detector

    def _warm_up(self) -> None:
        """One zero tensor through the session: checks the output layout and pays the first-run cost now."""
        started = time.monotonic()
        w, h = self.input_wh
        zeros = np.zeros((1, 3, h, w), self._dtype)
        try:
            (out, *_) = self.session.run(None, {self._input: zeros})
        except Exception as exc:
            raise ModelError(f"{self.path}: fails on a [1, 3, {h}, {w}] input "
                             f"({str(exc).splitlines()[0][:200]}); expected {EXPECTED_LAYOUT}") from None
        shape = tuple(out.shape)
        largest = max(cls for ours in self._model_classes for cls in ours.tolist())
        if len(shape) != 3 or shape[0] != 1 or shape[1] < 5 or shape[2] < shape[1]:
            raise ModelError(f"{self.path}: output shape is {list(shape)}, expected [1, 4+classes, N] "
                             "(N candidates, more than 4+classes); "
                             "a transposed [1, N, 4+classes] export is not supported")
        if largest >= shape[1] - 4:
            raise ModelError(f"{self.path}: output shape {list(shape)} has {shape[1] - 4} classes, "
                             f"but the class map uses class {largest}; expected [1, {4 + largest + 1}+, N]")
        log.debug("warm-up took %.0f ms", (time.monotonic() - started) * 1000)

    def detect(self, frame: np.ndarray) -> sv.Detections:
        """BGR frame -> detections in frame pixels; class_id indexes `self.names`."""
        padded, box = letterbox(frame, self.input_wh)
        (out, *_) = self.session.run(None, {self._input: to_tensor(padded, self._dtype)})
        return self.decode(out[0].astype(np.float32, copy=False), box)

    def decode(self, candidates: np.ndarray, box) -> sv.Detections:  # noqa: ANN001 - Letterbox
        """[4+C, N] model output -> thresholded, suppressed detections in frame pixels."""
        scores_by_model_class = candidates[4:]
        ours = np.stack([scores_by_model_class[idx].max(axis=0) for idx in self._model_classes])  # [K, N]
        class_id = ours.argmax(axis=0)
        confidence = ours[class_id, np.arange(ours.shape[1])]
        keep = confidence >= self.config.confidence
        if not keep.any():
            return sv.Detections.empty()
        cx, cy, w, h = candidates[:4, keep]
        class_id, confidence = class_id[keep], confidence[keep]
        xywh = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)
        chosen = cv2.dnn.NMSBoxesBatched(xywh.tolist(), confidence.tolist(), class_id.tolist(),
                                         self.config.confidence, self.config.iou, top_k=self.config.max_detections)
        chosen = np.asarray(chosen, dtype=int).reshape(-1)
        xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)[chosen]
        return sv.Detections(
            xyxy=box.to_frame(xyxy),
            confidence=confidence[chosen].astype(np.float32),
            class_id=class_id[chosen].astype(int),
            data={"class_name": np.array([self.names[c] for c in class_id[chosen]])},
        )


def _check_input(path: Path, session: ort.InferenceSession, wanted: int | None) -> tuple[int, int]:
    """The model's input (width, height): its own if fixed, else `wanted` (square)."""
    inputs = session.get_inputs()
    shape = list(inputs[0].shape) if inputs else []
    expected = f"[1, 3, {wanted or 'H'}, {wanted or 'W'}]"
    float_input = bool(inputs) and inputs[0].type in ("tensor(float)", "tensor(float16)")
    if len(inputs) != 1 or len(shape) != 4 or shape[1] != 3 or not float_input:
        raise ModelError(f"{path}: input is {[(i.name, i.shape, i.type) for i in inputs]}, "
                         f"expected one float input {expected}")
    height, width = shape[2], shape[3]
    if isinstance(height, int) and isinstance(width, int):
        if height % 32 or width % 32:
            raise ModelError(f"{path}: input shape is {shape}, expected height and width that are multiples of 32")
        if wanted is not None and (wanted, wanted) != (height, width):
            raise ModelError(f"{path}: input shape is {shape}, but detector.input_size is {wanted}: "
                             f"expected [1, 3, {wanted}, {wanted}] (or leave input_size empty)")
        return width, height
    return (wanted, wanted) if wanted else (DYNAMIC_INPUT_SIZE, DYNAMIC_INPUT_SIZE)


def _manifest_classes(entry: dict | None) -> dict[int, str] | None:
    if not entry or "classes" not in entry:
        return None
    return {int(k): str(v) for k, v in entry["classes"].items()}


def _metadata_classes(session: ort.InferenceSession) -> dict[int, str] | None:
    """Ultralytics writes `names` ("{0: 'person', …}") into the model's metadata."""
    text = session.get_modelmeta().custom_metadata_map.get("names")
    if not text:
        return None
    try:
        names = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return {int(k): str(v) for k, v in names.items()} if isinstance(names, dict) else None
