/**
 * The one-sliding-limit reserve script (the common smooth call), apart from the general
 * smooth scripts in lua-smooth.ts. Same key layout as every other sliding script, old
 * releases included: a list of `t|weight|id` entries (oldest first) at `s:<key>` and its
 * running sum, a `%.17g` double (or a plain integer), at `s:<key>:n`. Nothing a previous
 * release reads has a new format (an entry's time is any decimal `tonumber` reads, a sum
 * any number), so old and new gateways can share one log during a rolling upgrade.
 */
import { MAX_LOG_ENTRIES } from "@toolgate/policy-engine";

/**
 * Most a sliding log's expiry is pushed past the newest entry's end (`windowMs` for
 * windows up to a minute). Extending with slack lets most reservations skip the expiry
 * write; the cost is that an idle log and its sum key stay in Redis up to this long
 * after their last entry expired.
 */
export const SLIDING_EXPIRY_SLACK_MAX_MS = 60_000;

/**
 * Reserve of one sliding limit. KEYS[1]: the log. ARGV: the entry's suffix
 * (`|weight|id.0`, see slidingSuffix), weight, max, windowMs (whole ms).
 * Reply admitted: {1, used, t} with `t` Redis's clock, ms with three decimals written out
 * exactly; the entry (and the token a rollback removes) is `t` plus the suffix, and the
 * client builds the token and resetAt (`t + windowMs`; `t` and no token for weight 0).
 * Reply refused: {0, 0, retryAfterMs, used, resetIn} (resetIn -2: empty), as before.
 *
 * The same arithmetic in the same order as SMOOTH_RESERVE_LUA and the memory store (so
 * all reach the same doubles), with fewer and cheaper server calls (measured with INFO
 * commandstats, see the README's sizing section):
 * - an integer weight on an integer sum (below 2^53, where doubles are exact in any
 *   order) trims and adds with one INCRBY, whose reply is the new sum (undone with a
 *   second INCRBY when that is over max); anything else takes GET and the doubles,
 *   subtracted oldest first like the memory store, and writes the sum back with SET;
 * - the head is read two entries at a time first (at a steady rate one entry expires
 *   per call, so the first live entry is usually the second), then eight at a time;
 * - one expired entry is cut with LPOP, several with LTRIM (LTRIM costs about twice LPOP);
 * - expiries are read instead of written on every push. Every script, old or new, sets
 *   the sum key's expiry no later than the log's (the previous release's push: `SET sum
 *   PX w` then `PEXPIRE log w`; this one: the same absolute time for both) and never
 *   shortens one without the other. So one PEXPIRETIME of the sum key tells whether
 *   both keys outlive the new entry; if so the sum is written with KEEPTTL, else both
 *   get the entry's end plus slack (`windowMs`, at most SLIDING_EXPIRY_SLACK_MAX_MS), so
 *   at a steady rate the expiries are written about once per slack period;
 * - the time is formatted with `%03d` (not `%.17g`), entries are parsed with plain finds,
 *   the token is the client's suffix appended, and closures exist on the refusal path.
 * An older script's push sets both expiries to exactly its entry's end, which is never
 * too early for entries pushed before it; the next push here extends them again.
 */
