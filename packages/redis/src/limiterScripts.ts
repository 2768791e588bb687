/**
 * Lua scripts of the Redis limiter: one per operation (reserve, adjust, peek), each run atomically
 * with EVALSHA. They reproduce `MemoryLimiterStore` of `@llm-resilience/core` exactly, with time read
 * from Redis `TIME` inside the script (never from client clocks), in whole milliseconds like
 * `Date.now()`.
 *
 * Calling convention (all three scripts):
 * - `KEYS[i]`: the Redis key of unit i (already namespaced and escaped; `r:` keys are strings holding
 *   `tat`, `c:` keys are sorted sets of concurrency leases, `w:` keys are strings holding a per-window
 *   count). A reserve call may carry several reservations (a batch), whose keys are simply concatenated.
 * - `ARGV[1]`: one JSON array `A` (one argument instead of dozens: argument encoding is a large part of
 *   a client's cost per call): `A[1]` lease ms (concurrency), `A[2]` expiry margin ms, `A[3]` retry hint
 *   (ms) for a taken concurrency slot, `A[4]` number of reservations R (reserve only; 0 otherwise),
 *   then R counts (charges per reservation), then {@link UNIT_ARGS} values per unit: kind (`r` | `c` |
 *   `w`), limit, windowMs (rate, windowed counter) or 0, burst (rate) or 0, and amount (reserve/peek);
 *   adjust units have {@link ADJUST_UNIT_ARGS} values: the same five with the delta as the fifth, then
 *   the charge's mark (below; 0 when it has none).
 * - `ARGV[2]` (reserve and adjust, optional): the run's id. The reserve script tags the leases it adds
 *   with it; the adjust script records it under one more key, last in `KEYS` (`{prefix}:a:<run id>`),
 *   and skips a run it has seen (see {@link ADJUST_LUA}).
 * - Replies are flat arrays of integers (Redis turns Lua numbers into integer replies cheaply; building
 *   one joined string in Lua cost more Redis CPU). Fractional concurrency counts and peek's unrounded
 *   usage are strings.
 *
 * Numbers travel exactly: `JSON.stringify` writes the shortest round-trip form, `cjson` parses it with
 * `strtod`, and Redis converts Lua numbers given to `redis.call` with a round-trip format, so `tat` is
 * stored at full double precision. Reply values are integers by construction (floor/ceil) except
 * fractional concurrency counts, formatted with `%.17g`.
 *
 * Rate state (GCRA): the key holds `tat` in epoch ms as a float string. Internally the scripts work
 * with `debt = max(tat - now, 0)` (small numbers, full precision); `tat` of ~1.7e12 ms has an ulp of
 * ~2.4e-4 ms, so comparisons allow `max(1e-6 × T, 1e-3)` ms of tolerance (core allows 1e-6 × T) and
 * ceilings subtract 1e-3 ms (core 1e-6 ms). Both are below anything observable.
 *
 * Refund cap (marks): an admitted rate charge's reply carries its mark, the key's `tat` right after
 * the charge, in whole epoch microseconds rounded up (an integer reply; the store turns it into epoch
 * ms). The limiter passes it back on the charge's adjustments, and a refund (negative delta) takes at
 * most `max(0, mark - now)` (+ 1e-3 ms of tolerance) off `tat`: what the reservation still holds, so a
 * late refund cannot restore capacity that time already restored (twice the burst). The key holds only
 * `tat` and expires once full, so unlike the memory store the cap does not subtract the refunds other
 * reservations made since: when an earlier reservation refunds first, a later one's interval has moved
 * earlier and its cap is looser than the memory store's, by at most what was refunded meanwhile. A
 * refund without a mark is not capped. The microsecond rounding and the tolerance loosen the cap by at
 * most ~2 µs of bucket time per refund.
 *
 * Windowed counters (`w`, a `concurrency` unit with `windowMs > 0`, e.g. a daily spend budget whose
 * key carries the window index): a plain float count, admitted iff `count + amount <= limit × (1 + 1e-9)`
 * (the memory store's float tolerance, as for concurrency leases), adjusted
 * by `max(0, count + delta)` (extra charges allowed), deleted at 0. A denied one waits for the end of its
 * window (`windowMs - now % windowMs`, windows aligned to the epoch as the core's window keys are), so
 * the charge that binds longest is reported, as by the memory store. Written with `%.17g` (exact double
 * round trip, unlike INCRBYFLOAT's long-double text) and `PX windowMs + margin` on every write, so a
 * key outlives its window.
 *
 * Concurrency state (`c`, `windowMs` 0): a sorted set of leases, member `<id>|<amount>`, score = expiry (epoch ms). The
 * id is `<redis time s>.<µs>.<reservation>.<charge>#<run id>` (the run id is the reserve call's
 * `ARGV[2]`, when given). A release whose mark is `#<run id>` removes every lease that run added: the
 * store sends it for a run that failed on its side (timed out, connection lost), whose reply, and with
 * it the leases' members, may never arrive, though Redis ran it (maybe twice: ioredis re-sends
 * commands that were in flight when the connection dropped). One call reads a key's leases once for
 * all the runs it clears there. The
 * count is the sum of unexpired leases, each with its own expiry, so a slot leaked by a crashed process
 * is reclaimed at most `leaseMs` after it was taken, even under continuous traffic. An admitted lease's
 * member is its charge's mark (a string in the reserve reply). A release (negative delta) carrying it
 * removes that lease only, if it is still there; what a partial release leaves keeps the lease's id
 * and expiry, so the lease's next release finds it. A release without a mark removes units from the
 * oldest leases first and leaves a *record* per lease it took units from: a member
 * `!<lease id>|<units>` scored minus the lease's expiry (negative scores: never counted, pruned with
 * the leases once `-score <= now`, at most `limit` of them per key, those expiring last). When its
 * lease is gone, a marked release frees as many units of the oldest leases as its record holds, at
 * most what it releases (the release without a mark freed the lease of a call still running and left
 * its own caller's lease held). Nothing else frees a missing lease's units: a lease Redis lost (restart without
 * persistence, failover, eviction) took its record with it, a replay (the store sends a release
 * again after an outage, the member after a `~`) may have run already, a lease past its time expired.
 * Erring towards counting more: those units stay held until their leases expire.
 *
 * Performance notes: Redis runs the script body on every call, so helpers defined with
 * `local function` are closures created per call; the hot path (rate charges) is written inline and
 * helpers are only defined in the scripts and branches that need them. Within one reservation,
 * repeated keys are found by scanning back over its few charges (no per-reservation tables), and each
 * rate key is written once, after its last charge.
 */

