"""Clock state from the OS, and wall-clock steps that never touch a duration."""

from __future__ import annotations

import logging

import pytest

from lanewatch.clock import ClockWatch, adjtimex, duration_s, parse_chrony_tracking, read_adjtimex, read_os_clock
from lanewatch.contract import ClockState

CHRONY_SYNCED = """Reference ID    : C0A80101 (192.168.1.1)
Stratum         : 3
Ref time (UTC)  : Mon Mar 02 03:04:05 2026
System time     : 0.000123456 seconds slow of NTP time
Last offset     : +0.000001234 seconds
RMS offset      : 0.000010000 seconds
Frequency       : 12.345 ppm fast
Residual freq   : +0.001 ppm
Skew            : 0.010 ppm
Root delay      : 0.012345678 seconds
Root dispersion : 0.000123456 seconds
Update interval : 64.5 seconds
Leap status     : Normal
"""


class FakeClocks:
    """Wall and monotonic clocks the test moves by hand."""

    def __init__(self) -> None:
        self.wall, self.mono = 1_780_000_000.0, 5_000.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def make_watch(clocks: FakeClocks, reads: list[int] | None = None) -> ClockWatch:
    def read_os() -> ClockState:
        if reads is not None:
            reads.append(1)
        return ClockState(synced=True, offset_ms=1.5, source="chrony")

    return ClockWatch(wall=lambda: clocks.wall, mono=lambda: clocks.mono, read_os=read_os, background=False)


@pytest.mark.parametrize("step_s", [-3600.0, -2.0, 7.0, 86_400.0])
def test_a_wall_clock_step_changes_no_duration_and_is_flagged_once(step_s, caplog):
    clocks = FakeClocks()
    watch = make_watch(clocks)
    start = watch.now()
    clocks.advance(42.0)
    clocks.wall += step_s  # an operator sets the date, or NTP steps after an outage
    clocks.advance(18.0)
    with caplog.at_level(logging.WARNING, logger="lanewatch.clock"):
        end = watch.now()
    assert duration_s(start, end) == 60.0
    assert (end.utc - start.utc).total_seconds() == pytest.approx(60.0 + step_s)  # what the wall clock claims
    assert end.clock.step_detected and not start.clock.step_detected
    assert watch.steps == 1 and watch.last_step_s == pytest.approx(step_s)
    assert "wall clock stepped" in caplog.text
    clocks.advance(1.0)
    assert not watch.state().step_detected  # reported once, in the next message only


def test_slewing_is_not_a_step():
    clocks = FakeClocks()
    watch = make_watch(clocks)
    for _ in range(3600):  # an hour of NTP slewing at 400 ppm, checked each second
        clocks.advance(1.0)
        clocks.wall += 400e-6
        watch.now()
    clocks.advance(600.0)  # a quiet 10 minutes with 0.25 s of slew: still under the bound
    clocks.wall += 0.25
    assert not watch.state().step_detected
    assert watch.steps == 0


def test_os_state_is_cached():
    clocks, reads = FakeClocks(), []
    watch = make_watch(clocks, reads)
    for _ in range(100):
        clocks.advance(0.01)
        stamp = watch.now()
    assert len(reads) == 1 and stamp.clock.synced and stamp.clock.offset_ms == 1.5
    clocks.advance(5.0)
    watch.now()
    assert len(reads) == 2


def test_stamps_fit_the_contract():
    clocks = FakeClocks()
    stamp = make_watch(clocks).now()
    assert stamp.utc.tzinfo is not None and stamp.utc.timestamp() == clocks.wall
    assert stamp.mono_ms == 5_000_000


def test_chrony_tracking_output():
    state = parse_chrony_tracking(CHRONY_SYNCED)
    assert state == ClockState(synced=True, offset_ms=-0.123, source="chrony")
    unsynced = CHRONY_SYNCED.replace("Leap status     : Normal", "Leap status     : Not synchronised")
    assert parse_chrony_tracking(unsynced) == ClockState(synced=False, offset_ms=None, source="chrony")
    assert parse_chrony_tracking("506 Cannot talk to daemon\n") is None


def test_this_machines_kernel_clock_is_readable():
    kernel = adjtimex()
    assert kernel is not None  # Linux: adjtimex(2) with modes = 0 needs no privilege
    assert kernel.maxerror_ms >= 0 and kernel.esterror_ms >= 0
    state = read_adjtimex()
    assert state is not None and state.synced == kernel.synced and state.source == "adjtimex"
    assert read_os_clock().source in ("chrony", "adjtimex", "timedatectl")


def test_real_clocks_background_refresh():
    watch = ClockWatch(cache_s=0.0)
    first = watch.now()
    second = watch.now()
    assert duration_s(first, second) >= 0
    assert second.clock.source in ("chrony", "adjtimex", "timedatectl", "unknown")
