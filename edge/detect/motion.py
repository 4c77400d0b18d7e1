"""Background-subtraction detector: finds moving or recently-arrived trucks on a fixed camera.

It needs no model and is honest about its limits (a truck that stands still for longer than the
background history fades into the background); the ONNX detector replaces it where a model is configured.
"""

from __future__ import annotations

import cv2
import numpy as np
import supervision as sv

from edge.config import MotionDetectorConfig

WORK_WIDTH = 320  # analyse a small copy: blobs the size of trucks survive, noise does not


class MotionDetector:
    names = ("truck",)  # every blob big enough is taken for a truck

    def __init__(self, config: MotionDetectorConfig):
        self.config = config
        self._subtractor = cv2.createBackgroundSubtractorMOG2(history=config.history_frames, detectShadows=False)
        self._open_kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
        # Closing with a large kernel joins a truck's cab, load and plate into one blob.
        self._close_kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (15, 15))

    def detect(self, frame: np.ndarray) -> sv.Detections:
        height, width = frame.shape[:2]
        scale = WORK_WIDTH / width
        small = cv2.resize(frame, (WORK_WIDTH, max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
        mask = self._subtractor.apply(small)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open_kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close_kernel)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_area = self.config.min_area_fraction * mask.shape[0] * mask.shape[1]
        boxes = [cv2.boundingRect(c) for c in contours if cv2.contourArea(c) >= min_area]
        if not boxes:
            return sv.Detections.empty()
        xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h in boxes], dtype=np.float32) / scale
        return sv.Detections(xyxy=xyxy, confidence=np.ones(len(boxes), np.float32), class_id=np.zeros(len(boxes), int),
                             data={"class_name": np.array(["truck"] * len(boxes))})
