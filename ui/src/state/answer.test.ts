import { describe, expect, it } from "vitest";
import { ApiError, type ChatStreamEvent, type ChatStreamRequest } from "../api/client";
import {
  MIN_RATE_WINDOW_MS,
  answerFromMeta,
  applyEvent,
  candidateText,
  failAnswer,
  finishAnswer,
  metaOf,
  metricsOf,
  runAnswer,
  startAnswer,
  temperatureOf,
  stopAnswer,
  tokensPerSecond,
  type AnswerState,
} from "./answer";

const EVENTS: ChatStreamEvent[] = [
  { type: "open", provider: "mock-fast", cache: "miss", traceId: "tr-1" },
  { type: "model", model: "mock-fast/fast-extract-v1" },
  { type: "delta", text: "Hello" },
  { type: "delta", text: " world" },
  {
    type: "finish",
    finishReason: "stop",
    hearth: { provider: "mock-balanced", cache_hit: false, fallback_used: true, retry_count: 1, estimated_cost_usd: 0.0000275, latency_ms: 93.2, trace_id: "tr-1" },
  },
  { type: "usage", usage: { prompt_tokens: 30, completion_tokens: 24, total_tokens: 54 } },
];

/** Applies events at the given clock readings. */
function play(times: number[], start = 1000): AnswerState {
  let s = startAnswer("hearth/extract", start);
  EVENTS.forEach((ev, i) => (s = applyEvent(s, ev, times[i]!)));
  return s;
}

describe("answer state", () => {
  it("builds text, tags and usage from the stream", () => {
    const s = finishAnswer(play([1010, 1011, 1050, 1150, 1190, 1191]), 1200);
    expect(s).toMatchObject({
      status: "done",
      text: "Hello world",
      model: "mock-fast/fast-extract-v1",
      provider: "mock-balanced", // the finish chunk's word wins over the header's
      cacheHit: false,
      fallbackUsed: true,
      retryCount: 1,
      costUsd: 0.0000275,
      inputTokens: 30,
      outputTokens: 24,
      traceId: "tr-1",
      finishReason: "stop",
      firstTokenAt: 1050,
    });
  });

  it("measures latency, time to first token and tokens/s", () => {
    const m = metricsOf(finishAnswer(play([1010, 1011, 1050, 1150, 1190, 1191]), 1200));
    expect(m.latencyMs).toBe(200);
    expect(m.ttftMs).toBe(50);
    // 24 tokens between the first text (1050) and the end (1200): 150 ms.
    expect(m.tokensPerSecond).toBeCloseTo(160, 6);
  });

  it("has no rate for an answer that arrived at once (a cache hit) or has no tokens", () => {
    expect(tokensPerSecond(24, 1000, 1000 + MIN_RATE_WINDOW_MS - 1)).toBeNull();
    expect(tokensPerSecond(0, 1000, 2000)).toBeNull();
    expect(tokensPerSecond(null, 1000, 2000)).toBeNull();
    expect(tokensPerSecond(10, 1000, 2000)).toBe(10);
  });

  it("an unfinished answer has no latency yet, and no TTFT before text", () => {
    const s = applyEvent(startAnswer("m", 0), { type: "open", provider: null, cache: null, traceId: null }, 5);
    expect(s.status).toBe("waiting");
    expect(metricsOf(s)).toMatchObject({ latencyMs: null, ttftMs: null, tokensPerSecond: null });
  });

  it("a stop keeps the partial text and is saved with stopped=true", () => {
    let s = startAnswer("hearth/chat", 0);
    s = applyEvent(s, { type: "delta", text: "part" }, 10);
    s = stopAnswer(s, 30);
    expect(s.status).toBe("stopped");
    expect(s.text).toBe("part");
    const meta = metaOf(s, "hosted", "chat");
    expect(meta).toMatchObject({ stopped: true, latency_ms: 30, ttft_ms: 10, requested_model: "hearth/chat", task: "chat", locality: "hosted" });
  });

  it("keeps the server's code, message and trace id on failure", () => {
    const e = new ApiError({ status: 429, code: "budget_exceeded", message: "daily budget reached", traceId: "t", retryAfterS: 60 });
    const s = failAnswer(startAnswer("m", 0), e, 5);
    expect(s.status).toBe("error");
    expect(s.error).toEqual({ status: 429, code: "budget_exceeded", message: "daily budget reached", traceId: "t", retryAfterS: 60, midStream: false });
    expect(s.traceId).toBe("t");
    // Saved and read back, the error keeps what the user saw.
    const back = answerFromMeta("", metaOf(s, undefined));
    expect(back.status).toBe("error");
    expect(back.error).toEqual(s.error);
  });

  it("keeps what became of each candidate when none answered, and says it in words", () => {
    const candidates = [
      { model: "mock-fast/fast-extract-v1", outcome: "failed" as const, reason: "timeout" },
      { model: "mock-balanced/fallback-balanced-v1", outcome: "skipped" as const, reason: "breaker_open" },
    ];
    const e = new ApiError({ status: 503, code: "providers_unavailable", message: "every candidate model failed", candidates });
    const s = failAnswer(startAnswer("m", 0), e, 5);
    expect(s.error?.candidates).toEqual(candidates);
    expect(s.error?.candidates?.map(candidateText)).toEqual(["failed (timeout)", "skipped (breaker open)"]);
    // Saved with the thread and read back, the list is what the user saw.
    expect(answerFromMeta("", metaOf(s, undefined)).error).toEqual(s.error);
  });

  it("keeps the prompt version the server used, in the meta too", () => {
    let s = startAnswer("hearth/chat", 0);
    s = applyEvent(s, { type: "finish", finishReason: "stop", hearth: { prompt_id: "support_triage", prompt_version: "v1" } }, 5);
    s = finishAnswer(s, 6);
    expect([s.promptId, s.promptVersion]).toEqual(["support_triage", "v1"]);
    const meta = metaOf(s, undefined);
    expect([meta.prompt_id, meta.prompt_version]).toEqual(["support_triage", "v1"]);
    const back = answerFromMeta("", meta);
    expect([back.promptId, back.promptVersion]).toEqual(["support_triage", "v1"]);
    const none = applyEvent(startAnswer("m", 0), { type: "finish", finishReason: "stop", hearth: { prompt_id: null, prompt_version: null } }, 1);
    expect(metaOf(none, undefined).prompt_id).toBeUndefined();
  });

  it("round-trips through the saved meta", () => {
    const live = finishAnswer(play([1010, 1011, 1050, 1150, 1190, 1191]), 1200);
    const meta = metaOf(live, "hosted");
    expect(meta).toEqual({
      requested_model: "hearth/extract",
      model: "mock-fast/fast-extract-v1",
      provider: "mock-balanced",
      locality: "hosted",
      cache_hit: false,
      retry_count: 1,
      fallback_used: true,
      input_tokens: 30,
      output_tokens: 24,
      cost_usd: 0.0000275,
      latency_ms: 200,
      ttft_ms: 50,
      trace_id: "tr-1",
      finish_reason: "stop",
    });
    const back = answerFromMeta(live.text, meta);
    expect(metricsOf(back)).toEqual(metricsOf(live));
    expect(back.fallbackUsed).toBe(true);
    expect(back.status).toBe("done");
    expect(answerFromMeta("", { stopped: true }).status).toBe("stopped");
    expect(answerFromMeta("", null, "x").requestedModel).toBe("x");
  });
});

