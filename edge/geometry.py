"""Zones and lines in image coordinates, tested against a truck's anchor (the bottom centre of its box)."""

from __future__ import annotations

import numpy as np

from edge.config import LineConfig, Point


def anchors(xyxy: np.ndarray) -> np.ndarray:
    """Bottom-centre points, shape (N, 2): where a truck touches the road."""
    return np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]], axis=1) if len(xyxy) else np.zeros((0, 2))


class Zone:
    def __init__(self, polygon: list[Point]):
        self.polygon = np.asarray(polygon, dtype=np.float64)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Even-odd rule, vectorised over points (N, 2) -> bool (N,)."""
        x, y = points[:, 0:1], points[:, 1:2]
        px, py = self.polygon[:, 0], self.polygon[:, 1]
        qx, qy = np.roll(px, -1), np.roll(py, -1)
        straddles = (py > y) != (qy > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = px + (y - py) * (qx - px) / (qy - py)
        return (np.count_nonzero(straddles & (x < x_cross), axis=1) % 2) == 1


class Line:
    """Forward crossing: the anchor goes from cross(end - start, p - start) < 0 to > 0,
    between the segment's ends (a truck passing beside the line does not count)."""

    def __init__(self, config: LineConfig):
        self.start = np.asarray(config.start, dtype=np.float64)
        self.end = np.asarray(config.end, dtype=np.float64)
        self._dir = self.end - self.start
        self._len2 = float(self._dir @ self._dir)

    def side(self, point: np.ndarray) -> float:
        rel = point - self.start
        return float(self._dir[0] * rel[1] - self._dir[1] * rel[0])

    def distance(self, point: np.ndarray) -> float:
        """Signed distance in pixels from the line (through start and end): positive on the forward side."""
        return self.side(point) / float(np.sqrt(self._len2))

    def crossed_forward(self, before: np.ndarray, after: np.ndarray) -> bool:
        s0, s1 = self.side(before), self.side(after)
        if not (s0 < 0 <= s1):
            return False
        # Where the movement meets the line must lie within the segment.
        t = s0 / (s0 - s1) if s0 != s1 else 0.0
        hit = before + t * (after - before)
        along = float((hit - self.start) @ self._dir) / self._len2
        return 0.0 <= along <= 1.0
