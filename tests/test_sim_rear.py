"""The rear plate camera (`generate --rear-camera`): where it looks, what it shows, and that it changes nothing else."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from test_sim_video import frame_hashes

from edge.plates.reader import PlateReader
from sim.camera import point_in_polygon
from sim.cli import main
from sim.generate import build_renderers
from sim.labels import frame_objects
from sim.layout import GATE
from sim.look import make_look
from sim.options import GenerateOptions
from sim.scene import render_background
from sim.world import World

SEED = 27  # never used to place the camera or to look at its pictures
ARGS = ("--seed", str(SEED), "--duration", "200", "--fps", "5", "--scenario", "plates", "--lanes", "2")
SIZES = ("--width", "320", "--height", "180", "--gate-width", "640", "--gate-height", "360", "--label-every", "10")
PLATE_FIELDS = ("text", "printed", "country", "rows", "role")


def generate(out: Path, *args: str) -> Path:
    assert main(["generate", "--out", str(out), "--quiet", *args]) == 0
    return out


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same run without and with the rear camera."""
    root = tmp_path_factory.mktemp("rear")
    return generate(root / "off", *ARGS, *SIZES), generate(root / "on", *ARGS, *SIZES, "--rear-camera")


def test_world_json_lists_a_rear_camera_per_lane_with_its_deck(runs: tuple[Path, Path]) -> None:
    off, on = runs
    world_on = json.loads((on / "world.json").read_text(encoding="utf-8"))
    world_off = json.loads((off / "world.json").read_text(encoding="utf-8"))
    for lane_on, lane_off in zip(world_on["lanes"], world_off["lanes"], strict=True):
        cams = lane_on["cameras"]
        assert [c["role"] for c in cams] == ["queue", "gate", "rear"]
        assert cams[:2] == lane_off["cameras"]
        rear = cams[2]
        assert rear["id"] == f"{lane_on['id']}-rear" and rear["video"] == f"{lane_on['id']}-rear.mp4"
        assert (rear["width"], rear["height"]) == (640, 360)  # the gate camera's size
        assert set(rear["geometry"]) == {"weighbridge_zone"} and len(rear["geometry"]["weighbridge_zone"]) == 4
        cap = cv2.VideoCapture(str(on / rear["video"]))
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        assert size == (640, 360) and count == 1000
    assert [c["role"] for c in world_off["lanes"][0]["cameras"]] == ["queue", "gate"]


def test_same_traffic_and_truth_with_the_rear_camera(runs: tuple[Path, Path]) -> None:
    off, on = runs
    trucks_off, trucks_on = jsonl(off / "truth.jsonl"), jsonl(on / "truth.jsonl")
    assert len(trucks_on) == len(trucks_off) >= 10
    for a, b in zip(trucks_off, trucks_on, strict=True):
        assert {k: v for k, v in a.items() if k != "plates"} == {k: v for k, v in b.items() if k != "plates"}
        assert [{f: p[f] for f in PLATE_FIELDS} for p in a["plates"]] == [
            {f: p[f] for f in PLATE_FIELDS} for p in b["plates"]
        ]
        assert all("views" not in p and "rear_printed" not in p for p in a["plates"])
        assert [p["visible"] for p in a["plates"]] == [True, False][: len(a["plates"])]
        plates = b["plates"]
        assert all(p["visible"] for p in plates)
        if b["kind"].startswith("tractor"):
            assert [p["views"] for p in plates] == [["front"], ["rear"]] and plates[1]["role"] == "trailer"
        else:
            assert [p["views"] for p in plates] == [["front", "rear"]] and plates[0]["role"] == "vehicle"
        back = plates[-1]
        # The rear plate is the same registration, in the two-row rear format (large new-energy plates: one format).
        assert "".join(c for c in back["rear_printed"].upper() if c not in " .-·\n") == back["text"]
        assert back["rear_rows"] == back["rear_printed"].count("\n") + 1
        assert back["rear_rows"] == 2 or back["text"][-1] in "DF"
        assert "rear_printed" not in plates[0] or len(plates) == 1


