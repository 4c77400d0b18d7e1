"""The installer tools as installers run them: `lanewatch-edge detect` and `lanewatch-edge snapshot`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import yaml

DATA = Path(__file__).parent / "data"
FRAMES = sorted((DATA / "sim-frames").glob("*.jpg"))


def edge(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, timeout=120)


def labelled_trucks(image: Path) -> int:
    return sum(1 for line in image.with_suffix(".txt").read_text().splitlines() if line.split()[0] == "0")



def test_detect_prints_one_line_per_image_and_an_error_entry_for_a_bad_one(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    images = [str(FRAMES[0]), str(broken), str(tmp_path / "missing.jpg"), str(FRAMES[1])]
    result = edge("detect", "--confidence", "0.5", *images)
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["image"] for line in lines] == images
    assert lines[1] == {"image": str(broken), "error": "cannot read as an image (expected JPEG, PNG, BMP…)"}
    assert lines[2] == {"image": str(tmp_path / "missing.jpg"), "error": "file not found"}
    for line, frame in ((lines[0], FRAMES[0]), (lines[3], FRAMES[1])):
        trucks = [d for d in line["detections"] if d["class"] == "truck"]
        assert bool(trucks) == (labelled_trucks(frame) > 0)
        for d in line["detections"]:
            x1, y1, x2, y2 = d["box"]
            assert 0 <= x1 < x2 <= 960 and 0 <= y1 < y2 <= 540 and 0.5 <= d["confidence"] <= 1


def test_detect_with_a_users_export_and_class_map():
    model = str(DATA / "coco-layout.onnx")
    theirs = edge("detect", "--model", model, "--classes", "7=truck,5=truck", *map(str, FRAMES))
    ours = edge("detect", *map(str, FRAMES))
    assert theirs.returncode == 0 and ours.returncode == 0, theirs.stderr + ours.stderr
    for mine, user in zip(map(json.loads, ours.stdout.splitlines()), map(json.loads, theirs.stdout.splitlines()),
                          strict=True):
        assert {d["class"] for d in user["detections"]} <= {"truck"}
        assert user["detections"] == [d for d in mine["detections"] if d["class"] == "truck"]


def test_detect_with_a_bad_class_map_says_what_was_expected():
    result = edge("detect", "--classes", "truck", str(FRAMES[0]))
    assert result.returncode == 2
    assert "expected INDEX=NAME pairs such as 7=truck,5=truck, got 'truck'" in result.stderr


def write_clip(path: Path, frame: np.ndarray, count: int = 5) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (frame.shape[1], frame.shape[0]))
    for _ in range(count):
        writer.write(frame)
    writer.release()


def snapshot_config(tmp_path: Path, video: Path) -> Path:
    config = {
        "site": "laocai", "edge_id": "gate1",
        "lanes": [{"id": "out-1", "direction": "export", "cameras": [{
            "id": "cam1", "source": {"type": "file", "path": str(video)},
            "geometry": {"queue_zone": [[300, 100], [700, 100], [800, 520], [200, 520]],
                         "entry_line": {"start": [300, 150], "end": [700, 150]}}}]}],
    }
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_snapshot_draws_zones_lines_and_detections(tmp_path):
    frame = cv2.imread(str(FRAMES[0]))
    write_clip(tmp_path / "cam1.avi", frame)
    out = tmp_path / "cam1.png"
    result = edge("snapshot", "--config", str(snapshot_config(tmp_path, tmp_path / "cam1.avi")), "--camera", "cam1",
                  "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["size"] == [960, 540] and summary["detections"]["truck"] >= labelled_trucks(FRAMES[0])
    drawn = cv2.imread(str(out))
    assert drawn.shape == frame.shape
    # The entry line is drawn in green across its whole length.
    row = drawn[150, 320:680].astype(int)
    assert (row[:, 1] > 200).mean() > 0.9 and (row[:, 0] < 60).mean() > 0.9


def test_snapshot_of_an_unknown_camera_lists_the_known_ones(tmp_path):
    result = edge("snapshot", "--config", str(snapshot_config(tmp_path, tmp_path / "x.avi")), "--camera", "cam9",
                  "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert "no camera 'cam9' in the config; expected one of: cam1" in result.stderr


def test_snapshot_of_a_camera_that_cannot_be_opened_says_so(tmp_path):
    result = edge("snapshot", "--config", str(snapshot_config(tmp_path, tmp_path / "gone.avi")), "--camera", "cam1",
                  "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert f"camera cam1: cannot open {tmp_path / 'gone.avi'}" in result.stderr
