// The /ops page: a session's live stats by tier and product, its funnel, refunds and
// interaction heat, read from
// GET /v1/sessions/{id}/stats/stream with the operator's token.
//
// EventSource cannot send an Authorization header, so the stream is read with fetch()
// and a ReadableStream reader, and parsed here. No libraries, nothing from elsewhere.
"use strict";

(() => {
  const TOKEN_KEY = "livebenefits.operatorToken";
  const TIER_FIELDS = ["entries", "online", "orders", "units", "gmv",
    "coupons_issued", "coupons_redeemed", "points_awarded"];
  const PRODUCT_FIELDS = ["stock_left", "reserved", "sold"];
  const CARD_FIELDS = ["entries", "online", "orders", "units", "gmv", "points_awarded"];
  const MONEY_FIELDS = new Set(["gmv", "gmv_net", "refunded_amount"]);
  // The funnel (stats.funnel), each tier's row; ratios shown as percentages.
  const FUNNEL_FIELDS = ["entrants", "buyers", "payers", "entrant_to_buyer", "buyer_to_payer",
    "paid_orders", "paid_units", "refunded_orders", "refunded_amount", "gmv", "gmv_net"];
  const FUNNEL_CARDS = ["entrants", "buyers", "paid_orders", "refunded_orders", "refunded_amount", "gmv_net"];
  const RATIO_FIELDS = new Set(["entrant_to_buyer", "buyer_to_payer"]);
  const INTERACTION_KINDS = ["like", "comment", "gift", "question", "other"];
  const HEAT_MINUTES = 30;
  // A refusal that retrying cannot fix: wrong token, wrong role, no such session.
  const FINAL_STATUSES = new Set([401, 403, 404, 422]);
  const CHART_WINDOW_MS = 5 * 60 * 1000;
  const CHART_MIN_SPAN_MS = 60 * 1000;
  const RETRY_MIN_MS = 1000;
  const RETRY_MAX_MS = 15000;
  const TIER_COLOURS = {
    guest: "#a7afbd", regular: "#6b7a90", silver: "#3f8fd8",
    gold: "#d49a00", black_diamond: "#2b2d42",
  };
  const PALETTE = ["#e4572e", "#17a398", "#76b041", "#9c6ade", "#ff8c42", "#c2185b"];
  const SVG_NS = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);
  const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const yuan = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  let controller = null;     // the running stream's AbortController
  let retryTimer = null;
  let retryDelay = RETRY_MIN_MS;
  let shownSession = null;   // whose numbers the tables hold
  let latest = null;         // the last stats object
  let samples = [];          // [{t, orders: {tier: n}}], oldest first
  const colours = new Map();

  const percent = new Intl.NumberFormat("en-US", { style: "percent", maximumFractionDigits: 1 });

  function format(field, value) {
    if (RATIO_FIELDS.has(field)) return percent.format(value);
    return MONEY_FIELDS.has(field) ? "¥" + yuan.format(value / 100) : integer.format(value);
  }

  // "+08:00" -> minutes east of UTC.
  function offsetMinutes(offset) {
    const m = /^([+-])(\d{2}):(\d{2})$/.exec(offset || "");
    return m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
  }

  // A moment as HH:MM:SS on the session's own clock (its UTC offset), not the browser's.
  function sessionTime(ms, offset) {
    return new Date(ms + offsetMinutes(offset) * 60000).toISOString().slice(11, 19);
  }

  function colour(tier) {
    if (!colours.has(tier)) {
      colours.set(tier, TIER_COLOURS[tier] || PALETTE[colours.size % PALETTE.length]);
    }
    return colours.get(tier);
  }

  function setStatus(status, text) {
    const pill = $("status");
    pill.dataset.status = status;
    pill.textContent = status === "live" ? "live" : status;
    const message = $("message");
    message.textContent = text || "";
    message.dataset.kind = status === "error" ? "error" : "";
  }

  // Writes a number into a cell; a changed value flashes so the eye finds it.
  function setCell(cell, field, value) {
    const text = format(field, value);
    if (cell.textContent === text) return;
    const before = cell.dataset.value;
    cell.textContent = text;
    cell.dataset.value = String(value);
    if (before !== undefined && before !== "" && before !== String(value)) {
      cell.classList.remove("flash");
      void cell.offsetWidth; // restarts the animation
      cell.classList.add("flash");
    }
  }

  function cellRow(tbody, key, attr, label, fields, withSwatch) {
    let row = tbody.querySelector(`tr[${attr}="${CSS.escape(key)}"]`);
    if (row) return row;
    row = document.createElement("tr");
    row.setAttribute(attr, key);
    const head = document.createElement("th");
    head.scope = "row";
    if (withSwatch) {
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colour(key);
      head.append(swatch);
    }
    head.append(label);
    row.append(head);
    for (const field of fields) {
      const cell = document.createElement("td");
      cell.setAttribute(attr, key);
      cell.dataset.field = field;
      row.append(cell);
    }
    tbody.append(row);
    return row;
  }

  function dropMissing(tbody, attr, keep) {
    for (const row of [...tbody.querySelectorAll(`tr[${attr}]`)]) {
      if (!keep.has(row.getAttribute(attr))) row.remove();
    }
  }

  function renderTiers(tiers) {
    const tbody = $("tier-rows");
    const names = Object.keys(tiers);
    const totals = Object.fromEntries(TIER_FIELDS.map((f) => [f, 0]));
    names.forEach((name) => {
      const row = cellRow(tbody, name, "data-tier", name.replace(/_/g, " "), TIER_FIELDS, true);
      tbody.append(row); // keeps the ladder's order
      for (const field of TIER_FIELDS) {
        const value = tiers[name][field] || 0;
        totals[field] += value;
        setCell(row.querySelector(`td[data-field="${field}"]`), field, value);
      }
    });
    dropMissing(tbody, "data-tier", new Set(names));
    const foot = $("tier-total");
    for (const field of TIER_FIELDS) {
      setCell(foot.querySelector(`td[data-field="${field}"]`), field, totals[field]);
    }
    for (const field of CARD_FIELDS) setCell($(`total-${field}`), field, totals[field]);
  }

  function renderFunnel(funnel) {
    const tbody = $("funnel-rows");
    const names = Object.keys(funnel);
    const totals = Object.fromEntries(FUNNEL_CARDS.map((f) => [f, 0]));
    names.forEach((name) => {
      const row = cellRow(tbody, name, "data-funnel", name.replace(/_/g, " "), FUNNEL_FIELDS, true);
      tbody.append(row); // keeps the ladder's order
      for (const field of FUNNEL_FIELDS) {
        const value = funnel[name][field] || 0;
        if (field in totals) totals[field] += value;
        setCell(row.querySelector(`td[data-field="${field}"]`), field, value);
      }
    });
    dropMissing(tbody, "data-funnel", new Set(names));
    for (const field of FUNNEL_CARDS) setCell($(`funnel-total-${field}`), field, totals[field]);
  }

  function renderInteractions(interactions) {
    const tbody = $("interaction-rows");
    const names = Object.keys(interactions);
    for (const name of names) {
      const row = cellRow(tbody, name, "data-heat", name.replace(/_/g, " "), INTERACTION_KINDS, true);
      tbody.append(row);
      for (const kind of INTERACTION_KINDS) {
        setCell(row.querySelector(`td[data-field="${kind}"]`), kind, interactions[name][kind] || 0);
      }
    }
    dropMissing(tbody, "data-heat", new Set(names));
  }

  // Stacked bars, one per minute of the last HEAT_MINUTES, each tier a colour; minutes
  // labelled on the session's clock (the stats' minutes are already in its zone).
  function drawHeat(stats) {
    const W = 560, H = 200, left = 44, right = 14, top = 12, bottom = 26;
    const offset = stats ? stats.utc_offset : "+00:00";
    $("heat-zone").textContent = `UTC${offset}`;
    const byMinute = new Map((stats ? stats.heat : []).map((m) => [Date.parse(m.minute), m.tiers]));
    const tiers = stats ? Object.keys(stats.tiers) : [];
    const last = Math.floor(Date.now() / 60000) * 60000;
    const minutes = [];
    for (let n = HEAT_MINUTES - 1; n >= 0; n -= 1) minutes.push(last - n * 60000);
    const totalOf = (counts) => Object.values(counts || {}).reduce((a, b) => a + b, 0);
    let max = 0;
    for (const t of minutes) {
      const tiersThen = byMinute.get(t) || {};
      max = Math.max(max, Object.values(tiersThen).reduce((a, c) => a + totalOf(c), 0));
    }
    const { step, top: yMax } = axis(max);
    const slot = (W - left - right) / minutes.length;
    const y = (n) => top + (1 - n / yMax) * (H - top - bottom);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "xMidYMid meet" });
    for (let value = 0; value <= yMax; value += step) {
      root.append(svg("line", { class: "grid", x1: left, x2: W - right, y1: y(value), y2: y(value) }));
      root.append(svg("text", { class: "axis-label", x: left - 6, y: y(value) + 4, "text-anchor": "end" },
        integer.format(value)));
    }
    minutes.forEach((t, i) => {
      const x = left + i * slot;
      if (i % 10 === 0 || i === minutes.length - 1) {
        root.append(svg("text", { class: "axis-label", x: x + slot / 2, y: H - 8, "text-anchor": "middle" },
          sessionTime(t, offset).slice(0, 5)));
      }
      const tiersThen = byMinute.get(t);
      if (!tiersThen) return;
      let base = 0;
      for (const tier of tiers) {
        const n = totalOf(tiersThen[tier]);
        if (!n) continue;
        root.append(svg("rect", {
          class: "bar", x: x + 1, width: Math.max(1, slot - 2), y: y(base + n), height: y(base) - y(base + n),
          fill: colour(tier), "data-tier": tier, "data-minute": sessionTime(t, offset).slice(0, 5), "data-value": n,
        }));
        base += n;
      }
    });
    $("heat-chart").replaceChildren(root);
    const legend = $("heat-legend");
    legend.replaceChildren();
    for (const tier of tiers) {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colour(tier);
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = integer.format(totalOf(stats.interactions && stats.interactions[tier]));
      item.append(swatch, tier.replace(/_/g, " "), count);
      legend.append(item);
    }
  }

  function renderProducts(products) {
    const tbody = $("product-rows");
    const skus = Object.keys(products);
    for (const sku of skus) {
      const p = products[sku];
      const row = cellRow(tbody, sku, "data-sku", sku, PRODUCT_FIELDS, false);
      for (const field of PRODUCT_FIELDS) {
        setCell(row.querySelector(`td[data-field="${field}"]`), field, p[field] || 0);
      }
      let barCell = row.querySelector("td.bar-cell");
      if (!barCell) {
        barCell = document.createElement("td");
        barCell.className = "bar-cell";
        const bar = document.createElement("div");
        bar.className = "stockbar";
        for (const part of ["sold", "reserved", "left"]) {
          const span = document.createElement("span");
          span.className = part;
          bar.append(span);
        }
        barCell.append(bar);
        row.append(barCell);
      }
      const all = Math.max(1, (p.sold || 0) + (p.reserved || 0) + (p.stock_left || 0));
      const parts = { sold: p.sold || 0, reserved: p.reserved || 0, left: p.stock_left || 0 };
      for (const [part, n] of Object.entries(parts)) {
        barCell.querySelector(`.${part}`).style.width = `${(100 * n) / all}%`;
      }
      barCell.title = `${parts.sold} sold · ${parts.reserved} reserved · ${parts.left} left`;
    }
    dropMissing(tbody, "data-sku", new Set(skus));
  }

  function render(stats) {
    latest = stats;
    const badge = $("session-state");
    badge.dataset.state = stats.state;
    badge.textContent = `${stats.session_id} · ${stats.state}`;
    renderTiers(stats.tiers);
    renderProducts(stats.products);
    renderFunnel(stats.funnel || {});
    renderInteractions(stats.interactions || {});
    drawHeat(stats);
    const now = Date.now();
    samples.push({ t: now, orders: Object.fromEntries(Object.entries(stats.tiers).map(([k, v]) => [k, v.orders])) });
    drawChart();
    $("updated-at").textContent = `${sessionTime(now, stats.utc_offset)} UTC${stats.utc_offset || "+00:00"}`;
  }

  // A round step for about four gridlines, and the axis top it gives.
  function axis(max) {
    const rough = Math.max(max, 4) / 4;
    const magnitude = 10 ** Math.floor(Math.log10(rough));
    const step = [1, 2, 2.5, 5, 10].map((f) => f * magnitude).find((s) => s >= rough && Number.isInteger(s))
      || 10 * magnitude;
    return { step, top: Math.ceil(Math.max(max, 4) / step) * step };
  }

  function svg(name, attrs, text) {
    const el = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function drawChart() {
    const W = 560, H = 230, left = 44, right = 14, top = 12, bottom = 26;
    const now = Date.now();
    // Keep one sample from before the window so each line starts at its left edge.
    while (samples.length > 1 && samples[1].t <= now - CHART_WINDOW_MS) samples.shift();
    // A page open for less than the window shows what it has, at least a minute of it.
    const seen = samples.length ? now - samples[0].t : 0;
    const span = Math.min(CHART_WINDOW_MS, Math.max(CHART_MIN_SPAN_MS, Math.ceil(seen / 30000) * 30000));
    const start = now - span;
    const tiers = latest ? Object.keys(latest.tiers) : [];
    let max = 0;
    for (const s of samples) for (const n of Object.values(s.orders)) max = Math.max(max, n);
    const { step, top: yMax } = axis(max);
    const x = (t) => left + ((Math.max(t, start) - start) / span) * (W - left - right);
    const y = (n) => top + (1 - n / yMax) * (H - top - bottom);

    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "xMidYMid meet" });
    for (let value = 0; value <= yMax; value += step) {
      root.append(svg("line", { class: "grid", x1: left, x2: W - right, y1: y(value), y2: y(value) }));
      root.append(svg("text", { class: "axis-label", x: left - 6, y: y(value) + 4, "text-anchor": "end" },
        integer.format(value)));
    }
    const tick = [10, 15, 30, 60].map((n) => n * 1000).find((n) => span / n <= 6) || 60000;
    for (let back = Math.floor(span / tick) * tick; back >= 0; back -= tick) {
      const anchor = back === span ? "start" : back === 0 ? "end" : "middle";
      const label = back === 0 ? "now" : back % 60000 === 0 ? `−${back / 60000} min` : `−${back / 1000} s`;
      root.append(svg("text", { class: "axis-label", x: x(now - back), y: H - 8, "text-anchor": anchor }, label));
    }
    $("chart-span").textContent = span >= 60000 && span % 60000 === 0
      ? `· last ${span / 60000} min` : `· last ${Math.round(span / 1000)} s`;
    if (!samples.length) {
      root.append(svg("text", { class: "empty", x: W / 2, y: H / 2, "text-anchor": "middle" }, "waiting for data…"));
    }
    const legend = $("chart-legend");
    legend.replaceChildren();
    for (const tier of tiers) {
      if (samples.length) {
        let d = "";
        let previous = null;
        for (const s of samples) {
          const n = s.orders[tier] || 0;
          d += previous === null ? `M${x(s.t).toFixed(1)},${y(n).toFixed(1)}` : `H${x(s.t).toFixed(1)}V${y(n).toFixed(1)}`;
          previous = n;
        }
        d += `H${x(now).toFixed(1)}`;
        root.append(svg("path", { class: "series", d, stroke: colour(tier), "data-tier": tier }));
      }
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colour(tier);
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = integer.format(latest.tiers[tier].orders || 0);
      item.append(swatch, tier.replace(/_/g, " "), count);
      legend.append(item);
    }
    $("chart").replaceChildren(root);
  }

  // Calls onEvent(name, data) for each server-sent event in the body; comments are skipped.
  async function readEvents(body, onEvent) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let name = "message";
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n")) >= 0) {
        let line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line === "") {
          if (data.length) onEvent(name, data.join("\n"));
          name = "message";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (field === "event") name = val;
        else if (field === "data") data.push(val);
      }
    }
  }

  function resetView(sessionId) {
    shownSession = sessionId;
    latest = null;
    samples = [];
    $("tier-rows").replaceChildren();
    $("product-rows").replaceChildren();
    $("funnel-rows").replaceChildren();
    $("interaction-rows").replaceChildren();
    for (const cell of document.querySelectorAll("#tier-total td, .card-value")) {
      cell.textContent = "–";
      delete cell.dataset.value;
    }
    $("session-state").dataset.state = "";
    $("session-state").textContent = sessionId;
    $("stream-url").textContent = `/v1/sessions/${sessionId}/stats/stream`;
    drawChart();
    drawHeat(null);
  }

  function stop(status, text) {
    if (controller) controller.abort();
    controller = null;
    clearTimeout(retryTimer);
    retryTimer = null;
    setStatus(status, text);
  }

  function scheduleRetry(ctl, why) {
    if (controller !== ctl) return;
    const wait = retryDelay;
    retryDelay = Math.min(RETRY_MAX_MS, retryDelay * 2);
    setStatus("retrying", `${why}; reconnecting in ${Math.round(wait / 1000)} s…`);
    retryTimer = setTimeout(() => { if (controller === ctl) connect(); }, wait);
  }

  async function connect() {
    const sessionId = $("session").value.trim();
    const token = $("token").value.trim();
    stop("idle", "");
    if (!sessionId || !token) {
      setStatus("idle", "Enter a session id and an operator token, then Connect.");
      return;
    }
    localStorage.setItem(TOKEN_KEY, token);
    const url = new URL(window.location.href);
    url.searchParams.set("session", sessionId);
    window.history.replaceState(null, "", url);
    if (sessionId !== shownSession) resetView(sessionId);

    const ctl = new AbortController();
    controller = ctl;
    setStatus("connecting", "Connecting…");
    let response;
    try {
      response = await fetch(`/v1/sessions/${encodeURIComponent(sessionId)}/stats/stream`, {
        headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" },
        cache: "no-store",
        signal: ctl.signal,
      });
    } catch (err) {
      if (!ctl.signal.aborted) scheduleRetry(ctl, "Network error");
      return;
    }
    if (!response.ok) {
      const problem = await response.json().catch(() => null);
      const detail = (problem && (problem.detail || problem.title)) || response.statusText;
      const code = problem && problem.code ? ` ${problem.code}` : "";
      if (FINAL_STATUSES.has(response.status)) {
        if (controller === ctl) stop("error", `${response.status}${code}: ${detail}`);
      } else {
        scheduleRetry(ctl, `${response.status}${code}: ${detail}`);
      }
      return;
    }
    retryDelay = RETRY_MIN_MS;
    setStatus("live", "");
    try {
      await readEvents(response.body, (name, data) => {
        if (name === "stats" && controller === ctl) render(JSON.parse(data));
      });
    } catch (err) {
      if (ctl.signal.aborted) return;
    }
    if (!ctl.signal.aborted) scheduleRetry(ctl, "The stream ended");
  }

  function start() {
    const params = new URLSearchParams(window.location.search);
    $("session").value = params.get("session") || "";
    $("token").value = localStorage.getItem(TOKEN_KEY) || "";
    $("connect-form").addEventListener("submit", (event) => {
      event.preventDefault();
      connect();
    });
    $("disconnect").addEventListener("click", () => stop("idle", "Stopped."));
    $("forget-token").addEventListener("click", () => {
      localStorage.removeItem(TOKEN_KEY);
      $("token").value = "";
      stop("idle", "Token forgotten.");
    });
    // The time axis moves even when nothing changes.
    setInterval(() => { if (latest) { drawChart(); drawHeat(latest); } }, 1000);
    drawChart();
    drawHeat(null);
    if ($("session").value && $("token").value) connect();
    else setStatus("idle", "Enter a session id and an operator token, then Connect.");
  }

  start();
})();
