import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_POLICY_PATH, loadGatewayConfig } from "../src/config.js";
import { GatewayError } from "../src/errors.js";
import { sha256Hex } from "../src/mask.js";

const dir = () => mkdtempSync(join(tmpdir(), "toolgate-config-"));

function expectIssues(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    return err as GatewayError;
  }
  throw new Error("expected a GatewayError");
}

describe("loadGatewayConfig", () => {
  it("uses embedded defaults without a file and generates a demo key", () => {
    const cwd = dir();
    const loaded = loadGatewayConfig({
      cwd,
      env: {},
      generateSecret: () => "generated-secret-123456",
    });
    expect(loaded.file).toBeUndefined();
    expect(loaded.config.listen).toEqual({ host: "127.0.0.1", port: 8080 });
    expect(loaded.config.store).toEqual({ type: "memory" });
    expect(loaded.config.upstreams).toEqual([{ name: "binance-us", builtin: "binance-us" }]);
    // A held call must be denied by the gateway before the SDK client's own 60 s timeout.
    expect(loaded.config.approvals.timeoutMs).toBeLessThan(60_000);
    expect(loaded.config.approvals.progressMs).toBe(5_000);
    expect(loaded.grants).toEqual([
      {
        name: "demo",
        keyHash: sha256Hex("generated-secret-123456"),
        policyPath: DEFAULT_POLICY_PATH,
        generatedKey: "generated-secret-123456",
      },
    ]);
    expect(loaded.adminTokenGenerated).toBe(true);
  });

  it("takes TOOLGATE_API_KEY, TOOLGATE_ADMIN_TOKEN, PORT and HOST from the environment", () => {
    const loaded = loadGatewayConfig({
      cwd: dir(),
      env: {
        TOOLGATE_API_KEY: "k-1234567890",
        TOOLGATE_ADMIN_TOKEN: "admin",
        PORT: "0",
        HOST: "0.0.0.0",
      },
    });
    expect(loaded.grants[0]?.keyHash).toBe(sha256Hex("k-1234567890"));
    expect(loaded.grants[0]?.generatedKey).toBeUndefined();
    expect(loaded.adminToken).toBe("admin");
    expect(loaded.adminTokenGenerated).toBe(false);
    expect(loaded.config.listen).toEqual({ host: "0.0.0.0", port: 0 });
  });

  it("reads toolgate.config.yaml from cwd, substitutes env and resolves paths from the file", () => {
    const cwd = dir();
    const hash = sha256Hex("second-key-0123456789");
    writeFileSync(
      join(cwd, "toolgate.config.yaml"),
      [
        "listen: { port: 9000 }",
        "upstreams:",
        "  - { name: docs, url: 'http://127.0.0.1:3001/mcp' }",
        "  - { name: files, command: npx, args: [server] }",
        "grants:",
        `  alice: { apiKey: '\${ALICE_KEY}', policy: policies/alice.yaml }`,
        `  bob: { apiKeyHash: 'sha256:${hash}' }`,
        "store: 'redis://127.0.0.1:6379/0?prefix=tg:'",
        "audit: { path: logs/audit.jsonl }",
      ].join("\n"),
    );
    const loaded = loadGatewayConfig({ cwd, env: { ALICE_KEY: "alice-key-0123456789" } });
    expect(loaded.file).toBe(join(cwd, "toolgate.config.yaml"));
    expect(loaded.config.listen.port).toBe(9000);
    expect(loaded.grants).toEqual([
      {
        name: "alice",
        keyHash: sha256Hex("alice-key-0123456789"),
        policyPath: join(cwd, "policies/alice.yaml"),
      },
      { name: "bob", keyHash: hash, policyPath: DEFAULT_POLICY_PATH },
    ]);
    expect(loaded.config.audit.path).toBe(join(cwd, "logs/audit.jsonl"));
    expect(loaded.config.store).toMatchObject({ type: "redis", prefix: "tg:" });
  });

  it("lists every problem by path with a fix", () => {
    const cwd = dir();
    const file = join(cwd, "bad.yaml");
    writeFileSync(
      file,
      [
        "listen: { port: 99999 }",
        "upstreams: [{ name: 'bad name', url: 'nope' }, { name: kindless }]",
        "grants:",
        `  a: { apiKey: '\${MISSING_VAR}' }`,
        "  b: { policy: x.json }",
        "store: postgres://x",
        "colour: blue",
        "allowedOrigins: ['http://localhost:6274', 'localhost:6274']",
      ].join("\n"),
    );
    const err = expectIssues(() => loadGatewayConfig({ cwd, file: "bad.yaml", env: {} }));
    expect(err.code).toBe("CONFIG_INVALID");
    const paths = err.issues.map((i) => i.path);
    expect(paths).toContain("grants.a.apiKey");
    expect(paths).toContain("listen.port");
    expect(paths).toContain("upstreams[0].name");
    expect(paths).toContain("upstreams[0].url");
    expect(paths).toContain("grants.b");
    expect(paths).toContain("store");
    expect(err.issues.find((i) => i.path === "allowedOrigins[1]")?.message).toMatch(
      /scheme:\/\/host\[:port\]/,
    );
    expect(paths).not.toContain("allowedOrigins[0]");
    expect(paths.some((p) => p === "" || p === "(root)")).toBe(true);
    const envIssue = err.issues.find((i) => i.message.includes("MISSING_VAR"));
    expect(envIssue?.fix).toContain("export MISSING_VAR");
    expect(err.issues.find((i) => i.path === "listen.port")?.fix).toMatch(/0 to 65535/);
    // One issue per problem: the missing variable, not also "too short" for what is left.
    expect(paths.filter((p) => p === "grants.a.apiKey")).toHaveLength(1);
    expect(err.issues.find((i) => i.path === "upstreams[1]")?.message).toBe(
      "an upstream needs one of url, command or builtin",
    );
    expect(paths).not.toContain("upstreams[1].url");
  });

  it("rejects two grants sharing a key, a missing file and bad YAML", () => {
    const cwd = dir();
    writeFileSync(
      join(cwd, "dup.yaml"),
      "grants:\n  a: { apiKey: same-key-0123456789 }\n  b: { apiKey: same-key-0123456789 }\n",
    );
    const dup = expectIssues(() => loadGatewayConfig({ cwd, file: "dup.yaml", env: {} }));
    expect(dup.issues[0]?.message).toContain("same API key as grant a");
    expect(expectIssues(() => loadGatewayConfig({ cwd, file: "nope.yaml", env: {} })).code).toBe(
      "CONFIG_UNREADABLE",
    );
    writeFileSync(join(cwd, "broken.yaml"), "listen: [\n");
    expect(expectIssues(() => loadGatewayConfig({ cwd, file: "broken.yaml", env: {} })).code).toBe(
      "CONFIG_INVALID",
    );
    expect(
      expectIssues(() => loadGatewayConfig({ cwd: dir(), env: { PORT: "eighty" } })).issues[0]
        ?.path,
    ).toBe("env.PORT");
  });

  it("accepts the README's scale-out config as written (placeholder hash filled in)", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("## Running several instances on Redis"));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] as string;
    expect(yaml).toContain("store:");
    const cwd = dir();
    writeFileSync(
      join(cwd, "toolgate.config.yaml"),
      yaml.replace("sha256:…", `sha256:${sha256Hex("scale-key-0123456789")}`),
    );
    const loaded = loadGatewayConfig({
      cwd,
      env: { TOOLGATE_ADMIN_TOKEN: "admin-0123456789abcdef" },
    });
    expect(loaded.config.store).toMatchObject({ type: "redis", prefix: "myteam:" });
  });

  it("says how to quote a value YAML mistakes for a key", () => {
    const cwd = dir();
    writeFileSync(join(cwd, "c.yaml"), "store: redis://127.0.0.1:6379/0?prefix=app:\n");
    const err = expectIssues(() => loadGatewayConfig({ cwd, file: "c.yaml", env: {} }));
    expect(err.issues[0]?.fix).toContain('store: "redis://');
  });

  it("accepts the shipped example config", () => {
    const loaded = loadGatewayConfig({
      cwd: dir(),
      file: new URL("../toolgate.config.example.yaml", import.meta.url).pathname,
      env: {
        TOOLGATE_API_KEY: "example-key-0123456789",
        TOOLGATE_ADMIN_TOKEN: "admin-token-0123456789",
      },
    });
    expect(loaded.grants.length).toBeGreaterThan(0);
  });
});

describe("default policy", () => {
  it("is exactly the two fixture policies merged", async () => {
    const { mergePolicies, parsePolicy, policyVersion } = await import("@toolgate/policy-engine");
    const { readFileSync } = await import("node:fs");
    const read = (name: string) =>
      parsePolicy(
        JSON.parse(readFileSync(new URL(`../policies/${name}`, import.meta.url), "utf8")),
      );
    const merged = mergePolicies([
      read("binance-us-create-listen-key.json"),
      read("binance-us-keepalive-listen-key.json"),
    ]);
    expect(policyVersion(read("default.json"))).toBe(policyVersion(merged));
  });
});
