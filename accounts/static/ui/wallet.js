/* The wallet page: balances, deposit address, withdrawals with the address book and two-factor,
 * history. Reads /ui/api/wallet and /ui/api/balances; live through UI.UserFeed (balances on the
 * user socket, or polled) plus a slower poll of the history (deposits confirm on-chain). */
(function () {
  "use strict";
  const { api, fmt, toUnits, fromUnits, dateTime } = window.UI;
  const $ = (id) => document.getElementById(id);
  let wallet = null, balances = {};
  function note(id, text, ok) { const n = $(id); n.textContent = text; n.className = "notice " + (text ? (ok ? "ok" : "bad") : ""); }
  function td(text, cls) { const e = document.createElement("td"); e.textContent = text; if (cls) e.className = cls; return e; }
  function row(...cells) { const tr = document.createElement("tr"); tr.append(...cells); return tr; }
  function empty(id, cols, text) { $(id).innerHTML = `<tr class="empty"><td colspan="${cols}"></td></tr>`; $(id).querySelector("td").textContent = text; }
  const words = { REQUESTED: "awaiting approval", APPROVED: "approved", PROCESSING: "sending", SENT: "sent, confirming", CONFIRMED: "completed", CANCELLED: "cancelled", REJECTED: "rejected", FAILED: "failed", PENDING: "confirming", CREDITED: "credited", DROPPED: "dropped" };
  const netKey = (n) => `${n.coin}:${n.network}`;
  function netOf(select) { return wallet.networks.find((n) => netKey(n) === select.value); }

  function fillNetworks(select, filter) {
    const keep = select.value;
    select.replaceChildren(...wallet.networks.filter(filter).map((n) => {
      const o = document.createElement("option"); o.value = netKey(n); o.textContent = `${n.coin} · ${n.name}`; return o;
    }));
    if (keep) select.value = keep;
  }
  function renderBalances() {
    const rows = Object.values(balances);
    if (!rows.length) return empty("balances", 4, "No assets yet.");
    $("balances").replaceChildren(...rows.map((b) => {
      const total = fromUnits((toUnits(b.free, b.precision) || 0n) + (toUnits(b.locked, b.precision) || 0n), b.precision);
      return row(td(b.asset), td(fmt(b.free, b.precision), "num"), td(fmt(b.locked, b.precision), "num"), td(fmt(total, b.precision), "num"));
    }));
    updateWithdraw();
  }
  function updateWithdraw() {
    if (!wallet) return;
    const n = netOf($("w-network"));
    if (!n) return;
    const b = balances[n.coin];
    $("w-unit").textContent = n.coin;
    $("w-avail").textContent = b ? `${fmt(b.free, b.precision)} ${n.coin}` : "–";
    const amount = toUnits($("w-amount").value.replace(/,/g, ""), n.precision), fee = toUnits(n.withdrawFee, n.precision);
    const receive = amount !== null && amount > fee ? fmt(fromUnits(amount - fee, n.precision), n.precision) : "–";
    $("w-fee").textContent = `Network fee ${fmt(n.withdrawFee, n.precision)} ${n.coin} (taken from the amount) · minimum ${fmt(n.withdrawMin, n.precision)} · you receive ${receive} ${n.coin}`;
    const book = wallet.addressBook.filter((e) => e.coin === n.coin && e.network === n.network);
    const keep = $("w-address").value;
    if (!book.length) {
      const o = document.createElement("option"); o.value = ""; o.textContent = "No address for this network yet: add one below";
      $("w-address").replaceChildren(o);
    } else {
      $("w-address").replaceChildren(...book.map((e) => {
        const o = document.createElement("option"); o.value = e.address;
        o.textContent = `${e.label || "address"} · ${e.address.slice(0, 18)}…${e.usable ? "" : " (cooling down until " + dateTime(Date.parse(e.usableAt)) + ")"}`;
        return o;
      }));
      if (keep) $("w-address").value = keep;
    }
  }
  function renderWallet() {
    $("sim-note").hidden = !wallet.networks.some((n) => n.simulated);
    fillNetworks($("d-network"), (n) => n.depositEnabled);
    fillNetworks($("w-network"), (n) => n.withdrawEnabled);
    fillNetworks($("ab-network"), () => true);
    $("w-totp-row").hidden = !wallet.totpEnabled; $("ab-totp-row").hidden = !wallet.totpEnabled;
    updateWithdraw();
    const ab = wallet.addressBook;
    if (!ab.length) empty("ab-list", 5, "No addresses yet.");
    else $("ab-list").replaceChildren(...ab.map((e) => {
      const rm = document.createElement("button"); rm.type = "button"; rm.className = "btn small"; rm.textContent = "Remove";
      rm.setAttribute("aria-label", `Remove ${e.label || e.address}`);
      rm.addEventListener("click", async () => {
        if (!confirm(`Remove ${e.label || e.address} from the address book?`)) return;
        try { await api("DELETE", `/ui/api/wallet/address-book/${e.id}`); note("ab-message", "Address removed.", true); } catch (err) { note("ab-message", `${err.message} (${err.code})`, false); }
        load();
      });
      const act = document.createElement("td"); act.append(rm);
      return row(td(e.label || "–"), td(`${e.coin} · ${e.network}`), td(e.address, "mono"), td(e.usable ? "yes" : "from " + dateTime(Date.parse(e.usableAt))), act);
    }));
    const ws = wallet.withdrawals;
    if (!ws.length) empty("withdrawals", 8, "No withdrawals yet.");
    else $("withdrawals").replaceChildren(...ws.map((w) => {
      const act = document.createElement("td");
      if (w.cancellable) {
        const b = document.createElement("button"); b.type = "button"; b.className = "btn small"; b.textContent = "Cancel";
        b.setAttribute("aria-label", `Cancel the withdrawal of ${w.amount} ${w.coin}`);
        b.addEventListener("click", async () => {
          b.disabled = true;
          try { await api("POST", `/ui/api/wallet/withdrawals/${w.id}/cancel`); note("wh-message", "Withdrawal cancelled; the amount is available again.", true); }
          catch (err) { note("wh-message", `${err.message} (${err.code})`, false); }
          load();
        });
        act.append(b);
      }
      const tr = row(td(dateTime(Date.parse(w.time))), td(`${w.coin} · ${w.network}`), td(w.amount, "num"), td(w.fee, "num"), td(w.address, "mono"), td(words[w.status] || w.status), td(w.txid ? w.txid.slice(0, 16) + "…" : "", "mono"), act);
      tr.dataset.withdrawalId = w.id; return tr;
    }));
    const ds = wallet.deposits;
    if (!ds.length) empty("deposits", 6, "No deposits yet.");
    else $("deposits").replaceChildren(...ds.map((d) => row(td(dateTime(Date.parse(d.time))), td(`${d.coin} · ${d.network}`), td(d.amount, "num"),
      td(`${d.confirmations} / ${d.minConfirmations}`), td(words[d.status] || d.status), td(d.txid.slice(0, 16) + "…", "mono"))));
    const known = wallet.addresses.find((a) => `${a.coin}:${a.network}` === $("d-network").value);
    if (known) showAddress(known);
  }
  function showAddress(a) {
    $("d-address").hidden = false; $("d-address-value").value = a.address;
    const n = wallet.networks.find((x) => x.coin === a.coin && x.network === a.network);
    $("d-address-help").textContent = `Send only ${a.coin} on ${n ? n.name : a.network}. Credited after ${n ? n.minConfirmations : "?"} confirmation(s).`;
  }
  async function load() {
    try { wallet = await api("GET", "/ui/api/wallet"); renderWallet(); } catch (e) { if (e.status === 403) location.href = "/accounts/login/?next=/wallet/"; }
  }
  async function loadBalances() {
    try { const rows = await api("GET", "/ui/api/balances"); balances = Object.fromEntries(rows.map((b) => [b.asset, b])); renderBalances(); } catch (e) { /* next tick */ }
  }
  $("d-network").addEventListener("change", () => { $("d-address").hidden = true; const k = wallet.addresses.find((a) => `${a.coin}:${a.network}` === $("d-network").value); if (k) showAddress(k); });
  $("d-show").addEventListener("click", async () => {
    const n = netOf($("d-network")); if (!n) return;
    note("d-message", "");
    try { const a = await api("POST", "/ui/api/wallet/address", { coin: n.coin, network: n.network }); wallet.addresses.push(a); showAddress(a); }
    catch (e) { note("d-message", `${e.message} (${e.code})`, false); }
  });
  $("w-network").addEventListener("change", updateWithdraw);
  $("w-amount").addEventListener("input", updateWithdraw);
  $("w-max").addEventListener("click", () => { const n = netOf($("w-network")); const b = n && balances[n.coin]; if (b) { $("w-amount").value = fromUnits(toUnits(b.free, n.precision) || 0n, n.precision); updateWithdraw(); } });
  $("w-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const n = netOf($("w-network"));
    const amount = $("w-amount").value.trim().replace(/,/g, "");
    if (!n) return;
    if (!$("w-address").value) return note("w-message", "Choose an address from your address book (add one below first).", false);
    if (!amount) return note("w-message", "Enter the amount to withdraw.", false);
    $("w-submit").disabled = true; note("w-message", "");
    try {
      const w = await api("POST", "/ui/api/wallet/withdrawals", { coin: n.coin, network: n.network, address: $("w-address").value, amount, totp: $("w-totp").value || undefined });
      note("w-message", `Withdrawal of ${w.amount} ${w.coin} requested: ${words[w.status] || w.status}. The amount is held until it is sent.`, true);
      $("w-amount").value = ""; $("w-totp").value = "";
      load(); loadBalances();
    } catch (e) { note("w-message", `${e.message} (${e.code})`, false); }
    finally { $("w-submit").disabled = false; }
  });
  $("ab-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const n = netOf($("ab-network")); if (!n) return;
    if (!$("ab-address").value.trim()) return note("ab-message", "Enter the address.", false);
    try {
      const e = await api("POST", "/ui/api/wallet/address-book", { coin: n.coin, network: n.network, address: $("ab-address").value.trim(), label: $("ab-label").value, totp: $("ab-totp").value || undefined });
      note("ab-message", e.usable ? "Address added." : `Address added; usable from ${dateTime(Date.parse(e.usableAt))} (cool-down).`, true);
      $("ab-form").reset(); load();
    } catch (e) { note("ab-message", `${e.message} (${e.code})`, false); }
  });
  load();
  new UI.UserFeed({ changed: (kinds) => { loadBalances(); if (kinds.has("balances")) load(); } });
  setInterval(load, 5000);
})();
