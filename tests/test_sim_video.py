"""The simulator's pictures: deterministic frames, videos as promised, boxes and events that agree."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from sim import fonts
from sim.camera import point_in_polygon, side_of_line
from sim.cli import main
from sim.generate import build_renderers
from sim.labels import frame_objects
from sim.options import GenerateOptions, Light, Weather
from sim.world import World

SMALL = ("--width", "320", "--height", "180")


def generate(out: Path, *args: str) -> Path:
    assert main(["generate", "--out", str(out), "--quiet", *SMALL, *args]) == 0
    return out


def frame_hashes(video: Path) -> list[str]:
    cap = cv2.VideoCapture(str(video))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(hashlib.sha256(frame.tobytes()).hexdigest())
    cap.release()
    return out


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four minutes of a busy lane at 5 fps: the first trucks get through the gate."""
    return generate(
        tmp_path_factory.mktemp("video"), "--seed", "5", "--duration", "240", "--fps", "5", "--scenario", "busy"
    )


def test_same_seed_same_frames_other_seed_differs(tmp_path: Path) -> None:
    args = ("--duration", "40", "--fps", "5", "--scenario", "busy", "--light", "night", "--weather", "rain")
    a = generate(tmp_path / "a", "--seed", "21", *args)
    b = generate(tmp_path / "b", "--seed", "21", *args)
    c = generate(tmp_path / "c", "--seed", "22", *args)
    ha, hb, hc = (frame_hashes(d / "lane-1-queue.mp4") for d in (a, b, c))
    assert len(ha) == 200 and ha == hb
    assert ha != hc
    assert (a / "objects" / "lane-1-queue.jsonl").read_bytes() == (b / "objects" / "lane-1-queue.jsonl").read_bytes()


def test_rendered_arrays_are_deterministic() -> None:
    def digest(seed: int) -> str:
        opts = GenerateOptions(
            seed=seed, duration_s=30, out=Path("unused"), width=320, height=180, fps=5, scenario="busy", glare=True
        )
        world = World(opts)
        renderers = build_renderers(world)
        h = hashlib.sha256()
        for frame in range(opts.n_frames):
            world.step(frame)
            for r in renderers.values():
                h.update(r.render(frame, world.lanes[0]).tobytes())
        return h.hexdigest()

    assert digest(4) == digest(4) != digest(8)


def test_videos_match_world_json(busy: Path) -> None:
    world = json.loads((busy / "world.json").read_text())
    assert (world["width"], world["height"], world["fps"]) == (320, 180, 5.0)
    cams = world["lanes"][0]["cameras"]
    assert [c["id"] for c in cams] == ["lane-1-queue", "lane-1-gate"]
    assert set(cams[0]["geometry"]) == {"queue_zone", "entry_line"}
    assert set(cams[1]["geometry"]) == {"weighbridge_zone", "gate_line", "exit_line"}
    for cam in cams:
        cap = cv2.VideoCapture(str(busy / cam["video"]))
        assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 1200
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(5.0)
        assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (320, 180)
        cap.release()
        lines = jsonl(busy / "objects" / f"{cam['id']}.jsonl")
        assert [ln["frame"] for ln in lines] == list(range(1200))
        for ln in lines:
            for obj in ln["objects"]:
                x1, y1, x2, y2 = obj["box"]
                assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 180
                assert 0.0 <= obj["visible_fraction"] <= 1.0
                if obj["plate_box"]:
                    px1, py1, px2, py2 = obj["plate_box"]
                    assert x1 - 0.5 <= px1 < px2 <= x2 + 0.5 and y1 - 0.5 <= py1 < py2 <= y2 + 0.5


def _anchor(obj: dict) -> tuple[float, float]:
    x1, _, x2, y2 = obj["box"]
    return ((x1 + x2) / 2, y2)


def test_events_happen_where_the_boxes_cross_the_lines(busy: Path) -> None:
    world = json.loads((busy / "world.json").read_text())
    geo = {c["role"]: c["geometry"] for c in world["lanes"][0]["cameras"]}
    objects = {role: jsonl(busy / "objects" / f"lane-1-{role}.jsonl") for role in ("queue", "gate")}
    trucks = jsonl(busy / "truth.jsonl")
    checked = {"enter": 0, "gate": 0, "exit": 0, "weigh": 0}
    for t in trucks:
        for event, role, line in (
            ("enter", "queue", "entry_line"),
            ("gate", "gate", "gate_line"),
            ("exit", "gate", "exit_line"),
        ):
            if not t[event]:
                continue
            f = t[event]["frame"]
            ln = geo[role][line]
            # Boxes are written to 0.1 px: an anchor may move by 0.05 px each way, the side value by this much.
            slack = 0.05 * (abs(ln["end"][0] - ln["start"][0]) + abs(ln["end"][1] - ln["start"][1]))
            now = next(o for o in objects[role][f]["objects"] if o["truck"] == t["truck"])
            assert side_of_line(ln["start"], ln["end"], _anchor(now)) > -slack
            before = [o for o in objects[role][f - 1]["objects"] if o["truck"] == t["truck"]]
            if before:
                assert side_of_line(ln["start"], ln["end"], _anchor(before[0])) <= slack
            checked[event] += 1
        if t["weigh"]:
            f = t["weigh"]["frame"]
            on_deck = next(o for o in objects["gate"][f]["objects"] if o["truck"] == t["truck"])
            assert point_in_polygon(geo["gate"]["weighbridge_zone"], _anchor(on_deck))
            later = next(o for o in objects["gate"][f + 5]["objects"] if o["truck"] == t["truck"])
            assert later["box"] == on_deck["box"], "the truck moved while weighing"
            checked["weigh"] += 1
    assert checked["enter"] >= 10 and checked["gate"] >= 1 and checked["weigh"] >= 1 and checked["exit"] >= 1


