import express, { type NextFunction, type Request, type Response, type Router } from "express";
import { z } from "zod";
import { GatewayError } from "../errors.js";
import type { Logger } from "../logger.js";
import { STUDIO_CSS, STUDIO_HTML, STUDIO_JS } from "./page.js";
import type { StudioService } from "./service.js";

/**
 * The studio page's Content-Security-Policy: scripts and styles only from this origin
 * (no inline code at all), and Trusted Types with no policy, so assigning a string to
 * `innerHTML` (or any other HTML sink) throws instead of parsing markup.
 */
export const STUDIO_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

const SECURITY_HEADERS = {
  "Cache-Control": "no-store",
  "Content-Security-Policy": STUDIO_CSP,
  "Referrer-Policy": "no-referrer",
  "X-Content-Type-Options": "nosniff",
  "Cross-Origin-Resource-Policy": "same-origin",
} as const;

/**
 * `GET /admin/studio` and its script and stylesheet: static, no data, no credentials
 * (the page reads the admin token the approvals page stored, or asks for it).
 */
export function createStudioPageRouter(): Router {
  const router = express.Router();
  const send = (type: string, body: string) => (_req: Request, res: Response) => {
    res.set({ ...SECURITY_HEADERS, "Content-Type": type }).send(body);
  };
  router.get(["/admin/studio", "/admin/studio/"], send("text/html; charset=utf-8", STUDIO_HTML));
  router.get("/admin/studio/studio.js", send("text/javascript; charset=utf-8", STUDIO_JS));
  router.get("/admin/studio/studio.css", send("text/css; charset=utf-8", STUDIO_CSS));
  return router;
}

const Grant = z.string().min(1).max(64);
const Draft = {
  grant: Grant,
  text: z.string().max(256 * 1024, "keep the policy under 256 KiB"),
  format: z.enum(["json", "yaml"], { error: 'use "json" or "yaml"' }),
};
const ValidateBody = z.strictObject({ text: Draft.text, format: Draft.format });
const DraftBody = z.strictObject(Draft);
const DiffBody = z.strictObject({ ...Draft, shadow: z.boolean().optional() });
const TryBody = z.strictObject({
  ...Draft,
  tool: z.string().min(1, "pick a tool").max(256),
  arguments: z.record(z.string(), z.unknown()).default({}),
});
const PublishBody = z.strictObject({
  ...Draft,
  baseHash: z
    .string()
    .regex(/^sha256:[0-9a-f]{64}$/, "send the hash GET /studio/policy returned with the text"),
  shadow: z.boolean().optional(),
  note: z.string().max(200, "keep the note under 200 characters").optional(),
});

const STATUS: Record<string, number> = {
  STUDIO_UNKNOWN_GRANT: 404,
  STUDIO_POLICY_INVALID: 422,
  STUDIO_CONFLICT: 409,
  STUDIO_READ_ONLY: 409,
  STUDIO_NO_TESTS: 404,
  STUDIO_PUBLISH_FAILED: 500,
};

function parse<T>(schema: z.ZodType<T>, body: unknown, res: Response): T | undefined {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  res.status(400).json({
    error: "invalid_body",
    message: "the request body does not have the expected shape",
    issues: r.error.issues.map((i) => ({
      path: i.path.join("."),
      message: i.message,
      fix: i.code === "unrecognized_keys" ? "remove the unknown key" : undefined,
    })),
  });
  return undefined;
}

/**
 * Refuses cross-site writes even when a token is attached. A browser always sends
 * `Origin` (and `Sec-Fetch-Site`) on a cross-origin POST; the only way a page elsewhere
 * could POST here is a "simple" request, which cannot set `Content-Type:
 * application/json`. So a write must be JSON and must come from this very origin.
 */
function sameOriginWrites(req: Request, res: Response, next: NextFunction): void {
  if (req.method === "GET" || req.method === "HEAD") {
    next();
    return;
  }
  if (!req.is("application/json")) {
    res.status(415).json({
      error: "unsupported_media_type",
      message: "send the body as JSON with Content-Type: application/json",
    });
    return;
  }
  const site = req.get("sec-fetch-site");
  const origin = req.get("origin");
  const host = req.get("host");
  const crossSite = site !== undefined && site !== "same-origin" && site !== "none";
  let foreign = false;
  if (origin !== undefined) {
    try {
      foreign = origin === "null" || new URL(origin).host !== host;
    } catch {
      foreign = true;
    }
  }
  if (crossSite || foreign) {
    res.status(403).json({
      error: "cross_origin",
      message: "the studio accepts changes only from its own page (same origin)",
    });
    return;
  }
  next();
}

