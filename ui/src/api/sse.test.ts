import { describe, expect, it } from "vitest";
import { SseParser, readSse, type SseEvent } from "./sse";
import { chatEvents, type ChatStreamEvent } from "./client";

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(ch);
      c.close();
    },
  });
}

/** Splits bytes at the given offsets. */
function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...cuts, bytes.length]) {
    out.push(bytes.slice(prev, c));
    prev = c;
  }
  return out;
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const ev of readSse(stream)) out.push(ev);
  return out;
}

const enc = new TextEncoder();

function chunk(content: string): string {
  return `data: ${JSON.stringify({ model: "mock-fast/fast-extract-v1", choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
}

const STREAM =
  chunk("") +
  chunk("Xin chào") +
  chunk(" thế giới 🌍") +
  chunk(" — done") +
  `data: ${JSON.stringify({
    model: "mock-fast/fast-extract-v1",
    choices: [{ index: 0, delta: {}, finish_reason: "stop" }],
    hearth: { provider: "mock-fast", cache_hit: false, estimated_cost_usd: 0.0000212, retry_count: 0, fallback_used: false },
  })}\n\n` +
  `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 } })}\n\n` +
  "data: [DONE]\n\n";

describe("SseParser", () => {
  it("reads whole events", () => {
    const p = new SseParser();
    expect(p.push("data: a\n\ndata: b\n\n")).toEqual([
      { event: "message", data: "a" },
      { event: "message", data: "b" },
    ]);
  });

  it("keeps a partial line until its end arrives", () => {
    const p = new SseParser();
    expect(p.push("da")).toEqual([]);
    expect(p.push("ta: hel")).toEqual([]);
    expect(p.push("lo\n")).toEqual([]);
    expect(p.push("\n")).toEqual([{ event: "message", data: "hello" }]);
  });

  it("accepts \\r\\n and \\r line ends, also when \\r and \\n arrive apart", () => {
    const p = new SseParser();
    expect(p.push("data: one\r")).toEqual([]);
    expect(p.push("\n\r")).toEqual([]);
    // The last \r may be half of \r\n: "two" waits for the next byte.
    expect(p.push("\ndata: two\r\r")).toEqual([{ event: "message", data: "one" }]);
    expect(p.push("\n")).toEqual([{ event: "message", data: "two" }]);
  });

  it("joins data lines, reads event and id, skips comments and unknown fields", () => {
    const p = new SseParser();
    const evs = p.push(": keep-alive\nevent: progress\nid: 7\nretry: 100\nfoo: bar\ndata: line 1\ndata:line 2\ndata\n\n");
    expect(evs).toEqual([{ event: "progress", id: "7", data: "line 1\nline 2\n" }]);
  });

  it("ignores an empty event and drops an unterminated one at the end", () => {
    const p = new SseParser();
    expect(p.push("\n\nevent: x\n\n")).toEqual([]);
    expect(p.push("data: half")).toEqual([]);
    expect(p.end()).toEqual([]);
  });
});

describe("readSse", () => {
  it("gives the same events however the bytes are split, multi-byte characters included", async () => {
    const bytes = enc.encode(STREAM);
    const whole = await collect(streamOf([bytes]));
    expect(whole).toHaveLength(7);
    // Every single split point, then every byte alone.
    for (let cut = 1; cut < bytes.length; cut++) {
      const evs = await collect(streamOf(splitAt(bytes, [cut])));
      expect(evs).toEqual(whole);
    }
    const bytewise = await collect(streamOf(Array.from(bytes, (b) => new Uint8Array([b]))));
    expect(bytewise).toEqual(whole);
  });

  it("splits inside a 4-byte emoji without mangling it", async () => {
    const bytes = enc.encode("data: 🌍\n\n");
    const at = bytes.indexOf(0xf0) + 2; // the middle of the emoji's four bytes
    const evs = await collect(streamOf(splitAt(bytes, [at])));
    expect(evs).toEqual([{ event: "message", data: "🌍" }]);
  });
});

async function events(text: string, cuts: number[] = []): Promise<ChatStreamEvent[]> {
  const out: ChatStreamEvent[] = [];
  for await (const ev of chatEvents(readSse(streamOf(splitAt(enc.encode(text), cuts))))) out.push(ev);
  return out;
}

describe("chatEvents", () => {
  it("yields the model, the deltas, the finish with the hearth object, and the usage", async () => {
    const evs = await events(STREAM, [5, 77, 300]);
    expect(evs).toEqual([
      { type: "model", model: "mock-fast/fast-extract-v1" },
      { type: "delta", text: "Xin chào" },
      { type: "delta", text: " thế giới 🌍" },
      { type: "delta", text: " — done" },
      {
        type: "finish",
        finishReason: "stop",
        hearth: { provider: "mock-fast", cache_hit: false, estimated_cost_usd: 0.0000212, retry_count: 0, fallback_used: false },
      },
      { type: "usage", usage: { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 } },
    ]);
  });

  it("stops at [DONE] and ignores anything after it", async () => {
    const evs = await events(chunk("a") + "data: [DONE]\n\n" + chunk("b"));
    expect(evs.filter((e) => e.type === "delta")).toEqual([{ type: "delta", text: "a" }]);
  });

  it("throws the server's error from a mid-stream error event", async () => {
    const text =
      chunk("partial") +
      `data: {"error":{"code":"provider_error","message":"mock-fast broke mid-stream","trace_id":"t-1"}}\n\n` +
      "data: [DONE]\n\n";
    const seen: ChatStreamEvent[] = [];
    const err = await (async () => {
      try {
        for await (const ev of chatEvents(readSse(streamOf([enc.encode(text)])))) seen.push(ev);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(seen).toContainEqual({ type: "delta", text: "partial" });
    expect(err).toMatchObject({
      name: "ApiError",
      code: "provider_error",
      message: "mock-fast broke mid-stream",
      traceId: "t-1",
      midStream: true,
      status: 200,
    });
  });

  it("reports a non-JSON event as invalid_stream", async () => {
    await expect(events("data: {oops\n\n")).rejects.toMatchObject({ code: "invalid_stream" });
  });
});
