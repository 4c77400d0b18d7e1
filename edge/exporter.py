"""The edge's Prometheus metrics, read at scrape time from what the edge already reports.

Lane figures come from `EdgeApp.lane_status()` (the retained status message), so a counter or a
health object added there (plate counters, weighbridge health) is exported by the generic loops
below without changes here. Per-camera timings come from `CameraAnalysis.clock`, delivery figures
from the outbox's health and the publisher.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from pydantic import BaseModel

from edge.app import EdgeApp

LANE = ["site", "edge", "lane"]
CAMERA = [*LANE, "camera"]
EDGE = ["site", "edge"]


def _numbers(model: BaseModel) -> dict[str, float]:
    """The numeric and boolean fields of a health object, by name."""
    out: dict[str, float] = {}
    for name, value in model:
        if isinstance(value, bool | int | float) and value is not None:
            out[name] = float(value)
    return out


def collect(app: EdgeApp) -> Iterator[Metric]:
    site, edge = app.config.site, app.config.edge_id
    outbox = app.outbox.health()
    statuses = [app.lane_status(lane, outbox) for lane in app.config.lanes]

    def gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"lanewatch_{name}", doc, labels=labels)

    def counter(name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
        return CounterMetricFamily(f"lanewatch_{name}", doc, labels=labels)

    # ---------------------------------------------------------------- cameras
    up = gauge("camera_up", "1 while the camera delivers frames", CAMERA)
    fps = gauge("camera_frames_per_second", "frames handed to analysis per second (last 5 s)", CAMERA)
    frames = counter("camera_frames", "frames handed to analysis", CAMERA)
    dropped = counter("camera_dropped_frames", "frames thrown away because analysis fell behind", CAMERA)
    corrupt = counter("camera_corrupt_frames", "frames that could not be decoded", CAMERA)
    reconnects = counter("camera_reconnects", "times the camera stream was reopened", CAMERA)
    inference = SummaryMetricFamily("lanewatch_inference_seconds", "detector time per analysed frame "
                                    "(ms per frame: 1000 * rate(_sum) / rate(_count))", labels=CAMERA)
    stages = counter("analysis_stage_seconds", "time spent per analysis stage", [*CAMERA, "stage"])
    for p in app.pipelines:
        labels = [site, edge, p.lane.id, p.camera.id]
        health = p.health()
        up.add_metric(labels, 1.0 if health.state == "ok" else 0.0)
        fps.add_metric(labels, health.fps)
        frames.add_metric(labels, p.source.delivered)
        dropped.add_metric(labels, health.dropped_frames)
        corrupt.add_metric(labels, health.corrupt_frames)
        reconnects.add_metric(labels, health.reconnects)
        clock = p.analysis.clock
        inference.add_metric(labels, count_value=clock.frames, sum_value=clock.seconds.get("detect", 0.0))
        for stage, seconds in clock.seconds.items():
            stages.add_metric([*labels, stage], seconds)
    yield from (up, fps, frames, dropped, corrupt, reconnects, inference, stages)

    # ---------------------------------------------------------------- lanes (the status message)
    occupancy = gauge("lane_queue_occupancy", "trucks inside the queue zone now", LANE)
    on_bridge = gauge("lane_weighbridge_occupied", "1 while a truck stands on the weighbridge zone", LANE)
    plates: dict[str, CounterMetricFamily] = {}
    bridge: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
    bridge_up = gauge("weighbridge_up", "1 while the weighbridge indicator answers", LANE)
    for status in statuses:
        labels = [site, edge, status.lane]
        occupancy.add_metric(labels, status.queue_occupancy)
        on_bridge.add_metric(labels, 1.0 if status.weighbridge_occupied else 0.0)
        for name, value in _numbers(status.plates).items():
            plates.setdefault(name, counter(f"plates_{name}", f"plate reads {name}", LANE)).add_metric(labels, value)
        if status.weighbridge is not None:
            bridge_up.add_metric(labels, 1.0 if status.weighbridge.state == "ok" else 0.0)
            for name, value in _numbers(status.weighbridge).items():
                if name not in bridge:
                    # Error tallies only grow: counters; the rest (weight, stable) are readings.
                    bridge[name] = (counter(f"weighbridge_{name}", f"weighbridge {name}", LANE)
                                    if name.endswith("errors") else
                                    gauge(f"weighbridge_{name}", f"weighbridge {name}", LANE))
                bridge[name].add_metric(labels, value)
    yield from (occupancy, on_bridge, bridge_up, *plates.values(), *bridge.values())

    # ---------------------------------------------------------------- delivery
    labels = [site, edge]
    for name, doc, value in (
        ("outbox_backlog", "events not yet acknowledged by the broker", outbox.backlog),
        ("outbox_oldest_age_seconds", "age of the oldest undelivered event (0: none waiting)",
         outbox.oldest_age_s or 0.0),
        ("outbox_unconfirmed", "events the broker acknowledged and the central's receipt still lacks",
         outbox.unconfirmed),
        ("outbox_disk_bytes", "disk space the outbox uses", outbox.disk_bytes or 0),
        ("outbox_alarm", "1 while a disk limit bites (see the status message's alarm text)",
         1.0 if outbox.alarm else 0.0),
        ("mqtt_connected", "1 while connected to the broker", 1.0 if app.publisher.connected.is_set() else 0.0),
        ("watchdog_stalled_loops", "processing loops past their progress deadline", len(app.watchdog.stalled())),
    ):
        metric = gauge(name, doc, EDGE)
        metric.add_metric(labels, value)
        yield metric
    for name, doc, value in (
        ("outbox_dropped_events", "undelivered events dropped at the hard limit or on a full disk",
         outbox.dropped_events),
        ("mqtt_reconnects", "connections to the broker lost and made again", app.publisher.reconnects),
        ("events_resent", "events sent again because the central's receipt lacked them", app.publisher.resent),
    ):
        metric = counter(name, doc, EDGE)
        metric.add_metric(labels, value)
        yield metric
    yield app.publisher.latency.family("lanewatch_publish_latency_seconds",
                                       "event handed to MQTT until the broker acknowledged it",
                                       dict(zip(EDGE, labels, strict=True)))

    # ---------------------------------------------------------------- clock
    clock_state = statuses[0].clock if statuses else app.clock_state()
    synced = gauge("clock_synced", "1 when the OS reports the clock synchronised", [*EDGE, "source"])
    synced.add_metric([*labels, clock_state.source], 1.0 if clock_state.synced else 0.0)
    yield synced
    if clock_state.offset_ms is not None:
        offset = gauge("clock_offset_seconds", "estimated offset from true time", EDGE)
        offset.add_metric(labels, clock_state.offset_ms / 1000)
        yield offset
