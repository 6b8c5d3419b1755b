-- Hearth hit path (and the floor): the same request every time, so after one warm-up
-- request Hearth answers every one from its exact cache. wrk builds the request once.
--
--   wrk -t2 -c64 -d10s --latency -s bench/hit.lua http://127.0.0.1:PORT/v1/chat/completions -- KEY

wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.body = '{"model":"hearth/extract","messages":[{"role":"user","content":"ticket 1-0: refund twice"}],"max_tokens":64,"temperature":0}'
wrk.headers["Content-Type"] = "application/json"

function init(args)
  local key = args[1] or os.getenv("HEARTH_KEY") or ""
  wrk.headers["Authorization"] = "Bearer " .. key
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
