/**
 * What identity and tracing cost, each next to its baseline in the same run:
 *
 * - per call, in process: authenticating a request by OAuth access token (signature,
 *   claims, cached keys; RS256 and ES256) vs by API key (the app's sha256 lookup);
 * - end to end at c=32 (interleaved rounds, paired ratios, like run.ts): calls/s with an
 *   OAuth token vs an API key, and with an OpenTelemetry SDK recording every request vs
 *   no SDK at all.
 *
 * Usage: pnpm bench (writes bench/results/mcp-express-identity.json at the repo root)
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { cpus, loadavg } from "node:os";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { createAuthenticator } from "../src/auth/authenticate.js";
import { createOAuthVerifier } from "../src/auth/oauth.js";
import {
  children,
  here,
  interleave,
  load,
  median,
  QUICK,
  round,
  session,
  startChild,
  stopChildren,
} from "./lib.js";

const resultFile = here("../../../bench/results/mcp-express-identity.json");
const ISSUER = "https://login.bench.example.com";
const RESOURCE = "https://bench.example.com/mcp";

async function mintWith(alg: "RS256" | "ES256") {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const pub = { ...(await exportJWK(publicKey)), kid: `${alg}-1`, alg, use: "sig" };
  const t = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ client_id: "bench-agent", scope: "mcp:tools", role: "trader" })
    .setProtectedHeader({ alg, kid: pub.kid, typ: "at+jwt" })
    .setIssuer(ISSUER)
    .setAudience(RESOURCE)
    .setSubject("bench")
    .setIssuedAt(t)
    .setExpirationTime(t + 3600)
    .sign(privateKey);
  return { token, pub };
}

/** Microseconds per authentication, sequential, after a warm-up. */
async function perCall(
  auth: ReturnType<typeof createAuthenticator>,
  bearer: string,
  n: number,
): Promise<number> {
  const req = { headers: { authorization: `Bearer ${bearer}` } } as unknown as IncomingMessage;
  const once = async () => {
    const r = await auth(req);
    if (!r.ok) throw new Error(`refused: ${r.message}`);
  };
  for (let i = 0; i < Math.min(2000, n); i++) await once();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await once();
  return Number(process.hrtime.bigint() - t0) / 1e3 / n;
}

async function micro() {
  const rs = await mintWith("RS256");
  const es = await mintWith("ES256");
  const keys = JSON.stringify({ keys: [rs.pub, es.pub] });
  const verifierWith = (verifiedCacheSize?: number) =>
    createOAuthVerifier({
      issuer: ISSUER,
      resource: RESOURCE,
      jwksUri: `${ISSUER}/jwks`,
      fetch: async () => ({
        ok: true,
        status: 200,
        headers: { get: () => null },
        text: async () => keys,
      }),
      ...(verifiedCacheSize === undefined ? {} : { verifiedCacheSize }),
    });
  // Every call checks the signature (a new token each time, as far as the cost goes)...
  const verifier = verifierWith(0);
  // ...and as shipped: a client reusing its token pays the signature check once.
  const cachedVerifier = verifierWith(undefined);
  // The app hashes presented keys and looks the hash up (plain keys never stay in memory).
  const byHash = new Map([
    [createHash("sha256").update("bench-api-key-0123456789").digest("hex"), "bench"],
  ]);
  const lookupKey = (k: string) => byHash.get(createHash("sha256").update(k).digest("hex"));
  const auth = createAuthenticator({ lookupKey, oauth: verifier });
  const cachedAuth = createAuthenticator({ lookupKey, oauth: cachedVerifier });
  const n = QUICK ? 4000 : 20000;
  const rounds = 5;
  const apiKey: number[] = [];
  const rs256: number[] = [];
  const es256: number[] = [];
  const reused: number[] = [];
  for (let r = 0; r < rounds; r++) {
    apiKey.push(await perCall(auth, "bench-api-key-0123456789", n));
    rs256.push(await perCall(auth, rs.token, n / 4));
    es256.push(await perCall(auth, es.token, n / 4));
    reused.push(await perCall(cachedAuth, rs.token, n));
  }
  return {
    apiKeyUs: round(median(apiKey), 2),
    rs256Us: round(median(rs256), 2),
    es256Us: round(median(es256), 2),
    rs256ToApiKey: round(median(rs256.map((x, i) => x / apiKey[i]!)), 1),
    es256ToApiKey: round(median(es256.map((x, i) => x / apiKey[i]!)), 1),
    reusedTokenUs: round(median(reused), 2),
    reusedTokenToApiKey: round(median(reused.map((x, i) => x / apiKey[i]!)), 2),
    jwksFetches: verifier.jwksFetches,
  };
}