/**
 * Values per unit (charge or adjustment) after the header.
 *
 * @example
 * ```ts
 * const args = ['r', 500, 60_000, 500, 1]; // args.length === UNIT_ARGS
 * ```
 */
export const UNIT_ARGS = 5;

/**
 * Values per unit of an adjust call: those of {@link UNIT_ARGS} (the delta in place of the amount),
 * then the mark the reservation's reply gave for the charge: epoch ms for a rate charge, the lease
 * member (a string) for an in-flight concurrency charge, else 0.
 *
 * @example
 * ```ts
 * const args = ['r', 500, 60_000, 500, -120, 1718000000123.457]; // args.length === ADJUST_UNIT_ARGS
 * ```
 */
export const ADJUST_UNIT_ARGS = 6;

/**
 * How long the adjust script keeps the id of a run it applied (`{prefix}:a:<run id>`, ms): a copy of
 * the run that ioredis sends again after reconnecting within this time (its first reply was lost with
 * the connection) changes nothing. ioredis keeps unanswered commands across its reconnect attempts
 * until `maxRetriesPerRequest` failed attempts clear them, so a copy may come later than this (any time
 * with `maxRetriesPerRequest: null`), and then applies again (see docs/redis.md).
 *
 * @example
 * ```ts
 * await redis.pttl(keyspace.key('a', runId)); // <= ADJUST_RUN_TTL_MS
 * ```
 */
export const ADJUST_RUN_TTL_MS = 60_000;

