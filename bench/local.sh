#!/usr/bin/env bash
# Local-inference benchmark: Hearth's on-device engine (candle, examples/local_infer.rs) side
# by side with llama.cpp (llama-cpp-python, bench/local_llamacpp.py) on the same GGUF file, the
# same prompt (bench/local_prompt.txt through the model's chat template; the script checks both
# engines saw the same token ids), the same thread count, greedy, 128 new tokens.
# See bench/README.md, "Local inference".
#
#   bash bench/local.sh
#
# Environment:
#   LOCAL_THREADS     CPU threads for both engines              (default 2)
#   LOCAL_ROUNDS      rounds; each runs both engines once, in a fresh process each,
#                     alternating which goes first               (default 3)
#   LOCAL_MAX_TOKENS  new tokens per run                         (default 128)
#   LOCAL_WARMUP      untimed warm-up generations per process    (default 1)
#   LOCAL_MODEL       the GGUF file (default: the default model, installed by
#                     scripts/fetch-default-model under HEARTH_MODELS_DIR)
#   LOCAL_PROMPT      the prompt file                            (default bench/local_prompt.txt)
#   LOCAL_TIMEOUT     seconds before one engine run is abandoned (default 900)
#   HEARTH_CI_CACHE   where scripts/llamacpp-venv built the llama.cpp venv
#
# Prints a markdown report (medians of the rounds, ratios candle / llama.cpp, every raw run)
# and writes it to bench/results/local-latest.md. No network: a missing model or venv is an
# error naming the script that provides it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

THREADS="${LOCAL_THREADS:-2}"
ROUNDS="${LOCAL_ROUNDS:-3}"
MAX_TOKENS="${LOCAL_MAX_TOKENS:-128}"
WARMUP="${LOCAL_WARMUP:-1}"
PROMPT="${LOCAL_PROMPT:-bench/local_prompt.txt}"
RUN_TIMEOUT="${LOCAL_TIMEOUT:-900}"
MODELS_DIR="${HEARTH_MODELS_DIR:-$HOME/.local/share/hearth/models}"
MODEL="${LOCAL_MODEL:-$MODELS_DIR/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf}"
VENV="${HEARTH_CI_CACHE:-$HOME/.cache/hearth-ci}/llamacpp-venv"
PY="$VENV/bin/python"
OUT=bench/results/local-latest.md

usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { printf 'local.sh: %s\n' "$*" >&2; exit 1; }
log() { printf '==> %s\n' "$*" >&2; }

for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    *) echo "local.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

for v in THREADS ROUNDS MAX_TOKENS RUN_TIMEOUT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got: ${!v}"
done
[[ $WARMUP =~ ^[0-9]+$ ]] || die "LOCAL_WARMUP must be a non-negative integer, got: $WARMUP"
((ROUNDS <= 20)) || die "LOCAL_ROUNDS above 20 is not a benchmark, it is a vigil"
((MAX_TOKENS >= 2)) || die "LOCAL_MAX_TOKENS must be at least 2"
[[ -f $MODEL ]] || die "no model at $MODEL (run scripts/fetch-default-model, or set LOCAL_MODEL)"
[[ -f $PROMPT ]] || die "no prompt file at $PROMPT"
[[ -x $PY ]] || die "no llama.cpp venv at $VENV (run scripts/llamacpp-venv, about 25 min)"
"$PY" -c 'import llama_cpp, jinja2' 2>/dev/null ||
  die "$PY cannot import llama_cpp and jinja2 (run scripts/llamacpp-venv)"

# The exact command, as a person would retype it.
COMMAND="bash bench/local.sh"
for var in LOCAL_PROMPT LOCAL_MODEL LOCAL_WARMUP LOCAL_MAX_TOKENS LOCAL_ROUNDS LOCAL_THREADS; do
  # shellcheck disable=SC2089 # the quotes are text for the report
  if [[ -n "${!var:-}" ]]; then COMMAND="$var='${!var}' $COMMAND"; fi
done

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

