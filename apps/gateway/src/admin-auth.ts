/**
 * Who is calling the admin API: the admin token (operations), a named approver by bearer
 * token or OAuth access token, or an approver signed in on the approvals page (session
 * cookie, with the session's CSRF token on every change). Failed credentials feed the
 * shared brute-force throttle; a blocked address learns nothing.
 */
import { timingSafeEqual } from "node:crypto";
import type { AuthThrottle, OAuthVerifier } from "@toolgate/mcp-express";
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import { z } from "zod";
import type { ResolvedApprover } from "./approvals/approvers-config.js";
import { ADMIN_APPROVER, type Approver } from "./approvals/decide.js";
import {
  type ApproverSession,
  type ApproverSessionStore,
  csrfMatches,
} from "./approver-sessions.js";
import { sha256Hex } from "./mask.js";

/** The authenticated caller of an admin API request (in `res.locals.principal`). */
export interface Principal {
  /** The admin token: operations (studio, counters) and, without named approvers, decisions. */
  readonly admin: boolean;
  /** The approver whose decisions this request may take, if any. */
  readonly approver?: Approver | undefined;
  /** How: `token`, `oauth` or `session`. */
  readonly via: "token" | "oauth" | "session";
}

/** Options of {@link createAdminAuth}. */
export interface AdminAuthOptions {
  readonly adminToken: string;
  readonly approvers: readonly ResolvedApprover[];
  readonly throttle: AuthThrottle;
  readonly sessions: ApproverSessionStore;
  /** Verifies OAuth access tokens (when `auth.oauth` is configured). */
  readonly oauth?: Pick<OAuthVerifier, "verify"> | undefined;
}

/** The session cookie (scoped to the admin surface). */
export const SESSION_COOKIE = "toolgate_approver";

const SignIn = z.strictObject({ credential: z.string().min(1).max(8192) });

/** The principal an admin API handler runs for. */
export function principalOf(res: Response): Principal {
  return res.locals.principal as Principal;
}

function cookieOf(req: Request): string | undefined {
  for (const part of (req.get("cookie") ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === SESSION_COOKIE) return v.join("=") || undefined;
  }
  return undefined;
}

