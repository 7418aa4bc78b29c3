/**
 * The smooth-limit Lua scripts of the Redis store (sliding log and GCRA token bucket),
 * apart from the fixed-window ones in lua.ts. The same rules hold: atomic on the server,
 * numbers kept as `%.17g` doubles so memory and Redis reach the same values.
 */
import { MAX_LOG_ENTRIES } from "@toolgate/policy-engine";

/**
 * Shared by every smooth script: Redis's own clock (`t`, fractional ms), the `%.17g`
 * number format, a log entry's time and weight, and the earliest time a refused sliding
 * call would fit (oldest entries leave first) — one copy, so the scripts cannot drift.
 */
const LOG_PRELUDE = `
local tm = redis.call('TIME')
local t = tonumber(tm[1]) * 1000 + tonumber(tm[2]) / 1000
local function fmt(x) return string.format('%.17g', x) end
local function entry(e)
  local a, b = string.match(e, '^([^|]+)|([^|]+)|')
  return tonumber(a), tonumber(b)
end
local function sliding_retry(k, used, w, max, wms)
  local freed = 0
  for _, e in ipairs(redis.call('LRANGE', k, 0, -1)) do
    local et, ew = entry(e)
    freed = freed + ew
    if used - freed + w <= max then return et + wms - t end
  end
  return wms
end
`;

/**
 * Shared pieces of the smooth-limit scripts. Time is Redis's own (`TIME`, fractional
 * ms), so every gateway sharing the Redis measures the same clock. A sliding log is a
 * list of `t|weight|id` entries, oldest first, plus its running sum in `<key>:n` (same
 * hash tag, so same Cluster slot); a bucket is one string holding GCRA's `tat`.
 * Sums and tats are computed in the same order as the memory store's, so both reach
 * the same doubles.
 */
const SMOOTH_COMMON = `
${LOG_PRELUDE}local function expire(k, wms)
  local sk = k .. ':n'
  local head = redis.call('LINDEX', k, 0)
  if not head then
    return 0
  end
  local sum = tonumber(redis.call('GET', sk) or '0') or 0
  local changed = false
  while head do
    local et, ew = entry(head)
    if et + wms > t then break end
    sum = sum - ew
    redis.call('LPOP', k)
    changed = true
    head = redis.call('LINDEX', k, 0)
  end
  if not head then
    sum = 0
    redis.call('DEL', sk)
  elseif changed then
    redis.call('SET', sk, fmt(sum), 'KEEPTTL')
  end
  return sum
end
local function state(k, alg, max, wms)
  if alg == 's' then
    local head = redis.call('LINDEX', k, 0)
    if head then
      local et = entry(head)
      if et + wms > t then
        local tail = entry(redis.call('LINDEX', k, -1))
        return fmt(tonumber(redis.call('GET', k .. ':n') or '0') or 0), fmt(tail + wms - t)
      end
    end
    local used, last = 0, -2
    for _, e in ipairs(redis.call('LRANGE', k, 0, -1)) do
      local et, ew = entry(e)
      if et + wms > t then
        used = used + ew
        last = et + wms - t
      end
    end
    return fmt(used), fmt(last)
  elseif alg == 'b' then
    local tat = tonumber(redis.call('GET', k) or '')
    if tat and tat > t then return fmt((tat - t) / (wms / max)), fmt(tat - t) end
    return '0', '-2'
  end
  return fmt(tonumber(redis.call('GET', k) or '0') or 0), tostring(redis.call('PTTL', k))
end
`;

/**
 * Reserve for a call with at least one sliding or token-bucket limit (fixed limits of the
 * same call are counted here too, with RESERVE_LUA's semantics).
 * KEYS: counter keys in spec order. ARGV[1]: the reservation id (names log entries);
 * then per spec: algorithm (`f`, `s`, `b`), weight, max, windowMs, burst.
 * Reply admitted: {1, used_1, resetAt_1, token_1, ...} (resetAt on the Redis clock).
 * Reply refused: {0, blockedIndex0, retryAfterMs, used_1, resetIn_1, ...} (resetIn -2: empty).
 */
