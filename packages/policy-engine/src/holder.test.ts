import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { compilePolicy } from "./compile.js";
import { createPolicyEngine } from "./engine.js";
import { PolicyHolder } from "./holder.js";
import type { PolicyDocument } from "./schema.js";

const good: PolicyDocument = {
  version: "1",
  tools: { t: { limits: [{ counter: "c", window: "minute", max: 2 }] } },
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "toolgate-holder-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("PolicyHolder", () => {
  it("swaps atomically, reports changes, keeps the last good policy on bad input", () => {
    const holder = new PolicyHolder(compilePolicy(good));
    const first = holder.current;
    const seen: string[] = [];
    const off = holder.subscribe((next, prev) => seen.push(`${prev.version}->${next.version}`));
    const bad = holder.reload('version: "1"\ntools: { t: { action: nope } }', { source: "p.yaml" });
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.error.code).toBe("POLICY_INVALID");
      expect(bad.error.issues[0]?.path).toBe("tools.t.action");
      expect(bad.error.message).toContain("p.yaml");
    }
    expect(holder.current).toBe(first);
    expect(holder.reload("{ broken").ok).toBe(false);
    const same = holder.reload(JSON.stringify(good));
    expect(same).toMatchObject({ ok: true, changed: false });
    const next = holder.reload({ ...good, default: "allow" });
    expect(next).toMatchObject({ ok: true, changed: true });
    expect(holder.current).not.toBe(first);
    expect(seen).toEqual([`${first.version}->${holder.current.version}`]);
    off();
    holder.reload(good);
    expect(seen).toHaveLength(1);
  });

  it("isolates a throwing listener", () => {
    const holder = new PolicyHolder(compilePolicy(good));
    const later = vi.fn();
    holder.subscribe(() => {
      throw new Error("boom");
    });
    holder.subscribe(later);
    expect(holder.reload({ ...good, default: "allow" }).ok).toBe(true);
    expect(later).toHaveBeenCalledOnce();
  });

  it("counters survive reloads because they live in the store", async () => {
    const now = 0;
    const engine = createPolicyEngine({ now: () => now });
    const holder = new PolicyHolder(compilePolicy(good));
    await engine.decide(holder.current, { name: "t" }, { grant: "a" });
    holder.reload({ ...good, hide: ["other"] });
    await engine.decide(holder.current, { name: "t" }, { grant: "a" });
    expect((await engine.decide(holder.current, { name: "t" }, { grant: "a" })).code).toBe(
      "RATE_LIMITED",
    );
  });

  it("loads and reloads files", async () => {
    const file = join(dir, "policy.yaml");
    await writeFile(file, 'version: "1"\ndefault: allow\n');
    const holder = await PolicyHolder.fromFile(file);
    expect(holder.current.source).toBe(file);
    expect(holder.current.defaultEffect).toBe("allow");
    await writeFile(file, 'version: "1"\ndefault: deny\n');
    expect(await holder.reloadFile(file)).toMatchObject({ ok: true, changed: true });
    expect(holder.current.defaultEffect).toBe("deny");
    const missing = await holder.reloadFile(join(dir, "nope.yaml"));
    expect(missing.ok).toBe(false);
    if (!missing.ok) expect(missing.error.code).toBe("POLICY_IO");
    await expect(PolicyHolder.fromFile(join(dir, "nope.yaml"))).rejects.toMatchObject({
      code: "POLICY_IO",
    });
  });
});
