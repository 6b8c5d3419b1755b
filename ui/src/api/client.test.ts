import { describe, expect, it } from "vitest";
import {
  ApiError,
  HearthClient,
  KEY_STORAGE_NAME,
  concreteModels,
  errorFromResponse,
  hostFromWindow,
  isAbortError,
  localityOf,
  normalizeComparison,
  tasksOf,
  type ChatStreamEvent,
  type KeyStorage,
  type ModelInfo,
} from "./client";

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

type Handler = (call: Call, signal?: AbortSignal) => Response | Promise<Response>;

/** A fetch that records calls and answers from a handler. */
function fakeFetch(handler: Handler): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = [];
  const f = async (input: RequestInfo | URL, init?: RequestInit) => {
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    const call: Call = {
      url: String(input),
      method: init?.method ?? "GET",
      headers,
      body: init?.body ? JSON.parse(String(init.body)) : undefined,
    };
    calls.push(call);
    if (init?.signal?.aborted) throw new DOMException("aborted", "AbortError");
    return handler(call, init?.signal ?? undefined);
  };
  return { fetch: f as typeof fetch, calls };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

function storage(initial: Record<string, string> = {}): KeyStorage & { data: Map<string, string> } {
  const data = new Map(Object.entries(initial));
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  };
}

const SESSION = { workspace: "default", user: "ui", role: "admin", tier: "enterprise", data_policy: "any", demo: true };
const UNAUTHORIZED = { error: { code: "unauthorized", message: "missing or unknown API key", trace_id: "t401" } };

describe("session and credentials", () => {
  it("adopts the per-launch token of the open demo and sends it from then on", async () => {
    const { fetch, calls } = fakeFetch((c) => {
      if (c.url === "/session") return json(200, { ...SESSION, token: "hs_demo" });
      return json(200, { data: [] });
    });
    const client = new HearthClient({ fetch, storage: storage() });
    const s = await client.connect();
    expect(s.workspace).toBe("default");
    expect(client.credential).toBe("session");
    expect(calls[0]!.headers.authorization).toBeUndefined();
    await client.models();
    expect(calls[1]!.headers.authorization).toBe("Bearer hs_demo");
  });

  it("uses the desktop host's baseUrl and token", async () => {
    const { fetch, calls } = fakeFetch(() => json(200, SESSION));
    const host = hostFromWindow({ __HEARTH__: { baseUrl: "http://127.0.0.1:4711/", token: "hs_app" } });
    expect(host).toEqual({ baseUrl: "http://127.0.0.1:4711", token: "hs_app" });
    const client = new HearthClient({ fetch, host, storage: storage({ [KEY_STORAGE_NAME]: "hk_old" }) });
    await client.connect();
    expect(calls[0]!.url).toBe("http://127.0.0.1:4711/session");
    expect(calls[0]!.headers.authorization).toBe("Bearer hs_app");
    expect(client.credential).toBe("host");
  });

  it("without __HEARTH__ calls the page's own origin", () => {
    expect(hostFromWindow({})).toEqual({ baseUrl: "" });
    expect(hostFromWindow(undefined)).toEqual({ baseUrl: "" });
  });

  it("sends a remembered key", async () => {
    const { fetch, calls } = fakeFetch(() => json(200, { ...SESSION, demo: false }));
    const client = new HearthClient({ fetch, storage: storage({ [KEY_STORAGE_NAME]: "hk_saved" }) });
    await client.connect();
    expect(calls[0]!.headers.authorization).toBe("Bearer hk_saved");
    expect(client.credential).toBe("key");
  });

  it("on 401 asks for a key and forgets a remembered key the server refuses", async () => {
    const store = storage({ [KEY_STORAGE_NAME]: "hk_revoked" });
    const { fetch } = fakeFetch(() => json(401, UNAUTHORIZED));
    const client = new HearthClient({ fetch, storage: store });
    const err = await client.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 401, code: "unauthorized", traceId: "t401" });
    expect(store.data.has(KEY_STORAGE_NAME)).toBe(false);
    expect(client.credential).toBe("none");
  });

  it("login keeps a good key in storage and reports the workspace and role it grants", async () => {
    const store = storage();
    const { fetch, calls } = fakeFetch((c) =>
      c.headers.authorization === "Bearer hk_good"
        ? json(200, { ...SESSION, workspace: "tenant_pro", role: "user", demo: false })
        : json(401, UNAUTHORIZED),
    );
    const client = new HearthClient({ fetch, storage: store });
    await expect(client.connect()).rejects.toMatchObject({ status: 401 });
    await expect(client.login("hk_bad")).rejects.toMatchObject({ code: "unauthorized" });
    expect(store.data.has(KEY_STORAGE_NAME)).toBe(false);
    const s = await client.login("  hk_good \n");
    expect(s).toMatchObject({ workspace: "tenant_pro", role: "user" });
    expect(store.data.get(KEY_STORAGE_NAME)).toBe("hk_good");
    expect(calls.at(-1)!.headers.authorization).toBe("Bearer hk_good");
    client.logout();
    expect(store.data.has(KEY_STORAGE_NAME)).toBe(false);
  });

  it("an empty key is refused without a request", async () => {
    const { fetch, calls } = fakeFetch(() => json(200, SESSION));
    const client = new HearthClient({ fetch });
    await expect(client.login("   ")).rejects.toMatchObject({ status: 401 });
    expect(calls).toHaveLength(0);
  });

  it("calls onUnauthorized on a 401 after the session was set up", async () => {
    let n = 0;
    const { fetch } = fakeFetch((c) => (c.url === "/session" ? json(200, { ...SESSION, token: "t" }) : json(401, UNAUTHORIZED)));
    const client = new HearthClient({ fetch });
    client.onUnauthorized = () => n++;
    await client.connect();
    await expect(client.threads()).rejects.toMatchObject({ status: 401 });
    expect(n).toBe(1);
  });

  it("sends x-hearth-workspace once an admin switches, and stops when switched back", async () => {
    const { fetch, calls } = fakeFetch(() => json(200, { threads: [] }));
    const client = new HearthClient({ fetch });
    await client.threads();
    expect(calls[0]!.headers["x-hearth-workspace"]).toBeUndefined();
    client.setWorkspace("tenant_free");
    await client.threads("bill");
    expect(calls[1]!.headers["x-hearth-workspace"]).toBe("tenant_free");
    expect(calls[1]!.url).toBe("/threads?q=bill");
    client.setWorkspace(null);
    await client.threads();
    expect(calls[2]!.headers["x-hearth-workspace"]).toBeUndefined();
  });
});