export const SMOOTH_RESERVE_LUA = `${SMOOTH_COMMON}
local n = #KEYS
local cur, plan, before, sums = {}, {}, {}, {}
for i = 1, n do
  local k = KEYS[i]
  local o = 1 + 5 * (i - 1)
  local alg = ARGV[o + 1]
  local w = tonumber(ARGV[o + 2])
  local max = tonumber(ARGV[o + 3])
  local wms = tonumber(ARGV[o + 4])
  local retry = nil
  if alg == 's' then
    if cur[k] == nil then
      cur[k] = expire(k, wms)
      sums[k] = cur[k]
    end
    local used = cur[k]
    if w > 0 and redis.call('LLEN', k) >= ${MAX_LOG_ENTRIES} then
      -- The entry cap (MAX_LOG_ENTRIES): refuse until the oldest entry expires.
      retry = entry(redis.call('LINDEX', k, 0)) + wms - t
    elseif used + w <= max then
      plan[i] = used + w
    else
      retry = sliding_retry(k, used, w, max, wms)
    end
  elseif alg == 'b' then
    local per = wms / max
    local burst = tonumber(ARGV[o + 5])
    local from = cur[k]
    if from == nil then
      local v = redis.call('GET', k)
      before[k] = v or ''
      local tat = tonumber(v or '')
      if tat and tat > t then from = tat else from = t end
    end
    local nxt = from + w * per
    local tau = burst * per
    if nxt - t <= tau then
      plan[i] = nxt
    elseif w > burst then
      retry = wms
    else
      retry = nxt - tau - t
    end
  else
    if cur[k] == nil then cur[k] = tonumber(redis.call('GET', k) or '0') or 0 end
    if cur[k] + w <= max then
      plan[i] = cur[k] + w
    else
      local pt = redis.call('PTTL', k)
      if pt > wms then
        redis.call('PEXPIRE', k, wms)
        pt = wms
      end
      if pt > 0 then retry = pt else retry = wms end
    end
  end
  if retry ~= nil then
    local out = {0, i - 1, fmt(retry)}
    for j = 1, n do
      local oj = 1 + 5 * (j - 1)
      local u, r = state(KEYS[j], ARGV[oj + 1], tonumber(ARGV[oj + 3]), tonumber(ARGV[oj + 4]))
      out[#out + 1] = u
      out[#out + 1] = r
    end
    return out
  end
  cur[k] = plan[i]
end
local out = {1}
for i = 1, n do
  local k = KEYS[i]
  local o = 1 + 5 * (i - 1)
  local alg = ARGV[o + 1]
  local ws = ARGV[o + 2]
  local w = tonumber(ws)
  local wms = tonumber(ARGV[o + 4])
  if alg == 's' and w == 0 then
    -- Nothing to count, so no entry (and nothing to roll back).
    out[#out + 1] = fmt(sums[k])
    out[#out + 1] = fmt(t)
    out[#out + 1] = ''
  elseif alg == 's' then
    local tok = fmt(t) .. '|' .. ws .. '|' .. ARGV[1] .. '.' .. (i - 1)
    redis.call('RPUSH', k, tok)
    local sk = k .. ':n'
    local sum = sums[k] + w
    sums[k] = sum
    redis.call('SET', sk, fmt(sum), 'PX', ARGV[o + 4])
    redis.call('PEXPIRE', k, ARGV[o + 4])
    out[#out + 1] = fmt(sum)
    out[#out + 1] = fmt(t + wms)
    out[#out + 1] = tok
  elseif alg == 'b' then
    local after = fmt(plan[i])
    redis.call('SET', k, after, 'PXAT', math.ceil(plan[i]) + 1)
    out[#out + 1] = fmt((plan[i] - t) / (wms / tonumber(ARGV[o + 3])))
    out[#out + 1] = after
    out[#out + 1] = before[k] .. '|' .. after
    before[k] = after
  else
    local v = redis.call('GET', k)
    local now
    if not v then
      redis.call('SET', k, ws, 'PX', ARGV[o + 4])
      now = w
    else
      local b = tonumber(v) or 0
      now = b + w
      if w % 1 == 0 and b % 1 == 0 then
        redis.call('INCRBY', k, ws)
      else
        redis.call('SET', k, fmt(now), 'KEEPTTL')
      end
    end
    out[#out + 1] = fmt(now)
    out[#out + 1] = tostring(redis.call('PEXPIRETIME', k))
    out[#out + 1] = ''
  end
end
return out
`;

