/* The trader UI's data layer: JSON calls, number formatting, and two live feeds.
 *
 * MarketFeed: the market streams (/stream?streams=<sym>@depth@100ms/<sym>@trade/<sym>@kline_<i>,
 * Binance format) when the socket is there; otherwise, or while it is closed, polling of the
 * public REST endpoints (/api/v3/depth, trades, klines) every second or two. Either way the
 * page gets the same callbacks: book(snapshot), trades(list, newest first), candles(list) and
 * candle(one).
 * UserFeed: the session socket /ui/stream (executionReport, outboundAccountPosition,
 * balanceUpdate); any event, or a poll tick when the socket is missing or closed, calls
 * changed(kinds) and the page re-reads its /ui/api/ endpoints.
 * A socket that fails is retried with a growing delay; polling runs until it is open again.
 * No money arithmetic happens here beyond display: amounts stay strings from the server.
 */
(function () {
  "use strict";

  function cookie(name) {
    const m = document.cookie.match("(^|;)\\s*" + name + "=([^;]*)");
    return m ? decodeURIComponent(m[2]) : "";
  }

  class ApiError extends Error {
    constructor(code, msg, status) { super(msg); this.code = code; this.status = status; }
  }

  async function api(method, url, body) {
    const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    if (method !== "GET") opts.headers["X-CSRFToken"] = cookie("csrftoken");
    let resp;
    try {
      resp = await fetch(url, opts);
    } catch (e) {
      throw new ApiError(-1001, "The exchange cannot be reached. Check the connection and try again.", 0);
    }
    if (resp.status === 204) return null;
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) {
      if (data && typeof data.msg === "string") throw new ApiError(data.code, data.msg, resp.status);
      throw new ApiError(-1000, "The exchange answered with an error (HTTP " + resp.status + ").", resp.status);
    }
    return data;
  }

  /* Decimal strings for display only: fixed decimals by string manipulation (no float
   * rounding of amounts the server already fixed), thousands separators on the integer part. */
  function fmt(value, decimals) {
    if (value === null || value === undefined || value === "") return "";
    let s = String(value);
    if (/e/i.test(s)) s = Number(s).toFixed(decimals);
    let neg = s.startsWith("-"); if (neg) s = s.slice(1);
    let [int, frac = ""] = s.split(".");
    if (decimals > 0) {
      if (frac.length > decimals) {
        // round half up on the digit string
        const digits = (int + frac.slice(0, decimals)).split("").map(Number);
        if (Number(frac[decimals]) >= 5) {
          let i = digits.length - 1;
          while (i >= 0) { if (digits[i] === 9) { digits[i] = 0; i--; } else { digits[i]++; break; } }
          if (i < 0) digits.unshift(1);
        }
        const all = digits.join("");
        int = all.slice(0, all.length - decimals); frac = all.slice(all.length - decimals);
      } else frac = frac.padEnd(decimals, "0");
    } else {
      if (frac && Number(frac[0]) >= 5) int = String(BigInt(int) + 1n);
      frac = "";
    }
    int = (int.replace(/^0+(?=\d)/, "") || "0").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (neg ? "-" : "") + int + (decimals > 0 ? "." + frac : "");
  }

  /* Rounded down: balances never show more than there is. */
  function fmtDown(value, decimals) {
    if (value === null || value === undefined || value === "") return "";
    const s = String(value), i = s.indexOf(".");
    return fmt(i < 0 || decimals <= 0 ? s.split(".")[0] : s.slice(0, i + 1 + decimals), decimals);
  }

  function decimalsOf(step) {
    const s = String(step).replace(/0+$/, "");
    const i = s.indexOf(".");
    return i < 0 ? 0 : s.length - i - 1;
  }

  /* Exact decimal strings <-> scaled BigInt, for the order helpers (amount from a balance
   * share, totals): no float on the way to an order. */
  function toUnits(str, decimals) {
    const s = String(str).trim();
    if (!/^\d*\.?\d*$/.test(s) || s === "" || s === ".") return null;
    let [i, f = ""] = s.split(".");
    f = (f + "0".repeat(decimals)).slice(0, decimals);
    return BigInt((i || "0") + f);
  }
  function fromUnits(units, decimals) {
    const neg = units < 0n; let s = (neg ? -units : units).toString().padStart(decimals + 1, "0");
    const out = decimals ? s.slice(0, s.length - decimals) + "." + s.slice(s.length - decimals) : s;
    return (neg ? "-" : "") + out;
  }

  function time(ms) {
    const d = new Date(ms);
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  }
  function dateTime(ms) {
    const d = new Date(ms);
    return d.toLocaleDateString([], { month: "2-digit", day: "2-digit" }) + " " + time(ms);
  }

  function wsUrl(path) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }

  /* A socket that reconnects with backoff, reporting open/closed so the caller can poll. */
  class Socket {
    constructor(path, { onMessage, onState }) {
      this.path = path; this.onMessage = onMessage; this.onState = onState;
      this.delay = 1000; this.ws = null; this.closed = false; this.timer = null; this.open = false;
      this.connect();
    }
    connect() {
      if (this.closed || typeof WebSocket === "undefined") return;
      let ws;
      try { ws = new WebSocket(wsUrl(this.path)); } catch (e) { this.retry(); return; }
      this.ws = ws;
      ws.onopen = () => { this.delay = 1000; this.open = true; this.onState(true); };
      ws.onmessage = (ev) => {
        let msg; try { msg = JSON.parse(ev.data); } catch (e) { return; }
        this.onMessage(msg);
      };
      ws.onclose = () => {
        const was = this.open; this.open = false; this.ws = null;
        if (was) this.onState(false);
        this.retry();
      };
      ws.onerror = () => { /* onclose follows */ };
    }
    retry() {
      if (this.closed) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 30000);
    }
    close() { this.closed = true; clearTimeout(this.timer); if (this.ws) this.ws.close(); }
  }

  /* A local order book: price string -> qty string per side, fed by a REST snapshot and the
   * depth diff stream (Binance's procedure: drop diffs up to the snapshot's lastUpdateId,
   * re-snapshot on a gap). */
  class Book {
    constructor() { this.bids = new Map(); this.asks = new Map(); this.lastId = 0; }
    load(snap) {
      this.bids = new Map(snap.bids.map(([p, q]) => [p, q]));
      this.asks = new Map(snap.asks.map(([p, q]) => [p, q]));
      this.lastId = snap.lastUpdateId;
    }
    apply(ev) {
      for (const [p, q] of ev.b) { if (Number(q) === 0) this.bids.delete(p); else this.bids.set(p, q); }
      for (const [p, q] of ev.a) { if (Number(q) === 0) this.asks.delete(p); else this.asks.set(p, q); }
      this.lastId = ev.u;
    }
    view(n) {
      const bids = [...this.bids.entries()].sort((x, y) => Number(y[0]) - Number(x[0])).slice(0, n);
      const asks = [...this.asks.entries()].sort((x, y) => Number(x[0]) - Number(y[0])).slice(0, n);
      return { bids, asks };
    }
  }

  const POLL_BOOK_MS = 1000, POLL_TRADES_MS = 1500, POLL_CANDLES_MS = 2000;

  class MarketFeed {
    constructor(symbol, interval, handlers) {
      this.symbol = symbol; this.interval = interval; this.h = handlers;
      this.book = new Book(); this.trades = []; this.buffer = []; this.synced = false;
      this.live = false; this.timers = []; this.resyncing = false;
      this.startPolling();
      this.openSocket();
    }
    streams() {
      const s = this.symbol.toLowerCase();
      return `/stream?streams=${s}@depth@100ms/${s}@trade/${s}@kline_${this.interval}`;
    }
    openSocket() {
      this.socket = new Socket(this.streams(), {
        onMessage: (m) => this.onMessage(m.data || m),
        onState: (open) => {
          this.live = open;
          this.h.state && this.h.state(open ? "live" : "polling");
          if (open) { this.stopPolling(); this.synced = false; this.buffer = []; this.snapshot(); this.loadTrades(); this.loadCandles(); }
          else this.startPolling();
        },
      });
    }
    setInterval(interval) {
      this.interval = interval;
      this.loadCandles();
      if (this.socket) { this.socket.close(); this.live = false; this.startPolling(); this.openSocket(); }
    }
    startPolling() {
      if (this.timers.length) return;
      this.h.state && this.h.state("polling");
      const every = (fn, ms) => { fn(); this.timers.push(setInterval(fn, ms)); };
      every(() => this.snapshot(), POLL_BOOK_MS);
      every(() => this.loadTrades(), POLL_TRADES_MS);
      every(() => this.loadCandles(true), POLL_CANDLES_MS);
    }
    stopPolling() { this.timers.forEach(clearInterval); this.timers = []; }

    async snapshot() {
      if (this.resyncing) return;
      this.resyncing = true;
      try {
        const snap = await api("GET", `/api/v3/depth?symbol=${this.symbol}&limit=100`);
        this.book.load(snap);
        if (this.live) {
          for (const ev of this.buffer) if (ev.u > this.book.lastId) this.book.apply(ev);
          this.buffer = []; this.synced = true;
        }
        this.h.book(this.book);
      } catch (e) { /* next poll or event retries */ }
      finally { this.resyncing = false; }
    }
    async loadTrades() {
      try {
        const rows = await api("GET", `/api/v3/trades?symbol=${this.symbol}&limit=40`);
        this.trades = rows.reverse().map((t) => ({ id: t.id, price: t.price, qty: t.qty, time: t.time, buyerMaker: t.isBuyerMaker }));
        this.h.trades(this.trades);
      } catch (e) { /* retried */ }
    }
    async loadCandles(tail) {
      const interval = this.interval;
      try {
        const rows = await api("GET", `/api/v3/klines?symbol=${this.symbol}&interval=${interval}&limit=${tail ? 3 : 300}`);
        if (interval !== this.interval) return;
        const candles = rows.map((k) => ({ time: Math.floor(k[0] / 1000), open: k[1], high: k[2], low: k[3], close: k[4], volume: k[5] }));
        if (tail) candles.forEach((c) => this.h.candle(c)); else this.h.candles(candles);
      } catch (e) { /* retried */ }
    }
    onMessage(ev) {
      if (!ev || !ev.e) return;
      if (ev.e === "depthUpdate") {
        if (!this.synced) { this.buffer.push(ev); if (this.buffer.length > 500) this.buffer.shift(); return; }
        if (ev.U > this.book.lastId + 1) { this.synced = false; this.buffer = [ev]; this.snapshot(); return; }
        if (ev.u <= this.book.lastId) return;
        this.book.apply(ev); this.scheduleBook();
      } else if (ev.e === "trade") {
        if (this.trades.length && this.trades[0].id >= ev.t) return;
        this.trades.unshift({ id: ev.t, price: ev.p, qty: ev.q, time: ev.T, buyerMaker: ev.m });
        this.trades.length = Math.min(this.trades.length, 40);
        this.h.trades(this.trades);
      } else if (ev.e === "kline" && ev.k && ev.k.i === this.interval) {
        const k = ev.k;
        this.h.candle({ time: Math.floor(k.t / 1000), open: k.o, high: k.h, low: k.l, close: k.c, volume: k.v });
      }
    }
    scheduleBook() {
      if (this.bookFrame) return;
      this.bookFrame = requestAnimationFrame(() => { this.bookFrame = null; this.h.book(this.book); });
    }
  }

  const POLL_USER_MS = 2000, RESYNC_USER_MS = 15000;

  class UserFeed {
    constructor(handlers) {
      this.h = handlers; this.timer = null; this.pending = new Set(); this.flushTimer = null;
      this.startPolling();
      this.socket = new Socket("/ui/stream", {
        onMessage: (m) => this.onMessage(m.data || m),
        onState: (open) => {
          this.h.state && this.h.state(open ? "live" : "polling");
          if (open) { this.stopPolling(); this.resync = setInterval(() => this.changed(["orders", "balances", "trades"]), RESYNC_USER_MS); this.changed(["orders", "balances", "trades"]); }
          else { clearInterval(this.resync); this.startPolling(); }
        },
      });
    }
    startPolling() {
      if (this.timer) return;
      this.h.state && this.h.state("polling");
      this.changed(["orders", "balances", "trades"]);
      this.timer = setInterval(() => this.changed(["orders", "balances", "trades"]), POLL_USER_MS);
    }
    stopPolling() { clearInterval(this.timer); this.timer = null; }
    onMessage(ev) {
      if (!ev || !ev.e) return;
      if (ev.e === "executionReport") this.changed(ev.x === "TRADE" ? ["orders", "trades"] : ["orders"]);
      else if (ev.e === "outboundAccountPosition" || ev.e === "balanceUpdate") this.changed(["balances"]);
      this.h.event && this.h.event(ev);
    }
    /* Coalesce bursts (a fill sends several events) into one re-read. */
    changed(kinds) {
      kinds.forEach((k) => this.pending.add(k));
      if (this.flushTimer) return;
      this.flushTimer = setTimeout(() => {
        const set = this.pending; this.pending = new Set(); this.flushTimer = null;
        this.h.changed(set);
      }, 120);
    }
  }

  window.UI = { api, ApiError, fmt, fmtDown, decimalsOf, toUnits, fromUnits, time, dateTime, MarketFeed, UserFeed, Socket };
})();
