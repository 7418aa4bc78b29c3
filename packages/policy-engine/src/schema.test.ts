import { describe, expect, it } from "vitest";
import { createAjv } from "./ajv.js";
import { compilePolicy } from "./compile.js";
import { PolicyError } from "./errors.js";
import { loadPolicyFile, mergePolicies, parsePolicyText } from "./policy-text.js";
import { type PolicyDocument, parsePolicy, policyJsonSchema } from "./schema.js";

const T = "tools.t";
const lim = { counter: "c", window: "minute", max: 1 };
const withRule = (rule: unknown) => ({ version: "1", tools: { t: rule } });
const withLimit = (patch: Record<string, unknown>) => withRule({ limits: [{ ...lim, ...patch }] });
const withCond = (c: unknown) => withRule({ require: [c] });

function issuesOf(input: unknown) {
  try {
    parsePolicy(input, "bad.json");
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    const e = err as PolicyError;
    expect(e.code).toBe("POLICY_INVALID");
    expect(e.message).toContain("bad.json");
    for (const i of e.issues) {
      expect(i.message.length).toBeGreaterThan(0);
      expect(i.fix.length).toBeGreaterThan(0);
    }
    return e.issues;
  }
  throw new Error("policy was accepted");
}

// [name, policy, expected path, a fragment of the message or fix]
const MALFORMED: [string, unknown, string, string][] = [
  ["not an object", [], "", "must be an object"],
  ["null", null, "", "must be an object"],
  ["missing version", { tools: {} }, "version", 'missing required "version"'],
  ["wrong version", { version: "2" }, "version", 'set "version": "1"'],
  ["numeric version", { version: 1 }, "version", 'set "version": "1"'],
  ["bad default", { version: "1", default: "maybe" }, "default", '"allow" or "deny"'],
  ["unknown root key", { version: "1", tool: {} }, "tool", 'did you mean "tools"?'],
  ["unknown far key", { version: "1", zzzzzz: 1 }, "zzzzzz", "allowed keys here"],
  ["tools is a list", { version: "1", tools: [] }, "tools", "map tool names"],
  ["empty tool key", { version: "1", tools: { "": {} } }, 'tools[""]', "tool key is empty"],
  ["rule not object", withRule("allow"), T, "use an object"],
  ["bad action", withRule({ action: "block" }), `${T}.action`, '"require_approval"'],
  ["unknown rule key", withRule({ actoin: "deny" }), `${T}.actoin`, 'did you mean "action"?'],
  ["bad mode", withRule({ mode: "dry-run" }), `${T}.mode`, '"shadow"'],
  ["reason not string", withRule({ reason: 5 }), `${T}.reason`, "string"],
  ["limits not list", withRule({ limits: lim }), `${T}.limits`, "list of limits"],
  ["bad window", withLimit({ window: "fortnight" }), `${T}.limits[0].window`, '"15m"'],
  ["zero window", withLimit({ window: "0s" }), `${T}.limits[0].window`, "not a window"],
  ["window unit", withLimit({ window: "10 minutes" }), `${T}.limits[0].window`, "not a window"],
  ["window number", withLimit({ window: 60 }), `${T}.limits[0].window`, '"minute"'],
  [
    "prototype key as window",
    withLimit({ window: "__proto__" }),
    `${T}.limits[0].window`,
    "not a window",
  ],
  ["max zero", withLimit({ max: 0 }), `${T}.limits[0].max`, "at least 1"],
  ["max fraction", withLimit({ max: 1.5 }), `${T}.limits[0].max`, "whole number"],
  ["max string", withLimit({ max: "10" }), `${T}.limits[0].max`, "whole number"],
  ["bad scope", withLimit({ scope: "person" }), `${T}.limits[0].scope`, '"session"'],
  ["counter with |", withLimit({ counter: "a|b" }), `${T}.limits[0].counter`, "letters"],
  [
    "missing counter",
    withRule({ limits: [{ window: "minute", max: 1 }] }),
    `${T}.limits[0].counter`,
    'missing required "counter"',
  ],
  [
    "missing max",
    withRule({ limits: [{ counter: "c", window: "minute" }] }),
    `${T}.limits[0].max`,
    'missing required "max"',
  ],
  [
    "unknown limit key",
    withLimit({ windw: "minute" }),
    `${T}.limits[0].windw`,
    'did you mean "window"?',
  ],
  [
    "increment_from not args",
    withLimit({ increment_from: "amount" }),
    `${T}.limits[0].increment_from`,
    'start with "args."',
  ],
  [
    "increment_from empty segment",
    withLimit({ increment_from: "args..a" }),
    `${T}.limits[0].increment_from`,
    "empty segment",
  ],
  [
    "condition bad op",
    withCond({ path: "args.a", op: "like", value: 1 }),
    `${T}.require[0].op`,
    '"regex"',
  ],
  [
    "condition bad path",
    withCond({ path: "a", op: "eq", value: 1 }),
    `${T}.require[0].path`,
    "args.",
  ],
  [
    "condition eq no value",
    withCond({ path: "args.a", op: "eq" }),
    `${T}.require[0].value`,
    'add "value"',
  ],
  [
    "condition in not list",
    withCond({ path: "args.a", op: "in", value: "x" }),
    `${T}.require[0].value`,
    "list",
  ],
  [
    "condition lt object",
    withCond({ path: "args.a", op: "lt", value: {} }),
    `${T}.require[0].value`,
    "number",
  ],
  [
    "condition bad regex",
    withCond({ path: "args.a", op: "regex", value: "(" }),
    `${T}.require[0].value`,
    "invalid regular expression",
  ],
  [
    "condition exists string",
    withCond({ path: "args.a", op: "exists", value: "yes" }),
    `${T}.require[0].value`,
    "true or false",
  ],
  [
    "condition unknown key",
    withCond({ path: "args.a", op: "exists", valeu: 1 }),
    `${T}.require[0].valeu`,
    'did you mean "value"?',
  ],
  ["deny_if not list", withRule({ deny_if: {} }), `${T}.deny_if`, "list of conditions"],
  [
    "arguments invalid schema",
    withRule({ arguments: { type: "strnig" } }),
    `${T}.arguments`,
    "invalid JSON Schema",
  ],
  [
    "arguments not object",
    withRule({ arguments: "object" }),
    `${T}.arguments`,
    "JSON Schema object",
  ],
  ["hide not list", { version: "1", hide: "x" }, "hide", "list tool names"],
  ["hide empty entry", { version: "1", hide: [""] }, "hide[0]", "must not be empty"],
  [
    "all_tools unknown key",
    { version: "1", all_tools: { limit: [] } },
    "all_tools.limit",
    'did you mean "limits"?',
  ],
  [
    "counter reused with another window",
    { version: "1", tools: { a: { limits: [lim] }, b: { limits: [{ ...lim, window: "hour" }] } } },
    "tools.b.limits[0]",
    'window "hour" vs "minute"',
  ],
  [
    "counter reused with another max and scope",
    {
      version: "1",
      all_tools: { limits: [lim] },
      tools: { b: { limits: [{ ...lim, max: 2, scope: "global" }] } },
    },
    "tools.b.limits[0]",
    "all_tools.limits[0]",
  ],
  [
    "dotted tool key path",
    { version: "1", tools: { "a.b": { action: "x" } } },
    'tools["a.b"].action',
    "require_approval",
  ],
];