/**
 * Rollback of a reservation with smooth limits. KEYS[1]: settle marker; KEYS[2..]:
 * counter keys. ARGV[1]: marker expiry (PXAT); per counter: algorithm, weight,
 * resetAt, token, windowMs. Counters are unwound last to first, so a bucket listed
 * twice in one call is restored step by step.
 * Reply: 1 when processed, 0 when the reservation was already settled.
 */
export const SMOOTH_ROLLBACK_LUA = `${SMOOTH_COMMON}
if not redis.call('SET', KEYS[1], 'rolled-back', 'NX', 'PXAT', ARGV[1]) then return 0 end
for i = #KEYS, 2, -1 do
  local k = KEYS[i]
  local o = 1 + 5 * (i - 2)
  local alg = ARGV[o + 1]
  local w = tonumber(ARGV[o + 2])
  if alg == 's' then
    local wms = tonumber(ARGV[o + 5])
    expire(k, wms)
    if redis.call('LREM', k, 1, ARGV[o + 4]) == 1 then
      local sk = k .. ':n'
      local sum = (tonumber(redis.call('GET', sk) or '0') or 0) - w
      if sum < 0 then sum = 0 end
      if redis.call('LLEN', k) == 0 then
        redis.call('DEL', sk)
      else
        redis.call('SET', sk, fmt(sum), 'KEEPTTL')
      end
    end
  elseif alg == 'b' then
    local b, a = string.match(ARGV[o + 4], '^([^|]*)|(.+)$')
    if a ~= nil and redis.call('GET', k) == a then
      local tb = tonumber(b)
      if tb == nil then
        redis.call('DEL', k)
      else
        redis.call('SET', k, b, 'PXAT', math.ceil(tb) + 1)
      end
    end
  else
    if redis.call('PEXPIRETIME', k) == tonumber(ARGV[o + 3]) then
      local v = (tonumber(redis.call('GET', k) or '0') or 0) - w
      if v < 0 then v = 0 end
      redis.call('SET', k, fmt(v), 'KEEPTTL')
    end
  end
end
return 1
`;

/** Peek of counters of any algorithm. ARGV per key: algorithm, max, windowMs. Reply: {used_1, resetIn_1, ...}. */
export const SMOOTH_PEEK_LUA = `${SMOOTH_COMMON}
local out = {}
for i = 1, #KEYS do
  local o = 3 * (i - 1)
  local u, r = state(KEYS[i], ARGV[o + 1], tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3]))
  out[#out + 1] = u
  out[#out + 1] = r
end
return out
`;

/**
 * SMOOTH_RESERVE_LUA specialised to one token bucket, same KEYS/ARGV/reply layout and
 * the same arithmetic in the same order: TIME, GET, SET, no Lua tables or helper
 * closures (their set-up per call cost more than the bucket's own work).
 */
export const BUCKET_ONE_LUA = `
local k = KEYS[1]
local tm = redis.call('TIME')
local t = tonumber(tm[1]) * 1000 + tonumber(tm[2]) / 1000
local w = tonumber(ARGV[3])
local max = tonumber(ARGV[4])
local wms = tonumber(ARGV[5])
local burst = tonumber(ARGV[6])
local per = wms / max
local v = redis.call('GET', k)
local tat = tonumber(v or '')
local from = t
if tat and tat > t then from = tat end
local nxt = from + w * per
local tau = burst * per
if nxt - t <= tau then
  local after = string.format('%.17g', nxt)
  redis.call('SET', k, after, 'PXAT', math.ceil(nxt) + 1)
  return {1, string.format('%.17g', (nxt - t) / (wms / max)), after, (v or '') .. '|' .. after}
end
local retry = nxt - tau - t
if w > burst then retry = wms end
if tat and tat > t then
  local s = string.format('%.17g', (tat - t) / (wms / max))
  return {0, 0, string.format('%.17g', retry), s, string.format('%.17g', tat - t)}
end
return {0, 0, string.format('%.17g', retry), '0', '-2'}
`;