/** A route whose result (when not undefined and nothing was sent yet) is the JSON reply. */
const wrap =
  (fn: (req: Request, res: Response) => Promise<unknown> | unknown) =>
  async (req: Request, res: Response, next: NextFunction) => {
    try {
      const out = await fn(req, res);
      if (out !== undefined && !res.headersSent) res.json(out);
    } catch (err) {
      next(err);
    }
  };

/** `?grant=`, or undefined after answering 400. */
function grantQuery(req: Request, res: Response): string | undefined {
  const g = Grant.safeParse(req.query.grant);
  if (g.success) return g.data;
  res.status(400).json({
    error: "invalid_query",
    message: "name the grant: ?grant=<name>",
    issues: [
      {
        path: "grant",
        message: "missing or too long",
        fix: "pick a grant from GET /studio/grants",
      },
    ],
  });
  return undefined;
}

/** Studio errors by code to their status; body errors as 4xx; anything else logged as 500. */
function studioErrors(logger: Logger | undefined) {
  return function studioErrors(err: unknown, _req: Request, res: Response, _next: NextFunction) {
    if (err instanceof GatewayError && STATUS[err.code] !== undefined) {
      res.status(STATUS[err.code] as number).json({
        error: err.code.replace(/^STUDIO_/, "").toLowerCase(),
        message: err.message,
        issues: err.issues,
      });
      return;
    }
    const status = (err as { status?: number }).status;
    if (status && status >= 400 && status < 500) {
      const message =
        (err as { type?: string }).type === "entity.parse.failed"
          ? "the body is not JSON"
          : (err as Error).message;
      res.status(status).json({ error: "bad_request", message });
      return;
    }
    logger?.error({ err: String((err as Error)?.message ?? err) }, "studio request failed");
    res.status(500).json({ error: "internal", message: "internal error" });
  };
}

/**
 * The studio API, mounted by the admin router behind its token check (so every route
 * needs `Authorization: Bearer <admin token>`), under `/studio`:
 *
 * - `GET  /studio/grants` — grants, their policy files, publishable or not.
 * - `GET  /studio/policy?grant=G` — the file's text, format, content hash, version in force.
 * - `GET  /studio/tools?grant=G[&refresh=1]` — every tool: upstream, risk, reasons, what
 *   the policy in force does and which rule decides, live counter use.
 * - `POST /studio/validate` `{ text, format }` — issues by path with fixes; JSON and YAML.
 * - `POST /studio/try` `{ grant, text, format, tool, arguments }` — draft and live decision
 *   and trace (counters peeked, never consumed; nothing is sent upstream).
 * - `POST /studio/test` `{ grant, text, format }` — the grant's policy tests on the draft.
 * - `POST /studio/diff` `{ grant, text, format, shadow? }` — what publishing would write.
 * - `POST /studio/publish` `{ grant, text, format, baseHash, shadow?, note? }`.
 *
 * Writes must be same-origin JSON (see {@link sameOriginWrites}).
 */
export function createStudioApiRouter(studio: StudioService, logger?: Logger): Router {
  const router = express.Router();
  router.use("/studio", sameOriginWrites, express.json({ limit: "512kb" }));

  router.get(
    "/studio/grants",
    wrap(() => ({ grants: studio.grants() })),
  );
  router.get(
    "/studio/policy",
    wrap((req, res) => {
      const g = grantQuery(req, res);
      return g === undefined ? undefined : studio.policy(g);
    }),
  );
  router.get(
    "/studio/tools",
    wrap((req, res) => {
      const g = grantQuery(req, res);
      return g === undefined ? undefined : studio.tools(g, { refresh: req.query.refresh === "1" });
    }),
  );
  router.post(
    "/studio/validate",
    wrap((req, res) => {
      const b = parse(ValidateBody, req.body, res);
      return b && studio.validate(b.text, b.format);
    }),
  );
  router.post(
    "/studio/try",
    wrap((req, res) => {
      const b = parse(TryBody, req.body, res);
      return b && studio.tryCall(b);
    }),
  );
  router.post(
    "/studio/test",
    wrap((req, res) => {
      const b = parse(DraftBody, req.body, res);
      return b && studio.runTests(b);
    }),
  );
  router.post(
    "/studio/diff",
    wrap((req, res) => {
      const b = parse(DiffBody, req.body, res);
      return b && studio.diff(b);
    }),
  );
  router.post(
    "/studio/publish",
    wrap((req, res) => {
      const b = parse(PublishBody, req.body, res);
      // One shared admin token today: the publisher is "admin" (named approvers later).
      return b && studio.publish({ ...b, by: "admin" });
    }),
  );

  router.use("/studio", studioErrors(logger));
  return router;
}
