"""Is a plate worth reading in this frame? Size and sharpness gates, checked before any OCR.

A track offers its plate on many frames; reading the small, blurred ones costs CPU and adds
wrong votes. Sharpness is the variance of the Laplacian at a fixed height, so that a plate seen
large and one seen small are judged on the same scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .locate import TWO_ROW_MAX_ASPECT

SHARPNESS_HEIGHT = 32  # plate crops are resized to this height before measuring sharpness
TWO_ROW_WIDTH = 3.0  # a square-ish plate box must be this many times the one-row minimum height wide


@dataclass(frozen=True)
class Quality:
    height_px: float
    sharpness: float
    ok: bool
    reason: str | None = None


def sharpness(crop_bgr: np.ndarray) -> float:
    """Variance of the Laplacian of the crop's grey image scaled to `SHARPNESS_HEIGHT` rows."""
    grey = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY) if crop_bgr.ndim == 3 else crop_bgr
    h, w = grey.shape[:2]
    if h < 2 or w < 2:
        return 0.0
    width = max(2, int(round(w * SHARPNESS_HEIGHT / h)))
    scaled = cv2.resize(
        grey, (width, SHARPNESS_HEIGHT), interpolation=cv2.INTER_AREA if h > SHARPNESS_HEIGHT else cv2.INTER_LINEAR
    )
    return float(cv2.Laplacian(scaled, cv2.CV_64F).var())


def plate_quality(crop_bgr: np.ndarray, min_height_px: float, min_sharpness: float) -> Quality:
    """Whether a plate crop is worth reading. `min_height_px` is for a one-row plate. A square-ish
    box may be a two-row plate, whose characters are smaller for its height, or a one-row plate in
    a loose detector box: it must also be `TWO_ROW_WIDTH` times `min_height_px` wide (characters
    are 0.14–0.2 of a plate's width in every VN and CN layout, so width judges both alike)."""
    height = float(crop_bgr.shape[0]) if crop_bgr.size else 0.0
    width = float(crop_bgr.shape[1]) if crop_bgr.size else 0.0
    if height < min_height_px:
        return Quality(height, 0.0, False, f"plate {height:.0f} px high, below {min_height_px:.0f} px")
    if width / height <= TWO_ROW_MAX_ASPECT and width < TWO_ROW_WIDTH * min_height_px:
        needed = TWO_ROW_WIDTH * min_height_px
        return Quality(height, 0.0, False, f"square-ish plate {width:.0f} px wide, below {needed:.0f} px")
    value = sharpness(crop_bgr)
    if value < min_sharpness:
        return Quality(height, value, False, f"plate sharpness {value:.0f}, below {min_sharpness:.0f}")
    return Quality(height, value, True)