log "building examples/local_infer (release)"
cargo build --release --locked --example local_infer >&2
BIN="$ROOT/target/release/examples/local_infer"
[[ -x $BIN ]] || die "the build did not produce $BIN"

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_BEFORE="$(loadavg)"
RAW="$WORK/runs.jsonl"
: >"$RAW"
# Contention check: the machine's busy CPU time (/proc/stat) over the rounds, minus what this
# script's children (the engine runs) used (bash `times`, run in this shell), is what other
# processes took while the benchmark ran; the VM's steal time is reported beside it.
STAT_BEFORE="$(head -n 1 /proc/stat)"
times >"$WORK/times.before"

run_candle() {
  timeout "$RUN_TIMEOUT" "$BIN" --model "$MODEL" --threads "$THREADS" --prompt-file "$PROMPT" \
    --max-tokens "$MAX_TOKENS" --runs 1 --warmup "$WARMUP" >>"$RAW" ||
    die "the candle run failed or timed out (exit $?)"
}
run_llamacpp() {
  timeout "$RUN_TIMEOUT" "$PY" bench/local_llamacpp.py --model "$MODEL" --threads "$THREADS" \
    --prompt-file "$PROMPT" --max-tokens "$MAX_TOKENS" --runs 1 --warmup "$WARMUP" >>"$RAW" ||
    die "the llama.cpp run failed or timed out (exit $?)"
}

for ((round = 1; round <= ROUNDS; round++)); do
  if ((round % 2 == 1)); then order="candle llamacpp"; else order="llamacpp candle"; fi
  for engine in $order; do
    log "round $round/$ROUNDS: $engine (load average $(loadavg))"
    "run_$engine"
    tail -n 1 "$RAW" >&2
  done
done
LOAD_AFTER="$(loadavg)"
times >"$WORK/times.after"
STAT_AFTER="$(head -n 1 /proc/stat)"
TIMES_BEFORE="$(sed -n 2p "$WORK/times.before")"
TIMES_AFTER="$(sed -n 2p "$WORK/times.after")"

CANDLE_VERSION="$(awk '/^name = "candle-core"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)"
LLAMA_VERSION="$("$PY" -c 'import llama_cpp; print(llama_cpp.__version__)')"
CPU_MODEL="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
MEM_GIB="$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain -- src examples Cargo.toml Cargo.lock 2>/dev/null)" ]]; then
  COMMIT="$COMMIT (with uncommitted changes)"
fi
RUSTFLAGS_NOTE="$(grep -o 'target-cpu=[a-z0-9-]*' .cargo/config.toml 2>/dev/null | head -1 || true)"

DATE="$(date -u +%Y-%m-%dT%H:%MZ)"
NPROC="$(nproc)"
# shellcheck disable=SC2090 # COMMAND is text for the report, never run
export RAW DATE NPROC CPU_MODEL MEM_GIB COMMIT \
  COMMAND LOAD_BEFORE LOAD_AFTER CANDLE_VERSION LLAMA_VERSION THREADS ROUNDS MAX_TOKENS WARMUP \
  MODEL PROMPT RUSTFLAGS_NOTE STAT_BEFORE STAT_AFTER TIMES_BEFORE TIMES_AFTER
mkdir -p bench/results
"$PY" - >"$OUT.tmp" <<'EOF'
import json, os, statistics, sys

sys.path.insert(0, "bench")
from contention import measure, report_line

env = os.environ
runs = [json.loads(l) for l in open(env["RAW"]) if l.strip()]
by = {e: [r for r in runs if r["engine"] == e] for e in ("candle", "llama.cpp")}
med = {e: {k: statistics.median(r[k] for r in rs) for k in
           ("load_s", "ttft_s", "prompt_tok_s", "decode_tok_s", "cpu_s", "total_s",
            "peak_rss_mib", "generated_tokens", "prompt_tokens")} for e, rs in by.items()}
c, l = med["candle"], med["llama.cpp"]
ratio = lambda k: c[k] / l[k] if l[k] else float("nan")
sha = {r["prompt_sha256"] for r in runs}

contention = measure(env)
contended = contention["contended"]

def f(x, d=2):
    return f"{x:,.{d}f}"

out = []
p = out.append
p("# Local inference: candle (Hearth) vs llama.cpp")
p("")
p(f"- Date: {env['DATE']}; machine: {env['NPROC']} CPUs ({env['CPU_MODEL']}), {env['MEM_GIB']} GiB")
p(f"- Hearth commit {env['COMMIT']}; candle-core {env['CANDLE_VERSION']}, release build, "
  f"`{env['RUSTFLAGS_NOTE'] or 'default target'}`; llama-cpp-python {env['LLAMA_VERSION']}")
