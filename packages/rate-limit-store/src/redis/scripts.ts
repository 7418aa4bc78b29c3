import {
  BUCKET_ONE_LUA,
  COMMIT_MANY_LUA,
  PEEK_LUA,
  RESERVE_LUA,
  RESERVE_ONE_LUA,
  ROLLBACK_LUA,
  SLIDING_ONE_LUA,
  SMOOTH_PEEK_LUA,
  SMOOTH_RESERVE_LUA,
  SMOOTH_ROLLBACK_LUA,
} from "./lua.js";
import { type LuaScript, luaScript } from "./sender.js";

/** Every Lua script of the store with its SHA, hashed once at load. */
export const SCRIPTS = {
  reserve: luaScript(RESERVE_LUA),
  reserveOne: luaScript(RESERVE_ONE_LUA),
  rollback: luaScript(ROLLBACK_LUA),
  peek: luaScript(PEEK_LUA),
  smoothReserve: luaScript(SMOOTH_RESERVE_LUA),
  slidingOne: luaScript(SLIDING_ONE_LUA),
  bucketOne: luaScript(BUCKET_ONE_LUA),
  smoothRollback: luaScript(SMOOTH_ROLLBACK_LUA),
  smoothPeek: luaScript(SMOOTH_PEEK_LUA),
  commitMany: luaScript(COMMIT_MANY_LUA),
} as const;

const BY_SHA = new Map<string, LuaScript>(Object.values(SCRIPTS).map((s) => [s.sha, s]));

/** The script whose SHA opens an EVALSHA argument list (for the NOSCRIPT fallback). */
export function scriptBySha(sha: string | number | undefined): LuaScript {
  const s = BY_SHA.get(String(sha));
  if (s === undefined) throw new Error(`unknown script ${String(sha)}`);
  return s;
}
