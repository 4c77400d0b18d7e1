"""A small synthetic lane video with exact truth, for tests that must not wait for the full simulator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class Truth:
    fps: float
    width: int
    height: int
    entry_y: float
    exit_y: float
    crossings: list[tuple[int, float, float]]  # truck index, entry time (s), exit time (s)


def make_lane_video(path: Path, trucks: int = 4, fps: float = 10.0, width: int = 320, height: int = 240,
                    seed: int = 1) -> Truth:
    """Boxes drive down the frame one after another and cross two horizontal lines."""
    rng = np.random.default_rng(seed)
    entry_y, exit_y = 0.4 * height, 0.8 * height
    box_w, box_h, speed = 80, 60, 60.0  # px, px, px/s
    starts = [1.0 + i * 4.5 for i in range(trucks)]
    duration = starts[-1] + (height + box_h) / speed + 1.0
    colours = [tuple(int(c) for c in rng.integers(120, 255, 3)) for _ in range(trucks)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    background = np.full((height, width, 3), 60, np.uint8)
    cv2.line(background, (0, int(entry_y)), (width, int(entry_y)), (200, 200, 200), 1)
    for frame in range(int(duration * fps)):
        t = frame / fps
        image = background.copy()
        for start, colour in zip(starts, colours, strict=True):
            bottom = (t - start) * speed
            if bottom <= 0 or bottom - box_h > height:
                continue
            x0 = width // 2 - box_w // 2
            cv2.rectangle(image, (x0, int(bottom - box_h)), (x0 + box_w, int(bottom)), colour, -1)
            cv2.rectangle(image, (x0 + 10, int(bottom - 15)), (x0 + 40, int(bottom - 5)), (20, 200, 230), -1)
        writer.write(image)
    writer.release()
    crossings = [(i, s + entry_y / speed, s + exit_y / speed) for i, s in enumerate(starts)]
    return Truth(fps, width, height, entry_y, exit_y, crossings)
