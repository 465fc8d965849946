// candlecast fleet page: plain JavaScript, no build step. Reads the bot's REST API with a
// bearer token from /api/v1/token/login and listens on its message websocket.
"use strict";

const API = "/api/v1";
const OHLCV = new Set(["date", "open", "high", "low", "close", "volume", "__date_ts"]);
const COLORS = ["#f5a623", "#7ab7ff", "#c77dff", "#50e3c2", "#ff7b7b", "#b8e986"];
const state = { token: sessionStorage.getItem("cc_access"), refresh: sessionStorage.getItem("cc_refresh"),
  pair: null, producer: null, ws: null, chart: null, candles: null, lines: {}, markers: null,
  updates: 0, reloadTimer: null, trades: [] };

const $ = (id) => document.getElementById(id);

function showLogin(message) {
  $("login").hidden = false;
  $("fleet").hidden = true;
  const error = $("login-error");
  error.hidden = !message;
  error.textContent = message || "";
}

async function login(event) {
  event.preventDefault();
  const basic = btoa(`${$("username").value}:${$("password").value}`);
  const reply = await fetch(`${API}/token/login`, { method: "POST", headers: { Authorization: `Basic ${basic}` } });
  if (!reply.ok) { showLogin("Wrong user or password."); return; }
  const tokens = await reply.json();
  state.token = tokens.access_token;
  state.refresh = tokens.refresh_token;
  sessionStorage.setItem("cc_access", state.token);
  sessionStorage.setItem("cc_refresh", state.refresh);
  start();
}

async function refreshToken() {
  if (!state.refresh) return false;
  const reply = await fetch(`${API}/token/refresh`, { method: "POST", headers: { Authorization: `Bearer ${state.refresh}` } });
  if (!reply.ok) return false;
  state.token = (await reply.json()).access_token;
  sessionStorage.setItem("cc_access", state.token);
  return true;
}

async function api(path) {
  let reply = await fetch(`${API}/${path}`, { headers: { Authorization: `Bearer ${state.token}` } });
  if (reply.status === 401 && await refreshToken()) {
    reply = await fetch(`${API}/${path}`, { headers: { Authorization: `Bearer ${state.token}` } });
  }
  if (reply.status === 401) { showLogin("Session expired: log in again."); throw new Error("unauthorized"); }
  if (!reply.ok) throw new Error(`${path}: HTTP ${reply.status}`);
  return reply.json();
}

function cell(row, values) {
  const tr = document.createElement("tr");
  for (const v of values) {
    const td = document.createElement("td");
    td.textContent = v === null || v === undefined ? "–" : String(v);
    tr.appendChild(td);
  }
  row.appendChild(tr);
}

function fillTable(id, rows) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren();
  for (const values of rows) cell(body, values);
}

function when(epochSeconds) {
  return epochSeconds ? new Date(epochSeconds * 1000).toISOString().replace("T", " ").slice(0, 19) : null;
}

function ms(value) {
  return typeof value === "number" ? value.toFixed(1) : "–";
}

