"""The ONNX detector with real onnxruntime sessions: the project model, a COCO-layout export, and
models the edge must refuse at start with a message naming the file and the expected shape."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge.config import DEFAULT_MODEL, YoloOnnxDetectorConfig
from edge.detect.models import ModelError, sha256_of
from edge.detect.onnx_yolo import YoloOnnxDetector

DATA = Path(__file__).parent / "data"
FRAMES = sorted((DATA / "sim-frames").glob("*.jpg"))
MANIFEST = json.loads((DEFAULT_MODEL.parent / "manifest.json").read_text())


def truth_boxes(image_path: Path, cls: int = 0) -> np.ndarray:
    """YOLO label beside the frame -> boxes of class `cls` in pixels."""
    h, w = cv2.imread(str(image_path)).shape[:2]
    rows = [list(map(float, line.split())) for line in image_path.with_suffix(".txt").read_text().splitlines()]
    return np.array([[(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
                     for c, cx, cy, bw, bh in rows if c == cls]).reshape(-1, 4)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area = lambda x: (x[:, 2:] - x[:, :2]).prod(1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter)


CONFIDENT = 0.5  # what starts a track (tracking.track_activation_threshold)


@pytest.fixture(scope="module")
def detector() -> YoloOnnxDetector:
    return YoloOnnxDetector.load(YoloOnnxDetectorConfig(confidence=CONFIDENT))


def test_every_model_in_the_manifest_matches_its_file_and_card():
    for entry in MANIFEST["models"]:
        path = DEFAULT_MODEL.parent / entry["file"]
        assert sha256_of(path) == entry["sha256"]
        assert path.stat().st_size < 10 * 1024 * 1024
        card = (DEFAULT_MODEL.parent / entry["card"]).read_text()
        assert entry["sha256"] in card


@pytest.mark.parametrize("frame", FRAMES, ids=lambda p: p.stem)
def test_project_model_finds_the_nearest_truck_and_no_false_one(detector, frame):
    """Simulated frames of a test seed (12), never trained on. The nearest truck is found tightly;
    every confident box is on a truck (trucks hidden behind others may be missed)."""
    found = detector.detect(cv2.imread(str(frame)))
    trucks = found.xyxy[found.class_id == detector.names.index("truck")]
    want = truth_boxes(frame)
    if not len(want):
        assert len(trucks) == 0
        return
    nearest = want[np.argmax((want[:, 2:] - want[:, :2]).prod(1))][None]
    assert len(trucks) and iou(nearest, trucks).max() >= 0.8
    # The simulator's objects list every truck, also those too hidden to be labelled for training.
    every = np.array([o["box"] for o in json.loads(frame.with_suffix(".json").read_text())["objects"]])
    assert (iou(trucks, every).max(1) >= 0.3).all()


def test_detections_are_in_frame_pixels_whatever_the_frame_size(detector):
    frame = cv2.imread(str(FRAMES[0]))
    small = detector.detect(frame)
    big = detector.detect(cv2.resize(frame, (1920, 1080), interpolation=cv2.INTER_LINEAR))
    assert len(small) == len(big) > 0
    assert np.abs(np.sort(big.xyxy, 0) / 2 - np.sort(small.xyxy, 0)).max() < 4


def test_a_coco_layout_export_drops_in_with_a_class_map(detector):
    """80 classes, truck=7 and bus=5 both ours, names in the metadata: the same trucks as our layout."""
    config = YoloOnnxDetectorConfig(model=DATA / "coco-layout.onnx", classes={7: "truck", 5: "truck"},
                                    confidence=CONFIDENT)
    coco = YoloOnnxDetector.load(config)
    assert coco.names == ("truck",)
    for frame in FRAMES:
        image = cv2.imread(str(frame))
        ours = detector.detect(image)
        theirs = coco.detect(image)
        assert np.allclose(np.sort(theirs.xyxy, 0), np.sort(ours.xyxy[ours.class_id == 0], 0), atol=0.01)


def test_class_names_come_from_the_export_when_no_map_is_given():
    coco = YoloOnnxDetector.load(YoloOnnxDetectorConfig(model=DATA / "coco-layout.onnx"))
    assert len(coco.names) == 80 and coco.names[7] == "truck" and coco.names[5] == "bus"


def bad(path: Path, **config) -> str:
    with pytest.raises(ModelError) as err:
        YoloOnnxDetector.load(YoloOnnxDetectorConfig(model=path, **config))
    return str(err.value)


def test_missing_model_is_named_with_the_expected_layout(tmp_path):
    message = bad(tmp_path / "nope.onnx")
    assert str(tmp_path / "nope.onnx") in message and "[1, 3, H, W]" in message and "[1, 4+classes, N]" in message


def test_a_file_that_is_not_onnx_is_refused(tmp_path):
    (tmp_path / "model.onnx").write_text("this is not a model\n")
    message = bad(tmp_path / "model.onnx")
    assert "not a usable ONNX model" in message and "[1, 4+classes, N]" in message


def test_transposed_output_is_refused():
    message = bad(DATA / "transposed-output.onnx", classes={0: "truck"})
    assert "transposed-output.onnx: output shape is [1, 144, 6], expected [1, 4+classes, N]" in message


def test_wrong_input_channels_are_refused():
    message = bad(DATA / "gray-input.onnx", classes={0: "truck"})
    assert "gray-input.onnx: input is" in message and "expected one float input [1, 3, H, W]" in message


def test_input_size_that_does_not_fit_the_model_is_refused():
    message = bad(DEFAULT_MODEL, input_size=640)
    assert "but detector.input_size is 640: expected [1, 3, 640, 640]" in message


def test_class_map_beyond_the_models_classes_is_refused():
    message = bad(DEFAULT_MODEL, classes={7: "truck"})
    assert "has 2 classes, but the class map uses class 7" in message


def test_damaged_model_fails_the_manifest_checksum(tmp_path):
    shutil.copy(DEFAULT_MODEL, tmp_path / DEFAULT_MODEL.name)
    shutil.copy(DEFAULT_MODEL.parent / "manifest.json", tmp_path / "manifest.json")
    with (tmp_path / DEFAULT_MODEL.name).open("ab") as f:
        f.write(b"\0")
    message = bad(tmp_path / DEFAULT_MODEL.name)
    assert f"{tmp_path / DEFAULT_MODEL.name}: sha256 is " in message and "manifest.json" in message


def test_checksum_in_the_config_is_checked(tmp_path):
    message = bad(DEFAULT_MODEL, sha256="0" * 64)
    assert "expected " + "0" * 64 + " (from the config's detector.sha256)" in message


def test_edge_stops_at_start_naming_the_bad_model(tmp_path):
    config = {
        "site": "laocai", "edge_id": "gate1", "data_dir": str(tmp_path / "edge"),
        "detector": {"type": "yolo-onnx", "model": str(DATA / "transposed-output.onnx"), "classes": {0: "truck"}},
        "lanes": [{"id": "out-1", "direction": "export",
                   "cameras": [{"id": "cam1", "source": {"type": "file", "path": str(FRAMES[0])}}]}],
    }
    (tmp_path / "edge.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run([sys.executable, "-m", "edge.cli", "run", "--config", str(tmp_path / "edge.yaml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 78  # EX_CONFIG: a bad model does not heal by restarting
    assert "transposed-output.onnx: output shape is [1, 144, 6], expected [1, 4+classes, N]" in result.stderr
    assert not (tmp_path / "edge" / "outbox.sqlite").exists()
