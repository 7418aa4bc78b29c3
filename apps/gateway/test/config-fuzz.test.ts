// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the config language writes ${ENV} references in plain strings
// Hostile config files: whatever the file holds, start-up either gets a usable config or
// a GatewayError with a stable code and issues that name a path; nothing else escapes.
// Secrets referenced through ${ENV} may end up at any path, valid or not: no message may
// ever repeat them.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadGatewayConfig } from "../src/config.js";
import { formatIssues, GatewayError } from "../src/errors.js";

const SECRET = "cfg-fuzz-secret-8d1f4a7c2e9b6035";
const ENV = {
  TOOLGATE_API_KEY: SECRET,
  REDIS_PASSWORD: SECRET,
  UPSTREAM_TOKEN: SECRET,
  TOOLGATE_ADMIN_TOKEN: SECRET,
};
const CODES = new Set(["CONFIG_INVALID", "CONFIG_ENV_MISSING", "CONFIG_UNREADABLE"]);

const GOOD = {
  listen: { host: "127.0.0.1", port: 8080 },
  upstreams: [
    { name: "binance-us", builtin: "binance-us" },
    {
      name: "docs",
      url: "http://127.0.0.1:3001/mcp",
      headers: { Authorization: "Bearer ${UPSTREAM_TOKEN}" },
    },
    { name: "local", command: "node", args: ["server.js"] },
  ],
  grants: { demo: { apiKey: "${TOOLGATE_API_KEY}", policy: "policy.json" } },
  store: "redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0?prefix=tg:&fail=open",
  approvals: { timeoutMs: 55000, progressMs: 5000, elicitation: true },
  allowedOrigins: ["http://localhost:6274"],
  audit: { path: "audit.jsonl", maxBytes: 10485760, keep: 5 },
  shutdownGraceMs: 10000,
};

function paths(v: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [prefix];
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) out.push(...paths(x, [...prefix, i]));
  } else if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  }
  return out;
}

function setAt(root: unknown, path: Array<string | number>, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let cur = copy;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[path[path.length - 1] as string | number] = value;
  return copy;
}

/** Loads `text` as the config file; returns "ok" or the GatewayError (anything else throws). */
function load(text: string): "ok" | GatewayError {
  const cwd = mkdtempSync(join(tmpdir(), "toolgate-cfgfuzz-"));
  writeFileSync(join(cwd, "toolgate.config.yaml"), text);
  try {
    loadGatewayConfig({ cwd, env: ENV });
    return "ok";
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    return err;
  }
}

function expectWellFormed(err: GatewayError): void {
  expect(CODES.has(err.code)).toBe(true);
  if (err.code !== "CONFIG_UNREADABLE") expect(err.issues.length).toBeGreaterThan(0);
  for (const i of err.issues) {
    expect(typeof i.path).toBe("string");
    expect(i.message.length).toBeGreaterThan(0);
  }
  // What start-up prints: the message and every issue. None may carry a secret.
  const printed = `${err.message}\n${formatIssues(err.issues)}`;
  expect(printed).not.toContain(SECRET);
  expect(printed).not.toContain(SECRET.slice(0, 12));
}

const PATHS = paths(GOOD);

describe("hostile config files", () => {
  // A YAML quirk must become a GatewayError, not a stray process warning on stderr.
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  beforeAll(() => {
    process.on("warning", onWarning);
  });
  afterAll(() => {
    process.off("warning", onWarning);
    expect(warnings).toEqual([]);
  });

  it("refuses an unknown YAML tag instead of reading it as a string", () => {
    const r = load("listen: { host: !!hostname 127.0.0.1 }\n");
    expect(r).not.toBe("ok");
    expect((r as GatewayError).code).toBe("CONFIG_INVALID");
    expect((r as GatewayError).issues[0]?.message).toMatch(/tag/i);
  });

  it("arbitrary text: a config or a GatewayError with issues by path", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: "binary" }),
          fc.json(),
          fc
            .array(
              fc.tuple(
                fc.constantFrom("listen", "store", "grants", "upstreams", "audit", "  - ", "x"),
                fc.constantFrom(
                  ": ",
                  ":",
                  ": [",
                  ": {",
                  ": &a",
                  ": *a",
                  ": ${",
                  ": ${TOOLGATE_API_KEY}",
                ),
                fc.string(),
              ),
              { maxLength: 8 },
            )
            .map((lines) => lines.map((l) => l.join("")).join("\n")),
        ),
        (text) => {
          const r = load(text);
          if (r !== "ok") expectWellFormed(r);
        },
      ),
      { numRuns: 250 },
    );
  });

  it("a good config with one value replaced (secrets included) never echoes a secret", () => {
    expect(load(stringify(GOOD))).toBe("ok");
    fc.assert(
      fc.property(
        fc.constantFrom(...PATHS),
        fc.oneof(
          fc.jsonValue(),
          fc.constantFrom(
            "${TOOLGATE_API_KEY}",
            "prefix-${REDIS_PASSWORD}-suffix",
            { Authorization: "${UPSTREAM_TOKEN}" },
            ["${TOOLGATE_ADMIN_TOKEN}"],
            "${NOT_SET}",
            "${",
            "redis://:${REDIS_PASSWORD}@",
            "redis://h:${REDIS_PASSWORD}/x?fail=maybe",
            -1,
            70000,
            "",
          ),
        ),
        (path, value) => {
          const r = load(stringify(setAt(GOOD, path, value)));
          if (r !== "ok") expectWellFormed(r);
        },
      ),
      { numRuns: 300 },
    );
  });
});
