"""The rear plate camera: reads of the deck view voted into the truck the deck camera sees alone on the
deck, and the roles of the front and rear plates on the deck camera's events.

Real parts: the PP-OCRv4 ONNX reader on synthetic frames (tests/plate_synth.py draws the plates and
a truck-like picture with painted words around them), the plate stage's worker thread, the DeckLog.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from plate_synth import Layout, scene

from edge.config import CameraConfig
from edge.plates.reader import PlateReader, PlateReaderConfig
from edge.plates.rear import RearPlates, RearPlatesConfig
from edge.plates.stage import PlateStage, PlateStageConfig
from edge.plates.vote import PlateVote, PlateVotes
from edge.weighbridge.deck import DeckLog

LANE, GATE, REAR = "lane-1", "lane-1-gate", "lane-1-rear"
FRAME = (720, 1280)  # the rear camera's frames (height, width)
ZONE = [[300.0, 120.0], [1000.0, 120.0], [1060.0, 660.0], [240.0, 660.0]]  # the deck as the rear camera sees it


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader(PlateReaderConfig(threads=2))


@pytest.fixture
def stage(reader: PlateReader):
    s = PlateStage(PlateStageConfig(), [LANE], reader=reader).start()
    yield s
    s.stop()


def _rear_camera(**rear: float) -> CameraConfig:
    return CameraConfig.model_validate({
        "id": REAR, "source": {"type": "network", "url": "rtsp://127.0.0.1:9/rear"},
        "geometry": {"weighbridge_zone": ZONE}, "rear_plates": rear,
    })


def _rear_frame(text: str, layout: Layout, seed: int, plate_height: int = 40) -> np.ndarray:
    """A rear camera's frame: the road around a truck's back (painted words on it, the plate low) on the deck."""
    frame = np.full((*FRAME, 3), 95, np.uint8)
    shot = scene(text, layout, random.Random(seed), size=(640, 480), plate_height=plate_height)
    frame[150:630, 330:970] = shot.image
    return frame


def _front(stage: PlateStage, text: str, layout: Layout, track: int, times: list[float]) -> None:
    """The deck camera's view of the truck's front: its plate box offered as the edge pipeline does."""
    for k, t in enumerate(times):
        shot = scene(text, layout, random.Random(100 + k), size=(640, 480), plate_height=40)
        truck = np.array([[60.0, 20.0, 580.0, 470.0]])
        stage.observe(LANE, GATE, shot.image, t, truck, np.array([track]), np.array([shot.plate_box], float),
                      wait=True)


def _rear(rear: RearPlates, deck: DeckLog, text: str, layout: Layout, track: int, times: list[float]) -> int:
    """The truck standing alone on the deck (the deck camera's log) while the rear camera films its back."""
    queued = 0
    for k, t in enumerate(times):
        deck.note(t, [track])
        queued += rear.observe(_rear_frame(text, layout, seed=k % 3), t)
    return queued


@pytest.mark.parametrize(
    "front, front_layout, back, back_layout",
    [("24C12345", "vn1", "24R00123", "vn2"), ("云G12345", "cn_yellow", "云G1234挂", "cn_yellow2")],
)
def test_a_tractor_and_its_trailer_get_both_plates_with_roles(
    stage: PlateStage, front: str, front_layout: Layout, back: str, back_layout: Layout
) -> None:
    deck = DeckLog()
    rear = RearPlates(stage, LANE, _rear_camera(), GATE, deck, replay=True)
    _front(stage, front, front_layout, track=5, times=[0.0, 0.5, 1.0, 1.5])
    front_reads = stage.status(LANE).attempted
    # 6 s on the deck, a frame every 0.25 s: a read every second, every 2 s once 3 reads agree (settled)
    queued = _rear(rear, deck, back, back_layout, track=5, times=[t / 4 for t in range(8, 32)])
    assert 4 <= queued <= 6
    plates = stage.plates_for(LANE, GATE, 5, final=True, wait_s=10)
    assert [(p.text, p.role) for p in plates] == [(front, "tractor"), (back, "trailer")]
    assert plates[1].confidence >= 0.9 and plates[1].rows == 2 and plates[1].crop_jpeg_b64
    assert stage.plates_for(LANE, GATE, 5, final=False) == ()  # the exit forgot both cameras' reads
    counts = stage.status(LANE)  # the lane's counters count the rear camera's reads too
    assert counts.attempted == front_reads + queued and counts.accepted + counts.rejected == counts.attempted


def test_a_rigid_trucks_own_rear_plate_is_merged_with_its_front_plate(stage: PlateStage) -> None:
    deck = DeckLog()
    rear = RearPlates(stage, LANE, _rear_camera(), GATE, deck, replay=True)
    _front(stage, "29K97919", "vn1", track=8, times=[0.0, 0.5])
    front_only = stage.plates_for(LANE, GATE, 8, final=False, wait_s=10)
    assert [(p.text, p.role) for p in front_only] == [("29K97919", "vehicle")]
    _rear(rear, deck, "29K97919", "vn2", track=8, times=[2.0, 3.0, 4.0])
    plates = stage.plates_for(LANE, GATE, 8, final=True, wait_s=10)
    assert [(p.text, p.role) for p in plates] == [("29K97919", "vehicle")]
    assert plates[0].confidence >= front_only[0].confidence  # more agreeing reads


def test_the_rear_camera_reads_only_while_one_truck_stands_alone_on_the_deck(stage: PlateStage) -> None:
    deck = DeckLog()
    rear = RearPlates(stage, LANE, _rear_camera(read_interval_s=0.5), GATE, deck, replay=True)
    frame = _rear_frame("24R00123", "vn2", seed=1)
    assert not rear.observe(frame, 10.0)  # the deck camera has sent nothing
    for i in range(10):
        deck.note(10.0 + i / 10, [4, 7])  # two trucks on the deck (or one split in two tracks)
    assert not rear.observe(frame, 11.0)
    for i in range(10):
        deck.note(11.1 + i / 10, [])  # an empty deck
    assert not rear.observe(frame, 12.0)
    for i in range(10):
        deck.note(12.1 + i / 10, [7])
    assert not rear.observe(frame, 16.0)  # the deck camera's last frame is 3 s old: it may have stopped
    assert rear.observe(frame, 13.0)  # truck 7 alone on the deck for the last second
    assert stage.stats.queued == 1 and stage.status(LANE).attempted == 1
    assert stage.plates_for(LANE, GATE, 7, final=True, wait_s=10)[0].role == "trailer"


def test_rear_reads_are_paced_and_capped_per_truck(stage: PlateStage) -> None:
    deck = DeckLog()
    config = {"read_interval_s": 2.0, "max_reads_per_truck": 2}
    rear = RearPlates(stage, LANE, _rear_camera(**config), GATE, deck, replay=True)
    queued = _rear(rear, deck, "24R00123", "vn2", track=3, times=[t / 2 for t in range(20)])  # 10 s
    assert queued == rear.queued == 2 and stage.status(LANE).attempted == 2


def test_a_deck_zone_outside_the_frame_reads_nothing(stage: PlateStage) -> None:
    rear = RearPlates(stage, LANE, _rear_camera(), GATE, DeckLog(), replay=True)
    assert rear.region(1280, 720) == (199, 93, 1101, 687)  # the zone's box and 5 % around it
    assert rear.region(200, 100) is None  # a 720p zone on a camera that sends 200x100 frames


# ------------------------------------------------------------------ the vote's roles (no reader)
def _votes(*reads: tuple[str, float, str | None]) -> PlateVotes:
    votes = PlateVotes()
    for text, confidence, hint in reads:
        votes.add(PlateVote(text, confidence, role_hint=hint))  # type: ignore[arg-type]
    return votes


def test_a_near_equal_rear_read_is_the_same_vehicle() -> None:
    front = _votes(*[("24C12345", 0.95, None)] * 6)
    rear = _votes(("24C12845", 0.9, "trailer"), ("24C12345", 0.9, "trailer"))  # 3/8 confused once
    plates = PlateVotes.pooled(front, rear).best()
    assert [(p.text, p.role) for p in plates] == [("24C12345", "vehicle")]


def test_one_rear_read_of_a_different_plate_is_not_enough() -> None:
    front = _votes(*[("24C12345", 0.95, None)] * 6)
    one = PlateVotes.pooled(front, _votes(("24H55555", 0.95, "trailer"))).best()
    assert [(p.text, p.role) for p in one] == [("24C12345", "vehicle")]
    two = PlateVotes.pooled(front, _votes(*[("24H55555", 0.9, "trailer")] * 2)).best()
    assert [(p.text, p.role) for p in two] == [("24C12345", "tractor"), ("24H55555", "trailer")]


def test_the_trailer_goes_second_even_when_read_more_often() -> None:
    front = _votes(*[("云G12345", 0.8, None)] * 2)
    rear = _votes(*[("云G1234挂", 0.95, "trailer")] * 10)
    plates = PlateVotes.pooled(front, rear).best()
    assert [(p.text, p.role) for p in plates] == [("云G12345", "tractor"), ("云G1234挂", "trailer")]


def test_a_lone_rear_plate_has_the_role_its_format_gives() -> None:
    trailer = _votes(*[("24R00123", 0.9, "trailer")] * 3).best()
    own = _votes(*[("24C12345", 0.9, "trailer")] * 3).best()  # a rigid truck whose front plate was not read
    assert [p.role for p in trailer] == ["trailer"] and [p.role for p in own] == ["vehicle"]


def test_deck_alone_wants_one_truck_and_no_other() -> None:
    deck = DeckLog()
    for i in range(10):
        deck.note(i / 10, [2, 9] if i == 4 else [2])  # truck 9 drove past in one frame
    assert deck.alone(0.0, 0.9) is None and deck.alone(0.5, 0.9) == 2
    sparse = DeckLog()
    for i in range(10):
        sparse.note(i / 10, [3] if i < 2 else [])  # seen in 2 frames of 10: driving off
    assert sparse.alone(0.0, 0.9) is None
    assert DeckLog().alone(0.0, 1.0) is None


def test_rear_plates_config_is_described_and_strict() -> None:
    for name, field in RearPlatesConfig.model_fields.items():
        assert field.description, name
    with pytest.raises(ValueError, match="extra"):
        RearPlatesConfig.model_validate({"interval": 1})


# ------------------------------------------------------------------ config
def _edge(**changes: object) -> dict:
    zone = [[0, 0], [100, 0], [100, 100], [0, 100]]
    gate = {"id": GATE, "source": {"type": "file", "path": "gate.mp4"}, "geometry": {"weighbridge_zone": zone}}
    rear = {"id": REAR, "source": {"type": "network", "url": "rtsp://10.0.0.9/rear"},
            "geometry": {"weighbridge_zone": ZONE}, "rear_plates": {}}
    config = {"site": "laocai", "edge_id": "gate1",
              "lanes": [{"id": LANE, "direction": "export", "cameras": [gate, rear]}]}
    for path, value in changes.items():  # "lanes.0.cameras.1.geometry" style keys
        *parents, last = path.split(".")
        node: object = config
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]  # type: ignore[index]
        if value is None:
            del node[last]  # type: ignore[union-attr]
        else:
            node[int(last) if isinstance(node, list) else last] = value  # type: ignore[index]
    return config


