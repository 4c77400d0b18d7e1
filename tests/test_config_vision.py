"""Vision settings in the edge config: a wrong value is named with its key path and what was expected."""

from __future__ import annotations

import pytest
import yaml

from edge.config import DEFAULT_MODEL, EdgeConfig, YoloOnnxDetectorConfig
from lanewatch.config import ConfigError, load_config

BASE = {
    "site": "laocai", "edge_id": "gate1",
    "lanes": [{"id": "out-1", "direction": "export",
               "cameras": [{"id": "cam1", "source": {"type": "network", "url": "rtsp://10.0.0.5/stream1"}}]}],
}


def check(tmp_path, change) -> str:
    config = yaml.safe_load(yaml.safe_dump(BASE))
    change(config)
    (tmp_path / "edge.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "edge.yaml", EdgeConfig)
    return str(err.value)


@pytest.mark.parametrize("change, expected", [
    (lambda c: c.update(detector={"type": "yolo", "model": "x.onnx"}),
     "detector: Input tag 'yolo' found using 'type'"),
    (lambda c: c.update(detector={"type": "yolo-onnx", "classes": {7: "car"}}),
     "detector.yolo-onnx.classes[7]: Input should be 'truck' or 'plate' (got 'car')"),
    (lambda c: c.update(detector={"type": "yolo-onnx", "input_size": 500}),
     "detector.yolo-onnx.input_size: Input should be a multiple of 32"),
    (lambda c: c.update(detector={"type": "yolo-onnx", "sha256": "abc"}),
     "detector.yolo-onnx.sha256: String should match pattern"),
    (lambda c: c["lanes"][0]["cameras"][0]["source"].update(reconnect_initial_s=10, reconnect_max_s=5),
     "reconnect_max_s must be >= reconnect_initial_s (10.0), got 5.0"),
    (lambda c: c["lanes"][0]["cameras"][0]["source"].update(url="ftp://cam/stream"),
     "source.network.url: String should match pattern"),
    (lambda c: c["lanes"][0]["cameras"][0].update(tracking={"lost_track_buffer_frames": 30}),
     "tracking.lost_track_buffer_frames: Extra inputs are not permitted"),
])
def test_bad_vision_setting_is_named(tmp_path, change, expected):
    assert expected in check(tmp_path, change)


def test_default_detector_is_the_project_model_and_a_relative_model_path_is_the_configs(tmp_path):
    assert EdgeConfig.model_validate(BASE).detector == YoloOnnxDetectorConfig(model=DEFAULT_MODEL)
    config = dict(BASE, detector={"type": "yolo-onnx", "model": "models/mine.onnx"})
    (tmp_path / "edge.yaml").write_text(yaml.safe_dump(config))
    assert load_config(tmp_path / "edge.yaml", EdgeConfig).detector.model == tmp_path / "models" / "mine.onnx"
