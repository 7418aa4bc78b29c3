import { describe, expect, it } from "vitest";
import { createGatewayMetrics } from "./metrics.js";

describe("gateway metrics", () => {
  it("still answers a scrape when the approval store cannot count pending approvals", async () => {
    let down = true;
    const m = createGatewayMetrics({
      processMetrics: false,
      pendingApprovals: async () => {
        if (down) throw new Error("approval store (redis) failed to list");
        return 2;
      },
      sessions: () => 3,
    });
    m.decisions.inc({ tool: "work", effect: "allow", code: "ALLOWED" });
    const during = await m.registry.metrics();
    // prom-client writes NaN as "Nan"; Prometheus parses either spelling.
    expect(during).toMatch(/^toolgate_pending_approvals nan$/im);
    // The rest of the scrape is intact.
    expect(during).toContain("toolgate_sessions 3");
    expect(during).toContain(
      'toolgate_decisions_total{tool="work",effect="allow",code="ALLOWED"} 1',
    );
    down = false;
    expect(await m.registry.metrics()).toContain("toolgate_pending_approvals 2");
  });

  it("exposes the counter store's backend errors through prom-client, growing with the store", async () => {
    let errors = 0;
    const m = createGatewayMetrics({
      processMetrics: false,
      storeStats: () => ({ store: "redis", errors }) as never,
    });
    expect(await m.registry.metrics()).toContain(
      'toolgate_store_backend_errors_total{store="redis"} 0',
    );
    errors = 3;
    expect(await m.registry.metrics()).toContain(
      'toolgate_store_backend_errors_total{store="redis"} 3',
    );
    expect(await m.registry.metrics()).toContain(
      'toolgate_store_backend_errors_total{store="redis"} 3',
    );
  });
});
