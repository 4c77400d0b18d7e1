"""Every log line carries the process's site and edge, and the lane (and camera) where it is about one."""

from __future__ import annotations

import io
import logging
import threading

import pytest

from lanewatch import logs


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    out = io.StringIO()
    logs.setup_logging(site="laocai", edge="gate1", cameras={"cam1": "x1", "cam2": "x2"}, stream=out)
    yield out
    logging.getLogger().handlers.clear()


def in_thread(name: str, work) -> None:  # noqa: ANN001
    thread = threading.Thread(target=work, name=name)
    thread.start()
    thread.join()


def test_lines_carry_site_edge_and_the_lane_of_the_camera_thread(stream: io.StringIO) -> None:
    log = logging.getLogger("edge.sources")
    log.warning("edge-wide")
    in_thread("camera-cam2-reader-3", lambda: log.warning("stream lost"))
    in_thread("pipeline-cam1", lambda: log.info("lane x1: enter track 4"))
    in_thread("weighbridge-x2-reader", lambda: (logs.bind(lane="x2"), log.info("indicator silent")))
    log.info("explicit", extra={"lane": "x9"})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 5
    assert all(" site=laocai edge=gate1 " in line for line in lines)
    assert "lane=" not in lines[0] and lines[0].endswith('logger=edge.sources msg=edge-wide')
    assert " lane=x2 camera=cam2 logger=edge.sources msg=\"stream lost\"" in lines[1]
    assert " level=info site=laocai edge=gate1 lane=x1 camera=cam1 " in lines[2]
    assert " lane=x2 logger=" in lines[3]
    assert " lane=x9 logger=" in lines[4]
    # a bound lane stays with its thread only
    assert "lane=" not in (logging.getLogger().handlers[0].format(
        logging.LogRecord("x", logging.INFO, __file__, 1, "main thread", None, None)))


def test_a_traceback_stays_on_its_line(stream: io.StringIO) -> None:
    try:
        raise ValueError("bad frame\nsecond line")
    except ValueError:
        logging.getLogger("edge.app").exception("camera cam1: analysis loop failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert 'msg="camera cam1: analysis loop failed" exc="Traceback (most recent call last):\\n' in lines[0]
    assert "ValueError: bad frame\\nsecond line" in lines[0]


def test_journald_gets_priorities_and_no_second_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    out = io.StringIO()
    logs.setup_logging(service="central", stream=out)
    try:
        logging.getLogger("central.ingest").error("dead letter")
        logging.getLogger("central.ingest").info("subscribed")
    finally:
        logging.getLogger().handlers.clear()
    assert out.getvalue().splitlines() == [
        '<3>level=error service=central logger=central.ingest msg="dead letter"',
        "<6>level=info service=central logger=central.ingest msg=subscribed",
    ]