def test_a_rear_plate_camera_is_configured_beside_its_deck_camera() -> None:
    from edge.config import EdgeConfig

    lane = EdgeConfig.model_validate(_edge()).lanes[0]
    assert lane.deck_camera is not None and lane.deck_camera.id == GATE  # never the rear camera, zone or not
    assert lane.rear_camera is not None and lane.rear_camera.rear_plates == RearPlatesConfig()


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"lanes.0.cameras.0.geometry": {}}, "rear plate camera lane-1-rear needs a deck camera in the lane"),
        ({"lanes.0.cameras.1.geometry": {}}, "a rear plate camera (rear_plates) needs geometry.weighbridge_zone"),
        ({"lanes.0.cameras.1.geometry.exit_line": {"start": [0, 50], "end": [100, 50]}},
         "tracks no trucks, so its exit_line would never count anything"),
        ({"lanes.0.cameras.0.rear_plates": {}}, "one rear plate camera per lane, got lane-1-gate, lane-1-rear"),
        ({"plates": {"enabled": False}}, "read rear plates, but plates.enabled is false"),
        ({"lanes.0.cameras.0.source.realtime": False}, "camera lane-1-gate: the rear plate camera is joined with"),
        ({"lanes.0.cameras.0.source.start_utc": "2026-12-01T00:00:00Z"}, "both must be stamped alike"),
        ({"lanes.0.cameras.1.rear_plates": {"read_interval_s": 0}}, "read_interval_s"),
    ],
)
def test_a_wrong_rear_camera_config_says_what_is_wrong(changes: dict, expected: str) -> None:
    from pydantic import ValidationError

    from edge.config import EdgeConfig

    with pytest.raises(ValidationError) as error:
        EdgeConfig.model_validate(_edge(**changes))
    assert expected in str(error.value)


