/**
 * The policy studio page: static HTML, one stylesheet and one script, all served by the
 * gateway (no build step, no framework, nothing fetched from elsewhere). The CSP allows
 * no inline code and enforces Trusted Types, so the script can only build the page with
 * `createElement`/`textContent`: server data is never parsed as HTML.
 */
export const STUDIO_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Toolgate · Policy studio</title>
<link rel="stylesheet" href="/admin/studio/studio.css">
<script src="/admin/studio/studio.js" defer></script>
</head>
<body>
<header>
  <h1>Toolgate</h1>
  <nav><a href="/admin">Approvals</a><a href="/admin/studio" class="here">Policy studio</a></nav>
  <label class="grant">grant <select id="grant" aria-label="grant"></select></label>
  <span id="liveVersion" class="chip"></span>
  <span class="status" id="status">loading…</span>
</header>
<div id="login" class="login card" hidden>
  <h2>Admin token</h2>
  <p class="muted">The gateway printed it at start-up (or set <code>TOOLGATE_ADMIN_TOKEN</code>).</p>
  <form id="loginForm"><input id="tokenInput" type="password" autocomplete="off" placeholder="admin token" aria-label="admin token"><button class="primary" type="submit">Open</button></form>
  <p id="loginError" class="bad"></p>
</div>
<main id="app" hidden>
  <div class="tabs" role="tablist">
    <button type="button" data-tab="tools" role="tab">Tools</button>
    <button type="button" data-tab="editor" role="tab">Policy editor</button>
  </div>
  <section id="toolsView" data-view="tools">
    <div id="summary" class="summary"></div>
    <div class="toolbar"><input id="filter" type="search" placeholder="filter tools" aria-label="filter tools"><button type="button" id="refresh" class="ghost">Refresh from upstreams</button></div>
    <div class="card flush"><table class="tools"><thead><tr><th>Tool</th><th>Risk</th><th>Why</th><th>Policy now</th><th>Use this window</th><th></th></tr></thead><tbody id="toolRows"></tbody></table></div>
  </section>
  <section id="editorView" data-view="editor" hidden>
    <div class="editor">
      <div class="pane">
        <div class="pane-head"><h2>Form</h2><span class="muted" id="formNote"></span></div>
        <div id="form"></div>
      </div>
      <div class="pane">
        <div class="pane-head"><h2>Raw</h2>
          <div class="seg"><button type="button" data-format="json">JSON</button><button type="button" data-format="yaml">YAML</button></div>
          <span id="validity" class="chip"></span>
        </div>
        <textarea id="raw" spellcheck="false" aria-label="policy text"></textarea>
        <ul id="issues" class="issues"></ul>
      </div>
    </div>
    <div class="panels">
      <div class="card panel" id="tryPanel">
        <h2>Try a call</h2>
        <p class="muted small">Decided against the draft and the policy in force, with live counters. Nothing is sent upstream.</p>
        <label class="field">tool <select id="tryTool" aria-label="tool to try"></select></label>
        <div id="tryArgs"></div>
        <button type="button" id="tryBtn" class="primary">Try it</button>
        <div id="tryResult" class="compare"></div>
      </div>
      <div class="card panel" id="testPanel">
        <h2>Policy tests</h2>
        <p class="muted small" id="testNote"></p>
        <button type="button" id="testBtn" class="primary">Run tests on the draft</button>
        <div id="testResult"></div>
      </div>
      <div class="card panel" id="publishPanel">
        <h2>Review and publish</h2>
        <p class="muted small" id="publishNote"></p>
        <label class="check"><input type="checkbox" id="shadow"> publish changed rules in shadow mode (they log what they would decide, never block)</label>
        <input id="note" type="text" maxlength="200" placeholder="note for the audit log (optional)" aria-label="note">
        <div class="row"><button type="button" id="diffBtn" class="ghost">Show changes</button><button type="button" id="publishBtn" class="primary">Publish</button></div>
        <div id="publishResult"></div>
        <pre id="diff" class="diff" hidden></pre>
      </div>
    </div>
  </section>
