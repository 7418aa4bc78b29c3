import type { IncomingMessage, ServerResponse } from "node:http";

/** A plain Node request listener (`http.createServer`), no framework in the path. */
export type McpRequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** Wraps the endpoint as a {@link McpRequestListener}; failures are answered inside. */
export function nodeListener(
  serve: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): McpRequestListener {
  return function toolgateMcpListener(req, res) {
    void serve(req, res);
  };
}
