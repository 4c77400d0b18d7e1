"""Lane logic without any video: tracked boxes in, crossings out, against hand-made truth."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config import GeometryConfig, TrackingConfig
from edge.lane import FrameTime, LaneCamera

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
RAW = TrackingConfig(line_fit_frames=0)  # lines tested with each frame's own anchor: hand-made paths stay short
GEOMETRY = GeometryConfig.model_validate({
    "queue_zone": [[0, 100], [400, 100], [400, 300], [0, 300]],
    "entry_line": {"start": [0, 100], "end": [400, 100]},
    "exit_line": {"start": [0, 300], "end": [400, 300]},
})


def at(seconds: float) -> FrameTime:
    return FrameTime(T0 + timedelta(seconds=seconds), round(seconds * 1e9))


def box(x: float, bottom: float) -> list[float]:
    return [x - 40, bottom - 60, x + 40, bottom]


def feed(lane: LaneCamera, frames: list[tuple[float, dict[int, list[float]]]]):
    out = []
    for seconds, boxes in frames:
        xyxy = np.array(list(boxes.values()), dtype=float).reshape(-1, 4)
        out += lane.update(xyxy, np.array(list(boxes.keys()), dtype=int), at(seconds))
    return out + lane.flush()


def test_crossing_time_is_interpolated_between_frames():
    lane = LaneCamera(GEOMETRY, RAW)
    crossings = feed(lane, [(0.0, {1: box(200, 90)}), (0.1, {1: box(200, 110)})])
    assert [(c.kind, c.track_id) for c in crossings] == [("enter", 1)]
    assert crossings[0].at.utc == T0 + timedelta(seconds=0.05)


def test_truck_standing_on_the_line_fires_once():
    lane = LaneCamera(GEOMETRY)
    bottoms = [95, 101, 99, 102, 98, 103, 110, 150]  # stop-and-go jitter across the entry line
    crossings = feed(lane, [(i * 0.1, {1: box(200, b)}) for i, b in enumerate(bottoms)])
    assert [c.kind for c in crossings] == ["enter"]


def test_new_track_where_a_truck_vanished_keeps_its_id_and_does_not_fire_again():
    lane = LaneCamera(GEOMETRY, RAW)
    frames = [(0.0, {1: box(200, 90)}), (0.1, {1: box(200, 110)}), (0.2, {1: box(200, 120)})]
    frames += [(0.3 + i * 0.1, {}) for i in range(10)]  # lost for a second
    frames += [(1.4, {7: box(205, 125)}), (1.5, {7: box(205, 200)}), (1.6, {7: box(205, 320)})]
    crossings = feed(lane, frames)
    assert [(c.kind, c.track_id) for c in crossings] == [("enter", 1), ("exit", 1)]
    assert lane.rejoins == 1


def test_far_truck_close_behind_is_not_taken_for_the_one_ahead_missed_for_a_frame():
    """Far from the camera the truck behind stands within `rejoin_radius_px` of the one ahead; a new track there,
    in a frame where the one ahead was missed, is the truck behind (its box overlaps little), not the one ahead."""
    def far(bottom: float) -> list[float]:
        return [185, bottom - 30, 215, bottom]

    lane = LaneCamera(GEOMETRY, RAW)
    frames = [(i * 0.1, {1: far(95 + 2 * i)}) for i in range(5)]  # crosses the entry line, then is missed once
    frames += [(0.5, {2: far(80)})]
    frames += [(0.6 + i * 0.1, {1: far(106 + 0.5 * i), 2: far(80.5 + 0.5 * i)}) for i in range(60)]
    crossings = feed(lane, frames)
    assert [c.kind for c in crossings] == ["enter", "enter"]
    assert len({c.track_id for c in crossings}) == 2
    assert lane.rejoins == 0


def test_line_crossed_while_unseen_fires_once_between_sightings():
    lane = LaneCamera(GEOMETRY, RAW)
    frames = [(0.0, {1: box(200, 80)}), (0.1, {1: box(200, 90)}), (0.5, {}), (1.0, {4: box(200, 130)})]
    crossings = feed(lane, frames)
    assert [(c.kind, c.track_id) for c in crossings] == [("enter", 1)]
    assert T0 + timedelta(seconds=0.1) < crossings[0].at.utc < T0 + timedelta(seconds=1.0)


def test_truck_following_close_behind_is_not_taken_for_the_one_ahead():
    lane = LaneCamera(GEOMETRY, RAW)
    frames = [(i * 0.1, {1: box(200, 95 + 4 * i), 2: box(200, -65 + 4 * i)}) for i in range(44)]  # 4 s behind
    crossings = feed(lane, frames)
    assert [(c.kind, c.track_id) for c in crossings] == [("enter", 1), ("enter", 2)]


def test_new_track_far_from_a_lost_one_is_a_new_truck():
    lane = LaneCamera(GEOMETRY, RAW)
    frames = [(0.0, {1: box(200, 90)}), (0.1, {1: box(200, 110)}), (0.2, {}),
              (4.3, {2: box(200, 20)}), (4.4, {2: box(200, 95)}), (4.5, {2: box(200, 105)})]
    assert [(c.kind, c.track_id) for c in feed(lane, frames)] == [("enter", 1), ("enter", 2)]


def test_lost_truck_is_not_rejoined_after_the_window():
    lane = LaneCamera(GEOMETRY, TrackingConfig(rejoin_window_s=2.0))
    frames = [(0.0, {1: box(200, 90)}), (0.1, {1: box(200, 110)}), (3.0, {5: box(200, 115)})]
    feed(lane, frames)
    assert lane.rejoins == 0


def test_queue_occupancy_counts_anchors_inside_the_zone():
    lane = LaneCamera(GEOMETRY)
    feed(lane, [(0.0, {1: box(100, 150), 2: box(300, 250), 3: box(200, 50)})])
    assert lane.queue_occupancy == 2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 400), min_size=2, max_size=60), st.lists(st.booleans(), min_size=60, max_size=60))
def test_each_line_fires_at_most_once_per_truck_whatever_the_path(bottoms, seen):
    """One truck wandering up and down, seen or not, under ever-changing tracker ids close by. Frames 0.6 s apart (a
    slow analysis rate): a track lost under 0.5 s is rejoined only where the new box overlaps its last one (a truck
    close behind, REJOIN_IOU); at 0.1 s a box jumping 33 px in 0.2 s was another truck by that rule."""
    lane = LaneCamera(GEOMETRY, TrackingConfig(rejoin_radius_px=1000, rejoin_window_s=60))
    frames = [(i * 0.6, {100 + i // 5: box(200, b)} if seen[i] else {}) for i, b in enumerate(bottoms)]
    kinds = [c.kind for c in feed(lane, frames)]
    assert sorted(set(kinds)) == sorted(kinds)


@pytest.mark.parametrize("gap_s, rejoined", [(1.0, True), (6.0, False)])
def test_rejoin_window_boundary(gap_s, rejoined):
    lane = LaneCamera(GEOMETRY)  # default window 5 s
    feed(lane, [(0.0, {1: box(200, 150)}), (gap_s, {2: box(200, 152)})])
    assert (lane.rejoins == 1) is rejoined


def test_jittery_boxes_are_timed_by_the_path_not_by_the_first_jitter_across():
    """A far truck creeps 0.5 px a frame; its box edge jitters ±1.5 px: the first frame whose jitter
    crosses the line is early, the fitted path is not."""
    jitter = [1.5, -1.5, 0.0, 1.5, -1.5, 0.0] * 10
    frames = [(i * 0.1, {1: box(200, 90 + 0.5 * i + jitter[i])}) for i in range(40)]  # truly on the line at 2.0 s
    fitted = feed(LaneCamera(GEOMETRY, TrackingConfig(line_fit_frames=5)), frames)
    raw = feed(LaneCamera(GEOMETRY, TrackingConfig(line_fit_frames=0)), frames)
    error_s = lambda crossings: abs((crossings[0].at.utc - T0).total_seconds() - 2.0)  # noqa: E731
    assert error_s(raw) > 0.2
    assert error_s(fitted) < 0.1


@settings(max_examples=60, deadline=None)
@given(speed=st.floats(20, 300), frames_before=st.integers(40, 60), phase=st.floats(0.05, 0.95))
def test_a_crossing_is_stamped_at_the_first_video_frame_past_the_line(speed, frames_before, phase):
    """A 25 fps camera analysed at 10 frames/s: the truck crosses the line between video frames, most often
    between analysed ones too. Its `enter` is the first video frame that shows it past the line: the frame a
    person stepping through the video (and the simulator's truth) names."""
    fps, crossed_at = 25.0, frames_before + phase  # the moment, in video frames
    analysed = sorted({math.ceil(i * fps / 10) for i in range(int((crossed_at + 60) / 2.5))})
    lane = LaneCamera(GEOMETRY)
    crossings = []
    for k in analysed:
        bottom = 100 + speed * (k - crossed_at) / fps
        seconds = k / fps
        moment = FrameTime(T0 + timedelta(seconds=seconds), round(seconds * 1e9), k)
        crossings += lane.update(np.array([box(200, bottom)], float), np.array([1]), moment)
    enter = [c for c in crossings + lane.flush() if c.kind == "enter"]
    assert len(enter) == 1
    assert enter[0].at.frame == frames_before + 1
    assert abs((enter[0].at.utc - T0).total_seconds() - (frames_before + 1) / fps) < 1e-5


@pytest.mark.parametrize("speed", [20.0, 80.0, 300.0])
def test_a_truck_at_a_steady_speed_is_timed_when_it_crosses(speed):
    """A perfectly straight path: the fit's square term is next to nothing, and the root must not be lost with it."""
    crossed_s = 4.02
    frames = [(i * 0.1, {1: box(200, 100 + speed * (i * 0.1 - crossed_s))}) for i in range(80)]
    enter = [c for c in feed(LaneCamera(GEOMETRY), frames) if c.kind == "enter"]
    assert len(enter) == 1
    assert abs((enter[0].at.utc - T0).total_seconds() - crossed_s) < 1e-3


def test_truck_hidden_in_the_queue_still_counts_and_is_itself_when_it_reappears():
    lane = LaneCamera(GEOMETRY)
    frames = [(i * 0.1, {1: box(200, 80 + 10 * i), 2: box(200, 250)}) for i in range(8)]  # 1 enters, 2 waits
    crossings = feed(lane, frames)
    assert lane.queue_occupancy == 2
    lane.update(np.array([box(200, 250)], dtype=float), np.array([2]), at(20.0))  # 1 hidden behind 2 for long
    assert lane.queue_occupancy == 2
    # 1 shows again, far from where it hid, under a new tracker id.
    crossings += lane.update(np.array([box(200, 250), box(150, 200)], dtype=float), np.array([2, 9]), at(30.0))
    assert lane.rejoins == 1 and lane.queue_occupancy == 2
    assert [(c.kind, c.track_id) for c in crossings + lane.flush()] == [("enter", 1)]


def test_truck_first_seen_past_the_entry_line_entered_unseen():
    lane = LaneCamera(GEOMETRY)
    lane.update(np.zeros((0, 4)), np.zeros(0, int), at(0.0))
    early = lane.update(np.array([box(200, 200)], dtype=float), np.array([1]), at(5.0))  # in view at start
    late = lane.update(np.array([box(200, 200), box(120, 150)], dtype=float), np.array([1, 2]), at(12.0))
    assert early == [] and [(c.kind, c.track_id, c.at.utc) for c in late] == [("enter", 2, T0 + timedelta(seconds=12))]


def test_truck_waiting_just_before_a_line_does_not_cross_it_by_jitter():
    """Stands 2 px before the line for 3 s while its box edge jitters ±3 px, then pulls away."""
    jitter = [3.0, -3.0, 1.0, -1.0, 2.5, -2.0]
    path = [98 + jitter[i % 6] for i in range(30)] + [98 + 0.05 * k * k + jitter[k % 6] / 3 for k in range(1, 30)]
    frames = [(i * 0.1, {1: box(200, b)}) for i, b in enumerate(path)]
    crossed_at = 3.0 + (2 / 0.05) ** 0.5 * 0.1  # the true path reaches y = 100
    steady = feed(LaneCamera(GEOMETRY), frames)
    raw = feed(LaneCamera(GEOMETRY, RAW), frames)
    assert [c.kind for c in steady] == ["enter"]
    assert abs((steady[0].at.utc - T0).total_seconds() - crossed_at) < 0.2
    assert (raw[0].at.utc - T0).total_seconds() < 1.0  # the raw anchor "crossed" at the first jitter


def test_two_boxes_on_one_truck_cross_once():
    """A long truck near the camera detected as two overlapping boxes with their own tracks."""
    frames = [(i * 0.1, {1: box(200, 280 + 5 * i), 2: box(230, 276 + 5 * i)}) for i in range(12)]
    assert [c.kind for c in feed(LaneCamera(GEOMETRY), frames)] == ["exit"]


def test_trucks_following_each_other_over_a_line_both_count():
    frames = [(i * 0.1, {1: box(200, 280 + 5 * i), 2: box(200, 80 + 5 * i)}) for i in range(60)]  # 4 s behind
    exits = [(c.kind, c.track_id) for c in feed(LaneCamera(GEOMETRY), frames) if c.kind == "exit"]
    assert exits == [("exit", 1), ("exit", 2)]


def test_trucks_queued_close_behind_each_other_both_enter_within_the_duplicate_window():
    """A site whose long trucks show a second box up to 6 s apart (the simulated site's setting); two trucks
    creeping over the entry line 5 s apart, both seen all along with their boxes apart, are two trucks."""
    site = TrackingConfig(duplicate_window_s=6.0, duplicate_radius_px=120.0)
    frames = [(i * 0.1, {1: box(200, 60 + 2 * i), 2: box(200, -40 + 2 * i)}) for i in range(120)]
    enters = [(c.kind, c.track_id) for c in feed(LaneCamera(GEOMETRY, site), frames) if c.kind == "enter"]
    assert enters == [("enter", 1), ("enter", 2)]


def test_a_second_box_taking_over_from_its_vanished_truck_does_not_enter_again():
    """Within the duplicate window, a box crossing where the last truck crossed, that truck no longer seen."""
    site = TrackingConfig(duplicate_window_s=6.0, duplicate_radius_px=120.0, rejoin_radius_px=5.0)
    frames = [(i * 0.1, {1: box(200, 60 + 2 * i)}) for i in range(40)]  # crosses at 2 s, lost at 4 s
    frames += [(4.0 + i * 0.1, {2: box(200, 70 + 2 * i)}) for i in range(40)]  # crosses at 5.5 s
    enters = [c.track_id for c in feed(LaneCamera(GEOMETRY, site), frames) if c.kind == "enter"]
    assert enters == [1]


def test_a_part_of_a_truck_found_on_its_own_is_dropped():
    from edge.analysis import inside_another

    # The third box, a truck behind, has 60 % of its area inside the near one's: under the 70 % share.
    boxes = np.array([[100, 0, 500, 360], [150, 50, 300, 300], [440, 0, 540, 100]], dtype=float)
    assert inside_another(boxes).tolist() == [False, True, False]


def test_an_unsure_box_mostly_inside_a_surer_one_is_a_part_of_it():
    from edge.analysis import inside_another

    # 60 % inside the near truck's box: a part of it when it scores low and the near box higher,
    # a truck standing behind when it scores high itself.
    boxes = np.array([[100, 0, 500, 360], [440, 0, 540, 100]], dtype=float)
    assert inside_another(boxes, np.array([0.9, 0.5])).tolist() == [False, True]
    assert inside_another(boxes, np.array([0.9, 0.8])).tolist() == [False, False]
    assert inside_another(boxes, np.array([0.4, 0.5])).tolist() == [False, False]
    # Only 40 % inside: a small truck just behind, whatever its score.
    behind = np.array([[100, 0, 500, 360], [460, 0, 560, 100]], dtype=float)
    assert inside_another(behind, np.array([0.9, 0.5])).tolist() == [False, False]


def test_queued_truck_whose_track_restarted_deep_in_the_zone_still_counts():
    mast = TrackingConfig(infer_hidden_entries=False, hidden_hold_s=1.0, line_fit_frames=0)
    lane = LaneCamera(GEOMETRY, mast)
    frames = [(i * 0.1, {1: box(200, 200)}) for i in range(120)]  # in view from the start: counts
    frames += [(12.0 + i * 0.1, {2: box(200, 95 + i)}) for i in range(20)]  # crosses the entry line
    frames += [(14.0 + i * 0.1, {1: box(200, 200)}) for i in range(30)]  # 2 lost behind truck 1 for 3 s
    frames += [(17.0 + i * 0.1, {1: box(200, 200), 9: box(100, 160)}) for i in range(5)]  # 2 back as a new track
    frames += [(17.5 + i * 0.1, {1: box(200, 200), 8: box(300, 104)}) for i in range(5)]  # a box astride the line
    occupancy = []
    for seconds, boxes in frames:
        xyxy = np.array(list(boxes.values()), dtype=float).reshape(-1, 4)
        lane.update(xyxy, np.array(list(boxes.keys()), dtype=int), at(seconds))
        occupancy.append(lane.queue_occupancy)
    assert occupancy[-6] == 2  # the restarted track, 60 px past the line, counts without an `enter` of its own
    assert occupancy[-1] == 1  # one 4 px past the line that never crossed it does not


def test_one_truck_followed_by_two_tracks_counts_once_in_the_zone():
    lane = LaneCamera(GEOMETRY, RAW)
    frames = [(0.0, {1: box(200, 90)}), (0.1, {1: box(200, 120)}), (0.2, {1: box(200, 130)})]
    frames += [(0.3 + i * 0.1, {}) for i in range(3)]
    frames += [(0.6, {5: box(202, 132)}), (0.7, {5: box(202, 133)})]  # a new track there: truck 1 rejoined
    frames += [(0.8, {5: box(202, 134), 1: box(198, 133)})]  # and the tracker revives 1's old track beside it
    for seconds, boxes in frames:
        xyxy = np.array(list(boxes.values()), dtype=float).reshape(-1, 4)
        lane.update(xyxy, np.array(list(boxes.keys()), dtype=int), at(seconds))
    assert lane.queue_occupancy == 1


def feed_scored(lane: LaneCamera, frames: list[tuple[float, dict[int, tuple[list[float], float]]]]):
    """`feed` with the detector's score of each box; also returns the zone's occupancy after each frame."""
    out, occupancy = [], []
    for seconds, boxes in frames:
        xyxy = np.array([b for b, _ in boxes.values()], dtype=float).reshape(-1, 4)
        scores = np.array([s for _, s in boxes.values()], dtype=float)
        out += lane.update(xyxy, np.array(list(boxes.keys()), dtype=int), at(seconds), scores)
        occupancy.append(lane.queue_occupancy)
    return out + lane.flush(), occupancy


SLOW = TrackingConfig(line_fit_frames=0, duplicate_window_s=1.0, infer_hidden_entries=False, hidden_hold_s=1.0)


def ghost_frames(host_until_s: float = 99.0) -> list[tuple[float, dict[int, tuple[list[float], float]]]]:
    """A far truck creeping over the entry line (0.5 px a frame), and in two frames of three a second, less
    sure box of it 20 px lower (IoU 0.41) that crosses the line 4 s earlier; the truck's own box is missed in
    every third frame, where only the second box is seen."""
    frames = []
    for i in range(160):
        seconds, bottom = i * 0.1, 60 + 0.5 * i
        boxes: dict[int, tuple[list[float], float]] = {}
        if i % 3 != 2 and seconds < host_until_s:
            boxes[1] = (box(200, bottom), 0.8)
        if i % 3 != 0 and i >= 6:
            boxes[2] = (box(190, bottom + 20), 0.5)
        frames.append((seconds, boxes))
    return frames


def test_a_second_box_alternating_on_one_truck_does_not_enter_on_its_own():
    crossings, occupancy = feed_scored(LaneCamera(GEOMETRY, SLOW), ghost_frames())
    assert [(c.kind, c.track_id) for c in crossings] == [("enter", 1)]
    # The truck's own box crosses at frame 80 (bottom 100); the second box's would have at frame 40.
    assert abs((crossings[0].at.utc - T0).total_seconds() - 8.0) < 0.15
    assert occupancy[-1] == 1 and max(occupancy) == 1  # counted once, whichever of its boxes is seen


def test_a_second_box_whose_truck_is_lost_before_the_line_reports_the_crossing():
    crossings, _ = feed_scored(LaneCamera(GEOMETRY, SLOW), ghost_frames(host_until_s=5.0))
    assert [(c.kind, c.track_id) for c in crossings] == [("enter", 2)]
    assert abs((crossings[0].at.utc - T0).total_seconds() - 4.0) < 0.15  # the second box's own time


def test_a_truck_close_behind_a_surer_one_still_enters():
    """Far away, a truck queued close behind another overlaps it as much as a second box would, and scores
    lower (partly covered); but it stands behind, where no second box of the truck ahead lies."""
    frames = [(i * 0.1, {1: (box(200, 90 + 0.25 * i), 0.8), 2: (box(210, 75 + 0.25 * i), 0.6)}) for i in range(160)]
    crossings, occupancy = feed_scored(LaneCamera(GEOMETRY, SLOW), frames)
    assert [(c.kind, c.track_id) for c in crossings] == [("enter", 1), ("enter", 2)]
    assert occupancy[-1] == 2


MAST = TrackingConfig(infer_hidden_entries=False, hidden_hold_s=1.0, rejoin_radius_px=40.0, line_fit_frames=16)


def occupancies(lane: LaneCamera, frames: list[tuple[float, dict[int, list[float]]]]) -> list[int]:
    out = []
    for seconds, boxes in frames:
        xyxy = np.array(list(boxes.values()), dtype=float).reshape(-1, 4)
        lane.update(xyxy, np.array(list(boxes.keys()), dtype=int), at(seconds))
        out.append(lane.queue_occupancy)
    return out


def test_a_truck_creeping_over_the_entry_line_counts_as_soon_as_it_is_past():
    """0.6 px a frame, as at a far entry line: the 16 frames' median that times the crossing lags ~5 px behind."""
    bottoms = [90 + 0.6 * i for i in range(40)]
    lane = LaneCamera(GEOMETRY, MAST)
    frames = [(0.0, {})] + [(12.0 + i * 0.1, {1: box(200, b)}) for i, b in enumerate(bottoms)]  # after the grace
    occupancy = occupancies(lane, frames)[1:]
    first = occupancy.index(1)
    assert 100 < bottoms[first] < 102.5 and all(occupancy[first:])


def test_a_box_jittering_over_the_entry_line_in_single_frames_does_not_count():
    """Waits 2 px short of the line; one frame in three its box bottom lands 2 px past it."""
    lane = LaneCamera(GEOMETRY, MAST)
    frames = [(0.0, {})] + [(12.0 + i * 0.1, {1: box(200, 102 if i % 3 == 2 else 98)}) for i in range(60)]
    assert max(occupancies(lane, frames)) == 0


def test_a_truck_taken_for_the_one_ahead_is_let_go_once_both_are_seen_apart():
    """A far truck missed for a frame while the truck behind it comes out from behind: the new track overlaps
    the missed truck's box enough to be rejoined to it. Seen together, apart, from then on, they are two trucks."""
    def far(x: float, bottom: float) -> list[float]:
        return [x - 15, bottom - 30, x + 15, bottom]

    lane = LaneCamera(GEOMETRY, MAST.model_copy(update={"line_fit_frames": 0}))
    frames = [(i * 0.1, {1: far(200, 80)}) for i in range(5)]  # waiting short of the entry line (y 100)
    frames += [(0.5, {2: far(205, 70)})]  # 1 missed; 2 overlaps its last box (IoU 0.38): rejoined to it
    frames += [(0.6 + i * 0.1, {1: far(200, 80 + 0.5 * i), 2: far(205, 45 + 0.5 * i)}) for i in range(150)]
    enters = [c for c in feed(lane, frames) if c.kind == "enter"]
    assert len(enters) == 2 and len({c.track_id for c in enters}) == 2
    assert abs((enters[1].at.utc - T0).total_seconds() - (0.6 + 11.0)) <= 0.2  # 2's bottom reaches y 100 at 11.6 s
    assert lane.queue_occupancy == 2


def test_a_truck_followed_by_two_alternating_tracks_is_not_held_hidden_beside_itself():
    """The tracker follows one queued truck with two tracks (boxes 15 px apart, equally sure), seen by turns:
    the one not seen is not held as hidden while the other stands where it vanished."""
    lane = LaneCamera(GEOMETRY, MAST)
    frames = [(i * 0.1, {1: box(200, 200), 2: box(205, 215)}) for i in range(10)]  # in view at the start
    frames += [(1.0 + i * 0.1, {1 + (i // 5) % 2: box(200, 200) if (i // 5) % 2 == 0 else box(205, 215)})
               for i in range(40)]
    assert occupancies(lane, frames)[10:] == [1] * 40


def test_a_truck_vanishing_a_truck_length_behind_another_is_still_held():
    lane = LaneCamera(GEOMETRY, MAST)
    frames = [(i * 0.1, {1: box(200, 150), 2: box(200, 210)}) for i in range(10)]  # in view at the start
    frames += [(1.0 + i * 0.1, {2: box(200, 210)}) for i in range(5)]  # 1 hidden, 60 px behind 2
    assert occupancies(lane, frames)[-5:] == [2] * 5