const HEADER = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local A = cjson.decode(ARGV[1])
local lease = A[1]
local margin = A[2]
`;

/**
 * The number a rate or window key holds (0 when missing), or `nil` and the error when it holds what the
 * store does not write (adjust and peek; reserve reads its keys with one MGET, which answers nil for a
 * key of another type, and tells those from missing ones with one EXISTS: checked alike).
 */
const READ_NUM = `
-- the number a rate or window key holds (0 when missing), or nil and the error when it holds what the
-- store does not write: another type (WRONGTYPE), or a value that is not a finite number (tonumber()
-- also takes 'nan', 'inf', '-inf', which no count or tat of the store ever is)
local function read_num(key)
  local s = redis.pcall('GET', key)
  if type(s) == 'table' then return nil, s.err end
  if not s then return 0 end
  local n = tonumber(s)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then return nil, 'ERR value is not a number' end
  return n
end
`;

/**
 * Sum of unexpired lease amounts of a concurrency key (a member is `<id>|<amount>`); `nil` and Redis's
 * error when the key holds another type (`WRONGTYPE`: something else wrote it).
 */
const LIVE_COUNT = `
local function live_count(key)
  local ms = redis.pcall('ZRANGEBYSCORE', key, '(' .. now, '+inf')
  if ms.err then return nil, ms.err end
  local c = 0
  for j = 1, #ms do c = c + (tonumber(string.match(ms[j], '|([^|]+)$')) or 0) end
  return c
end
`;

/** Adds a lease of `amount` expiring at `expiry`, and sets the key's expiry to its newest lease. */
const LEASES = `
local function add_lease(key, amount, tag, expiry)
  local id = t[1] .. '.' .. t[2] .. '.' .. tag
  local member = id .. '|' .. string.format('%.17g', amount)
  local k = 0
  while redis.call('ZSCORE', key, member) do
    k = k + 1
    member = id .. '.' .. k .. '|' .. string.format('%.17g', amount)
  end
  redis.call('ZADD', key, expiry, member)
  return member
end
local function expire_leases(key)
  -- the newest lease (highest score) and the longest-lived record (lowest score, negative)
  local last = 0
  local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if top[2] then last = tonumber(top[2]) end
  local low = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if low[2] and -tonumber(low[2]) > last then last = -tonumber(low[2]) end
  if last > 0 then redis.call('PEXPIRE', key, math.ceil(last - now) + margin) end
