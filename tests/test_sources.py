"""Camera sources against real video: files through OpenCV, and a real MJPEG-over-HTTP camera
(tests/mjpeg_server.py) that hangs, refuses and sends garbage on demand."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from mjpeg_server import MjpegTestServer, frame_number
from synthetic import make_lane_video

from edge.config import CameraConfig
from edge.sources import Frame, FrameSource, describe

START = datetime(2026, 11, 30, 1, 0, 0, tzinfo=UTC)


class Consumer:
    """Pulls frames in a thread, like a pipeline, optionally slower than the camera."""

    def __init__(self, source: FrameSource, work_s: float = 0.0):
        self.source, self.work_s = source, work_s
        self.frames: list[tuple[Frame, float]] = []  # frame, time.time() when received
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for frame in self.source.frames():
            self.frames.append((frame, time.time()))
            time.sleep(self.work_s)

    def start(self) -> Consumer:
        self.source.start()
        self.thread.start()
        return self


def wait_until(condition, timeout: float, step: float = 0.05) -> float:
    """Seconds it took for `condition()` to hold; fails the test after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(step)
    return time.monotonic() - started


def camera(source: dict, analysis_fps: float = 10.0) -> CameraConfig:
    return CameraConfig.model_validate({"id": "cam1", "analysis_fps": analysis_fps, "source": source})


@pytest.fixture
def server():
    s = MjpegTestServer(fps=25).start()
    yield s
    s.stop()


@pytest.fixture
def stop():
    event = threading.Event()
    yield event
    event.set()


def test_file_replay_delivers_every_due_frame_stamped_with_file_time(tmp_path, stop):
    truth = make_lane_video(tmp_path / "lane.avi", trucks=1, fps=10.0)
    cam = camera({"type": "file", "path": str(tmp_path / "lane.avi"), "realtime": False,
                  "start_utc": START.isoformat()}, analysis_fps=5.0)
    consumer = Consumer(FrameSource(cam, stop)).start()
    consumer.thread.join(timeout=30)
    frames = [f for f, _ in consumer.frames]
    total = int((1.0 + (truth.height + 60) / 60.0 + 1.0) * truth.fps)
    assert [f.index for f in frames] == list(range(0, total, 2))
    assert all(f.at.utc == START + timedelta(seconds=f.index / 10.0) for f in frames)
    assert consumer.source.state == "ended" and consumer.source.dropped == 0


def test_slow_analysis_gets_newest_frames_and_drops_are_counted(tmp_path, stop):
    make_lane_video(tmp_path / "lane.avi", trucks=1, fps=25.0)
    cam = camera({"type": "file", "path": str(tmp_path / "lane.avi"), "realtime": True}, analysis_fps=25.0)
    consumer = Consumer(FrameSource(cam, stop), work_s=0.2).start()
    consumer.thread.join(timeout=60)
    frames = [f for f, _ in consumer.frames]
    source = consumer.source
    assert source.dropped > 0
    assert source.delivered == len(frames) + source.dropped
    # Never more than the small queue behind: the last frame analysed is (nearly) the video's last.
    assert frames[-1].index >= source.delivered - 3


def test_live_frames_carry_their_capture_time(server, stop):
    consumer = Consumer(FrameSource(camera({"type": "network", "url": server.url}), stop)).start()
    wait_until(lambda: len(consumer.frames) >= 20, timeout=15)
    for frame, _ in consumer.frames[:20]:
        sent = server.sent_at[frame_number(frame.image)]
        assert 0 <= frame.at.utc.timestamp() - sent < 0.5
    # Analysed at 10 fps out of 25: the gaps between analysed frames are about 0.1 s.
    times = [f.at.mono_ns / 1e9 for f, _ in consumer.frames[:20]]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert 0.08 <= sum(gaps) / len(gaps) <= 0.13


def test_hung_stream_is_declared_lost_within_5_s_and_reopened(server, stop):
    source = FrameSource(camera({"type": "network", "url": server.url}), stop)
    consumer = Consumer(source).start()
    wait_until(lambda: source.state == "ok" and len(consumer.frames) > 5, timeout=15)
    server.hold()
    held_at = time.monotonic()
    wait_until(lambda: source.state == "lost", timeout=8)
    assert time.monotonic() - held_at <= 5.5
    assert source.reconnects == 0
    before = len(consumer.frames)
    server.drop_and_resume()
    wait_until(lambda: source.state == "ok" and len(consumer.frames) > before + 5, timeout=10)
    assert source.reconnects == 1
    assert len(server.connections) == 2


def test_refused_reopens_back_off_doubling_to_the_cap(server, stop):
    server.refuse()
    cam = camera({"type": "network", "url": server.url, "reconnect_initial_s": 0.2, "reconnect_max_s": 0.8})
    source = FrameSource(cam, stop).start()
    wait_until(lambda: len(server.connections) >= 6, timeout=20)
    assert source.state == "lost"
    gaps = [b - a for a, b in zip(server.connections, server.connections[1:], strict=False)]
    for gap, wait in zip(gaps, [0.2, 0.4, 0.8, 0.8, 0.8], strict=False):
        assert wait <= gap < wait + 0.4, gaps
    server.refuse(False)
    wait_until(lambda: source.state == "ok", timeout=5)


def test_corrupt_frames_are_skipped_and_counted(server, stop):
    source = FrameSource(camera({"type": "network", "url": server.url}, analysis_fps=25.0), stop)
    consumer = Consumer(source).start()
    wait_until(lambda: len(consumer.frames) > 5, timeout=15)
    server.corrupt(3)
    wait_until(lambda: source.corrupt == 3, timeout=5)
    received = len(consumer.frames)
    wait_until(lambda: len(consumer.frames) > received + 10, timeout=5)
    assert source.state == "ok" and source.reconnects == 0 and source.corrupt == 3
    assert all(f.image.shape == (120, 160, 3) for f, _ in consumer.frames)


def test_password_in_camera_url_is_hidden_in_logs():
    cam = camera({"type": "network", "url": "rtsp://admin:s3cret@10.0.0.5/stream1"})
    assert describe(cam.source) == "rtsp://admin:***@10.0.0.5/stream1"
