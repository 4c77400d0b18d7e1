"""The central's Prometheus metrics, read at scrape time from the ingest's counters and the aggregator's
latest lane summaries (the figures the board shows)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from central.ingest import DEAD_LETTER_KINDS, Ingest
from lanewatch.sdnotify import Watchdog

LANE = ["site", "lane", "direction"]


def collect(ingest: Ingest, watchdog: Watchdog | None = None) -> Iterator[Metric]:
    counts = dict(ingest.counts)
    for name, doc in (
        ("events", "events stored (new ones; duplicates are counted apart)"),
        ("duplicates", "events received again (same id) and not stored twice"),
        ("statuses", "edge lane statuses received"),
        ("sequence_gaps", "times an edge's events arrived with a gap in their sequence"),
        ("gap_fills", "late events that filled such a gap"),
        ("sequence_resets", "times an edge started its sequence over"),
    ):
        metric = CounterMetricFamily(f"lanewatch_ingest_{name}", doc)
        metric.add_metric([], counts.get(name, 0))
        yield metric
    dead = CounterMetricFamily("lanewatch_ingest_dead_letters", "messages refused (kept in the dead-letter table)",
                               labels=["kind"])
    kinds = dict(ingest.dead_letter_kinds)
    for kind in sorted(set(DEAD_LETTER_KINDS) | set(kinds)):
        dead.add_metric([kind], kinds.get(kind, 0))
    yield dead
    yield ingest.latency.family("lanewatch_ingest_latency_seconds",
                                "a message's arrival from the broker until its batch was committed", {})
    backlog = GaugeMetricFamily("lanewatch_ingest_queue_messages", "messages received and waiting to be stored")
    backlog.add_metric([], ingest._queue.qsize())
    yield backlog
    connected = GaugeMetricFamily("lanewatch_mqtt_connected", "1 while connected to the broker")
    connected.add_metric([], 1.0 if ingest.connected.is_set() else 0.0)
    yield connected
    if watchdog is not None:
        stalled = GaugeMetricFamily("lanewatch_watchdog_stalled_loops", "processing loops past their progress deadline")
        stalled.add_metric([], len(watchdog.stalled()))
        yield stalled

    aggregator = getattr(ingest, "aggregator", None)  # set once the aggregate thread has started
    summaries = dict(aggregator.summaries) if aggregator is not None else {}
    queue = GaugeMetricFamily("lanewatch_lane_queue_length", "trucks in the lane's queue (waiting and at the gate)",
                              labels=LANE)
    waiting = GaugeMetricFamily("lanewatch_lane_waiting", "trucks waiting in the lane's queue", labels=LANE)
    expected = GaugeMetricFamily("lanewatch_lane_expected_wait_seconds", "expected wait of a truck joining now",
                                 labels=LANE)
    stale = GaugeMetricFamily("lanewatch_lane_stale", "1 while the lane's figures are withheld as stale", labels=LANE)
    for (site, lane), (summary, _rate) in sorted(summaries.items()):
        labels = [site, lane, summary.direction]
        if summary.queue_length is not None:  # withheld (stale): no figure rather than a wrong one
            queue.add_metric(labels, summary.queue_length)
        if summary.waiting is not None:
            waiting.add_metric(labels, summary.waiting)
        if summary.expected_wait_s is not None:
            expected.add_metric(labels, summary.expected_wait_s)
        stale.add_metric(labels, 1.0 if summary.state == "stale" else 0.0)
    yield from (queue, waiting, expected, stale)
