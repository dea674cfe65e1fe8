// Lua run inside Redis, so that every replica's check-and-reserve over many counters is one atomic
// step and one round trip. Keys per counter: a hash H and a sorted set Z.
//   total (t):       H = { v: settled, res: reserved sum, r:<id>: reserved by <id> }, Z = id -> lease expiry
//   window (w):      H = { sum, <bucket start>: usage }, Z = bucket start -> bucket start
//   concurrency (c): Z = id -> lease expiry
// Times are the caller's clock (epoch ms, passed in); TTLs are relative so a skewed Redis clock
// cannot delete live keys. Integers are formatted with %.0f: Lua's default number formatting would
// switch to exponent notation past 14 digits.

const COMMON = `
local function s(x)
  if x == 0 then return '0' end -- never '-0', which Redis rejects as an integer
  return string.format('%.0f', x)
end
local function extend(key, ttl)
  if ttl > 0 and redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, s(ttl)) end
end
`;

/**
 * KEYS: H1, Z1, H2, Z2, …
 * ARGV: now, id, leaseMs, then per counter: kind, limit, amount, a, b
 *   t: a = TTL of H in ms (0: none); w: a = windowMs, b = bucketMs
 * Returns { ok, used1, freesAt1, used2, freesAt2, … } (freesAt -1 when none).
 * An empty id only reads (a peek): nothing is reserved.
 */
export const RESERVE_LUA = `${COMMON}
local now = tonumber(ARGV[1])
local id = ARGV[2]
local leaseMs = tonumber(ARGV[3])
local n = #KEYS / 2
local out = { 1 }
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local o = 3 + (i - 1) * 5
  local kind, limit, amount = ARGV[o + 1], tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3])
  local a, b = tonumber(ARGV[o + 4]), tonumber(ARGV[o + 5])
  local used, frees = 0, -1
  if kind == 't' then
    local gone = redis.call('ZRANGEBYSCORE', z, '-inf', s(now))
    for _, m in ipairs(gone) do
      local held = redis.call('HGET', h, 'r:' .. m)
      if held then
        redis.call('HDEL', h, 'r:' .. m)
        redis.call('HINCRBY', h, 'res', s(-tonumber(held)))
      end
    end
    if #gone > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', s(now)) end
    local v = redis.call('HMGET', h, 'v', 'res')
    used = (tonumber(v[1]) or 0) + (tonumber(v[2]) or 0)
  elseif kind == 'w' then
    local cutoff = s(now - a - b)
    local gone = redis.call('ZRANGEBYSCORE', z, '-inf', cutoff)
    if #gone > 0 then
      local total = 0
      for _, v in ipairs(redis.call('HMGET', h, unpack(gone))) do total = total + (tonumber(v) or 0) end
      redis.call('HDEL', h, unpack(gone))
      redis.call('HINCRBY', h, 'sum', s(-total))
      redis.call('ZREMRANGEBYSCORE', z, '-inf', cutoff)
    end
    used = tonumber(redis.call('HGET', h, 'sum') or '0')
    local first = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
    if #first > 0 then frees = tonumber(first[2]) + a + b end
  else
    redis.call('ZREMRANGEBYSCORE', z, '-inf', s(now))
    used = redis.call('ZCARD', z)
  end
  if used + amount > limit then out[1] = 0 end
  out[2 * i] = used
  out[2 * i + 1] = frees
end
if out[1] == 0 or id == '' then return out end
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local o = 3 + (i - 1) * 5
  local kind, amount = ARGV[o + 1], ARGV[o + 3]
  local a, b = tonumber(ARGV[o + 4]), tonumber(ARGV[o + 5])
  if kind == 't' then
    redis.call('HINCRBY', h, 'res', amount)
    redis.call('HSET', h, 'r:' .. id, amount)
    redis.call('ZADD', z, s(now + leaseMs), id)
    if a > 0 then extend(h, a) end
    extend(z, leaseMs)
  elseif kind == 'w' then
    local bucket = s(now - (now % b))
    redis.call('HINCRBY', h, bucket, amount)
    redis.call('HINCRBY', h, 'sum', amount)
    redis.call('ZADD', z, bucket, bucket)
    redis.call('PEXPIRE', h, s(a + b))
    redis.call('PEXPIRE', z, s(a + b))
  else
    redis.call('ZADD', z, s(now + leaseMs), id)
    extend(z, leaseMs)
  end
end
return out
`;

/**
 * Settle (mode 's') or release (mode 'r'). Idempotent through a marker key, so a retried call whose
 * first attempt did reach Redis changes nothing.
 * KEYS: marker, H1, Z1, H2, Z2, …
 * ARGV: mode, id, markerTtlMs, then per counter: kind, reserved, actual, a
 *   t: a = TTL of H in ms (0: none); w: a = bucket start
 * Returns 1, or 0 when the reservation was finished before.
 */
export const FINISH_LUA = `${COMMON}
local mode, id = ARGV[1], ARGV[2]
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[3]) then return 0 end
local n = (#KEYS - 1) / 2
for i = 1, n do
  local h, z = KEYS[2 * i], KEYS[2 * i + 1]
  local o = 3 + (i - 1) * 4
  local kind, reserved, actual = ARGV[o + 1], tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3])
  local a = ARGV[o + 4]
  if kind == 't' then
    local held = redis.call('HGET', h, 'r:' .. id)
    if held then
      redis.call('HDEL', h, 'r:' .. id)
      redis.call('HINCRBY', h, 'res', s(-tonumber(held)))
      redis.call('ZREM', z, id)
    end
    if mode == 's' and actual > 0 then
      redis.call('HINCRBY', h, 'v', s(actual))
      extend(h, tonumber(a))
    end
  elseif kind == 'w' then
    local delta = -reserved
    if mode == 's' then delta = actual - reserved end
    if delta ~= 0 and redis.call('HEXISTS', h, a) == 1 then
      redis.call('HINCRBY', h, a, s(delta))
      redis.call('HINCRBY', h, 'sum', s(delta))
    end
  else
    redis.call('ZREM', z, id)
  end
end
return 1
`;
