import { createHash } from "node:crypto";
import { BINANCE_US_WIRE_ERRORS, type WireError } from "./errors.js";
import type { AccountSnapshotInput, OpenOrderInput } from "./options.js";
import type { MockRuntime } from "./runtime.js";

/** One account: its `GET /api/v3/account` snapshot, open orders and active listen key. */
export interface AccountRecord {
  id: string;
  snapshot: Record<string, unknown> & { balances: BalanceLine[] };
  openOrders: Record<string, unknown>[];
  listenKey: string | undefined;
}

/** A balance line as the REST snapshot shows it (amounts are decimal strings). */
export interface BalanceLine {
  asset: string;
  free: string;
  locked: string;
}

/** Result of {@link Accounts.authenticate}. */
export type AuthResult =
  | { ok: true; account: string; secret: string | undefined }
  | { ok: false; error: WireError };

/** Default account id of an API key: stable, and it does not reveal the key. */
function accountIdOf(apiKey: string): string {
  return `acct_${createHash("sha256").update(apiKey).digest("hex").slice(0, 12)}`;
}

function defaultSnapshot(now: number): AccountRecord["snapshot"] {
  return {
    makerCommission: 10,
    takerCommission: 10,
    buyerCommission: 0,
    sellerCommission: 0,
    commissionRates: {
      maker: "0.00100000",
      taker: "0.00100000",
      buyer: "0.00000000",
      seller: "0.00000000",
    },
    canTrade: true,
    canWithdraw: true,
    canDeposit: true,
    brokered: false,
    requireSelfTradePrevention: false,
    preventSor: false,
    updateTime: now,
    accountType: "SPOT",
    balances: [
      { asset: "USD", free: "1000.00000000", locked: "0.00000000" },
      { asset: "BTC", free: "0.01000000", locked: "0.00000000" },
      { asset: "ETH", free: "0.00000000", locked: "0.00000000" },
    ],
    permissions: ["SPOT"],
  };
}

/** API keys and the accounts they map to. */
export class Accounts {
  private readonly rt: MockRuntime;
  private readonly accounts = new Map<string, AccountRecord>();
  // API keys answered with -2015 until restored: a key deleted, its IP whitelist changed or
  // its permissions cut on the exchange while a client is running.
  private readonly revoked = new Set<string>();

  constructor(rt: MockRuntime) {
    this.rt = rt;
  }

  /** Resolves an API key to its account, or the -2014/-2015 error the exchange sends. */
  authenticate(apiKey: string | undefined): AuthResult {
    if (apiKey === undefined || apiKey === "") {
      return { ok: false, error: BINANCE_US_WIRE_ERRORS.API_KEY_FORMAT_INVALID };
    }
    if (this.revoked.has(apiKey)) {
      return { ok: false, error: BINANCE_US_WIRE_ERRORS.API_KEY_REJECTED };
    }
    const listed = this.rt.opts.apiKeys?.[apiKey];
    if (listed) {
      return { ok: true, account: listed.account ?? accountIdOf(apiKey), secret: listed.secret };
    }
    if (!this.rt.opts.apiKeyPattern.test(apiKey)) {
      return { ok: false, error: BINANCE_US_WIRE_ERRORS.API_KEY_FORMAT_INVALID };
    }
    if (this.rt.opts.apiKeys) return { ok: false, error: BINANCE_US_WIRE_ERRORS.API_KEY_REJECTED };
    return { ok: true, account: accountIdOf(apiKey), secret: undefined };
  }

  /** Makes `apiKey` answer -2015 (`false` undoes it); existing sockets stay up. */
  setRevoked(apiKey: string, revoked: boolean): void {
    if (revoked) this.revoked.add(apiKey);
    else this.revoked.delete(apiKey);
  }

  /** The account an API key maps to (listed `account`, else a hash-derived id). */
  accountOf(apiKey: string): string {
    return this.rt.opts.apiKeys?.[apiKey]?.account ?? accountIdOf(apiKey);
  }

  /** The account record, created with realistic defaults on first use. */
  get(id: string): AccountRecord {
    let rec = this.accounts.get(id);
    if (!rec) {
      rec = {
        id,
        snapshot: defaultSnapshot(this.rt.clock.now()),
        openOrders: [],
        listenKey: undefined,
      };
      this.accounts.set(id, rec);
    }
    return rec;
  }

  /** The record if the account was ever used. */
  peek(id: string): AccountRecord | undefined {
    return this.accounts.get(id);
  }

  /** Ids of every account seen so far. */
  ids(): string[] {
    return [...this.accounts.keys()];
  }

  /** Replaces fields of an account's snapshot. */
  setSnapshot(id: string, input: AccountSnapshotInput): void {
    const rec = this.get(id);
    rec.snapshot = {
      ...rec.snapshot,
      ...input,
      balances: input.balances ?? rec.snapshot.balances,
      updateTime: input.updateTime ?? this.rt.clock.now(),
    };
  }

  /** Replaces an account's scripted open orders (missing fields get realistic defaults). */
  setOpenOrders(id: string, orders: OpenOrderInput[]): void {
    const rec = this.get(id);
    const now = this.rt.clock.now();
    rec.openOrders = orders.map((o, i) => {
      const orderId = o.orderId ?? 1_000 + i;
      return {
        symbol: "BTCUSD",
        orderId,
        orderListId: -1,
        clientOrderId: `mock_${orderId}`,
        price: "42000.00000000",
        origQty: "0.01000000",
        executedQty: "0.00000000",
        cummulativeQuoteQty: "0.00000000",
        status: "NEW",
        timeInForce: "GTC",
        type: "LIMIT",
        side: "BUY",
        stopPrice: "0.00000000",
        icebergQty: "0.00000000",
        time: now,
        updateTime: o.time ?? now,
        isWorking: true,
        workingTime: o.time ?? now,
        origQuoteOrderQty: "0.00000000",
        selfTradePreventionMode: "NONE",
        ...o,
      };
    });
  }
}
