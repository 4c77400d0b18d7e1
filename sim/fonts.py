"""The font plates are drawn with: Noto Sans CJK (Debian package fonts-noto-cjk), for Hanzi and Latin alike."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

FONT_ENV = "LANEWATCH_SIM_FONT"
_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Black.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc",
)
_SC_INDEX = 2  # the Simplified Chinese face inside the collection


class FontMissing(RuntimeError):
    """No CJK font to draw Chinese plates with."""


def font_path() -> Path:
    override = os.environ.get(FONT_ENV)
    if override:
        if not Path(override).is_file():
            raise FontMissing(f"{FONT_ENV}={override} is not a font file")
        return Path(override)
    for candidate in _CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise FontMissing(
        "the simulator draws Chinese plates with Noto Sans CJK, which is not installed: "
        "run `apt-get install fonts-noto-cjk` (or set "
        f"{FONT_ENV} to a .ttc/.otf with CJK glyphs); looked in {', '.join(_CANDIDATES)}"
    )


@lru_cache(maxsize=8)
def plate_font(size_px: int) -> ImageFont.FreeTypeFont:
    path = font_path()
    index = _SC_INDEX if path.suffix == ".ttc" else 0
    try:
        return ImageFont.truetype(str(path), size_px, index=index)
    except OSError:
        return ImageFont.truetype(str(path), size_px)
