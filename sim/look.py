"""How light and weather change colours: one grade applied to everything that is not a lamp."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sim.options import Light, Weather


@dataclass(frozen=True)
class Look:
    light: Light
    weather: Weather
    gain: tuple[float, float, float]  # per channel, BGR
    saturation: float
    lamps_on: bool  # headlights, street lights, lit booth windows
    exposure: float  # share of a frame interval the shutter is open (motion blur length)

    def colour(self, bgr: tuple[int, int, int]) -> tuple[int, int, int]:
        c = np.array(bgr, dtype=np.float32)
        grey = c.mean()
        c = grey + (c - grey) * self.saturation
        out = np.clip(c * np.array(self.gain), 0, 255)
        return (int(out[0]), int(out[1]), int(out[2]))

    def image(self, img: np.ndarray) -> np.ndarray:
        """The grade applied to a BGR uint8 image (a new array)."""
        f = img.astype(np.float32)
        if self.saturation != 1.0:
            grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)[:, :, None]
            f = grey + (f - grey) * self.saturation
        f *= np.array(self.gain, dtype=np.float32)
        return np.clip(f, 0, 255).astype(np.uint8)


def make_look(light: Light, weather: Weather) -> Look:
    gain, sat, lamps, exposure = {
        "day": ((1.0, 1.0, 1.0), 1.0, False, 0.25),
        "dusk": ((0.42, 0.5, 0.62), 0.8, True, 0.6),
        "night": ((0.2, 0.17, 0.15), 0.6, True, 1.0),
    }[light]
    if weather == "rain":
        gain = (gain[0] * 0.78, gain[1] * 0.78, gain[2] * 0.75)
        sat *= 0.7
        exposure = min(1.0, exposure * 1.3)
    return Look(light, weather, gain, sat, lamps, exposure)
