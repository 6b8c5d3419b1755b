-- Hearth soak load: a mix of everything a gateway sees, in a fixed rotation of 20 requests,
-- across three workspaces' keys.
--
--   wrk -t2 -c32 -d1h -s bench/soak.lua http://127.0.0.1:PORT -- KEY_A KEY_B KEY_C KEY_FREE PER_THREAD
--
-- Of every 20: 9 cache misses (a unique message), 4 exact-cache hits, 3 streams, 1 request
-- of tenant_free (whose 30 rpm turns it away: 429), 1 unknown key (401), 1 unknown task
-- (400; its name must never become a metric label), 1 malformed body (400). Each thread stops
-- after PER_THREAD responses, so two threads make an exact total.

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

local keys, free_key, limit
local sent, answered = 0, 0

function init(args)
  keys = { args[1], args[2], args[3] }
  free_key = args[4]
  limit = tonumber(args[5] or "500000")
end

local function chat(content, extra)
  return string.format(
    '{"model":"hearth/extract","messages":[{"role":"user","content":"%s"}],"max_tokens":32,"temperature":0%s}',
    content, extra or "")
end

function request()
  sent = sent + 1
  local slot = sent % 20
  local key = keys[(sent % 3) + 1]
  local body
  if slot < 9 then
    body = chat(string.format("soak miss %d-%d", sent, thread_id))
  elseif slot < 13 then
    body = chat("soak hit")
  elseif slot < 16 then
    body = string.format(
      '{"model":"hearth/chat","stream":true,"messages":[{"role":"user","content":"soak stream %d-%d"}],"max_tokens":32}',
      sent, thread_id)
  elseif slot == 16 then
    key = free_key
    body = chat(string.format("soak free %d-%d", sent, thread_id))
  elseif slot == 17 then
    key = "hk_not_a_key"
    body = chat("soak unknown key")
  elseif slot == 18 then
    body = string.format(
      '{"model":"hearth/zz%d","messages":[{"role":"user","content":"soak"}],"max_tokens":8}', sent)
  else
    body = '{"model": "hearth/extract", "messages": ['
  end
  local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key }
  return wrk.format("POST", "/v1/chat/completions", headers, body)
end

function response(status, headers, body)
  answered = answered + 1
  if answered >= limit then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "SOAK requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d max_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
