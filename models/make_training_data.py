"""Render the detector's training frames with the simulator (`lanewatch-sim generate --label-every N`).

One folder per seed, each with its own scenario, light, weather, glare and compression, drawn from
the seed, so the set is reproducible. Seeds 1-99 belong to the accuracy tests: never train on them.

    python models/make_training_data.py --out /tmp/vision-data --seeds 1000-1011
    python models/make_training_data.py --out /tmp/vision-data --seeds 1024-1027 --duration 900 --fps 5 --label-every 12

The first set is the queue's stop-and-go at the camera rate; the second, at a lower frame rate,
reaches the later minutes when trucks come through the gate camera.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

TEST_SEEDS = range(1, 100)


def seed_range(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    seeds = list(range(int(lo), int(hi or lo) + 1))
    if any(s in TEST_SEEDS for s in seeds):
        raise SystemExit(f"seeds {TEST_SEEDS.start}-{TEST_SEEDS.stop - 1} are the accuracy tests' own: got {text}")
    return seeds


def generate_command(seed: int, out: Path, duration: float, fps: float, label_every: int,
                     size: tuple[int, int] = (960, 540)) -> list[str]:
    rng = np.random.default_rng(seed)
    cmd = [sys.executable, "-m", "sim.cli", "generate", "--seed", str(seed), "--duration", str(duration),
           "--fps", str(fps), "--out", str(out), "--label-every", str(label_every),
           "--width", str(size[0]), "--height", str(size[1]),
           "--scenario", str(rng.choice(["steady", "busy"], p=[0.3, 0.7])),
           "--light", str(rng.choice(["day", "day", "dusk", "night"])),
           "--weather", "rain" if rng.random() < 0.2 else "clear", "--quiet"]
    if rng.random() < 0.2:
        cmd.append("--glare")
    if rng.random() < 0.3:
        cmd += ["--jpeg-quality", str(int(rng.integers(35, 80)))]
    return cmd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="one sub-folder per seed is written here")
    parser.add_argument("--seeds", default="1000-1023", help="inclusive range, e.g. 1000-1023")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of simulated traffic per seed")
    parser.add_argument("--fps", type=float, default=10.0, help="a lower rate covers more traffic per frame rendered")
    parser.add_argument("--label-every", type=int, default=25, help="keep every Nth frame")
    parser.add_argument("--size", default="960x540",
                        help="frame width x height; 640x360 is the accuracy benchmark's size (v3 data)")
    args = parser.parse_args(argv)
    width, _, height = args.size.partition("x")
    for seed in seed_range(args.seeds):
        out = Path(args.out) / f"seed-{seed}"
        if (out / "world.json").exists():
            continue  # already rendered: the same seed gives the same frames
        cmd = generate_command(seed, out, args.duration, args.fps, args.label_every, (int(width), int(height)))
        print(" ".join(cmd[3:]), flush=True)
        subprocess.run(cmd, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
