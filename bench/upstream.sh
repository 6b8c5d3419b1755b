#!/usr/bin/env bash
# Hearth in front of a real upstream over HTTP: what the OpenAI-compatible adapter path adds.
# See bench/README.md, "In front of an HTTP upstream".
#
#   bash bench/upstream.sh
#
# Three wrk cases at each concurrency, all with bench/miss.lua (a unique message per request,
# so Hearth's exact cache never answers and every Hearth request reaches its provider):
#   upstream   wrk straight at the fast mock upstream (bench/floor with --upstream)
#   mock       Hearth, route hearth/extract: the zero-latency in-process mock provider
#   http       Hearth, route hearth/upstream: the openai_compatible provider -> that upstream
# then, when llama-cpp-python's venv and the default model are present, a few sequential
# requests to its llama_cpp.server directly and through Hearth (openai_compatible again).
#
# Environment:
#   BENCH_DURATION        wrk duration of every run                    (default 10s)
#   BENCH_CONNS           concurrencies to run                         (default "1 16 64")
#   BENCH_LLAMA           0: skip the llama.cpp part                   (default 1)
#   BENCH_LLAMA_REQUESTS  sequential requests each way to llama.cpp    (default 20, at most 100)
#   BENCH_KEEP            1: keep the temp dir (config, data dir, logs, raw wrk output)
#   HEARTH_CI_CACHE       where scripts/llamacpp-venv built the venv   (default ~/.cache/hearth-ci)
#   HEARTH_MODELS_DIR     where the default model lives                (default ~/.local/share/hearth/models)
#
# Prints a markdown report and writes it to bench/results/upstream-latest.md. All traffic goes
# to 127.0.0.1; every server this script starts is stopped on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DURATION="${BENCH_DURATION:-10s}"
CONNS="${BENCH_CONNS:-1 16 64}"
LLAMA="${BENCH_LLAMA:-1}"
LLAMA_REQUESTS="${BENCH_LLAMA_REQUESTS:-20}"
LLAMA_MAX_TOKENS=16
VENV="${HEARTH_CI_CACHE:-$HOME/.cache/hearth-ci}/llamacpp-venv"
MODEL_FILE="${HEARTH_MODELS_DIR:-$HOME/.local/share/hearth/models}/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
OUT=bench/results/upstream-latest.md

usage() { sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
SCRIPT=upstream.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    *) echo "upstream.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $DURATION =~ ^[0-9]+[smh]?$ ]] || die "BENCH_DURATION must look like 10s, got: $DURATION"
for c in $CONNS; do
  [[ $c =~ ^[1-9][0-9]*$ ]] || die "BENCH_CONNS must be positive integers, got: $CONNS"
done
if ! [[ $LLAMA_REQUESTS =~ ^[1-9][0-9]*$ ]] || ((LLAMA_REQUESTS > 100)); then
  die "BENCH_LLAMA_REQUESTS must be 1..100, got: $LLAMA_REQUESTS"
fi

COMMAND="bash bench/upstream.sh"
for var in BENCH_LLAMA_REQUESTS BENCH_LLAMA BENCH_CONNS BENCH_DURATION; do
  if [[ -n "${!var:-}" ]]; then COMMAND="$var='${!var}' $COMMAND"; fi
done

# ---------------------------------------------------------------------------------------------
# Tools, build (release, as bench/run.sh).
command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
for tool in wrk curl jq awk getconf cargo; do
  command -v "$tool" >/dev/null || die "needs $tool on PATH"
done
CLK_TCK="$(getconf CLK_TCK)"
NPROC="$(nproc)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hearth-upstream.XXXXXX")"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
HEARTH="$TARGET_DIR/release/hearth"
FLOOR="$TARGET_DIR/release/hearth-bench-floor"
DATA="$WORK/data"
CFG="$WORK/bench.toml"
RAW="$WORK/wrk-raw.txt"
: >"$RAW"
mkdir -p "$DATA"

build_release --bin hearth -p hearth

LOAD_BEFORE="$(uptime)"

