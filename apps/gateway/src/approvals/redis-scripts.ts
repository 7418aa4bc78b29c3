/**
 * The Lua scripts of the Redis approval store. Each state change runs as one script, so
 * two instances deciding, timing out or consuming the same approval at once see exactly
 * one winner, and the event is published in the same step (no instance misses it).
 */

/** Keeps a resolved item visible for `keepMs`, or until its approval expires if later. */
const KEEP_TTL = `
local function keepFor(item, at, keepMs)
  local exp = tonumber(redis.call('HGET', item, 'expiresAt') or '0')
  local ttl = keepMs
  if exp - at + keepMs > ttl then ttl = exp - at + keepMs end
  redis.call('PEXPIRE', item, ttl)
end
`;

/**
 * Resolve (timeout, withdrawal, cancel): only a pending record changes, exactly once.
 * KEYS: item, pending, recent, channel. ARGV: status, by, reason, at, keepMs, id.
 * Returns 0 unknown, 1 already resolved, 2 resolved now.
 */
export const RESOLVE_LUA = `${KEEP_TTL}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
if status ~= 'pending' then return 1 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'resolvedBy', ARGV[2], 'resolution', ARGV[3], 'resolvedAt', ARGV[4])
keepFor(KEYS[1], tonumber(ARGV[4]), tonumber(ARGV[5]))
redis.call('ZREM', KEYS[2], ARGV[6])
redis.call('ZADD', KEYS[3], tonumber(ARGV[4]), ARGV[6])
redis.call('PUBLISH', KEYS[4], cjson.encode({type = 'resolved', id = ARGV[6]}))
return 2
`;

/**
 * One approver's decision, as `applyDecision` in store.ts: pending and unexpired only,
 * one decision per approver, one rejection ends it, enough distinct approvals approve.
 * The number needed is read from the stored record, never from the caller.
 * KEYS: item, pending, recent, channel. ARGV: approver, decision, reason, at, keepMs, id.
 */
export const DECIDE_LUA = `${KEEP_TTL}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status ~= 'pending' then return 'not_pending' end
local at = tonumber(ARGV[4])
if tonumber(redis.call('HGET', KEYS[1], 'expiresAt') or '0') <= at then return 'expired' end
local raw = redis.call('HGET', KEYS[1], 'decisions')
local list = {}
if raw and raw ~= '' then list = cjson.decode(raw) end
local approvals = {}
for _, d in ipairs(list) do
  if d.approver == ARGV[1] then return 'already_decided' end
  if d.decision == 'approve' then table.insert(approvals, d.approver) end
end
local entry = {approver = ARGV[1], decision = ARGV[2], at = at}
if ARGV[3] ~= '' then entry.reason = ARGV[3] end
table.insert(list, entry)
redis.call('HSET', KEYS[1], 'decisions', cjson.encode(list))
local final = false
if ARGV[2] == 'reject' then
  local why = ARGV[3]
  if why == '' then why = 'rejected by an approver' end
  final = 'rejected'
  redis.call('HSET', KEYS[1], 'status', 'rejected', 'resolvedBy', ARGV[1], 'resolution', why, 'resolvedAt', ARGV[4])
else
  table.insert(approvals, ARGV[1])
  if #approvals >= tonumber(redis.call('HGET', KEYS[1], 'needed') or '1') then
    final = 'approved'
    redis.call('HSET', KEYS[1], 'status', 'approved', 'resolvedBy', table.concat(approvals, ', '), 'resolution', ARGV[3], 'resolvedAt', ARGV[4])
  end
end
if final then
  keepFor(KEYS[1], at, tonumber(ARGV[5]))
  redis.call('ZREM', KEYS[2], ARGV[6])
  redis.call('ZADD', KEYS[3], at, ARGV[6])
  redis.call('PUBLISH', KEYS[4], cjson.encode({type = 'resolved', id = ARGV[6]}))
  return final
end
redis.call('PUBLISH', KEYS[4], cjson.encode({type = 'decided', id = ARGV[6]}))
return 'recorded'
`;

/**
 * Consumes an approved retry-mode approval exactly once and forgets its binding.
 * KEYS: item, binding. ARGV: at, id. Returns 1 for the one consumer, else 0.
 */
export const CONSUME_LUA = `
if redis.call('HGET', KEYS[1], 'status') ~= 'approved' then return 0 end
local used = redis.call('HGET', KEYS[1], 'consumedAt')
if used and used ~= '' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'expiresAt') or '0') <= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'consumedAt', ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return 1
`;

/** Deletes a binding only while it still points at the given id. KEYS: binding. ARGV: id. */
export const CLEAR_BINDING_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;
