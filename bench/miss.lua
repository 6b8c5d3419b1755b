-- Hearth miss path: every request carries a unique user message, so the exact cache never
-- hits and each request goes through routing, the (zero-latency) mock provider and audit.
--
--   wrk -t2 -c64 -d10s --latency -s bench/miss.lua http://127.0.0.1:PORT/v1/chat/completions -- KEY OFFSET
--
-- The message is "ticket N-T: refund twice": N counts this thread's requests from OFFSET
-- (bench/run.sh gives every run its own OFFSET, so no two runs share a message) and T is the
-- thread's number. bench/paced.lua is this script plus a fixed pause before each request.
-- The model is BENCH_MODEL from the environment when set (bench/upstream.sh names the route
-- to its HTTP upstream with it), else hearth/extract.

local model = os.getenv("BENCH_MODEL") or "hearth/extract"

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

local counter = 0

function init(args)
  local key = args[1] or os.getenv("HEARTH_KEY") or ""
  counter = tonumber(args[2] or "0") or 0
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. key
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"model":"%s","messages":[{"role":"user","content":"ticket %d-%d: refund twice"}],"max_tokens":64,"temperature":0}',
    model, counter, thread_id)
  return wrk.format("POST", "/v1/chat/completions", nil, body)
end

-- One machine-readable line for bench/run.sh, after wrk's own report. Latencies in µs.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d rps=%.2f p50_us=%d p99_us=%d mean_us=%.1f max_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