# ---------------------------------------------------------------------------------------------
# Servers: start_server (bench/lib.sh) sets SERVER_PID and SERVER_ADDR.
SERVER_PID=""
SERVER_ADDR=""

# post ADDR BODY [KEY]: one request; prints "STATUS SECONDS"; the answer in $WORK/last.body.
post() {
  local addr=$1 body=$2 key=${3:-}
  local -a auth=()
  if [[ -n $key ]]; then auth=(-H "Authorization: Bearer $key"); fi
  curl -sS --max-time 60 -o "$WORK/last.body" -D "$WORK/last.headers" -w '%{http_code} %{time_total}' \
    -H 'Content-Type: application/json' "${auth[@]}" --data-binary "$body" \
    "http://$addr/v1/chat/completions" || echo "000 -"
}
header() { tr -d '\r' <"$WORK/last.headers" | awk -F': *' -v h="$1" 'tolower($1) == h { print $2 }'; }

# The fast upstream.
start_server upstream "$FLOOR" --upstream --addr 127.0.0.1:0
UP_PID=$SERVER_PID
UP_ADDR=$SERVER_ADDR
curl -sS -f --max-time 5 "http://$UP_ADDR/v1/models" | jq -e '.data[0].id == "fast-extract-v1"' >/dev/null ||
  die "the upstream's GET /v1/models did not list fast-extract-v1"

# llama-cpp-python's server, when its venv and the model are here.
LLAMA_NOTE=""
LLAMA_PID=""
LLAMA_ADDR=""
if [[ $LLAMA != 1 ]]; then
  LLAMA_NOTE="skipped (BENCH_LLAMA=$LLAMA)"
elif [[ ! -x $VENV/bin/python ]]; then
  LLAMA_NOTE="skipped: no llama-cpp-python venv at $VENV (build it with scripts/llamacpp-venv, about 25 min)"
elif [[ ! -f $MODEL_FILE ]]; then
  LLAMA_NOTE="skipped: no model at $MODEL_FILE (scripts/fetch-default-model)"
else
  port="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  LLAMA_ADDR="127.0.0.1:$port"
  log "starting llama_cpp.server on $LLAMA_ADDR"
  "$VENV/bin/python" -m llama_cpp.server --model "$MODEL_FILE" --host 127.0.0.1 --port "$port" \
    --n_ctx 2048 --n_threads 2 --model_alias smollm2 >"$WORK/llama.out" 2>"$WORK/llama.err" &
  LLAMA_PID=$!
  PIDS+=("$LLAMA_PID")
  for ((i = 0; i < 600; i++)); do
    if curl -sS -f --max-time 2 -o /dev/null "http://$LLAMA_ADDR/v1/models" 2>/dev/null; then break; fi
    kill -0 "$LLAMA_PID" 2>/dev/null || die "llama_cpp.server exited before it answered"
    sleep 0.1
  done
  curl -sS -f --max-time 2 -o /dev/null "http://$LLAMA_ADDR/v1/models" ||
    die "llama_cpp.server did not answer GET /v1/models within 60 s"
  LLAMA_VERSION="$("$VENV/bin/python" -c 'import llama_cpp; print(llama_cpp.__version__)')"
fi