# ------------------------------------------------------------------ in the edge app
def test_a_lost_rear_camera_leaves_the_lane_running(tmp_path) -> None:
    """The rear camera's stream never opens: the lane's deck camera runs its video to the end, the
    lane status reports the rear camera like any camera, and the edge exits cleanly."""
    import threading

    import cv2

    from edge.app import EdgeApp
    from edge.config import EdgeConfig

    video = tmp_path / "gate.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (320, 240))
    for _ in range(15):  # 3 s, played in real time
        writer.write(np.full((240, 320, 3), 120, np.uint8))
    writer.release()
    config = _edge(**{
        "lanes.0.cameras.0.source.path": str(video), "lanes.0.cameras.0.analysis_fps": 5,
        "lanes.0.cameras.1.source": {"type": "network", "url": "rtsp://127.0.0.1:9/rear", "stall_timeout_s": 0.5,
                                     "reconnect_initial_s": 0.2, "reconnect_max_s": 0.5},
    })
    config.update(data_dir=str(tmp_path / "edge"), detector={"type": "motion"}, mqtt={"port": 9})
    app = EdgeApp(EdgeConfig.model_validate(config))
    lane = app.config.lanes[0]
    seen: list[dict] = []

    def watch() -> None:  # the lane status while the edge runs
        while app.pipelines[0].thread.is_alive() or not app.pipelines[0].source.delivered:
            status = app.lane_status(lane, app.outbox.health())
            seen.append({cam: h.state for cam, h in status.cameras.items()})
            app.stop_event.wait(0.3)

    watcher = threading.Thread(target=watch)
    watcher.start()
    assert app.run(exit_at_end=True, drain_timeout_s=2.0) == 0
    watcher.join(5)
    assert app.pipelines[0].source.delivered == 15  # the deck camera saw its whole video
    assert app.decks[LANE].latest_s() is not None
    assert any(states.get(REAR) in ("connecting", "lost") for states in seen), seen
    assert all(states.keys() == {GATE, REAR} for states in seen)
    assert not app.rear_pipelines[0].thread.is_alive() and app.rear_pipelines[0].failures == 0


