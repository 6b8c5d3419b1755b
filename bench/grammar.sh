#!/usr/bin/env bash
# Constrained-decoding benchmark: the grammar mask's per-token cost on the local engine and
# constrained vs free decode speed (examples/grammar_mask.rs), over the 50 schemas of
# tests/fixtures/structured/schemas.json, in a release build. See bench/README.md,
# "Constrained decoding".
#
#   bash bench/grammar.sh
#
# Environment:
#   GRAMMAR_ROUNDS      processes run one after another; the report gives each one's summary
#                       and the medians of the rounds                          (default 3)
#   GRAMMAR_THREADS     CPU threads                                            (default 2)
#   GRAMMAR_MAX_TOKENS  tokens per answer                                      (default 96)
#   LOCAL_MODEL         the GGUF file (default: the default model)
#   CARGO_TARGET_DIR    where the release build goes (default target/)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ROUNDS="${GRAMMAR_ROUNDS:-3}"
THREADS="${GRAMMAR_THREADS:-2}"
MAX_TOKENS="${GRAMMAR_MAX_TOKENS:-96}"
MODELS_DIR="${HEARTH_MODELS_DIR:-$HOME/.local/share/hearth/models}"
MODEL="${LOCAL_MODEL:-$MODELS_DIR/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf}"
TARGET="${CARGO_TARGET_DIR:-target}"

die() { printf 'grammar.sh: %s\n' "$*" >&2; exit 1; }
for v in ROUNDS THREADS MAX_TOKENS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got: ${!v}"
done
((ROUNDS <= 10)) || die "GRAMMAR_ROUNDS above 10 is not needed"
[[ -f $MODEL ]] || die "no model at $MODEL (run scripts/fetch-default-model, or set LOCAL_MODEL)"

t0=$SECONDS
cargo build --release --quiet --example grammar_mask
echo "==> release build: $((SECONDS - t0)) s" >&2

summaries=()
for round in $(seq 1 "$ROUNDS"); do
  t0=$SECONDS
  line=$("$TARGET/release/examples/grammar_mask" --model "$MODEL" --threads "$THREADS" \
    --schemas tests/fixtures/structured/schemas.json --max-tokens "$MAX_TOKENS" | tail -1)
  echo "==> round $round: $((SECONDS - t0)) s: $line" >&2
  summaries+=("$line")
done

printf '%s\n' "${summaries[@]}" | python3 -c '
import json, statistics, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
keys = ["mask_us_p50", "mask_us_p99", "mask_share", "free_tok_s", "constrained_tok_s", "valid"]
print("| round | " + " | ".join(keys) + " |")
print("|---" * (len(keys) + 1) + "|")
for i, r in enumerate(rows, 1):
    print(f"| {i} | " + " | ".join(f"{r[k]:.3g}" if isinstance(r[k], float) else str(r[k]) for k in keys) + " |")
print("| median | " + " | ".join(f"{statistics.median(r[k] for r in rows):.3g}" for k in keys) + " |")
'
