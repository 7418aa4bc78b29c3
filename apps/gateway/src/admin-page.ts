/**
 * The approvals page: one static HTML document with inline CSS and vanilla JS, no build
 * step. An approver signs in with their credential (server-side session in an HttpOnly
 * cookie; the session's CSRF token, kept in memory only, goes with every change). The
 * admin token still opens it (`?token=`, dropped from the address bar, or the form) for
 * operations, and decides only when no approvers are configured. Everything from the
 * server is inserted with textContent, never innerHTML.
 */
export const ADMIN_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Toolgate · Approvals</title>
<style>
  :root { --bg:#f6f7f9; --card:#fff; --ink:#1d2330; --muted:#667085; --line:#e4e7ec;
    --ok:#12805c; --okbg:#e8f6f0; --bad:#c0362c; --badbg:#fdecea; --warn:#a15c07; --warnbg:#fef4e6;
    --accent:#3451d1; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--ink); }
  header { background:#111827; color:#fff; padding:14px 28px; display:flex; align-items:center; gap:14px; }
  header h1 { font-size:17px; margin:0; font-weight:600; letter-spacing:.2px; }
  header .dot { width:9px; height:9px; border-radius:50%; background:#9ca3af; display:inline-block; margin-right:6px; }
  header .dot.live { background:#34d399; box-shadow:0 0 0 3px rgba(52,211,153,.25); }
  header .status { margin-left:auto; font-size:13px; color:#d1d5db; }
  main { max-width:1180px; margin:0 auto; padding:24px 28px 48px; display:grid; grid-template-columns: 1fr 360px; gap:24px; }
  section h2 { font-size:13px; text-transform:uppercase; letter-spacing:.6px; color:var(--muted); margin:0 0 10px; font-weight:600; }
  .card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:16px 18px; margin-bottom:12px; box-shadow:0 1px 2px rgba(16,24,40,.04); }
  .approval .top { display:flex; align-items:baseline; gap:10px; flex-wrap:wrap; }
  .tool { font:600 15px ui-monospace,SFMono-Regular,Menlo,monospace; }
  .pill { font-size:12px; padding:2px 8px; border-radius:999px; background:#eef2ff; color:var(--accent); }
  .pill.grant { background:#f2f4f7; color:#344054; }
  .expires { margin-left:auto; color:var(--warn); font-size:12px; font-variant-numeric:tabular-nums; }
  .reason { color:var(--muted); margin:6px 0 8px; }
  pre.args { background:#f8fafc; border:1px solid var(--line); border-radius:8px; padding:10px 12px; margin:0 0 12px; font:12.5px/1.5 ui-monospace,SFMono-Regular,Menlo,monospace; white-space:pre-wrap; word-break:break-all; max-height:220px; overflow:auto; }
  .masked { font-size:12px; color:var(--bad); margin:-6px 0 10px; font-family:ui-monospace,monospace; }
  .meta { font-size:12px; color:var(--muted); margin-bottom:10px; font-family:ui-monospace,monospace; }
  .actions { display:flex; gap:8px; align-items:center; }
  .actions input { flex:1; padding:7px 10px; border:1px solid var(--line); border-radius:7px; font:inherit; }
  button { font:inherit; font-weight:600; border:0; border-radius:7px; padding:7px 16px; cursor:pointer; }
  button.approve { background:var(--ok); color:#fff; }
  button.reject { background:#fff; color:var(--bad); border:1px solid #f3b8b2; }
  button:disabled { opacity:.5; cursor:default; }
  .empty { color:var(--muted); text-align:center; padding:28px 0; }
  table { width:100%; border-collapse:collapse; font-size:13px; }
  td, th { text-align:left; padding:7px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
  th { color:var(--muted); font-weight:600; font-size:12px; }
  td.t { font-family:ui-monospace,monospace; }
  .eff { font-size:12px; font-weight:600; padding:1px 7px; border-radius:5px; white-space:nowrap; }
  .eff.allow { background:var(--okbg); color:var(--ok); }
  .eff.deny { background:var(--badbg); color:var(--bad); }
  .eff.require_approval { background:var(--warnbg); color:var(--warn); }
  .grants .g { display:flex; justify-content:space-between; align-items:baseline; margin-bottom:6px; }
  .grants .g b { font-size:14px; }
  .nums { display:grid; grid-template-columns:repeat(4,1fr); gap:6px; text-align:center; }
  .nums div { background:#f8fafc; border-radius:7px; padding:6px 2px; }
  .nums strong { display:block; font-size:17px; font-variant-numeric:tabular-nums; }
  .nums span { font-size:11px; color:var(--muted); }
  .bar { height:6px; background:#eef0f3; border-radius:4px; overflow:hidden; margin:4px 0 2px; }
  .bar i { display:block; height:100%; background:var(--accent); }
  .limit { font-size:12px; color:var(--muted); margin-top:8px; }
  .login { max-width:420px; margin:80px auto; }
  .login input { width:100%; padding:9px 11px; border:1px solid var(--line); border-radius:7px; font:inherit; margin:10px 0; }
  .muted { color:var(--muted); }
  .resolved { font-size:12px; color:var(--muted); }
  .progress { font-size:12.5px; margin:0 0 10px; color:#344054; }
  .cannot, .error { font-size:12.5px; color:var(--bad); margin:0 0 10px; }
  header .who { font-size:13px; color:#e5e7eb; }
  header button { padding:3px 10px; font-size:12px; background:#374151; color:#fff; }
  @media (max-width: 900px) { main { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<header><h1>Toolgate</h1><span class="muted" style="color:#9ca3af">Approvals</span>
  <a href="/admin/studio" style="color:#cbd5e1;font-size:13px;text-decoration:none">Policy studio →</a>
  <span class="status" id="status"><span class="who" id="who"></span> <button id="signOut" type="button" hidden>Sign out</button> <span class="dot" id="dot"></span><span id="statusText">connecting…</span></span></header>
<div id="login" class="login card" hidden>
  <h2 style="margin-top:0">Sign in</h2>
  <p class="muted">Approvers: your approver token (or an OAuth access token). Operators: the admin token the gateway printed at start-up (or <code>TOOLGATE_ADMIN_TOKEN</code>).</p>
  <form id="loginForm"><input id="tokenInput" type="password" autocomplete="off" placeholder="credential" aria-label="credential"><button class="approve" type="submit">Sign in</button></form>
  <p id="loginError" style="color:var(--bad)"></p>
</div>
<main id="app" hidden>
  <div>
    <section><h2>Pending approvals <span id="pendingCount" class="pill">0</span></h2><div id="pending"></div></section>
    <section style="margin-top:22px"><h2>Recent decisions</h2>
      <div class="card" style="padding:6px 10px"><table><thead><tr><th>Time</th><th>Tool</th><th>Grant</th><th>Effect</th><th>Reason</th></tr></thead><tbody id="decisions"></tbody></table></div>
    </section>
  </div>
  <aside>
    <section><h2>Grants</h2><div id="grants" class="grants"></div></section>
    <section style="margin-top:22px"><h2>Recently resolved</h2><div id="resolved" class="card"></div></section>
    <section style="margin-top:22px"><h2>Guardrails</h2><div id="guardrails" class="card"></div></section>
  </aside>
</main>
<script>
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  if (params.get("token")) {
    sessionStorage.setItem("toolgate.admin", params.get("token"));
    params.delete("token");
    history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params : ""));
  }
  let token = sessionStorage.getItem("toolgate.admin") || "";
  let csrf = "";
  let me = null;
  let pending = [];
  let recentResolved = [];
  let decisions = [];
  let tallies = {};
  let scope = "this instance";
  let counters = [];
  let skew = 0;

  function el(tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") n.className = v; else if (k.startsWith("data-")) n.setAttribute(k, v); else n[k] = v;
    }
    for (const c of children) if (c != null) n.append(c instanceof Node ? c : String(c));
    return n;
  }
  async function api(path, init) {
    const headers = { "Content-Type": "application/json" };
    if (token) headers["Authorization"] = "Bearer " + token;
    if (csrf && init && init.method && init.method !== "GET") headers["X-CSRF-Token"] = csrf;
    const res = await fetch("/admin/api" + path, { ...init, headers, credentials: "same-origin" });
    if (res.status === 401) { showLogin("Not signed in, or that credential was not accepted."); throw new Error("unauthorized"); }
    return res;
  }
  function showLogin(msg) { $("app").hidden = true; $("login").hidden = false; $("loginError").textContent = msg || ""; showWho(); }
  function showWho() {
    $("who").textContent = me ? "Signed in as " + me.approver + (me.roles && me.roles.length ? " (" + me.roles.join(", ") + ")" : "") : token ? "admin token" : "";
    $("signOut").hidden = !me && !token;
  }
  async function signIn(credential) {
    const res = await fetch("/admin/api/session", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ credential }), credentials: "same-origin" });
    if (res.ok) { me = await res.json(); csrf = me.csrf; token = ""; sessionStorage.removeItem("toolgate.admin"); return true; }
    return false;
  }
  $("loginForm").addEventListener("submit", async (e) => {
    e.preventDefault();
    const credential = $("tokenInput").value.trim(); $("tokenInput").value = "";
    // An approver gets a session; anything else is tried as the admin token (operations).
    if (!(await signIn(credential))) { token = credential; sessionStorage.setItem("toolgate.admin", token); }
    start();
  });
  $("signOut").addEventListener("click", async () => {
    if (me) await fetch("/admin/api/session", { method: "DELETE", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" });
    me = null; csrf = ""; token = ""; sessionStorage.removeItem("toolgate.admin"); showLogin("Signed out.");
  });
  const fmtTime = (t) => new Date(t).toLocaleTimeString([], { hour12: false });
  function left(ms) { const s = Math.max(0, Math.round(ms / 1000)); return s >= 60 ? Math.floor(s / 60) + "m " + (s % 60) + "s" : s + "s"; }

  function renderPending() {
    $("pendingCount").textContent = String(pending.length);
    const box = $("pending");
    box.replaceChildren();
    if (pending.length === 0) { box.append(el("div", { class: "card empty" }, "No calls are waiting. Held calls appear here as they arrive.")); return; }
    for (const a of pending) {
      const reason = el("input", { type: "text", placeholder: "reason (optional, shown to the agent)", "data-reason": a.id });
      const approve = el("button", { class: "approve", "data-action": "approve", "data-id": a.id, type: "button" }, "Approve");
      const reject = el("button", { class: "reject", "data-action": "reject", "data-id": a.id, type: "button" }, "Reject");
      const error = el("div", { class: "error", "data-error": a.id });
      approve.onclick = () => resolve(a.id, "approve", reason.value, [approve, reject], error);
      reject.onclick = () => resolve(a.id, "reject", reason.value, [approve, reject], error);
      if (a.rule && a.rule.reasonRequired) reason.placeholder = "reason (required)";
      if (a.cannotApprove) approve.disabled = true;
      const progress = "approvals " + a.approvedBy.length + " of " + a.needed + (a.approvedBy.length ? " · approved by " + a.approvedBy.join(", ") : "") +
        (a.remaining ? " · " + a.remaining + " more needed" : "") + (a.rule && a.rule.from ? " · from " + a.rule.from.join(", ") : "") + (a.mode === "retry" ? " · the agent retries after approval" : "");
      box.append(el("div", { class: "card approval", "data-approval": a.id },
        el("div", { class: "top" }, el("span", { class: "tool" }, a.tool), el("span", { class: "pill grant" }, "grant " + a.grant), el("span", { class: "pill" }, a.upstream),
          el("span", { class: "expires", "data-expires": String(a.expiresAt) }, "expires in " + left(a.expiresAt - Date.now() - skew))),
        el("div", { class: "reason" }, a.reason),
        el("pre", { class: "args", "data-args": a.id }, JSON.stringify(a.arguments, null, 2)),
        a.masked && a.masked.length ? el("div", { class: "masked", "data-masked": a.id }, "masked (secret, not shown): " + a.masked.join(", ")) : null,
        el("div", { class: "meta" }, "digest " + a.argumentsDigest + "  ·  session " + (a.session || "—") + "  ·  held " + fmtTime(a.createdAt)),
        el("div", { class: "progress", "data-progress": a.id }, progress),
        a.cannotApprove ? el("div", { class: "cannot", "data-cannot": a.id }, a.cannotApprove) : null,
        error,
        el("div", { class: "actions" }, reason, reject, approve)));
    }
  }
  function renderResolved() {
    const box = $("resolved"); box.replaceChildren();
    if (recentResolved.length === 0) { box.append(el("div", { class: "muted" }, "Nothing resolved yet.")); return; }
    for (const a of recentResolved.slice(0, 8)) {
      const cls = a.status === "approved" ? "allow" : a.status === "timeout" ? "require_approval" : "deny";
      box.append(el("div", { class: "resolved", style: "margin-bottom:8px" }, el("span", { class: "eff " + cls }, a.status), " ", el("span", { class: "t" }, a.tool), " · " + a.grant + " · by " + (a.resolvedBy || "?") + " · " + fmtTime(a.resolvedAt || a.createdAt)));
    }
  }
  function renderDecisions() {
    const body = $("decisions"); body.replaceChildren();
    if (decisions.length === 0) body.append(el("tr", {}, el("td", { colSpan: 5, class: "empty" }, "No decisions yet.")));
    for (const d of decisions.slice(0, 40)) {
      body.append(el("tr", {}, el("td", { class: "muted" }, fmtTime(d.at)), el("td", { class: "t" }, d.tool), el("td", {}, d.grant + (d.subject && d.subject !== d.grant ? " · " + d.subject : "")),
        el("td", {}, el("span", { class: "eff " + d.effect }, d.effect === "require_approval" ? "held" : d.code === "RATE_LIMITED" ? "rate-limited" : d.effect), d.shadow ? " (shadow)" : ""),
        el("td", { class: "muted" }, d.reason + (d.outcome ? " → " + d.outcome : ""))));
    }
  }
  function renderGrants() {
    const box = $("grants"); box.replaceChildren();
    const names = new Set([...Object.keys(tallies), ...counters.map((c) => c.grant), ...pending.map((a) => a.grant)]);
    if (names.size === 0) box.append(el("div", { class: "card muted" }, "No calls yet."));
    for (const g of [...names].sort()) {
      const t = tallies[g] || { allowed: 0, denied: 0, rateLimited: 0, held: 0 };
      // Tallies count finished decisions; a call still waiting is held too.
      const held = t.held + pending.filter((a) => a.grant === g).length;
      const card = el("div", { class: "card", "data-grant": g }, el("div", { class: "g" }, el("b", {}, g), el("span", { class: "muted" }, scope)),
        el("div", { class: "nums" }, el("div", {}, el("strong", {}, t.allowed), el("span", {}, "allowed")), el("div", { "data-tally": "held" }, el("strong", {}, held), el("span", {}, "held")),
          el("div", {}, el("strong", {}, t.rateLimited), el("span", {}, "limited")), el("div", {}, el("strong", {}, t.denied), el("span", {}, "denied"))));
      for (const c of counters.filter((c) => c.grant === g)) {
        const pct = c.max > 0 ? Math.min(100, Math.round((100 * c.used) / c.max)) : 0;
        const resets = c.used > 0 && c.resetAtMs ? " · resets in " + left(c.resetAtMs - Date.now() - skew) : "";
        card.append(el("div", { class: "limit" }, c.counter + ": " + c.used + " / " + c.max + resets), el("div", { class: "bar" }, el("i", { style: "width:" + pct + "%" })));
      }
      box.append(card);
    }
  }
  async function resolve(id, action, reason, buttons, error) {
    buttons.forEach((b) => (b.disabled = true));
    const res = await api("/approvals/" + encodeURIComponent(id) + "/" + action, { method: "POST", body: JSON.stringify(reason ? { reason } : {}) }).catch(() => null);
    if (res && !res.ok) {
      const j = await res.json().catch(() => ({}));
      error.textContent = j.message || "failed: HTTP " + res.status;
      buttons.forEach((b) => (b.disabled = false));
      return;
    }
    await loadApprovals();
  }
  async function loadApprovals() {
    const j = await (await api("/approvals")).json();
    pending = j.pending; recentResolved = j.recent; skew = Date.now() - j.now;
    renderPending(); renderResolved(); renderGrants();
  }
  async function loadDecisions() {
    const j = await (await api("/decisions")).json();
    decisions = j.recent; tallies = j.tallies; scope = j.scope || scope; renderDecisions(); renderGrants();
  }
  async function loadCounters() {
    const j = await (await api("/counters")).json();
    counters = j.counters; renderGrants();
  }
  async function loadGuardrails() {
    const j = await (await api("/guardrails")).json(); const box = $("guardrails"); box.replaceChildren();
    if (j.recent.length === 0) box.append(el("div", { class: "muted" }, "No changed tool definitions or redacted results."));
    for (const g of j.recent.slice(0, 12)) box.append(el("div", { class: "resolved", style: "margin-bottom:8px", "data-guardrail": g.kind }, el("span", { class: "eff " + (g.kind === "pin_mismatch" && !g.shadow ? "deny" : "require_approval") }, g.kind.replace("_", " ")), " ", el("span", { class: "t" }, g.tool), " · " + g.grant + " · " + g.summary + (g.oldDigest ? " · " + g.oldDigest.slice(0, 15) + "… → " + g.newDigest.slice(0, 15) + "…" : "") + (g.changed && g.changed.length ? " · changed: " + g.changed.join(", ") : "") + " · " + fmtTime(g.at)));
  }
  function setLive(on, text) { $("dot").className = on ? "dot live" : "dot"; $("statusText").textContent = text; }
  let refreshTimer = null;
  function scheduleRefresh() { if (refreshTimer) return; refreshTimer = setTimeout(() => { refreshTimer = null; loadApprovals().catch(() => {}); loadDecisions().catch(() => {}); loadCounters().catch(() => {}); loadGuardrails().catch(() => {}); }, 150); }
  async function stream() {
    for (;;) {
      try {
        const res = await api("/events");
        if (!res.ok || !res.body) throw new Error("HTTP " + res.status);
        setLive(true, "live");
        scheduleRefresh();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf("\\n\\n")) >= 0) {
            const block = buf.slice(0, i); buf = buf.slice(i + 2);
            const ev = /^event: (.*)$/m.exec(block); const data = /^data: (.*)$/m.exec(block);
            if (!ev || !data) continue;
            if (ev[1] === "decision") { decisions.unshift(JSON.parse(data[1])); decisions = decisions.slice(0, 50); renderDecisions(); scheduleRefresh(); }
            if (ev[1] === "approval") scheduleRefresh();
          }
        }
      } catch (e) { if (String(e.message) === "unauthorized") return; }
      setLive(false, "reconnecting…");
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  setInterval(() => {
    document.querySelectorAll("[data-expires]").forEach((n) => { n.textContent = "expires in " + left(Number(n.getAttribute("data-expires")) - Date.now() - skew); });
  }, 1000);
  setInterval(() => { if (!$("app").hidden) { loadCounters().catch(() => {}); loadGuardrails().catch(() => {}); } }, 5000);
  async function start() {
    if (!token && !me) {
      const res = await fetch("/admin/api/session", { credentials: "same-origin" }).catch(() => null);
      if (res && res.ok) { me = await res.json(); csrf = me.csrf; }
    }
    showWho();
    if (!token && !me) { showLogin(); return; }
    try { await loadApprovals(); } catch { return; }
    $("login").hidden = true; $("app").hidden = false;
    loadDecisions().catch(() => {}); loadCounters().catch(() => {});
    stream();
  }
  start();
})();
</script>
</body>
</html>
`;