def test_the_other_cameras_and_files_are_unchanged_by_the_rear_camera(runs: tuple[Path, Path]) -> None:
    off, on = runs
    files_off = sorted(str(p.relative_to(off)) for p in off.rglob("*") if p.is_file())
    files_on = sorted(str(p.relative_to(on)) for p in on.rglob("*") if p.is_file())
    assert set(files_off) <= set(files_on)
    assert not [f for f in files_off if "rear" in f]
    assert {f for f in files_on if f not in files_off} >= {"lane-1-rear.mp4", "objects/lane-2-rear.jsonl"}
    for name in files_off:
        if name.endswith(".mp4"):
            assert frame_hashes(off / name) == frame_hashes(on / name), name
        elif name not in ("truth.jsonl", "world.json"):
            assert (off / name).read_bytes() == (on / name).read_bytes(), name


def test_off_by_default_the_output_is_what_it_was_before_the_rear_camera(tmp_path: Path) -> None:
    # Digest of a run made with the simulator before `--rear-camera` existed (main @ cd27081): the
    # truth, geometry, CSVs, object files and labels other benches and tests rely on. A deliberate
    # change to the simulated world changes it; then record the new digest here.
    out = generate(
        tmp_path,
        *("--seed", "6", "--duration", "120", "--fps", "5", "--scenario", "plates"),
        *("--width", "320", "--height", "180", "--label-every", "25"),
    )
    names = ["truth.jsonl", "world.json", "queue.csv", "lane-1-weighbridge.csv"]
    names += sorted(str(p.relative_to(out)) for p in out.glob("objects/*.jsonl"))
    names += sorted(str(p.relative_to(out)) for p in out.glob("labels/*/*.txt"))
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode())
        digest.update((out / name).read_bytes())
    assert len(names) == 54
    assert digest.hexdigest() == "1d4dbb22d0ec8da4d80993ad3b8ca25125d14573f411408683eab7b59932a743"


def test_rear_objects_and_labels_show_the_rear_plate_of_the_truck_on_the_deck(runs: tuple[Path, Path]) -> None:
    _, on = runs
    truth = {t["truck"]: t for t in jsonl(on / "truth.jsonl")}
    checked = 0
    for lane in ("lane-1", "lane-2"):
        for line in jsonl(on / "objects" / f"{lane}-rear.jsonl"):
            frame = line["frame"]
            for obj in line["objects"]:
                t = truth[obj["truck"]]
                rear = next(p for p in t["plates"] if "rear" in p["views"])
                assert obj["plate_text"] == rear["text"]
                weighing = t["weigh"] is not None and t["weigh"]["frame"] <= frame < t["weigh"]["frame"] + 10
                if not weighing:
                    continue
                # Standing on the deck (the scenario's shortest weighing is 2 s): in view (the signal post
                # hides a little of it), its rear plate boxed inside the truck's box, in the bottom part of
                # it, and labelled for training.
                assert obj["visible_fraction"] > 0.8 and obj["plate_box"] is not None
                bx, pb = obj["box"], obj["plate_box"]
                assert bx[0] <= pb[0] < pb[2] <= bx[2] and bx[1] < pb[1] < pb[3] <= bx[3]
                assert pb[1] > (bx[1] + bx[3]) / 2
                labels = (on / "labels" / f"{lane}-rear" / f"{frame:06d}.txt").read_text().splitlines()
                cx, cy = (pb[0] + pb[2]) / 2 / 640, (pb[1] + pb[3]) / 2 / 360
                assert any(
                    ln.startswith("1 ")
                    and abs(float(ln.split()[1]) - cx) < 1e-3
                    and abs(float(ln.split()[2]) - cy) < 1e-3
                    for ln in labels
                )
                checked += 1
    assert checked >= 6


def _rear_world(seed: int, duration_s: float, width: int = 1920, height: int = 1080) -> World:
    opts = GenerateOptions(
        seed=seed,
        duration_s=duration_s,
        out=Path("unused"),
        width=320,
        height=180,
        gate_width=width,
        gate_height=height,
        fps=5,
        scenario="plates",
        rear_camera=True,
    )
    return World(opts)


