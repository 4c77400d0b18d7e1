"""The simulated network camera: an OpenCV client reads it, it stops and comes back on the same URL."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from sim.cli import main
from sim.mjpeg import MjpegServer, VideoUnreadable


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cam")
    assert (
        main(
            [
                "generate",
                "--seed",
                "1",
                "--duration",
                "3",
                "--width",
                "320",
                "--height",
                "180",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    return out / "lane-1-queue.mp4"


def read_frames(url: str, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(url)
    assert cap.isOpened(), url
    frames: list[np.ndarray] = []
    for _ in range(n):
        ok, frame = cap.read()
        assert ok, f"read failed after {len(frames)} frames"
        frames.append(frame)
    cap.release()
    return frames


def test_stop_and_restart_mid_stream(video: Path) -> None:
    server = MjpegServer(video, port=0).start()
    try:
        url = server.url
        cap = cv2.VideoCapture(url)
        assert cap.isOpened()
        for _ in range(5):
            ok, frame = cap.read()
            assert ok and frame.shape == (180, 320, 3)
        server.stop()
        # The connection is cut: the client's next reads fail instead of hanging.
        t0 = time.monotonic()
        failed = False
        for _ in range(50):
            ok, _frame = cap.read()
            if not ok:
                failed = True
                break
        assert failed and time.monotonic() - t0 < 10
        cap.release()
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(url, timeout=2)
        server.start()
        assert server.url == url, "a restarted camera keeps its URL"
        assert len(read_frames(url, 5)) == 5
    finally:
        server.stop()


def test_frames_are_paced_and_the_video_loops(video: Path) -> None:
    with MjpegServer(video, port=0, loop=True) as server:
        t0 = time.monotonic()
        frames = read_frames(server.url, 40)  # the video has 30 frames at 10 fps
        elapsed = time.monotonic() - t0
    assert elapsed >= 3.0, f"40 frames at 10 fps came in {elapsed:.1f} s"
    assert not np.array_equal(frames[0], frames[20])


def test_snapshot_and_unknown_paths(video: Path) -> None:
    with MjpegServer(video, port=0) as server:
        base = server.url.rsplit("/", 1)[0]
        with urllib.request.urlopen(base + "/snapshot.jpg", timeout=5) as resp:
            assert resp.headers["Content-Type"] == "image/jpeg"
            img = cv2.imdecode(np.frombuffer(resp.read(), np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape == (180, 320, 3)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/video", timeout=5)
        err.value.close()
        assert err.value.code == 404


def test_without_loop_the_stream_ends(video: Path) -> None:
    with MjpegServer(video, port=0, loop=False) as server:
        cap = cv2.VideoCapture(server.url)
        count = 0
        while count < 200:
            ok, _ = cap.read()
            if not ok:
                break
            count += 1
        cap.release()
        assert server.ended
    assert 10 <= count <= 30  # a client that connects late misses the first frames


def test_unreadable_video_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-video.mp4"
    bad.write_bytes(b"nothing here")
    with pytest.raises(VideoUnreadable, match="not-a-video.mp4"):
        MjpegServer(bad, port=0).start()
    with pytest.raises(VideoUnreadable):
        MjpegServer(tmp_path / "missing.mp4", port=0).start()


def test_serve_command_runs_until_terminated(video: Path) -> None:
    cmd = [sys.executable, "-m", "sim.cli", "serve", "--video", str(video), "--port", "0", "--loop"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("serving "), line
            url = line.split(" at ", 1)[1].strip()
            assert len(read_frames(url, 3)) == 3
            proc.terminate()
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