export const SLIDING_ONE_LUA = `
local k = KEYS[1]
local sk = k .. ':n'
local ws = ARGV[2]
local w = tonumber(ws)
local max = tonumber(ARGV[3])
local wms = tonumber(ARGV[4])
-- Redis's clock as ms with three decimals, written out exactly (cheaper than %.17g).
local tm = redis.call('TIME')
local u = tonumber(tm[2])
local ts = string.format('%s%03d.%03d', tm[1], u / 1000, u % 1000)
local t = tonumber(ts)
local find, sub = string.find, string.sub
-- The weights of the expired entries at the head, oldest first: g1, then the table
-- more (one entry expires per call at a steady rate, so most calls need no table).
local g1, more, popped, live = nil, nil, 0, nil
-- Arguments go to redis.call as strings: a Lua number is printed with %.17g on each call.
local batch = redis.call('LRANGE', k, '0', '1')
local nb = #batch
if nb > 0 then
  local i, size = 1, 2
  while true do
    if i <= nb then
      local e = batch[i]
      local a = find(e, '|', 1, true)
      if tonumber(sub(e, 1, a - 1)) + wms > t then
        live = e
        popped = popped + i - 1
        break
      end
      local ew = tonumber(sub(e, a + 1, find(e, '|', a + 1, true) - 1))
      if g1 == nil then
        g1 = ew
      elseif more == nil then
        more = {ew}
      else
        more[#more + 1] = ew
      end
      i = i + 1
    else
      popped = popped + nb
      if nb < size then break end
      size = 8
      batch = redis.call('LRANGE', k, popped, popped + 7)
      nb = #batch
      i = 1
      if nb == 0 then break end
    end
  end
end
-- sum: the live entries' units before this call; written: the sum key already holds it
-- (or, while inc is set, it plus w).
local sum, written, inc = 0, false, false
if live == nil then
  if nb > 0 or popped > 0 then redis.call('DEL', k, sk) end
else
  if popped == 1 then
    redis.call('LPOP', k)
  elseif popped > 1 then
    redis.call('LTRIM', k, popped, '-1')
  end
  -- Integer weights and sum (below 2^53, where doubles are exact, so the order of the
  -- additions does not matter): one INCRBY trims and adds, and its reply is the new sum.
  -- Anything else (a fractional sum makes INCRBY fail, nothing written) takes GET and
  -- the doubles, oldest entry first, like the memory store.
  local d = w
  local int = w > 0 and w % 1 == 0 and w <= 9007199254740992 and max <= 9007199254740992
  if g1 ~= nil then
    d = d - g1
    if g1 % 1 ~= 0 then int = false end
    for j = 1, more and #more or 0 do
      d = d - more[j]
      if more[j] % 1 ~= 0 then int = false end
    end
  end
  -- (Expired weights are integers too, and so is their sum, or INCRBY could be handed
  -- a number %d cannot print.)
  if d < -9007199254740992 then int = false end
  if int then
    local ds = ws
    if d == 0 then ds = '0' elseif d ~= w then ds = string.format('%d', d) end
    local v = redis.pcall('INCRBY', sk, ds)
    if type(v) == 'number' then
      written, inc, sum = true, true, v - w
      if v > max then
        -- Refused: take the weight back out; the trimmed sum stays.
        redis.call('INCRBY', sk, '-' .. ws)
        inc = false
      end
    end
  end
  if not written then
    sum = tonumber(redis.call('GET', sk) or '0') or 0
    if g1 ~= nil then sum = sum - g1 end
    for j = 1, more and #more or 0 do sum = sum - more[j] end
  end
end
local full = false
if w > 0 and sum + w <= max then
  if redis.call('RPUSH', k, ts .. ARGV[1]) <= ${MAX_LOG_ENTRIES} then
    -- The sum key never ends after the log (see above): when it outlives the new entry,
    -- so does the log. A log this call emptied or created has no expiry yet.
    local exp = -1
    if live ~= nil then exp = redis.call('PEXPIRETIME', sk) end
    local after = sum + w
    if not inc then after = string.format('%.17g', after) end
    if exp >= t + wms then
      if not inc then redis.call('SET', sk, after, 'KEEPTTL') end
    else
      local slack = wms
      if slack > ${SLIDING_EXPIRY_SLACK_MAX_MS} then slack = ${SLIDING_EXPIRY_SLACK_MAX_MS} end
      exp = math.ceil(t + wms) + slack
      redis.call('PEXPIREAT', k, exp)
      if inc then
        redis.call('PEXPIREAT', sk, exp)
      else
        redis.call('SET', sk, after, 'PXAT', exp)
      end
    end
    return {1, after, ts}
  end
  -- The entry cap (MAX_LOG_ENTRIES): refuse until the oldest entry expires.
  redis.call('RPOP', k)
  if inc then redis.call('INCRBY', sk, '-' .. ws) end
  full = true
end
local function fmt(x) return string.format('%.17g', x) end
-- The trimmed sum, on the paths that do not write it with a new entry.
if live ~= nil and popped > 0 and not written then redis.call('SET', sk, fmt(sum), 'KEEPTTL') end
if not full and sum + w <= max then return {1, fmt(sum), ts} end
local function entry(e)
  local a, b = string.match(e, '^([^|]+)|([^|]+)|')
  return tonumber(a), tonumber(b)
end
local retry = wms
if full or (w > 0 and live ~= nil and redis.call('LLEN', k) >= ${MAX_LOG_ENTRIES}) then
  retry = entry(redis.call('LINDEX', k, 0)) + wms - t
else
  local freed = 0
  for _, e in ipairs(redis.call('LRANGE', k, 0, -1)) do
    local et, ew = entry(e)
    freed = freed + ew
    if sum - freed + w <= max then
      retry = et + wms - t
      break
    end
  end
end
if live == nil then return {0, 0, fmt(retry), '0', '-2'} end
local tail = entry(redis.call('LINDEX', k, -1))
return {0, 0, fmt(retry), fmt(sum), fmt(tail + wms - t)}
`;