def test_rear_plates_are_drawn_in_their_boxes_legibly_at_full_hd() -> None:
    """Render the rear camera at 1920x1080 while trucks stand on the deck and read the plate in each box."""
    world = _rear_world(SEED, 360)
    renderer = build_renderers(world)[("lane-1", "rear")]
    lane = world.lanes[0]
    zone = world.geometry["rear"]["weighbridge_zone"]
    reader = PlateReader()
    results: list[tuple[str, str | None, float]] = []
    for frame in range(world.opts.n_frames):
        world.step(frame)
        for tr in lane.gate:
            if tr.state != "weighing" or tr.events.get("weigh") != frame - 5:
                continue
            img = renderer.render(frame, lane)
            obj = next(o for o in frame_objects(world.cameras["rear"], lane.seen["rear"]) if o["truck"] == tr.id)
            x1, y1, x2, y2 = obj["plate_box"]
            assert point_in_polygon(zone, ((x1 + x2) / 2, (y1 + y2) / 2))  # a crop of the zone holds the plate
            h = y2 - y1
            assert 18 <= h <= 60
            crop = img[int(y1 - h) : int(y2 + h), int(x1 - h) : int(x2 + h)]
            results.append((obj["plate_text"], reader.read_plate(crop).text, h))
    assert len(results) >= 8
    exact = sum(1 for want, got, _ in results if want == got)
    assert exact >= len(results) - 1, results


def test_the_deck_zone_is_the_deck_in_the_rear_cameras_picture() -> None:
    world = _rear_world(SEED, 200, 960, 540)
    camera = world.cameras["rear"]
    background = render_background(camera, "rear", make_look("day", "clear"), np.random.default_rng(0))
    zone = np.array(world.geometry["rear"]["weighbridge_zone"])
    # Corners: the deck's gate end (nearest the camera), then its exit end; both ends are painted
    # with yellow and black bands, so sampling along each end of the zone finds yellow paint.
    for a, b in ((zone[0], zone[1]), (zone[2], zone[3])):
        yellow = 0
        samples = 0
        for t in np.linspace(0.05, 0.95, 40):
            x, y = a + t * (b - a)
            if not (0 <= x < camera.width and 0 <= y < camera.height):
                continue
            px = background[int(y), int(x)].astype(int)
            samples += 1
            yellow += int(px[2] > 170 and px[1] > 140 and px[0] < 90)
        assert samples >= 10 and yellow >= samples // 4, (a, b, yellow, samples)
    # The gate end is nearer the camera than the far end: lower in the picture and wider.
    assert min(zone[0][1], zone[1][1]) > max(zone[2][1], zone[3][1])
    assert abs(zone[0][0] - zone[1][0]) > abs(zone[2][0] - zone[3][0])
    # Every truck standing on the deck has its rear plate inside the zone (an edge crops the zone to read it),
    # and the middle of its back's bottom edge, where it stands on the deck, too.
    weighed = 0
    for frame in range(world.opts.n_frames):
        world.step(frame)
        lane = world.lanes[0]
        for obj in frame_objects(camera, lane.seen["rear"]):
            tr = next(t for t in lane.gate + lane.departed if t.id == obj["truck"])
            if tr.state == "weighing":
                assert GATE.deck_near_d <= tr.d and tr.rear <= GATE.deck_far_d
                x1, y1, x2, y2 = obj["plate_box"]
                assert point_in_polygon(zone.tolist(), ((x1 + x2) / 2, (y1 + y2) / 2))
                foot = camera.project(np.array([[tr.spec.lateral_m, 0.0, tr.rear]]))[0]
                assert point_in_polygon(zone.tolist(), (float(foot[0]), float(foot[1])))
                weighed += 1
    assert weighed >= 20


def test_rear_frames_are_deterministic() -> None:
    def digest(seed: int) -> str:
        world = _rear_world(seed, 150, 320, 180)
        renderer = build_renderers(world)[("lane-1", "rear")]
        h = hashlib.sha256()
        for frame in range(world.opts.n_frames):
            world.step(frame)
            if frame % 5 == 0:
                h.update(renderer.render(frame, world.lanes[0]).tobytes())
        return h.hexdigest()

    assert digest(4) == digest(4) != digest(8)