def test_plates_are_drawn_inside_their_boxes() -> None:
    opts = GenerateOptions(
        seed=5, duration_s=200, out=Path("unused"), width=960, height=540, fps=5, scenario="busy", noise=0
    )
    world = World(opts)
    renderers = build_renderers(world)
    checked = 0
    for frame in range(opts.n_frames):
        world.step(frame)
        if frame % 10:
            continue
        lane = world.lanes[0]
        for role in ("queue", "gate"):
            img = renderers[(lane.lane_id, role)].render(frame, lane)
            standing = {s.truck.id for s in lane.seen[role] if s.truck.v == 0}  # moving plates are motion-blurred
            for obj in frame_objects(world.cameras[role], lane.seen[role]):
                box = obj["plate_box"]
                if not box or box[3] - box[1] < 8 or obj["truck"] not in standing:
                    continue
                x1, y1, x2, y2 = (int(round(v)) for v in box)
                inside = img[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].astype(float)
                # Yellow or white plates: bright red and green channels, whatever the characters.
                assert inside[:, :, 1:].max(axis=2).mean() > 110, (frame, role, obj)
                checked += 1
    assert checked >= 5


def test_training_images_and_yolo_labels(tmp_path: Path) -> None:
    out = generate(
        tmp_path / "lab", "--seed", "5", "--duration", "60", "--fps", "5", "--scenario", "busy", "--label-every", "10"
    )
    for cam in ("lane-1-queue", "lane-1-gate"):
        images = sorted((out / "images" / cam).glob("*.jpg"))
        labels = sorted((out / "labels" / cam).glob("*.txt"))
        assert [p.stem for p in images] == [p.stem for p in labels] == [f"{f:06d}" for f in range(0, 300, 10)]
        assert [ln["frame"] for ln in jsonl(out / "objects" / f"{cam}.jsonl")] == list(range(0, 300, 10))
        img = cv2.imread(str(images[-1]))
        assert img is not None and img.shape == (180, 320, 3)
    rows = [
        line.split() for p in (out / "labels" / "lane-1-queue").glob("*.txt") for line in p.read_text().splitlines()
    ]
    assert rows, "no truck labelled in a minute of a busy lane"
    for row in rows:
        assert row[0] in ("0", "1") and len(row) == 5
        assert all(0.0 <= float(v) <= 1.0 for v in row[1:])


def test_missing_cjk_font_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(fonts, "_CANDIDATES", (str(tmp_path / "nothing.ttc"),))
    monkeypatch.delenv(fonts.FONT_ENV, raising=False)
    fonts.plate_font.cache_clear()
    try:
        assert main(["generate", "--seed", "1", "--duration", "2", "--out", str(tmp_path / "o"), *SMALL]) == 1
        assert "apt-get install fonts-noto-cjk" in capsys.readouterr().err
        # Truth alone needs no font.
        assert (
            main(["generate", "--seed", "1", "--duration", "2", "--out", str(tmp_path / "o"), "--no-video", "--quiet"])
            == 0
        )
    finally:
        fonts.plate_font.cache_clear()


def test_frames_change_with_light_and_weather(tmp_path: Path) -> None:
    means = {}
    looks: list[tuple[Light, Weather]] = [("day", "clear"), ("dusk", "clear"), ("night", "rain")]
    for light, weather in looks:
        opts = GenerateOptions(
            seed=2, duration_s=1, out=tmp_path, width=320, height=180, fps=5, light=light, weather=weather
        )
        world = World(opts)
        world.step(0)
        img = build_renderers(world)[("lane-1", "gate")].render(0, world.lanes[0])
        means[light] = float(np.mean(img))
    assert means["day"] > means["dusk"] > means["night"]


def test_jpeg_artefacts_change_the_frames() -> None:
    def frame(quality: int) -> np.ndarray:
        opts = GenerateOptions(seed=2, duration_s=1, out=Path("unused"), width=320, height=180, jpeg_quality=quality)
        world = World(opts)
        world.step(0)
        return build_renderers(world)[("lane-1", "gate")].render(0, world.lanes[0]).copy()

    clean, coarse = frame(0), frame(20)
    diff = np.abs(clean.astype(int) - coarse.astype(int))
    assert 0.5 < diff.mean() < 15  # visibly changed, still the same picture


def test_full_hd_at_25_fps(tmp_path: Path) -> None:
    out = tmp_path / "hd"
    args = ["generate", "--seed", "1", "--duration", "2", "--fps", "25", "--width", "1920", "--height", "1080"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    cap = cv2.VideoCapture(str(out / "lane-1-gate.mp4"))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 50 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
    ok, img = cap.read()
    cap.release()
    assert ok and img.shape == (1080, 1920, 3)
    geo = json.loads((out / "world.json").read_text())["lanes"][0]["cameras"][1]["geometry"]
    assert all(0 <= x <= 1920 and 0 <= y <= 1080 for x, y in geo["weighbridge_zone"])


def test_ctrl_c_stops_generate_cleanly_and_leaves_no_world_json(tmp_path: Path) -> None:
    """Ctrl-C while rendering: a one-line message, exit status 130, and no world.json, so that the demo, which reuses a
    world folder that has one, renders it again next time."""
    out = tmp_path / "world"
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "generate", "--seed", "3", "--duration", "600",
                             "--out", str(out), "--quiet"], cwd=root, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(root)})
    deadline = time.monotonic() + 60
    while not (out / "queue.csv").exists() and time.monotonic() < deadline:  # rendering has begun
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and "stopped" in err and "no world.json" in err
    assert (out / "queue.csv").exists() and not (out / "world.json").exists()
