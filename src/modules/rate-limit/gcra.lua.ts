/**
 * `gcra()` of gcra.ts, run atomically inside Redis so every instance shares one state per key:
 * one round trip (EVALSHA) per request. The clock is Redis's own (`TIME`), so instances whose
 * clocks disagree still agree on the limit. The key expires when the allowance is full again.
 *
 * KEYS[1] the caller's key; ARGV: limit, period (ms), cost. KEYS[2], optional: a key whose value
 * the caller wants in the same round trip (the response cache's version of the key a cached read
 * serves: see RateLimiter.check).
 * Returns {allowed 0|1, remaining, retryAfterMs, resetMs, value of KEYS[2] or ''} (integers, then a
 * string: a missing value is '', as a nil would end the reply's array).
 */
export const GCRA_LUA = `
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local epsilon = 1e-6
local extra = ''
if KEYS[2] then extra = redis.call('GET', KEYS[2]) or '' end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local nextTat = tat + interval * cost
local allowAt = nextTat - period
if allowAt - now > epsilon then
  local remaining = math.max(0, math.floor((period - (tat - now)) / interval + epsilon))
  return {0, remaining, math.ceil(allowAt - now), math.ceil(tat - now), extra}
end
-- At least 1: with a limit so high that one request's share of the period is below the clock's
-- precision (about 0.2 us at today's epoch in ms), nextTat - now rounds to 0, and SET PX 0 is an error.
local resetMs = math.max(1, math.ceil(nextTat - now))
redis.call('SET', KEYS[1], string.format('%.6f', nextTat), 'PX', resetMs)
local remaining = math.max(0, math.floor((period - (nextTat - now)) / interval + epsilon))
return {1, remaining, 0, resetMs, extra}
`;
