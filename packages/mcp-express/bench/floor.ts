/**
 * Framework floor: a handler that does no MCP work (reads the body, answers a fixed
 * tools/call result), mounted in Express and as a plain Node listener. The difference
 * is what Express itself costs per request on this machine, which no middleware mounted
 * in it can avoid. Prints `PORT <express> <plain>` once listening.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";

const body = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  result: { content: [{ type: "text", text: "hello" }] },
});

function fixed(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      "mcp-session-id": "floor",
    });
    res.end(body);
  });
}

const app = express();
app.all("/mcp", fixed);
const viaExpress = app.listen(0, "127.0.0.1", () => {
  const plain = createServer(fixed).listen(0, "127.0.0.1", () => {
    const a = (viaExpress.address() as AddressInfo).port;
    const b = (plain.address() as AddressInfo).port;
    process.stdout.write(`PORT ${a} ${b}\n`);
  });
});

process.on("SIGTERM", () => process.exit(0));
