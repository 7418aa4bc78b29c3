import { timingSafeEqual } from "node:crypto";
import { AuthThrottle } from "@toolgate/mcp-express";
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import { z } from "zod";
import { ADMIN_PAGE_HTML } from "./admin-page.js";
import type { ApprovalStore } from "./approvals/store.js";
import { GatewayError } from "./errors.js";
import type { DecisionFeed } from "./feed.js";
import { sha256Hex } from "./mask.js";

/** Limit state of one counter of one grant, as the page shows it. */
export interface CounterView {
  readonly grant: string;
  readonly counter: string;
  readonly used: number;
  readonly max: number;
  readonly resetAtMs: number;
}

/** Options of {@link createAdminRouter}. */
export interface AdminRouterOptions {
  readonly approvals: ApprovalStore;
  /** Bearer token required on every `/admin/api` request. */
  readonly token: string;
  readonly feed: DecisionFeed;
  /** Whose decisions the feed holds, as the page labels them. Default "this instance". */
  readonly feedScope?: string;
  /** Current limit counters per grant (optional: the page hides the section without it). */
  readonly counters?: () => Promise<CounterView[]>;
  readonly now?: () => number;
  /** Heartbeat interval of the live stream; keeps proxies from closing it. Default 15 s. */
  readonly heartbeatMs?: number;
  /** Slows down admin-token guessing per client address; default a fresh one. */
  readonly throttle?: AuthThrottle;
  /** More routes behind the same token check under `/admin/api` (the policy studio's). */
  readonly extraApi?: Router | undefined;
}

const ResolveBody = z
  .strictObject({ reason: z.string().max(500, "keep the reason under 500 characters").optional() })
  .optional();

/**
 * The approvals API and page:
 *
 * - `GET  /admin` — the approvals page (static HTML; the token is entered in the page).
 * - `GET  /admin/api/approvals` — `{ pending, recent }`.
 * - `POST /admin/api/approvals/:id/approve` and `/reject` — body `{ reason? }`; 404 for an
 *   unknown id, 409 when it was already resolved (approvals are single use).
 * - `GET  /admin/api/decisions` — recent decisions and per-grant tallies of this instance.
 * - `GET  /admin/api/counters` — limit counters per grant.
 * - `GET  /admin/api/events` — Server-Sent Events: `approval` and `decision`.
 *
 * Every `/admin/api` route needs `Authorization: Bearer <token>`.
 *
 * @example
 * app.use(createAdminRouter({ approvals, token, feed }));
 */
