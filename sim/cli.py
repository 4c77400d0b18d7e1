"""`lanewatch-sim`: make a simulated border-lane world, or serve one of its videos as a network camera."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from pydantic import ValidationError

from sim.fonts import FontMissing, font_path
from sim.mjpeg import MjpegServer, VideoUnreadable
from sim.options import GenerateOptions

GENERATE_EXAMPLE = (
    "example: lanewatch-sim generate --seed 7 --duration 600 --lanes 2 --scenario busy --out var/sim/busy"
)
SERVE_EXAMPLE = "example: lanewatch-sim serve --video var/sim/busy/lane-1-gate.mp4 --port 8554 --loop"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lanewatch-sim", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser(
        "generate",
        help="simulate lanes: videos, truth, queue, weighbridge timeline",
        description="Simulate border lanes: videos, truth.jsonl, queue.csv, weighbridge timelines, world.json.",
        epilog=GENERATE_EXAMPLE,
    )
    g.add_argument("--seed", type=int, required=True, help="random seed; the same seed gives the same output")
    g.add_argument("--duration", type=float, required=True, help="length of the videos in seconds")
    g.add_argument("--out", required=True, help="output directory")
    g.add_argument("--lanes", type=int, default=1, help="number of lanes (odd: export, even: import), default 1")
    g.add_argument("--width", type=int, default=960, help="frame width, default 960")
    g.add_argument("--height", type=int, default=540, help="frame height, default 540")
    g.add_argument(
        "--gate-width", type=int, default=None, help="gate camera frame width (reads plates), default --width"
    )
    g.add_argument(
        "--gate-height", type=int, default=None, help="gate camera frame height (reads plates), default --height"
    )
    g.add_argument("--fps", type=float, default=10.0, help="frames per second, default 10")
    g.add_argument(
        "--scenario", choices=["steady", "busy", "plates", "demo"], default="steady", help="traffic, default steady"
    )
    g.add_argument("--light", choices=["day", "dusk", "night"], default="day", help="lighting, default day")
    g.add_argument("--weather", choices=["clear", "rain"], default="clear", help="weather, default clear")
    g.add_argument(
        "--label-every", type=int, default=0, help="N > 0: JPEG + YOLO labels every Nth frame (training data)"
    )
    g.add_argument("--start-utc", default="2025-06-02T01:00:00Z", help="UTC time of frame 0 (ISO 8601)")
    g.add_argument(
        "--no-video", action="store_true", help="truth, queue and weighbridge only: no videos, no object files"
    )
    g.add_argument(
        "--no-weighbridge",
        action="store_true",
        help="no weighbridge timelines or byte streams (the truth keeps its weigh events and weights)",
    )
    g.add_argument("--noise", type=float, default=None, help="sensor noise sigma in grey levels (default by light)")
    g.add_argument("--no-motion-blur", action="store_true", help="keep moving trucks sharp")
    g.add_argument("--glare", action="store_true", help="sun glare by day, strong headlight bloom at dusk/night")
    g.add_argument(
        "--rear-camera",
        action="store_true",
        help="add a rear plate camera per lane (lane-N-rear, at the gate camera's size): backs of trucks on the deck",
    )
    g.add_argument("--jpeg-quality", type=int, default=0, help="pass frames through JPEG at this quality (0: off)")
    g.add_argument("--quiet", action="store_true", help="no progress on stderr")

    s = sub.add_parser(
        "serve",
        help="serve a video as a live MJPEG camera",
        description="Serve a video file as an HTTP MJPEG camera at http://HOST:PORT/stream.mjpg, paced in real time.",
        epilog=SERVE_EXAMPLE,
    )
    s.add_argument("--video", required=True, help="video file (e.g. a generated lane-1-gate.mp4)")
    s.add_argument("--port", type=int, required=True, help="TCP port (0: any free port)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on, default 127.0.0.1")
    s.add_argument("--loop", action="store_true", help="start over at the end instead of stopping")
    s.add_argument("--quality", type=int, default=85, help="JPEG quality, default 85")
    return p


def _generate(args: argparse.Namespace) -> int:
    from sim.generate import generate  # numpy/cv2-heavy; keep `--help` quick

    try:
        opts = GenerateOptions(
            seed=args.seed,
            duration_s=args.duration,
            out=args.out,
            lanes=args.lanes,
            width=args.width,
            height=args.height,
            gate_width=args.gate_width,
            gate_height=args.gate_height,
            fps=args.fps,
            scenario=args.scenario,
            light=args.light,
            weather=args.weather,
            label_every=args.label_every,
            start_utc=args.start_utc,
            video=not args.no_video,
            weighbridge=not args.no_weighbridge,
            noise=args.noise,
            motion_blur=not args.no_motion_blur,
            glare=args.glare,
            jpeg_quality=args.jpeg_quality,
            rear_camera=args.rear_camera,
        )
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(x) for x in err["loc"]) or "options"
            print(f"lanewatch-sim generate: {where}: {err['msg']}", file=sys.stderr)
        return 2
    if opts.video:
        try:
            font_path()
        except FontMissing as exc:
            print(f"lanewatch-sim generate: {exc}", file=sys.stderr)
            return 1
    step = max(1, opts.n_frames // 20)

    def progress(done: int, total: int) -> None:
        if not args.quiet and (done % step == 0 or done == total):
            print(f"\r{done}/{total} frames", end="\n" if done == total else "", file=sys.stderr, flush=True)

    try:
        summary = generate(opts, progress)
    except (OSError, RuntimeError) as exc:
        print(f"lanewatch-sim generate: {exc}", file=sys.stderr)
        return 1
    cams = opts.lanes * (3 if opts.rear_camera else 2) if opts.video else 0
    rate = (
        f", rendering {summary.frames * cams / summary.render_s:.0f} frames/s" if cams and summary.render_s > 0 else ""
    )
    print(
        f"wrote {opts.out}: {summary.frames} frames x {cams} cameras, {summary.trucks} trucks"
        f" in {summary.seconds:.1f} s{rate}"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    server = MjpegServer(args.video, port=args.port, host=args.host, loop=args.loop, quality=args.quality)
    try:
        server.start()
    except (VideoUnreadable, OSError) as exc:
        print(f"lanewatch-sim serve: {exc}", file=sys.stderr)
        return 1
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"serving {args.video} at {server.url}", flush=True)
    try:
        while not done.wait(0.2):
            if server.ended and not args.loop:
                break
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "generate":
        try:
            return _generate(args)
        except KeyboardInterrupt:  # world.json is written last: a stopped run's folder is never taken as done
            if not args.quiet:
                print(file=sys.stderr)  # end the progress line
            print(f"lanewatch-sim generate: stopped; {args.out} is incomplete (no world.json)", file=sys.stderr)
            return 130
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
