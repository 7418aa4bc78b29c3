/**
 * One process of the concurrent gateway benchmark, so the load generator, the upstream
 * and each gateway get their own event loop (as in production) instead of sharing one.
 *
 *   child.ts upstream        the echo upstream
 *   child.ts gateway <dir>   a gateway started from a folder written by writeGatewayDir
 *   child.ts proxy <port>... the bare Node proxy (round-robin over several ports)
 *   child.ts parse-proxy <port>  the minimal JSON-RPC proxy (parse-proxy.ts)
 *
 * Prints `PORT <n>` once it listens. A gateway answers the IPC message "stats" with its
 * store's counters, so the parent can check every call really went through the store.
 */
import { Session } from "node:inspector/promises";
import type { RunningGateway } from "../src/gateway.js";
import { startParseProxy } from "./parse-proxy.js";
import { startBareProxy } from "./proxy.js";
import { startGatewayIn, startUpstream } from "./servers.js";

const inspector = new Session();

/**
 * Steady-state CPU profile on request: "profile-start" after the warm-up, "profile-stop"
 * answers with the profile, so start-up (module loading, compilation) stays out of it.
 */
async function profile(m: "profile-start" | "profile-stop"): Promise<void> {
  if (m === "profile-start") {
    inspector.connect();
    await inspector.post("Profiler.enable");
    await inspector.post("Profiler.setSamplingInterval", { interval: 100 });
    await inspector.post("Profiler.start");
    process.send?.("profile-started");
    return;
  }
  const { profile: p } = await inspector.post("Profiler.stop");
  process.send?.({ profile: p });
}

/**
 * Sampled allocation profile on request, as {@link profile}: which functions allocate
 * the bytes the garbage collector then spends its time on.
 */
async function heapProfile(m: "heap-start" | "heap-stop"): Promise<void> {
  if (m === "heap-start") {
    inspector.connect();
    // Every sample kept, even those collected since: allocation volume, not live size.
    await inspector.post("HeapProfiler.startSampling", {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    } as never);
    process.send?.("heap-started");
    return;
  }
  const { profile: p } = await inspector.post("HeapProfiler.stopSampling");
  process.send?.({ profile: p });
}

const [mode, dir, ...more] = process.argv.slice(2);
let close: () => Promise<void>;
if (mode === "upstream") {
  const up = await startUpstream();
  close = () => up.close();
  process.stdout.write(`PORT ${up.port}\n`);
} else if (mode === "gateway" && dir !== undefined) {
  const gw: RunningGateway = await startGatewayIn(dir);
  close = () => gw.close();
  process.on("message", (m) => {
    if (m === "stats") process.send?.(gw.store.stats());
  });
  process.stdout.write(`PORT ${gw.port}\n`);
} else if (mode === "proxy" && dir !== undefined) {
  const proxy = await startBareProxy([dir, ...more].map(Number));
  close = () => proxy.close();
  process.stdout.write(`PORT ${proxy.port}\n`);
} else if (mode === "parse-proxy" && dir !== undefined) {
  const proxy = await startParseProxy(Number(dir));
  close = () => proxy.close();
  process.stdout.write(`PORT ${proxy.port}\n`);
} else {
  process.stderr.write(
    "usage: child.ts upstream | gateway <dir> | proxy <port>... | parse-proxy <port>\n",
  );
  process.exit(2);
}
process.on("message", (m) => {
  if (m === "profile-start" || m === "profile-stop") void profile(m);
  else if (m === "heap-start" || m === "heap-stop") void heapProfile(m);
});
// The parent stops its children with SIGTERM (or by disconnecting the IPC channel when it
// dies): close cleanly so a Redis-backed gateway leaves no connection behind.
const stop = () => void close().finally(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("disconnect", stop);
