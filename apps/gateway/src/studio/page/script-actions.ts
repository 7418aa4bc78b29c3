// One part of the studio's client script (see ../page.ts): plain JavaScript in a string,
// without template literals and without any HTML sink. The parts share one scope: they
// are joined, in order, inside the script's single function.

/** Trying a call, policy tests, diff and publish, loading and start-up. */
export const ACTIONS_JS = String.raw`  // ---------- try a call ----------
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
`;
