#!/usr/bin/env bash
# Time to first answer after choosing a model that is not loaded: a fresh `hearth serve`
# (release build, a policy whose `local` provider names no model, so nothing loads at start),
# then one streamed /v1/chat/completions to `local/<id>`, timed from the request to the
# first content token (the model's load + the prompt + one token), then the same request
# again with the model loaded, for comparison. Models alternate within each round.
# See bench/README.md, "Time to first answer".
#
#   bash bench/first_answer.sh
#
# Environment:
#   FIRST_MODELS   installed model ids        (default: smollm2-135m-instruct gemma-3-270m)
#   FIRST_ROUNDS   rounds, medians reported   (default 5)
#   FIRST_THREADS  CPU threads                (default 2)
#   HEARTH_MODELS_DIR  where the models are   (default: Hearth's own)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODELS="${FIRST_MODELS:-smollm2-135m-instruct gemma-3-270m}"
ROUNDS="${FIRST_ROUNDS:-5}"
THREADS="${FIRST_THREADS:-2}"

cargo build --release --locked --bin hearth >&2
BIN="${CARGO_TARGET_DIR:-target}/release/hearth"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cat >"$WORK/policy.toml" <<EOF
[resilience]
request_deadline_ms = 300000
attempt_timeout_ms = 240000
max_retries = 0

[providers.local]
kind = "local"
threads = $THREADS

[models.placeholder]
provider = "local"
model_id = "placeholder"
max_output_tokens = 16

[routes.chat]
primary = "placeholder"

[tiers.pro]
allowed_models = ["*"]
default_model = "placeholder"
daily_budget_usd = 1.0
max_output_tokens = 16
on_budget_exhausted = "reject"
on_route_not_allowed = "reject"
EOF

BIN="$BIN" WORK="$WORK" MODELS="$MODELS" ROUNDS="$ROUNDS" python3 - <<'PY'
import json, os, re, statistics, subprocess, time, urllib.request

BIN, WORK = os.environ["BIN"], os.environ["WORK"]
MODELS, ROUNDS = os.environ["MODELS"].split(), int(os.environ["ROUNDS"])


def serve(data):
    p = subprocess.Popen([BIN, "serve", "--addr", "127.0.0.1:0", "--data-dir", data,
                          "--config", f"{WORK}/policy.toml"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in p.stdout:
        m = re.match(r"hearth listening on (\S+)", line)
        if m:
            return p, m.group(1)
    raise SystemExit("hearth serve did not start")


def key(data):
    out = subprocess.run([BIN, "keys", "create", "--workspace", "default", "--role", "admin",
                          "--data-dir", data, "--config", f"{WORK}/policy.toml"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def first_token_s(base, k, model, n):
    body = json.dumps({"model": model, "stream": True, "max_tokens": 8, "temperature": 0,
                       "messages": [{"role": "user", "content": f"Name a colour ({n})."}]}).encode()
    req = urllib.request.Request(f"{base}/v1/chat/completions", body, method="POST",
                                 headers={"authorization": f"Bearer {k}",
                                          "content-type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=300) as r:
        for raw in r:
            line = raw.decode().strip()
            if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["delta"].get("content"):
                return time.perf_counter() - t0
    raise SystemExit(f"{model}: no content token")


cold = {m: [] for m in MODELS}
warm = {m: [] for m in MODELS}
for r in range(ROUNDS):
    order = MODELS if r % 2 == 0 else MODELS[::-1]
    for m in order:
        data = f"{WORK}/data-{r}-{m}"
        os.makedirs(data)
        p, base = serve(data)
        k = key(data)
        try:
            cold[m].append(first_token_s(base, k, f"local/{m}", 1))
            warm[m].append(first_token_s(base, k, f"local/{m}", 2))
        finally:
            p.terminate()
            p.wait()

print("| model | first answer, not loaded (s) | first answer, loaded (s) | runs |")
print("|---|---:|---:|---|")
for m in MODELS:
    runs = ", ".join(f"{c:.2f}/{w:.2f}" for c, w in zip(cold[m], warm[m]))
    print(f"| {m} | {statistics.median(cold[m]):.2f} | {statistics.median(warm[m]):.2f} | {runs} |")
PY
