-- Hearth miss path at a pace instead of flat out: bench/miss.lua, plus a pause before each
-- request on every connection, so the offered rate is about connections * 1000 / DELAY_MS
-- requests per second (10 connections, 10 ms: ~1,000 req/s).
--
--   wrk -t2 -c10 -d10s --latency -s bench/paced.lua http://127.0.0.1:PORT/v1/chat/completions -- KEY OFFSET DELAY_MS [spread|lockstep]
--
-- spread (the default): each pause is drawn uniformly from 0..2*DELAY_MS ms (mean DELAY_MS),
-- so the connections drift apart and requests arrive as from independent clients.
-- lockstep: every pause is exactly DELAY_MS. The connections start together and stay
-- together, so requests arrive in bursts of one per connection every DELAY_MS: the same
-- rate, far burstier.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "miss.lua")

local miss_init = init
local pause_ms = 10
local spread = true

function init(args)
  miss_init(args)
  pause_ms = tonumber(args[3] or "10") or 10
  spread = (args[4] or "spread") ~= "lockstep"
  math.randomseed(os.time() * 100 + (thread_id or 0))
end

function delay()
  if spread then
    return math.random(0, 2 * pause_ms)
  end
  return pause_ms
end
