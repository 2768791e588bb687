/**
 * Lua scripts of the shared breaker and pacing state (`RedisBreakerSync`, `RedisPacingSync`).
 *
 * Layout: one hash per kind of state (`{prefix}:b:states`, `{prefix}:p:states`), one field per breaker
 * key or target id, and one pub/sub channel (`{prefix}:b:changes`, `{prefix}:p:changes`). A field's
 * value is `"<rank> <expiresAt> <writtenAt> <message>"`: times in Redis ms (`TIME`), `message` the JSON
 * published on the channel, whose times are relative to the moment of publishing (so client clocks
 * never need to agree: a reader adds its own `now`, minus the time elapsed since `writtenAt`). The
 * message carries its origin and a per-origin publication number, so a reader tells a new publication
 * from one it has seen even when their texts would otherwise be equal.
 *
 * `rank` decides which of two unexpired states wins (breakers: open 2 > paused 1; the longer one wins
 * within a rank); rank 0 (pacing) means the latest write always wins.
 *
 * Every script returns Redis' `TIME` (whole ms) with its result, from which the writer learns Redis'
 * clock: a publish carries an absolute deadline in Redis time, and a copy that runs past it (ioredis
 * re-sent it after a reconnect, or Redis held it, e.g. under `CLIENT PAUSE`) writes nothing, since its
 * relative times were computed when it was sent. The stored and published formats are unchanged.
 */

/** Redis time in whole ms, as the limiter scripts read it. */
const NOW = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * Store-and-publish, one round trip per state change. `KEYS[1]` the hash; `ARGV`: channel, field,
 * rank, ttl ms (the value's useful life; 0 or less deletes the field), message, expiry margin ms,
 * deadline (Redis ms; absent or 0: none). Run past its deadline, it does nothing (no write, no
 * PUBLISH). Otherwise keeps the stored value when it outranks the new one, drops expired fields, sets
 * the hash to expire with its longest-lived field (+ margin), then PUBLISHes the message. Returns
 * `{status, now}`: status 1 when stored, 0 when the stored value was kept, -1 when run too late.
 *
 * @example
 * ```ts
 * const publish = new RedisScript(PUBLISH_STATE_LUA);
 * ```
 */
export const PUBLISH_STATE_LUA = `${NOW}
local hash = KEYS[1]
local field = ARGV[2]
local rank = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local margin = tonumber(ARGV[6])
local deadline = tonumber(ARGV[7])
if deadline and deadline > 0 and now > deadline then return { -1, now } end
local expires = now + ttl
local keep = false
if rank > 0 then
  local cur = redis.call('HGET', hash, field)
  if cur then
    local crank, cexp = string.match(cur, '^(%d+) (%d+) ')
    crank = tonumber(crank)
    cexp = tonumber(cexp)
    if crank and cexp and cexp > now and (crank > rank or (crank == rank and cexp >= expires)) then keep = true end
  end
end
if not keep then
  if ttl > 0 then
    redis.call('HSET', hash, field, string.format('%d %d %d ', rank, expires, now) .. ARGV[5])
  else
    redis.call('HDEL', hash, field)
  end
end
local all = redis.call('HGETALL', hash)
local latest = 0
for i = 1, #all, 2 do
  local e = tonumber(string.match(all[i + 1], '^%d+ (%d+) '))
  if not e or e <= now then
    redis.call('HDEL', hash, all[i])
  elseif e > latest then
    latest = e
  end
end
if latest > 0 then redis.call('PEXPIRE', hash, latest - now + margin) end
redis.call('PUBLISH', ARGV[1], ARGV[5])
if keep then return { 0, now } end
return { 1, now }
`;

/**
 * Redis' clock, read on the node that holds `KEYS[1]` (the hash): returns `now` (whole ms). A writer
 * that has not learned Redis' clock yet runs it before its first publish.
 *
 * @example
 * ```ts
 * const clock = new RedisScript(REDIS_TIME_LUA);
 * ```
 */
export const REDIS_TIME_LUA = `${NOW}
return now
`;

/**
 * Read the unexpired fields. `KEYS[1]` the hash. Returns `{now, field1, value1, ...}`.
 *
 * @example
 * ```ts
 * const load = new RedisScript(LOAD_STATES_LUA);
 * ```
 */
export const LOAD_STATES_LUA = `${NOW}
local all = redis.call('HGETALL', KEYS[1])
local out = { now }
for i = 1, #all, 2 do
  local e = tonumber(string.match(all[i + 1], '^%d+ (%d+) '))
  if e and e > now then
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out
`;
