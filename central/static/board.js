// Live lane board: renders the lane snapshot pushed by the server over Server-Sent Events.
"use strict";
const STALE_AFTER_S = 30;

function minutes(seconds) {
  return seconds === null || seconds === undefined ? null : `${Math.round(seconds / 60)} min`;
}

// A figure, or why there is none: never a stale number shown as current, never 0 for unknown.
function figure(value, state) {
  if (state === "stale") return `<span class="stale">stale</span>`;
  if (state === "closed") return `<span class="stale">closed</span>`;
  if (value === null || value === undefined) return `<span class="unknown">insufficient data</span>`;
  return `<span class="big">${value}</span>`;
}

function laneCard(lane) {
  const card = document.createElement("section");
  card.className = `lane ${lane.direction}`;
  card.dataset.lane = `${lane.site}/${lane.lane}`;
  const stale = lane.status_age_s === null || lane.status_age_s > STALE_AFTER_S;
  const occupancy = stale ? `<span class="stale">stale</span>` : `<span class="big">${lane.queue_occupancy}</span>`;
  const s = lane.summary;
  const state = !s ? "stale" : s.state;
  const queue = figure(s && s.queue_length, state);
  const expected = figure(s && minutes(s.expected_wait_s), s ? (s.state === "stale" ? "stale" : s.expected_wait_state) : "stale");
  const hour = s && s.last_hour.wait.state === "ok" ? minutes(s.last_hour.wait.median_s) : null;
  const events = lane.recent_events.map(
    (e) => `<li>${new Date(e.ts).toLocaleTimeString()} ${e.type} #${e.track_id ?? "–"}</li>`).join("");
  card.innerHTML = `<h2>${lane.name} · ${lane.direction}${lane.open ? "" : " · closed"}</h2>
    <div>in queue zone: <span class="occupancy">${occupancy}</span></div>
    <div>in lane (events): <span class="queue">${queue}</span></div>
    <div>expected wait: <span class="expected">${expected}</span></div>
    <div>median wait, last hour: <span class="median">${figure(hour, state === "stale" ? "stale" : s && s.last_hour.wait.state)}</span></div>
    <ul class="events">${events}</ul>`;
  return card;
}

function render(lanes) {
  document.getElementById("lanes").replaceChildren(...lanes.map(laneCard));
}

const source = new EventSource("/api/stream");
const conn = document.getElementById("conn");
source.addEventListener("lanes", (msg) => render(JSON.parse(msg.data)));
source.onopen = () => { conn.textContent = "live"; conn.className = "conn live"; };
source.onerror = () => { conn.textContent = "reconnecting…"; conn.className = "conn"; };