# Hearth's policy: bench/run.sh's (demo.toml, zero latencies, rpm out of the way), plus the
# upstream as an openai_compatible provider behind route hearth/upstream, and llama.cpp's server
# as another (model llamacpp/smollm2), both allowed to the enterprise tier. The attempt timeout
# (3 s in demo.toml) is raised to 60 s: a llama.cpp answer on a busy machine can take longer,
# and a timed-out attempt plus its retry would be measured instead of one call.
extra='"upstream_extractor"'
[[ -z $LLAMA_ADDR ]] || extra="$extra, \"llamacpp_smollm2\""
sed -e 's/^\([[:space:]]*latency_ms[[:space:]]*=[[:space:]]*\)[0-9][0-9]*/\10/' \
  -e 's/^\([[:space:]]*attempt_timeout_ms[[:space:]]*=[[:space:]]*\)[0-9][0-9]*/\160000/' \
  -e 's/^\([[:space:]]*request_deadline_ms[[:space:]]*=[[:space:]]*\)[0-9][0-9]*/\1120000/' \
  src/config/demo.toml |
  awk -v extra="$extra" '
    /^[[:space:]]*\[/ { in_tier = ($0 ~ /^[[:space:]]*\[tiers\./); in_ent = ($0 ~ /^[[:space:]]*\[tiers\.enterprise\]/) }
    in_tier && /^[[:space:]]*rpm[[:space:]]*=/ { sub(/=.*/, "= 100000000") }
    in_ent && /^[[:space:]]*allowed_models[[:space:]]*=/ { sub(/\][[:space:]]*$/, ", " extra "]") }
    { print }
  ' >"$CFG"
grep -Eq '^[[:space:]]*latency_ms[[:space:]]*=[[:space:]]*[1-9]' "$CFG" && die "could not zero every latency_ms in $CFG"
grep -q 'upstream_extractor' "$CFG" || die "could not allow upstream_extractor in the enterprise tier"
grep -q '^attempt_timeout_ms = 60000$' "$CFG" || die "could not raise attempt_timeout_ms in $CFG"
cat >>"$CFG" <<EOF

# bench/upstream.sh: the fast mock upstream over HTTP.
[providers.upstream]
kind = "openai_compatible"
base_url = "http://$UP_ADDR/v1"
models = ["fast-extract-v1"]

[models.upstream_extractor]
provider = "upstream"
model_id = "fast-extract-v1"
max_output_tokens = 512
input_usd_per_1k = 0.0002
output_usd_per_1k = 0.0002

[routes.upstream]
primary = "upstream_extractor"
EOF
if [[ -n $LLAMA_ADDR ]]; then
  cat >>"$CFG" <<EOF

# bench/upstream.sh: llama-cpp-python's server.
[providers.llamacpp]
kind = "openai_compatible"
base_url = "http://$LLAMA_ADDR/v1"
models = ["smollm2"]

[models.llamacpp_smollm2]
provider = "llamacpp"
model_id = "smollm2"
max_output_tokens = 256
input_usd_per_1k = 0.0
output_usd_per_1k = 0.0
EOF
fi

log "creating workspace 'bench' and its key in $DATA"
"$HEARTH" workspaces create bench --tier enterprise --data-dir "$DATA" >/dev/null ||
  die "'hearth workspaces create' failed"
"$HEARTH" workspaces set bench --tier enterprise --rpm 100000000 --daily-budget-usd 100000000 \
  --data-dir "$DATA" >/dev/null || die "'hearth workspaces set' failed"
KEY="$("$HEARTH" keys create --workspace bench --data-dir "$DATA")" || die "'hearth keys create' failed"
[[ $KEY =~ ^[^[:space:]]+$ ]] || die "'hearth keys create' did not print one key alone on stdout"

start_server hearth "$HEARTH" serve --demo --config "$CFG" --addr 127.0.0.1:0 --data-dir "$DATA"
HEARTH_PID=$SERVER_PID
HEARTH_ADDR=$SERVER_ADDR

# Preflight: both routes answer, from the provider they name, not from the cache.
for pair in "extract mock-fast" "upstream upstream"; do
  read -r route provider <<<"$pair"
  read -r code _ <<<"$(post "$HEARTH_ADDR" \
    "{\"model\":\"hearth/$route\",\"messages\":[{\"role\":\"user\",\"content\":\"ticket 0-0: preflight\"}],\"max_tokens\":64,\"temperature\":0}" "$KEY")"
  [[ $code == 200 ]] || die "hearth/$route preflight answered HTTP $code: $(head -c 400 "$WORK/last.body")"
  [[ "$(header x-hearth-provider)" == "$provider" ]] ||
    die "hearth/$route was answered by '$(header x-hearth-provider)', expected $provider"
  [[ "$(header x-hearth-cache)" == miss ]] || die "hearth/$route preflight was not a cache miss"
done

# ---------------------------------------------------------------------------------------------
# Measurements.

busy_ticks() { # the whole machine's non-idle ticks, and steal, from /proc/stat
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $9 }' /proc/stat
}
# children_seconds FILE: user + system seconds of this shell's finished children, from the
# output of bash's `times` (which must run in this shell, not in a $(...) subshell).
children_seconds() {
  awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } print t }' "$1"
}
# metric_sum FILE NAME [LABEL_MATCH]: the sum of a counter's series (optionally only those
# whose label set contains LABEL_MATCH, e.g. provider="upstream").
metric_sum() {
  awk -v n="$2" -v m="${3:-}" '
    index($0, n "{") == 1 || index($0, n " ") == 1 { if (m == "" || index($0, m)) s += $NF }
    END { printf "%d", s }' "$1"
}


