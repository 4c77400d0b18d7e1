"""Keeps every lane's crossings and figures current as events and statuses arrive.

Runs on the ingest writer thread (the one SQLite writer): new events go into the lane's
`LaneBook`; at most every `recompute_interval_s` (at once when the stream is idle) a lane is
reassembled, its changed crossings written, and its `LaneSummary` recomputed, stored for the web
side and published retained on MQTT when it changed (and at least every `summary_interval_s`).
A periodic tick does the same for quiet lanes, so that "lost" and "stale" happen on time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from central.assembly import SAME_PLATE_MAX, Assembly, AssemblyParams, LaneBook, Obs
from central.config import CentralConfig, LaneDef, SiteDef
from central.metrics import (
    Finished,
    LaneInputs,
    MetricsParams,
    day_start,
    direction_expected_wait,
    is_stale,
    lane_summary,
)
from central.platematch import join_distance
from central.store import Store, iso_utc, status_fresh_at
from lanewatch import contract
from lanewatch.contract import LaneEvent, LaneStatus, LaneSummary

log = logging.getLogger(__name__)
LaneKey = tuple[str, str]
TICK_S = 2.0
EDGE_FORGOTTEN_S = 24 * 3600  # an edge silent this long no longer makes its lanes stale


def assembly_params(config: CentralConfig) -> AssemblyParams:
    a = config.assembly
    return AssemblyParams(
        window_s=a.window_min * 60,
        max_distance=a.plate_max_distance if a.plate_max_distance is not None else SAME_PLATE_MAX,
        margin=a.plate_margin, duplicate_s=a.duplicate_enter_s, fifo_max_block=a.fifo_max_block,
        fifo_max_distance=a.fifo_max_distance,
        settle_s=a.settle_s,
    )


def metrics_params(config: CentralConfig) -> MetricsParams:
    m = config.metrics
    return MetricsParams(update_interval_s=m.update_interval_s, min_trucks=m.min_trucks,
                         rate_window_s=m.rate_window_min * 60, rate_lookback_s=config.assembly.window_min * 60)


def _epoch(value: str | None) -> float | None:
    return None if value is None else datetime.fromisoformat(value).timestamp()


class Aggregator:
    def __init__(self, config: CentralConfig, store: Store, publish: Callable[[str, bytes], None] | None = None,
                 clock: Callable[[], float] = time.time):
        self.config = config
        self.store = store
        self.publish = publish
        self.clock = clock
        self.params = assembly_params(config)
        self.metrics = metrics_params(config)
        p = self.params
        self.distance = join_distance(max(p.max_distance + p.margin, p.fifo_max_distance))
        self.lanes: dict[LaneKey, tuple[SiteDef, LaneDef]] = {
            (s.id, ln.id): (s, ln) for s in config.sites for ln in s.lanes}
        self.books: dict[LaneKey, LaneBook] = {}
        self.results: dict[LaneKey, Assembly] = {}
        self.rebuild_from: dict[LaneKey, float] = {}
        self.pending: dict[LaneKey, list[Obs]] = {}  # events not yet in their lane's book
        self.dirty: set[LaneKey] = set()
        self.last_run: dict[LaneKey, float] = {}
        self.last_event: dict[LaneKey, float] = {}
        # edge -> (fresh at, occupancy, the status's own time): see `status_fresh_at`
        self.edge_status: dict[LaneKey, dict[str, tuple[float, int, float]]] = {}
        # Crossings that finished (or were lost) recently, by key: the figures' input, kept in step with
        # what this aggregator writes so that a summary needs no query.
        self.finished: dict[LaneKey, dict[str, Finished]] = {}
        self.summaries: dict[LaneKey, tuple[LaneSummary, float | None]] = {}
        self.busy_since: dict[LaneKey, float] = {}  # when each lane's queue was last seen empty
        self.published: dict[LaneKey, tuple[str, float]] = {}
        self.last_tick = 0.0
        self.sampled_minute: dict[LaneKey, str] = {}  # per lane: the minute whose sample holds live figures

    # ------------------------------------------------------------ inputs
    def start(self) -> None:
        now = self.clock()
        for key, (site, lane) in self.lanes.items():
            since = self._figures_since(now, site)
            self.finished[key] = {
                r["key"]: Finished(r["status"], _epoch(r["enter_ts"]), _epoch(r["gate_ts"]), _epoch(r["exit_ts"]),
                                   r["wait_s"], r["processing_s"], r["crossing_s"])
                for r in self.store.finished_since(site.id, lane.id, since, lookback_s=self.params.window_s + 3600)}
            self._rebuild(key, now - self.params.window_s - self.params.settle_s)
            received = self.store.last_event_received(*key)
            if received is not None:
                self.last_event[key] = received
        for lane_key, edges in self.store.statuses().items():
            for e in edges:
                produced = datetime.fromisoformat(e["ts"]).timestamp()
                self.edge_status.setdefault(lane_key, {})[e["edge"]] = (e["fresh_at"], e["queue_occupancy"], produced)
        self.dirty.update(self.lanes)

    def on_events(self, events: list[LaneEvent]) -> None:
        """New (not duplicate) events, already stored; they reach the books in `run`."""
        now = self.clock()
        for e in events:
            key = (e.site, e.lane)
            if key in self.lanes:
                self.pending.setdefault(key, []).append(Obs.from_event(e))
                self.last_event[key] = now
                self.dirty.add(key)

    def _feed(self, key: LaneKey, now: float, limit: int | None) -> None:
        pending = self.pending.get(key, [])
        take, rest = (pending, []) if limit is None else (pending[:limit], pending[limit:])
        self.pending[key] = rest
        if not take:
            return
        too_old = self.books[key].add(take, now)
        if too_old:
            # They may join events the book has already let go: rebuild from the store, from early enough.
            start = min(o.ts for o in too_old) - 2 * self.params.window_s
            self.rebuild_from[key] = min(start, self.rebuild_from.get(key, start))

    def on_status(self, status: LaneStatus, received_at: float | None = None) -> None:
        """An edge's lane status; `received_at`: when it arrived from the broker (default: now). The
        status's own time decides which of an edge's statuses is the latest (one delivered late changes
        nothing); staleness counts from its arrival, on the central's clock (`status_fresh_at`) — not from
        when this thread got to it, which may be much later while a backlog is being stored."""
        key = (status.site, status.lane)
        produced = status.ts.timestamp()
        edges = self.edge_status.setdefault(key, {})
        held = edges.get(status.edge)
        if held is not None and held[2] > produced:
            return
        arrived = self.clock() if received_at is None else received_at
        edges[status.edge] = (status_fresh_at(produced, status.clock.synced, arrived), status.queue_occupancy,
                              produced)
        self.dirty.add(key)

    # ------------------------------------------------------------ work
    def run(self, limit: int | None = None) -> set[LaneKey]:
        """Recompute the lanes that are due, taking at most `limit` new events per lane (the rest
        wait for the next run); returns the lanes whose summary changed."""
        now = self.clock()
        due = {k for k in self.dirty if now - self.last_run.get(k, 0.0) >= self.config.metrics.recompute_interval_s}
        if now - self.last_tick >= TICK_S:
            due |= set(self.lanes)
            self.last_tick = now
        if not due:
            return set()
        for key in due:
            self._feed(key, now, limit)
            self._assemble(key, now)
            if not self.pending.get(key):
                self.dirty.discard(key)
            self.last_run[key] = now
        return self._summarise(now, due)

    def _rebuild(self, key: LaneKey, start: float) -> None:
        """The lane's book afresh from the store, from `start`: every stored event except those in
        crossings that start earlier (final) and those still pending (they come in later runs)."""
        site, lane = key
        skip = self.store.frozen_event_ids(site, lane, start, lookback_s=3 * self.params.window_s)
        skip.update(o.id for o in self.pending.get(key, ()))
        # A stored crossing is rebuilt from its events only when every one of them is stored. One whose
        # events are not all there (an imported or restored history, events pruned) cannot be rebuilt:
        # it stays as stored, and its events that are stored stay with it instead of forming a second crossing.
        crossings = self.store.crossing_events_since(site, lane, start)
        stored = self.store.stored_event_ids(i for _, ids in crossings for i in ids)
        known = []
        kept = 0
        for crossing_key, ids in crossings:
            if all(i in stored for i in ids):
                known.append(crossing_key)
            else:
                skip.update(ids)
                kept += 1
        if kept:
            log.info("%s/%s: %d stored crossings lack some of their events; kept as they are", site, lane, kept)
        book = LaneBook(self.params, self.distance, start=start, known=known)
        old = self.books.get(key)
        if old is not None:
            book.frontier = old.frontier  # edges still delivering a backlog: keep following them
        book.load(Obs.from_payload(payload) for event_id, payload in self.store.lane_events_since(site, lane, start)
                  if event_id not in skip)
        self.books[key] = book

    def _assemble(self, key: LaneKey, now: float) -> None:
        if key in self.rebuild_from:
            start = self.rebuild_from.pop(key)
            log.info("rebuilding crossings of %s/%s from %s (late events)", *key, iso_utc(start))
            self._rebuild(key, start)
        book = self.books[key]
        result, changed, removed = book.assemble(now)
        if changed or removed:
            self.store.write_crossings(*key, self.lanes[key][1].direction, changed, removed)
            finished = self.finished.setdefault(key, {})
            for c in changed:
                finished[c.key] = Finished(c.status, c.enter_ts, c.gate_ts, c.exit_ts, c.wait_s, c.processing_s,
                                           c.crossing_s)
            for k in removed:
                finished.pop(k, None)
        book.prune(now)
        self.results[key] = result

    def _summarise(self, now: float, due: set[LaneKey]) -> set[LaneKey]:
        states = self.store.lane_states()
        for key in due:
            self.summaries[key] = self._lane_summary(key, now, states)
        # Direction figures pool the lanes of one site and direction.
        groups: dict[tuple[str, str], list[LaneKey]] = {}
        for key, (site, lane) in self.lanes.items():
            groups.setdefault((site.id, lane.direction), []).append(key)
        changed: set[LaneKey] = set()
        minute = iso_utc(now)[:16]
        for keys in groups.values():
            pooled = direction_expected_wait([self.summaries[k] for k in keys if k in self.summaries])
            for key in keys:
                if key not in self.summaries:
                    continue
                summary, rate = self.summaries[key]
                summary = summary.model_copy(update={"direction_expected_wait_s": pooled})
                self.summaries[key] = (summary, rate)
                if self._store_and_publish(key, summary, now):
                    changed.add(key)
                if self.sampled_minute.get(key) != minute:
                    self.store.put_sample(*key, minute, summary.queue_length, summary.waiting,
                                          summary.camera_occupancy, summary.expected_wait_s)
                    # A lane with no live figures yet (just started, its edge not heard from) is sampled
                    # again later in the minute, so the minute's row holds figures once they exist.
                    if summary.queue_length is not None:
                        self.sampled_minute[key] = minute
        return changed

    def _lane_summary(self, key: LaneKey, now: float, states: dict) -> tuple[LaneSummary, float | None]:
        site, lane = self.lanes[key]
        state = states.get(key)
        is_open = bool(state["open"]) if state else lane.open
        edges = {e: v for e, v in self.edge_status.get(key, {}).items() if now - v[0] <= EDGE_FORGOTTEN_S}
        newest = max([self.last_event.get(key, -1.0)] + [fresh_at for fresh_at, _, _ in edges.values()])
        data_age = max(0.0, now - newest) if newest >= 0 else None
        if any(now - fresh_at > self.metrics.update_interval_s for fresh_at, _, _ in edges.values()):
            # one silent edge makes the lane stale
            data_age = max(now - fresh_at for fresh_at, _, _ in edges.values())
        fresh = [occ for fresh_at, occ, _ in edges.values() if not is_stale(now - fresh_at, self.metrics)]
        result = self.results.get(key)
        if result is not None and result.waiting == 0:
            self.busy_since[key] = now
        since = self._figures_since(now, site)
        kept = self.finished.setdefault(key, {})
        for k in [k for k, f in kept.items() if max(f.enter_ts or 0, f.gate_ts or 0, f.exit_ts or 0) < since]:
            del kept[k]
        finished = list(kept.values())
        return lane_summary(LaneInputs(
            site=site.id, lane=lane.id, direction=lane.direction, is_open=is_open, now=now,
            day_start=day_start(now, site.timezone), data_age_s=data_age,
            queue_length=(result.waiting + result.processing) if result else 0,
            waiting=result.waiting if result else 0,
            camera_occupancy=sum(fresh) if fresh else None, finished=finished,
            busy_since=self.busy_since.get(key)), self.metrics)

    def _figures_since(self, now: float, site: SiteDef) -> float:
        """Oldest time the figures look at: the site's day, the last hour, or the departure-rate lookback."""
        return min(day_start(now, site.timezone), now - max(3600.0, self.metrics.rate_lookback_s))

    def _store_and_publish(self, key: LaneKey, summary: LaneSummary, now: float) -> bool:
        self.store.put_summary(summary, now)
        content = summary.model_dump_json(exclude={"ts", "data_age_s"})
        previous = self.published.get(key)
        changed = previous is None or previous[0] != content
        due = previous is None or now - previous[1] >= self.config.metrics.summary_interval_s
        if self.publish is not None and (changed or due):
            self.publish(contract.summary_topic(*key), contract.encode(summary))
            self.published[key] = (content, now)
        elif self.publish is None:
            self.published[key] = (content, now)
        return changed