async function endToEnd() {
  const rs = await mintWith("RS256");
  const [upPort] = await startChild("./upstream.ts");
  const [plainPort, tracedPort] = await startChild("./gateway-identity.ts", [
    `http://127.0.0.1:${upPort}/mcp`,
    ISSUER,
    JSON.stringify(rs.pub),
  ]);
  const gwChild = children[children.length - 1];
  const concurrency = 32;
  const calls = QUICK ? 2400 : 12000;
  const sides = {
    apiKey: await session(plainPort!, { authorization: "Bearer bench-key" }, concurrency),
    oauth: await session(plainPort!, { authorization: `Bearer ${rs.token}` }, concurrency),
    traced: await session(tracedPort!, { authorization: "Bearer bench-key" }, concurrency),
  };
  type Side = keyof typeof sides;
  const names = Object.keys(sides) as Side[];
  for (const n of names) await load(sides[n], concurrency, 500);
  const ROUNDS = 6;
  const per = Math.floor(calls / ROUNDS);
  const { stats, cpuMs: cpu } = await interleave(names, ROUNDS, { gw: gwChild?.pid }, (n) =>
    load(sides[n], concurrency, per),
  );
  for (const n of names) sides[n].agent.destroy();
  const rps = (n: Side) => round(median(stats[n].map((x) => x.rps)), 0);
  const paired = (n: Side) =>
    round(median(stats.apiKey.map((x, i) => stats[n][i]!.rps / x.rps)), 3);
  const cpuPer = (n: Side) => round((cpu[n].gw! * 1000) / (per * ROUNDS), 1);
  return {
    concurrency,
    apiKeyRps: rps("apiKey"),
    oauthRps: rps("oauth"),
    tracedRps: rps("traced"),
    oauthToApiKey: paired("oauth"),
    tracingOnToOff: paired("traced"),
    apiKeyP50Ms: round(median(stats.apiKey.map((x) => x.p50Ms))),
    oauthP50Ms: round(median(stats.oauth.map((x) => x.p50Ms))),
    tracedP50Ms: round(median(stats.traced.map((x) => x.p50Ms))),
    gatewayCpuUsPerCall: {
      apiKey: cpuPer("apiKey"),
      oauth: cpuPer("oauth"),
      traced: cpuPer("traced"),
    },
  };
}

async function main(): Promise<void> {
  const perCallUs = await micro();
  console.log("authentication per call:", perCallUs);
  const c32 = await endToEnd();
  console.log("end to end:", c32);
  mkdirSync(here("../../../bench/results"), { recursive: true });
  writeFileSync(
    resultFile,
    `${JSON.stringify(
      {
        package: "@toolgate/mcp-express",
        benchmark:
          "identity and tracing: OAuth token vs API key per call (in process) and at c=32; tracing on vs off at c=32",
        node: process.version,
        cpus: cpus().length,
        quick: QUICK,
        loadAverage1m: round(loadavg()[0] ?? 0, 2),
        at: new Date().toISOString(),
        perCallUs,
        c32,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${resultFile}`);
}

try {
  await main();
} finally {
  await stopChildren();
}
