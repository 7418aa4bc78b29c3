import { createRedisStore } from "../src/redis-store.js";
import { cpuPerCall } from "./measure.js";
import { specFor } from "./specs.js";
const url = process.env.URL ?? "redis://127.0.0.1:6379";
const store = createRedisStore({ url, prefix: `tgscratch:${process.pid}:` });
await store.ready();
const cycle = async (i: number) => {
  const o = await store.reserve(specFor(i));
  if (o.admitted) await store.commit(o.reservation);
};
await cpuPerCall(cycle, 20000, 32);
for (let r = 0; r < 3; r++) console.log(await cpuPerCall(cycle, Number(process.env.N ?? 60000), 32));
await store.close();