def test_the_edge_app_puts_both_plates_on_the_weigh_and_exit_events(tmp_path) -> None:
    """The app's wiring: the deck log the rear camera reads, the stage binding, the weigh event's plates."""
    import json
    import sqlite3
    from datetime import UTC, datetime

    from edge.app import EdgeApp
    from edge.config import EdgeConfig
    from edge.lane import Crossing, FrameTime
    from edge.weighbridge.lane import WeighCapture

    config = _edge()
    config.update(data_dir=str(tmp_path / "edge"), detector={"type": "motion"}, mqtt={"port": 9})
    app = EdgeApp(EdgeConfig.model_validate(config))
    assert app.plates is not None
    app.plates.start()
    try:
        lane, gate = app.config.lanes[0], app.config.lanes[0].cameras[0]
        assert [p.camera.id for p in app.pipelines] == [GATE]  # no detector pipeline for the rear camera
        rear = app.rear_pipelines[0].rear
        rear.replay = True  # wait for each read, so that the test reads the same frames every run
        _front(app.plates, "24C12345", "vn1", track=7, times=[0.0, 0.5, 1.0])
        pipeline = app.pipelines[0]
        for k in range(12):  # the deck camera's frames note truck 7 on the deck; the rear camera reads its back
            t = 2.0 + k / 2
            pipeline.analysis.lane.weighbridge_tracks = [7]
            app.deck_seen(pipeline, FrameTime(datetime.now(UTC), int(t * 1e9)))
            rear.observe(_rear_frame("24R00123", "vn2", seed=k % 3), t)
        app.emit_weigh(WeighCapture(lane=LANE, camera=GATE, wall_s=datetime.now(UTC).timestamp(), mono_s=8.0,
                                    weight_kg=31_250.0, window_s=3.0, track_id=7, reason="joined"))
        app.emit(lane, gate, Crossing("exit", 7, FrameTime(datetime.now(UTC), int(9e9))))
        assert app.outbox.flush()
    finally:
        app.plates.stop()
        app.outbox.close()
    db = sqlite3.connect(tmp_path / "edge" / "outbox.sqlite")
    events = [json.loads(row[0]) for row in db.execute("SELECT payload FROM events ORDER BY seq")]
    db.close()
    assert [e["type"] for e in events] == ["weigh", "exit"]
    for event in events:
        plates = [(p["text"], p["role"]) for p in event["plates"]]
        assert plates == [("24C12345", "tractor"), ("24R00123", "trailer")], event["type"]
