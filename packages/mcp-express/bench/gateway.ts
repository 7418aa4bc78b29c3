/**
 * Bench gateway: the middleware in its own process in front of the bench upstream, with
 * a policy whose limit is never reached (so reserve + commit run on every call).
 */
import { createServer } from "node:http";
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
// Two ports: the middleware mounted in Express, and the same endpoint as a plain listener.
const viaExpress = app.listen(0, "127.0.0.1", () => {
  const viaListener = createServer(gw.listener).listen(0, "127.0.0.1", () => {
    const a = (viaExpress.address() as AddressInfo).port;
    const b = (viaListener.address() as AddressInfo).port;
    process.stdout.write(`PORT ${a} ${b}\n`);
  });
});

// Exit cleanly on SIGTERM so --cpu-prof (BENCH_CPU_PROF) can write its profile.
process.on("SIGTERM", () => process.exit(0));
