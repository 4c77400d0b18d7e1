"""The simulator's truth without pictures: determinism, event order, queue bookkeeping, plates, busy days."""

from __future__ import annotations

import csv
import json
import random
import re
import sys
import types
from pathlib import Path

import pytest

from sim.cli import main
from sim.options import GenerateOptions, parse_utc

# DESIGN.md's formats, written out here independently of the simulator's plate generator.
CN_PROV = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
VN_FORMATS = [re.compile(r"^[1-9][0-9][A-HK-NPR-VX-Z][0-9]{4,5}$"), re.compile(r"^[1-9][0-9](LD|KT|NG)[0-9]{4,5}$")]
CN_FORMATS = [
    re.compile(rf"^[{CN_PROV}][A-HJ-NP-Z][A-HJ-NP-Z0-9]{{5}}$"),
    re.compile(rf"^[{CN_PROV}][A-HJ-NP-Z][A-HJ-NP-Z0-9]{{4}}挂$"),
    re.compile(rf"^[{CN_PROV}][A-HJ-NP-Z][0-9]{{5}}[DF]$"),
]
EVENTS = ("arrive", "enter", "gate", "weigh", "exit")


def run(out: Path, *extra: str) -> Path:
    assert main(["generate", "--out", str(out), "--no-video", "--quiet", *extra]) == 0
    return out


def truth(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "truth.jsonl").read_text(encoding="utf-8").splitlines()]


