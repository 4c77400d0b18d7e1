"""docs/simulator.md keeps up with the simulator: every option and output file is described."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sim.cli import _parser
from sim.outputs import QUEUE_COLUMNS, WEIGHBRIDGE_COLUMNS

DOC = (Path(__file__).parent.parent / "docs" / "simulator.md").read_text(encoding="utf-8")


def _options(command: str) -> list[str]:
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return [s for a in sub.choices[command]._actions for s in a.option_strings if s.startswith("--") and s != "--help"]


@pytest.mark.parametrize("option", _options("generate") + _options("serve"))
def test_every_option_is_documented(option: str) -> None:
    assert f"`{option}" in DOC or f"{option} " in DOC, option


@pytest.mark.parametrize(
    "name",
    [
        "world.json",
        "truth.jsonl",
        "queue.csv",
        "{lane}-weighbridge.csv",
        "objects/{camera_id}.jsonl",
        "images/{camera_id}/{frame:06d}.jpg",
        "labels/{camera_id}/{frame:06d}.txt",
        "{camera_id}.mp4",
    ],
)
def test_every_output_file_is_documented(name: str) -> None:
    assert name in DOC


def test_csv_columns_are_documented() -> None:
    assert ",".join(QUEUE_COLUMNS) in DOC
    for column in WEIGHBRIDGE_COLUMNS:
        assert f"`{column}`" in DOC