</main>
</body>
</html>
`;

/** The studio stylesheet (same palette as the approvals page). */
export const STUDIO_CSS = `:root { --bg:#f6f7f9; --card:#fff; --ink:#1d2330; --muted:#667085; --line:#e4e7ec;
  --ok:#12805c; --okbg:#e8f6f0; --bad:#c0362c; --badbg:#fdecea; --warn:#a15c07; --warnbg:#fef4e6;
  --accent:#3451d1; --accentbg:#eef2ff; --mono:ui-monospace,SFMono-Regular,Menlo,monospace; }
* { box-sizing:border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--ink); }
header { background:#111827; color:#fff; padding:12px 28px; display:flex; align-items:center; gap:18px; }
header h1 { font-size:17px; margin:0; font-weight:600; }
header nav { display:flex; gap:4px; }
header nav a { color:#cbd5e1; text-decoration:none; padding:5px 10px; border-radius:6px; font-size:13px; }
header nav a.here { background:#1f2937; color:#fff; }
header .grant { margin-left:auto; color:#cbd5e1; font-size:13px; display:flex; gap:6px; align-items:center; }
header select { font:inherit; padding:4px 8px; border-radius:6px; border:1px solid #374151; background:#1f2937; color:#fff; }
header .chip { background:#1f2937; color:#cbd5e1; }
header .status { font-size:12px; color:#9ca3af; min-width:90px; text-align:right; }
main { max-width:1400px; margin:0 auto; padding:18px 28px 48px; }
h2 { font-size:12px; text-transform:uppercase; letter-spacing:.6px; color:var(--muted); margin:0 0 8px; font-weight:600; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 16px; box-shadow:0 1px 2px rgba(16,24,40,.04); }
.card.flush { padding:0; overflow:hidden; }
.muted { color:var(--muted); } .small { font-size:12px; } .bad { color:var(--bad); }
.mono { font-family:var(--mono); }
.tabs { display:flex; gap:6px; margin-bottom:14px; }
.tabs button { font:inherit; font-weight:600; background:transparent; border:1px solid var(--line); border-radius:8px; padding:7px 16px; cursor:pointer; color:var(--muted); }
.tabs button[aria-selected=true] { background:var(--card); color:var(--ink); border-color:#c7cdd6; box-shadow:0 1px 2px rgba(16,24,40,.06); }
.summary { display:flex; gap:10px; margin-bottom:12px; flex-wrap:wrap; }
.summary .card { padding:10px 14px; min-width:130px; }
.summary strong { display:block; font-size:20px; font-variant-numeric:tabular-nums; }
.summary span { font-size:12px; color:var(--muted); }
.toolbar { display:flex; gap:8px; margin-bottom:10px; }
.toolbar input { flex:1; max-width:360px; }
input, select, textarea { font:inherit; padding:6px 9px; border:1px solid var(--line); border-radius:7px; background:#fff; color:var(--ink); }
input[type=checkbox] { padding:0; }
button { font:inherit; font-weight:600; border:0; border-radius:7px; padding:7px 14px; cursor:pointer; }
button.primary { background:var(--accent); color:#fff; }
button.ghost { background:#fff; border:1px solid var(--line); color:var(--ink); }
button.link { background:none; color:var(--accent); padding:2px 4px; font-weight:600; }
button.x { background:none; color:var(--muted); padding:2px 7px; font-weight:400; }
button:disabled { opacity:.45; cursor:default; }
table { width:100%; border-collapse:collapse; }
td, th { text-align:left; padding:9px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--muted); font-weight:600; font-size:12px; background:#fafbfc; }
table.tools { table-layout:fixed; }
table.tools td { font-size:13px; overflow-wrap:anywhere; }
table.tools th:nth-child(1) { width:21%; } table.tools th:nth-child(2) { width:9%; }
table.tools th:nth-child(3) { width:31%; } table.tools th:nth-child(4) { width:20%; }
table.tools th:nth-child(6) { width:100px; }
.link { white-space:nowrap; }
.tname { font:600 13px var(--mono); overflow-wrap:anywhere; }
.title { color:var(--muted); font-size:12px; }
.chip { display:inline-block; font-size:11.5px; padding:1px 8px; border-radius:999px; background:#f2f4f7; color:#344054; white-space:nowrap; }
.risk { display:inline-block; font-size:11.5px; font-weight:700; padding:2px 8px; border-radius:5px; text-transform:uppercase; letter-spacing:.3px; }
.risk.high { background:var(--badbg); color:var(--bad); }
.risk.medium { background:var(--warnbg); color:var(--warn); }
.risk.low { background:var(--okbg); color:var(--ok); }
.cat { display:block; font-size:12px; color:var(--muted); margin-top:3px; }
ul.reasons { margin:0; padding-left:16px; font-size:12.5px; }
ul.reasons li { margin:1px 0; }
.claim { display:inline-block; margin-top:4px; font-size:11.5px; background:var(--warnbg); color:var(--warn); border-radius:5px; padding:1px 6px; }
.act { font-size:12px; font-weight:700; padding:2px 8px; border-radius:5px; white-space:nowrap; }
.act.allow { background:var(--okbg); color:var(--ok); }
.act.limit { background:var(--accentbg); color:var(--accent); }
.act.approval, .act.conditional { background:var(--warnbg); color:var(--warn); }
.act.deny, .act.hidden { background:var(--badbg); color:var(--bad); }
.rule-id { font:11.5px var(--mono); color:var(--muted); display:block; margin-top:3px; word-break:break-all; }
.use { font-size:12px; min-width:150px; }
.bar { height:6px; background:#eef0f3; border-radius:4px; overflow:hidden; margin:3px 0 6px; }
.bar i { display:block; height:100%; background:var(--accent); }
.bar i.full { background:var(--bad); }
.editor { display:grid; grid-template-columns: minmax(0,1.15fr) minmax(0,1fr); gap:16px; }
.pane-head { display:flex; align-items:center; gap:10px; margin-bottom:8px; min-height:30px; }
.pane-head h2 { margin:0; }
.seg { display:flex; border:1px solid var(--line); border-radius:7px; overflow:hidden; }
.seg button { border-radius:0; background:#fff; color:var(--muted); padding:4px 12px; }
.seg button[aria-pressed=true] { background:var(--ink); color:#fff; }
#validity { margin-left:auto; font-weight:600; }
#validity.ok { background:var(--okbg); color:var(--ok); }
#validity.bad { background:var(--badbg); color:var(--bad); }
#raw { width:100%; min-height:520px; font:12.5px/1.5 var(--mono); resize:vertical; tab-size:2; white-space:pre; }
#raw.raw-bad { border-color:#f3b8b2; }
ul.issues { list-style:none; padding:0; margin:8px 0 0; }
ul.issues li { background:var(--badbg); border-radius:7px; padding:7px 10px; margin-bottom:6px; font-size:12.5px; }
ul.issues .path { font:600 12px var(--mono); color:var(--bad); display:block; }
ul.issues .fix { color:#7a271a; display:block; margin-top:2px; }
#form .card { margin-bottom:10px; }
.rule.focus { outline:2px solid var(--accent); }
.rule-head { display:flex; align-items:center; gap:8px; margin-bottom:8px; }
.rule-head .tname { font-size:14px; }
.rule-head .grow { flex:1; }
.grid { display:grid; grid-template-columns: repeat(3, minmax(0,1fr)); gap:8px 10px; }
.field { display:flex; flex-direction:column; gap:3px; font-size:12px; color:var(--muted); }
.field input, .field select, .field textarea { color:var(--ink); font-size:13px; }
.field.wide { grid-column: 1 / -1; }
.check { display:flex; align-items:center; gap:6px; font-size:12.5px; color:var(--ink); }
.sub { margin-top:10px; }
.sub h3 { font-size:12px; margin:0 0 6px; color:var(--muted); font-weight:600; }
table.rows { table-layout:fixed; }
table.rows td { padding:4px 4px; border:0; }
.w30 { width:30%; } .w26 { width:26%; } .w20 { width:20%; } .w18 { width:18%; } .w14 { width:14%; } .w11 { width:11%; } .w5 { width:34px; }
table.rows th { padding:2px 4px; background:none; border:0; font-weight:500; }
table.rows input, table.rows select { width:100%; font-size:12.5px; padding:4px 6px; }
.invalid { border-color:var(--bad) !important; background:#fff8f7; }
.field-error { color:var(--bad); font-size:11.5px; margin-top:2px; }
.hint { font-size:12px; background:#f8fafc; border:1px dashed var(--line); border-radius:7px; padding:6px 9px; margin-top:8px; display:flex; gap:8px; align-items:center; }
.addrow { display:flex; gap:8px; align-items:center; margin:6px 0 12px; }
.addrow select { flex:1; }
.panels { display:grid; grid-template-columns: repeat(2, minmax(0,1fr)); gap:16px; margin-top:16px; align-items:start; }
#tryPanel { grid-column: 1 / -1; }
#tryPanel > .field { max-width:460px; }
#tryArgs { display:grid; grid-template-columns: repeat(3, minmax(0,1fr)); gap:8px 10px; }
#tryArgs .muted { grid-column: 1 / -1; margin:0; }
.panel > * + * { margin-top:8px; }
.panel input[type=text], .panel select { width:100%; }
.row { display:flex; gap:8px; }
.compare { display:grid; grid-template-columns: minmax(0,1fr) minmax(0,1fr); gap:10px; }
.side { border:1px solid var(--line); border-radius:8px; padding:8px 10px; font-size:12.5px; min-width:0; overflow-wrap:anywhere; }
.side h4 { margin:0 0 6px; font-size:12px; color:var(--muted); }
.side .reason { margin:6px 0; }
table.trace td { padding:3px 4px; font-size:11.5px; border-bottom:1px solid #f0f2f5; }
table.trace td:first-child { font-family:var(--mono); }
.pass { color:var(--ok); font-weight:700; } .fail { color:var(--bad); font-weight:700; }
table.cases td { font-size:12.5px; padding:5px 6px; }
pre.diff { font:12px/1.45 var(--mono); background:#fbfcfd; border:1px solid var(--line); border-radius:8px; padding:8px 0; max-height:360px; overflow:auto; margin:0; }
pre.diff span { display:block; padding:0 10px; white-space:pre; }
pre.diff .add { background:#e6f6ee; color:#0d5c41; }
pre.diff .del { background:#fdecea; color:#8f2118; }
.msg { font-size:12.5px; border-radius:7px; padding:7px 10px; }
.msg.ok { background:var(--okbg); color:var(--ok); }
.msg.err { background:var(--badbg); color:var(--bad); }
.login { max-width:420px; margin:80px auto; }
.login input { width:100%; margin:10px 0; }
.empty { color:var(--muted); text-align:center; padding:24px 0; }
@media (max-width: 1100px) { .editor, .panels { grid-template-columns: 1fr; } }
`;

/**
 * The studio script. Written without template literals (it is embedded as a string)
 * and without any HTML sink: every node is created, every text set with textContent.
 */
export const STUDIO_JS = String.raw`(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  if (params.get("token")) {
    sessionStorage.setItem("toolgate.admin", params.get("token"));
    params.delete("token");
    history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params : ""));
  }
  let token = sessionStorage.getItem("toolgate.admin") || "";
  const S = {
    grants: [], grant: params.get("grant") || "", live: null, tools: [], upstreams: [],
    doc: null, text: "", format: "json", issues: [], valid: false, version: "",
    tab: params.get("tab") === "editor" ? "editor" : "tools", filter: "", seq: 0,
  };
  const SIMPLE = /^[A-Za-z_$*?][A-Za-z0-9_$*?-]*$/;
  const keyPath = (base, key) => SIMPLE.test(key) ? (base ? base + "." + key : key) : base + "[" + JSON.stringify(key) + "]";
  const WINDOWS = ["second", "minute", "hour", "day"];
  const OPS = ["eq", "neq", "in", "not_in", "lt", "lte", "gt", "gte", "regex", "contains", "exists"];

  function el(tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") n.className = v;
      else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
      else if (k === "value" || k === "checked" || k === "disabled" || k === "hidden" || k === "selected" || k === "colSpan" || k === "id" || k === "readOnly") n[k] = v;
      else n.setAttribute(k, String(v));
    }
    for (const c of children.flat(3)) if (c !== null && c !== undefined && c !== false) n.append(c instanceof Node ? c : String(c));
    return n;
  }
  function setStatus(text) { $("status").textContent = text; }
  function showLogin(msg) { $("app").hidden = true; $("login").hidden = false; $("loginError").textContent = msg || ""; }
  $("loginForm").addEventListener("submit", (e) => { e.preventDefault(); token = $("tokenInput").value.trim(); sessionStorage.setItem("toolgate.admin", token); start(); });

  async function api(path, body) {
    const init = { headers: { Authorization: "Bearer " + token } };
    if (body !== undefined) { init.method = "POST"; init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    const res = await fetch("/admin/api/studio" + path, init);
    if (res.status === 401) { showLogin("That token was not accepted."); throw new Error("unauthorized"); }
    const json = await res.json().catch(() => ({}));
    return { status: res.status, ok: res.ok, body: json };
  }
  const short = (v) => (v || "").replace(/^sha256:/, "").slice(0, 10);
  const fmtLeft = (ms) => { const s = Math.max(0, Math.round(ms / 1000)); return s >= 60 ? Math.floor(s / 60) + "m " + (s % 60) + "s" : s + "s"; };

  // ---------- tabs ----------
  function setTab(tab) {
    S.tab = tab;
    document.querySelectorAll("[data-tab]").forEach((b) => b.setAttribute("aria-selected", String(b.getAttribute("data-tab") === tab)));
    document.querySelectorAll("[data-view]").forEach((v) => { v.hidden = v.getAttribute("data-view") !== tab; });
  }
  document.querySelectorAll("[data-tab]").forEach((b) => b.addEventListener("click", () => setTab(b.getAttribute("data-tab"))));

  // ---------- tools view ----------
  function actionLabel(p) {
    return { allow: "allowed", limit: "limited", approval: "approval", deny: "denied", hidden: "hidden", conditional: "by arguments" }[p.action] || p.action;
  }
  function renderSummary() {
    const box = $("summary"); box.replaceChildren();
    const count = (r) => S.tools.filter((t) => t.risk === r).length;
    const card = (n, label, cls) => el("div", { class: "card" + (cls ? " " + cls : "") }, el("strong", {}, String(n)), el("span", {}, label));
    box.append(card(S.tools.length, "tools from " + S.upstreams.length + " upstream" + (S.upstreams.length === 1 ? "" : "s")),
      card(count("high"), "high risk"), card(count("medium"), "medium risk"), card(count("low"), "low risk"),
      card(S.tools.filter((t) => t.policy.action !== "deny" && t.policy.action !== "hidden").length, "reachable under this policy"));
    for (const u of S.upstreams.filter((u) => !u.ok)) box.append(el("div", { class: "card" }, el("strong", { class: "bad" }, u.name), el("span", {}, "not listed: " + (u.detail || "unreachable"))));
  }
  function useCell(p) {
    if (p.limits.length === 0) return el("span", { class: "muted" }, "—");
    return p.limits.map((l) => {
      const used = l.used === undefined ? null : l.used;
      const pct = used === null ? 0 : Math.min(100, Math.round((100 * used) / l.max));
      const resets = used && l.resetAtMs ? " · resets in " + fmtLeft(l.resetAtMs - Date.now()) : "";
      const bar = el("i", { class: used !== null && used >= l.max ? "full" : "" });
      bar.style.width = pct + "%";
      return el("div", { "data-counter": l.counter },
        el("div", {}, el("span", { class: "mono" }, l.counter), ": " + (used === null ? "per " + l.scope : used + " / " + l.max) + " per " + l.window + resets),
        el("div", { class: "bar" }, bar));
    });
  }
  function renderTools() {
    renderSummary();
    const body = $("toolRows"); body.replaceChildren();
    const f = S.filter.toLowerCase();
    const order = { high: 0, medium: 1, low: 2 };
    const rows = S.tools.filter((t) => !f || t.name.toLowerCase().includes(f) || t.upstream.toLowerCase().includes(f) || t.category.includes(f) || t.risk.includes(f))
      .sort((a, b) => order[a.risk] - order[b.risk] || a.name.localeCompare(b.name));
    if (rows.length === 0) body.append(el("tr", {}, el("td", { colSpan: 6, class: "empty" }, S.tools.length ? "No tool matches the filter." : "No tools listed yet.")));
    for (const t of rows) {
      const claims = t.contradicted.map((c) => el("span", { class: "claim", title: "the upstream's annotation, not trusted" }, "claims " + c + ": overruled"));
      body.append(el("tr", { "data-tool": t.name },
        el("td", {}, el("div", { class: "tname" }, t.name), t.title ? el("div", { class: "title" }, t.title) : null, el("span", { class: "chip" }, t.upstream)),
        el("td", {}, el("span", { class: "risk " + t.risk, "data-risk": t.risk }, t.risk), el("span", { class: "cat", "data-category": t.category }, t.category)),
        el("td", {}, el("ul", { class: "reasons" }, t.reasons.map((r) => el("li", {}, r.text))), claims),
        el("td", { "data-policy": t.policy.action }, el("span", { class: "act " + t.policy.action }, actionLabel(t.policy)), t.policy.shadow ? el("span", { class: "chip" }, " shadow") : null,
          el("span", { class: "rule-id" }, t.policy.ruleId), el("div", { class: "title" }, t.policy.reason)),
        el("td", { class: "use" }, useCell(t.policy)),
        el("td", {}, el("button", { type: "button", class: "link", "data-edit": t.name, onclick: () => editTool(t.name) }, "Edit rule"))));
    }
  }
  $("filter").addEventListener("input", (e) => { S.filter = e.target.value; renderTools(); });
  $("refresh").addEventListener("click", () => loadTools(true).catch(() => {}));

  // ---------- editor: document helpers ----------
  function rules() { return S.doc && S.doc.tools && typeof S.doc.tools === "object" ? S.doc.tools : {}; }
  const hasRule = (key) => Object.prototype.hasOwnProperty.call(rules(), key);
  // defineProperty: a tool named "__proto__" must become a rule, not the object's prototype.
  function addRule(key, rule) {
    if (!S.doc.tools || typeof S.doc.tools !== "object") S.doc.tools = {};
    Object.defineProperty(S.doc.tools, key, { value: rule, enumerable: true, writable: true, configurable: true });
  }
  function toolInfo(key) { return S.tools.find((t) => t.name === key); }
  function editTool(name) {
    setTab("editor");
    if (S.doc && !hasRule(name)) {
      const t = toolInfo(name);
      addRule(name, t ? JSON.parse(JSON.stringify(t.recommendation.rule)) : {});
      formChanged(true);
    }
    const card = [...document.querySelectorAll("[data-rule]")].find((c) => c.getAttribute("data-rule") === name);
    if (card) { card.scrollIntoView({ block: "center" }); card.classList.add("focus"); setTimeout(() => card.classList.remove("focus"), 1500); }
  }

  // ---------- editor: form ----------
  function bind(input, path, get, set) {
    input.setAttribute("data-path", path);
    input.addEventListener(input.tagName === "SELECT" || input.type === "checkbox" ? "change" : "input", () => { set(get(input)); formChanged(); });
    return input;
  }
  function setOrDelete(obj, key, v) { if (v === undefined || v === "") delete obj[key]; else obj[key] = v; }
  const num = (i) => (i.value === "" ? undefined : Number(i.value));
  function selectOf(options, value, allowEmpty) {
    const s = el("select", {});
    if (allowEmpty) s.append(el("option", { value: "" }, allowEmpty));
    for (const o of options) s.append(el("option", { value: o, selected: o === value }, o));
    if (value !== undefined && value !== "" && !options.includes(value)) s.append(el("option", { value: value, selected: true }, String(value)));
    return s;
  }
  function field(label, input, cls) { return el("label", { class: "field" + (cls ? " " + cls : "") }, label, input); }

  function limitsTable(list, base) {
    const t = el("table", { class: "rows" }, el("thead", {}, el("tr", {}, [["counter", "w30"], ["window", "w14"], ["max", "w11"], ["scope", "w18"], ["count from", ""], ["", "w5"]].map((h) => el("th", { class: h[1] }, h[0])))));
    const tb = el("tbody", {});
    list.forEach((l, i) => {
      const p = base + "[" + i + "]";
      const win = el("input", { value: l.window || "", list: "windows", placeholder: "minute" });
      tb.append(el("tr", { "data-limit": p },
        el("td", {}, bind(el("input", { value: l.counter || "" }), p + ".counter", (x) => x.value, (v) => setOrDelete(l, "counter", v))),
        el("td", {}, bind(win, p + ".window", (x) => x.value, (v) => setOrDelete(l, "window", v))),
        el("td", {}, bind(el("input", { type: "number", min: "1", step: "1", value: l.max === undefined ? "" : String(l.max) }), p + ".max", num, (v) => setOrDelete(l, "max", v))),
        el("td", {}, bind(selectOf(["grant", "session", "global"], l.scope, "grant (default)"), p + ".scope", (x) => x.value, (v) => setOrDelete(l, "scope", v))),
        el("td", {}, bind(el("input", { value: l.increment_from || "", placeholder: "args.amount" }), p + ".increment_from", (x) => x.value, (v) => setOrDelete(l, "increment_from", v))),
        el("td", {}, el("button", { type: "button", class: "x", title: "remove limit", onclick: () => { list.splice(i, 1); formChanged(true); } }, "✕"))));
    });
    t.append(tb);
    return t;
  }
  function condTable(list, base) {
    const t = el("table", { class: "rows" }, el("thead", {}, el("tr", {}, [["argument", "w26"], ["op", "w14"], ["value (JSON)", "w20"], ["reason", ""], ["", "w5"]].map((h) => el("th", { class: h[1] }, h[0])))));
    const tb = el("tbody", {});
    list.forEach((c, i) => {
      const p = base + "[" + i + "]";
      const val = el("input", { value: c.value === undefined ? "" : JSON.stringify(c.value), placeholder: "100" });
      tb.append(el("tr", {},
        el("td", {}, bind(el("input", { value: c.path || "", placeholder: "args.amount" }), p + ".path", (x) => x.value, (v) => setOrDelete(c, "path", v))),
        el("td", {}, bind(selectOf(OPS, c.op), p + ".op", (x) => x.value, (v) => setOrDelete(c, "op", v))),
        el("td", {}, bind(val, p + ".value", (x) => x.value, (v) => { if (v === "") delete c.value; else { try { c.value = JSON.parse(v); } catch { c.value = v; } } })),
        el("td", {}, bind(el("input", { value: c.reason || "" }), p + ".reason", (x) => x.value, (v) => setOrDelete(c, "reason", v))),
        el("td", {}, el("button", { type: "button", class: "x", title: "remove condition", onclick: () => { list.splice(i, 1); formChanged(true); } }, "✕"))));
    });
    t.append(tb);
    return t;
  }
  function ruleCard(key, rule) {
    const base = keyPath("tools", key);
    const info = toolInfo(key);
    const hide = Array.isArray(S.doc.hide) ? S.doc.hide : [];
    const hidden = hide.includes(key);
    const card = el("div", { class: "card rule", "data-rule": key, "data-path": base },
      el("div", { class: "rule-head" }, el("span", { class: "tname" }, key),
        info ? el("span", { class: "risk " + info.risk }, info.risk) : el("span", { class: "chip" }, /[*?]/.test(key) ? "glob" : "not listed by any upstream"),
        info ? el("span", { class: "muted small" }, info.category) : null,
        el("span", { class: "grow" }),
        el("button", { type: "button", class: "x", title: "remove this rule", onclick: () => { delete rules()[key]; formChanged(true); } }, "remove")));
    if (typeof rule !== "object" || rule === null) { card.append(el("div", { class: "muted" }, "not an object: fix it in the raw text")); return card; }
    card.append(el("div", { class: "grid" },
      field("action", bind(selectOf(["allow", "deny", "require_approval"], rule.action, "allow (default)"), base + ".action", (x) => x.value, (v) => setOrDelete(rule, "action", v))),
      el("label", { class: "check" }, bind(el("input", { type: "checkbox", checked: rule.mode === "shadow" }), base + ".mode", (x) => x.checked, (v) => setOrDelete(rule, "mode", v ? "shadow" : undefined)), "shadow (decide and log, never block)"),
      el("label", { class: "check" }, bind(el("input", { type: "checkbox", checked: hidden }), "hide", (x) => x.checked, (v) => {
        const h = Array.isArray(S.doc.hide) ? S.doc.hide.filter((x) => x !== key) : [];
        if (v) h.push(key);
        if (h.length) S.doc.hide = h; else delete S.doc.hide;
      }), "hide from tools/list"),
      field("reason shown to the agent", bind(el("input", { value: rule.reason || "" }), base + ".reason", (x) => x.value, (v) => setOrDelete(rule, "reason", v)), "wide")));
    const limits = Array.isArray(rule.limits) ? rule.limits : null;
    const sub = el("div", { class: "sub" }, el("h3", {}, "Limits"));
    if (limits && limits.length) sub.append(limitsTable(limits, base + ".limits"));
    sub.append(el("button", { type: "button", class: "link", onclick: () => {
      if (!Array.isArray(rule.limits)) rule.limits = [];
      rule.limits.push({ counter: (key.replace(/[^A-Za-z0-9_.:-]/g, "_") || "tool") + "_rate", window: "minute", max: 10, scope: "grant" });
      formChanged(true);
    } }, "+ limit"));
    card.append(sub);
    for (const kind of ["require", "deny_if"]) {
      const list = Array.isArray(rule[kind]) ? rule[kind] : null;
      const box = el("div", { class: "sub" }, el("h3", {}, kind === "require" ? "Require (all must hold)" : "Deny if (any holds)"));
      if (list && list.length) box.append(condTable(list, base + "." + kind));
      box.append(el("button", { type: "button", class: "link", onclick: () => {
        if (!Array.isArray(rule[kind])) rule[kind] = [];
        rule[kind].push({ path: "args.", op: "eq", value: "" });
        formChanged(true);
      } }, kind === "require" ? "+ require" : "+ deny if"));
      card.append(box);
    }
    if (rule.arguments !== undefined) card.append(el("div", { class: "hint" }, "arguments: a JSON Schema; edit it in the raw text"));
    if (info) {
      const rec = info.recommendation;
      card.append(el("div", { class: "hint" }, el("span", { class: "grow" }, "Suggested for " + info.risk + " risk: " + rec.summary.replace(/^.*→ /, "")),
        el("button", { type: "button", class: "link", onclick: () => { addRule(key, JSON.parse(JSON.stringify(rec.rule))); formChanged(true); } }, "apply")));
    }
    return card;
  }
  function renderForm() {
    const box = $("form"); box.replaceChildren();
    box.append(el("datalist", { id: "windows" }, WINDOWS.map((w) => el("option", { value: w }))));
    if (!S.doc || typeof S.doc !== "object" || Array.isArray(S.doc)) { box.append(el("div", { class: "card muted" }, "The raw text does not parse yet; fix it there.")); return; }
    const d = S.doc;
    box.append(el("div", { class: "card", "data-path": "" }, el("div", { class: "grid" },
      field("default for unnamed tools", bind(selectOf(["deny", "allow"], d.default, ""), "default", (x) => x.value, (v) => setOrDelete(d, "default", v))),
      field("description", bind(el("input", { value: d.description || "" }), "description", (x) => x.value, (v) => setOrDelete(d, "description", v)), "wide"))));
    const inPolicy = new Set(Object.keys(rules()));
    const candidates = S.tools.filter((t) => !inPolicy.has(t.name));
    const pick = el("select", { id: "addTool", "aria-label": "tool to add" }, el("option", { value: "" }, candidates.length ? "add a rule for a tool…" : "every listed tool has a rule"), candidates.map((t) => el("option", { value: t.name }, t.name + " (" + t.risk + " risk)")));
    const glob = el("input", { placeholder: "or a name / glob, e.g. admin_*", "aria-label": "rule key" });
    box.append(el("div", { class: "addrow" }, pick, glob, el("button", { type: "button", class: "ghost", onclick: () => {
      const key = pick.value || glob.value.trim();
      if (!key || hasRule(key)) return;
      const t = toolInfo(key);
      addRule(key, t ? JSON.parse(JSON.stringify(t.recommendation.rule)) : {});
      formChanged(true);
    } }, "Add rule")));
    for (const [key, rule] of Object.entries(rules())) box.append(ruleCard(key, rule));
    markIssues();
  }

  // ---------- sync: form <-> raw ----------
  let validateTimer = null;
  function formChanged(rerender) {
    const json = JSON.stringify(S.doc, null, 2) + "\n";
    if (S.format === "json") { S.text = json; $("raw").value = json; }
    if (rerender) renderForm();
    validate(json, "json", { fromForm: true });
  }
  $("raw").addEventListener("input", () => {
    S.text = $("raw").value;
    clearTimeout(validateTimer);
    validateTimer = setTimeout(() => validate(S.text, S.format, { fromRaw: true }), 200);
  });
  async function validate(text, format, how) {
    const seq = ++S.seq;
    setValidity(null);
    const r = await api("/validate", { text: text, format: format });
    if (seq !== S.seq) return; // a newer edit is on its way
    const v = r.body;
    if (how && how.fromForm && S.format === "yaml" && v.yaml !== undefined) { S.text = v.yaml; $("raw").value = v.yaml; }
    S.issues = v.issues || [];
    S.valid = r.ok && v.ok === true;
    S.version = v.version || "";
    if (how && how.fromRaw && v.value !== undefined) { S.doc = v.value; renderForm(); }
    setValidity(S.valid);
    renderIssues();
    markIssues();
    updatePublish();
  }
  function setValidity(ok) {
    const b = $("validity");
    b.className = "chip" + (ok === true ? " ok" : ok === false ? " bad" : "");
    b.setAttribute("data-ok", ok === null ? "" : String(ok));
    b.textContent = ok === null ? "checking…" : ok ? "valid · " + short(S.version) : S.issues.length + " problem" + (S.issues.length === 1 ? "" : "s");
    $("raw").classList.toggle("raw-bad", ok === false);
  }
  function renderIssues() {
    const ul = $("issues"); ul.replaceChildren();
    for (const i of S.issues) ul.append(el("li", { "data-issue-path": i.path }, el("span", { class: "path" }, i.path || "(policy)"), i.message, i.fix ? el("span", { class: "fix" }, "fix: " + i.fix) : null));
  }
  function markIssues() {
    document.querySelectorAll("#form .invalid").forEach((n) => n.classList.remove("invalid"));
    document.querySelectorAll("#form .field-error, #form .error-row").forEach((n) => n.remove());
    const fields = [...document.querySelectorAll("#form [data-path]")];
    for (const i of S.issues) {
      let p = i.path;
      let target;
      for (;;) {
        target = fields.find((f) => f.getAttribute("data-path") === p);
        if (target || !p) break;
        const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
        p = cut > 0 ? p.slice(0, cut) : "";
      }
      if (!target) continue;
      target.classList.add("invalid");
      const msg = el("div", { class: "field-error", "data-error-for": i.path }, i.path + ": " + i.message + (i.fix ? " (fix: " + i.fix + ")" : ""));
      // In a table row the message gets a full-width row of its own under the field's row.
      const row = target.closest("tr");
      if (row && row.parentNode) {
        row.after(el("tr", { class: "error-row" }, el("td", { colSpan: row.children.length }, msg)));
        continue;
      }
      (target.closest("label, .rule") || target.parentNode).append(msg);
    }
  }
  document.querySelectorAll("[data-format]").forEach((b) => b.addEventListener("click", async () => {
    const to = b.getAttribute("data-format");
    if (to === S.format) return;
    const r = await api("/validate", { text: S.text, format: S.format });
    if (r.body.value === undefined) { setStatus("fix the syntax before switching format"); return; }
    S.format = to;
    S.text = to === "json" ? r.body.json : r.body.yaml;
    $("raw").value = S.text;
    renderFormat();
    validate(S.text, S.format);
  }));
  function renderFormat() { document.querySelectorAll("[data-format]").forEach((b) => b.setAttribute("aria-pressed", String(b.getAttribute("data-format") === S.format))); }

  // ---------- try a call ----------
  function renderTryTools() {
    const sel = $("tryTool"); const cur = sel.value;
    sel.replaceChildren(...S.tools.map((t) => el("option", { value: t.name, selected: t.name === cur }, t.name)));
    renderTryArgs();
  }
  function renderTryArgs() {
    const box = $("tryArgs"); box.replaceChildren();
    const t = toolInfo($("tryTool").value);
    const schema = (t && t.inputSchema) || {};
    const props = schema.properties || {};
    const req = new Set(Array.isArray(schema.required) ? schema.required : []);
    const names = Object.keys(props);
    if (names.length === 0) { box.append(el("p", { class: "muted small" }, "This tool takes no arguments.")); return; }
    for (const name of names) {
      const p = props[name] || {};
      const type = Array.isArray(p.type) ? p.type[0] : p.type;
      let input;
      if (Array.isArray(p.enum)) input = selectOf(p.enum.map(String), undefined, "(none)");
      else if (type === "boolean") input = el("input", { type: "checkbox" });
      else if (type === "number" || type === "integer") input = el("input", { type: "number", step: type === "integer" ? "1" : "any" });
      else if (type === "object" || type === "array") input = el("textarea", { rows: "2", placeholder: type === "array" ? "[ ]" : "{ }" });
      else input = el("input", { type: "text", placeholder: p.format || "" });
      input.setAttribute("data-arg", name);
      input.setAttribute("data-type", type || "string");
      box.append(field(name + (req.has(name) ? " *" : "") + (p.description ? " — " + p.description : ""), input));
    }
  }
  $("tryTool").addEventListener("change", renderTryArgs);
  function tryArgs() {
    const out = {};
    for (const i of document.querySelectorAll("#tryArgs [data-arg]")) {
      const name = i.getAttribute("data-arg"); const type = i.getAttribute("data-type");
      if (type === "boolean") { if (i.checked) out[name] = true; continue; }
      if (i.value === "") continue;
      if (type === "number" || type === "integer") out[name] = Number(i.value);
      else if (type === "object" || type === "array") { try { out[name] = JSON.parse(i.value); } catch { throw new Error(name + " is not valid JSON"); } }
      else out[name] = i.value;
    }
    return out;
  }
  function sideView(title, side, issues) {
    const box = el("div", { class: "side", "data-side": title.toLowerCase() }, el("h4", {}, title + (side ? " · " + short(side.version) : "")));
    if (!side) { box.append(el("div", { class: "bad" }, "The draft is not valid:"), el("ul", { class: "reasons" }, (issues || []).map((i) => el("li", {}, i.path + ": " + i.message)))); return box; }
    const d = side.decision;
    const label = d.effect === "require_approval" ? "approval" : d.code === "RATE_LIMITED" ? "rate-limited" : d.effect;
    box.append(el("div", {}, el("span", { class: "act " + (d.effect === "allow" ? "allow" : d.effect === "deny" ? "deny" : "approval"), "data-effect": d.effect }, label), " ", el("span", { class: "mono small" }, d.code)),
      el("div", { class: "reason" }, d.reason), el("span", { class: "rule-id" }, d.ruleId));
    if (d.shadow) box.append(el("div", { class: "claim" }, "shadow: would have been " + d.shadow.effect));
    for (const l of d.limits) box.append(el("div", { class: "small" }, l.counter + ": " + l.used + " / " + l.max + " used now"));
    box.append(el("table", { class: "trace" }, el("tbody", {}, side.trace.map((s) => el("tr", {}, el("td", {}, s.step), el("td", {}, s.result), el("td", {}, s.detail))))));
    return box;
  }
  $("tryBtn").addEventListener("click", async () => {
    const out = $("tryResult"); out.replaceChildren();
    let args;
    try { args = tryArgs(); } catch (e) { out.append(el("div", { class: "msg err" }, e.message)); return; }
    const r = await api("/try", { grant: S.grant, text: S.text, format: S.format, tool: $("tryTool").value, arguments: args });
    if (!r.ok) { out.append(el("div", { class: "msg err" }, r.body.message || "failed")); return; }
    out.append(sideView("Draft", r.body.draft, r.body.issues), sideView("Live", r.body.live));
  });

  // ---------- tests ----------
  $("testBtn").addEventListener("click", async () => {
    const out = $("testResult"); out.replaceChildren();
    const r = await api("/test", { grant: S.grant, text: S.text, format: S.format });
    if (!r.ok) {
      out.append(el("div", { class: "msg err" }, r.body.message || "failed", (r.body.issues || []).map((i) => el("div", { class: "small" }, (i.path ? i.path + ": " : "") + i.message + (i.fix ? " (fix: " + i.fix + ")" : "")))));
      return;
    }
    const rep = r.body.draft;
    out.append(el("div", { id: "testSummary", class: "msg " + (rep.ok ? "ok" : "err"), "data-ok": String(rep.ok) }, rep.passed + " passed, " + rep.failed + " failed on the draft (" + r.body.file + "); the live policy: " + r.body.live.passed + "/" + r.body.live.total),
      el("table", { class: "cases" }, el("tbody", {}, rep.results.map((c) => el("tr", { "data-case": c.name },
        el("td", { class: c.ok ? "pass" : "fail" }, c.ok ? "PASS" : "FAIL"), el("td", {}, c.name), el("td", { class: "muted" }, c.ok ? (c.last ? c.last.effect + " (" + c.last.code + ")" : "") : c.message))))));
  });

  // ---------- diff and publish ----------
  function updatePublish() {
    const live = S.live;
    const btn = $("publishBtn");
    const changed = live && S.text !== live.text;
    btn.disabled = !live || live.readOnly || !S.valid || (!changed && !$("shadow").checked);
    $("publishNote").textContent = !live ? "" : live.readOnly
      ? "This grant runs on the built-in default policy, which the studio never overwrites: copy it next to your config and set policy: <file>."
      : !S.valid ? "Fix the problems first: an invalid draft cannot be published."
      : !changed ? "The draft is the file on disk." : "Writes " + live.policy + " atomically; the gateway applies it to the next call" + (live.sharedWith.length ? " (also for " + live.sharedWith.join(", ") + ")" : "") + ".";
  }
  $("shadow").addEventListener("change", updatePublish);
  $("diffBtn").addEventListener("click", async () => {
    const pre = $("diff"); pre.replaceChildren(); pre.hidden = false;
    const r = await api("/diff", { grant: S.grant, text: S.text, format: S.format, shadow: $("shadow").checked });
    if (!r.ok) { pre.append(el("span", { class: "del" }, r.body.message || "failed")); return; }
    if (r.body.same) pre.append(el("span", {}, "No changes."));
    for (const l of r.body.lines) pre.append(el("span", { class: l.op === "+" ? "add" : l.op === "-" ? "del" : "" }, (l.op === "=" ? "  " : l.op + " ") + l.text));
    if (r.body.notShadowed.length) pre.append(el("span", { class: "del" }, "not shadowed (applies at once): " + r.body.notShadowed.join(", ")));
  });
  $("publishBtn").addEventListener("click", async () => {
    const out = $("publishResult"); out.replaceChildren();
    $("publishBtn").disabled = true;
    const r = await api("/publish", { grant: S.grant, text: S.text, format: S.format, baseHash: S.live.hash, shadow: $("shadow").checked, note: $("note").value || undefined });
    if (!r.ok) {
      out.append(el("div", { class: "msg err", "data-published": "false" }, r.body.message || "failed", (r.body.issues || []).map((i) => el("div", { class: "small" }, (i.path ? i.path + ": " : "") + i.message + (i.fix ? " (fix: " + i.fix + ")" : "")))));
      updatePublish();
      return;
    }
    const p = r.body;
    await loadPolicy();
    await loadTools(false);
    out.append(el("div", { class: "msg ok", "data-published": "true" }, "Published " + p.policy + (p.shadow ? " (changed rules in shadow mode)" : "") + ": version " + short(p.version) + " is in force. Audit: " + short(p.previousHash) + " → " + short(p.hash) + "."));
    $("diff").hidden = true;
  });

  // ---------- loading ----------
  async function loadPolicy() {
    const r = await api("/policy?grant=" + encodeURIComponent(S.grant));
    if (!r.ok) throw new Error(r.body.message || "cannot load the policy");
    S.live = r.body;
    S.format = S.live.format;
    S.text = S.live.text;
    $("raw").value = S.text;
    $("liveVersion").textContent = "in force " + short(S.live.version) + (S.live.inForce ? "" : " (the file holds a refused edit)");
    $("testNote").textContent = S.live.tests ? "Runs " + S.live.tests + " against the draft, with a fake clock and fresh counters." : "No test file next to " + S.live.policy + ": add " + S.live.policy.replace(/\.[^.]+$/, "") + ".test.yaml to run tests here.";
    $("testBtn").disabled = !S.live.tests;
    renderFormat();
    const v = await api("/validate", { text: S.text, format: S.format });
    S.doc = v.body.value !== undefined ? v.body.value : null;
    S.issues = v.body.issues || []; S.valid = v.ok && v.body.ok === true; S.version = v.body.version || "";
    setValidity(S.valid); renderIssues(); renderForm(); updatePublish();
  }
  async function loadTools(refresh) {
    setStatus(refresh ? "listing upstreams…" : "loading…");
    const r = await api("/tools?grant=" + encodeURIComponent(S.grant) + (refresh ? "&refresh=1" : ""));
    if (!r.ok) { setStatus(r.body.message || "failed"); return; }
    S.tools = r.body.tools; S.upstreams = r.body.upstreams;
    renderTools(); renderTryTools();
    if (S.doc) renderForm();
    setStatus("listed " + new Date(r.body.listedAt).toLocaleTimeString([], { hour12: false }));
  }
  async function selectGrant(name) {
    S.grant = name;
    await loadTools(false);
    await loadPolicy();
  }
  $("grant").addEventListener("change", (e) => selectGrant(e.target.value).catch((err) => setStatus(err.message)));
  setInterval(() => { if (!$("app").hidden && S.tab === "tools" && S.grant) loadTools(false).catch(() => {}); }, 10000);

  async function start() {
    if (!token) { showLogin(); return; }
    let r;
    try { r = await api("/grants"); } catch { return; }
    if (!r.ok) { setStatus(r.body.message || "failed"); return; }
    S.grants = r.body.grants;
    $("login").hidden = true; $("app").hidden = false;
    const sel = $("grant");
    sel.replaceChildren(...S.grants.map((g) => el("option", { value: g.grant }, g.grant + " · " + g.policy)));
    if (!S.grants.some((g) => g.grant === S.grant)) S.grant = S.grants.length ? S.grants[0].grant : "";
    sel.value = S.grant;
    setTab(S.tab);
    if (S.grant) await selectGrant(S.grant).catch((err) => setStatus(err.message));
  }
  start();
})();
`;