p(f"- Model: `{os.path.basename(env['MODEL'])}`; prompt `{env['PROMPT']}` as one user message "
  f"through the GGUF's chat template: {int(c['prompt_tokens'])} tokens "
  + ("(the same ids in both engines)" if len(sha) == 1 else "(**the engines' prompt ids differ**)"))
rounds_n, warm_n = int(env["ROUNDS"]), int(env["WARMUP"])
p(f"- {env['THREADS']} threads, greedy, up to {env['MAX_TOKENS']} new tokens, {rounds_n} "
  f"round{'s' * (rounds_n != 1)} (each engine in a fresh process per round, alternating which "
  f"goes first; {warm_n} untimed warm-up generation{'s' * (warm_n != 1)} per process); "
  f"cells are medians of the rounds")
p(f"- Load average (1/5/15 min): {env['LOAD_BEFORE']} before, {env['LOAD_AFTER']} after")
p(report_line(contention))
p(f"- Command: `{env['COMMAND']}`")
p("")
p("| engine | load s | TTFT s | prompt tok/s | decode tok/s | CPU s / wall s | peak RSS MiB | new tokens |")
p("|---|---:|---:|---:|---:|---:|---:|---:|")
for e in ("llama.cpp", "candle"):
    m = med[e]
    p(f"| {e} | {f(m['load_s'], 3)} | {f(m['ttft_s'], 3)} | {f(m['prompt_tok_s'], 1)} | "
      f"{f(m['decode_tok_s'], 1)} | {f(m['cpu_s'] / m['total_s'], 2)} | {f(m['peak_rss_mib'], 0)} | "
      f"{int(m['generated_tokens'])} |")
p(f"| **candle / llama.cpp** | {f(ratio('load_s'))}x | {f(ratio('ttft_s'))}x | "
  f"**{f(ratio('prompt_tok_s'))}x** | **{f(ratio('decode_tok_s'))}x** | | {f(ratio('peak_rss_mib'))}x | |")
p("")
p("Targets (issue 3): prompt >= 0.8x llama.cpp: "
  + ("met" if ratio("prompt_tok_s") >= 0.8 else "**not met**")
  + f" ({f(ratio('prompt_tok_s'))}x); decode >= 0.6x llama.cpp: "
  + ("met" if ratio("decode_tok_s") >= 0.6 else "**not met**")
  + f" ({f(ratio('decode_tok_s'))}x)."
  + (" The run was contended: this is no verdict." if contended else ""))
p("")
p("Ratios of tok/s: higher is better for candle; of load, TTFT and RSS: lower is better. candle's")
p("prompt tok/s is prompt tokens / TTFT (its API returns nothing earlier); llama.cpp's is prompt")
p("tokens / `llm.eval(prompt)` alone. Decode tok/s is (new tokens - 1) / (total - TTFT) for both.")
p("llama.cpp's RSS includes the Python interpreter. CPU s / wall s above 1 with N threads means")
p("workers busy or spinning.")
p("")
p("## Runs")
p("")
p("| engine | round | load s | TTFT s | prompt tok/s | decode tok/s | CPU s | total s | RSS MiB | new tokens | finish |")
p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
rounds = {"candle": 0, "llama.cpp": 0}
for r in runs:
    rounds[r["engine"]] += 1
    p(f"| {r['engine']} | {rounds[r['engine']]} | {r['load_s']:.3f} | {r['ttft_s']:.3f} | "
      f"{r['prompt_tok_s']:.1f} | {r['decode_tok_s']:.1f} | {r['cpu_s']:.2f} | {r['total_s']:.2f} | "
      f"{r['peak_rss_mib']:.0f} | {r['generated_tokens']} | {r['finish']} |")
p("")
p("Raw JSON lines, in the order they ran:")
p("")
p("```")
out.extend(json.dumps(r, ensure_ascii=False) for r in runs)
p("```")
print("\n".join(out))
EOF
mv "$OUT.tmp" "$OUT"
cat "$OUT"
log "wrote $OUT"
