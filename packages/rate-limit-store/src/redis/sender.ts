/**
 * How the store's commands reach Redis: plain ioredis `Command`s on the client's own
 * connection, without ioredis's `defineCommand` wrapper or auto-pipelining. Those cost
 * more client CPU than the round trip they batch (a pipeline object per batch, two
 * extra promises and a callback per command, one pipeline in flight at a time). Here a
 * script goes out as EVALSHA of its cached SHA, and every command written during the
 * current event-loop turn shares one socket write: the first write of a turn corks the
 * socket and the turn's `setImmediate` uncorks it. A gateway handles each client request
 * in its own I/O callback, so uncorking per tick would still write one reservation per
 * syscall (and wake Redis once per call); per turn, the reservations (and queued commit
 * markers) of every request read in that turn go out together. This holds even with
 * nothing in flight: under load the connection is often idle between replies (Redis
 * answers in tens of microseconds), and writing at once then cost one syscall per call.
 * A lone call waits only for the rest of its turn (the callbacks of I/O already read).
 *
 * A script the server does not know (NOSCRIPT: a restarted or flushed Redis) did not
 * run, so it is safe to send again as EVAL, which also caches it.
 */
import { createHash } from "node:crypto";
import { Cluster, Command, type Redis } from "ioredis";

// As it was when this module loaded: the cork is an I/O detail, not a timer a test faking
// time (later) could hold back, which would stall every command.
const realSetImmediate = setImmediate;

/** A script reply: numbers, or strings where Lua computed fractions. */
export type Reply = ReadonlyArray<string | number>;

/** A Lua script, its SHA1 (what EVALSHA names it by) and its command class. */
export interface LuaScript {
  readonly lua: string;
  readonly sha: string;
  /** A command running the script with `args` = `[any, numKeys, ...keys, ...argv]`. */
  command(args: Array<string | number>, opts: CommandOptions): Command;
  /** The same as EVAL (sends the text, which Redis caches): the retry after NOSCRIPT. */
  evalCommand(args: Array<string | number>, opts: CommandOptions): Command;
}

type CommandOptions = ConstructorParameters<typeof Command>[2];

/**
 * Hashes `lua` once, at module load. Its commands go out as EVAL (the text) the first
 * time on a connection, EVALSHA afterwards, decided when written (so a reconnect or a
 * Cluster node is covered too): no NOSCRIPT round trip on first use.
 */
export function luaScript(lua: string): LuaScript {
  const sha = createHash("sha1").update(lua).digest("hex");
  const loaded = new WeakSet<object>();
  class ScriptCommand extends Command {
    override toWritable(socket: object): string | Buffer {
      if (this.name === "eval") loaded.add(socket);
      else if (!loaded.has(socket)) {
        loaded.add(socket);
        this.name = "eval";
        this.args[0] = lua;
      }
      return super.toWritable(socket);
    }
  }
  return {
    lua,
    sha,
    command: (args, opts) => {
      args[0] = sha;
      return new ScriptCommand("evalsha", args, opts);
    },
    evalCommand: (args, opts) => {
      args[0] = lua;
      return new ScriptCommand("eval", args, opts);
    },
  };
}

/** True when `err` is Redis saying it does not have the script (so it did not run). */
export function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith("NOSCRIPT");
}

/** Sends commands and scripts over one ioredis client (a single node or a Cluster). */
export class Sender {
  readonly #client: Redis | Cluster;
  /** The single-node client, whose socket can be corked; undefined for a Cluster. */
  readonly #single: Redis | undefined;
  /** Replies decoded as UTF-8 strings (numbers stay numbers); the client's key prefix, if any. */
  readonly #opts: { replyEncoding: "utf8"; keyPrefix?: string };
  #corked: Redis["stream"] | undefined;
  readonly #uncork = (): void => {
    const s = this.#corked;
    this.#corked = undefined;
    s?.uncork();
  };

  constructor(client: Redis | Cluster) {
    this.#client = client;
    this.#single = client instanceof Cluster ? undefined : client;
    const keyPrefix = client.options.keyPrefix;
    this.#opts = keyPrefix ? { replyEncoding: "utf8", keyPrefix } : { replyEncoding: "utf8" };
  }

  /** Sends `name args` as one command; resolves with the reply. */
  call(name: string, args: Array<string | number>): Promise<unknown> {
    return this.#send(new Command(name, args, this.#opts));
  }

  /**
   * Runs `script` with `args` (`[any, numKeys, ...keys, ...argv]`, built by the caller
   * so nothing is copied; slot 0 becomes the SHA or the text). Rejects with NOSCRIPT
   * when Redis lost the script since this connection last sent it: see
   * {@link isNoScript} and {@link retry}, or use {@link run}.
   */
  script(script: LuaScript, args: Array<string | number>): Promise<Reply> {
    return this.#send(script.command(args, this.#opts)) as Promise<Reply>;
  }

  /**
   * EVALSHA `args` (`[script.sha, numKeys, ...]`) as a plain command, without the
   * first-use EVAL of {@link script}: the hot path (a plain `Command` measured about half
   * the client CPU per call of a subclassed one at concurrency 1). Rejects with NOSCRIPT
   * when Redis lacks the script (first use after a restart or flush): {@link retry}.
   */
  evalsha(args: Array<string | number>): Promise<Reply> {
    return this.call("evalsha", args) as Promise<Reply>;
  }

  /** The same call again after NOSCRIPT: it goes out as EVAL (the script did not run). */
  retry(script: LuaScript, args: Array<string | number>): Promise<Reply> {
    return this.#send(script.evalCommand(args, this.#opts)) as Promise<Reply>;
  }

  /** {@link script} with the NOSCRIPT retry (where one more promise does not matter). */
  run(script: LuaScript, args: Array<string | number>): Promise<Reply> {
    return this.script(script, args).then(undefined, (err: unknown) => {
      if (isNoScript(err)) return this.retry(script, args);
      throw err;
    });
  }

  /** True while commands are in flight on the single-node connection (never on a Cluster). */
  busy(): boolean {
    const c = this.#single;
    return c !== undefined && c.commandQueue.length > 0;
  }

  #send(c: Command): Promise<unknown> {
    this.#cork();
    this.#client.sendCommand(c);
    return c.promise;
  }

  /**
   * Corks the single-node socket (when it is ready and not corked already) until the end
   * of the event-loop turn (see module doc). `setImmediate`: pending immediates keep the
   * poll phase from blocking, so this waits only for callbacks of I/O already read.
   */
  #cork(): void {
    const c = this.#single;
    if (c === undefined || this.#corked !== undefined || c.status !== "ready") return;
    const s = c.stream;
    if (s === undefined || s === null || !s.writable) return;
    s.cork();
    this.#corked = s;
    realSetImmediate(this.#uncork);
  }
}
