"""Model files: the manifest beside them and the checksum the edge verifies before loading one.

`models/manifest.json` lists every model the project ships:
`{"models": [{"file": "x.onnx", "sha256": "…", "classes": {"0": "truck"}, "input": [1, 3, 320, 320], …}]}`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
EXPECTED_LAYOUT = "a YOLO ONNX export: input [1, 3, H, W] (RGB 0..1, letterboxed), output [1, 4+classes, N]"


class ModelError(Exception):
    """A detector model that cannot be used; the message names the file and what was expected."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_entry(model: Path) -> dict[str, Any] | None:
    """The model's entry in the manifest.json of its folder, if it has one."""
    manifest = model.parent / MANIFEST
    if not manifest.is_file():
        return None
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8"))["models"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{manifest}: not a model manifest ({exc}); "
                         'expected {"models": [{"file": …, "sha256": …}]}') from None
    return next((e for e in entries if e.get("file") == model.name), None)


def verify_model_file(model: Path, sha256: str | None) -> dict[str, Any] | None:
    """Check that the file exists and is the one expected; returns its manifest entry (or None).

    The expected checksum is the config's, else the manifest's; a model in neither is loaded unverified.
    """
    if not model.is_file():
        raise ModelError(f"{model}: model file not found; expected {EXPECTED_LAYOUT}")
    entry = manifest_entry(model)
    expected = sha256 or (entry or {}).get("sha256")
    if expected:
        actual = sha256_of(model)
        if actual != expected:
            origin = "the config's detector.sha256" if sha256 else f"{model.parent / MANIFEST}"
            raise ModelError(f"{model}: sha256 is {actual}, expected {expected} (from {origin}); "
                             "the file is damaged or not the model that was vetted")
    return entry