describe("errors", () => {
  it("maps the server's error shape, the trace id and Retry-After", async () => {
    const res = json(
      429,
      { error: { code: "budget_exceeded", message: "daily budget of $0.0000001 reached", trace_id: "abc", type: "rate_limit_error" } },
      { "retry-after": "3600", "x-hearth-trace-id": "abc" },
    );
    const e = await errorFromResponse(res);
    expect(e).toMatchObject({ status: 429, code: "budget_exceeded", message: "daily budget of $0.0000001 reached", traceId: "abc", retryAfterS: 3600 });
  });

  it("lists what became of each candidate when none answered, dropping malformed entries", async () => {
    const candidates = [
      { model: "mock-fast/fast-extract-v1", outcome: "failed", reason: "timeout" },
      { model: "mock-balanced/fallback-balanced-v1", outcome: "skipped", reason: "breaker_open" },
    ];
    const res = json(503, {
      error: { code: "providers_unavailable", message: "every candidate model failed; last error: timeout", candidates: [...candidates, { model: 7 }, "x", { model: "m", outcome: "won", reason: "r" }] },
    });
    const e = await errorFromResponse(res);
    expect(e.candidates).toEqual(candidates);
    const plain = await errorFromResponse(json(429, { error: { code: "budget_exceeded", message: "spent" } }));
    expect(plain.candidates).toEqual([]);
  });

  it("keeps the status and the header's trace id for a body that is not JSON", async () => {
    const res = new Response("Bad Gateway", { status: 502, statusText: "Bad Gateway", headers: { "x-hearth-trace-id": "t9" } });
    const e = await errorFromResponse(res);
    expect(e).toMatchObject({ status: 502, code: "http_502", traceId: "t9" });
    expect(e.message).toContain("502");
    expect(e.message).toContain("Bad Gateway");
  });

  it("turns an unreachable server into network_error, and lets an abort through", async () => {
    const down = new HearthClient({
      fetch: (async () => {
        throw new TypeError("Failed to fetch");
      }) as typeof fetch,
    });
    await expect(down.models()).rejects.toMatchObject({ status: 0, code: "network_error" });
    const aborted = new HearthClient({
      fetch: (async () => {
        throw new DOMException("The operation was aborted.", "AbortError");
      }) as typeof fetch,
    });
    const e = await aborted.models().catch((x: unknown) => x);
    expect(isAbortError(e)).toBe(true);
  });

  it("leaves embedding models out of the models a chat can pick", async () => {
    const listing = new HearthClient({
      fetch: (async () =>
        json(200, {
          data: [
            { id: "local/smollm2-135m-instruct", owned_by: "local", locality: "on_device", kind: "chat" },
            { id: "local/all-minilm-l6-v2", owned_by: "local", locality: "on_device", kind: "embedding" },
          ],
        })) as typeof fetch,
    });
    expect((await listing.models()).map((m) => m.id)).toEqual(["local/smollm2-135m-instruct"]);
  });
});

