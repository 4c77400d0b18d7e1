"""`lanewatch-edge read-plate IMAGE...`: read the plate in each image, one JSON object per line.

Example:
    $ lanewatch-edge read-plate truck.jpg crop.png missing.jpg
    {"image": "truck.jpg", "plate": "24C12345", "country": "VN", "confidence": 0.97}
    {"image": "crop.png", "plate": null, "country": null, "confidence": 0.31}
    {"image": "missing.jpg", "error": "no such file"}

An image may be a whole vehicle photo or a tight plate crop (from 94×24 px). `plate` is null when
no reading fits a VN or CN plate format confidently enough. The exit status is 1 when any image
could not be read, 2 when the OCR models cannot be loaded or an option is out of range.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np
from pydantic import ValidationError

from .ocr import ModelError
from .reader import PlateReader, PlateReaderConfig, PlateResult


class ImageError(Exception):
    """An input file that is not a readable image."""


def load_image(path: Path) -> np.ndarray:
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise ImageError("no such file") from None
    except IsADirectoryError:
        raise ImageError("is a directory, expected an image file") from None
    except OSError as exc:
        raise ImageError(f"cannot read file: {exc.strerror or exc}") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ImageError("not a readable image (expected JPEG, PNG, BMP, WebP or TIFF)")
    return image


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lanewatch-edge read-plate",
        description="Read the VN/CN licence plate in each image; one JSON object per image on stdout.",
        epilog="example: lanewatch-edge read-plate truck.jpg plate-crop.png",
    )
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="vehicle photo or plate crop")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads (default 2)")
    parser.add_argument(
        "--min-confidence",
        type=float,
        default=PlateReaderConfig().accept_confidence,
        metavar="C",
        help="print a plate only when read at least this confidently (default %(default)s)",
    )
    parser.add_argument(
        "--details", action="store_true", help="add rows, box, valid_format and candidates to each object"
    )
    return parser


def _entry(path: Path, result: PlateResult, details: bool) -> dict:
    entry: dict = {
        "image": str(path),
        "plate": result.text if result.accepted else None,
        "country": result.country if result.accepted else None,
        "confidence": round(result.confidence, 3),
    }
    if details:
        entry.update(
            text=result.text,
            rows=result.rows,
            box=list(result.box) if result.box else None,
            valid_format=result.valid_format,
            candidates=[
                {"text": c.text, "confidence": round(c.confidence, 3), "format": c.format.name if c.format else None}
                for c in result.candidates[:5]
            ],
        )
    return entry


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = _parser().parse_args(argv)
    out = out or sys.stdout
    try:
        config = PlateReaderConfig(threads=args.threads, accept_confidence=args.min_confidence)
        reader = PlateReader(config)
    except ValidationError as exc:
        options = {"threads": "--threads", "accept_confidence": "--min-confidence"}
        problems = "; ".join(f"{options.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in exc.errors())
        print(f"read-plate: {problems}", file=sys.stderr)
        return 2
    except ModelError as exc:
        print(f"read-plate: {exc}", file=sys.stderr)
        return 2
    failed = False
    for path in args.images:
        try:
            entry = _entry(path, reader.read_plate(load_image(path)), args.details)
        except (ImageError, ValueError) as exc:
            entry, failed = {"image": str(path), "error": str(exc)}, True
        print(json.dumps(entry, ensure_ascii=False), file=out, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
