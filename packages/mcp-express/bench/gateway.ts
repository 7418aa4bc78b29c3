/**
 * Bench gateway: the middleware in its own process in front of the bench upstream, with
 * a policy whose limit is never reached (so reserve + commit run on every call).
 */
import type { AddressInfo } from "node:net";
import { compilePolicy } from "@toolgate/policy-engine";
import express from "express";
import { createToolgateMcp } from "../src/index.js";

const upstream = process.argv[2];
if (!upstream) throw new Error("usage: gateway.ts <upstream url>");
const gw = createToolgateMcp({
  upstreams: [{ name: "bench", url: upstream }],
  apiKeys: { "bench-key": "bench" },
  policy: compilePolicy({
    version: "1",
    default: "deny",
    tools: {
      echo: { limits: [{ counter: "echo", window: "minute", max: 1_000_000_000, scope: "grant" }] },
    },
  }),
});
await gw.start();
const app = express();
app.all("/mcp", gw.handler);
const s = app.listen(0, "127.0.0.1", () => {
  process.stdout.write(`PORT ${(s.address() as AddressInfo).port}\n`);
});

// Exit cleanly on SIGTERM so --cpu-prof (BENCH_CPU_PROF) can write its profile.
process.on("SIGTERM", () => process.exit(0));
