import { describe, expect, it, vi } from "vitest";
import { runStoreContract, spec } from "../test/contract.js";
import { createMemoryStore } from "./memory-store.js";
import { createRlfMemoryStore } from "./rlf-memory-store.js";

// rate-limiter-flexible reads Date.now and uses setTimeout; Vitest's fake timers drive both.
runStoreContract("rlf insurance", async () => {
  vi.useFakeTimers({ now: 1_000_000 });
  const store = createRlfMemoryStore();
  return {
    store,
    slackMs: 0,
    advance: async (ms) => {
      vi.advanceTimersByTime(ms);
    },
    close: async () => {
      await store.close();
      vi.useRealTimers();
    },
  };
});

describe("rlf insurance store", () => {
  it("decides a random single-key sequence exactly like the lean memory store", async () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const rlf = createRlfMemoryStore();
      const mem = createMemoryStore({ sweepIntervalMs: 0 });
      let seed = 42;
      const rand = () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      for (let i = 0; i < 400; i++) {
        const s = spec(`k|grant|${Math.floor(rand() * 3)}`, 5, Math.floor(rand() * 3), 1000);
        const [a, b] = await Promise.all([rlf.reserve([s]), mem.reserve([s])]);
        expect(a.admitted, `step ${i}`).toBe(b.admitted);
        if (!a.admitted && !b.admitted) expect(a.retryAfterMs).toBe(b.retryAfterMs);
        if (a.admitted && b.admitted && rand() < 0.3) {
          await rlf.rollback(a.reservation);
          await mem.rollback(b.reservation);
        }
        vi.advanceTimersByTime(Math.floor(rand() * 120));
      }
      await rlf.close();
      await mem.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
