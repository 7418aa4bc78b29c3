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
