#!/usr/bin/env bash
# What the load benchmarks share (sourced by bench/run.sh and bench/upstream.sh): logging, the
# release build, stopping what they started, starting a server and reading its address, CPU
# ticks of a process, and Hearth's /metrics with the hearth_overhead_seconds estimate.
#
# The sourcing script sets SCRIPT (its name, for messages) before sourcing, and WORK, KEY and
# HEARTH_ADDR before using the functions that read them.

log() { printf '==> %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "$SCRIPT" "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Cleanup: stop what we started (by pid), keep or remove the temp dir.
PIDS=()
WORK=""

stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$? pid f
  set +e
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [[ -n $WORK && -d $WORK ]]; then
    if ((status != 0)); then
      for f in "$WORK"/*.out "$WORK"/*.err; do
        [[ -s $f ]] || continue
        printf -- '--- last lines of %s ---\n' "$(basename "$f")" >&2
        tail -n 20 "$f" >&2
      done
    fi
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
      log "kept $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$status"
}

# build_release [CARGO_ARGS...]: the floor plus what the arguments name, in one cargo call,
# so shared dependencies are built once with one set of features (two calls would each
# rebuild them for their own set).
build_release() {
  # The floor's binary by name too: a `--bin` in the arguments would otherwise leave it out.
  log "cargo build --release $* -p hearth-bench-floor --bin hearth-bench-floor"
  cargo build --release "$@" -p hearth-bench-floor --bin hearth-bench-floor
}

start_server() {
  local name=$1 i line
  shift
  "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  SERVER_ADDR=""
  for ((i = 0; i < 300; i++)); do
    line="$(grep -m1 -o 'hearth listening on http://[^[:space:]/]*' "$WORK/$name.out" || true)"
    if [[ -n $line ]]; then
      SERVER_ADDR="${line#hearth listening on http://}"
      break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || die "$name exited before it was listening"
    sleep 0.1
  done
  [[ -n $SERVER_ADDR ]] || die "$name printed no 'hearth listening on http://...' line within 30 s"
  [[ $SERVER_ADDR =~ ^127\.0\.0\.1:[0-9]+$ ]] || die "$name listens on $SERVER_ADDR, expected 127.0.0.1:PORT"
  log "$name listening on $SERVER_ADDR (pid $SERVER_PID)"
}

# CPU ticks (utime + stime, all threads) of a pid. Fields after "(comm) " start at field 3.
cpu_ticks() {
  awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$1/stat"
}

scrape_metrics() { # scrape_metrics FILE: hearth's /metrics into FILE (empty on failure)
  curl -sS -f --max-time 10 -H "Authorization: Bearer $KEY" "http://$HEARTH_ADDR/metrics" \
    -o "$1" 2>/dev/null || : >"$1"
}

# overhead_stats BEFORE AFTER: "count mean_ms p50_ms p99_ms" of hearth_overhead_seconds over
# the observations between the two scrapes (all label sets summed). Quantiles are linear
# interpolation inside the bucket, as Prometheus' histogram_quantile does; a quantile in the
# +Inf bucket is reported as ">LAST_BOUND". With one FILE: the cumulative figures.
overhead_stats() {
  local f
  for f in "$@"; do
    echo "#BENCH-FILE"
    cat "$f" 2>/dev/null || true
  done | awk '
    /^#BENCH-FILE/ { file++; next }
    /^hearth_overhead_seconds_bucket[{ ]/ {
      if (match($0, /le="[^"]*"/)) {
        le = substr($0, RSTART + 4, RLENGTH - 5)
        b[file, le] += $NF; seen[le] = 1
      }
      next
    }
    /^hearth_overhead_seconds_sum[{ ]/ { s[file] += $NF; next }
    /^hearth_overhead_seconds_count[{ ]/ { c[file] += $NF; next }
    END {
      a = (file >= 2) ? 2 : 1; z = (file >= 2) ? 1 : 0
      count = c[a] - (z ? c[z] : 0); sum = s[a] - (z ? s[z] : 0)
      if (count <= 0) { print "0 - - -"; exit }
      n = 0
      for (le in seen) { n++; key[n] = le; val[n] = (le == "+Inf") ? 1e308 : le + 0 }
      for (i = 2; i <= n; i++) {            # insertion sort by bound
        k = key[i]; v = val[i]
        for (j = i - 1; j >= 1 && val[j] > v; j--) { key[j + 1] = key[j]; val[j + 1] = val[j] }
        key[j + 1] = k; val[j + 1] = v
      }
      for (i = 1; i <= n; i++) cum[i] = b[a, key[i]] - (z ? b[z, key[i]] : 0)
      out = sprintf("%d %.3f", count, sum / count * 1000)
      split("0.5 0.99", qs, " ")
      for (qi = 1; qi <= 2; qi++) {
        rank = qs[qi] * count; lo = 0; prev = 0; res = "-"
        for (i = 1; i <= n; i++) {
          if (cum[i] >= rank) {
            if (key[i] == "+Inf") { res = sprintf(">%.3f", lo * 1000) }
            else if (cum[i] == prev) { res = sprintf("%.3f", val[i] * 1000) }
            else { res = sprintf("%.3f", (lo + (val[i] - lo) * (rank - prev) / (cum[i] - prev)) * 1000) }
            break
          }
          lo = val[i]; prev = cum[i]
        }
        out = out " " res
      }
      print out
    }
  '
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
