import type {} from "vitest";

// Provided by the rate-limit-store globalSetup (see vitest.config.ts).
declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
  }
}
