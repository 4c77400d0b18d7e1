"""The detail pass measured by models/anchor_error.py --detail (models/detail_pass.py), with the project's model
on a simulated frame: what its figures in docs/vision.md rest on (crop boxes back in frame pixels, cut boxes
dropped, the rest of the frame untouched)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import supervision as sv

from edge.config import YoloOnnxDetectorConfig
from edge.detect.onnx_yolo import YoloOnnxDetector
from models.detail_pass import DetailDetector, Region, cut_by_crop, refine

FRAME = Path(__file__).parent / "data" / "sim-frames" / "seed12-queue-000500.jpg"  # 960x540, four queued trucks


@pytest.fixture(scope="module")
def detector() -> YoloOnnxDetector:
    return YoloOnnxDetector.load(YoloOnnxDetectorConfig())


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return cv2.imread(str(FRAME))


def test_a_crop_of_the_whole_frame_changes_nothing(detector, frame):
    full = detector.detect(frame)
    again = DetailDetector(detector, [Region(0, 0, frame.shape[1], frame.shape[0])]).detect(frame)
    np.testing.assert_array_equal(again.xyxy, full.xyxy)


def test_crop_boxes_replace_the_boxes_they_match_one_to_one():
    full = sv.Detections(xyxy=np.array([[10, 10, 50, 60], [60, 10, 100, 60], [0, 0, 8, 4]], np.float32),
                         confidence=np.array([0.9, 0.8, 0.6], np.float32), class_id=np.array([0, 0, 1]))
    crop = sv.Detections(xyxy=np.array([[11, 9, 51, 62], [200, 10, 240, 60], [0.5, 0, 8, 4]], np.float32),
                         confidence=np.array([0.5, 0.9, 0.9], np.float32), class_id=np.array([0, 0, 0]))
    out = refine(full, crop)
    # The first truck takes the crop's box; the second has no match and keeps its own; the crop's lone truck is
    # not added; a plate is never matched to a truck box; scores stay the full frame's.
    np.testing.assert_array_equal(out.xyxy, [[11, 9, 51, 62], [60, 10, 100, 60], [0, 0, 8, 4]])
    np.testing.assert_array_equal(out.confidence, full.confidence)
    np.testing.assert_array_equal(full.xyxy[0], [10, 10, 50, 60])  # the inner detector's result is left alone


def test_only_inner_crop_edges_cut():
    boxes = np.array([[0, 0, 50, 50], [100, 10, 150, 60], [190, 10, 199.5, 60], [120, 150, 150, 200]], np.float32)
    cut = cut_by_crop(boxes, (0, 0, 200, 200), (640, 200))  # top, left and bottom are the frame's edges
    assert cut.tolist() == [False, False, True, False]
