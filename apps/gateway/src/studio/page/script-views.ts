// One part of the studio's client script (see ../page.ts): plain JavaScript in a string,
// without template literals and without any HTML sink. The parts share one scope: they
// are joined, in order, inside the script's single function.

/** Set-up (token, API, state, helpers), tabs, the tools view and the editor's document helpers. */
export const VIEWS_JS = `  "use strict";
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

`;