describe("malformed policies are rejected with the path, the problem and the fix", () => {
  it("has at least 30 cases", () => expect(MALFORMED.length).toBeGreaterThanOrEqual(30));

  it.each(MALFORMED)("%s", (_name, input, path, fragment) => {
    const issues = issuesOf(input);
    const hit = issues.find((i) => i.path === path);
    expect(hit, `paths: ${issues.map((i) => i.path).join(", ")}`).toBeDefined();
    expect(`${hit?.message} | ${hit?.fix}`).toContain(fragment);
  });

  it("collects every problem, not just the first", () => {
    const issues = issuesOf({
      version: "2",
      default: "nope",
      tools: {
        a: { action: "x", limits: [{ counter: "c", window: "bad", max: -1 }] },
        b: { require: [{ path: "x", op: "eq", value: 1 }] },
      },
    });
    expect(issues.map((i) => i.path).sort()).toEqual(
      [
        "default",
        "tools.a.action",
        "tools.a.limits[0].max",
        "tools.a.limits[0].window",
        "tools.b.require[0].path",
        "version",
      ].sort(),
    );
  });

  it("rejects two argument schemas sharing one $id at compile time", () => {
    const schema = { $id: "urn:x", type: "object" };
    expect(() =>
      compilePolicy({
        version: "1",
        tools: { a: { arguments: schema }, b: { arguments: schema } },
      }),
    ).toThrow(
      expect.objectContaining({
        code: "POLICY_INVALID",
        message: expect.stringContaining("tools.b.arguments"),
      }),
    );
  });

  it("compilePolicy re-validates hand-built documents", () => {
    const doc = { version: "1", tools: { t: { action: "nope" } } } as unknown as PolicyDocument;
    expect(() => compilePolicy(doc)).toThrow(/tools\.t\.action/);
  });
});

