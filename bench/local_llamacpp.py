#!/usr/bin/env python3
"""llama.cpp side of the local-inference benchmark (bench/local.sh runs it beside
examples/local_infer.rs, Hearth's candle engine). Needs llama-cpp-python in a venv
(scripts/llamacpp-venv); run it with that venv's python:

    "${HEARTH_CI_CACHE:-$HOME/.cache/hearth-ci}/llamacpp-venv/bin/python" bench/local_llamacpp.py \\
        --model FILE.gguf --threads 2 --prompt-file bench/local_prompt.txt --max-tokens 128 --runs 3

The prompt file's text (stripped) is one user message rendered through the GGUF's own chat
template (tokenizer.chat_template, with jinja2, as Hearth renders it; SmolLM2's adds its
default system prompt when there is none) and tokenized with special=True, so ids match
Hearth's `Engine::prompt_ids` (compare `prompt_sha256`). Greedy: top_k=1, temp=0, no
repetition penalty; stops at EOS or --max-tokens, reporting the tokens actually generated.

One JSON line per run, the same fields as the candle example:
  load_s         Llama(...) wall time (the same in every run of one process)
  ttft_s         llm.eval(prompt) (one batched pass) plus the first sample
  prompt_tok_s   prompt_tokens / time of llm.eval(prompt) alone
  decode_tok_s   (generated - 1) / (total_s - ttft_s)
  cpu_s          CPU time (user + system, all threads) of this process during the run
  peak_rss_mib   resource.getrusage(RUSAGE_SELF).ru_maxrss (includes the Python interpreter)
  prompt_sha256  sha256 of the prompt ids as decimal numbers joined by commas
"""

import argparse
import hashlib
import json
import resource
import sys
import time

from llama_cpp import Llama

FALLBACK_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def render_prompt(llm: Llama, text: str) -> str:
    import jinja2

    source = llm.metadata.get("tokenizer.chat_template") or FALLBACK_CHATML
    env = jinja2.Environment(loader=jinja2.BaseLoader())
    return env.from_string(source).render(
        messages=[{"role": "user", "content": text}],
        add_generation_prompt=True,
        bos_token="",
        eos_token="",
    )


def greedy(llm: Llama) -> int:
    return llm.sample(top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0)


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_once(llm: Llama, prompt: list, max_tokens: int):
    """One generation from an empty context: (prompt_s, ttft_s, total_s, generated ids)."""
    eos = llm.token_eos()
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(prompt)
    prompt_s = time.perf_counter() - t0
    tok = greedy(llm)
    ttft_s = time.perf_counter() - t0
    out = []
    while len(out) < max_tokens:
        if tok == eos:
            break
        out.append(tok)
        if len(out) == max_tokens:
            break
        llm.eval([tok])
        tok = greedy(llm)
    total_s = time.perf_counter() - t0
    return prompt_s, ttft_s, total_s, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-file", required=True)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=0,
                    help="untimed warm-up generations first (4 tokens from a short prompt)")
    ap.add_argument("--n-ctx", type=int, default=2048)
    ap.add_argument("--engine-label", default="llama.cpp")
    args = ap.parse_args()
    if args.runs < 1 or args.max_tokens < 2:
        print("local_llamacpp.py: --runs must be >= 1 and --max-tokens >= 2", file=sys.stderr)
        return 2

    with open(args.prompt_file, encoding="utf-8") as f:
        text = f.read().strip()

    t0 = time.perf_counter()
    llm = Llama(model_path=args.model, n_threads=args.threads, n_ctx=args.n_ctx, verbose=False)
    load_s = time.perf_counter() - t0

    prompt = llm.tokenize(render_prompt(llm, text).encode("utf-8"), add_bos=False, special=True)
    if len(prompt) + args.max_tokens > args.n_ctx:
        print("local_llamacpp.py: prompt plus --max-tokens exceeds --n-ctx", file=sys.stderr)
        return 2
    prompt_sha256 = hashlib.sha256(",".join(map(str, prompt)).encode()).hexdigest()

    warm = llm.tokenize(render_prompt(llm, "Say hello.").encode("utf-8"), add_bos=False, special=True)
    for _ in range(args.warmup):
        run_once(llm, warm, 4)

    for run in range(1, args.runs + 1):
        cpu0 = cpu_seconds()
        prompt_s, ttft_s, total_s, out = run_once(llm, prompt, args.max_tokens)
        cpu_s = cpu_seconds() - cpu0
        n = len(out)
        decode_s = total_s - ttft_s
        answer = llm.detokenize(out).decode("utf-8", errors="replace")
        line = {
            "engine": args.engine_label,
            "run": run,
            "threads": args.threads,
            "prompt_tokens": len(prompt),
            "prompt_sha256": prompt_sha256,
            "generated_tokens": n,
            "finish": "length" if n >= args.max_tokens else "stop",
            "load_s": round(load_s, 4),
            "ttft_s": round(ttft_s, 4),
            "total_s": round(total_s, 4),
            "prompt_tok_s": round(len(prompt) / prompt_s, 2),
            "decode_tok_s": round((n - 1) / decode_s, 2) if n > 1 and decode_s > 0 else 0.0,
            "cpu_s": round(cpu_s, 2),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "answer_head": answer[:80],
        }
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
