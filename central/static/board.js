// Live lane board: renders the lane snapshot pushed by the server over Server-Sent Events.
"use strict";
const STALE_AFTER_S = 30;

function laneCard(lane) {
  const card = document.createElement("section");
  card.className = `lane ${lane.direction}`;
  card.dataset.lane = `${lane.site}/${lane.lane}`;
  const stale = lane.status_age_s === null || lane.status_age_s > STALE_AFTER_S;
  const occupancy = stale ? `<span class="stale">stale</span>` : `<span class="big">${lane.queue_occupancy}</span>`;
  const events = lane.recent_events.map(
    (e) => `<li>${new Date(e.ts).toLocaleTimeString()} ${e.type} #${e.track_id ?? "–"}</li>`).join("");
  card.innerHTML = `<h2>${lane.name} · ${lane.direction}</h2>
    <div>in queue zone: <span class="occupancy">${occupancy}</span></div>
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
