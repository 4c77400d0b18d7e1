"""Delivery through faults, with a real Mosquitto, a real central process and a real edge process
(`edge.loadgen` drives the edge's real outbox and publisher), each over a stream of >= 10,000 events.

(a)-(d): the central ends with exactly the events the edge produced, seq 1..N, once each.
(e): what a full outbox dropped is what the policy says, and the status says so.
The 60-second link cut (c) runs in the background while the others run, to keep the total short.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from delivery_rig import Rig, running_rig, wait_until

pytestmark = pytest.mark.slow
N = 10_000


class Background:
    """A scenario run in a thread; `result()` waits for it and re-raises what it raised."""

    def __init__(self, scenario: Callable[[Path], dict], tmp: Path):
        self._outcome: dict = {}
        self._thread = threading.Thread(target=self._run, args=(scenario, tmp), name="scenario", daemon=True)
        self._thread.start()

    def _run(self, scenario: Callable[[Path], dict], tmp: Path) -> None:
        try:
            self._outcome["value"] = scenario(tmp)
        except BaseException as exc:  # handed to the test that waits for it
            self._outcome["error"] = exc

    def result(self, timeout: float = 280) -> dict:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "scenario still running"
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome["value"]


def under_way(rig: Rig, progress: Callable[[], int], at: int, what: str) -> subprocess.Popen:
    """An edge sending N events at 1,000/s, once `progress()` has reached `at`: the moment to break something."""
    edge = rig.start_edge(N, rate=1000)
    wait_until(lambda: progress() >= at, 60, what)
    return edge


def link_cut_for_60_s(tmp: Path) -> dict:
    with running_rig(tmp, proxy=True) as rig:
        edge = rig.start_edge(N, rate=150)  # about 67 s of events: most of them are made during the cut
        wait_until(lambda: rig.stored() >= 300, 60, "first events reach the central")
        rig.proxy.cut()
        at_cut, cut_at = rig.committed(), time.monotonic()
        time.sleep(60)
        during = rig.committed() - at_cut
        stored_during = rig.stored()
        rig.proxy.restore()
        summary = rig.finish_edge(edge)
        rig.assert_exactly(N)
        return {"made_during_cut": during, "stored_at_restore": stored_during, "at_cut": at_cut,
                "cut_s": time.monotonic() - cut_at, "summary": summary, "connections": rig.proxy.connections}


@pytest.fixture(scope="module", autouse=True)
def link_cut(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Start (c) at the beginning of the module when it was selected, so that its minute of outage
    overlaps the other scenarios."""
    wanted = any(item.name == "test_c_link_cut_60_s_loses_nothing" for item in request.session.items)
    runner = Background(link_cut_for_60_s, tmp_path_factory.mktemp("cut")) if wanted else None
    yield runner
    if runner is not None:
        runner._thread.join(280)


def test_a_broker_killed_and_restarted_loses_nothing(tmp_path):
    with running_rig(tmp_path) as rig:
        edge = under_way(rig, rig.stored, 3000, "3000 events stored")
        rig.broker.kill()  # SIGKILL: whatever it acknowledged but had not passed on is gone with it
        time.sleep(1.0)
        rig.broker.start()  # same port, same persistence folder
        summary = rig.finish_edge(edge)
        assert summary["reconnects"] >= 1
        rig.assert_exactly(N)


def test_b_edge_sigkilled_and_restarted_loses_nothing(tmp_path):
    with running_rig(tmp_path) as rig:
        first = under_way(rig, rig.committed, 4000, "4000 events committed")
        first.kill()
        first.wait(timeout=10)
        killed_at = rig.committed()
        assert killed_at < N
        summary = rig.finish_edge(rig.start_edge(N, rate=2000))
        assert summary["first_seq"] == killed_at + 1  # it went on from its last commit
        rig.assert_exactly(N)


def test_c_link_cut_60_s_loses_nothing(link_cut):
    outcome = link_cut.result()
    assert outcome["cut_s"] >= 60
    assert outcome["made_during_cut"] >= 5000  # the vision side kept producing while the link was down
    assert outcome["connections"] >= 2  # the edge came back through the proxy by itself


def test_d_central_killed_and_restarted_loses_nothing(tmp_path):
    with running_rig(tmp_path) as rig:
        edge = under_way(rig, rig.stored, 3000, "3000 events stored")
        rig.kill_central()
        time.sleep(1.0)
        rig.start_central()  # same client id: the broker kept its session and its unacknowledged messages
        rig.finish_edge(edge)
        rig.assert_exactly(N)


def test_e_disk_limit_in_an_outage_drops_by_policy(tmp_path):
    before, total = 1200, 1200 + N  # the first 1,200 with their crops stay under the soft limit
    with running_rig(tmp_path, proxy=True, outbox={"max_bytes": "3MiB", "hard_limit_bytes": "4MiB"}) as rig:
        rig.finish_edge(rig.start_edge(before, crop_every=4))  # delivered and confirmed
        rig.proxy.cut()
        edge = rig.start_edge(total, crop_every=4, until="delivered")
        wait_until(lambda: rig.committed() >= total, 120, f"{total} events committed during the outage")
        time.sleep(1.5)  # a status or two with the alarm
        rig.proxy.restore()
        rig.finish_edge(edge)

        dropped = rig.outbox_rows("SELECT first_seq, last_seq, reason FROM dropped ORDER BY first_seq")
        assert dropped, "the hard limit was never reached"
        # Policy: undelivered events go only at the hard limit, oldest first: one range from the first of the outage.
        assert len(dropped) == 1 and dropped[0][0] == before + 1 and dropped[0][2] == "hard limit", dropped
        last_dropped = dropped[0][1]
        expected = [*range(1, before + 1), *range(last_dropped + 1, total + 1)]
        wait_until(lambda: rig.stored() >= len(expected), 60, "the rest reaches the central")
        time.sleep(1.0)
        events = rig.central_events()
        assert [s for _, s, _ in events] == expected

        # Before any undelivered event went, every crop and every delivered event had gone.
        log = rig.outbox_rows("SELECT kind, reason, crops_left, delivered_left FROM prune_log ORDER BY id")
        kinds = [k for k, *_ in log]
        assert "crops" in kinds and "delivered" in kinds and "undelivered" in kinds
        assert kinds.index("crops") < kinds.index("delivered") < kinds.index("undelivered")
        for kind, reason, crops_left, delivered_left in log:
            if kind == "delivered" and reason != "age":
                assert crops_left == 0
            if kind == "undelivered":
                assert (crops_left, delivered_left) == (0, 0)
        # Crops were dropped while their events were kept: such events reached the central without them.
        with_crop = lambda payload: any("crop_jpeg_b64" in p for p in payload["plates"])  # noqa: E731
        crop_events = [(s, with_crop(p)) for _, s, p in events if s % 4 == 0]
        assert all(has for s, has in crop_events if s <= before)  # sent before the outage, crop and all
        assert any(not has for s, has in crop_events if s > last_dropped)

        # The status says so, and so does the log.
        count = last_dropped - before
        wait_until(lambda: any(st["outbox"].get("dropped_events") == count for st in rig.statuses()), 10,
                   "status reports the drop")
        for status in rig.statuses():
            outbox = status["outbox"]
            assert outbox["dropped_events"] == count
            assert outbox["dropped_seqs"] == [[before + 1, last_dropped]]
            assert "hard limit reached" in outbox["alarm"]
        assert "hard limit reached: dropped" in rig.edge_log()
        # The database stayed within the hard limit, give or take a batch.
        assert rig.outbox_path.stat().st_size <= 1.25 * 4 * 2**20