function renderFleet(fleet) {
  $("bot-name").textContent = `— ${fleet.bot_name} (${fleet.roles.join(", ") || "bot"})`;
  const badge = $("bot-state");
  badge.textContent = fleet.state;
  badge.className = `badge ${fleet.state === "running" ? "ok" : "bad"}`;
  $("consumers-section").hidden = !fleet.roles.includes("producer");
  fillTable("consumers", fleet.consumers.map((c) => [c.address, c.encoding, c.subscriptions.join(" "),
    c.queue_depth, c.messages_sent, c.bytes_sent, when(c.connected_since)]));
  $("producers-section").hidden = fleet.producers.length === 0;
  const box = $("producers");
  box.replaceChildren();
  for (const p of fleet.producers) {
    const div = document.createElement("div");
    div.className = "producer";
    div.dataset.producer = p.name;
    const title = document.createElement("h3");
    title.textContent = `${p.name}: ${p.state} (${p.encoding || "?"}), reconnects ${p.reconnects}, ` +
      `latency p50 ${ms(p.latency_ms_p50)} ms, p99 ${ms(p.latency_ms_p99)} ms` +
      (p.last_error ? `, last error: ${p.last_error}` : "");
    div.appendChild(title);
    const table = document.createElement("table");
    table.innerHTML = "<thead><tr><th>pair</th><th>candles</th><th>last candle</th><th>age (s)</th></tr></thead><tbody></tbody>";
    for (const f of p.pair_freshness) cell(table.querySelector("tbody"), [f.pair, f.rows, f.last_candle, f.age_s]);
    div.appendChild(table);
    box.appendChild(div);
  }
  fillTable("pairs", fleet.pairs.map((p) => [p.pair, p.rows, p.last_candle, p.analyzed_at, p.age_s]));
  // the chart follows the bot's own pairs, else the first producer's copy
  const own = fleet.pairs.filter((p) => p.rows > 0).map((p) => p.pair);
  const producer = fleet.producers[0];
  const pairs = own.length ? own : (producer ? producer.pairs : []);
  state.producer = own.length ? null : (producer ? producer.name : null);
  const select = $("pair-select");
  const current = [...select.options].map((o) => o.value).join(",");
  if (current !== pairs.join(",")) {
    select.replaceChildren(...pairs.map((p) => new Option(p, p)));
    if (state.pair && pairs.includes(state.pair)) select.value = state.pair;
  }
  if (!state.pair && pairs.length) { state.pair = pairs[0]; select.value = state.pair; loadChart(); }
}

function renderTrades(open, closed) {
  state.trades = [...open, ...closed];
  fillTable("trades", state.trades.map((t) => [t.trade_id, t.pair, t.open_date, t.open_rate,
    t.close_rate, t.profit_pct, t.exit_reason]));
}

function ensureChart() {
  if (state.chart) return;
  const lib = window.LightweightCharts;
  state.chart = lib.createChart($("chart"), {
    layout: { background: { color: "#111418" }, textColor: "#e4e6eb" },
    grid: { vertLines: { color: "#1f242b" }, horzLines: { color: "#1f242b" } },
    timeScale: { timeVisible: true, secondsVisible: true },
    autoSize: true,
  });
  state.candles = state.chart.addSeries(lib.CandlestickSeries, {});
  state.candles.priceScale().applyOptions({ scaleMargins: { top: 0.05, bottom: 0.3 } });
  state.markers = lib.createSeriesMarkers(state.candles, []);
}

