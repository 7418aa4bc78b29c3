import { createMemoryStore } from "./src/memory-store.js";

const KEYS = Array.from({ length: 1024 }, (_, i) => `bench|grant|g${i}`);
const SPECS = KEYS.map((key) => [
  { key, counter: "bench", windowMs: 60_000, max: 1e12, weight: 1, ruleId: "bench" },
]);
async function run(label: string, f: (i: number) => Promise<unknown>, n = 1_000_000) {
  for (let i = 0; i < 200_000; i++) await f(i);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await f(i);
  console.log(label, Math.round(n / ((performance.now() - t0) / 1000)).toLocaleString());
}
for (let r = 0; r < 2; r++) {
  const s = createMemoryStore({ sweepIntervalMs: 0 });
  await run("reserve prealloc specs", (i) => s.reserve(SPECS[i & 1023]!));
  const s2 = createMemoryStore({ sweepIntervalMs: 0 });
  await run("reserve+commit", async (i) => {
    const o = await s2.reserve(SPECS[i & 1023]!);
    if (o.admitted) await s2.commit(o.reservation);
  });
  const s3 = createMemoryStore({ sweepIntervalMs: 0 });
  await run("reserve alloc specs", (i) =>
    s3.reserve([
      {
        key: KEYS[i & 1023]!,
        counter: "bench",
        windowMs: 60_000,
        max: 1e12,
        weight: 1,
        ruleId: "bench",
      },
    ]),
  );
  await run("baseline Promise.resolve", (i) => Promise.resolve(i));
}