declare -A R_REQ R_RPS R_P50 R_P99 R_HCPU R_UCPU R_OVH R_CALLS R_HITS R_PERR R_OTHER R_ERR
ROWS=()
WRK_COMMANDS=()
RUN_INDEX=0

# run_case CASE CONNS: one wrk run with bench/miss.lua.
#   upstream -> the upstream itself; mock -> Hearth hearth/extract; http -> Hearth hearth/upstream.
run_case() {
  local case=$1 conns=$2 threads=2 addr model key="" provider=""
  ((conns >= 2)) || threads=1
  RUN_INDEX=$((RUN_INDEX + 1))
  case $case in
    upstream) addr=$UP_ADDR model=fast-extract-v1 ;;
    mock) addr=$HEARTH_ADDR model=hearth/extract key=$KEY provider=mock-fast ;;
    http) addr=$HEARTH_ADDR model=hearth/upstream key=$KEY provider=upstream ;;
  esac
  local -a cmd=(wrk "-t$threads" -c "$conns" -d "$DURATION" --latency -s bench/miss.lua
    "http://$addr/v1/chat/completions" -- "${key:--}" "$((RUN_INDEX * 100000000))")
  local shown
  shown="BENCH_MODEL=$model $(printf '%q ' "${cmd[@]}")"
  shown="${shown//"$KEY"/\$KEY}"
  WRK_COMMANDS+=("${shown% }")
  log "$case c=$conns: ${shown% }"

  local before="$WORK/metrics-$RUN_INDEX-before.txt" after="$WORK/metrics-$RUN_INDEX-after.txt"
  local h0 h1 u0 u1 l0=0 l1=0 b0 b1 s0 s1 c0 c1 out
  if [[ $case != upstream ]]; then scrape_metrics "$before"; fi
  times >"$WORK/times-before"
  read -r b0 s0 <<<"$(busy_ticks)"
  h0="$(cpu_ticks "$HEARTH_PID")" u0="$(cpu_ticks "$UP_PID")"
  if [[ -n $LLAMA_PID ]]; then l0="$(cpu_ticks "$LLAMA_PID")"; fi
  out="$(BENCH_MODEL=$model "${cmd[@]}" 2>&1)" || die "wrk failed: $out"
  h1="$(cpu_ticks "$HEARTH_PID")" u1="$(cpu_ticks "$UP_PID")"
  if [[ -n $LLAMA_PID ]]; then l1="$(cpu_ticks "$LLAMA_PID")"; fi
  read -r b1 s1 <<<"$(busy_ticks)"
  times >"$WORK/times-after"
  c0="$(children_seconds "$WORK/times-before")" c1="$(children_seconds "$WORK/times-after")"
  if [[ $case != upstream ]]; then scrape_metrics "$after"; fi
  printf '### %s c=%s\n$ %s\n%s\n\n' "$case" "$conns" "${shown% }" "$out" >>"$RAW"

  local line requests wrk_rps row=$case\|$conns
  line="$(grep -m1 '^BENCH ' <<<"$out" || true)"
  [[ -n $line ]] || die "no BENCH line in wrk's output: $out"
  wrk_rps="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")"
  requests="$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' <<<"$line")"
  ROWS+=("$row")
  R_REQ[$row]=$requests
  R_RPS[$row]="$(awk -v r="$wrk_rps" 'BEGIN { printf "%.0f", r }')"
  R_P50[$row]="$(sed -n 's/.* p50_us=\([0-9]*\).*/\1/p' <<<"$line" | awk '{ printf "%.3f", $1 / 1000 }')"
  R_P99[$row]="$(sed -n 's/.* p99_us=\([0-9]*\).*/\1/p' <<<"$line" | awk '{ printf "%.3f", $1 / 1000 }')"
  R_ERR[$row]="$(sed -n 's/.* non2xx=\([0-9]*\) socket_errors=\([0-9]*\).*/\1 \/ \2/p' <<<"$line")"
  per_req() { awk -v d="$1" -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { if (n > 0) printf "%.1f", d * 1e6 / hz / n; else print "-" }'; }
  R_HCPU[$row]="$(per_req $((h1 - h0)))"
  R_UCPU[$row]="$(per_req $((u1 - u0)))"
  [[ $case == upstream ]] && R_HCPU[$row]="-"
  [[ $case == mock ]] && R_UCPU[$row]="-"
  # CPU the rest of the machine used during the run: busy time minus our servers, wrk
  # (and curl), as a share of the machine's capacity over the run; steal beside it.
  R_OTHER[$row]="$(awk -v b="$((b1 - b0))" -v st="$((s1 - s0))" -v srv="$((h1 - h0 + u1 - u0 + l1 - l0))" \
    -v kids="$(awk -v a="$c0" -v z="$c1" 'BEGIN { print z - a }')" -v hz="$CLK_TCK" -v n="$NPROC" \
    -v dur="$(grep -o 'duration_us=[0-9]*' <<<"$line" | cut -d= -f2)" 'BEGIN {
      cap = n * dur / 1e6; other = (b - srv) / hz - kids; if (other < 0) other = 0
      printf "%.0f%% (steal %.0f%%)", 100 * other / cap, 100 * st / hz / cap }')"
  if [[ $case == upstream ]]; then
    R_OVH[$row]="- - - -" R_CALLS[$row]="-" R_HITS[$row]="-" R_PERR[$row]="-"
  else
    R_OVH[$row]="$(overhead_stats "$before" "$after")"
    R_CALLS[$row]=$(($(metric_sum "$after" llm_requests_total "provider=\"$provider\"") - $(metric_sum "$before" llm_requests_total "provider=\"$provider\"")))
    R_HITS[$row]=$(($(metric_sum "$after" llm_cache_hits_total) - $(metric_sum "$before" llm_cache_hits_total)))
    R_PERR[$row]="$(($(metric_sum "$after" llm_provider_errors_total) - $(metric_sum "$before" llm_provider_errors_total))) / $(($(metric_sum "$after" llm_retries_total) - $(metric_sum "$before" llm_retries_total)))"
  fi
}

