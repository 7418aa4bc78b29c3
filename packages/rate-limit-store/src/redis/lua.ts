/**
 * The Lua scripts of the Redis store. Each runs atomically on the server, so a
 * multi-limit reservation is one round trip and never half-applied. ioredis sends them
 * by SHA (EVALSHA) and reloads them itself after NOSCRIPT (a restarted or flushed Redis).
 *
 * Layout: one string key per counter holding the units used in the current window, with
 * a PX expiry set when the window opens. The window's identity is its absolute expiry
 * (PEXPIRETIME, Redis >= 7), which is what rollback compares against.
 *
 * Numbers leave Lua as strings where they may be fractional, because Redis truncates
 * Lua numbers to integers in replies. Fractional sums are done in Lua's doubles and
 * stored with `%.17g` (which round-trips a double), not with INCRBYFLOAT (long double,
 * printed with 17 digits) or `tostring` (14 digits): that way a counter holds exactly
 * the double the memory store holds for the same sequence of weights, and both stores
 * admit and refuse the same calls at the boundary.
 */

/**
 * KEYS: the counter keys, in spec order (a key may repeat).
 * ARGV: per spec, weight, max, windowMs.
 * Reply when admitted: {1, used_1, expiretime_1, used_2, expiretime_2, ...}
 * Reply when refused:  {0, blockedIndex0, used_1, pttl_1, used_2, pttl_2, ...}
 * where `used` is the value before this call and pttl is -2 when the key does not exist.
 */
export const RESERVE_LUA = `
local n = #KEYS
local base, used, exists = {}, {}, {}
for i = 1, n do
  local k = KEYS[i]
  if used[k] == nil then
    local v = redis.call('GET', k)
    exists[k] = v ~= false
    base[k] = tonumber(v or '0') or 0
    used[k] = base[k]
  end
  if used[k] + tonumber(ARGV[3 * i - 2]) > tonumber(ARGV[3 * i - 1]) then
    -- A window opened under an older, longer policy window is cut to the current one,
    -- so a refusal never lasts longer than the window the policy now names.
    local wms = tonumber(ARGV[3 * i])
    if redis.call('PTTL', k) > wms then redis.call('PEXPIRE', k, wms) end
    local out = {0, i - 1}
    for j = 1, n do
      local kj = KEYS[j]
      local b = base[kj]
      if b == nil then b = tonumber(redis.call('GET', kj) or '0') or 0 end
      out[#out + 1] = string.format('%.17g', b)
      out[#out + 1] = redis.call('PTTL', kj)
    end
    return out
  end
  used[k] = used[k] + tonumber(ARGV[3 * i - 2])
end
local cur = {}
for i = 1, n do
  local k = KEYS[i]
  local ws = ARGV[3 * i - 2]
  local w = tonumber(ws)
  if not exists[k] then
    redis.call('SET', k, ws, 'PX', ARGV[3 * i])
    exists[k] = true
    cur[k] = w
  else
    local before = cur[k] or base[k]
    if w % 1 == 0 and before % 1 == 0 then
      redis.call('INCRBY', k, ws)
    else
      redis.call('SET', k, string.format('%.17g', before + w), 'KEEPTTL')
    end
    cur[k] = before + w
  end
end
local out, exp = {1}, {}
for i = 1, n do
  local k = KEYS[i]
  if exp[k] == nil then exp[k] = redis.call('PEXPIRETIME', k) end
  out[#out + 1] = string.format('%.17g', used[k])
  out[#out + 1] = exp[k]
end
return out
`;

/**
 * RESERVE_LUA specialised to one key (most calls carry one limit): no Lua tables, so
 * noticeably less work per call on the server. Same ARGV and reply layout.
 *
 * An integer weight on an integer counter (the common case) takes two server calls:
 * INCRBY, whose reply is the new count, and PEXPIRETIME, the window's identity. A key
 * INCRBY just created has no expiry yet (PEXPIRETIME -1): its window opens now. When
 * the new count is over max, the increment is undone inside the same script (so no
 * one ever sees it): DEL for the key INCRBY created, DECRBY otherwise. A fractional
 * weight or count (INCRBY refuses it) takes the GET path with %.17g doubles.
 */
