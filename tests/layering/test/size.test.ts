/**
 * The size budget (`pnpm check:size`, scripts/check-size.ts) is a CI gate like the
 * fences: these cases prove it counts what it claims and skips what is not source.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkSize, isSourcePath, measureSource } from "../../../scripts/check-size.js";

const lines = (n: number, text = "x;") => Array.from({ length: n }, () => text).join("\n");
const fn = (name: string, bodyLines: number) => `function ${name}() {\n${lines(bodyLines)}\n}`;

describe("measureSource", () => {
  it("flags a file over 450 lines and not one of exactly 450", () => {
    expect(measureSource("a.ts", `${lines(450)}\n`)).toEqual([]);
    const [o] = measureSource("a.ts", lines(451));
    expect(o).toMatchObject({ key: "a.ts", kind: "file", lines: 451, max: 450 });
  });

  it("counts a function from its first line to its closing brace, nested ones included", () => {
    expect(measureSource("a.ts", fn("ok", 78))).toEqual([]); // 80 lines
    const big = `export const outer = () => {\n${fn("inner", 40)}\n${lines(40)}\n};`;
    expect(measureSource("a.ts", big)).toEqual([
      { key: "a.ts#outer", kind: "function", line: 1, lines: 84, max: 80 },
    ]);
  });

  it("names methods by class, including private and computed names", () => {
    const text = `class Store {\n  #reserve() {\n${lines(80)}\n  }\n  [Symbol.iterator]() {\n${lines(80)}\n  }\n}`;
    expect(measureSource("s.ts", text).map((o) => o.key)).toEqual([
      "s.ts#Store.#reserve",
      "s.ts#Store.[Symbol.iterator]",
    ]);
  });

  it("is not fooled by braces in strings and templates", () => {
    const text = `function f() {\n  const s = "}}}";\n  const t = \`\${"{"}\`;\n${lines(80)}\n}`;
    expect(measureSource("a.ts", text)).toHaveLength(1);
  });
});

describe("isSourcePath", () => {
  it.each([
    ["packages/x/src/a.ts", true],
    ["apps/gateway/src/studio/page.ts", true],
    ["scripts/check-size.ts", true],
    ["packages/x/src/a.test.ts", false],
    ["packages/x/test/helpers.ts", false],
    ["tests/layering/test/size.test.ts", false],
    ["bench/run.ts", false],
    ["packages/x/bench/b.ts", false],
    ["packages/x/src/fixtures/big.ts", false],
    ["packages/x/dist/index.js", false],
    ["packages/x/dist/index.d.ts", false],
    ["README.md", false],
  ])("%s -> %s", (path, expected) => {
    expect(isSourcePath(path)).toBe(expected);
  });
});

describe("checkSize over a repository", () => {
  const root = mkdtempSync(join(tmpdir(), "size-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("fails new offenders, passes allowed ones and reports stale allow entries", () => {
    execFileSync("git", ["init", "-q"], { cwd: root });
    mkdirSync(join(root, "src"), { recursive: true });
    mkdirSync(join(root, "test"), { recursive: true });
    writeFileSync(join(root, "src/big.ts"), lines(500));
    writeFileSync(join(root, "src/fn.ts"), fn("long", 100));
    writeFileSync(join(root, "test/huge.ts"), lines(900));
    const report = checkSize(root, {
      "src/fn.ts#long": "kept for now",
      "src/gone.ts": "was fixed",
    });
    expect(report.failing.map((o) => o.key)).toEqual(["src/big.ts"]);
    expect(report.allowed.map((o) => o.key)).toEqual(["src/fn.ts#long"]);
    expect(report.stale).toEqual(["src/gone.ts"]);
  });
});
