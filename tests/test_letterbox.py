"""The input transform shared by the edge and the training script."""

from __future__ import annotations

import numpy as np
import pytest

from edge.detect.letterbox import PAD_VALUE, letterbox, to_tensor


@pytest.mark.parametrize("frame_wh, input_wh, scale, pad", [
    ((960, 540), (512, 288), 512 / 960, (0, 0)),
    ((1920, 1080), (512, 512), 512 / 1920, (0, 112)),
    ((640, 480), (512, 288), 288 / 480, (64, 0)),
])
def test_boxes_map_back_to_the_frame(frame_wh, input_wh, scale, pad):
    frame = np.zeros((frame_wh[1], frame_wh[0], 3), np.uint8)
    padded, box = letterbox(frame, input_wh)
    assert padded.shape == (input_wh[1], input_wh[0], 3)
    assert box.scale == pytest.approx(scale) and (box.pad_x, box.pad_y) == pad
    if pad != (0, 0):
        assert (padded[0, 0] == PAD_VALUE).all()
    inside = np.array([[10.0, 20.0, 300.0, 200.0]])
    mapped = inside * scale + np.array([pad[0], pad[1]] * 2)
    assert np.allclose(box.to_frame(mapped), inside, atol=1e-3)


def test_boxes_past_the_frame_edge_are_clipped():
    _, box = letterbox(np.zeros((540, 960, 3), np.uint8), (512, 288))
    assert box.to_frame(np.array([[-20.0, -5.0, 600.0, 300.0]])).tolist() == [[0.0, 0.0, 960.0, 540.0]]


def test_tensor_is_rgb_in_0_to_1_channels_first():
    image = np.zeros((32, 64, 3), np.uint8)
    image[..., 2] = 255  # red in BGR
    tensor = to_tensor(image)
    assert tensor.shape == (1, 3, 32, 64) and tensor.dtype == np.float32
    assert tensor[0, 0].min() == pytest.approx(1.0) and tensor[0, 2].max() == 0.0
