#!/usr/bin/env bash
# Hearth soak: a million requests mixed across workspaces (misses, cache hits, streams, rate
# limits, unknown keys and tasks, malformed bodies; bench/soak.lua), with a fault drill on
# mock-fast switched on and off every 10 s, while a sampler reads the server once a second:
# resident memory, open files, threads, WAL size, /metrics size, requests counted.
#
#   bash bench/soak.sh
#
# Environment:
#   SOAK_REQUESTS  requests in all (default 1000000)
#   SOAK_CONNS     wrk connections (default 32)
#   SOAK_HEARTH    a hearth binary to soak instead of building the release one
#   SOAK_CHECK     1: write the report to the temp dir, not bench/results, and fail unless
#                  open files come back and /metrics stays bounded (what CI runs, shorter)
#   BENCH_KEEP     1: keep the temp dir
#
# Writes bench/results/soak-latest.md (the verdicts and the curves) and soak-latest.csv (one
# row a second). A warm-up of 2% of the requests runs first. Targets: resident memory grows
# under 10% after the warm-up (which ends 20% into the run), open files come back to the
# idle count after the warm-up once the load stops, /metrics stays bounded.
# All traffic goes to 127.0.0.1; every process this script starts is stopped on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SCRIPT=soak.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

TOTAL="${SOAK_REQUESTS:-1000000}"
CONNS="${SOAK_CONNS:-32}"
[[ $TOTAL =~ ^[1-9][0-9]*$ && $CONNS =~ ^[1-9][0-9]*$ ]] || die "SOAK_REQUESTS and SOAK_CONNS are positive integers"
COMMAND="bash bench/soak.sh"
for var in SOAK_REQUESTS SOAK_CONNS; do
  if [[ -n "${!var:-}" ]]; then COMMAND="$var=${!var} $COMMAND"; fi
done

command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
for tool in wrk curl awk cargo; do
  command -v "$tool" >/dev/null || die "needs $tool on PATH"
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hearth-soak.XXXXXX")"
HEARTH="${SOAK_HEARTH:-${CARGO_TARGET_DIR:-$ROOT/target}/release/hearth}"
CHECK="${SOAK_CHECK:-0}"
OUT=bench/results
if ((CHECK == 1)); then OUT="$WORK"; fi
DATA="$WORK/data"
CFG="$WORK/soak.toml"
CSV="$WORK/soak.csv"
mkdir -p "$DATA" "$OUT"

if [[ -z ${SOAK_HEARTH:-} ]]; then build_release --bin hearth -p hearth; fi
[[ -x $HEARTH ]] || die "no hearth binary at $HEARTH"

# Zero-latency mocks (the gateway is what is soaked); tenant_free keeps its 30 rpm.
sed -e 's/^\([[:space:]]*latency_ms[[:space:]]*=[[:space:]]*\)[0-9][0-9]*/\10/' src/config/demo.toml >"$CFG"
KEYS=()
for ws in soak_a soak_b soak_c; do
  "$HEARTH" workspaces create "$ws" --tier enterprise --data-dir "$DATA" >/dev/null
  "$HEARTH" workspaces set "$ws" --rpm 100000000 --daily-budget-usd 100000000 --max-concurrency 1000 \
    --data-dir "$DATA" >/dev/null
  KEYS+=("$("$HEARTH" keys create --workspace "$ws" --data-dir "$DATA" 2>/dev/null)")
done
"$HEARTH" workspaces create tenant_free --tier free --data-dir "$DATA" >/dev/null 2>&1 || true
FREE_KEY="$("$HEARTH" keys create --workspace tenant_free --data-dir "$DATA" 2>/dev/null)"
ADMIN_KEY="$("$HEARTH" keys create --workspace soak_a --role admin --data-dir "$DATA" 2>/dev/null)"

start_server hearth "$HEARTH" serve --demo --config "$CFG" --addr 127.0.0.1:0 --data-dir "$DATA"
PID=$SERVER_PID
ADDR=$SERVER_ADDR

