"""The official `openai` Python SDK against Hearth's `/v1/chat/completions` and
`/v1/embeddings`, and langchain-openai's `OpenAIEmbeddings` against the latter.

Run by tests/openai_sdk.rs with the venv that scripts/openai-sdk-venv builds:

    HEARTH_BASE_URL=http://127.0.0.1:PORT/v1 HEARTH_API_KEY=hk_... \\
        "$VENV/bin/python" tests/sdk/openai_client.py SCENARIO

Each scenario makes its calls through the SDK and prints one JSON document on stdout with
what the SDK returned (its parsed objects and the errors it raised), for the Rust side to
assert on. The script asserts nothing itself; it exits non-zero only when a scenario raises
something it did not expect, with the traceback on stderr.
"""

from __future__ import annotations

import base64
import json
import os
import struct
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


EMBED_MODEL = "local/all-minilm-l6-v2"

TEXTS = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The stock market fell sharply on Monday.",
]


def vectors(r) -> list:
    return [d.embedding for d in r.data]


def embeddings() -> dict:
    """One string and a list; floats asked for, base64 asked for (the SDK hands the strings
    over as they came), and the SDK's default (it asks for base64 and decodes it itself)."""
    c = client()
    one = c.embeddings.create(model=EMBED_MODEL, input=TEXTS[0], encoding_format="float")
    floats = c.embeddings.create(model=EMBED_MODEL, input=TEXTS, encoding_format="float")
    b64 = c.embeddings.create(model=EMBED_MODEL, input=TEXTS, encoding_format="base64")
    default = c.embeddings.create(model=EMBED_MODEL, input=TEXTS)
    short = c.embeddings.create(model=EMBED_MODEL, input=TEXTS[0], dimensions=64)

    def unpack(s: str) -> list:
        raw = base64.b64decode(s)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))

    return {
        "type": type(floats).__name__,
        "object": floats.object,
        "model": floats.model,
        "indexes": [d.index for d in floats.data],
        "usage": {
            "prompt_tokens": floats.usage.prompt_tokens,
            "total_tokens": floats.usage.total_tokens,
        },
        "one": vectors(one),
        "float": vectors(floats),
        "base64_raw_is_str": all(isinstance(v, str) for v in vectors(b64)),
        "base64": [unpack(v) for v in vectors(b64)],
        "default": vectors(default),
        "short": vectors(short),
    }


def langchain_embeddings() -> dict:
    """langchain-openai's OpenAIEmbeddings. Its default (`check_embedding_ctx_length=True`)
    tokenizes with tiktoken and sends token ids, which Hearth refuses (docs/API.md); with
    the flag off it sends the texts."""
    import httpx
    from langchain_openai import OpenAIEmbeddings

    e = OpenAIEmbeddings(
        model=EMBED_MODEL,
        base_url=os.environ["HEARTH_BASE_URL"],
        api_key=os.environ["HEARTH_API_KEY"],
        check_embedding_ctx_length=False,
        http_client=httpx.Client(trust_env=False),
    )
    return {
        "documents": e.embed_documents(TEXTS),
        "query": e.embed_query(TEXTS[0]),
    }


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}


def call_dict(c) -> dict:
    return {"id": c.id, "type": c.type, "name": c.function.name, "arguments": c.function.arguments}


def tools() -> dict:
    """A tool call whole, the same streamed through the SDK's accumulator, then the answer
    after the tool's result."""
    c = client()
    model = os.environ.get("HEARTH_MODEL", "hearth/extract")
    ask = [{"role": "user", "content": "What is the weather in Hanoi?"}]
    request = dict(
        model=model, messages=ask, tools=[WEATHER_TOOL], tool_choice="required", max_tokens=64, temperature=0
    )
    whole = c.chat.completions.create(**request)
    with c.chat.completions.stream(**request, extra_headers={"x-hearth-cache": "bypass"}) as s:
        argument_pieces = sum(1 for e in s if e.type == "tool_calls.function.arguments.delta")
        streamed = s.get_final_completion()
    call = whole.choices[0].message.tool_calls[0]
    followup = ask + [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"celsius": 31}'},
    ]
    after = c.chat.completions.create(
        model=model, messages=followup, tools=[WEATHER_TOOL], max_tokens=64, temperature=0
    )
    return {
        "whole": [call_dict(x) for x in whole.choices[0].message.tool_calls],
        "whole_finish": whole.choices[0].finish_reason,
        "whole_content": whole.choices[0].message.content,
        "streamed": [call_dict(x) for x in streamed.choices[0].message.tool_calls],
        "streamed_finish": streamed.choices[0].finish_reason,
        "argument_pieces": argument_pieces,
        "after_finish": after.choices[0].finish_reason,
        "after_content": after.choices[0].message.content,
        "after_calls": after.choices[0].message.tool_calls,
    }


def chat_openai(**settings):
    """langchain-openai's ChatOpenAI on Hearth, greedy, on HEARTH_MODEL (else a mock route)."""
    import httpx
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=os.environ.get("HEARTH_MODEL", "hearth/extract"),
        base_url=os.environ["HEARTH_BASE_URL"],
        api_key=os.environ["HEARTH_API_KEY"],
        temperature=0,
        http_client=httpx.Client(trust_env=False),
        **settings,
    )


def langchain_tools() -> dict:
    """langchain-openai's ChatOpenAI `bind_tools` then invoke: the AIMessage carries the call."""
    llm = chat_openai(max_tokens=64)
    msg = llm.bind_tools([WEATHER_TOOL], tool_choice="get_weather").invoke("Weather in Hue?")
    return {"tool_calls": [{"name": t["name"], "args": t["args"]} for t in msg.tool_calls]}


def langchain_stream() -> dict:
    """langchain-openai's ChatOpenAI `stream`: the chunks add up to the message `invoke` gets,
    and the last carries the usage (`stream_usage`)."""
    llm = chat_openai(max_tokens=48, stream_usage=True)
    question = "Extract the total: 12 EUR"
    whole = llm.invoke(question)
    chunks = list(llm.stream(question))
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c
    return {
        "whole": whole.content,
        "streamed": total.content,
        "chunks": len(chunks),
        "usage": total.usage_metadata,
    }


def langchain_structured() -> dict:
    """langchain-openai's ChatOpenAI `with_structured_output(PydanticModel)`: its default
    method sends a strict `json_schema` response_format and parses the answer into the model."""
    from pydantic import BaseModel

    class City(BaseModel):
        city: str
        country: str

    llm = chat_openai(max_tokens=64)
    out = llm.with_structured_output(City).invoke("Name the capital of France and its country.")
    return {"type": type(out).__name__, "value": out.model_dump()}


SCENARIOS = {
    f.__name__: f
    for f in (
        plain,
        stream,
        max_tokens,
        bad_key,
        rate_limit,
        unknown_model,
        stream_break,
        parse,
        tools,
        langchain_tools,
        langchain_stream,
        langchain_structured,
        embeddings,
        langchain_embeddings,
    )
}


def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        sys.exit(f"usage: openai_client.py {{{'|'.join(SCENARIOS)}}}")
    out = SCENARIOS[sys.argv[1]]()
    out["sdk_version"] = openai.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