end
`;

/**
 * Current state of units [first, last] into `out`: remaining, resetMs and the units held, unrounded
 * (rate: debt / T; counters: the count), per unit. For a key that holds what the store does not write
 * (a concurrency key of another type, a rate or window key that is not a finite number) returns the
 * unit's index and the error (the caller replies with them, as reserve does), else nothing.
 */
const STATES_NOW = `
local function states_now(out, first, last, offset)
  for i = first, last do
    local o = offset + (i - 1) * 5
    local key = KEYS[i]
    local limit = A[o + 2]
    local used
    if A[o + 1] == 'r' then
      local T = A[o + 3] / limit
      local tau = A[o + 4] * T
      local v, e = read_num(key)
      if not v then return i, e end
      local debt = v - now
      if debt < 0 then debt = 0 end
      local rem = math.floor((tau - debt) / T + 1e-6)
      if rem < 0 then rem = 0 end
      local reset = 0
      if debt > 0 then reset = math.ceil(debt - 1e-3); if reset < 0 then reset = 0 end end
      out[#out + 1] = rem
      out[#out + 1] = reset
      used = debt / T
    else
      local c
      local e
      if A[o + 1] == 'w' then
        c, e = read_num(key)
      else
        c, e = live_count(key)
      end
      if not c then return i, e end
      local rem = limit - c
      if rem < 0 then rem = 0 end
      if rem ~= math.floor(rem) then rem = string.format('%.17g', rem) end
      out[#out + 1] = rem
      out[#out + 1] = 0
      used = c
    end
    if used ~= math.floor(used) then used = string.format('%.17g', used) end
    out[#out + 1] = used
  end
end
`;

/**
 * Reserve: R reservations, each all-or-nothing, applied in order (later ones see earlier ones).
 * Per reservation the reply holds `1, rem1, reset1, mark1, ...` (state right after each charge, and
 * its mark: for a rate charge the key's `tat` right after it in epoch µs rounded up, for an in-flight
 * concurrency charge its lease's member (a string), else 0),
 * `0, index0, retryAfterMs (-1 = never), rem1, reset1, ...` (current states, nothing charged), or
 * `-1, index0, error` when the key of charge index0 holds what the store does not write (a key of
 * another type, whatever its kind: Redis's `WRONGTYPE` error; a rate or window key that is not a
 * number): nothing charged. Such a key never aborts the script, so one caller's broken key leaves the other
 * reservations of its batch decided, and applied or not, as they would be alone.
 *
 * @example
 * ```ts
 * const reserve = new RedisScript(RESERVE_LUA);
 * ```
 */
export const RESERVE_LUA = `${HEADER}
local retry_c = A[3]
-- the run's id (ARGV[2]), in every lease this run adds: a run whose reply was lost is cleared by it
local run_tag = ARGV[2] and ('#' .. ARGV[2]) or ''
local R = A[4]
local offset = 4 + R
local out = {}
local no = 0
local unit = 0
local nv, cum = {}, {}
local live_count, add_lease, expire_leases
-- Rate and windowed-counter state of the whole batch: read once (MGET), updated in memory as
-- reservations pass, written once per key at the end. debt[key] = max(tat - now, 0); cnt[key] = count.
local debt, cnt, wms, dirty, ndirty = {}, {}, {}, {}, 0
-- Keys holding what the store does not write (a key of another type, a rate or window key that is not
-- a number), with the error: a reservation charging one is answered with it and charges
-- nothing, before anything is written for it; the other reservations of the batch go on.
local bad = {}
do
  local rkeys, nr = {}, 0
  for i = 1, #KEYS do
    local key = KEYS[i]
    local kind = A[offset + (i - 1) * 5 + 1]
    if kind == 'r' then
      if debt[key] == nil then
        debt[key] = 0
        nr = nr + 1
        rkeys[nr] = key
      end
    elseif kind == 'w' and cnt[key] == nil then
      cnt[key] = 0
      nr = nr + 1
      rkeys[nr] = key
    end
  end
  for c = 1, nr, 500 do
    local e = c + 499
    if e > nr then e = nr end
    local vals = redis.call('MGET', unpack(rkeys, c, e))
    -- MGET answers nil for a missing key and for one of another type (a sorted set, a hash, ...) alike:
    -- one EXISTS over the nil ones tells them apart (0, the usual answer: all missing), so a key of
    -- another type is refused as adjust and peek refuse it (WRONGTYPE), not taken for a full bucket or
    -- an empty total and overwritten
    local nils, nn = {}, 0
    for j = c, e do
      if not vals[j - c + 1] then
        nn = nn + 1
        nils[nn] = rkeys[j]
      end
    end
    if nn > 0 and redis.call('EXISTS', unpack(nils, 1, nn)) > 0 then
      for j = 1, nn do
        local g = redis.pcall('GET', nils[j])
        if type(g) == 'table' and g.err then bad[nils[j]] = g.err end
      end
    end
    for j = c, e do
      local s = vals[j - c + 1]
      if s then
        local key = rkeys[j]
        local n = tonumber(s)
        -- tonumber() also takes 'nan', 'inf', '-inf': never a count or tat the store writes
        if n == nil or n ~= n or n == math.huge or n == -math.huge then
          bad[key] = 'ERR value is not a number'
        elseif cnt[key] ~= nil then
          cnt[key] = n
        else
          local d = n - now
          if d > 0 then debt[key] = d end
        end
      end
    end
  end
end
for r = 1, R do
  local first = unit + 1
  local last = unit + A[4 + r]
  unit = last
  local denied, denied_wait = -1, -1
  local failed = -1
  local head = no + 1
  no = head
  out[no] = 1
  for i = first, last do
    local o = offset + (i - 1) * 5
    local key = KEYS[i]
    local limit = A[o + 2]
    local a = A[o + 5]
    -- an earlier charge of this reservation on the same key (reservations are short: scan back)
    local prev = 0
    for j = i - 1, first, -1 do
      if KEYS[j] == key then prev = j; break end
    end
    if A[o + 1] == 'r' then
      local v
      if prev > 0 then
        v = nv[prev]
        cum[i] = cum[prev] + a
      else
        v = debt[key]
        cum[i] = a
      end
      local T = A[o + 3] / limit
      local burst = A[o + 4]
      local tau = burst * T
      local nd = v + a * T
      local tol = T * 1e-6
      if tol < 1e-3 then tol = 1e-3 end
      if nd > tau + tol then
        local wait
        if cum[i] > burst * (1 + 1e-6) then wait = -1 else
          wait = math.ceil(nd - tau - 1e-3)
          if wait < 1 then wait = 1 end
        end
        if denied_wait ~= -1 or denied < 0 then
          if wait == -1 or wait > denied_wait then denied_wait = wait; denied = i - first end
        end
      end
      nv[i] = nd
      local rem = math.floor((tau - nd) / T + 1e-6)
      if rem < 0 then rem = 0 end
      local reset = 0
      if nd > 0 then reset = math.ceil(nd - 1e-3); if reset < 0 then reset = 0 end end
      out[no + 1] = rem
      out[no + 2] = reset
      out[no + 3] = math.ceil((now + nd) * 1000)
      no = no + 3
    else
      local v
      if prev > 0 then
        v = nv[prev]
        cum[i] = cum[prev] + a
      else
        if A[o + 1] == 'w' then
          v = cnt[key]
        else
          if not live_count then
            ${LIVE_COUNT.trim().replace('local function live_count', 'live_count = function')}
          end
          local e
          v, e = live_count(key)
          if not v then bad[key] = e; v = 0 end
        end
        cum[i] = a
      end
      local nc = v + a
      -- counters allow a billionth of the limit (as core's memory store): sums of dollars and cents
      -- are not exact in doubles (0.1 + 0.1 + 0.1 > 0.3)
      local cap = limit * (1 + 1e-9)
      if nc > cap then
        local wait
        if cum[i] > cap then
          wait = -1
        elseif A[o + 1] == 'w' then
          -- a per-window total frees up when its window ends (windows aligned to the epoch)
          local w = A[o + 3]
          wait = math.ceil(w - now % w)
          if wait < 1 then wait = 1 end
        else
          wait = retry_c
        end
        if denied_wait ~= -1 or denied < 0 then
          if wait == -1 or wait > denied_wait then denied_wait = wait; denied = i - first end
        end
      end
      nv[i] = nc
      local rem = limit - nc
      if rem < 0 then rem = 0 end
      if rem ~= math.floor(rem) then rem = string.format('%.17g', rem) end
      out[no + 1] = rem
      out[no + 2] = 0
      out[no + 3] = 0
      no = no + 3
    end
    if failed < 0 and bad[key] then failed = i - first end
  end
  if failed >= 0 then
    -- a key of this reservation holds what the store does not write: nothing is charged, and the
    -- reservation is answered with the error (a script error would abort the whole batch, keeping the
    -- leases earlier reservations of it added, though their callers would be told it failed)
    for j = no, head, -1 do out[j] = nil end
    out[head] = -1
    out[head + 1] = failed
    out[head + 2] = bad[KEYS[first + failed]]
    no = head + 2
  elseif denied >= 0 then
    -- nothing is charged; report the current state of every key instead
    for j = no, head, -1 do out[j] = nil end
    out[head] = 0
    out[head + 1] = denied
    out[head + 2] = denied_wait
    no = head + 2
    for i = first, last do
      local o = offset + (i - 1) * 5
      local limit = A[o + 2]
      local rem, reset = 0, 0
      if A[o + 1] == 'r' then
        local T = A[o + 3] / limit
        local d = debt[KEYS[i]]
        rem = math.floor((A[o + 4] * T - d) / T + 1e-6)
        if d > 0 then reset = math.ceil(d - 1e-3); if reset < 0 then reset = 0 end end
      elseif A[o + 1] == 'w' then
        rem = limit - cnt[KEYS[i]]
      else
        if not live_count then
          ${LIVE_COUNT.trim().replace('local function live_count', 'live_count = function')}
        end
        rem = limit - live_count(KEYS[i])
      end
      if rem < 0 then rem = 0 end
      if rem ~= math.floor(rem) then rem = string.format('%.17g', rem) end
      out[no + 1] = rem
      out[no + 2] = reset
      no = no + 2
    end
  else
    for i = first, last do
      local o = offset + (i - 1) * 5
      local key = KEYS[i]
      local kind = A[o + 1]
      if kind == 'r' or kind == 'w' then
        -- keep the value after the key's last charge in this reservation
        local later = false
        for j = i + 1, last do
          if KEYS[j] == key then later = true; break end
        end
        if not later then
          if not dirty[key] then
            dirty[key] = true
            ndirty = ndirty + 1
            dirty[ndirty] = key
          end
          if kind == 'r' then
            debt[key] = nv[i]
          else
            cnt[key] = nv[i]
          end
        end
        if kind == 'w' and (wms[key] == nil or A[o + 3] > wms[key]) then wms[key] = A[o + 3] end
      elseif A[o + 5] > 0 then
        if not add_lease then
          ${LEASES.trim().replace('local function add_lease', 'add_lease = function').replace('local function expire_leases', 'expire_leases = function')}
        end
        -- expired leases (scores up to now) and expired records (negative scores down to -now)
        redis.call('ZREMRANGEBYSCORE', key, -now, now)
        -- the lease is this charge's mark: its release removes exactly this lease
        out[head + 3 * (i - first) + 3] = add_lease(key, A[o + 5], r .. '.' .. i .. run_tag, now + lease)
        expire_leases(key)
      end
    end
  end
end
for j = 1, ndirty do
  local key = dirty[j]
  local c = cnt[key]
  if c ~= nil then
    if c ~= 0 then
      redis.call('SET', key, string.format('%.17g', c), 'PX', math.ceil(wms[key]) + margin)
    else
      redis.call('DEL', key)
    end
  else
    local v = debt[key]
    if v > 0 then redis.call('SET', key, now + v, 'PX', math.ceil(v) + margin) end
  end
end
return out
`;

/**
 * Adjust: refunds, extra charges, concurrency releases, windowed-counter changes, applied in order.
 * A rate refund with a mark takes at most `max(0, mark - now)` off `tat` (see the file comment).
 * Returns 1, or `{1, index0, error, ...}` when adjustments were skipped because their key holds what
 * the store does not write (a concurrency key of another type, a rate or window key that is not a
 * finite number): those change nothing, the others of the run are applied (a script error would abort
 * the run after its earlier writes, and fail every caller of the batch). With a run id (`ARGV[2]`),
 * the last key is the run's record: a run whose record is already there (a copy ioredis sent again
 * after reconnecting) changes nothing and returns 0; else the script writes it (for
 * {@link ADJUST_RUN_TTL_MS}) last. Checked with EXISTS and written last, not SET NX first: on a Redis
 * at maxmemory with `noeviction`, a script whose first write may grow memory is refused (OOM), and a
 * release, which starts with commands that only free memory, must still go through there.
 *
 * @example
 * ```ts
 * const adjust = new RedisScript(ADJUST_LUA);
 * ```
 */
export const ADJUST_LUA = `${HEADER}${LEASES}${READ_NUM}
local function amount_of(member) return tonumber(string.match(member, '|([^|]+)$')) or 0 end
local function id_of(member) return string.match(member, '^(.*)|') or member end
local function fmt(n) return string.format('%.17g', n) end
-- the member at SCORE whose id is ID (what is left of a lease, or a record), if any
local function find(key, score, id)
  local ms = redis.call('ZRANGEBYSCORE', key, score, score)
  local p = id .. '|'
  for j = 1, #ms do
    if string.sub(ms[j], 1, #p) == p then return ms[j] end
  end
end
-- takes up to LEFT units from lease MEMBER (expiring at SCORE); the rest keeps its id and expiry, so
-- the lease's own release still finds it. Returns the units taken.
local function take(key, member, score, left)
  local amt = amount_of(member)
  redis.call('ZREM', key, member)
  if amt > left then
    redis.call('ZADD', key, score, id_of(member) .. '|' .. fmt(amt - left))
    return left
  end
  return amt
end
-- units of records dropped past the cap: one member '!evicted|<units>', at minus the latest expiry of
-- the leases they were for (it expires with them)
local EVICTED = '!evicted|'
local function evicted(key)
  local ms = redis.call('ZRANGEBYSCORE', key, '-inf', '(0', 'WITHSCORES')
  for j = 1, #ms, 2 do
    if string.sub(ms[j], 1, #EVICTED) == EVICTED then return ms[j], tonumber(ms[j + 1]) end
  end
end
-- removes LEFT units from the oldest leases. Each lease it takes units from gets a record (at minus
-- its expiry, id '!<lease id>'): its own release, which will not find them, frees as many then.
-- Keeps at most CAP records (those that expire last); the units of the others are not lost but added
-- to the evicted count, which a marked release finding neither its lease nor its record draws on.
local function release_oldest(key, left, cap)
  local recorded = false
  while left > 0 do
    local first = redis.call('ZRANGEBYSCORE', key, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if not first[1] then break end
    local score = tonumber(first[2])
    local got = take(key, first[1], score, left)
    if got > 0 then
      local rid = '!' .. id_of(first[1])
      local old = find(key, -score, rid)
      local n = got
      if old then
        redis.call('ZREM', key, old)
        n = n + amount_of(old)
      end
      redis.call('ZADD', key, -score, rid .. '|' .. fmt(n))
      recorded = true
    end
    left = left - got
  end
  if recorded then
    -- records in order of expiry, latest first (lowest score); past CAP they are dropped
    local ms = redis.call('ZRANGEBYSCORE', key, '-inf', '(0', 'WITHSCORES')
    local kept, units, low, ev, evs = 0, 0, 0, nil, nil
    for j = 1, #ms, 2 do
      if string.sub(ms[j], 1, #EVICTED) == EVICTED then
        ev, evs = ms[j], tonumber(ms[j + 1])
      else
        kept = kept + 1
        if kept > cap then
          redis.call('ZREM', key, ms[j])
          units = units + amount_of(ms[j])
          local sc = tonumber(ms[j + 1])
          if sc < low then low = sc end
        end
      end
    end
    if units > 0 then
      if ev then
        redis.call('ZREM', key, ev)
        units = units + amount_of(ev)
        if evs < low then low = evs end
      end
      redis.call('ZADD', key, low, EVICTED .. fmt(units))
    end
  end
end
local offset = 4
-- the run's record (the last key, with a run id): a copy of this run finds it and changes nothing.
-- Read here, written at the end: on a Redis at maxmemory (noeviction) a script's first write of a
-- command that may grow memory is refused (OOM), and a release starts with commands that only free
-- memory (ZREMRANGEBYSCORE, ZREM); once the script has written, Redis lets it finish.
local nkeys = #KEYS
if ARGV[2] then
  nkeys = nkeys - 1
  if redis.call('EXISTS', KEYS[#KEYS]) == 1 then return 0 end
end
-- adjustments skipped because their key holds what the store does not write: index (0-based), error
local skipped = {1}
local function foreign(i, e)
  skipped[#skipped + 1] = i - 1
  skipped[#skipped + 1] = e
end
-- '#<run id>' releases (see below), gathered per key: each key's leases are then read once, however
-- many runs are cleared on it (a replay chunk may carry hundreds)
local clears
for i = 1, nkeys do
  local mark = A[offset + (i - 1) * ${ADJUST_UNIT_ARGS} + 6]
  if type(mark) == 'string' then
    local id = string.match(mark, '^~?#(.+)$')
    if id then
      clears = clears or {}
      local ids = clears[KEYS[i]]
      if not ids then ids = {}; clears[KEYS[i]] = ids end
      ids[id] = true
    end
  end
end
for i = 1, nkeys do
  local o = offset + (i - 1) * ${ADJUST_UNIT_ARGS}
  local key = KEYS[i]
  local limit = A[o + 2]
  local d = A[o + 5]
  if d ~= 0 then
    if A[o + 1] == 'r' then
      local T = A[o + 3] / limit
      local change = d * T
      local mark = A[o + 6]
      if d < 0 and mark > 0 then
        -- give back at most what the reservation still holds: its interval after now
        local cap = mark - now + 1e-3
        if cap < 0 then cap = 0 end
        if change < -cap then change = -cap end
      end
      if change ~= 0 then
        local v, e = read_num(key)
        if not v then
          foreign(i, e)
        else
          local debt = v - now
          if debt < 0 then debt = 0 end
          debt = debt + change
          if debt > 0 then
            redis.call('SET', key, now + debt, 'PX', math.ceil(debt) + margin)
          else
            redis.call('DEL', key)
          end
        end
      end
    elseif A[o + 1] == 'w' then
      local v, e = read_num(key)
      if not v then
        foreign(i, e)
      else
        local c = v + d
        if c > 0 then
          redis.call('SET', key, string.format('%.17g', c), 'PX', math.ceil(A[o + 3]) + margin)
        else
          redis.call('DEL', key)
        end
      end
    else
      -- expired leases (scores up to now) and expired records (negative scores down to -now); a key of
      -- another type (WRONGTYPE) is skipped, the other adjustments of the run still apply
      local z = redis.pcall('ZREMRANGEBYSCORE', key, -now, now)
      if type(z) == 'table' then
        foreign(i, z.err)
      else
        local cap = math.ceil(limit)
        if d > 0 then
          add_lease(key, d, i, now + lease)
        elseif type(A[o + 6]) == 'string' then
          -- the release of one reservation: its own lease, while it is still there (see the file
          -- comment). Missing, it frees another lease only for units a release without a mark is
          -- recorded to have taken from it; a lease Redis lost (restart, failover, eviction) frees nothing.
          local member = A[o + 6]
          local replay = string.byte(member, 1) == 126
          if replay then member = string.sub(member, 2) end
          if string.byte(member, 1) == 35 then
            -- '#<run id>': the reserve run with that id failed on the store's side (timeout, connection
            -- lost), so its reply may be lost: every lease it added (also a re-sent copy's) is removed,
            -- for all the runs this call clears on the key at once. Units a release without a mark took
            -- from them (records) are freed from the oldest leases instead.
            local ids = clears[key]
            if ids then
              clears[key] = nil
              local free = 0
              local ms = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
              for j = 1, #ms, 2 do
                local id = string.match(ms[j], '#([^.|]+)')
                if id and ids[id] then
                  redis.call('ZREM', key, ms[j])
                  if tonumber(ms[j + 1]) < 0 then free = free + amount_of(ms[j]) end
                end
              end
              if free > 0 then release_oldest(key, free, cap) end
            end
          else
            local left = -d
            local score = redis.call('ZSCORE', key, member)
            if score then
              take(key, member, tonumber(score), left)
            elseif not replay then
              -- a first release (a replay may have run already): what is left of the lease after
              -- earlier partial releases has the lease's id and expiry (its Redis time + this store's
              -- lease length); units taken by releases without a mark are in the lease's record
              local s1, s2 = string.match(member, '^(%d+)%.(%d+)%.')
              if s1 then
                local expiry = tonumber(s1) * 1000 + math.floor(tonumber(s2) / 1000) + lease
                if expiry > now then
                  local id = id_of(member)
                  local rest = find(key, expiry, id)
                  if rest then left = left - take(key, rest, expiry, left) end
                  local rec = left > 0 and find(key, -expiry, '!' .. id)
                  if rec then
                    local u = amount_of(rec)
                    local f = left < u and left or u
                    redis.call('ZREM', key, rec)
                    if u > f then redis.call('ZADD', key, -expiry, '!' .. id .. '|' .. fmt(u - f)) end
                    left = left - f
                    release_oldest(key, f, cap)
                  end
                  if left > 0 then
                    -- its record may have been dropped past the cap: its units are in the evicted count
                    local ev, evs = evicted(key)
                    if ev then
                      local u = amount_of(ev)
                      local f = left < u and left or u
                      redis.call('ZREM', key, ev)
                      if u > f then redis.call('ZADD', key, evs, EVICTED .. fmt(u - f)) end
                      release_oldest(key, f, cap)
                    end
                  end
                end
              end
            end
          end
        else
          release_oldest(key, -d, cap)
        end
        expire_leases(key)
      end
    end
  end
end
if ARGV[2] then
  -- refused (OOM) only when the run wrote nothing, so that a copy has nothing to apply either
  redis.pcall('SET', KEYS[#KEYS], 1, 'PX', ${ADJUST_RUN_TTL_MS})
end
if #skipped > 1 then return skipped end
return 1
`;

/**
 * Peek: current state of each key, nothing written. Returns `{rem1, reset1, used1, ...}` (`used`:
 * the units held, unrounded; a string when fractional), or `{-1, index0, error}` when the key of unit
 * index0 holds what the store does not write (as reserve answers it; a remaining count is never
 * negative).
 *
 * @example
 * ```ts
 * const peek = new RedisScript(PEEK_LUA);
 * ```
 */
export const PEEK_LUA = `${HEADER}${READ_NUM}${LIVE_COUNT}${STATES_NOW}
local out = {}
local bad, e = states_now(out, 1, #KEYS, 4)
if bad then return {-1, bad - 1, e} end
return out
`;