# sample ELAPSED: one CSV row of the server's state.
sample() {
  local rss threads fds wal mbytes reqs
  rss="$(awk '/^VmRSS/ { print $2 }' "/proc/$PID/status")"
  threads="$(awk '/^Threads/ { print $2 }' "/proc/$PID/status")"
  fds="$(find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
  wal="$(stat -c %s "$DATA/hearth.db-wal" 2>/dev/null || echo 0)"
  curl -sS --max-time 10 -H "Authorization: Bearer $ADMIN_KEY" "http://$ADDR/metrics" -o "$WORK/metrics.txt" || : >"$WORK/metrics.txt"
  mbytes="$(wc -c <"$WORK/metrics.txt")"
  reqs="$(awk '/^llm_requests_total/ { s += $NF } END { printf "%d", s }' "$WORK/metrics.txt")"
  printf '%s,%s,%s,%s,%s,%s,%s\n' "$1" "$rss" "$fds" "$threads" "$wal" "$mbytes" "$reqs" >>"$CSV"
}

# load N: N requests of bench/soak.lua, sampling once a second. wrk has no request count and
# sleeps out its whole duration after its threads stop, so it is stopped (SIGINT, after which
# it reports) once the server has counted no new request for three seconds.
load() {
  local n=$1 last=-1 still=0 now
  wrk -t2 -c"$CONNS" -d24h --timeout 10s -s bench/soak.lua "http://$ADDR" -- \
    "${KEYS[0]}" "${KEYS[1]}" "${KEYS[2]}" "$FREE_KEY" "$((n / 2))" >"$WORK/wrk.out" 2>&1 &
  WRK_PID=$!
  PIDS+=("$WRK_PID")
  while kill -0 "$WRK_PID" 2>/dev/null; do
    sleep 1
    sample "$((SECONDS - T0))"
    now="$(tail -n1 "$CSV" | cut -d, -f7)"
    if [[ $now == "$last" ]]; then still=$((still + 1)); else still=0; fi
    last=$now
    if ((still >= 3)); then kill -INT "$WRK_PID" 2>/dev/null || true; fi
  done
  wait "$WRK_PID" || true
  grep -q '^SOAK ' "$WORK/wrk.out" || die "wrk printed no summary: $(tail -n 5 "$WORK/wrk.out")"
}

echo "t_s,rss_kib,fds,threads,wal_bytes,metrics_bytes,requests_counted" >"$CSV"
T0=$SECONDS
sample 0

# The fault drill: mock-fast (the extract route's primary) fails for 2 s in every 10 s.
drill() {
  while sleep 8; do
    curl -sS -o /dev/null -H 'content-type: application/json' -d '{"fail": true}' "http://$ADDR/debug/provider/mock-fast/fail" || true
    sleep 2
    curl -sS -o /dev/null -H 'content-type: application/json' -d '{"fail": false}' "http://$ADDR/debug/provider/mock-fast/fail" || true
  done
}
drill &
DRILL_PID=$!
PIDS+=("$DRILL_PID")

# A warm-up (2% of the run) fills the pools and caches that grow once; the open files when it
# has gone idle are the baseline the run must come back to.
log "warm-up: $((TOTAL / 50)) requests"
load "$((TOTAL / 50))"
sleep 3
sample "$((SECONDS - T0))"
WARM_ROW="$(($(wc -l <"$CSV") - 1))"
BASE_FDS="$(tail -n1 "$CSV" | cut -d, -f3)"

log "soak: $TOTAL requests over $CONNS connections to $ADDR"
T1=$SECONDS
load "$TOTAL"
RUN_S=$((SECONDS - T1))
stop_pid "$DRILL_PID"
# Idle: the load's connections closed, the writer settled.
sleep 5
sample "$((SECONDS - T0))"

