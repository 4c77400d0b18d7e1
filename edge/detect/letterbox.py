"""The YOLO input transform, shared by the edge and the training script so both see the same pixels.

A frame is scaled to fit the model's input (width × height pixels, usually square) keeping its aspect
ratio, centred, and the border filled with grey 114, as Ultralytics exports expect; boxes map back
with `Letterbox.to_frame`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    scale: float  # input pixels per frame pixel
    pad_x: int
    pad_y: int
    frame_wh: tuple[int, int]

    def to_frame(self, xyxy: np.ndarray) -> np.ndarray:
        """Boxes in input pixels -> boxes in frame pixels, clipped to the frame."""
        out = xyxy.astype(np.float32, copy=True)
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale
        w, h = self.frame_wh
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, w)
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, h)
        return out


def letterbox(frame_bgr: np.ndarray, size_wh: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """BGR uint8 frame -> (height×width×3 BGR uint8 padded image, the transform)."""
    h, w = frame_bgr.shape[:2]
    in_w, in_h = size_wh
    scale = min(in_w / w, in_h / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    # INTER_AREA averages the pixels it drops: a 1080p frame shrunk 6× keeps thin features (plates, edges).
    resized = cv2.resize(frame_bgr, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    pad_x, pad_y = (in_w - new_w) // 2, (in_h - new_h) // 2
    canvas = np.full((in_h, in_w, 3), PAD_VALUE, np.uint8)
    canvas[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = resized
    return canvas, Letterbox(scale, pad_x, pad_y, (w, h))


def to_tensor(padded_bgr: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """Padded BGR uint8 image -> [1, 3, H, W] RGB in 0..1, the export's input."""
    rgb = padded_bgr[:, :, ::-1].transpose(2, 0, 1)
    return (np.ascontiguousarray(rgb, dtype=dtype) * dtype(1 / 255))[None]
