"""The official `openai` Python SDK against Hearth's `/v1/chat/completions`.

Run by tests/openai_sdk.rs with the venv that scripts/openai-sdk-venv builds:

    HEARTH_BASE_URL=http://127.0.0.1:PORT/v1 HEARTH_API_KEY=hk_... \\
        "$VENV/bin/python" tests/sdk/openai_client.py SCENARIO

Each scenario makes its calls through the SDK and prints one JSON document on stdout with
what the SDK returned (its parsed objects and the errors it raised), for the Rust side to
assert on. The script asserts nothing itself; it exits non-zero only when a scenario raises
something it did not expect, with the traceback on stderr.
"""

from __future__ import annotations

import json
import os
import sys

import openai

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "I was charged twice after the upgrade."},
]


def client(max_retries: int = 2) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=os.environ["HEARTH_BASE_URL"],
        api_key=os.environ["HEARTH_API_KEY"],
        max_retries=max_retries,
        timeout=30.0,
        # Loopback only: no proxy from the environment.
        http_client=openai.DefaultHttpxClient(trust_env=False),
    )


def usage(u) -> dict | None:
    if u is None:
        return None
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
    }


def completion(c) -> dict:
    choice = c.choices[0]
    return {
        "type": type(c).__name__,
        "id": c.id,
        "object": c.object,
        "model": c.model,
        "created": c.created,
        "choices": len(c.choices),
        "role": choice.message.role,
        "content": choice.message.content,
        "finish_reason": choice.finish_reason,
        "usage": usage(c.usage),
    }


def status_error(e: openai.APIStatusError) -> dict:
    return {
        "error": type(e).__name__,
        "status": e.status_code,
        "code": e.code,
        "type": e.type,
        "message": e.message,
        "retry_after": e.response.headers.get("retry-after"),
        "trace_id": e.response.headers.get("x-hearth-trace-id"),
    }


def plain() -> dict:
    c = client().chat.completions.create(
        model="hearth/extract", messages=MESSAGES, temperature=0, max_tokens=64
    )
    return completion(c)


def stream() -> dict:
    """The whole answer, then the same request streamed (past the cache, so the provider streams)."""
    c = client()
    whole = c.chat.completions.create(
        model="hearth/extract", messages=MESSAGES, temperature=0, max_tokens=64
    )
    raw = c.chat.completions.with_raw_response.create(
        model="hearth/extract",
        messages=MESSAGES,
        temperature=0,
        max_tokens=64,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-hearth-cache": "bypass"},
    )
    chunks = [
        {
            "type": type(ch).__name__,
            "id": ch.id,
            "object": ch.object,
            "model": ch.model,
            "role": ch.choices[0].delta.role if ch.choices else None,
            "content": ch.choices[0].delta.content if ch.choices else None,
            "finish_reason": ch.choices[0].finish_reason if ch.choices else None,
            "choices": len(ch.choices),
            "usage": usage(ch.usage),
        }
        for ch in raw.parse()
    ]
    return {
        "whole": completion(whole),
        "cache": raw.headers.get("x-hearth-cache"),
        "provider": raw.headers.get("x-hearth-provider"),
        "chunks": chunks,
        "text": "".join(ch["content"] or "" for ch in chunks),
    }


def max_tokens() -> dict:
    c = client().chat.completions.create(
        model="hearth/extract", messages=MESSAGES, temperature=0, max_tokens=5
    )
    return completion(c)


def bad_key() -> dict:
    try:
        c = openai.OpenAI(
            base_url=os.environ["HEARTH_BASE_URL"],
            api_key="hk_not_a_real_key",
            max_retries=0,
            http_client=openai.DefaultHttpxClient(trust_env=False),
        )
        c.chat.completions.create(model="hearth/extract", messages=MESSAGES)
    except openai.AuthenticationError as e:
        return status_error(e)
    return {"error": None}


def rate_limit() -> dict:
    """Distinct requests until the first 429, at most 40."""
    c = client(max_retries=0)
    for i in range(40):
        try:
            c.chat.completions.create(
                model="hearth/extract",
                messages=[{"role": "user", "content": f"ticket {i}"}],
                max_tokens=16,
            )
        except openai.RateLimitError as e:
            return {"succeeded": i, **status_error(e)}
    return {"succeeded": 40, "error": None}


def unknown_model() -> dict:
    try:
        client(max_retries=0).chat.completions.create(
            model="nowhere/no-such-model", messages=MESSAGES
        )
    except openai.APIStatusError as e:
        return status_error(e)
    return {"error": None}


def parse() -> dict:
    """`parse` with a pydantic model: the SDK sends its strict JSON schema and builds the object."""
    from pydantic import BaseModel

    class City(BaseModel):
        city: str
        country: str

    c = client().chat.completions.parse(
        model=os.environ.get("HEARTH_MODEL", "hearth/extract"),
        messages=[{"role": "user", "content": "Name the capital of France and its country."}],
        response_format=City,
        temperature=0,
        max_tokens=64,
    )
    message = c.choices[0].message
    return {
        "parsed_type": type(message.parsed).__name__,
        "parsed": message.parsed.model_dump() if message.parsed else None,
        "content": message.content,
        "model": c.model,
        "finish_reason": c.choices[0].finish_reason,
    }


def stream_break() -> dict:
    """A stream whose provider breaks after its first delta (the caller sets the fault)."""
    s = client(max_retries=0).chat.completions.create(
        model="hearth/extract",
        messages=MESSAGES,
        max_tokens=64,
        stream=True,
        extra_headers={"x-hearth-cache": "bypass"},
    )
    text = ""
    try:
        for ch in s:
            if ch.choices:
                text += ch.choices[0].delta.content or ""
    except openai.APIError as e:
        return {
            "error": type(e).__name__,
            "code": e.code,
            "type": e.type,
            "message": e.message,
            "text": text,
        }
    return {"error": None, "text": text}


SCENARIOS = {
    f.__name__: f
    for f in (plain, stream, max_tokens, bad_key, rate_limit, unknown_model, stream_break, parse)
}


def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        sys.exit(f"usage: openai_client.py {{{'|'.join(SCENARIOS)}}}")
    out = SCENARIOS[sys.argv[1]]()
    out["sdk_version"] = openai.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
