"""`lanewatch-edge doctor --config FILE`: is this gate computer ready to run unattended?

Checks, in order: the config, the detector model (checksum from the config or models/manifest.json,
and that onnxruntime loads it), the plate OCR models when plates are read, one frame from each camera,
an answer from each weighbridge, the TLS certificates' dates, the broker account, the clock, free disk
for the data directory, and the outbox's backlog. Stops after a bad config (nothing else can be
checked); every other check runs whatever the others found.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

from edge.config import CameraConfig, EdgeConfig, FileSource, YoloOnnxDetectorConfig
from lanewatch import contract
from lanewatch.doctor import (
    CheckFailed,
    Report,
    check_clock,
    check_disk,
    check_mqtt,
    load_checked,
    note_user,
    parse_size,
)

CAMERA_TIMEOUT_S = 10.0
WEIGHBRIDGE_TIMEOUT_S = 10.0
RENEW_CLIENT_CERT = ("on the central: lanewatch-central provision-edge {site} {edge_id} --lanes … --auth certificate "
                     "--rotate, then copy the bundle's certificate and key here")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="edge config file (YAML)")
    parser.add_argument("--camera-timeout", type=float, default=CAMERA_TIMEOUT_S, metavar="S",
                        help=f"wait this long for a camera's first frame (default {CAMERA_TIMEOUT_S:.0f})")
    parser.add_argument("--weighbridge-timeout", type=float, default=WEIGHBRIDGE_TIMEOUT_S, metavar="S",
                        help=f"wait this long for a weighbridge reading (default {WEIGHBRIDGE_TIMEOUT_S:.0f})")
    parser.add_argument("--min-free-disk", type=parse_size, default=None, metavar="SIZE",
                        help="free space needed for the data directory (default: the outbox's hard limit)")
    parser.add_argument("--max-backlog-age", type=float, default=600.0, metavar="S",
                        help="undelivered events older than this mean delivery is failing (default 600)")


def run(args: argparse.Namespace) -> int:
    report = Report()
    note_user(report)
    holder: list[EdgeConfig] = []

    def config() -> str:
        holder.append(load_checked(args.config, EdgeConfig, "configs/edge.example.yaml"))
        cfg = holder[0]
        cams = sum(len(lane.cameras) for lane in cfg.lanes)
        return f"{args.config}: site {cfg.site}, edge {cfg.edge_id}, {len(cfg.lanes)} lane(s), {cams} camera(s)"

    if not report.check("config", config):
        return report.exit_code()
    cfg = holder[0]
    report.check("model", lambda: check_model(cfg))
    if cfg.plates.enabled:
        report.check("plates", lambda: check_plate_models(cfg))
    for lane in cfg.lanes:
        for camera in lane.cameras:
            report.check(f"camera {camera.id}", lambda camera=camera: check_camera(camera, args.camera_timeout))
    for lane in cfg.lanes:
        bridge = getattr(lane, "weighbridge", None)  # lanes[].weighbridge, when the config has one
        if bridge is not None:
            report.check(f"weighbridge {lane.id}",
                         lambda bridge=bridge, lane=lane: check_weighbridge(bridge, lane.id, args.weighbridge_timeout))
    account = f"edge.{cfg.site}.{cfg.edge_id}"
    check_mqtt(report, cfg.mqtt, account, f"lanewatch-doctor-{cfg.site}-{cfg.edge_id}-{os.getpid()}",
               contract.receipt_topic(cfg.site, cfg.edge_id),
               renew_fix=RENEW_CLIENT_CERT.format(site=cfg.site, edge_id=cfg.edge_id))
    report.check("clock", check_clock)
    min_free = args.min_free_disk if args.min_free_disk is not None else int(cfg.outbox.hard_limit_bytes)
    report.check("disk", lambda: check_disk(cfg.data_dir, min_free, "the outbox and plate crops live there"))
    report.check("outbox", lambda: check_outbox(cfg, args.max_backlog_age))
    return report.exit_code()


def check_model(cfg: EdgeConfig) -> str:
    from edge.detect import detector_factory
    from edge.detect.models import ModelError, verify_model_file

    detector = cfg.detector
    if not isinstance(detector, YoloOnnxDetectorConfig):
        return f"{detector.type} detector: no model file"
    try:
        entry = verify_model_file(detector.model, detector.sha256)
        detector_factory(detector)()
    except ModelError as exc:
        raise CheckFailed(str(exc), "reinstall the model from the release (models/ and its manifest.json), "
                                    "or correct detector.model / detector.sha256") from None
    checked = "sha256 matches " + ("detector.sha256" if detector.sha256 else "manifest.json") \
        if detector.sha256 or entry else "not in any manifest: loaded unverified"
    return f"{detector.model.name}: {checked}; loads in onnxruntime"


def check_plate_models(cfg: EdgeConfig) -> str:
    """The PP-OCRv4 files are where the reader looks (by default inside the rapidocr-onnxruntime package) and
    load in onnxruntime as the reader loads them."""
    from edge.plates.ocr import DET_MODEL, REC_MODEL, ModelError, OcrModels, default_model_dir

    reader = cfg.plates.reader
    fix = ("reinstall the pinned rapidocr-onnxruntime (its package folder carries the models), or correct "
           "plates.reader.model_dir; plates.enabled: false turns plate reading off")
    try:
        model_dir = reader.model_dir or default_model_dir()
    except ModelError as exc:
        raise CheckFailed(str(exc), fix) from None
    where = f"{model_dir}" + (" (rapidocr-onnxruntime)" if reader.model_dir is None else "")
    missing = [name for name in (DET_MODEL, REC_MODEL) if not (model_dir / name).is_file()]
    if missing:
        raise CheckFailed(f"{' and '.join(missing)} not found in {where}", fix)
    try:
        OcrModels(model_dir, reader.threads)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own classes for a damaged file
        raise CheckFailed(f"{where}: cannot load: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                          fix) from None
    return f"{DET_MODEL} and {REC_MODEL} in {where} load in onnxruntime"


def check_camera(camera: CameraConfig, timeout_s: float) -> str:
    """Open the source as the edge does and wait for one decoded frame, in a thread: OpenCV can hang."""
    from edge.sources import describe, open_capture

    source = camera.source
    found: dict[str, object] = {}

    def read() -> None:
        cap = open_capture(source)
        try:
            found["opened"] = cap.isOpened()
            if found["opened"]:
                ok, image = cap.read()
                if ok and image is not None and image.size:
                    found["shape"] = image.shape
        finally:
            cap.release()

    started = time.monotonic()
    reader = threading.Thread(target=read, name=f"doctor-camera-{camera.id}", daemon=True)
    reader.start()
    reader.join(timeout_s)
    where = describe(source)
    fix = ("check the file path" if isinstance(source, FileSource) else
           "check the camera's power, cable and address (try: ffprobe URL), credentials in the URL, "
           "and that the service's user is in the video group for USB cameras")
    if reader.is_alive():
        raise CheckFailed(f"no frame within {timeout_s:.0f} s from {where}", fix)
    if not found.get("opened"):
        raise CheckFailed(f"cannot open {where}", fix)
    if "shape" not in found:
        raise CheckFailed(f"opened {where} but got no frame", fix)
    height, width = found["shape"][:2]  # type: ignore[index]
    return f"{width}x{height} frame from {where} in {time.monotonic() - started:.1f} s"


def check_weighbridge(config: object, lane: str, timeout_s: float) -> str:
    """Start the edge's reader on the indicator and wait for one parsed reading."""
    from edge.weighbridge.reader import WeighbridgeReader

    reader = WeighbridgeReader(config, name=f"doctor-weighbridge-{lane}")  # type: ignore[arg-type]
    where = reader.source.describe() if hasattr(reader.source, "describe") else config.protocol  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout_s
    with reader:
        while time.monotonic() < deadline:
            readings = reader.drain()
            if readings:
                last = readings[-1]
                weight = last.reading.weight_kg
                return (f"{config.protocol} on {where}: {weight:.0f} kg" if weight is not None else  # type: ignore[attr-defined]
                        f"{config.protocol} on {where}: answering")  # type: ignore[attr-defined]
            time.sleep(0.05)
        health = reader.health()
    raise CheckFailed(
        f"{config.protocol} on {where}: no reading within {timeout_s:.0f} s (state {health.state}, "  # type: ignore[attr-defined]
        f"{health.frame_errors} frame error(s))",
        "frame errors: wrong protocol, baud rate or parity; none: check the cable, the port, and that the "
        "service's user is in the dialout group (lanewatch-edge weighbridge --help reads it by hand)")


def check_outbox(cfg: EdgeConfig, max_age_s: float) -> str:
    from edge.outbox import Outbox

    path: Path = cfg.data_dir / "outbox.sqlite"
    if not path.exists():
        return f"no outbox yet at {path} (created at first start)"
    outbox = Outbox(path, cfg.outbox)
    try:
        health = outbox.health()
    finally:
        outbox.close()
    age = health.oldest_age_s or 0.0
    text = f"{health.backlog} undelivered event(s)" + (f", oldest {age:.0f} s old" if health.backlog else "")
    if health.alarm:
        raise CheckFailed(f"{text}; alarm: {health.alarm}", "free disk or raise outbox.hard_limit_bytes; "
                          "see docs/delivery.md")
    if age > max_age_s:
        raise CheckFailed(f"{text}: delivery is not keeping up",
                          "check the broker check above and the journal (journalctl -u lanewatch-edge@…)")
    return text
