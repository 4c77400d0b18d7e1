"""Prometheus metrics over HTTP, shared by edge and central: settings, a latency accumulator, the server.

Metrics are read from the objects that already keep the figures (lane status, outbox health, ingest
counters) by a custom collector at scrape time, so nothing on a hot path updates a metric, and a
field another module adds to those objects only needs a line in the collector to be exported.

Off by default; when on, the default address is loopback, so the figures (site, lane and edge
names, camera states) are only visible on the machine unless an operator opens them on purpose.
"""

from __future__ import annotations

import bisect
import ipaddress
import logging
import threading
from collections.abc import Callable, Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from pydantic import Field, field_validator

from lanewatch.config import Section

log = logging.getLogger(__name__)

# Seconds: from a loopback broker's few milliseconds to a satellite link's or a backlog's minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class PrometheusSettings(Section):
    """The metrics endpoint (`GET /metrics`, Prometheus text format)."""

    port: int | None = Field(None, ge=0, le=65535, description="TCP port of the metrics endpoint; empty: no "
                             "endpoint (the default); 0: any free port (tests)")
    host: str = Field("127.0.0.1", description="address to listen on; loopback by default: open it to the "
                      "network (e.g. 0.0.0.0) only behind a firewall that admits the Prometheus server alone")

    @field_validator("host")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"host must be an IP address such as 127.0.0.1, got {value!r}") from None
        return value


class Timings:
    """A thread-safe histogram of durations in seconds, exported as a Prometheus histogram."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS):
        self.buckets = buckets
        self._counts = [0] * (len(buckets) + 1)  # the last one: above every bucket (+Inf)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        with self._lock:
            self._counts[bisect.bisect_left(self.buckets, seconds)] += 1
            self._sum += seconds

    @property
    def count(self) -> int:
        with self._lock:
            return sum(self._counts)

    def family(self, name: str, documentation: str, labels: dict[str, str]) -> HistogramMetricFamily:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, buckets = 0, []
        for bound, n in zip([*map(str, self.buckets), "+Inf"], counts, strict=True):
            cumulative += n
            buckets.append((bound, cumulative))
        family = HistogramMetricFamily(name, documentation, labels=list(labels))
        family.add_metric(list(labels.values()), buckets, total)
        return family


class FunctionCollector(Collector):
    """A collector that calls a function at each scrape; a failing function costs the scrape, not the process."""

    def __init__(self, collect: Callable[[], Iterable]):
        self._collect = collect

    def collect(self) -> Iterable:
        try:
            return list(self._collect())
        except Exception:  # noqa: BLE001 - a bug in an exporter must never stop the loops it watches
            log.exception("collecting metrics failed")
            return []


def serve(settings: PrometheusSettings, collect: Callable[[], Iterable]) -> tuple[WSGIServer, int] | None:
    """Start the endpoint in a daemon thread; returns (server, bound port), or None when it is off."""
    if settings.port is None:
        return None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FunctionCollector(collect))
    server, _thread = start_http_server(settings.port, addr=settings.host, registry=registry)
    port = server.server_address[1]
    log.info("metrics at http://%s:%d/metrics", settings.host, port)
    return server, port
