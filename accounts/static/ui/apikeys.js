/* The API-keys page: list, create (secret shown once), disable/enable, delete (/ui/api/apikeys). */
(function () {
  "use strict";
  const { api } = window.UI;
  const $ = (id) => document.getElementById(id);
  function note(node, text, ok) { node.textContent = text; node.className = "notice " + (text ? (ok ? "ok" : "bad") : ""); }
  function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }
  function button(text, label, onClick) {
    const b = document.createElement("button"); b.type = "button"; b.className = "btn small"; b.textContent = text;
    b.setAttribute("aria-label", label); b.addEventListener("click", () => onClick(b)); return b;
  }
  async function load() {
    let keys;
    try { keys = await api("GET", "/ui/api/apikeys"); } catch (e) { note($("list-message"), e.message, false); return; }
    const tb = $("keys");
    if (!keys.length) { tb.innerHTML = '<tr class="empty"><td colspan="6">No keys yet.</td></tr>'; return; }
    tb.replaceChildren(...keys.map((k) => {
      const tr = document.createElement("tr"); tr.dataset.keyId = k.id;
      const name = k.label || "(no label)";
      const status = document.createElement("td");
      status.innerHTML = `<span class="pill ${k.enabled ? "on" : "off"}">${k.enabled ? "enabled" : "disabled"}</span>`;
      const actions = document.createElement("td");
      actions.append(
        button(k.enabled ? "Disable" : "Enable", `${k.enabled ? "Disable" : "Enable"} key ${name}`, async (b) => {
          b.disabled = true;
          try { await api("PATCH", `/ui/api/apikeys/${k.id}`, { enabled: !k.enabled }); note($("list-message"), `Key ${name} ${k.enabled ? "disabled" : "enabled"} (within a few seconds everywhere).`, true); }
          catch (e) { note($("list-message"), e.message, false); }
          load();
        }), " ",
        button("Delete", `Delete key ${name}`, async (b) => {
          if (!confirm(`Delete the key "${name}"? Programs using it stop working.`)) return;
          b.disabled = true;
          try { await api("DELETE", `/ui/api/apikeys/${k.id}`); note($("list-message"), `Key ${name} deleted.`, true); }
          catch (e) { note($("list-message"), e.message, false); }
          load();
        }));
      tr.append(cell(name), cell(k.key.slice(0, 12) + "…", "mono"), cell(k.permissions.join(", ")), cell(k.ipAllowlist || "any"), status, actions);
      return tr;
    }));
  }
  $("key-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const perms = ["read"];
    if ($("k-trade").checked) perms.push("trade");
    if ($("k-withdraw").checked) perms.push("withdraw");
    $("k-create").disabled = true; note($("key-message"), "");
    try {
      const k = await api("POST", "/ui/api/apikeys", { label: $("k-label").value, permissions: perms, ipAllowlist: $("k-ips").value });
      $("new-key").textContent = k.key; $("new-secret").textContent = k.secret;
      $("secret-box").hidden = false; $("secret-box").focus();
      $("key-form").reset();
      load();
    } catch (e) { note($("key-message"), `${e.message} (${e.code})`, false); }
    finally { $("k-create").disabled = false; }
  });
  $("copy-secret").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText($("new-secret").textContent); $("copy-secret").textContent = "Copied"; } catch (e) { $("copy-secret").textContent = "Select and copy it by hand"; }
  });
  $("hide-secret").addEventListener("click", () => { $("new-secret").textContent = ""; $("new-key").textContent = ""; $("secret-box").hidden = true; });
  load();
})();
