// Small helpers shared by the board and history pages: labels, local times, numbers, DOM and SVG charts.
// Written for lanewatch; no third-party code. Times arrive in UTC (ISO 8601) and are shown at the
// viewer's fixed offset (UTC+7 or UTC+8; neither zone has daylight saving time).
"use strict";

const LW = (() => {
  const stringsEl = document.getElementById("strings");
  const strings = stringsEl ? JSON.parse(stringsEl.textContent) : {};

  function t(key, params) {
    let text = strings["js." + key];
    if (text === undefined) return key;
    for (const [k, v] of Object.entries(params || {})) text = text.replaceAll(`{${k}}`, String(v));
    return text;
  }

  // Element builder: attrs may hold class, text, data-*, aria-*, and any attribute; children are nodes or text.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
    return el;
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    setAttrs(el, attrs);
    for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
    return el;
  }

  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") el.textContent = v;
      else el.setAttribute(k === "class" ? "class" : k, v === true ? "" : String(v));
    }
  }

  const pad = (n, w = 2) => String(n).padStart(w, "0");

  // "HH:MM:SS"; "HH:MM" with `form` "minutes"; "MM-DD HH:MM" with "date"; at the fixed offset (hours).
  function localTime(value, offsetH, form = "seconds") {
    const ms = (typeof value === "number" ? value : Date.parse(value)) + offsetH * 3600e3;
    const d = new Date(ms);
    const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    if (form === "date") return `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${time}`;
    return form === "minutes" ? time : `${time}:${pad(d.getUTCSeconds())}`;
  }

  // Same rules as central/i18n.py duration(): "45 s", "12 min", "1 h 05 min".
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    const sec = Math.round(seconds);
    if (sec < 60) return `${sec} s`;
    const min = Math.round(sec / 60);
    return min >= 60 ? `${Math.floor(min / 60)} h ${pad(min % 60)} min` : `${min} min`;
  }

  // Grouped the local way: 32.450 in Vietnamese, 32,450 in English.
  function number(value, lang) {
    if (value === null || value === undefined) return "";
    const text = Math.round(value).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return lang === "vi" ? text.replaceAll(",", ".") : text;
  }

  function niceMax(max) {
    if (max <= 0) return 1;
    const step = 10 ** Math.floor(Math.log10(max));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= max) return m * step;
    return 10 * step;
  }

  // A line chart of evenly spaced values. opts: width, height, start (ms), stepMs, offsetH, ticks, title,
  // withDate (axis labels with the day), nowLabel (label of the last tick).
  function lineChart(svg, values, opts) {
    const W = opts.width, H = opts.height, left = 34, bottom = 20, top = 8, right = 8;
    const max = niceMax(Math.max(0, ...values.filter((v) => v !== null)));
    const x = (i) => left + (values.length > 1 ? (i / (values.length - 1)) * (W - left - right) : 0);
    const y = (v) => top + (1 - v / max) * (H - top - bottom);
    const parts = [s("title", { text: opts.title })];
    for (const v of [0, max / 2, max]) {
      parts.push(s("line", { class: "grid", x1: left, x2: W - right, y1: y(v), y2: y(v) }));
      parts.push(s("text", { class: "axis", x: left - 4, y: y(v) + 4, "text-anchor": "end", text: String(v) }));
    }
    if (values.some((v) => v !== null)) {
      // A missing value (no sample then) breaks the line: it is not drawn as zero.
      const runs = [];
      let run = [];
      values.forEach((v, i) => {
        if (v === null) {
          if (run.length) runs.push(run);
          run = [];
        } else run.push(i);
      });
      if (run.length) runs.push(run);
      for (const r of runs) {
        const pts = r.map((i) => `${x(i).toFixed(1)},${y(values[i]).toFixed(1)}`);
        if (r.length > 1) {
          parts.push(s("polygon", { class: "area", points: `${x(r[0])},${y(0)} ${pts.join(" ")} ${x(r[r.length - 1])},${y(0)}` }));
        }
        parts.push(s("polyline", { class: "line", points: r.length > 1 ? pts.join(" ") : `${pts[0]} ${pts[0]}` }));
      }
      const ticks = opts.ticks || 4;
      for (let k = 0; k <= ticks; k++) {
        const i = Math.round((k / ticks) * (values.length - 1));
        const label = opts.nowLabel && k === ticks ? opts.nowLabel
          : localTime(opts.start + i * opts.stepMs, opts.offsetH, opts.withDate ? "date" : "minutes");
        const anchor = k === 0 ? "start" : k === ticks ? "end" : "middle";
        parts.push(s("text", { class: "axis", x: x(i), y: H - 4, "text-anchor": anchor, text: label }));
      }
    } else {
      parts.push(s("text", { class: "axis", x: W / 2, y: H / 2, "text-anchor": "middle", text: t("chart.empty") }));
    }
    svg.replaceChildren(...parts);
  }

  // Bars of [from_s, to_s, count]; x labels in minutes.
  function histogram(svg, bins, opts) {
    const W = opts.width, H = opts.height, left = 34, bottom = 20, top = 8, right = 8;
    const parts = [s("title", { text: opts.title })];
    if (!bins.length) {
      parts.push(s("text", { class: "axis", x: W / 2, y: H / 2, "text-anchor": "middle", text: t("chart.empty") }));
      svg.replaceChildren(...parts);
      return;
    }
    const max = niceMax(Math.max(...bins.map((b) => b[2])));
    const bw = (W - left - right) / bins.length;
    const y = (v) => top + (1 - v / max) * (H - top - bottom);
    for (const v of [0, max / 2, max]) {
      parts.push(s("line", { class: "grid", x1: left, x2: W - right, y1: y(v), y2: y(v) }));
      parts.push(s("text", { class: "axis", x: left - 4, y: y(v) + 4, "text-anchor": "end", text: String(v) }));
    }
    const every = Math.ceil(bins.length / 8);
    bins.forEach(([from, to, n], i) => {
      const bar = s("rect", { class: "bar", x: left + i * bw + 1, y: y(n), width: Math.max(1, bw - 2), height: y(0) - y(n) });
      bar.append(s("title", { text: `${duration(from)} – ${duration(to)}: ${n}` }));
      parts.push(bar);
      if (i % every === 0) {
        parts.push(s("text", { class: "axis", x: left + i * bw, y: H - 4, "text-anchor": "start", text: String(Math.round(from / 60)) }));
      }
    });
    parts.push(s("text", { class: "axis", x: W - right, y: H - 4, "text-anchor": "end", text: t("chart.minutes") }));
    svg.replaceChildren(...parts);
  }

  return { t, h, s, localTime, duration, number, lineChart, histogram };
})();