function bearerOf(req: Request): string | undefined {
  return /^Bearer\s+(.+)$/i.exec(req.get("authorization") ?? "")?.[1]?.trim();
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The credential checks shared by bearer requests and the sign-in form. */
function credentials(o: AdminAuthOptions) {
  const adminHash = Buffer.from(sha256Hex(o.adminToken));
  const byHash = new Map(o.approvers.flatMap((a) => (a.tokenHash ? [[a.tokenHash, a]] : [])));
  const bySubject = new Map(
    o.approvers.flatMap((a) => (a.oauthSubject ? [[a.oauthSubject, a]] : [])),
  );
  const legacy = o.approvers.length === 0;
  return async function identify(secret: string): Promise<Principal | undefined> {
    const hash = sha256Hex(secret);
    // Constant-time for the admin token; approver tokens are looked up by their hash.
    if (timingSafeEqual(Buffer.from(hash), adminHash))
      return { admin: true, approver: legacy ? ADMIN_APPROVER : byHash.get(hash), via: "token" };
    const approver = byHash.get(hash);
    if (approver) return { admin: false, approver, via: "token" };
    if (o.oauth === undefined || bySubject.size === 0 || secret.split(".").length !== 3)
      return undefined;
    const v = await o.oauth.verify(secret);
    const sub = v.ok ? v.token.identity.sub : undefined;
    const byToken = sub === undefined ? undefined : bySubject.get(sub);
    return byToken ? { admin: false, approver: byToken, via: "oauth" } : undefined;
  };
}

function refuse(res: Response, status: number, error: string, message: string): void {
  if (status === 401) res.set("WWW-Authenticate", 'Bearer realm="toolgate-admin"');
  res.status(status).json({ error, message });
}

/** 429 for an address the throttle blocks; true when it answered. */
function blocked(throttle: AuthThrottle, req: Request, res: Response): boolean {
  const wait = throttle.blockedFor(req.socket.remoteAddress ?? "unknown");
  if (wait <= 0) return false;
  const s = Math.ceil(wait / 1000);
  res.set("Retry-After", String(s));
  refuse(
    res,
    429,
    "too_many_failures",
    `too many failed authentications from this address; retry in ${s} s`,
  );
  return true;
}

function sessionView(approver: Approver, session: ApproverSession) {
  return {
    approver: approver.name,
    roles: approver.roles,
    csrf: session.csrf,
    expiresAt: session.expiresAt,
  };
}

/**
 * The admin API's authentication: `authenticate` (every `/admin/api` route after the
 * session routes) and `sessionRoutes` (`POST /session` sign-in, `GET /session`, `DELETE
 * /session` sign-out).
 *
 * @example
 * const auth = createAdminAuth({ adminToken, approvers, throttle, sessions });
 * api.use(auth.sessionRoutes); api.use(auth.authenticate);
 */
export function createAdminAuth(o: AdminAuthOptions) {
  const identify = credentials(o);
  const approverNamed = (name: string): Approver | undefined =>
    o.approvers.find((a) => a.name === name) ?? (name === "admin" ? ADMIN_APPROVER : undefined);
  const fromCookie: FromCookie = async (req) => {
    const id = cookieOf(req);
    const session = id === undefined ? undefined : await o.sessions.get(id);
    const approver = session && approverNamed(session.approver);
    return id && session && approver ? { id, session, approver } : undefined;
  };

  async function authenticate(req: Request, res: Response, next: NextFunction) {
    if (blocked(o.throttle, req, res)) return;
    const address = req.socket.remoteAddress ?? "unknown";
    const bearer = bearerOf(req);
    if (bearer !== undefined) {
      const p = await identify(bearer).catch(() => undefined);
      if (!p) {
        o.throttle.failed(address);
        refuse(res, 401, "unauthorized", "send Authorization: Bearer <admin or approver token>");
        return;
      }
      o.throttle.succeeded(address);
      res.locals.principal = p;
      next();
      return;
    }
    const s = await fromCookie(req);
    if (!s) {
      refuse(
        res,
        401,
        "unauthorized",
        "sign in with your approver credential, or send Authorization: Bearer <token>",
      );
      return;
    }
    // A cookie rides along on any request the browser makes: a change must also carry
    // the session's CSRF token, which only the page (same origin) can read.
    if (UNSAFE.has(req.method) && !csrfMatches(s.session, req.get("x-csrf-token"))) {
      refuse(res, 403, "csrf", "missing or wrong X-CSRF-Token for this session; reload the page");
      return;
    }
    res.locals.principal = {
      admin: false,
      approver: s.approver,
      via: "session",
    } satisfies Principal;
    next();
  }

  return { authenticate, sessionRoutes: sessionRoutes(o, identify, fromCookie) };
}

/** The signed-in session of a request's cookie, with its approver. */
type FromCookie = (
  req: Request,
) => Promise<{ id: string; session: ApproverSession; approver: Approver } | undefined>;

/** `POST /session` (sign in with a credential), `GET /session`, `DELETE /session` (sign out). */
function sessionRoutes(
  o: AdminAuthOptions,
  identify: ReturnType<typeof credentials>,
  fromCookie: FromCookie,
): Router {
  const router: Router = express.Router();
  router.post("/session", express.json({ limit: "16kb" }), async (req, res) => {
    if (blocked(o.throttle, req, res)) return;
    const address = req.socket.remoteAddress ?? "unknown";
    const body = SignIn.safeParse(req.body);
    if (!req.is("application/json") || !body.success) {
      refuse(res, 400, "invalid_body", 'send JSON {"credential":"<your approver token>"}');
      return;
    }
    const p = await identify(body.data.credential.trim()).catch(() => undefined);
    if (!p) {
      o.throttle.failed(address);
      refuse(res, 401, "unauthorized", "that is not an approver credential");
      return;
    }
    o.throttle.succeeded(address);
    if (!p.approver) {
      // The admin token is a good credential (no throttle), but it decides nothing here.
      refuse(
        res,
        403,
        "not_an_approver",
        "the admin token is not an approver; use it as a Bearer token",
      );
      return;
    }
    const { id, session } = await o.sessions.create(p.approver.name);
    const secure = req.secure || req.get("x-forwarded-proto") === "https";
    res.cookie(SESSION_COOKIE, id, {
      httpOnly: true,
      sameSite: "strict",
      secure,
      path: "/admin",
      expires: new Date(session.expiresAt),
    });
    res.set("Cache-Control", "no-store").json(sessionView(p.approver, session));
  });
  router.get("/session", async (req, res) => {
    const s = await fromCookie(req);
    if (!s) return refuse(res, 401, "unauthorized", "not signed in");
    res.set("Cache-Control", "no-store").json(sessionView(s.approver, s.session));
  });
  router.delete("/session", async (req, res) => {
    const s = await fromCookie(req);
    if (s && !csrfMatches(s.session, req.get("x-csrf-token")))
      return refuse(res, 403, "csrf", "missing or wrong X-CSRF-Token for this session");
    if (s) await o.sessions.delete(s.id);
    res.clearCookie(SESSION_COOKIE, { path: "/admin" }).status(204).end();
  });
  return router;
}