export function createAdminRouter(options: AdminRouterOptions): Router {
  const router = express.Router();
  const now = options.now ?? Date.now;
  const expected = Buffer.from(sha256Hex(options.token));
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const throttle = options.throttle ?? new AuthThrottle({ now });

  router.get(["/admin", "/admin/"], (_req, res) => {
    res
      .set({
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Content-Security-Policy":
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
      })
      .send(ADMIN_PAGE_HTML);
  });

  const api = express.Router();
  api.use(function requireAdminToken(req: Request, res: Response, next: NextFunction) {
    const address = req.socket.remoteAddress ?? "unknown";
    const wait = throttle.blockedFor(address);
    if (wait > 0) {
      // Before the token is compared: a blocked guess learns nothing.
      const s = Math.ceil(wait / 1000);
      res
        .status(429)
        .set("Retry-After", String(s))
        .json({
          error: "too_many_failures",
          message: `too many failed authentications from this address; retry in ${s} s`,
        });
      return;
    }
    const header = req.get("authorization") ?? "";
    const m = /^Bearer\s+(.+)$/i.exec(header);
    // Compare hashes so the comparison is constant-time whatever the lengths.
    const given = Buffer.from(sha256Hex(m?.[1]?.trim() ?? ""));
    const ok = m !== null && timingSafeEqual(given, expected);
    if (ok) throttle.succeeded(address);
    else throttle.failed(address);
    if (!ok) {
      res
        .status(401)
        .set("WWW-Authenticate", 'Bearer realm="toolgate-admin"')
        .json({ error: "unauthorized", message: "send Authorization: Bearer <admin token>" });
      return;
    }
    next();
  });
  // Before the 16 kB body parser: a policy draft is bigger than an approval reason, and
  // the studio parses (and guards) its own bodies.
  if (options.extraApi) api.use(options.extraApi);
  api.use(express.json({ limit: "16kb" }));

  api.get("/approvals", async (_req, res, next) => {
    try {
      const [pending, recent] = await Promise.all([
        options.approvals.listPending(),
        options.approvals.listRecent(20),
      ]);
      res.json({ pending, recent, now: now() });
    } catch (err) {
      next(err);
    }
  });

  const resolveRoute = (status: "approved" | "rejected") =>
    async function resolveApproval(req: Request, res: Response, next: NextFunction) {
      try {
        const body = ResolveBody.safeParse(req.body ?? undefined);
        if (!body.success) {
          res.status(400).json({
            error: "invalid_body",
            issues: body.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
          });
          return;
        }
        const id = String(req.params.id);
        const reason =
          body.data?.reason || (status === "rejected" ? "rejected by an approver" : undefined);
        const { approval, changed } = await options.approvals.resolve(id, {
          status,
          by: "admin",
          reason,
          at: now(),
        });
        if (!changed) {
          res.status(409).json({
            error: "already_resolved",
            message: `approval ${id} is already ${approval.status}`,
            approval,
          });
          return;
        }
        res.json({ approval });
      } catch (err) {
        next(err);
      }
    };
  api.post("/approvals/:id/approve", resolveRoute("approved"));
  api.post("/approvals/:id/reject", resolveRoute("rejected"));

  api.get("/decisions", (_req, res) => {
    res.json({
      recent: options.feed.recent(50),
      tallies: options.feed.tallies(),
      scope: options.feedScope ?? "this instance",
    });
  });

  api.get("/counters", async (_req, res, next) => {
    try {
      res.json({ counters: options.counters ? await options.counters() : [] });
    } catch (err) {
      next(err);
    }
  });

  api.get("/events", (req, res) => {
    res.set({
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    res.flushHeaders();
    const send = (event: string, data: unknown) => {
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    send("hello", { now: now() });
    const offDecision = options.feed.subscribe((d) => send("decision", d));
    const offApproval = options.approvals.subscribe((e) => send("approval", e));
    const beat = setInterval(() => res.write(": keep-alive\n\n"), heartbeatMs);
    beat.unref?.();
    const stop = () => {
      clearInterval(beat);
      offDecision();
      offApproval();
    };
    req.on("close", stop);
    res.on("close", stop);
  });

  api.use(function adminErrors(err: unknown, _req: Request, res: Response, _next: NextFunction) {
    if (err instanceof GatewayError && err.code === "APPROVAL_NOT_FOUND") {
      res.status(404).json({ error: "not_found", message: err.message });
      return;
    }
    // Either store being down is an outage to report, not an internal error: the counter
    // store's STORE_UNAVAILABLE (counters while Redis is gone) words it for people too.
    const storeDown =
      (err instanceof GatewayError && err.code === "APPROVAL_STORE_FAILED") ||
      (err instanceof Error && (err as { code?: unknown }).code === "STORE_UNAVAILABLE");
    if (storeDown) {
      res.status(503).json({ error: "store_unavailable", message: (err as Error).message });
      return;
    }
    const status = (err as { status?: number }).status;
    if (status && status >= 400 && status < 500) {
      // Body-parser's own text ("Unexpected token...") does not say what was expected.
      const message =
        (err as { type?: string }).type === "entity.parse.failed"
          ? `the body is not JSON (${(err as Error).message}); send {"reason":"..."} or nothing`
          : (err as Error).message;
      res.status(status).json({ error: "bad_request", message });
      return;
    }
    res.status(500).json({ error: "internal", message: "internal error" });
  });

  router.use("/admin/api", api);
  return router;
}
