#!/usr/bin/env python3
"""llama.cpp's side of examples/kv_quality.rs: what its own Q8_0 KV cache (--cache-type-k/-v
q8_0) costs against its f16 one on the same model and text, as orientation for Hearth's
figures (bench/README.md, "KV cache: f16 or Q8_0"). Run with the llamacpp venv's python:

    "${HEARTH_CI_CACHE:-$HOME/.cache/hearth-ci}/llamacpp-venv/bin/python" bench/kv_quality_llamacpp.py \\
        --model FILE.gguf --text bench/local_prompt_512.txt

The text (stripped) is tokenized as a text completion (BOS where the model wants one, control
tokens parsed), the ids Hearth's `Engine::prompt_ids` gives for a `Role::Text` message. Each
cache type gets its own context (flash attention on for both: llama.cpp needs it for a
quantized V cache), evaluates the text in one batch with every position's logits kept, then
continues greedily. One JSON line, the fields of examples/kv_quality.rs.
"""

import argparse
import json

import numpy as np
from llama_cpp import Llama

GGML_TYPE = {"f16": 1, "q8_0": 8}


def run(args, cache_type, text):
    llm = Llama(
        model_path=args.model,
        n_ctx=2048,
        n_threads=args.threads,
        n_batch=2048,
        logits_all=True,
        flash_attn=True,
        type_k=GGML_TYPE[cache_type],
        type_v=GGML_TYPE[cache_type],
        verbose=False,
    )
    ids = llm.tokenize(text.encode(), add_bos=True, special=True)
    llm.eval(ids)
    logits = np.array(llm.scores[: len(ids)], dtype=np.float64)
    continuation = []
    for _ in range(args.continue_tokens):
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        if token == llm.token_eos():
            break
        continuation.append(token)
        llm.eval([token])
    return ids, logits, continuation, llm


def log_softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--text", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--continue", dest="continue_tokens", type=int, default=64)
    args = p.parse_args()
    text = open(args.text, encoding="utf-8").read().strip()

    ids, f16, f16_more, llm = run(args, "f16", text)
    ids_q8, q8, q8_more, _ = run(args, "q8_0", text)
    assert ids == ids_q8
    n = len(ids) - 1
    lp, lq = log_softmax(f16[:n]), log_softmax(q8[:n])
    kl = (np.exp(lp) * (lp - lq)).sum(axis=-1)
    nxt = np.array(ids[1:])
    same = f16[:n].argmax(-1) == q8[:n].argmax(-1)
    top2 = np.sort(np.partition(f16[:n], -2, axis=-1)[:, -2:], axis=-1)
    clear = top2[:, 1] - top2[:, 0] > 0.5
    detok = lambda t: llm.detokenize(t).decode("utf-8", "replace")
    a, b = detok(f16_more), detok(q8_more)
    common = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    print(json.dumps({
        "model": args.model.rsplit("/", 1)[-1],
        "engine": "llama.cpp",
        "text_tokens": len(ids),
        "positions": n,
        "mean_kl": float(kl.mean()),
        "max_kl": float(kl.max()),
        "max_abs_logit_diff": float(np.abs(f16[:n] - q8[:n]).max()),
        "top1_agreement": float((f16[:n].argmax(-1) == q8[:n].argmax(-1)).mean()),
        "clear_positions": int(clear.sum()),
        "top1_agreement_clear": float(same[clear].mean()),
        "nll_f16": float(-lp[np.arange(n), nxt].mean()),
        "nll_q8_0": float(-lq[np.arange(n), nxt].mean()),
        "greedy_tokens": args.continue_tokens,
        "greedy_identical": f16_more == q8_more,
        "greedy_common_chars": common,
        "greedy_f16": a,
        "greedy_q8_0": b,
    }))


if __name__ == "__main__":
    main()