function sseResponse(body: string | ReadableStream<Uint8Array>, headers: Record<string, string> = {}): Response {
  return new Response(body, { status: 200, headers: { "content-type": "text/event-stream", ...headers } });
}

describe("streamChat", () => {
  it("sends stream and include_usage, the task for a concrete model, and reads the hearth headers", async () => {
    const { fetch, calls } = fakeFetch(() =>
      sseResponse(
        'data: {"model":"mock-fast/fast-extract-v1","choices":[{"delta":{"content":"hi"},"finish_reason":null}]}\n\ndata: [DONE]\n\n',
        { "x-hearth-provider": "mock-fast", "x-hearth-cache": "hit", "x-hearth-trace-id": "tr" },
      ),
    );
    const client = new HearthClient({ fetch });
    const evs: ChatStreamEvent[] = [];
    for await (const ev of client.streamChat({
      model: "mock-fast/fast-extract-v1",
      task: "extract",
      messages: [{ role: "user", content: "x" }],
      temperature: 0,
      cache: "bypass",
    }))
      evs.push(ev);
    expect(calls[0]!.body).toEqual({
      model: "mock-fast/fast-extract-v1",
      messages: [{ role: "user", content: "x" }],
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0,
    });
    expect(calls[0]!.headers["x-hearth-task"]).toBe("extract");
    expect(calls[0]!.headers["x-hearth-cache"]).toBe("bypass");
    expect(calls[0]!.headers.accept).toBe("text/event-stream");
    expect(evs[0]).toEqual({ type: "open", provider: "mock-fast", cache: "hit", traceId: "tr" });
    expect(evs).toContainEqual({ type: "delta", text: "hi" });
  });

  it("sends the prompt metadata as given", async () => {
    const { fetch, calls } = fakeFetch(() => sseResponse("data: [DONE]\n\n"));
    const client = new HearthClient({ fetch });
    const metadata = { prompt_id: "support_triage", prompt_version: "v2", var_product: "Hearth" };
    for await (const _ of client.streamChat({ model: "mock-fast/fast-extract-v1", messages: [], metadata })) void _;
    expect((calls[0]!.body as { metadata: unknown }).metadata).toEqual(metadata);
  });

  it("sends no task header for a route alias", async () => {
    const { fetch, calls } = fakeFetch(() => sseResponse("data: [DONE]\n\n"));
    const client = new HearthClient({ fetch });
    for await (const _ of client.streamChat({ model: "hearth/chat", task: "chat", messages: [] })) void _;
    expect(calls[0]!.headers["x-hearth-task"]).toBeUndefined();
  });

  it("throws a 429 before the stream as an ApiError with its code and message", async () => {
    const { fetch } = fakeFetch(() =>
      json(429, { error: { code: "rate_limited_workspace", message: "workspace tenant_free allows 30 requests a minute", trace_id: "r1" } }, { "retry-after": "12" }),
    );
    const client = new HearthClient({ fetch });
    const gen = client.streamChat({ model: "hearth/extract", messages: [{ role: "user", content: "x" }] });
    await expect(gen.next()).rejects.toMatchObject({
      status: 429,
      code: "rate_limited_workspace",
      message: "workspace tenant_free allows 30 requests a minute",
      retryAfterS: 12,
    });
  });

  it("aborts the fetch mid-stream through the signal", async () => {
    // As a real fetch does: abort errors the body, so the pending read rejects with AbortError.
    const { fetch } = fakeFetch((_c, signal) => {
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode('data: {"choices":[{"delta":{"content":"a"}}]}\n\n'));
          signal?.addEventListener("abort", () => c.error(new DOMException("aborted", "AbortError")));
        },
      });
      return sseResponse(body);
    });
    const client = new HearthClient({ fetch });
    const ac = new AbortController();
    const seen: string[] = [];
    const err = await (async () => {
      for await (const ev of client.streamChat({ model: "hearth/chat", messages: [] }, ac.signal)) {
        seen.push(ev.type);
        if (ev.type === "delta") ac.abort();
      }
    })().catch((e: unknown) => e);
    expect(seen).toEqual(["open", "delta"]);
    expect(isAbortError(err)).toBe(true);
  });

  it("cancels the response body when the reader stops early", async () => {
    let cancelled = false;
    const { fetch } = fakeFetch(() =>
      sseResponse(
        new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(new TextEncoder().encode('data: {"choices":[{"delta":{"content":"a"}}]}\n\n'));
          },
          cancel() {
            cancelled = true;
          },
        }),
      ),
    );
    const client = new HearthClient({ fetch });
    for await (const ev of client.streamChat({ model: "hearth/chat", messages: [] })) {
      if (ev.type === "delta") break;
    }
    expect(cancelled).toBe(true);
  });
});

