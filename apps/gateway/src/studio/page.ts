import { ACTIONS_JS } from "./page/script-actions.js";
import { EDITOR_JS } from "./page/script-editor.js";
import { VIEWS_JS } from "./page/script-views.js";

// The policy studio page by job: markup (page/markup.ts), stylesheet (page/styles.ts)
// and the client script in three parts sharing one scope (page/script-*.ts).

export { STUDIO_HTML } from "./page/markup.js";
export { STUDIO_CSS } from "./page/styles.js";

/**
 * The studio script. Written without template literals (it is embedded as a string)
 * and without any HTML sink: every node is created, every text set with textContent.
 */
export const STUDIO_JS = `(() => {\n${VIEWS_JS}${EDITOR_JS}${ACTIONS_JS}})();\n`;
