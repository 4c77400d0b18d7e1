"""Plates on simulated trucks, end to end, against the simulator's truth (issue #5's accuracy bar).

Real parts: the simulator renders its `plates` scenario (two lanes: export, mostly Vietnamese
trucks; import, mostly Chinese) with a 1080p gate camera; the edge's detector, tracker, lane logic
and plate stage (PP-OCRv4 ONNX models) run over the gate videos exactly as `edge.app` wires them;
each exit event's plates are scored against truth.jsonl.

Seeds: 43 (this test) was never looked at while tuning; the plate stage was tuned on seeds 60–63
(and 3, 5, 41 before). One run of 360 s scores about 17 trucks, too few to show 95 % on its own:
`make bench` adds fresh seeds 101 and 102 (about 100 more trucks, never used for tuning) and
reports the pooled figures; docs/plates.md has them.
"""

from __future__ import annotations

import pytest

from bench.plates_sim import TEST_RUN, PlateScore, run_edge, score, simulate

# Rendering and reading 2 x 360 s of 1080p video takes about 100 s on a quiet 2-core machine; give a
# busy one room before pytest-timeout's default cuts it.
pytestmark = [pytest.mark.timeout(1200), pytest.mark.long]

EXACT_TARGET = 0.95  # the bar, per country and per row count
WRONG_TARGET = 0.01  # the bar: trucks with a confidently wrong plate


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> PlateScore:
    run = TEST_RUN
    world = simulate(tmp_path_factory.mktemp("plates-sim") / "world", run.seed, run.duration_s, lanes=run.lanes)
    return score(world, run_edge(world))


def test_enough_trucks_of_each_kind_are_scored(result: PlateScore) -> None:
    groups = result.groups()
    assert len(result.trucks) >= 14 and result.missed_exits <= 1
    for country in ("VN", "CN"):
        assert sum(len(v) for (c, _), v in groups.items() if c == country) >= 5, groups.keys()
    assert any(rows == 2 for _, rows in groups), "no two-row plate among the trucks"


@pytest.mark.parametrize("country", ["VN", "CN"])
def test_exact_match_per_country(result: PlateScore, country: str) -> None:
    right, total = result.exact(country=country)
    misses = [(t.truck, t.truth[0], t.read) for t in result.trucks if t.country == country and t.read != t.truth[0]]
    assert right >= EXACT_TARGET * total, misses


@pytest.mark.parametrize("rows", [1, 2])
def test_exact_match_per_row_count(result: PlateScore, rows: int) -> None:
    right, total = result.exact(rows=rows)
    misses = [(t.truck, t.truth[0], t.read) for t in result.trucks if t.rows == rows and t.read != t.truth[0]]
    assert total and right >= EXACT_TARGET * total, misses


def test_confidently_wrong_plates_are_rare(result: PlateScore) -> None:
    wrong, total = result.wrong()
    # Below 1 % of ~17 trucks means none.
    assert wrong <= WRONG_TARGET * total, [(t.truck, t.truth, t.read) for t in result.trucks if t.confidently_wrong]