cp "$CSV" "$OUT/soak-latest.csv"
REPORT="$OUT/soak-latest.md"
awk -F, -v base_fds="$BASE_FDS" -v warm_row="$WARM_ROW" -v run_s="$RUN_S" -v total="$TOTAL" -v command="$COMMAND" \
  -v wrk_line="$(grep '^SOAK ' "$WORK/wrk.out")" -v commit="$(git rev-parse --short HEAD)$(git diff --quiet || echo ' (uncommitted changes)')" \
  -v cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" -v cores="$(nproc)" '
  NR == 1 { next }
  { n++; t[n] = $1; rss[n] = $2; fds[n] = $3; thr[n] = $4; wal[n] = $5; mb[n] = $6; req[n] = $7 }
  function spark(a, from, to,    i, lo, hi, s, k, w, step, col, blocks) {
    split("▁ ▂ ▃ ▄ ▅ ▆ ▇ █", blocks, " ")
    lo = a[from]; hi = a[from]
    for (i = from; i <= to; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
    w = 60; step = (to - from + 1) / w; if (step < 1) step = 1; s = ""
    for (col = 0; from + col * step <= to && col < w; col++) {
      k = a[int(from + col * step)]
      s = s blocks[(hi == lo) ? 1 : 1 + int((k - lo) / (hi - lo) * 7.999)]
    }
    return sprintf("%s  (%s to %s)", s, lo, hi)
  }
  END {
    last = n - 1                      # the row before the idle sample
    # Warm-up: the warm-up load and the first 20% of the run. Growth compares the level
    # (median) of the next tenth of the run with that of its last tenth: a spike is not growth.
    tenth = int((last - warm_row) / 10); if (tenth < 1) tenth = 1
    warm = warm_row + 2 * tenth
    early = median(rss, warm, warm + tenth - 1); late = median(rss, last - tenth + 1, last)
    peak = 0; for (i = warm; i <= last; i++) if (rss[i] > peak) peak = rss[i]
    growth = (late - early) / early * 100
    mpeak = 0; for (i = 1; i <= n; i++) if (mb[i] > mpeak) mpeak = mb[i]
    printf "# Soak: %d requests (%s)\n\n", total, command
    printf "Machine: %s, %d cores. Code: %s. Run: %d s, wrk: `%s`.\n\n", cpu, cores, commit, run_s, wrk_line
    printf "| Target | Figure | Met |\n|---|---|---|\n"
    printf "| resident memory grows under 10%% after the warm-up (the warm-up load and the first 20%% of the run, to %d s): median of the last tenth of the run against the tenth after the warm-up | %.1f%% (%d KiB to %d KiB; the highest sample after the warm-up %d KiB) | %s |\n", t[warm], growth, early, late, peak, (growth < 10 ? "yes" : "no")
    printf "| open files back to the baseline once idle | %d idle after the warm-up, %d idle after the run | %s |\n", base_fds, fds[n], (fds[n] <= base_fds ? "yes" : "no")
    printf "| /metrics bounded | %d bytes at the start, %d at the peak, %d at the end | %s |\n", mb[1], mpeak, mb[n], (mpeak < 64 * 1024 ? "yes" : "no")
    printf "| threads | %d to %d | - |\n", thr[1], thr[n]
    printf "| WAL | largest %d bytes, %d at the end | - |\n\n", walmax(), wal[n]
    printf "Curves, one column per 1/60 of the run (the idle sample left out):\n\n```\n"
    printf "rss KiB   %s\n", spark(rss, 1, last)
    printf "open fds  %s\n", spark(fds, 1, last)
    printf "threads   %s\n", spark(thr, 1, last)
    printf "WAL bytes %s\n", spark(wal, 1, last)
    printf "/metrics  %s\n", spark(mb, 1, last)
    printf "requests  %s\n```\n", spark(req, 1, last)
  }
  function walmax(   i, m) { m = 0; for (i = 1; i <= n; i++) if (wal[i] > m) m = wal[i]; return m }
  function median(a, from, to,    i, j, k, v, m, c) {
    m = 0
    for (i = from; i <= to; i++) {
      v = a[i]
      for (j = m; j >= 1 && c[j] > v; j--) c[j + 1] = c[j]
      c[j + 1] = v; m++
    }
    return (m % 2) ? c[(m + 1) / 2] : (c[m / 2] + c[m / 2 + 1]) / 2
  }
' "$CSV" >"$REPORT"
cat "$REPORT"
if ((CHECK == 1)); then
  # The invariants a short run can judge (memory needs the long run's second half).
  fds_ok="$(grep -c '^| open files back to the baseline .* | yes |$' "$REPORT" || true)"
  metrics_ok="$(grep -c '^| /metrics bounded .* | yes |$' "$REPORT" || true)"
  passed=$((fds_ok + metrics_ok))
  echo "$passed passed, $((2 - passed)) failed"
  ((passed == 2)) || exit 1
fi
