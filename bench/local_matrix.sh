#!/usr/bin/env bash
# Local-inference matrix: Hearth's on-device engine (examples/local_infer.rs) against llama.cpp's
# own C++ binaries (llama-bench, built by scripts/llamacpp-native) on several GGUF files, the
# same thread count, ~512 prompt tokens, 128 new tokens, decode timed both after the prompt
# (llama-bench's tg at that depth) and after a short prompt. See bench/README.md, "Local
# inference matrix". (bench/local.sh is the one-model comparison through llama-cpp-python, same token ids.)
#
#   bash bench/local_matrix.sh
#   LOCAL_FILES="a.gguf b.gguf" LOCAL_ROUNDS=5 bash bench/local_matrix.sh
#
# Environment:
#   LOCAL_FILES       GGUF files, separated by spaces (default: the default model, Gemma 3 270M
#                     Q4_K_M when installed, the random 1B llama Q4_K_M of bench/random_gguf.py,
#                     generated when missing)
#   LOCAL_THREADS     CPU threads for both engines                 (default 2)
#   LOCAL_ROUNDS      rounds; each runs both engines once per file, in fresh processes,
#                     alternating which goes first                  (default 3)
#   LOCAL_PROMPT_TOKENS  llama-bench's prompt length                (default 512)
#   LOCAL_MAX_TOKENS  new tokens per run                            (default 128)
#   LOCAL_WARMUP      Hearth's untimed warm-up generations per process (default 1; llama-bench
#                     makes its own warm-up runs)
#   LOCAL_PROMPT      Hearth's prompt file (default bench/local_prompt_512.txt, ~512 tokens)
#   LOCAL_SHORT_PROMPT  Hearth's short prompt file, for decode from a nearly empty context
#                     (default bench/local_prompt_short.txt, a sentence; llama-bench: depth 0)
#   LOCAL_TIMEOUT     seconds before one engine run is abandoned    (default 900)
#   HEARTH_CI_CACHE   where scripts/llamacpp-native and bench/random_gguf.py keep their output
#   HEARTH_MODELS_DIR where the default model and Gemma 3 270M are installed
#   CARGO_TARGET_DIR  cargo's target directory (default target/)
#
# Prints a markdown report (medians of the rounds, Hearth / llama.cpp ratios, every run) and
# writes it to bench/results/local-matrix-latest.md. A file one engine refuses is reported with
# its error; the script goes on. No network: a missing binary or model is an error naming the
# script that provides it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

THREADS="${LOCAL_THREADS:-2}"
ROUNDS="${LOCAL_ROUNDS:-3}"
PROMPT_TOKENS="${LOCAL_PROMPT_TOKENS:-512}"
MAX_TOKENS="${LOCAL_MAX_TOKENS:-128}"
WARMUP="${LOCAL_WARMUP:-1}"
PROMPT="${LOCAL_PROMPT:-bench/local_prompt_512.txt}"
SHORT_PROMPT="${LOCAL_SHORT_PROMPT:-bench/local_prompt_short.txt}"
RUN_TIMEOUT="${LOCAL_TIMEOUT:-900}"
CACHE="${HEARTH_CI_CACHE:-$HOME/.cache/hearth-ci}"
MODELS_DIR="${HEARTH_MODELS_DIR:-$HOME/.local/share/hearth/models}"
DEFAULT_MODEL="$MODELS_DIR/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
LLAMA_BENCH="$CACHE/llamacpp-native/bin/llama-bench"
VENV_PY="$CACHE/llamacpp-venv/bin/python"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT=bench/results/local-matrix-latest.md

usage() { sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { printf 'local_matrix.sh: %s\n' "$*" >&2; exit 1; }
log() { printf '==> %s\n' "$*" >&2; }

for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    *) echo "local_matrix.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

for v in THREADS ROUNDS PROMPT_TOKENS MAX_TOKENS RUN_TIMEOUT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got: ${!v}"
done
[[ $WARMUP =~ ^[0-9]+$ ]] || die "LOCAL_WARMUP must be a non-negative integer, got: $WARMUP"
((ROUNDS <= 20)) || die "LOCAL_ROUNDS above 20 is not a benchmark, it is a vigil"
((MAX_TOKENS >= 2)) || die "LOCAL_MAX_TOKENS must be at least 2"
[[ -f $PROMPT ]] || die "no prompt file at $PROMPT"
[[ -f $SHORT_PROMPT ]] || die "no prompt file at $SHORT_PROMPT"
[[ -x $LLAMA_BENCH ]] || die "no $LLAMA_BENCH (run scripts/llamacpp-native, 10-20 min)"
[[ -x /usr/bin/time ]] || die "no /usr/bin/time (apt-get install time)"
command -v python3 >/dev/null 2>&1 || die "python3 not found"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
NOTES="$WORK/notes.txt"
: >"$NOTES"