def queue_rows(out: Path) -> list[dict[str, str]]:
    with (out / "queue.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def steady(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(tmp_path_factory.mktemp("steady"), "--seed", "11", "--duration", "3600", "--fps", "5", "--lanes", "2")


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(
        tmp_path_factory.mktemp("busy"), "--seed", "3", "--duration", "10200", "--fps", "2", "--scenario", "busy"
    )


def test_same_seed_same_truth_and_other_seed_differs(tmp_path: Path) -> None:
    args = ("--duration", "900", "--fps", "5", "--lanes", "2", "--scenario", "busy")
    a = run(tmp_path / "a", "--seed", "5", *args)
    b = run(tmp_path / "b", "--seed", "5", *args)
    c = run(tmp_path / "c", "--seed", "6", *args)
    for name in ("truth.jsonl", "queue.csv", "lane-1-weighbridge.csv", "lane-2-weighbridge.csv", "world.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "truth.jsonl").read_bytes() != (c / "truth.jsonl").read_bytes()
    assert (a / "lane-1-weighbridge.csv").read_bytes() != (c / "lane-1-weighbridge.csv").read_bytes()


def test_events_in_order_and_null_only_after_the_end(steady: Path) -> None:
    trucks = truth(steady)
    world = json.loads((steady / "world.json").read_text())
    finished = [t for t in trucks if t["exit"] is not None]
    assert len(finished) >= 25
    for t in trucks:
        frames = [t[e]["frame"] if t[e] else None for e in EVENTS]
        assert frames[0] is not None, t["truck"]
        seen_null = False
        for f in frames:
            seen_null = seen_null or f is None
            assert f is None or not seen_null, f"{t['truck']}: an event after a missing one: {frames}"
        known = [f for f in frames if f is not None]
        assert known == sorted(known), t["truck"]
        if t["exit"] is not None:
            assert known[1] < known[2] < known[3] < known[4], t["truck"]
    start = parse_utc(world["start_utc"])
    for t in trucks:
        for e in EVENTS:
            if t[e]:
                assert t[e]["video_s"] == pytest.approx(t[e]["frame"] / world["fps"], abs=1e-3)
                assert (parse_utc(t[e]["utc"]) - start).total_seconds() == pytest.approx(t[e]["video_s"], abs=1e-3)
                assert 0 <= t[e]["video_s"] < world["duration_s"]


def test_queue_length_is_enters_minus_gate_crossings(steady: Path) -> None:
    trucks = truth(steady)
    rows = queue_rows(steady)
    lanes = {r["lane"] for r in rows}
    assert lanes == {"lane-1", "lane-2"}
    for row in rows:
        lane, second = row["lane"], int(row["second"])
        entered = sum(1 for t in trucks if t["lane"] == lane and t["enter"] and t["enter"]["video_s"] <= second)
        left = sum(1 for t in trucks if t["lane"] == lane and t["gate"] and t["gate"]["video_s"] <= second)
        assert int(row["queue_len"]) == entered - left >= 0, row
        assert 0 <= int(row["occupancy_queue_zone"]) <= int(row["queue_len"]), row
    assert max(int(r["queue_len"]) for r in rows) > 0
    assert max(int(r["occupancy_queue_zone"]) for r in rows) > 0
    assert len(rows) == 2 * 3600


def test_plates_follow_their_country_formats(steady: Path, busy: Path) -> None:
    trucks = truth(steady) + truth(busy)
    countries = set()
    for t in trucks:
        plates = t["plates"]
        assert plates[0]["visible"] is True and plates[0]["role"] in ("vehicle", "tractor")
        assert all(p["visible"] is False and p["role"] == "trailer" for p in plates[1:])
        assert (len(plates) == 2) == t["kind"].startswith("tractor")
        for p in plates:
            formats = VN_FORMATS if p["country"] == "VN" else CN_FORMATS
            assert any(f.match(p["text"]) for f in formats), p
            assert p["rows"] == p["printed"].count("\n") + 1
            countries.add(p["country"])
            if p["role"] == "trailer":
                assert p["text"].endswith("挂") or p["text"][2] == "R", p
    assert countries == {"VN", "CN"}
    assert any(p["rows"] == 2 and p["visible"] for t in trucks for p in t["plates"]), "no two-row front plate"


def test_busy_queue_builds_past_30_and_drains(busy: Path) -> None:
    lengths = [int(r["queue_len"]) for r in queue_rows(busy)]
    peak = max(lengths)
    assert peak >= 30
    assert lengths.index(peak) < len(lengths) // 2
    assert min(lengths[lengths.index(peak) :]) <= 2, "the queue never drained"


def test_weighbridge_reads_the_true_weight_when_the_truck_stands(steady: Path) -> None:
    trucks = {t["truck"]: t for t in truth(steady)}
    with (steady / "lane-1-weighbridge.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3600 * 10
    by_time = {round(float(r["t_s"]), 1): r for r in rows}
    checked = 0
    for t in trucks.values():
        if t["lane"] != "lane-1" or not t["weigh"]:
            continue
        times = [round(t["weigh"]["video_s"] + k / 10, 1) for k in range(1, 21)]
        window = [by_time[s] for s in times if s in by_time]
        stable = [r for r in window if r["motion"] == "0"]
        assert len(stable) >= len(window) - 1  # a spike may hit one sample
        assert all(r["truck"] == t["truck"] for r in window)
        assert sum(int(r["weight_kg"]) == t["weight_kg"] for r in stable) >= len(stable) - 1
        checked += 1
    assert checked >= 20
    empty = [int(r["weight_kg"]) for r in rows if r["truck"] == "" and r["motion"] == "0"]
    assert empty and max(abs(w) for w in empty) <= 40  # zero drift stays small
    moving = [r for r in rows if r["truck"] and r["motion"] == "1"]
    assert moving, "no motion while trucks drive on"


def test_lane_one_is_the_same_whatever_the_lane_count(tmp_path: Path) -> None:
    one = run(tmp_path / "one", "--seed", "9", "--duration", "600", "--fps", "5")
    two = run(tmp_path / "two", "--seed", "9", "--duration", "600", "--fps", "5", "--lanes", "2")

    def key(t: dict) -> tuple:
        return (t["plates"][0]["text"], t["weight_kg"], tuple(t[e]["frame"] if t[e] else None for e in EVENTS))

    assert [key(t) for t in truth(one)] == [key(t) for t in truth(two) if t["lane"] == "lane-1"]
    assert any(t["lane"] == "lane-2" for t in truth(two))


def test_a_longer_run_starts_like_a_shorter_one(tmp_path: Path) -> None:
    short = run(tmp_path / "short", "--seed", "4", "--duration", "600", "--fps", "5", "--scenario", "busy")
    long = run(tmp_path / "long", "--seed", "4", "--duration", "1200", "--fps", "5", "--scenario", "busy")
    a = truth(short)
    b = {t["truck"]: t for t in truth(long)}
    assert a and all(t == b[t["truck"]] for t in a if t["exit"] is not None)
    assert queue_rows(short) == queue_rows(long)[:600]


def test_without_the_weighbridge_the_truth_and_queue_are_the_same(tmp_path: Path) -> None:
    """`--no-weighbridge` (tests/test_accuracy.py: a day's truth in a third of the time): no indicator files,
    nothing else moves."""
    args = ("--seed", "5", "--duration", "900", "--fps", "5", "--scenario", "busy", "--lanes", "2")
    full, bare = run(tmp_path / "full", *args), run(tmp_path / "bare", *args, "--no-weighbridge")
    assert truth(bare) == truth(full) and any(t["weigh"] for t in truth(bare))
    assert queue_rows(bare) == queue_rows(full)
    assert not list(bare.glob("*weighbridge*")) and list(full.glob("lane-2-weighbridge*"))
    lanes = json.loads((bare / "world.json").read_text())["lanes"]
    assert [lane["weighbridge"] for lane in lanes] == [None, None]


def test_bad_options_are_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["generate", "--seed", "1", "--duration", "0", "--out", str(tmp_path), "--no-video"]) == 2
    assert "duration_s" in capsys.readouterr().err
    assert main(["generate", "--seed", "1", "--duration", "5", "--out", str(tmp_path), "--width", "641"]) == 2
    assert "even" in capsys.readouterr().err
    assert (
        main(
            ["generate", "--seed", "1", "--duration", "5", "--out", str(tmp_path), "--start-utc", "2025-06-02T01:00:00"]
        )
        == 2
    )
    assert "time zone" in capsys.readouterr().err
    with pytest.raises(ValueError, match="lanes"):
        GenerateOptions(seed=1, duration_s=5, out=tmp_path, lanes=0)


def test_weighbridge_streams_are_written_when_the_encoders_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, int]] = []

    def encode_stream(rows: list[dict], protocol: str, rng: random.Random) -> bytes:
        assert {"t_s", "utc", "weight_kg", "motion", "truck"} <= set(rows[0])
        assert isinstance(rng, random.Random)  # the encoders call randrange, randbytes
        calls.append((protocol, len(rows)))
        return f"{protocol}:{len(rows)}".encode()

    fake = types.ModuleType("sim.weighbridge")
    fake.encode_stream = encode_stream  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sim.weighbridge", fake)
    out = run(tmp_path / "wb", "--seed", "1", "--duration", "60", "--lanes", "2")
    assert sorted(calls) == [("toledo", 600), ("toledo", 600), ("yaohua-tf0", 600), ("yaohua-tf0", 600)]
    world = json.loads((out / "world.json").read_text())
    streams = world["lanes"][1]["weighbridge"]["streams"]
    assert streams == {"yaohua-tf0": "lane-2-weighbridge-yaohua-tf0.bin", "toledo": "lane-2-weighbridge-toledo.bin"}
    assert (out / streams["toledo"]).read_bytes() == b"toledo:600"
