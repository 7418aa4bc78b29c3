import type { AuthResult } from "./accounts.js";
import { BINANCE_US_WIRE_ERRORS, type WireError } from "./errors.js";
import type { MockExchange } from "./exchange.js";
import { wire } from "./limits.js";
import { exchangeInfo } from "./market.js";
import { checkSigned } from "./signed.js";
import type { CoreRequest, CoreResponse } from "./types.js";

const ok = (body: unknown): CoreResponse => ({ status: 200, headers: {}, body });

/** The routes the mock serves, for the 404 text. */
const SERVED = "userDataStream, exchangeInfo, order, openOrders, account, time, ping";

/** Runs one admitted `/api/...` request (limits and faults were applied by the caller). */
export function routeRest(
  ex: MockExchange,
  req: CoreRequest,
  params: URLSearchParams,
): CoreResponse {
  const route = `${req.method} ${req.path}`;
  switch (route) {
    case "GET /api/v3/ping":
      return ok({});
    case "GET /api/v3/time":
      return ok({ serverTime: ex.clock.now() });
    case "GET /api/v3/exchangeInfo":
      return exchangeInfoRoute(ex, params);
    case "POST /api/v3/userDataStream":
    case "PUT /api/v3/userDataStream":
    case "DELETE /api/v3/userDataStream":
      return userDataStream(ex, req, params);
    case "GET /api/v3/account":
    case "GET /api/v3/openOrders":
    case "POST /api/v3/order":
    case "DELETE /api/v3/order":
      return signed(ex, req, params);
    default:
      return {
        status: 404,
        headers: {},
        body: { code: -1000, msg: `Unknown endpoint ${route} (the mock serves ${SERVED})` },
      };
  }
}

function exchangeInfoRoute(ex: MockExchange, params: URLSearchParams): CoreResponse {
  const one = params.get("symbol");
  const many = params.get("symbols");
  let only: string[] | undefined;
  if (one) only = [one];
  else if (many) {
    try {
      only = JSON.parse(many) as string[];
    } catch {
      return wire({
        status: 400,
        code: -1100,
        msg: "Illegal characters found in parameter 'symbols'; legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.",
      });
    }
  }
  const info = exchangeInfo(ex.clock.now(), ex.opts.weightLimitPerMinute, only);
  if (only && info.symbols.length !== only.length) return wire(BINANCE_US_WIRE_ERRORS.BAD_SYMBOL);
  return ok(info);
}

function userDataStream(ex: MockExchange, req: CoreRequest, params: URLSearchParams): CoreResponse {
  const auth = ex.accounts.authenticate(req.apiKey);
  if (!auth.ok) return wire(auth.error);
  if (req.method === "POST")
    return ok({ listenKey: ex.keys.createOrExtend(auth.account).listenKey });
  const listenKey = params.get("listenKey");
  if (listenKey === null || listenKey.trim() === "") {
    return wire(BINANCE_US_WIRE_ERRORS.MANDATORY_PARAM_LISTEN_KEY);
  }
  const rec = ex.keys.get(listenKey);
  if (!rec || rec.account !== auth.account)
    return wire(BINANCE_US_WIRE_ERRORS.LISTEN_KEY_NOT_FOUND);
  if (req.method === "PUT") {
    ex.keys.extend(rec);
    return ok({});
  }
  ex.keys.invalidate(listenKey, "deleted");
  for (const s of ex.sockets.ofKey(listenKey)) ex.sockets.close(s, 1000, "listen key closed");
  ex.rt.logInfo({ account: rec.account }, "listen key closed");
  return ok({});
}

function signedAuth(ex: MockExchange, req: CoreRequest, params: URLSearchParams): AuthResult {
  const auth = ex.accounts.authenticate(req.apiKey);
  if (!auth.ok) return auth;
  // A key without a secret has no trading/reading permission in the mock.
  if (auth.secret === undefined)
    return { ok: false, error: BINANCE_US_WIRE_ERRORS.API_KEY_REJECTED };
  const bad: WireError | undefined = checkSigned(req, params, auth.secret, ex.clock.now());
  return bad ? { ok: false, error: bad } : auth;
}

function signed(ex: MockExchange, req: CoreRequest, params: URLSearchParams): CoreResponse {
  const auth = signedAuth(ex, req, params);
  if (!auth.ok) return wire(auth.error);
  const acc = ex.accounts.get(auth.account);
  switch (`${req.method} ${req.path}`) {
    case "GET /api/v3/account": {
      let snapshot: Record<string, unknown> = acc.snapshot;
      if (params.get("omitZeroBalances") === "true") {
        snapshot = {
          ...snapshot,
          balances: acc.snapshot.balances.filter(
            (x) => Number(x.free) !== 0 || Number(x.locked) !== 0,
          ),
        };
      }
      return ok(structuredClone(snapshot));
    }
    case "GET /api/v3/openOrders": {
      const symbol = params.get("symbol");
      return ok(symbol ? acc.openOrders.filter((o) => o.symbol === symbol) : acc.openOrders);
    }
    case "POST /api/v3/order": {
      const r = ex.engine.place(auth.account, params);
      return r.ok ? ok(r.body) : wire(r.error);
    }
    default: {
      const r = ex.engine.cancel(auth.account, params);
      return r.ok ? ok(r.body) : wire(r.error);
    }
  }
}