export const RESERVE_ONE_LUA = `
local k = KEYS[1]
local w = tonumber(ARGV[1])
-- A refusal: the window never outlives the one asked for (a shortened policy window
-- clamps it), and the reply says how much is used and for how long.
local function refused(used, pttl)
  if pttl > tonumber(ARGV[3]) then
    redis.call('PEXPIRE', k, ARGV[3])
    pttl = tonumber(ARGV[3])
  end
  return {0, 0, string.format('%.17g', used), pttl}
end
if w % 1 == 0 then
  local v = redis.pcall('INCRBY', k, ARGV[1])
  if type(v) == 'number' then
    if v <= tonumber(ARGV[2]) then
      local exp = redis.call('PEXPIRETIME', k)
      if exp == -1 then
        redis.call('PEXPIRE', k, ARGV[3])
        exp = redis.call('PEXPIRETIME', k)
      end
      return {1, v, exp}
    end
    local used = v - w
    local pttl = redis.call('PTTL', k)
    if pttl == -1 and used == 0 then
      redis.call('DEL', k)
      return {0, 0, '0', -2}
    end
    redis.call('DECRBY', k, ARGV[1])
    return refused(used, pttl)
  end
end
local v = redis.call('GET', k)
local used = tonumber(v or '0') or 0
if used + w > tonumber(ARGV[2]) then
  return refused(used, redis.call('PTTL', k))
end
if not v then
  redis.call('SET', k, ARGV[1], 'PX', ARGV[3])
elseif w % 1 == 0 and used % 1 == 0 then
  redis.call('INCRBY', k, ARGV[1])
else
  redis.call('SET', k, string.format('%.17g', used + w), 'KEEPTTL')
end
return {1, string.format('%.17g', used + w), redis.call('PEXPIRETIME', k)}
`;

/**
 * KEYS[1]: the reservation's settle marker; KEYS[2..]: its counter keys.
 * ARGV[1]: when the marker expires (epoch ms on the Redis clock, PXAT: the reservation's
 * windows end by Redis's clock, so no gateway clock skew can expire it early); then per
 * counter, weight and the window's expiretime.
 * Reply: 1 when units were given back, 0 when the reservation was already settled.
 */
export const ROLLBACK_LUA = `
if not redis.call('SET', KEYS[1], 'rolled-back', 'NX', 'PXAT', ARGV[1]) then return 0 end
for i = 2, #KEYS do
  local k = KEYS[i]
  if redis.call('PEXPIRETIME', k) == tonumber(ARGV[2 * i - 1]) then
    local v = (tonumber(redis.call('GET', k) or '0') or 0) - tonumber(ARGV[2 * i - 2])
    if v < 0 then v = 0 end
    redis.call('SET', k, string.format('%.17g', v), 'KEEPTTL')
  end
end
return 1
`;

/** KEYS: counter keys. Reply: {used_1, pttl_1, ...} (used as string, pttl -2 when absent). */
export const PEEK_LUA = `
local out = {}
for i = 1, #KEYS do
  out[#out + 1] = string.format('%.17g', tonumber(redis.call('GET', KEYS[i]) or '0') or 0)
  out[#out + 1] = redis.call('PTTL', KEYS[i])
end
return out
`;

/**
 * KEYS: settle markers of committed reservations (one slot); ARGV: each one's expiry
 * (PXAT, Redis clock). Sets each as SET key committed NX PXAT at would: a marker
 * already there (a rollback that came first) is left alone. Reply: the number of keys.
 */
export const COMMIT_MANY_LUA = `
for i = 1, #KEYS do redis.call('SET', KEYS[i], 'committed', 'NX', 'PXAT', ARGV[i]) end
return #KEYS
`;

export { SLIDING_ONE_LUA } from "./lua-sliding.js";
export {
  BUCKET_ONE_LUA,
  SMOOTH_PEEK_LUA,
  SMOOTH_RESERVE_LUA,
  SMOOTH_ROLLBACK_LUA,
} from "./lua-smooth.js";