describe("runAnswer", () => {
  function fakeClient(events: ChatStreamEvent[], fail?: unknown) {
    return {
      async *streamChat(_req: ChatStreamRequest, signal?: AbortSignal): AsyncGenerator<ChatStreamEvent> {
        for (const ev of events) {
          if (signal?.aborted) throw new DOMException("aborted", "AbortError");
          yield ev;
        }
        if (fail) throw fail;
      },
    };
  }

  it("reports every state and ends done", async () => {
    let t = 0;
    const seen: string[] = [];
    const s = await runAnswer(fakeClient(EVENTS), { model: "hearth/extract", messages: [] }, new AbortController().signal, (x) => seen.push(x.status), () => (t += 10));
    expect(s.status).toBe("done");
    expect(seen[0]).toBe("waiting");
    expect(seen.at(-1)).toBe("done");
    expect(seen).toHaveLength(EVENTS.length + 2);
  });

  it("ends stopped when aborted", async () => {
    const ac = new AbortController();
    const s = await runAnswer(fakeClient(EVENTS), { model: "m", messages: [] }, ac.signal, (x) => {
      if (x.text === "Hello") ac.abort();
    });
    expect(s.status).toBe("stopped");
    expect(s.text).toBe("Hello");
  });

  it("ends in error with the server's word, keeping the text that came", async () => {
    const err = new ApiError({ status: 200, code: "provider_error", message: "broke", midStream: true });
    const s = await runAnswer(fakeClient(EVENTS.slice(0, 3), err), { model: "m", messages: [] }, new AbortController().signal, () => {});
    expect(s.status).toBe("error");
    expect(s.text).toBe("Hello");
    expect(s.error).toMatchObject({ code: "provider_error", midStream: true });
  });
});

describe("temperatureOf", () => {
  it("reads a number and leaves out text that is none", () => {
    expect(temperatureOf("0.7")).toBe(0.7);
    expect(temperatureOf("0")).toBe(0);
    expect(temperatureOf("warm")).toBeUndefined();
  });
});
