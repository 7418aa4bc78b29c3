import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadGatewayConfig } from "../src/config.js";
import type { GatewayError } from "../src/errors.js";

function load(yaml: string) {
  const cwd = mkdtempSync(join(tmpdir(), "toolgate-uh-"));
  writeFileSync(join(cwd, "toolgate.config.yaml"), yaml);
  try {
    return { loaded: loadGatewayConfig({ cwd, env: {} }) };
  } catch (e) {
    return { err: e as GatewayError };
  }
}

const GRANTS = `grants:
  desk-a: { apiKey: "key-of-desk-a-0123456789" }
  desk-b: { apiKey: "key-of-desk-b-0123456789" }
`;

describe("upstream headers per grant in the config", () => {
  it("accepts templates and per-grant maps naming configured grants", () => {
    const { loaded, err } = load(`${GRANTS}upstreams:
  - name: bank
    url: https://bank.example/mcp
    headers: { Authorization: "Bearer upstream-token", X-Account: "{{grant}}" }
    grantHeaders:
      desk-b: { X-Account-Key: "b-key" }
`);
    expect(err).toBeUndefined();
    expect(loaded?.config.upstreams[0]).toMatchObject({
      grantHeaders: { "desk-b": { "X-Account-Key": "b-key" } },
    });
  });

  it("refuses a copied client credential and an unknown grant, by path with a fix", () => {
    const { err } = load(`${GRANTS}upstreams:
  - name: bank
    url: https://bank.example/mcp
    headers: { Authorization: "{{request.authorization}}" }
    grantHeaders:
      desk-c: { X-Account-Key: "c-key" }
`);
    const paths = (err?.issues ?? []).map((i) => `${i.path}: ${i.message}`);
    expect(paths.join("\n")).toMatch(
      /upstreams\[0\]\.headers\.Authorization: \{\{request\.authorization\}\} would copy the client's credential/,
    );
    const { err: err2 } = load(`${GRANTS}upstreams:
  - name: bank
    url: https://bank.example/mcp
    grantHeaders:
      desk-c: { X-Account-Key: "c-key" }
`);
    expect(err2?.issues).toEqual([
      {
        path: "upstreams[0].grantHeaders.desk-c",
        message: "names no grant",
        fix: "use one of desk-a, desk-b",
      },
    ]);
  });
});
