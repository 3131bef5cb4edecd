package shared

import "github.com/redis/go-redis/v9"

// The Lua scripts run in Redis, each atomically: no other command runs
// between a script's reads and its writes, so two replicas can never both
// take the last slot or the last token.
//
// Times are microseconds. Each script takes "now" as its first argument:
// empty, it reads Redis's own clock (TIME), so replicas whose clocks
// disagree still agree on every limit; tests pass a time of their own
// (Options.Clock). Numbers go back to Redis through string.format('%.0f'):
// Redis turns a Lua number into a string with 14 significant digits, which
// would round a time in microseconds (16 digits) by up to 100 µs.
//
// Concurrency is a lease: a sorted set per limited key whose members are
// the calls holding it, each scored with the time its lease expires. A
// lease is renewed while its call lasts (renewScript) and removed when it
// ends; the lease of a replica that died expires by itself, and the next
// acquisition purges it (ZREMRANGEBYSCORE). The key itself expires with
// its last lease.
//
// Rates are GCRA (the generic cell rate algorithm): one key per stream of
// calls holds its theoretical arrival time (TAT); a call of cost n fits
// when TAT + n·interval − burst·interval ≤ now. It is the token bucket of
// golang.org/x/time/rate that the local Limiter uses, stored as one
// number: the same rate, burst and waits (rwz/redis-gcra, which
// go-redis/redis_rate runs, is the same algorithm for one key per call).
const scriptHeader = `
if redis.replicate_commands then redis.replicate_commands() end
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function num(x) return string.format('%.0f', x) end
-- extend keeps key for at least ttl, as long as the longest lease on it.
local function extend(key, ttl)
  local ms = math.ceil(ttl / 1000) + 1
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, num(ms)) end
end
-- hold gives member a lease on key until expiry.
local function hold(key, member, expiry, ttl)
  redis.call('ZADD', key, num(expiry), member)
  extend(key, ttl)
end
`

// leaseScript takes a lease on every key of KEYS, or none: the first key
// whose leases number its limit already refuses them all.
//
// ARGV: now, member, ttl, then the limit of each key. Returns 0, or the
// (1-based) index of the key that refused.
var leaseScript = redis.NewScript(scriptHeader + `
local now = clock(ARGV[1])
local member, ttl = ARGV[2], tonumber(ARGV[3])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', num(now))
  if redis.call('ZCARD', key) >= tonumber(ARGV[3 + i]) then return i end
end
for _, key in ipairs(KEYS) do hold(key, member, now + ttl, ttl) end
return 0
`)

// acquireScript admits a decided call: the caller's rate (n calls), and
// for each mailbox its concurrency (a lease) and its rate (one call), all
// or nothing, checked in the order the local Limiter checks them.
//
// KEYS: the caller's rate key, then per mailbox its lease key and its
// rate key. ARGV: now, member, ttl, n, the caller's interval and burst,
// the mailboxes' concurrency, interval and burst. Returns {0, 0, 0}
// admitted, or {refusal, mailbox index (1-based), wait in µs}.
var acquireScript = redis.NewScript(scriptHeader + `
local now = clock(ARGV[1])
local member, ttl, n = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local ci, cb = tonumber(ARGV[5]), tonumber(ARGV[6])
local mc, mi, mb = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
-- gcra returns the key's TAT once cost is admitted, or nil and the wait.
local function gcra(key, interval, burst, cost)
  local tat = tonumber(redis.call('GET', key) or '0') or 0
  if tat < now then tat = now end
  local new = tat + interval * cost
  local wait = new - interval * burst - now
  if wait > 0 then return nil, wait end
  return new, 0
end
local function settat(key, tat)
  redis.call('SET', key, num(tat), 'PX', num(math.ceil((tat - now) / 1000) + 1))
end
if n > cb then return {1, 0, 0} end
local ctat, wait = gcra(KEYS[1], ci, cb, n)
if not ctat then return {2, 0, math.ceil(wait)} end
local m = (#KEYS - 1) / 2
local tats = {}
for i = 1, m do
  local lk, rk = KEYS[2 * i], KEYS[2 * i + 1]
  redis.call('ZREMRANGEBYSCORE', lk, '-inf', num(now))
  if redis.call('ZCARD', lk) >= mc then return {3, i, 0} end
  local t, w = gcra(rk, mi, mb, 1)
  if not t then return {4, i, math.ceil(w)} end
  tats[i] = t
end
settat(KEYS[1], ctat)
for i = 1, m do
  hold(KEYS[2 * i], member, now + ttl, ttl)
  settat(KEYS[2 * i + 1], tats[i])
end
return {0, 0, 0}
`)

// The refusals acquireScript returns.
const (
	refusedCallerBurst = 1
	refusedCallerRate  = 2
	refusedMailboxConc = 3
	refusedMailboxRate = 4
)

// renewScript extends the leases of members on KEYS[1] that still exist
// (ZADD XX: a lease that expired, purged by another replica, is not
// brought back).
//
// ARGV: now, ttl, then the members.
var renewScript = redis.NewScript(scriptHeader + `
local now = clock(ARGV[1])
local ttl = tonumber(ARGV[2])
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', num(now + ttl), ARGV[i])
end
extend(KEYS[1], ttl)
return 0
`)

// heartbeatScript registers a replica as alive for ttl in the sorted set
// KEYS[1], forgets those whose registration expired, and returns how many
// are alive: the count the local fallback divides the limits by.
//
// ARGV: now, ttl, member.
var heartbeatScript = redis.NewScript(scriptHeader + `
local now = clock(ARGV[1])
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', num(now))
hold(KEYS[1], ARGV[3], now + ttl, ttl)
return redis.call('ZCARD', KEYS[1])
`)

var scripts = []*redis.Script{leaseScript, acquireScript, renewScript, heartbeatScript}
