"""`lanewatch-edge read-plate IMAGE...`: one JSON object per image, errors per image, exit status."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from plate_synth import camera, random_plate, render_plate, scene

from edge.plates.cli import main

ROOT = Path(__file__).parent.parent


def _run(argv: list[str]) -> tuple[int, list[dict]]:
    out = io.StringIO()
    code = main(argv, out=out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def test_plates_are_printed_and_bad_files_get_an_error_entry(tmp_path: Path) -> None:
    rng = random.Random(21)
    vn_text, cn_text = random_plate("vn1", rng), random_plate("cn_blue", rng)
    crop = tmp_path / "crop.png"
    cv2.imwrite(str(crop), cv2.resize(render_plate(vn_text, "vn1", rng), (94, 24), interpolation=cv2.INTER_AREA))
    photo = tmp_path / "truck photo.jpg"
    cv2.imwrite(str(photo), scene(cn_text, "cn_blue", rng, plate_height=44).image)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.jpg"

    code, entries = _run([str(crop), str(broken), str(missing), str(photo), str(empty), str(tmp_path)])

    assert code == 1
    assert [e["image"] for e in entries] == [
        str(crop),
        str(broken),
        str(missing),
        str(photo),
        str(empty),
        str(tmp_path),
    ]
    assert entries[0] == {"image": str(crop), "plate": vn_text, "country": "VN", "confidence": entries[0]["confidence"]}
    assert 0.5 <= entries[0]["confidence"] <= 1
    assert entries[3]["plate"] == cn_text and entries[3]["country"] == "CN"
    assert "not a readable image" in entries[1]["error"] and set(entries[1]) == {"image", "error"}
    assert entries[2]["error"] == "no such file"
    assert "not a readable image" in entries[4]["error"]
    assert "directory" in entries[5]["error"]


def test_an_image_without_a_plate_prints_null(tmp_path: Path) -> None:
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), (camera(render_plate("24C12345", "vn1", random.Random(1)), random.Random(1), 40) * 0 + 90))
    code, entries = _run([str(blank)])
    assert code == 0
    assert entries == [{"image": str(blank), "plate": None, "country": None, "confidence": entries[0]["confidence"]}]


def test_details_add_rows_box_and_candidates(tmp_path: Path) -> None:
    rng = random.Random(4)
    text = random_plate("vn2", rng)
    path = tmp_path / "square.png"
    cv2.imwrite(str(path), camera(render_plate(text, "vn2", rng), rng, 96))
    code, (entry,) = _run(["--details", str(path)])
    assert code == 0 and entry["plate"] == text and entry["rows"] == 2
    assert entry["valid_format"] is True and entry["candidates"][0]["text"] == text and len(entry["box"]) == 4


def test_runs_as_a_program(tmp_path: Path) -> None:
    rng = random.Random(2)
    text = random_plate("cn_yellow", rng)
    path = tmp_path / "p.png"
    cv2.imwrite(str(path), camera(render_plate(text, "cn_yellow", rng), rng, 36))
    done = subprocess.run(
        [sys.executable, "-m", "edge.plates.cli", str(path), str(tmp_path / "nope.png")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 1, done.stderr
    assert lines[0]["plate"] == text and lines[1]["error"] == "no such file"


def test_out_of_range_options_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--min-confidence", "1.5", "x.png"]) == 2
    assert "--min-confidence" in capsys.readouterr().err


def test_min_confidence_decides_what_is_printed(tmp_path: Path) -> None:
    rng = random.Random(21)
    text = random_plate("vn1", rng)
    path = tmp_path / "crop.png"
    cv2.imwrite(str(path), cv2.resize(render_plate(text, "vn1", rng), (94, 24), interpolation=cv2.INTER_AREA))
    _, (entry,) = _run(["--min-confidence", "1.0", str(path)])
    assert entry["plate"] is None and entry["confidence"] < 1.0
    _, (entry,) = _run(["--min-confidence", "0", str(path)])
    assert entry["plate"] == text