for conns in $CONNS; do
  for case in upstream mock http; do run_case "$case" "$conns"; done
done

# llama.cpp: BENCH_LLAMA_REQUESTS pairs, one request straight to its server and one through
# Hearth (llamacpp/smollm2) per pair, the order alternating; each prompt used once (so neither
# Hearth's cache nor llama.cpp's prefix reuse favours one side); greedy, 16 new tokens, asked for
# a long story so every answer runs to the cap. Times are curl's time_total.
LLAMA_ROWS=()
if [[ -n $LLAMA_ADDR ]]; then
  llama_body() { # llama_body MODEL N
    jq -cn --arg m "$1" --arg c "Tell me a long story about the number $2." --argjson t "$LLAMA_MAX_TOKENS" \
      '{model: $m, messages: [{role: "user", content: $c}], max_tokens: $t, temperature: 0}'
  }
  # Two untimed requests each way first (model warm-up, connection set-up); prompts 1-4.
  for n in 1 2; do
    read -r code _ <<<"$(post "$LLAMA_ADDR" "$(llama_body smollm2 "$n")")"
    [[ $code == 200 ]] || die "llama.cpp warm-up answered HTTP $code: $(head -c 400 "$WORK/last.body")"
    read -r code _ <<<"$(post "$HEARTH_ADDR" "$(llama_body llamacpp/smollm2 $((n + 2)))" "$KEY")"
    [[ $code == 200 ]] || die "hearth -> llama.cpp warm-up answered HTTP $code: $(head -c 400 "$WORK/last.body")"
    [[ "$(header x-hearth-provider)" == llamacpp ]] || die "llamacpp/smollm2 answered by '$(header x-hearth-provider)'"
  done
  LLAMA_LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
  n=4
  for ((i = 1; i <= LLAMA_REQUESTS; i++)); do
    if ((i % 2)); then order="direct hearth"; else order="hearth direct"; fi
    for side in $order; do
      n=$((n + 1))
      if [[ $side == direct ]]; then
        read -r code secs <<<"$(post "$LLAMA_ADDR" "$(llama_body smollm2 "$n")")"
      else
        read -r code secs <<<"$(post "$HEARTH_ADDR" "$(llama_body llamacpp/smollm2 "$n")" "$KEY")"
        [[ "$(header x-hearth-cache)" == miss ]] || die "a llama.cpp request through Hearth was not a cache miss"
      fi
      [[ $code == 200 ]] || die "llama.cpp $side request $n answered HTTP $code: $(head -c 400 "$WORK/last.body")"
      LLAMA_ROWS+=("$i $side $secs $(jq -r '"\(.usage.completion_tokens // "-") \(.hearth.retry_count // "-")"' "$WORK/last.body")")
    done
  done
  LLAMA_LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
fi

FINAL_METRICS="$WORK/metrics-final.txt"
scrape_metrics "$FINAL_METRICS"
LOAD_AFTER="$(uptime)"

# ---------------------------------------------------------------------------------------------
# Report.
num() { [[ $1 =~ ^[0-9.]+$ ]]; }
sub3() { # sub3 A B [C]: A - B - C to 3 decimals, or "-"
  if num "$1" && num "$2" && num "${3:-0}"; then awk -v a="$1" -v b="$2" -v c="${3:-0}" 'BEGIN { printf "%.3f", a - b - c }'; else echo "-"; fi
}
ratio() {
  if num "$1" && num "$2"; then awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; else echo "-"; fi
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) printf "%.4f", v[(NR + 1) / 2]; else printf "%.4f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

CPU_MODEL="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
MEM="$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
GIT_REV="$(git rev-parse --short HEAD 2>/dev/null || echo 'no commit')"
if [[ -n "$(git status --porcelain 2>/dev/null | head -n1)" ]]; then GIT_REV="$GIT_REV (uncommitted changes)"; fi
REPORT="$WORK/report.md"
{
  echo "# Hearth in front of an HTTP upstream"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- Machine: $NPROC CPUs, ${CPU_MODEL:-unknown CPU}, $MEM RAM ($(uname -sr))"
  echo "- Command: \`$COMMAND\`"
  echo "- Source: $GIT_REV; release build; wrk $(wrk --version 2>&1 | awk 'NR == 1 { print $2 }')"
  echo "- Load before: \`${LOAD_BEFORE# }\`"
  echo "- Load after:  \`${LOAD_AFTER# }\`"
  echo "- Each wrk run: ${DURATION}, \`bench/miss.lua\` (unique message per request), wrk on the same machine."
  echo
  echo "Cases: **upstream** = wrk straight at the fast mock upstream (\`hearth-bench-floor --upstream\`);"
  echo "**mock** = Hearth, \`hearth/extract\`, zero-latency in-process mock provider;"
  echo "**http** = Hearth, \`hearth/upstream\`, \`openai_compatible\` provider over HTTP to that upstream."
  echo
  echo "| Case | Conns | Requests | Req/s | p50 ms | p99 ms | Hearth CPU µs/req | upstream CPU µs/req | overhead p50 ms | overhead p99 ms | overhead mean ms | provider calls | cache hits | provider errors / retries | other CPU | non-2xx / socket errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|"
  for row in "${ROWS[@]}"; do
    IFS='|' read -r case conns <<<"$row"
    read -r _ omean op50 op99 <<<"${R_OVH[$row]}"
    echo "| $case | $conns | ${R_REQ[$row]} | ${R_RPS[$row]} | ${R_P50[$row]} | ${R_P99[$row]} | ${R_HCPU[$row]} | ${R_UCPU[$row]} | $op50 | $op99 | $omean | ${R_CALLS[$row]} | ${R_HITS[$row]} | ${R_PERR[$row]} | ${R_OTHER[$row]} | ${R_ERR[$row]} |"
  done
  echo
  echo "p50/p99/Req/s are wrk's. CPU µs/req: the process's utime+stime over the run / wrk's requests."
  echo "Overhead: \`hearth_overhead_seconds\` (total minus time waiting on the provider; the adapter's"
  echo "own work happens inside that wait, so it is *not* in this figure) between scrapes before and"
  echo "after the run. Provider calls / cache hits: the change in \`llm_requests_total\` for that"
  echo "provider and in \`llm_cache_hits_total\` over the run; provider errors / retries likewise"
  echo "from \`llm_provider_errors_total\` and \`llm_retries_total\`. Other CPU: the machine's busy time"
  echo "(/proc/stat) minus this script's servers, wrk and curl, as a share of all ${NPROC} CPUs over the run."
  for row in "${ROWS[@]}"; do
    if [[ ${R_ERR[$row]} != "0 / 0" ]]; then
      echo
      echo "**Warning:** some runs saw non-2xx responses or socket errors."
      break
    fi
  done
  echo
  echo "## What the adapter path adds"
  echo
  echo "Differences of quantiles (not quantiles of differences). **adapter** = http − upstream −"
  echo "Hearth's own overhead in the http run: the time inside the provider call beyond what the"
  echo "upstream takes when wrk calls it (request building, the second HTTP hop, parsing the answer)."
  echo "**http − mock** = what replacing the in-process mock with the HTTP adapter and upstream costs"
  echo "end to end."
  echo
  echo "| Conns | upstream p50 | mock p50 | http p50 | adapter p50 | http − mock p50 | upstream p99 | mock p99 | http p99 | adapter p99 | http − mock p99 | Hearth CPU µs/req http − mock | Req/s upstream / mock / http | http / mock Req/s |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
  for conns in $CONNS; do
    u="upstream|$conns" m="mock|$conns" h="http|$conns"
    read -r _ _ hop50 hop99 <<<"${R_OVH[$h]}"
    echo "| $conns | ${R_P50[$u]} | ${R_P50[$m]} | ${R_P50[$h]} | $(sub3 "${R_P50[$h]}" "${R_P50[$u]}" "$hop50") | $(sub3 "${R_P50[$h]}" "${R_P50[$m]}") | ${R_P99[$u]} | ${R_P99[$m]} | ${R_P99[$h]} | $(sub3 "${R_P99[$h]}" "${R_P99[$u]}" "$hop99") | $(sub3 "${R_P99[$h]}" "${R_P99[$m]}") | $(sub3 "${R_HCPU[$h]}" "${R_HCPU[$m]}" | sed 's/\.\([0-9]\)[0-9]*$/.\1/') | ${R_RPS[$u]} / ${R_RPS[$m]} / ${R_RPS[$h]} | $(ratio "${R_RPS[$h]}" "${R_RPS[$m]}") |"
  done
  echo
  echo "## llama-cpp-python's server as the upstream"
  echo
  if [[ -z $LLAMA_ADDR ]]; then
    echo "$LLAMA_NOTE"
  else
    dmed="$(printf '%s\n' "${LLAMA_ROWS[@]}" | awk '$2 == "direct" { print $3 }' | median)"
    hmed="$(printf '%s\n' "${LLAMA_ROWS[@]}" | awk '$2 == "hearth" { print $3 }' | median)"
    dtok="$(printf '%s\n' "${LLAMA_ROWS[@]}" | awk '$2 == "direct" { print $4 }' | sort | uniq -c | awk '{ printf "%s%s×%s", (NR > 1 ? ", " : ""), $1, $2 }')"
    htok="$(printf '%s\n' "${LLAMA_ROWS[@]}" | awk '$2 == "hearth" { print $4 }' | sort | uniq -c | awk '{ printf "%s%s×%s", (NR > 1 ? ", " : ""), $1, $2 }')"
    pdiff="$(printf '%s\n' "${LLAMA_ROWS[@]}" | awk '{ t[$1, $2] = $3; n[$1] = 1 } END { for (i in n) print (t[i, "hearth"] - t[i, "direct"]) }' | median)"
    echo "llama-cpp-python $LLAMA_VERSION, \`llama_cpp.server\` with SmolLM2-135M-Instruct Q4_1,"
    echo "\`--n_ctx 2048 --n_threads 2\`. $LLAMA_REQUESTS pairs of sequential requests (order alternating"
    echo "within the pair, every prompt different: \"Tell me a long story about the number N.\"),"
    echo "\`max_tokens\` $LLAMA_MAX_TOKENS, temperature 0; curl's \`time_total\`. Load average over this part:"
    echo "$LLAMA_LOAD_BEFORE -> $LLAMA_LOAD_AFTER."
    echo
    echo "| Path | Requests | median s | completion tokens |"
    echo "|---|---:|---:|---|"
    echo "| direct to llama_cpp.server | $LLAMA_REQUESTS | $dmed | $dtok |"
    echo "| through Hearth (\`llamacpp/smollm2\`) | $LLAMA_REQUESTS | $hmed | $htok |"
    echo
    retried="$(printf '%s\n' "${LLAMA_ROWS[@]}" | awk '$2 == "hearth" && $5 != "0" { n++ } END { print n + 0 }')"
    if ((retried > 0)); then
      echo "**Warning:** $retried request(s) through Hearth were retried (retry_count > 0); their time includes the retry."
      echo
    fi
    echo "Difference of the medians: $(awk -v a="$hmed" -v b="$dmed" 'BEGIN { printf "%.1f ms", (a - b) * 1000 }');"
    echo "median of the per-pair differences (Hearth − direct): $(awk -v d="$pdiff" 'BEGIN { printf "%.1f ms", d * 1000 }')."
    echo
    echo "<details><summary>Every request (pair, path, seconds, completion tokens, Hearth's retry_count)</summary>"
    echo
    echo '```'
    printf '%s\n' "${LLAMA_ROWS[@]}"
    echo '```'
    echo
    echo "</details>"
  fi
  echo
  echo "## hearth_overhead_seconds after all runs (cumulative, incl. preflight and llama.cpp requests)"
  echo
  if grep -q '^hearth_overhead_seconds' "$FINAL_METRICS"; then
    read -r ocount omean op50 op99 <<<"$(overhead_stats "$FINAL_METRICS")"
    echo "count ${ocount}: mean ${omean} ms; estimated p50 ${op50} ms, p99 ${op99} ms."
    echo
    echo '```'
    grep -E '^hearth_overhead_seconds_(bucket|sum|count)' "$FINAL_METRICS"
    echo '```'
  else
    echo "Not available: GET /metrics had no hearth_overhead_seconds series (or the scrape failed)."
  fi
  echo
  echo "## wrk commands"
  echo
  echo '```'
  printf '%s\n' "${WRK_COMMANDS[@]}"
  echo '```'
  echo
  echo "<details><summary>Raw wrk output</summary>"
  echo
  echo '```'
  cat "$RAW"
  echo '```'
  echo
  echo "</details>"
} >"$REPORT"

cat "$REPORT"
mkdir -p "$ROOT/bench/results"
cp "$REPORT" "$ROOT/$OUT.tmp"
mv "$ROOT/$OUT.tmp" "$ROOT/$OUT"
log "report written to $OUT"
