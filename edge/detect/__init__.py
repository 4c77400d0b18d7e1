"""Truck detectors. Each turns a BGR frame into `supervision.Detections` (xyxy, confidence, class_id),
with `class_id` indexing the detector's `names` ("truck", and "plate" where the model finds plates)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import supervision as sv

from edge.config import DetectorConfig, MotionDetectorConfig
from edge.detect.models import ModelError


class Detector(Protocol):
    names: tuple[str, ...]

    def detect(self, frame: np.ndarray) -> sv.Detections: ...


def detector_factory(config: DetectorConfig) -> Callable[[], Detector]:
    """Load the detector now (a bad model stops the edge at start), and return a maker of one per camera.

    The ONNX session is shared by every camera (onnxruntime runs are thread-safe); the motion
    detector keeps a background model per camera, so each gets its own.
    """
    if isinstance(config, MotionDetectorConfig):
        from edge.detect.motion import MotionDetector

        return lambda: MotionDetector(config)
    from edge.detect.onnx_yolo import YoloOnnxDetector

    shared = YoloOnnxDetector.load(config)
    if "truck" not in shared.names:
        classes = dict(enumerate(shared.names))
        raise ModelError(f"{config.model}: no model class is mapped to truck (classes: {classes});"
                         " set detector.classes, e.g. {7: truck, 5: truck} for a COCO export")
    return lambda: shared
