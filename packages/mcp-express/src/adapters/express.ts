import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * The endpoint as Express middleware. Typed on Node's request and response (Express's
 * `Request`/`Response` extend them), so it mounts with `app.all("/mcp", gw.handler)` and
 * the package's types do not need Express's. It parses its own body (an upstream
 * `express.json()` body is used when already read) and never calls `next`.
 */
export type McpRequestHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: (err?: unknown) => void,
) => Promise<void>;

/** Wraps the endpoint as {@link McpRequestHandler}. */
export function expressHandler(
  serve: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): McpRequestHandler {
  return function toolgateMcpHandler(req, res) {
    return serve(req, res);
  };
}