describe("threads and comparisons", () => {
  it("uses the contract's paths, methods and bodies", async () => {
    const { fetch, calls } = fakeFetch((c) => {
      if (c.method === "DELETE") return new Response(null, { status: 204 });
      if (c.url === "/threads" && c.method === "POST") return json(201, { id: "t1", title: "Hi", created_at_ms: 1, updated_at_ms: 1 });
      if (c.url.endsWith("/messages") && c.method === "POST") return json(201, { id: "m1", ...(c.body as object), created_at_ms: 2 });
      if (c.url.endsWith("/messages")) return json(200, { messages: [] });
      if (c.url === "/comparisons" && c.method === "POST") return json(201, { id: "c1", ...(c.body as object) });
      if (c.url === "/comparisons") return json(200, { comparisons: [] });
      return json(200, {});
    });
    const client = new HearthClient({ fetch });
    const t = await client.createThread("Hi");
    await client.renameThread(t.id, "Hello");
    const m = await client.addMessage(t.id, { role: "assistant", content: "a", meta: { stopped: true } });
    await client.messages(t.id);
    await client.deleteThread("a/b");
    const c = await client.saveComparison({ title: "x", prompt: "p", models: ["a", "b"], results: [] });
    await client.comparisons();
    await client.comparison("c1");
    await client.deleteComparison("c1");
    expect(m.meta).toEqual({ stopped: true });
    expect(c.id).toBe("c1");
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      "POST /threads",
      "PATCH /threads/t1",
      "POST /threads/t1/messages",
      "GET /threads/t1/messages",
      "DELETE /threads/a%2Fb",
      "POST /comparisons",
      "GET /comparisons",
      "GET /comparisons/c1",
      "DELETE /comparisons/c1",
    ]);
    expect(calls[1]!.body).toEqual({ title: "Hello" });
    expect(calls[2]!.body).toEqual({ role: "assistant", content: "a", meta: { stopped: true } });
    expect(calls[1]!.headers["content-type"]).toBe("application/json");
  });
});

describe("normalizeComparison", () => {
  it("reads the fields flat or nested under body", () => {
    const flat = { id: "c1", title: "t", prompt: "p", models: ["a", "b"], results: [{ content: "x" }], created_at_ms: 5 };
    const nested = { id: "c1", title: "t", created_at_ms: 5, body: { prompt: "p", models: ["a", "b"], results: [{ content: "x" }] } };
    expect(normalizeComparison(flat)).toEqual(flat);
    expect(normalizeComparison(nested)).toEqual(flat);
    expect(normalizeComparison(null)).toEqual({ id: "", title: "", prompt: "", models: [], results: [] });
  });
});

describe("models list helpers", () => {
  const models: ModelInfo[] = [
    { id: "local/smollm2-135m-instruct", owned_by: "local", locality: "on_device" },
    { id: "mock-fast/fast-extract-v1", owned_by: "mock-fast", locality: "hosted" },
    { id: "hearth/chat", owned_by: "hearth" },
    { id: "hearth/extract", owned_by: "hearth" },
  ];
  it("splits routes from concrete models and finds a locality", () => {
    expect(tasksOf(models)).toEqual(["chat", "extract"]);
    expect(concreteModels(models).map((m) => m.id)).toEqual(["local/smollm2-135m-instruct", "mock-fast/fast-extract-v1"]);
    expect(localityOf(models, "local/smollm2-135m-instruct")).toBe("on_device");
    expect(localityOf(models, "hearth/chat")).toBeUndefined();
    expect(localityOf(models, null)).toBeUndefined();
  });
});
