/**
 * Size budget of the source: no file over MAX_FILE_LINES lines and no function (function
 * declaration or expression, arrow, method, accessor, constructor) over
 * MAX_FUNCTION_LINES lines. Tests, test folders, benchmarks, fixtures and build output
 * are not source. A function's size is its whole text from its first token to its
 * closing brace, nested functions included, so a factory returning twenty closures
 * counts as the big thing it is.
 *
 * Run with `pnpm check:size`; it prints every offender and exits 1 when one is not in
 * ALLOWED below. Parsing uses the TypeScript compiler, so it never miscounts a brace in a
 * string or a template.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";

/** Longest source file, in lines. */
export const MAX_FILE_LINES = 450;
/** Longest function, in lines. */
export const MAX_FUNCTION_LINES = 80;

/**
 * Known offenders that may stay for now, each with why. Keys are a path, or
 * `path#function` for one function. An entry that no longer offends is reported so it
 * can be removed.
 */
export const ALLOWED: Readonly<Record<string, string>> = {};

const SOURCE_EXT = /\.(?:[cm]?ts|tsx|[cm]?js|jsx)$/;
const NOT_SOURCE = [
  /(?:^|\/)node_modules\//,
  /(?:^|\/)dist\//,
  /(?:^|\/)bench\//,
  /(?:^|\/)tests?\//,
  /(?:^|\/)__tests__\//,
  /(?:^|\/)fixtures?\//,
  /\.(?:test|spec|bench)\.[cm]?[jt]sx?$/,
  /\.d\.[cm]?ts$/,
];

/** Whether a repository-relative path is source that the budget applies to. */
export function isSourcePath(path: string): boolean {
  return SOURCE_EXT.test(path) && !NOT_SOURCE.some((re) => re.test(path));
}

/** One file or function over its budget. */
export interface Offender {
  /** `path` for a file, `path#name` for a function (the key ALLOWED uses). */
  readonly key: string;
  readonly kind: "file" | "function";
  /** 1-based line where it starts. */
  readonly line: number;
  readonly lines: number;
  readonly max: number;
}

function lineOf(sf: ts.SourceFile, pos: number): number {
  return sf.getLineAndCharacterOfPosition(pos).line + 1;
}

function propertyName(
  sf: ts.SourceFile,
  name: ts.PropertyName | ts.BindingName | undefined,
): string | undefined {
  if (name === undefined) return undefined;
  if (ts.isIdentifier(name) || ts.isPrivateIdentifier(name)) return name.getText(sf);
  if (ts.isStringLiteral(name) || ts.isNumericLiteral(name)) return name.text;
  if (ts.isComputedPropertyName(name)) return name.getText(sf);
  return undefined;
}

/** A readable name: `fn`, `Class.method`, `outer.inner`, or `<anonymous>@line`. */
function functionName(sf: ts.SourceFile, node: ts.FunctionLikeDeclaration): string {
  let own: string | undefined;
  if (ts.isConstructorDeclaration(node)) own = "constructor";
  else own = propertyName(sf, node.name);
  const parent = node.parent;
  if (own === undefined) {
    if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent))
      own = propertyName(sf, parent.name);
    else if (ts.isPropertyDeclaration(parent)) own = propertyName(sf, parent.name);
    else if (ts.isExportAssignment(parent)) own = "default";
  }
  if (ts.isClassLike(parent) && parent.name !== undefined)
    own = `${parent.name.text}.${own ?? "<anonymous>"}`;
  return own ?? `<anonymous>@${lineOf(sf, node.getStart(sf))}`;
}

/** Offenders in one file's text; `path` is only used to name them. */
export function measureSource(
  path: string,
  text: string,
  limits = { file: MAX_FILE_LINES, fn: MAX_FUNCTION_LINES },
): Offender[] {
  const out: Offender[] = [];
  // A trailing newline ends the last line; it does not start another.
  const fileLines = text.length === 0 ? 0 : text.replace(/\r?\n$/, "").split(/\r\n|\r|\n/).length;
  if (fileLines > limits.file)
    out.push({ key: path, kind: "file", line: 1, lines: fileLines, max: limits.file });
  const kind = /\.[cm]?tsx$|\.jsx$/.test(path) ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, kind);
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && "body" in node && node.body !== undefined) {
      const fn = node as ts.FunctionLikeDeclaration;
      const start = lineOf(sf, fn.getStart(sf));
      const lines = lineOf(sf, fn.getEnd()) - start + 1;
      if (lines > limits.fn)
        out.push({
          key: `${path}#${functionName(sf, fn)}`,
          kind: "function",
          line: start,
          lines,
          max: limits.fn,
        });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** Tracked and new (not ignored) source files of the repository, relative to `root`. */
export function sourceFiles(root: string): string[] {
  const listed = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return listed
    .split("\n")
    .filter((p) => p !== "" && isSourcePath(p))
    .sort();
}

/** What the check found: offenders split into new and allowed, and stale allow entries. */
export interface SizeReport {
  readonly checked: number;
  readonly failing: readonly Offender[];
  readonly allowed: readonly (Offender & { readonly why: string })[];
  readonly stale: readonly string[];
}

/** Measures every source file under `root` against the budget and ALLOWED. */
export function checkSize(
  root: string,
  allowed: Readonly<Record<string, string>> = ALLOWED,
): SizeReport {
  const files = sourceFiles(root);
  const failing: Offender[] = [];
  const ok: (Offender & { why: string })[] = [];
  const hit = new Set<string>();
  for (const path of files) {
    let text: string;
    try {
      text = readFileSync(
        new URL(path, `file://${root.endsWith("/") ? root : `${root}/`}`),
        "utf8",
      );
    } catch {
      continue; // listed by git but deleted in the work tree
    }
    for (const o of measureSource(path, text)) {
      const path = pathOf(o.key);
      const why = allowed[o.key] ?? allowed[path];
      if (why === undefined) failing.push(o);
      else {
        ok.push({ ...o, why });
        hit.add(allowed[o.key] !== undefined ? o.key : path);
      }
    }
  }
  const stale = Object.keys(allowed).filter((k) => !hit.has(k));
  return { checked: files.length, failing, allowed: ok, stale };
}

/** The path part of an offender key (a private method's name has its own `#`). */
function pathOf(key: string): string {
  const at = key.indexOf("#");
  return at === -1 ? key : key.slice(0, at);
}

function describe(o: Offender): string {
  const path = pathOf(o.key);
  const what = o.kind === "file" ? "file" : `function ${o.key.slice(path.length + 1)}`;
  return `${path}:${o.line}  ${what}: ${o.lines} lines (max ${o.max})`;
}

function main(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const report = checkSize(root);
  for (const o of report.failing) console.log(`over  ${describe(o)}`);
  for (const o of report.allowed) console.log(`allow ${describe(o)}  -- ${o.why}`);
  for (const k of report.stale)
    console.log(`stale ${k} is within budget now; remove it from ALLOWED in scripts/check-size.ts`);
  console.log(
    `check:size: ${report.checked} source files, ${report.failing.length} over budget, ` +
      `${report.allowed.length} allowed (files <= ${MAX_FILE_LINES} lines, functions <= ${MAX_FUNCTION_LINES})`,
  );
  if (report.failing.length > 0) {
    console.log(
      "Split the offender by job (see docs/architecture.md), or, when it belongs to work " +
        "in progress elsewhere, add it to ALLOWED with a TODO saying whose it is.",
    );
    process.exitCode = 1;
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
