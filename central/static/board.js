// Live lane board: renders the snapshot embedded in the page at once, then every snapshot pushed over
// Server-Sent Events. Cards are kept per lane and refilled in place, so keyboard focus stays put.
// When the stream drops (central restarting), the page says "reconnecting…" and comes back by itself.
"use strict";

(() => {
  const { t, h, s, localTime, duration, number, lineChart } = LW;
  const board = document.getElementById("board");
  const conn = document.getElementById("conn");
  const offsetH = Number(board.dataset.zoneOffset);
  const lang = board.dataset.lang;
  const cards = new Map();
  let built = false;
  let uncertainBelow = 0.5; // each snapshot says the central's level (central/history.py UNCERTAIN_BELOW)

  // A plate read below the uncertain level: a visible mark, its tooltip saying how sure the read was.
  function mark(plate) {
    if (!plate || !plate.uncertain) return null;
    return h("abbr", { class: "uncertain", text: "?",
      title: t("uncertain", { p: Math.round(plate.confidence * 100), min: Math.round(uncertainBelow * 100) }) });
  }

  // A tractor-trailer's rear plate, after its front plate.
  function trailer(plate) {
    if (!plate) return null;
    return h("span", { class: "trailer-plate" }, ` + ${t("trailer")} `,
      h("span", { class: "plate", text: plate.text }), mark(plate));
  }

  function fig(metric, format) {
    if (!metric || metric.state !== "ok") {
      const state = metric ? metric.state : "unknown";
      return h("span", { class: `state state-${state}`, text: t(`state.${state}`) });
    }
    return h("span", { class: "value", text: format(metric.value) });
  }

  // Wait and crossing time of the last hour: a small table, median and 85th percentile.
  function stats(lane) {
    // Withheld figures (stale, insufficient data) say so once across both columns.
    const row = (label, st) => h("tr", {}, h("th", { scope: "row", text: label }),
      st.median.state === "ok" ? [h("td", {}, fig(st.median, duration)), h("td", {}, fig(st.p85, duration))]
        : h("td", { colspan: 2 }, fig(st.median, duration)));
    return h("table", { class: "stats" },
      h("caption", { text: t("stats.caption") }),
      h("thead", {}, h("tr", {}, h("td", {}), h("th", { scope: "col", text: t("median") }), h("th", { scope: "col", text: t("p85") }))),
      h("tbody", {}, row(t("wait"), lane.wait_s), row(t("crossing"), lane.crossing_s)));
  }

  function weighbridge(lane) {
    const wb = lane.weighbridge;
    let body;
    if (wb.state !== "ok") body = fig(wb, String);
    else if (!wb.truck) body = h("span", { class: "muted", text: t("weighbridge.empty") });
    else {
      const w = wb.truck.weight_kg;
      body = h("span", {},
        h("span", { class: "plate", text: wb.truck.plate || "–" }), mark(wb.truck), trailer(wb.truck.trailer), " ",
        w === null ? "" : h("strong", { text: `${number(w, lang)} kg` }), " ",
        h("span", { class: "muted", text: t(wb.truck.stable ? "weighbridge.stable" : "weighbridge.moving") }));
    }
    return h("div", { class: "weighbridge" }, h("span", { class: "label", text: t("weighbridge") + ": " }), body);
  }

  function chart(lane, snap) {
    const hours = Math.round((lane.queue_series.length * snap.chart.bin_s) / 3600);
    const title = t("chart", { hours });
    const svg = s("svg", { class: "spark", viewBox: "0 0 360 90", role: "img", "aria-label": title });
    lineChart(svg, lane.queue_series, {
      width: 360, height: 90, start: Date.parse(snap.chart.start) + snap.chart.bin_s * 1000,
      stepMs: snap.chart.bin_s * 1000, offsetH, ticks: 3, title, nowLabel: t("chart.now"),
    });
    return h("figure", { class: "spark-wrap" }, h("figcaption", { text: title }), svg);
  }

  function plates(lane) {
    if (!lane.last_plates.length) return h("p", { class: "muted plates-none", text: t("plates.none") });
    return h("ul", { class: "plates" }, lane.last_plates.map((p) => h("li", {},
      p.crop ? h("img", { src: p.crop, alt: p.text, width: 90, height: 30 }) : h("span", { class: "nocrop" }),
      h("span", {}, p.role === "trailer" ? `${t("trailer")} ` : null, h("span", { class: "plate", text: p.text }), mark(p),
        trailer(p.trailer)),
      h("time", { datetime: p.ts, text: localTime(p.ts, offsetH) }),
      h("span", { class: "muted event", text: t(`event.${p.type}`) }))));
  }

  function health(lane) {
    if (!lane.health.length) return h("p", { class: "health muted", text: t("health.none") });
    return h("ul", { class: "health" }, lane.health.map((e) => {
      const bits = [h("strong", { text: e.edge }), " ",
        h("span", { class: e.online ? "ok" : "bad", text: t(e.online ? "health.online" : "health.offline") })];
      for (const c of e.cameras) {
        bits.push(" · ", `${t("health.camera")} ${c.id} `,
          h("span", { class: c.state === "ok" ? "ok" : "bad", text: t(`device.${c.state}`) }), ` ${c.fps} fps`);
      }
      if (e.weighbridge) {
        bits.push(" · ", `${t("health.weighbridge")} `,
          h("span", { class: e.weighbridge === "ok" ? "ok" : "bad", text: t(`device.${e.weighbridge}`) }));
        if (e.weighbridge_kg !== null && e.weighbridge_kg !== undefined) bits.push(` ${number(e.weighbridge_kg, lang)} kg`);
      }
      const clock = e.clock.step ? "health.clock_step" : e.clock.synced ? "health.clock_ok" : "health.clock_bad";
      bits.push(" · ", h("span", { class: e.clock.synced && !e.clock.step ? "ok" : "warn", text: t(clock) }));
      if (e.clock.offset_ms !== null && e.clock.offset_ms !== undefined) bits.push(` (${Math.round(e.clock.offset_ms)} ms)`);
      if (e.backlog !== null && e.backlog !== undefined) {
        bits.push(" · ", h("span", { class: e.backlog > 0 ? "warn" : "", text: t("health.backlog", { n: number(e.backlog, lang) }) }));
      }
      if (e.alarm) bits.push(" · ", h("span", { class: "bad", text: t("health.alarm", { text: e.alarm }) }));
      bits.push(" · ", h("span", { class: "muted", text: t("health.age", { s: Math.round(e.age_s) }) }));
      return h("li", {}, bits);
    }));
  }

  function fill(card, lane, snap) {
    const state = lane.stale ? "stale" : lane.open ? "live" : "closed";
    card.classList.toggle("stale", lane.stale);
    card.dataset.state = state;
    const pill = { stale: t("state.stale"), live: t("lane.live"), closed: t("lane.closed") }[state];
    const parts = [
      h("header", {},
        h("h4", { id: `lane-${lane.site}-${lane.lane}`, text: lane.name }),
        h("span", { class: `pill pill-${state}`, text: pill })),
      lane.stale ? h("p", { class: "stale-banner", role: "note", text: t("lane.stale") }) : null,
      h("div", { class: "figures" },
        h("div", { class: "fig queue" },
          h("div", { class: "label", text: t("queue") }),
          h("div", { class: "big", "data-figure": "queue" }, fig(lane.queue_events, (v) => number(v, lang))),
          h("div", { class: "sub" }, `${t("queue.camera")}: `, fig(lane.queue_camera, (v) => number(v, lang)))),
        h("div", { class: "fig" },
          h("div", { class: "label", text: t("expected") }),
          h("div", { class: "mid", "data-figure": "expected" }, fig(lane.expected_wait_s, duration)),
          h("div", { class: "label", text: t("trucks_per_hour") }),
          h("div", { class: "mid", "data-figure": "tph" }, fig(lane.trucks_per_hour, (v) => number(v, lang))))),
      stats(lane),
      weighbridge(lane),
      chart(lane, snap),
      h("h5", { text: t("plates") }), plates(lane),
      h("h5", { text: t("health") }), health(lane)];
    card.replaceChildren(...parts.filter((p) => p !== null));
  }

  function build(snap) {
    const sites = new Map();
    for (const lane of snap.lanes) {
      if (!sites.has(lane.site)) sites.set(lane.site, { name: lane.site_name, export: [], import: [] });
      sites.get(lane.site)[lane.direction].push(lane);
    }
    const sections = [];
    for (const [siteId, site] of sites) {
      const groups = [];
      for (const dir of ["export", "import"]) {
        if (!site[dir].length) continue;
        const grid = h("div", { class: "cards" });
        grid.style.setProperty("--n", String(site[dir].length));
        for (const lane of site[dir]) {
          const key = `${lane.site}/${lane.lane}`;
          const card = h("section", { class: `lane ${lane.direction}`, tabindex: 0, "data-lane": key,
            "aria-labelledby": `lane-${lane.site}-${lane.lane}` });
          cards.set(key, card);
          grid.append(card);
        }
        const pooled = h("p", { class: "pooled", "data-pooled": `${siteId}/${dir}` });
        const group = h("section", { class: `direction ${dir}`, "aria-labelledby": `dir-${siteId}-${dir}` },
          h("h3", { id: `dir-${siteId}-${dir}`, text: t(`direction.${dir}_long`) }), pooled, grid);
        group.style.setProperty("--n", String(site[dir].length)); // wide groups take more of the row
        groups.push(group);
      }
      sections.push(h("section", { class: "site", "data-site": siteId, "aria-labelledby": `site-${siteId}` },
        h("h2", { id: `site-${siteId}`, text: site.name }), h("div", { class: "groups" }, groups)));
    }
    board.replaceChildren(...sections);
    built = true;
  }

  function render(snap) {
    uncertainBelow = snap.uncertain_below;
    if (!built) build(snap);
    for (const lane of snap.lanes) {
      const card = cards.get(`${lane.site}/${lane.lane}`);
      if (card) fill(card, lane, snap);
    }
    // The wait for a truck joining any open lane of a direction: the same figure on each of its lanes.
    for (const el of board.querySelectorAll("[data-pooled]")) {
      const lane = snap.lanes.find((l) => `${l.site}/${l.direction}` === el.dataset.pooled);
      if (!lane) continue;
      el.replaceChildren(`${t("direction_expected", { direction: t(`direction.${lane.direction}`).toLowerCase() })}: `,
        fig(lane.direction_expected_wait_s, duration));
    }
    board.dataset.now = snap.now;
    if (!board.dataset.rendered) {
      board.dataset.rendered = "1";
      performance.mark("board-rendered");
    }
  }

  function setConn(state) {
    conn.textContent = t(`conn.${state}`);
    conn.className = `conn conn-${state}`;
    board.classList.toggle("offline", state !== "live");
  }

  // ---- the stream, and getting it back
  let source = null;
  let watchdog = 0;
  let backoff = 1000;

  function arm() {
    clearTimeout(watchdog);
    watchdog = setTimeout(restart, 40000); // the server pings every 15 s; silence means a dead connection
  }

  function connect() {
    source = new EventSource("/board/stream");
    source.addEventListener("board", (msg) => {
      backoff = 1000;
      setConn("live");
      arm();
      render(JSON.parse(msg.data));
    });
    source.addEventListener("ping", arm);
    source.onerror = () => {
      setConn("reconnecting");
      if (source.readyState === EventSource.CLOSED) restart();
    };
    arm();
  }

  async function restart() {
    clearTimeout(watchdog);
    if (source) source.close();
    setConn("reconnecting");
    try {
      const r = await fetch("/board/data", { headers: { accept: "application/json" }, cache: "no-store" });
      if (r.status === 401) {
        setConn("signin");
        window.location.assign("/signin?next=/");
        return;
      }
      if (r.ok) {
        render(await r.json());
        connect();
        return;
      }
    } catch (err) {
      // central is down: try again below
    }
    backoff = Math.min(backoff * 2, 10000);
    setTimeout(restart, backoff);
  }

  render(JSON.parse(document.getElementById("snapshot").textContent));
  setConn("connecting");
  connect();
})();
