"""A small ground-truth generator for one busy border lane, in the simulator's truth format.

A fast synthetic day for unit tests of assembly, ingest and history (the accuracy test uses the
simulator itself, `lanewatch-sim generate`, through `simtruth`): it makes only the truth —
`truth.jsonl` (one truck per line: plates, weight, enter/gate/weigh/exit in UTC) and `queue.csv` (true
queue length per second) — without any video. A single-server lane: trucks arrive (Poisson, rate
varying over the day), queue, take the gate when the weighbridge is free, are weighed and inspected,
and leave. Rates are chosen so the queue builds past 30 trucks and drains.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

# trucks per hour by site-local hour (UTC+7): quiet night, a morning surge past capacity (~40/h), an afternoon plateau
BUSY_DAY = [4, 3, 2, 2, 3, 8, 25, 38, 52, 56, 50, 36, 30, 34, 42, 41, 40, 30, 20, 14, 10, 8, 6, 5]
VN_SERIES = "CDHLKMN"
CN_TAIL = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


@dataclass
class Truck:
    id: str
    lane: str
    plates: list[dict]
    weight_kg: float
    enter: str
    gate: str | None
    weigh: str | None
    exit: str | None
    left_queue: str | None = None  # set for a truck that gave up and left the queue without crossing


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _plates(rng: random.Random, fleet: list[str]) -> list[dict]:
    while True:
        if fleet and rng.random() < 0.25:  # fleets run trucks with consecutive numbers: near-identical plates
            base = rng.choice(fleet)
            text = base[:-1] + str((int(base[-1]) + rng.randint(1, 3)) % 10)
        elif rng.random() < 0.6:
            text = f"{rng.choice(['24', '21', '12', '29'])}{rng.choice(VN_SERIES)}{rng.randint(0, 99999):05d}"
        else:
            text = "云" + rng.choice("GAH") + "".join(rng.choice(CN_TAIL[-10:] if i else CN_TAIL) for i in range(5))
        if text not in fleet:  # a plate belongs to one truck
            break
    fleet.append(text)
    country = "CN" if text.startswith("云") else "VN"
    return [{"text": text, "country": country, "rows": 1, "role": "vehicle"}]


def busy_day(day: datetime, lane: str = "out-1", seed: int = 1, renege_rate: float = 0.0,
             hourly: list[int] = BUSY_DAY) -> list[Truck]:
    """One lane's trucks over one site-local day starting at `day` (UTC)."""
    rng = random.Random(seed)
    fleet: list[str] = []
    arrivals: list[float] = []
    t = 0.0
    while True:
        hour = int(t // 3600)
        if hour >= 24:
            break
        if hourly[hour] == 0:
            t = (hour + 1) * 3600.0
            continue
        t += rng.expovariate(hourly[hour] / 3600)
        if int(t // 3600) == hour and t < 86400:
            arrivals.append(t)
    trucks: list[Truck] = []
    free_at = 0.0  # when the weighbridge is next free
    for i, arrive in enumerate(arrivals):
        plates = _plates(rng, fleet)
        gate = max(arrive + rng.uniform(15, 30), free_at + rng.uniform(8, 15))
        wait = gate - arrive
        if renege_rate and wait > 1200 and rng.random() < renege_rate:
            left = arrive + rng.uniform(600, wait)
            trucks.append(Truck(f"t{i:04d}", lane, plates, 0.0, iso(day + timedelta(seconds=arrive)), None, None, None,
                                iso(day + timedelta(seconds=left))))
            continue
        weigh = gate + rng.uniform(15, 25)
        exit_ = weigh + rng.lognormvariate(3.9, 0.35)  # inspection: median ~50 s
        free_at = exit_
        trucks.append(Truck(f"t{i:04d}", lane, plates, round(rng.uniform(12_000, 42_000), -1),
                            *(iso(day + timedelta(seconds=s)) for s in (arrive, gate, weigh, exit_))))
    return trucks


def parse(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


def queue_per_second(trucks: list[Truck], start: float, seconds: int) -> list[tuple[int, int, int]]:
    """(second, in lane: entered and not exited, waiting: entered and not through the gate)."""
    lane = [0] * (seconds + 2)
    wait = [0] * (seconds + 2)
    for tr in trucks:
        first = max(0, int(parse(tr.enter) - start) + 1)  # counted from the first whole second after entering
        # Neither gate nor exit nor leaving: still there when the truth ends.
        leave_gate = parse(tr.gate or tr.left_queue) - start if (tr.gate or tr.left_queue) else seconds + 1.0
        leave_lane = parse(tr.exit or tr.left_queue) - start if (tr.exit or tr.left_queue) else seconds + 1.0
        for counts, until in ((lane, leave_lane), (wait, leave_gate)):
            last = min(seconds, int(until))  # still there at whole seconds <= until
            if last >= first:
                counts[first] += 1
                counts[last + 1] -= 1
    out, in_lane, waiting = [], 0, 0
    for s in range(seconds + 1):
        in_lane += lane[s]
        waiting += wait[s]
        out.append((s, in_lane, waiting))
    return out


def write(out: Path, trucks: list[Truck], start: datetime, seconds: int = 86400) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "truth.jsonl", "w") as f:
        for tr in trucks:
            f.write(json.dumps(asdict(tr), ensure_ascii=False) + "\n")
    with open(out / "queue.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["utc", "lane", "queue", "waiting"])
        lane = trucks[0].lane if trucks else ""
        for s, in_lane, waiting in queue_per_second(trucks, start.timestamp(), seconds):
            w.writerow([iso(start + timedelta(seconds=s)), lane, in_lane, waiting])


def read(path: Path) -> list[Truck]:
    with open(path / "truth.jsonl") as f:
        return [Truck(**json.loads(line)) for line in f]


DAY = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)  # 2026-11-30 00:00 in Vietnam


def read_sim(path: Path) -> dict[str, list[Truck]]:
    """Trucks by lane from the simulator's `truth.jsonl` (`lanewatch-sim generate`), in this module's form.
    Cameras read the plates the simulator marks visible; a truck without a gate time left the queue."""
    lanes: dict[str, list[Truck]] = {}
    with open(path / "truth.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    for row in rows:

        def at(name: str, row: dict = row) -> str | None:
            return row[name]["utc"] if row.get(name) else None

        plates = [{k: p[k] for k in ("text", "country", "rows", "role")} for p in row["plates"] if p.get("visible")]
        truck = Truck(row["truck"], row["lane"], plates, row["weight_kg"], at("enter"), at("gate"), at("weigh"),
                      at("exit"))
        if truck.enter is not None:
            lanes.setdefault(truck.lane, []).append(truck)
    return lanes
