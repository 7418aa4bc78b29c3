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