# The files: LOCAL_FILES as given (each must exist), else the default set, skipping (with a
# note in the report) the Gemma file when it is not installed.
FILES=()
if [[ -n ${LOCAL_FILES:-} ]]; then
  read -r -a FILES <<<"$LOCAL_FILES"
  for f in "${FILES[@]}"; do [[ -f $f ]] || die "no GGUF file at $f"; done
else
  [[ -f $DEFAULT_MODEL ]] || die "no default model at $DEFAULT_MODEL (run scripts/fetch-default-model)"
  FILES+=("$DEFAULT_MODEL")
  gemma=("$MODELS_DIR"/gemma-3-270m/*.gguf)
  if [[ -f ${gemma[0]} ]]; then
    FILES+=("${gemma[0]}")
  else
    echo "Gemma 3 270M skipped: no $MODELS_DIR/gemma-3-270m/*.gguf" >>"$NOTES"
  fi
  random_llama="$CACHE/random-gguf/llama-1b-Q4_K_M.gguf"
  if [[ ! -f $random_llama ]]; then
    [[ -x $VENV_PY ]] || die "no llama.cpp venv at $CACHE/llamacpp-venv (run scripts/llamacpp-venv)"
    log "generating $random_llama (bench/random_gguf.py, about 1 min)"
    t0=$SECONDS
    "$VENV_PY" bench/random_gguf.py --tokenizer-from "$DEFAULT_MODEL" --shapes llama-1b \
      --types Q4_K_M --threads "$THREADS" >/dev/null || die "bench/random_gguf.py failed"
    log "generated in $((SECONDS - t0)) s"
  fi
  FILES+=("$random_llama")
fi

# The exact command, as a person would retype it.
COMMAND="bash bench/local_matrix.sh"
for var in LOCAL_PROMPT LOCAL_SHORT_PROMPT LOCAL_WARMUP LOCAL_MAX_TOKENS LOCAL_PROMPT_TOKENS LOCAL_ROUNDS \
  LOCAL_THREADS LOCAL_FILES; do
  # shellcheck disable=SC2089 # the quotes are text for the report
  if [[ -n "${!var:-}" ]]; then COMMAND="$var='${!var}' $COMMAND"; fi
done

log "building examples/local_infer (release)"
t0=$SECONDS
cargo build --release --locked --example local_infer >&2
log "built in $((SECONDS - t0)) s"
BIN="$TARGET_DIR/release/examples/local_infer"
[[ -x $BIN ]] || die "the build did not produce $BIN"

RAW="$WORK/runs.jsonl"
: >"$RAW"

# One JSON line into RAW from an engine's finished runs, each run's files named by a prefix P
# (P.out, P.err, P.time: stdout, stderr, /usr/bin/time -v report): the exit status of the first
# that failed, the long prompt's run, the short prompt's (Hearth) or the decode at the prompt's
# depth (llama.cpp), and for llama.cpp the load probe's time report.
record() {
  local engine=$1 file=$2 round=$3 rc=$4 main=$5 second=$6 load_tv=${7:-}
  ENGINE="$engine" FILE="$file" ROUND="$round" RC="$rc" OUTF="$main.out" ERRF="$main.err" \
    TV="$main.time" OUT2="$second.out" ERR2="$second.err" TV2="$second.time" \
    LOAD_TV="$load_tv" TIMEOUT_S="$RUN_TIMEOUT" python3 - >>"$RAW" <<'EOF'
import json, os, re

env = os.environ

def time_v(path):
    """Peak RSS (MiB) and wall seconds from a /usr/bin/time -v report."""
    text = open(path).read() if path and os.path.exists(path) else ""
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    secs = None
    if wall:
        secs = 0.0
        for part in wall.group(1).split(":"):
            secs = secs * 60 + float(part)
    return (int(rss.group(1)) / 1024 if rss else None), secs

def last_error(path):
    lines = [l.strip() for l in open(path, errors="replace") if l.strip()]
    errs = [l for l in lines if "error" in l.lower()]
    return (errs or lines or ["(no message)"])[-1][:300]

def last_json(path):
    return json.loads([l for l in open(path) if l.strip()][-1])

def parse(engine):
    """The figures of runs that exited 0."""
    if engine == "hearth":
        r, short = last_json(env["OUTF"]), last_json(env["OUT2"])
        return dict(load_s=r["load_s"], ttft_s=r["ttft_s"], prompt_tokens=r["prompt_tokens"],
                    prompt_tok_s=r["prompt_tok_s"], decode_tok_s=r["decode_tok_s"],
                    new_tokens=r["generated_tokens"], short_prompt_tokens=short["prompt_tokens"],
                    decode_short_tok_s=short["decode_tok_s"])
    tests = json.load(open(env["OUTF"])) + json.load(open(env["OUT2"]))
    pp = next(t for t in tests if t["n_prompt"] > 0 and t["n_gen"] == 0)
    tg0 = next(t for t in tests if t["n_gen"] > 0 and t["n_depth"] == 0)
    tg = next(t for t in tests if t["n_gen"] > 0 and t["n_depth"] == pp["n_prompt"])
    return dict(load_s=time_v(env["LOAD_TV"])[1], prompt_tokens=pp["n_prompt"],
                prompt_tok_s=pp["avg_ts"], decode_tok_s=tg["avg_ts"], new_tokens=tg["n_gen"],
                short_prompt_tokens=0, decode_short_tok_s=tg0["avg_ts"],
                # llama-bench times the prompt and the decode apart: TTFT = prompt + one token.
                ttft_s=pp["n_prompt"] / pp["avg_ts"] + 1 / tg["avg_ts"])

rc, engine = int(env["RC"]), env["ENGINE"]
rss, wall = time_v(env["TV"])
rss2, wall2 = time_v(env["TV2"])
rec = {"file": os.path.basename(env["FILE"]), "engine": engine, "round": int(env["ROUND"]),
       "status": "ok", "error": "", "peak_rss_mib": max(filter(None, [rss, rss2]), default=None),
       "wall_s": wall}
if rc == 124:
    rec["status"], rec["error"] = "timeout", f"no result within {env['TIMEOUT_S']} s"
elif rc != 0:
    # local_infer returns its error from main (exit 1, "Error: ..."): the engine refused the file.
    refused = engine == "hearth" and rc == 1
    rec["status"] = "refused" if refused else f"failed (exit {rc})"
    rec["error"] = last_error(env["ERRF"] if os.path.getsize(env["ERRF"]) else env["ERR2"])
else:
    try:
        rec.update(parse(engine))
    except (OSError, ValueError, KeyError, IndexError, StopIteration, ZeroDivisionError) as e:
        rec["status"], rec["error"] = "failed (unreadable output)", f"{type(e).__name__}: {e}"[:300]
print(json.dumps(rec))
EOF
}

run_hearth() {
  local file=$1 round=$2 rc=0 p="$WORK/hearth"
  : >"$p.short.err"
  timeout --kill-after=10 "$RUN_TIMEOUT" /usr/bin/time -v -o "$p.time" \
    "$BIN" --model "$file" --threads "$THREADS" --prompt-file "$PROMPT" \
    --max-tokens "$MAX_TOKENS" --runs 1 --warmup "$WARMUP" >"$p.out" 2>"$p.err" || rc=$?
  if ((rc == 0)); then
    timeout --kill-after=10 "$RUN_TIMEOUT" /usr/bin/time -v -o "$p.short.time" \
      "$BIN" --model "$file" --threads "$THREADS" --prompt-file "$SHORT_PROMPT" \
      --max-tokens "$MAX_TOKENS" --runs 1 --warmup "$WARMUP" >"$p.short.out" \
      2>"$p.short.err" || rc=$?
  fi
  record hearth "$file" "$round" "$rc" "$p" "$p.short"
}

run_llamacpp() {
  local file=$1 round=$2 rc=0 p="$WORK/llamacpp"
  : >"$p.err"
  : >"$p.depth.err"
  # Load: the wall time of a llama-bench process that loads the model, makes a context and
  # evaluates one token, without warm-up.
  timeout --kill-after=10 "$RUN_TIMEOUT" /usr/bin/time -v -o "$p.load.time" \
    "$LLAMA_BENCH" -m "$file" -t "$THREADS" -p 1 -n 0 -r 1 --no-warmup -o json \
    >"$p.load.out" 2>"$p.load.err" || rc=$?
  if ((rc == 0)); then
    # The prompt, and the decode from an empty context (as after a short prompt).
    timeout --kill-after=10 "$RUN_TIMEOUT" /usr/bin/time -v -o "$p.time" \
      "$LLAMA_BENCH" -m "$file" -t "$THREADS" -p "$PROMPT_TOKENS" -n "$MAX_TOKENS" -r 1 -o json \
      >"$p.out" 2>"$p.err" || rc=$?
  else
    cp "$p.load.err" "$p.err"
    cp "$p.load.time" "$p.time"
  fi
  if ((rc == 0)); then
    # The decode after the prompt: with the prompt's tokens already in the KV cache, as Hearth's.
    timeout --kill-after=10 "$RUN_TIMEOUT" /usr/bin/time -v -o "$p.depth.time" \
      "$LLAMA_BENCH" -m "$file" -t "$THREADS" -p 0 -n "$MAX_TOKENS" -d "$PROMPT_TOKENS" -r 1 \
      -o json >"$p.depth.out" 2>"$p.depth.err" || rc=$?
  fi
  record llamacpp "$file" "$round" "$rc" "$p" "$p.depth" "$p.load.time"
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_BEFORE="$(loadavg)"
# Contention check, as in bench/local.sh: the machine's busy CPU time (/proc/stat) over the
# rounds minus what this script's children used (bash `times`) is what other processes took.
STAT_BEFORE="$(head -n 1 /proc/stat)"
times >"$WORK/times.before"

declare -A REFUSED=()
for ((round = 1; round <= ROUNDS; round++)); do
  for file in "${FILES[@]}"; do
    if ((round % 2 == 1)); then order="hearth llamacpp"; else order="llamacpp hearth"; fi
    for engine in $order; do
      if [[ -n ${REFUSED[$engine:$file]:-} ]]; then continue; fi
      log "round $round/$ROUNDS: $engine on $(basename "$file") (load average $(loadavg))"
      t0=$SECONDS
      "run_$engine" "$file" "$round"
      line="$(tail -n 1 "$RAW")"
      log "  $((SECONDS - t0)) s: $line"
      # A refusal (or failure) does not change between rounds: do not ask again.
      [[ $line == *'"status": "ok"'* ]] || REFUSED[$engine:$file]=1
    done
  done
done
LOAD_AFTER="$(loadavg)"
times >"$WORK/times.after"
STAT_AFTER="$(head -n 1 /proc/stat)"
TIMES_BEFORE="$(sed -n 2p "$WORK/times.before")"
TIMES_AFTER="$(sed -n 2p "$WORK/times.after")"

CPU_MODEL="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
MEM_GIB="$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain -- src kernels examples Cargo.toml Cargo.lock 2>/dev/null)" ]]; then
  COMMIT="$COMMIT (with uncommitted changes)"
fi
# awk reads to the end: a reader that quits early would fail the pipe (pipefail, SIGPIPE).
LLAMA_VERSION="$("$LLAMA_BENCH" --version 2>&1 | awk '/version/ && !seen { print; seen = 1 }')"
LLAMA_VERSION="${LLAMA_VERSION:-unknown}"
DATE="$(date -u +%Y-%m-%dT%H:%MZ)"
NPROC="$(nproc)"
# shellcheck disable=SC2090 # COMMAND is text for the report, never run
export RAW NOTES DATE NPROC CPU_MODEL MEM_GIB COMMIT COMMAND LOAD_BEFORE LOAD_AFTER LLAMA_VERSION \
  THREADS ROUNDS PROMPT_TOKENS MAX_TOKENS WARMUP PROMPT SHORT_PROMPT STAT_BEFORE STAT_AFTER TIMES_BEFORE \
  TIMES_AFTER
mkdir -p bench/results
python3 - >"$OUT.tmp" <<'EOF'
import json, os, statistics, sys

sys.path.insert(0, "bench")
from contention import measure, report_line

env = os.environ
runs = [json.loads(l) for l in open(env["RAW"]) if l.strip()]
files = list(dict.fromkeys(r["file"] for r in runs))

def med(rs, k):
    xs = [r[k] for r in rs if r.get(k) is not None]
    return statistics.median(xs) if xs else None

contention = measure(env)
contended = contention["contended"]

def f(x, d):
    return "-" if x is None else f"{x:,.{d}f}"

out = []
p = out.append
p("# Local inference matrix: Hearth vs llama.cpp (llama-bench)")
p("")
p(f"- Date: {env['DATE']}; machine: {env['NPROC']} CPUs ({env['CPU_MODEL']}), {env['MEM_GIB']} GiB")
p(f"- Hearth commit {env['COMMIT']} (release build of examples/local_infer); llama.cpp "
  f"`{env['LLAMA_VERSION']}` (scripts/llamacpp-native)")
rounds_n = int(env["ROUNDS"])
p(f"- {env['THREADS']} threads; llama-bench: {env['PROMPT_TOKENS']}-token prompt, "
  f"{env['MAX_TOKENS']} new tokens; Hearth: `{env['PROMPT']}` (and `{env['SHORT_PROMPT']}`) "
  f"through the file's chat template, "
  f"greedy, up to {env['MAX_TOKENS']} new tokens, {env['WARMUP']} warm-up generation(s); "
  f"{rounds_n} round{'s' * (rounds_n != 1)}, a fresh process per run, alternating which engine "
  f"goes first; cells are medians of the rounds")
p(f"- Load average (1/5/15 min): {env['LOAD_BEFORE']} before, {env['LOAD_AFTER']} after")
p(report_line(contention))
p(f"- Command: `{env['COMMAND']}`")
for note in open(env["NOTES"]).read().splitlines():
    p(f"- {note}")
p("")
p("| file | engine | load s | TTFT s | prompt tokens | prompt tok/s | decode tok/s after the prompt | decode tok/s after a short prompt | peak RSS MiB | Hearth / llama.cpp (prompt, decode after the prompt, after a short one) |")
p("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
keys = ("load_s", "ttft_s", "prompt_tokens", "prompt_tok_s", "decode_tok_s", "decode_short_tok_s",
        "peak_rss_mib")
for name in files:
    ref = None
    for engine in ("llamacpp", "hearth"):
        rs = [r for r in runs if r["file"] == name and r["engine"] == engine]
        ok = [r for r in rs if r["status"] == "ok"]
        label = "llama.cpp" if engine == "llamacpp" else "Hearth"
        if not ok:
            why = rs[0]["status"] + ": " + rs[0]["error"].replace("|", "\\|") if rs else "not run"
            p(f"| {name} | {label} | {why} | | | | | | | |")
            continue
        m = {k: med(ok, k) for k in keys}
        if engine == "llamacpp":
            ref, ratio = m, ""
        elif ref:
            ratio = ", ".join(f"**{m[k] / ref[k]:.2f}x**"
                              for k in ("prompt_tok_s", "decode_tok_s", "decode_short_tok_s"))
        else:
            ratio = "no llama.cpp figure"
        p(f"| {name} | {label} | {f(m['load_s'], 2)} | {f(m['ttft_s'], 2)} | "
          f"{f(m['prompt_tokens'], 0)} | {f(m['prompt_tok_s'], 1)} | {f(m['decode_tok_s'], 1)} | "
          f"{f(m['decode_short_tok_s'], 1)} | {f(m['peak_rss_mib'], 0)} | {ratio} |")
p("")
p("Ratios above 1 mean Hearth is faster. llama.cpp's prompt tok/s is llama-bench's pp test and")
p("its decode after the prompt is the tg test at a depth of the prompt's length (`-d`: the")
p("prompt's tokens already in the KV cache, as in Hearth's run); after a short prompt is the tg")
p("test from an empty context, Hearth's run of the short prompt file (its chat template's")
p("tokens and a sentence). Random tokens for llama-bench. llama.cpp's TTFT is derived")
p("(prompt tokens / prompt tok/s + 1 / decode tok/s) and its load is the wall time of a")
p("llama-bench process that loads the file and evaluates one token. Hearth's come from")
p("examples/local_infer (TTFT = prompt processing and first sample; prompt tok/s = prompt")
p("tokens / TTFT). Peak RSS of both: `/usr/bin/time -v` of the measured processes (the larger).")
p("")
p("## Runs")
p("")
p("```")
out.extend(json.dumps(r, ensure_ascii=False) for r in runs)
p("```")
print("\n".join(out))
EOF
mv "$OUT.tmp" "$OUT"
cat "$OUT"
log "wrote $OUT"
