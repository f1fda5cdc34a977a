/* The trading page: book, trades, chart, order entry, the user's orders and trades.
 * Data comes from UI.MarketFeed / UI.UserFeed (data.js): sockets when present, polling when not. */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("market-config").textContent);
  const { api, fmt, fmtDown, toUnits, fromUnits, time, dateTime } = window.UI;
  const S = cfg.symbol, PD = cfg.priceDecimals, QD = cfg.qtyDecimals, QTD = cfg.quoteDecimals;
  const $ = (id) => document.getElementById(id);
  const BOOK_ROWS = 12;
  const state = { balances: {}, open: [], type: "LIMIT", side: "BUY", feeds: { market: "polling", user: "polling" } };

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }
  function td(text, cls) { return el("td", { class: cls || "", text: text }); }
  function emptyRow(cols, text) { return el("tr", { class: "empty" }, el("td", { colspan: cols, text })); }
  function sideCell(side) { return td(side === "BUY" ? "Buy" : "Sell", side === "BUY" ? "buy-text" : "sell-text"); }
  function setMessage(node, text, ok) { node.textContent = text; node.className = "notice " + (text ? (ok ? "ok" : "bad") : ""); node.setAttribute("role", ok ? "status" : "alert"); }

  /* ---------------------------------------------------------------- errors in words */
  function explain(err) {
    const m = err.message || "";
    const words = {
      "Filter failure: PRICE_FILTER": `The price must be a multiple of ${cfg.tickSize} ${cfg.quote} and within the market's price limits.`,
      "Filter failure: LOT_SIZE": `The amount must be a multiple of ${cfg.stepSize} ${cfg.base}, at least ${cfg.minQty} ${cfg.base}.`,
      "Filter failure: NOTIONAL": `The order's total must be at least ${cfg.minNotional} ${cfg.quote}.`,
      "Filter failure: MIN_NOTIONAL": `The order's total must be at least ${cfg.minNotional} ${cfg.quote}.`,
      "Filter failure: PERCENT_PRICE_BY_SIDE": "The price is too far from the current market price.",
      "Filter failure: MAX_NUM_ORDERS": "You have too many open orders in this market. Cancel some first.",
      "Account has insufficient balance for requested action.": "Not enough available balance for this order.",
      "Order would immediately match and take.": "This post-only order would trade at once, so it was not placed.",
      "Order would trigger immediately.": "The stop price is already reached: the order would trigger at once. Choose another stop price.",
      "Market is closed.": "Trading is paused in this market. Try again later.",
      "Unknown order sent.": "That order is already filled or cancelled.",
    };
    if (words[m]) return `${words[m]} (${err.code})`;
    if (err.code === -1111) return `Too many decimal places: ${m} (${err.code})`;
    if (err.code === -1007) return "The exchange is busy and did not confirm in time. The order will show in your orders if it went through.";
    return `${m} (${err.code})`;
  }

  /* ---------------------------------------------------------------- order book */
  function makeBookRows(tbody, cls) {
    const rows = [];
    for (let i = 0; i < BOOK_ROWS; i++) {
      const tr = el("tr", { class: "level " + cls }, td("\u00a0", "num"), td("", "num"), td("", "num"));
      tr.addEventListener("click", () => { const p = tr.dataset.price; if (p) { $("f-price").value = p; syncTotal(); $("f-price").focus(); } });
      tbody.append(tr); rows.push(tr);
    }
    return rows;
  }
  const askRows = makeBookRows($("book-asks"), "ask"), bidRows = makeBookRows($("book-bids"), "bid");

  /* Asks show best at the bottom (next to the spread), bids best at the top; each row's bar is
   * the cumulative amount from the best price out, as a share of the deeper side. */
  function paintSide(rows, levels, isAsk, maxCum, mine) {
    let cum = 0;
    const cums = levels.map(([, q]) => (cum += Number(q)));
    rows.forEach((tr, i) => {
      const idx = isAsk ? rows.length - 1 - i : i;
      const lvl = levels[idx];
      const cells = tr.children;
      if (!lvl) {
        tr.dataset.price = ""; tr.removeAttribute("aria-label"); tr.tabIndex = -1;
        cells[0].textContent = "\u00a0"; cells[1].textContent = ""; cells[2].textContent = "";
        tr.style.setProperty("--depth", "0%"); cells[0].classList.remove("mine"); return;
      }
      const [p, q] = lvl;
      tr.dataset.price = fmt(p, PD).replace(/,/g, "");
      cells[0].textContent = fmt(p, PD); cells[1].textContent = fmt(q, QD);
      const total = toUnits(p, PD) * toUnits(q, QD);
      cells[2].textContent = fmt(fromUnits(total, PD + QD), PD);
      tr.style.setProperty("--depth", (maxCum ? (100 * cums[idx]) / maxCum : 0).toFixed(1) + "%");
      cells[0].classList.toggle("mine", mine.has(Number(p)));
      tr.setAttribute("aria-label", `${isAsk ? "Sell" : "Buy"} ${cells[1].textContent} ${cfg.base} at ${cells[0].textContent} ${cfg.quote}`);
    });
  }
  let lastBook = null;
  function renderBook(book) {
    lastBook = book;
    const { bids, asks } = book.view(BOOK_ROWS);
    const sum = (lv) => lv.reduce((s, [, q]) => s + Number(q), 0);
    const maxCum = Math.max(sum(bids), sum(asks));
    const mineBuy = new Set(state.open.filter((o) => o.side === "BUY").map((o) => Number(o.price)));
    const mineSell = new Set(state.open.filter((o) => o.side === "SELL").map((o) => Number(o.price)));
    paintSide(askRows, asks, true, maxCum, mineSell);
    paintSide(bidRows, bids, false, maxCum, mineBuy);
    const spread = $("book-spread");
    if (!bids.length && !asks.length) spread.innerHTML = '<span class="muted">The book is empty.</span>';
    else if (bids.length && asks.length) {
      const s = Number(asks[0][0]) - Number(bids[0][0]);
      spread.textContent = `Spread ${fmt(String(s.toFixed(PD)), PD)} (${(100 * s / Number(asks[0][0])).toFixed(3)}%)`;
    } else spread.textContent = bids.length ? "No sellers" : "No buyers";
    drawDepth(book);
  }

  /* Depth chart: cumulative amounts of the best DEPTH_LEVELS levels per side as two step areas
   * on one price axis (plain canvas; redrawn at most once per frame with the book). */
  const DEPTH_LEVELS = 50;
  function drawDepth(book) {
    const canvas = $("depth-chart");
    const w = canvas.clientWidth, h = canvas.clientHeight, ratio = window.devicePixelRatio || 1;
    if (!w || !h) return;
    if (canvas.width !== w * ratio) { canvas.width = w * ratio; canvas.height = h * ratio; }
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    const { bids, asks } = book.view(DEPTH_LEVELS);
    if (!bids.length && !asks.length) {
      g.fillStyle = "#9da7b3"; g.font = "12px system-ui"; g.textAlign = "center";
      g.fillText("The book is empty.", w / 2, h / 2); return;
    }
    const cum = (levels) => { let c = 0; return levels.map(([p, q]) => [Number(p), (c += Number(q))]); };
    const b = cum(bids), a = cum(asks);
    const prices = [...b, ...a].map(([p]) => p);
    const lo = Math.min(...prices), hi = Math.max(...prices), top = Math.max(b.length ? b[b.length - 1][1] : 0, a.length ? a[a.length - 1][1] : 0);
    const pad = 16, x = (p) => (hi === lo ? w / 2 : pad + ((p - lo) / (hi - lo)) * (w - 2 * pad)), y = (q) => h - 18 - (q / top) * (h - 28);
    function area(points, stroke, fill) {
      if (!points.length) return;
      g.beginPath(); g.moveTo(x(points[0][0]), y(0));
      let prev = 0;
      for (const [p, q] of points) { g.lineTo(x(p), y(prev)); g.lineTo(x(p), y(q)); prev = q; }
      g.lineTo(x(points[points.length - 1][0]), y(0)); g.closePath();
      g.fillStyle = fill; g.fill(); g.strokeStyle = stroke; g.lineWidth = 1.5; g.stroke();
    }
    area(b, "#3fb950", "rgba(63,185,80,.22)");
    area(a, "#ff6b61", "rgba(255,107,97,.22)");
    g.fillStyle = "#9da7b3"; g.font = "11px system-ui";
    g.textAlign = "left"; g.fillText(fmt(String(lo), PD), 2, h - 4);
    g.textAlign = "right"; g.fillText(fmt(String(hi), PD), w - 2, h - 4);
    g.textAlign = "center"; g.fillText(`max ${fmt(String(top), QD)} ${cfg.base}`, w / 2, 11);
  }

  /* ---------------------------------------------------------------- recent trades */
  function renderTrades(trades) {
    const tb = $("trades");
    if (!trades.length) { tb.replaceChildren(emptyRow(3, "No trades yet.")); return; }
    tb.replaceChildren(...trades.map((t) => el("tr", {},
      td(fmt(t.price, PD), "num " + (t.buyerMaker ? "sell-text" : "buy-text")),
      td(fmt(t.qty, QD), "num"), td(time(t.time), "num muted"))));
    if (trades[0]) $("stat-last").textContent = fmt(trades[0].price, PD);
  }

  /* ---------------------------------------------------------------- chart */
  let chart = null, candleSeries = null, volumeSeries = null, lastCandleTime = 0;
  function initChart() {
    const LC = window.LightweightCharts;
    const box = $("chart");
    if (!LC) { box.textContent = "The chart could not be loaded."; return; }
    chart = LC.createChart(box, {
      autoSize: true,
      layout: { background: { type: "solid", color: "#161b22" }, textColor: "#c9d1d9", attributionLogo: true },
      grid: { vertLines: { color: "#21262d" }, horzLines: { color: "#21262d" } },
      rightPriceScale: { borderColor: "#30363d" },
      timeScale: { borderColor: "#30363d", timeVisible: true, secondsVisible: false },
      crosshair: { mode: 0 },
    });
    candleSeries = chart.addCandlestickSeries({
      upColor: "#3fb950", downColor: "#ff6b61", borderVisible: false, wickUpColor: "#3fb950", wickDownColor: "#ff6b61",
      priceFormat: { type: "price", precision: PD, minMove: Number(cfg.tickSize) },
    });
    volumeSeries = chart.addHistogramSeries({ priceFormat: { type: "volume" }, priceScaleId: "" });
    volumeSeries.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    candleSeries.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.25 } });
  }
  function bar(c) {
    return { time: c.time, open: Number(c.open), high: Number(c.high), low: Number(c.low), close: Number(c.close) };
  }
  function vol(c) {
    return { time: c.time, value: Number(c.volume), color: Number(c.close) >= Number(c.open) ? "rgba(63,185,80,.5)" : "rgba(255,107,97,.5)" };
  }
  function setCandles(candles) {
    if (!candleSeries) return;
    const note = $("chart-empty");
    if (note) note.hidden = candles.length > 0;
    if (note && !candles.length) note.textContent = "No trades in this interval yet.";
    candleSeries.setData(candles.map(bar)); volumeSeries.setData(candles.map(vol));
    lastCandleTime = candles.length ? candles[candles.length - 1].time : 0;
  }
  function updateCandle(c) {
    if (!candleSeries || c.time < lastCandleTime) return;
    try { candleSeries.update(bar(c)); volumeSeries.update(vol(c)); lastCandleTime = c.time; } catch (e) { /* out of order */ }
    const note = $("chart-empty"); if (note) note.hidden = true;
  }

  /* ---------------------------------------------------------------- balances */
  function avail(asset) { const b = state.balances[asset]; return b ? b.free : "0"; }
  function renderBalances() {
    const rows = [cfg.base, cfg.quote].map((a) => {
      const b = state.balances[a] || { free: "0", locked: "0", precision: 8 };
      const places = a === cfg.base ? QD : PD; // the market's display decimals, rounded down
      return el("tr", {}, td(a), td(fmtDown(b.free, places), "num"), td(fmtDown(b.locked, places), "num muted"));
    });
    $("mini-balances").replaceChildren(...rows);
    const asset = state.side === "BUY" ? cfg.quote : cfg.base;
    const b = state.balances[asset];
    $("avail").textContent = b ? `${fmtDown(b.free, b.precision)} ${asset}` : "–";
  }

  /* ---------------------------------------------------------------- order entry */
  const form = $("order-form");
  function val(id) { return $(id).value.trim().replace(/,/g, ""); }
  function setType(type) {
    state.type = type;
    document.querySelectorAll('.area-entry [role="tab"]').forEach((b) => {
      const on = b.dataset.type === type; b.setAttribute("aria-selected", on); b.tabIndex = on ? 0 : -1;
    });
    $("row-stop").hidden = type !== "STOP_LOSS_LIMIT";
    $("row-price").hidden = type === "MARKET";
    $("total-help").hidden = type !== "MARKET" && type !== "LIMIT";
    syncTotal(); updateSubmit();
  }
  function updateSubmit() {
    const buy = state.side === "BUY";
    $("submit").textContent = `${buy ? "Buy" : "Sell"} ${cfg.base}`;
    $("submit").className = "btn block " + (buy ? "buy" : "sell");
    renderBalances();
  }
  function syncTotal() {
    if (state.type === "MARKET") { estimate(); return; }
    const p = toUnits(val("f-price"), PD), q = toUnits(val("f-qty"), QD);
    if (p !== null && q !== null && p > 0n && q > 0n) {
      // total = p * q at PD+QD decimals, shown at the quote precision (display rounding only)
      $("f-total").value = fmt(fromUnits(p * q, PD + QD), PD).replace(/,/g, ""); // display: the quote at the tick's decimals
    }
    estimate();
  }
  function qtyFromTotal() {
    const p = toUnits(val("f-price"), PD), t = toUnits(val("f-total"), QTD);
    if (state.type === "MARKET" || p === null || t === null || p === 0n) { estimate(); return; }
    $("f-qty").value = floorToStep(t * 10n ** BigInt(QD + PD) / (p * 10n ** BigInt(QTD)));
    estimate();
  }
  function floorToStep(qUnits) {
    const step = toUnits(cfg.stepSize, QD) || 1n;
    return fromUnits(qUnits - (qUnits % step), QD);
  }
  function pct(n) {
    const share = BigInt(n);
    if (state.side === "SELL") {
      const a = toUnits(avail(cfg.base), QD) || 0n;
      $("f-qty").value = floorToStep((a * share) / 100n);
      if (state.type === "MARKET") $("f-total").value = "";
      syncTotal(); return;
    }
    const q = toUnits(avail(cfg.quote), QTD) || 0n;
    const spend = (q * share) / 100n;
    if (state.type === "MARKET") { $("f-total").value = fromUnits(spend, QTD); $("f-qty").value = ""; estimate(); return; }
    const p = toUnits(val("f-price"), PD);
    if (!p) { setMessage($("order-message"), "Enter a price first, then choose a share of your balance.", false); $("f-price").focus(); return; }
    // quantity = spend / price, rounded down to the step: the hold (price x quantity) fits the balance
    $("f-qty").value = floorToStep((spend * 10n ** BigInt(QD + PD)) / (p * 10n ** BigInt(QTD)));
    syncTotal();
  }
  function estimate() {
    const fee = state.type === "MARKET" ? cfg.takerFee : cfg.makerFee;
    const pctFee = (Number(fee) * 100).toFixed(3).replace(/\.?0+$/, "");
    let text = `Fee ${pctFee}% (maker ${Number(cfg.makerFee) * 100}%, taker ${Number(cfg.takerFee) * 100}%), charged in the asset you receive.`;
    if (state.type === "MARKET") text = "Executes at once against the book. " + text;
    $("estimate").textContent = text;
  }
  function orderBody() {
    const body = { side: state.side, type: state.type };
    const need = (id, label) => { const v = val(id); if (!v) throw new Error(`Enter the ${label}.`); if (!/^\d*\.?\d+$|^\d+\.$/.test(v)) throw new Error(`The ${label} must be a number such as 0.5.`); return v.replace(/\.$/, ""); };
    if (state.type === "LIMIT") { body.price = need("f-price", "price"); body.quantity = need("f-qty", "amount"); body.timeInForce = "GTC"; }
    else if (state.type === "STOP_LOSS_LIMIT") { body.stopPrice = need("f-stop", "stop price"); body.price = need("f-price", "price"); body.quantity = need("f-qty", "amount"); body.timeInForce = "GTC"; }
    else if (state.side === "BUY" && !val("f-qty")) body.quoteOrderQty = need("f-total", "total to spend");
    else body.quantity = need("f-qty", "amount");
    return body;
  }
  function describe(o) {
    const partly = Number(o.executedQty) && o.status !== "FILLED";
    const filled = partly ? `, ${fmt(o.executedQty, QD)} ${cfg.base} filled so far` : "";
    const status = { NEW: "open", PARTIALLY_FILLED: "partly filled", FILLED: "filled", CANCELED: "cancelled", EXPIRED: "expired", EXPIRED_IN_MATCH: "expired" }[o.status] || o.status.toLowerCase();
    const price = o.type === "MARKET" ? "at market" : `at ${fmt(o.price, PD)} ${cfg.quote}`;
    return `${o.side === "BUY" ? "Buy" : "Sell"} ${fmt(o.origQty, QD)} ${cfg.base} ${price}: ${status}${filled}.`;
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = $("order-message"), btn = $("submit");
    let body;
    try { body = orderBody(); } catch (e) { setMessage(msg, e.message, false); return; }
    btn.disabled = true; setMessage(msg, "", true);
    try {
      const o = await api("POST", `/ui/api/markets/${S}/orders`, body);
      setMessage(msg, describe(o), true);
      userFeed.changed(["orders", "balances", "trades"]);
    } catch (e) { setMessage(msg, explain(e), false); }
    finally { btn.disabled = false; }
  });
  form.querySelectorAll('input[name="side"]').forEach((r) => r.addEventListener("change", () => { state.side = r.value; updateSubmit(); }));
  $("f-price").addEventListener("input", syncTotal);
  $("f-qty").addEventListener("input", syncTotal);
  $("f-total").addEventListener("input", qtyFromTotal);
  document.querySelectorAll("[data-pct]").forEach((b) => b.addEventListener("click", () => pct(b.dataset.pct)));
  function tabKeys(tabs, activate) {
    tabs.forEach((t, i) => {
      t.addEventListener("click", () => activate(t));
      t.addEventListener("keydown", (e) => {
        const d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
        if (!d) return;
        e.preventDefault(); const n = tabs[(i + d + tabs.length) % tabs.length]; n.focus(); activate(n);
      });
    });
  }
  tabKeys([...document.querySelectorAll(".area-entry [role=tab]")], (t) => setType(t.dataset.type));

  /* ---------------------------------------------------------------- the user's orders and trades */
  const listTabs = [$("t-open"), $("t-history"), $("t-mytrades")];
  tabKeys(listTabs, (t) => listTabs.forEach((x) => {
    const on = x === t; x.setAttribute("aria-selected", on); x.tabIndex = on ? 0 : -1;
    $(x.getAttribute("aria-controls")).hidden = !on;
  }));
  async function cancel(o, btn) {
    btn.disabled = true;
    try {
      await api("DELETE", `/ui/api/markets/${S}/orders/${o.orderId}`);
      setMessage($("list-message"), `Cancelled: ${o.side === "BUY" ? "buy" : "sell"} ${fmt(o.origQty, QD)} ${cfg.base} at ${fmt(o.price, PD)}.`, true);
    } catch (e) { setMessage($("list-message"), explain(e), false); btn.disabled = false; }
    userFeed.changed(["orders", "balances"]);
  }
  $("cancel-all").addEventListener("click", async () => {
    if (!confirm(`Cancel all your ${state.open.length} open orders in ${cfg.base}/${cfg.quote}?`)) return;
    $("cancel-all").disabled = true;
    try {
      const done = await api("DELETE", `/ui/api/markets/${S}/orders`);
      setMessage($("list-message"), `Cancelled ${done.length} order${done.length === 1 ? "" : "s"}.`, true);
    } catch (e) { setMessage($("list-message"), explain(e), false); }
    userFeed.changed(["orders", "balances"]);
  });
  function renderOpen(rows) {
    state.open = rows;
    $("open-count").textContent = rows.length ? `(${rows.length})` : "";
    $("cancel-all").disabled = !rows.length;
    const tb = $("open-orders");
    if (!rows.length) { tb.replaceChildren(emptyRow(8, "No open orders.")); return; }
    tb.replaceChildren(...rows.slice().reverse().map((o) => {
      const btn = el("button", { class: "btn small", type: "button", text: "Cancel", "aria-label": `Cancel ${o.side.toLowerCase()} ${fmt(o.origQty, QD)} at ${fmt(o.price, PD)}` });
      btn.addEventListener("click", () => cancel(o, btn));
      return el("tr", { "data-order-id": o.orderId }, td(dateTime(o.time)), sideCell(o.side), td(o.type.replace(/_/g, " ").toLowerCase()),
        td(fmt(o.price, PD), "num"), td(Number(o.stopPrice) ? fmt(o.stopPrice, PD) : "", "num"), td(fmt(o.origQty, QD), "num"),
        td(fmt(o.executedQty, QD), "num"), el("td", {}, btn));
    }));
    if (lastBook) renderBook(lastBook);
  }
  function renderHistory(rows) {
    const tb = $("order-history");
    if (!rows.length) { tb.replaceChildren(emptyRow(8, "No orders yet.")); return; }
    tb.replaceChildren(...rows.map((o) => {
      const exec = Number(o.executedQty);
      const avg = exec ? fmt(String(Number(o.cummulativeQuoteQty) / exec), PD) : "";
      return el("tr", {}, td(dateTime(o.time)), sideCell(o.side), td(o.type.replace(/_/g, " ").toLowerCase()),
        td(o.type === "MARKET" ? "market" : fmt(o.price, PD), "num"), td(fmt(o.origQty, QD), "num"), td(fmt(o.executedQty, QD), "num"),
        td(avg, "num"), td(o.status.replace(/_/g, " ").toLowerCase()));
    }));
  }
  function renderMyTrades(rows) {
    const tb = $("my-trades");
    if (!rows.length) { tb.replaceChildren(emptyRow(7, "No trades yet.")); return; }
    tb.replaceChildren(...rows.map((t) => el("tr", {}, td(dateTime(t.time)), sideCell(t.isBuyer ? "BUY" : "SELL"),
      td(fmt(t.price, PD), "num"), td(fmt(t.qty, QD), "num"), td(fmt(t.quoteQty, QTD > 2 ? 2 : QTD), "num"),
      td(`${fmt(t.commission, 8).replace(/0+$/, "").replace(/\.$/, "")} ${t.commissionAsset}`, "num"), td(t.isMaker ? "maker" : "taker"))));
  }
  async function refresh(kinds) {
    const jobs = [];
    if (kinds.has("balances")) jobs.push(api("GET", "/ui/api/balances").then((rows) => { state.balances = Object.fromEntries(rows.map((b) => [b.asset, b])); renderBalances(); }));
    if (kinds.has("orders")) {
      jobs.push(api("GET", `/ui/api/markets/${S}/orders`).then(renderOpen));
      jobs.push(api("GET", `/ui/api/markets/${S}/history`).then(renderHistory));
    }
    if (kinds.has("trades")) jobs.push(api("GET", `/ui/api/markets/${S}/trades`).then(renderMyTrades));
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r) => r.status === "rejected");
    if (failed && failed.reason && failed.reason.status === 403) location.href = "/accounts/login/?next=" + encodeURIComponent(location.pathname);
  }

  /* ---------------------------------------------------------------- 24 h statistics */
  async function stats() {
    try {
      const t = await api("GET", `/api/v3/ticker/24hr?symbol=${S}`);
      const ch = Number(t.priceChangePercent);
      $("stat-last").textContent = Number(t.lastPrice) ? fmt(t.lastPrice, PD) : "–";
      $("stat-change").textContent = Number(t.count) ? `${ch >= 0 ? "+" : ""}${ch.toFixed(2)}%` : "–";
      $("stat-change").className = ch > 0 ? "buy-text" : ch < 0 ? "sell-text" : "";
      $("stat-high").textContent = Number(t.count) ? fmt(t.highPrice, PD) : "–";
      $("stat-low").textContent = Number(t.count) ? fmt(t.lowPrice, PD) : "–";
      $("stat-volume").textContent = fmt(t.volume, QD);
    } catch (e) { /* next tick */ }
  }

  /* ---------------------------------------------------------------- wiring */
  function feedState() {
    const m = state.feeds.market, u = state.feeds.user;
    $("feed-state").textContent = m === "live" && u === "live" ? "Live (streaming)." : `Live (market data ${m === "live" ? "streaming" : "polled every second"}, your orders ${u === "live" ? "streaming" : "polled every 2 s"}).`;
    document.body.dataset.marketFeed = m; document.body.dataset.userFeed = u;
  }
  initChart();
  let interval = "1m";
  const marketFeed = new UI.MarketFeed(S, interval, {
    book: renderBook, trades: renderTrades, candles: setCandles, candle: updateCandle,
    state: (s) => { state.feeds.market = s; feedState(); },
  });
  const userFeed = new UI.UserFeed({ changed: refresh, state: (s) => { state.feeds.user = s; feedState(); } });
  document.querySelectorAll("[data-interval]").forEach((b) => b.addEventListener("click", () => {
    interval = b.dataset.interval;
    document.querySelectorAll("[data-interval]").forEach((x) => x.setAttribute("aria-pressed", x === b));
    const note = $("chart-empty"); if (note) { note.hidden = false; note.textContent = "Loading candles…"; }
    marketFeed.setInterval(interval);
  }));
  stats(); setInterval(stats, 5000);
  setType("LIMIT"); updateSubmit();
  window.tradePage = { state, marketFeed, userFeed };
})();
