import { AuthThrottle, type OAuthVerifier } from "@toolgate/mcp-express";
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import { approvalRoutes } from "./admin-approvals.js";
import { createAdminAuth, principalOf } from "./admin-auth.js";
import { ADMIN_PAGE_HTML } from "./admin-page.js";
import type { ResolvedApprover } from "./approvals/approvers-config.js";
import { type ApprovalLifecycle, createApprovalLifecycle } from "./approvals/events.js";
import type { ApprovalStore } from "./approvals/store.js";
import { type ApproverSessionStore, createApproverSessions } from "./approver-sessions.js";
import { GatewayError } from "./errors.js";
import type { DecisionFeed } from "./feed.js";

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
  /** The admin token: operations on every `/admin/api` route; decisions only without named approvers. */
  readonly token: string;
  readonly feed: DecisionFeed;
  /** Named approvers; empty (default): the admin token decides as `admin`. */
  readonly approvers?: readonly ResolvedApprover[];
  /** Signed-in approvers of the page. Default: in memory, 8 hours. */
  readonly sessions?: ApproverSessionStore;
  /** Verifies OAuth access tokens of approvers identified by `oauthSubject`. */
  readonly oauth?: Pick<OAuthVerifier, "verify"> | undefined;
  /** Where decided / expired events go. Default: nowhere. */
  readonly lifecycle?: ApprovalLifecycle;
  /** The policy file of a grant (approvers limited to `policies`). */
  readonly policyOf?: (grant: string) => string | undefined;
  /** Whose decisions the feed holds, as the page labels them. Default "this instance". */
  readonly feedScope?: string;
  /** Current limit counters per grant (optional: the page hides the section without it). */
  readonly counters?: () => Promise<CounterView[]>;
  readonly now?: () => number;
  /** Heartbeat interval of the live stream; keeps proxies from closing it. Default 15 s. */
  readonly heartbeatMs?: number;
  /** Slows down admin-token guessing per client address; default a fresh one. */
  readonly throttle?: AuthThrottle;
  /** More routes under `/admin/api`, for the admin token only (the policy studio's). */
  readonly extraApi?: Router | undefined;
}

const PAGE_HEADERS = {
  "Content-Type": "text/html; charset=utf-8",
  "Cache-Control": "no-store",
  "Content-Security-Policy":
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "Referrer-Policy": "no-referrer",
  "X-Content-Type-Options": "nosniff",
};

/** `GET /decisions`, `/counters` and `/events` (Server-Sent Events). */
function viewRoutes(options: AdminRouterOptions, now: () => number): Router {
  const api = express.Router();
  const heartbeatMs = options.heartbeatMs ?? 15_000;
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
  return api;
}

/** Errors of the admin API as JSON: 404 unknown approval, 503 store down, 4xx bad request. */
function adminErrors(err: unknown, _req: Request, res: Response, _next: NextFunction) {
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
}

/**
 * The approvals API and page:
 *
 * - `GET  /admin` — the approvals page (static HTML; sign-in in the page).
 * - `POST /admin/api/session` `{ credential }` — approver sign-in: sets an HttpOnly,
 *   SameSite=Strict session cookie and returns the session's CSRF token; `GET` shows the
 *   session, `DELETE` signs out. Changes by cookie need `X-CSRF-Token`.
 * - `GET  /admin/api/approvals` — `{ pending, recent, you }`, each with `needed`,
 *   `approvedBy`, `remaining` and (pending) `cannotApprove`.
 * - `POST /admin/api/approvals/:id/approve` and `/reject` — body `{ reason? }`.
 * - `GET  /admin/api/decisions`, `/counters`, `/events` (Server-Sent Events).
 *
 * Every other `/admin/api` route needs `Authorization: Bearer <admin or approver token>`
 * (or an approver's OAuth access token) or a page session.
 *
 * @example
 * app.use(createAdminRouter({ approvals, token, feed }));
 */
export function createAdminRouter(options: AdminRouterOptions): Router {
  const router = express.Router();
  const now = options.now ?? Date.now;
  const auth = createAdminAuth({
    adminToken: options.token,
    approvers: options.approvers ?? [],
    throttle: options.throttle ?? new AuthThrottle({ now }),
    sessions: options.sessions ?? createApproverSessions({ ttlMs: 8 * 3_600_000, now }),
    oauth: options.oauth,
  });
  router.get(["/admin", "/admin/"], (_req, res) => {
    res.set(PAGE_HEADERS).send(ADMIN_PAGE_HTML);
  });
  const api = express.Router();
  api.use(auth.sessionRoutes);
  api.use(auth.authenticate);
  // Before the 16 kB body parser: a policy draft is bigger than an approval reason, and
  // the studio parses (and guards) its own bodies. The admin token only.
  const extra = options.extraApi;
  if (extra) api.use((req, res, next) => (principalOf(res).admin ? extra(req, res, next) : next()));
  api.use(express.json({ limit: "16kb" }));
  api.use(
    approvalRoutes({
      store: options.approvals,
      lifecycle: options.lifecycle ?? createApprovalLifecycle(),
      policyOf: options.policyOf ?? (() => undefined),
      now,
    }),
  );
  api.use(viewRoutes(options, now));
  api.use(adminErrors);
  router.use("/admin/api", api);
  return router;
}