describe("parsing text and files", () => {
  it("reads YAML and JSON to the same document and version", () => {
    const yaml = `version: "1"\ndefault: deny\ntools:\n  t:\n    limits:\n      - { counter: c, window: 15m, max: 3 }\n`;
    const json = JSON.stringify({
      tools: { t: { limits: [{ max: 3, window: "15m", counter: "c" }] } },
      default: "deny",
      version: "1",
    });
    const a = parsePolicyText(yaml, { source: "p.yaml" });
    const b = parsePolicyText(json);
    expect(a).toEqual(b);
    expect(compilePolicy(a).version).toBe(compilePolicy(b).version);
    expect(compilePolicy({ ...a, default: "allow" }).version).not.toBe(compilePolicy(a).version);
  });

  it("reports syntax errors as POLICY_PARSE with the source", () => {
    expect(() => parsePolicyText("{ nope", { source: "x.json" })).toThrow(
      expect.objectContaining({ code: "POLICY_PARSE", message: expect.stringContaining("x.json") }),
    );
    expect(() => parsePolicyText("a: [", { format: "yaml" })).toThrow(
      expect.objectContaining({ code: "POLICY_PARSE" }),
    );
  });

  it("rejects duplicate keys in JSON and YAML instead of keeping the last one", () => {
    const json = `{ "version": "1",\n  "tools": {\n    "t": { "action": "deny" },\n    "t": {} } }`;
    let err: unknown;
    try {
      parsePolicyText(json, { source: "dup.json" });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: "POLICY_PARSE" });
    expect((err as PolicyError).issues).toEqual([
      expect.objectContaining({
        path: "tools.t",
        message: 'duplicate key "t" at line 4, column 5',
      }),
    ]);
    const nested = JSON.stringify({
      version: "1",
      tools: { t: { limits: [{ counter: "a" }, { counter: "b", window: "minute" }] } },
    }).replace('"window"', '"max": 1, "max"');
    expect(() => parsePolicyText(nested)).toThrow(
      expect.objectContaining({
        issues: [expect.objectContaining({ path: "tools.t.limits[1].max" })],
      }),
    );
    // Equal keys in different objects, and strings that look like keys, are fine.
    expect(() =>
      parsePolicyText(
        '{"version":"1","tools":{"a":{"reason":"b, \\"a\\": 1"},"b":{"reason":"a"}}}',
      ),
    ).not.toThrow();
    expect(() =>
      parsePolicyText('version: "1"\ntools:\n  t: { action: deny }\n  t: {}\n', {
        format: "yaml",
      }),
    ).toThrow(expect.objectContaining({ code: "POLICY_PARSE" }));
  });

  it("accepts YAML anchors, aliases and merge keys", () => {
    const yaml = [
      'version: "1"',
      "tools:",
      "  a: &guarded",
      "    action: require_approval",
      "    limits: [{ counter: shared, window: minute, max: 5 }]",
      "  b: *guarded",
      "  c:",
      "    <<: *guarded",
      "    reason: c needs a person",
      "",
    ].join("\n");
    const doc = parsePolicyText(yaml, { format: "yaml" });
    expect(doc.tools?.b).toEqual(doc.tools?.a);
    expect(doc.tools?.c).toMatchObject({ action: "require_approval", reason: "c needs a person" });
  });

  it("reports unreadable files as POLICY_IO", async () => {
    await expect(loadPolicyFile("does-not-exist.json")).rejects.toMatchObject({
      code: "POLICY_IO",
      message: expect.stringContaining("ENOENT"),
    });
  });
});

describe("mergePolicies", () => {
  const a: PolicyDocument = { version: "1", default: "deny", hide: ["h"], tools: { a: {} } };
  const b: PolicyDocument = {
    version: "1",
    default: "deny",
    hide: ["h", "i"],
    tools: { b: {} },
    all_tools: { limits: [lim] },
  };

  it("unites tools, hide and all_tools limits", () => {
    expect(mergePolicies([a, b])).toEqual({
      version: "1",
      default: "deny",
      hide: ["h", "i"],
      tools: { a: {}, b: {} },
      all_tools: { limits: [lim] },
    });
  });

  it("rejects duplicate tool keys and disagreeing defaults, listing both", () => {
    try {
      mergePolicies([a, { ...a, default: "allow" }]);
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: "POLICY_CONFLICT" });
      expect((err as PolicyError).issues.map((i) => i.path)).toEqual(["default", "tools.a"]);
    }
  });

  it("rejects a union whose counters disagree", () => {
    const c: PolicyDocument = { version: "1", tools: { c: { limits: [{ ...lim, max: 5 }] } } };
    expect(() => mergePolicies([b, c])).toThrow(
      expect.objectContaining({ code: "POLICY_INVALID" }),
    );
  });
});

describe("policyJsonSchema", () => {
  it("is a draft-07 schema that accepts valid shapes and rejects unknown keys", () => {
    const validate = createAjv().compile(policyJsonSchema());
    expect(validate({ version: "1", default: "deny", tools: { t: { limits: [lim] } } })).toBe(true);
    expect(validate({ version: "1", tools: { t: { actoin: "deny" } } })).toBe(false);
    expect(validate({ version: "2" })).toBe(false);
  });
});