async function loadChart() {
  if (!state.pair) return;
  ensureChart();
  const lib = window.LightweightCharts;
  const query = new URLSearchParams({ pair: state.pair, limit: "300" });
  if (state.producer) query.set("producer", state.producer);
  let payload;
  try { payload = await api(`pair_candles?${query}`); } catch (err) { return; }
  const col = Object.fromEntries(payload.columns.map((c, i) => [c, i]));
  const time = (row) => Math.floor(row[col.__date_ts] / 1000);
  state.candles.setData(payload.data.map((row) => ({ time: time(row), open: row[col.open],
    high: row[col.high], low: row[col.low], close: row[col.close] })));
  const indicators = payload.columns.filter((c) => !OHLCV.has(c) && !c.startsWith("_") &&
    !/^(enter|exit)_(long|short)$|^(enter|exit)_tag$/.test(c) &&
    payload.data.some((row) => typeof row[col[c]] === "number"));
  const closes = payload.data.map((row) => row[col.close]).filter((v) => typeof v === "number");
  const typical = closes.length ? closes[Math.floor(closes.length / 2)] : 0;
  // indicators on the price's scale share its axis; the others (RSI, ...) get a lower band
  const onPrice = (name) => {
    const v = payload.data.map((row) => row[col[name]]).filter((x) => typeof x === "number");
    const mid = v[Math.floor(v.length / 2)];
    return typical > 0 && mid > typical / 2 && mid < typical * 2;
  };
  for (const [name, series] of Object.entries(state.lines)) {
    if (!indicators.includes(name)) { state.chart.removeSeries(series); delete state.lines[name]; }
  }
  indicators.forEach((name, i) => {
    if (!state.lines[name]) {
      const own = !onPrice(name);
      state.lines[name] = state.chart.addSeries(lib.LineSeries, { color: COLORS[i % COLORS.length],
        lineWidth: 1, priceLineVisible: false, lastValueVisible: false, title: name,
        priceScaleId: own ? "indicators" : "right" });
      if (own) state.chart.priceScale("indicators").applyOptions({ scaleMargins: { top: 0.75, bottom: 0 } });
    }
    state.lines[name].setData(payload.data.filter((row) => typeof row[col[name]] === "number")
      .map((row) => ({ time: time(row), value: row[col[name]] })));
  });
  const step = payload.timeframe_ms / 1000;
  const marks = [];
  for (const t of state.trades.filter((t) => t.pair === state.pair)) {
    marks.push({ time: Math.floor(t.open_timestamp / 1000 / step) * step, position: "belowBar",
      color: "#50e3c2", shape: "arrowUp", text: `#${t.trade_id}` });
    if (t.close_timestamp) marks.push({ time: Math.floor(t.close_timestamp / 1000 / step) * step,
      position: "aboveBar", color: "#ff7b7b", shape: "arrowDown", text: t.exit_reason || "exit" });
  }
  marks.sort((a, b) => a.time - b.time);
  state.markers.setMarkers(marks);
  state.updates += 1;
  const chart = $("chart");
  chart.dataset.updates = String(state.updates);
  chart.dataset.lastCandle = payload.data.length ? String(payload.data[payload.data.length - 1][col.__date_ts]) : "";
  chart.dataset.pair = state.pair;
  $("chart-legend").textContent = `${state.pair} ${payload.timeframe}: ${payload.length} candles, ` +
    `indicators ${indicators.join(", ") || "none"}, last analyzed ${payload.last_analyzed}`;
}

function scheduleChart() {
  clearTimeout(state.reloadTimer);
  state.reloadTimer = setTimeout(loadChart, 50);
}

function openSocket() {
  if (state.ws) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}${API}/message/ws?token=${encodeURIComponent(state.token)}`);
  state.ws = ws;
  ws.onopen = () => {
    $("ws-state").textContent = "websocket: live";
    $("ws-state").className = "badge ok";
    ws.send(JSON.stringify({ type: "subscribe", data: ["whitelist", "new_candle", "analyzed_df",
      "entry_fill", "exit_fill", "status"] }));
  };
  ws.onmessage = (event) => {
    let msg;
    try { msg = JSON.parse(event.data); } catch (err) { return; }
    const key = msg.type === "new_candle" ? msg.data : (msg.type === "analyzed_df" ? msg.data.key : null);
    if (key && key[0] === state.pair) scheduleChart();
    if (msg.type === "entry_fill" || msg.type === "exit_fill" || msg.type === "status") refresh();
  };
  ws.onclose = () => {
    state.ws = null;
    $("ws-state").textContent = "websocket: reconnecting";
    $("ws-state").className = "badge bad";
    setTimeout(() => { if (state.token) openSocket(); }, 2000);
  };
}

async function refresh() {
  try {
    const [fleet, open, closed] = await Promise.all([api("fleet"), api("status"), api("trades")]);
    renderTrades(open, closed.trades);
    renderFleet(fleet);
  } catch (err) { /* shown by the next refresh or the login form */ }
}

async function start() {
  $("login").hidden = true;
  $("fleet").hidden = false;
  await refresh();
  openSocket();
  if (!state.poll) state.poll = setInterval(() => { refresh(); if (state.producer) scheduleChart(); }, 2000);
}

$("login").addEventListener("submit", login);
$("pair-select").addEventListener("change", (event) => { state.pair = event.target.value; loadChart(); });
if (state.token) start(); else showLogin();
