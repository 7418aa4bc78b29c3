import type { z } from "zod";

/** Who an upstream connection is opened for: what header templates may name. */
export interface UpstreamIdentity {
  /** The grant of the session (or held 2026 session) that opens the connection. */
  readonly grant: string;
  /** The verified subject (OAuth `sub`), when the credential names one. */
  readonly subject?: string | undefined;
}

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/**
 * What `{{…}}` may name: only what an upstream connection is keyed by (one connection
 * per session, and a held 2026 session per grant and subject), so a header can never
 * carry a value of another identity. Claims, client ids and request headers are not
 * offered: a claim may differ between two tokens of one subject, and the client's own
 * credential must never reach an upstream.
 */
const FIELDS: Record<string, (who: UpstreamIdentity) => string | undefined> = {
  grant: (who) => who.grant,
  "grant.name": (who) => who.grant,
  subject: (who) => who.subject,
  "identity.sub": (who) => who.subject,
};

const NAMES = Object.keys(FIELDS)
  .map((f) => `{{${f}}}`)
  .join(", ");

// RFC 9110 field-name token; values: visible ASCII, space and tab (no CR/LF injection).
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/** Headers the transport sets itself, or that name the client's credential in disguise. */
const RESERVED = new Set([
  "host",
  "content-length",
  "content-type",
  "accept",
  "connection",
  "transfer-encoding",
  "mcp-session-id",
  "mcp-protocol-version",
  "last-event-id",
]);

/**
 * Checks one header map (`headers` or a grant's entry) and reports each problem at its
 * path with a fix: unknown placeholders (the client's `Authorization`, a token or any
 * request header are refused outright), reserved names, and characters a header cannot
 * carry.
 */
export function checkHeaderTemplates(
  headers: Record<string, string>,
  ctx: z.RefinementCtx,
  path: readonly PropertyKey[],
): void {
  for (const [name, value] of Object.entries(headers)) {
    const at = [...path, name];
    if (!HEADER_NAME.test(name)) {
      ctx.addIssue({
        code: "custom",
        path: at,
        message: "is not a valid header name; use letters, digits and - only",
      });
    } else if (RESERVED.has(name.toLowerCase())) {
      ctx.addIssue({
        code: "custom",
        path: at,
        message: `is set by the gateway itself; remove ${name}`,
      });
    }
    for (const m of value.matchAll(PLACEHOLDER)) {
      const field = m[1] ?? "";
      if (FIELDS[field] !== undefined) continue;
      const credential = /auth|token|bearer|header|cookie|key|secret|password|request/i.test(field);
      ctx.addIssue({
        code: "custom",
        path: at,
        message: credential
          ? `{{${field}}} would copy the client's credential or request data to the upstream, which is never done; give the upstream its own credential as a fixed value (e.g. "Bearer \${UPSTREAM_TOKEN}") and use ${NAMES} to say who is calling`
          : `{{${field}}} is not a known placeholder; use ${NAMES}`,
      });
    }
    const rest = value.replace(PLACEHOLDER, "");
    if (rest.includes("{{") || rest.includes("}}")) {
      ctx.addIssue({
        code: "custom",
        path: at,
        message: "has an unclosed {{ or }}; write placeholders as {{grant}}",
      });
    }
    if (!HEADER_VALUE.test(rest)) {
      ctx.addIssue({
        code: "custom",
        path: at,
        message:
          "has characters a header cannot carry (line breaks, control or non-ASCII characters)",
      });
    }
  }
}

/** True when some value has a placeholder (the probe then leaves that header out). */
export function isTemplated(value: string): boolean {
  return /\{\{[^{}]*\}\}/.test(value);
}

/**
 * The headers for one connection: the upstream's `headers`, then the grant's own entry
 * of `grantHeaders` over them, placeholders filled from `who`. Without `who` (the
 * start-up health probe) only fixed headers are sent. A value a placeholder makes
 * unsendable (no subject for `{{subject}}`, or characters a header cannot carry) fails
 * the connection rather than send a header that says less than it should.
 *
 * @example
 * renderHeaders({ "X-Account": "{{grant}}" }, undefined, { grant: "desk-a" }) // { "X-Account": "desk-a" }
 */
export function renderHeaders(
  headers: Readonly<Record<string, string>>,
  grantHeaders: Readonly<Record<string, Readonly<Record<string, string>>>> | undefined,
  who: UpstreamIdentity | undefined,
): Record<string, string> {
  const merged = { ...headers, ...(who ? grantHeaders?.[who.grant] : undefined) };
  const out: Record<string, string> = {};
  for (const [name, template] of Object.entries(merged)) {
    if (!isTemplated(template)) {
      out[name] = template;
      continue;
    }
    if (who === undefined) continue;
    out[name] = template.replace(PLACEHOLDER, (_m, field: string) => {
      const value = FIELDS[field]?.(who);
      if (value === undefined) {
        throw new Error(
          `upstream header ${name} needs {{${field}}}, which this caller does not have`,
        );
      }
      if (!HEADER_VALUE.test(value)) {
        throw new Error(
          `upstream header ${name}: {{${field}}} has characters a header cannot carry`,
        );
      }
      return value;
    });
  }
  return out;
}
