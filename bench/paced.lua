-- Hearth miss path at a fixed pace instead of flat out: bench/miss.lua, plus a pause of
-- DELAY_MS before each request on every connection, so the offered rate is at most about
-- connections * 1000 / DELAY_MS requests per second (10 connections, 10 ms: ~1,000 req/s).
--
--   wrk -t2 -c10 -d10s --latency -s bench/paced.lua http://127.0.0.1:PORT/v1/chat/completions -- KEY OFFSET DELAY_MS

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "miss.lua")

local miss_init = init
local pause_ms = 10

function init(args)
  miss_init(args)
  pause_ms = tonumber(args[3] or "10") or 10
end

function delay()
  return pause_ms
end
