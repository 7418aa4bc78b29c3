// One part of the studio's client script (see ../page.ts): plain JavaScript in a string,
// without template literals and without any HTML sink. The parts share one scope: they
// are joined, in order, inside the script's single function.

/** The rule form and keeping form and raw text in sync. */
export const EDITOR_JS = String.raw`  // ---------- editor: form ----------
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

`;
