// The one module that talks to Hearth. Every view goes through it; none calls fetch itself.
//
// The host is hidden here: today the page is served by `hearth serve` and calls the same
// origin; in the desktop app the window gets `window.__HEARTH__ = {baseUrl, token}` (an
// embedded loopback server and a per-launch token) and the same HTTP calls go there.
//
// Credentials, in order: the host's token; else a key remembered in localStorage; then
// `GET /session`, which in the open demo (or the desktop app) hands out a per-launch token.
// A 401 means the user has to give a key (the key screen calls `login`).

import { readSse } from "./sse";
import type {
  CandidateOutcome,
  ComparisonList,
  HearthExtension,
  Locality,
  MessageList,
  ModelEntry,
  Session,
  Thread,
  ThreadList,
  Usage,
  WireComparison,
  WireNewComparison,
  WireThreadMessage,
} from "./wire";

// ---------------------------------------------------------------------------------------
// Wire types (docs/API.md); those generated from the server's own are in wire.ts

export type { CandidateOutcome, HearthExtension, Locality, Session, Thread, Usage } from "./wire";

export type Role = "admin" | "service" | "user";
export type DataPolicy = "local_only" | "pii_to_local_only" | "redact" | "any";

/** What the UI keeps of a `/v1/models` entry. */
export type ModelInfo = Pick<ModelEntry, "id" | "owned_by" | "locality">;

/** What the UI keeps with each saved message (the server stores it as given). */
export interface MessageMeta {
  model?: string;
  requested_model?: string;
  task?: string;
  provider?: string;
  locality?: Locality;
  cache_hit?: boolean;
  retry_count?: number;
  fallback_used?: boolean;
  input_tokens?: number;
  output_tokens?: number;
  cost_usd?: number;
  latency_ms?: number;
  ttft_ms?: number;
  trace_id?: string;
  finish_reason?: string;
  /** The prompt version the server used (the `hearth` extension), when the request named a prompt. */
  prompt_id?: string;
  prompt_version?: string;
  stopped?: boolean;
  error?: {
    code: string;
    message: string;
    status: number;
    trace_id?: string;
    retry_after_s?: number;
    mid_stream?: boolean;
    candidates?: CandidateOutcome[];
  };
}

/** A saved message, with the meta the UI stored on it. */
export type ThreadMessage = Omit<WireThreadMessage, "role" | "meta"> & {
  role: "user" | "assistant";
  meta: MessageMeta | null;
};

/** One column of a comparison as the UI saves it. */
export interface ComparisonResult extends MessageMeta {
  requested_model: string;
  content: string;
}

/** A saved comparison, with the columns the UI stored in it. */
export type Comparison = Omit<WireComparison, "results" | "created_at_ms"> & {
  results: ComparisonResult[];
  created_at_ms?: number;
};

export type NewComparison = Omit<WireNewComparison, "results" | "title"> & {
  title: string;
  results: ComparisonResult[];
};

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ChatStreamRequest {
  /** `hearth/<task>` (the router decides) or `PROVIDER/MODEL`. */
  model: string;
  messages: ChatMessage[];
  /** The task for a concrete model (sent as `x-hearth-task`). */
  task?: string;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  stop?: string[];
  seed?: number;
  /** `use`: cache a non-deterministic request; `bypass`: skip the cache. */
  cache?: "use" | "bypass";
  /** Sent as `metadata`: `prompt_id`, `prompt_version`, `task`, prompt variables as `var_<name>`. */
  metadata?: Record<string, string>;
  /** A thread of the caller's (`x-hearth-thread-id`): the server saves the completed answer to it. */
  threadId?: string;
}

export type ChatStreamEvent =
  /** The response headers arrived. */
  | { type: "open"; provider: string | null; cache: "hit" | "miss" | null; traceId: string | null }
  /** The concrete model that answers (from the first chunk). */
  | { type: "model"; model: string }
  | { type: "delta"; text: string }
  /** `hearth` as the chunk had it: read without checking, so any field may be missing. */
  | { type: "finish"; finishReason: string; hearth: Partial<HearthExtension> | null }
  | { type: "usage"; usage: Usage };

// ---------------------------------------------------------------------------------------
// Errors

/** The most candidates an error shows; a route has a handful. */
const MAX_CANDIDATES = 32;

/** The well-formed entries of a server's `error.candidates` (or saved ones), in order. */
export function candidatesOf(v: unknown): CandidateOutcome[] {
  if (!Array.isArray(v)) return [];
  const wellFormed = (c: unknown): c is CandidateOutcome => {
    const o = (c !== null && typeof c === "object" ? c : {}) as Partial<CandidateOutcome>;
    return typeof o.model === "string" && (o.outcome === "failed" || o.outcome === "skipped") && typeof o.reason === "string";
  };
  return v
    .filter(wellFormed)
    .slice(0, MAX_CANDIDATES)
    .map(({ model, outcome, reason }) => ({ model, outcome, reason }));
}

/** An error as the server reported it: `{"error":{"code","message","trace_id"}}`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly traceId: string | undefined;
  /** Seconds, from `Retry-After` (429s). */
  readonly retryAfterS: number | undefined;
  /** Reported by a `data: {"error":...}` event after the answer had started. */
  readonly midStream: boolean;
  /** When no candidate model answered: each one in the order tried, and what became of it. */
  readonly candidates: CandidateOutcome[];

  constructor(opts: {
    status: number;
    code: string;
    message: string;
    traceId?: string | undefined;
    retryAfterS?: number | undefined;
    midStream?: boolean;
    candidates?: CandidateOutcome[];
  }) {
    super(opts.message);
    this.name = "ApiError";
    this.status = opts.status;
    this.code = opts.code;
    this.traceId = opts.traceId;
    this.retryAfterS = opts.retryAfterS;
    this.midStream = opts.midStream ?? false;
    this.candidates = opts.candidates ?? [];
  }
}

interface ErrorObject {
  code?: unknown;
  message?: unknown;
  trace_id?: unknown;
  candidates?: unknown;
}

function errorFromObject(
  status: number,
  obj: ErrorObject,
  fallback: { code: string; message: string; traceId?: string | undefined },
  extra: { retryAfterS?: number | undefined; midStream?: boolean } = {},
): ApiError {
  return new ApiError({
    status,
    code: typeof obj.code === "string" && obj.code ? obj.code : fallback.code,
    message: typeof obj.message === "string" && obj.message ? obj.message : fallback.message,
    traceId: typeof obj.trace_id === "string" ? obj.trace_id : fallback.traceId,
    candidates: candidatesOf(obj.candidates),
    ...extra,
  });
}

/** Any thrown value as an ApiError: an ApiError as it is, anything else as `client_error`. */
export function asApiError(e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError({ status: 0, code: "client_error", message: String(e) });
}

/** Reads a failed response into an ApiError (a non-JSON body keeps the status and its text). */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  const traceId = res.headers.get("x-hearth-trace-id") ?? undefined;
  const ra = res.headers.get("retry-after");
  const retryAfterS = ra !== null && /^\d+$/.test(ra.trim()) ? Number(ra.trim()) : undefined;
  let text = "";
  try {
    text = await res.text();
  } catch {
    // The body could not be read; the status still says what happened.
  }
  const fallback = {
    code: `http_${res.status}`,
    message: `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}${text && text.length < 300 && !text.trimStart().startsWith("<") ? `: ${text.trim()}` : ""}`,
    traceId,
  };
  try {
    const body: unknown = JSON.parse(text);
    if (body && typeof body === "object" && "error" in body) {
      const e = (body as { error: unknown }).error;
      if (e && typeof e === "object") return errorFromObject(res.status, e as ErrorObject, fallback, { retryAfterS });
    }
  } catch {
    // Not JSON: fall through.
  }
  return new ApiError({ status: res.status, ...fallback, retryAfterS });
}

/** True for the error a fetch or a read throws after `AbortController.abort()`. */
export function isAbortError(e: unknown): boolean {
  return (
    typeof e === "object" &&
    e !== null &&
    "name" in e &&
    ((e as { name: unknown }).name === "AbortError" || (e as { name: unknown }).name === "TimeoutError")
  );
}

// ---------------------------------------------------------------------------------------
// Host and storage

/** Where the API lives and the token the host gives (desktop app). */
export interface HearthHost {
  baseUrl: string;
  token?: string | undefined;
}

declare global {
  interface Window {
    __HEARTH__?: { baseUrl?: string; token?: string };
  }
}

/** `window.__HEARTH__` when the desktop app injected it, else the page's own origin. */
export function hostFromWindow(w: { __HEARTH__?: { baseUrl?: string; token?: string } } | undefined): HearthHost {
  const h = w?.__HEARTH__;
  if (!h) return { baseUrl: "" };
  return { baseUrl: (h.baseUrl ?? "").replace(/\/+$/, ""), token: h.token || undefined };
}

/** The part of localStorage the client uses. */
export interface KeyStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export const KEY_STORAGE_NAME = "hearth.apiKey";

function memoryStorage(): KeyStorage {
  const m = new Map<string, string>();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k),
  };
}

export type Credential = "host" | "session" | "key" | "none";

// ---------------------------------------------------------------------------------------
// The client

export interface ClientOptions {
  host?: HearthHost;
  fetch?: typeof fetch;
  storage?: KeyStorage;
}

export class HearthClient {
  private readonly host: HearthHost;
  private readonly fetchFn: typeof fetch;
  private readonly storage: KeyStorage;
  private token: string | null = null;
  private credentialKind: Credential = "none";
  private actingWorkspace: string | null = null;
  /** Called when a request comes back 401 after the session was set up (key revoked, server restarted). */
  onUnauthorized: (() => void) | null = null;

  constructor(opts: ClientOptions = {}) {
    this.host = opts.host ?? { baseUrl: "" };
    this.fetchFn = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.storage = opts.storage ?? memoryStorage();
  }

  /** Which credential the client sends: the host's token, the session's, a key, or none. */
  get credential(): Credential {
    return this.credentialKind;
  }

  /** The workspace an admin acts in (`x-hearth-workspace`), or null for the key's own. */
  get workspace(): string | null {
    return this.actingWorkspace;
  }

  /** Acts in another workspace (admins), or back in the key's own with null. */
  setWorkspace(ws: string | null): void {
    this.actingWorkspace = ws;
  }

  /**
   * Sets up credentials and returns the session. Throws an ApiError with status 401 when
   * the user must give a key (a remembered key the server no longer knows is forgotten).
   */
  async connect(): Promise<Session> {
    this.token = null;
    this.credentialKind = "none";
    if (this.host.token) {
      this.token = this.host.token;
      this.credentialKind = "host";
    } else {
      const key = this.storage.getItem(KEY_STORAGE_NAME);
      if (key) {
        this.token = key;
        this.credentialKind = "key";
      }
    }
    try {
      return await this.session();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401 && this.credentialKind === "key") {
        this.storage.removeItem(KEY_STORAGE_NAME);
        this.token = null;
        this.credentialKind = "none";
      }
      throw e;
    }
  }

  /** Tries an API key; on success remembers it (localStorage) and returns the session. */
  async login(key: string): Promise<Session> {
    const trimmed = key.trim();
    if (!trimmed) {
      throw new ApiError({ status: 401, code: "unauthorized", message: "enter an API key" });
    }
    const before = { token: this.token, kind: this.credentialKind };
    this.token = trimmed;
    this.credentialKind = "key";
    try {
      const s = await this.session();
      this.storage.setItem(KEY_STORAGE_NAME, trimmed);
      return s;
    } catch (e) {
      this.token = before.token;
      this.credentialKind = before.kind;
      throw e;
    }
  }

  /** Forgets the remembered key. */
  logout(): void {
    this.storage.removeItem(KEY_STORAGE_NAME);
    this.token = null;
    this.credentialKind = "none";
    this.actingWorkspace = null;
  }

  /** `GET /session`; adopts the per-launch token when the server hands one out. */
  async session(): Promise<Session> {
    const s = await this.json<Session>("GET", "/session", undefined, { quiet401: true });
    if (s.token) {
      this.token = s.token;
      this.credentialKind = "session";
    }
    return s;
  }

  /**
   * `GET /v1/models`: the models and routes (`hearth/<task>`) this workspace may chat with.
   * Embedding models (they answer `/v1/embeddings` only) are left out of every picker.
   */
  async models(): Promise<ModelInfo[]> {
    const body = await this.json<{ data?: Pick<ModelEntry, "id" | "owned_by" | "locality" | "kind">[] }>(
      "GET",
      "/v1/models",
    );
    return (body.data ?? []).filter((m) => m.kind !== "embedding");
  }

  /**
   * `POST /v1/chat/completions` with `stream: true`: yields the headers, the deltas, the
   * finishing chunk's `hearth` object and the usage. A failure before the stream starts and
   * a mid-stream `data: {"error":...}` event both throw an ApiError; `signal` aborts the
   * request (the server then cancels the provider call) and throws an AbortError.
   */
  async *streamChat(req: ChatStreamRequest, signal?: AbortSignal): AsyncGenerator<ChatStreamEvent> {
    const body: Record<string, unknown> = {
      model: req.model,
      messages: req.messages,
      stream: true,
      stream_options: { include_usage: true },
    };
    if (req.temperature !== undefined) body.temperature = req.temperature;
    if (req.topP !== undefined) body.top_p = req.topP;
    if (req.maxTokens !== undefined) body.max_tokens = req.maxTokens;
    if (req.stop !== undefined) body.stop = req.stop;
    if (req.seed !== undefined) body.seed = req.seed;
    if (req.metadata !== undefined) body.metadata = req.metadata;
    const headers: Record<string, string> = {};
    if (req.task && !req.model.startsWith("hearth/")) headers["x-hearth-task"] = req.task;
    if (req.cache) headers["x-hearth-cache"] = req.cache;
    if (req.threadId) headers["x-hearth-thread-id"] = req.threadId;
    const res = await this.request("POST", "/v1/chat/completions", body, { headers, signal, accept: "text/event-stream" });
    if (!res.body) {
      throw new ApiError({ status: res.status, code: "invalid_response", message: "the stream has no body" });
    }
    const traceId = res.headers.get("x-hearth-trace-id");
    const cache = res.headers.get("x-hearth-cache");
    yield {
      type: "open",
      provider: res.headers.get("x-hearth-provider"),
      cache: cache === "hit" || cache === "miss" ? cache : null,
      traceId,
    };
    yield* chatEvents(readSse(res.body), res.status, traceId ?? undefined);
  }

  // Threads ------------------------------------------------------------------------------

  async threads(q?: string): Promise<Thread[]> {
    const query = q && q.trim() ? `?q=${encodeURIComponent(q.trim())}` : "";
    const body = await this.json<ThreadList>("GET", `/threads${query}`);
    return body.threads;
  }

  createThread(title: string): Promise<Thread> {
    return this.json<Thread>("POST", "/threads", { title });
  }

  async renameThread(id: string, title: string): Promise<void> {
    await this.request("PATCH", `/threads/${seg(id)}`, { title });
  }

  async deleteThread(id: string): Promise<void> {
    await this.request("DELETE", `/threads/${seg(id)}`);
  }

  async messages(threadId: string): Promise<ThreadMessage[]> {
    const body = await this.json<Omit<MessageList, "messages"> & { messages: ThreadMessage[] }>(
      "GET",
      `/threads/${seg(threadId)}/messages`,
    );
    return body.messages;
  }

  addMessage(
    threadId: string,
    msg: { role: "user" | "assistant"; content: string; meta?: MessageMeta },
  ): Promise<ThreadMessage> {
    return this.json<ThreadMessage>("POST", `/threads/${seg(threadId)}/messages`, { meta: {}, ...msg });
  }

  // Comparisons --------------------------------------------------------------------------

  async comparisons(): Promise<Comparison[]> {
    const body = await this.json<ComparisonList>("GET", "/comparisons");
    return body.comparisons.map(normalizeComparison);
  }

  async comparison(id: string): Promise<Comparison> {
    return normalizeComparison(await this.json<unknown>("GET", `/comparisons/${seg(id)}`));
  }

  async saveComparison(c: NewComparison): Promise<Comparison> {
    return normalizeComparison(await this.json<unknown>("POST", "/comparisons", c));
  }

  async deleteComparison(id: string): Promise<void> {
    await this.request("DELETE", `/comparisons/${seg(id)}`);
  }

  // Plumbing -----------------------------------------------------------------------------

  async json<T>(method: string, path: string, body?: unknown, opts: { quiet401?: boolean; okStatus?: number[] } = {}): Promise<T> {
    const res = await this.request(method, path, body, opts);
    const text = await res.text();
    if (!text) return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError({
        status: res.status,
        code: "invalid_response",
        message: `${method} ${path} answered something that is not JSON`,
        traceId: res.headers.get("x-hearth-trace-id") ?? undefined,
      });
    }
  }

  /**
   * One HTTP call with the credentials and the acting workspace; throws ApiError unless 2xx.
   * Public so each view's API module (`api/*.ts`) builds its calls on it.
   */
  async request(
    method: string,
    path: string,
    body?: unknown,
    opts: {
      headers?: Record<string, string>;
      signal?: AbortSignal | undefined;
      accept?: string;
      quiet401?: boolean;
      /** Statuses besides 2xx whose body the caller reads itself (GET /ready's 503). */
      okStatus?: number[];
    } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: opts.accept ?? "application/json", ...opts.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (this.actingWorkspace) headers["x-hearth-workspace"] = this.actingWorkspace;
    if (body !== undefined) headers["content-type"] = "application/json";
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    if (opts.signal) init.signal = opts.signal;
    let res: Response;
    try {
      res = await this.fetchFn(`${this.host.baseUrl}${path}`, init);
    } catch (e) {
      if (isAbortError(e)) throw e;
      const where = this.host.baseUrl || "this page's server";
      throw new ApiError({
        status: 0,
        code: "network_error",
        message: `cannot reach Hearth at ${where}: ${e instanceof Error ? e.message : String(e)}`,
      });
    }
    if (res.ok || opts.okStatus?.includes(res.status)) return res;
    const err = await errorFromResponse(res);
    if (err.status === 401 && !opts.quiet401 && this.onUnauthorized) this.onUnauthorized();
    throw err;
  }
}

/**
 * A comparison as the server answers it: the fields the UI sent, either at the top level
 * (as docs/API.md shows the POST) or nested under `body` (as the server stores them).
 */
export function normalizeComparison(raw: unknown): Comparison {
  const top = (raw && typeof raw === "object" ? raw : {}) as Record<string, unknown>;
  const nested = top.body && typeof top.body === "object" ? (top.body as Record<string, unknown>) : {};
  const pick = (k: string): unknown => (top[k] !== undefined ? top[k] : nested[k]);
  const models = pick("models");
  const results = pick("results");
  const c: Comparison = {
    id: String(pick("id") ?? ""),
    title: typeof pick("title") === "string" ? (pick("title") as string) : "",
    prompt: typeof pick("prompt") === "string" ? (pick("prompt") as string) : "",
    models: Array.isArray(models) ? models.map(String) : [],
    results: Array.isArray(results) ? (results as ComparisonResult[]) : [],
  };
  const at = pick("created_at_ms");
  if (typeof at === "number") c.created_at_ms = at;
  return c;
}

function seg(id: string | number): string {
  return encodeURIComponent(String(id));
}

/**
 * The chat-completion chunks of an SSE stream as events. `[DONE]` ends it; an error event
 * throws an ApiError (with the status of the response that carried it).
 */
export async function* chatEvents(
  sse: AsyncIterable<{ data: string }>,
  status = 200,
  traceId?: string,
): AsyncGenerator<ChatStreamEvent> {
  let sawModel = false;
  for await (const ev of sse) {
    const data = ev.data.trim();
    if (data === "[DONE]") return;
    if (!data) continue;
    let chunk: Record<string, unknown>;
    try {
      chunk = JSON.parse(data) as Record<string, unknown>;
    } catch {
      throw new ApiError({
        status,
        code: "invalid_stream",
        message: `the stream sent an event that is not JSON: ${data.slice(0, 120)}`,
        traceId,
        midStream: true,
      });
    }
    if (chunk.error && typeof chunk.error === "object") {
      throw errorFromObject(
        status,
        chunk.error as ErrorObject,
        { code: "stream_error", message: "the stream failed", traceId },
        { midStream: true },
      );
    }
    if (!sawModel && typeof chunk.model === "string" && chunk.model) {
      sawModel = true;
      yield { type: "model", model: chunk.model };
    }
    const choices = Array.isArray(chunk.choices) ? (chunk.choices as Record<string, unknown>[]) : [];
    const choice = choices[0];
    if (choice) {
      const delta = choice.delta as { content?: unknown } | undefined;
      if (delta && typeof delta.content === "string" && delta.content !== "") {
        yield { type: "delta", text: delta.content };
      }
      if (typeof choice.finish_reason === "string" && choice.finish_reason) {
        const hearth = chunk.hearth && typeof chunk.hearth === "object" ? (chunk.hearth as Partial<HearthExtension>) : null;
        yield { type: "finish", finishReason: choice.finish_reason, hearth };
      }
    }
    if (chunk.usage && typeof chunk.usage === "object") {
      const u = chunk.usage as Partial<Usage>;
      yield {
        type: "usage",
        usage: {
          prompt_tokens: u.prompt_tokens ?? 0,
          completion_tokens: u.completion_tokens ?? 0,
          total_tokens: u.total_tokens ?? (u.prompt_tokens ?? 0) + (u.completion_tokens ?? 0),
        },
      };
    }
  }
}

/** The client of this page: the desktop host's when injected, else the same origin. */
export function createBrowserClient(): HearthClient {
  let storage: KeyStorage | undefined;
  try {
    storage = window.localStorage;
  } catch {
    storage = undefined; // Storage disabled: keys last as long as the page.
  }
  return new HearthClient({ host: hostFromWindow(window), storage });
}

/** The locality of a model id from the models list (routes have none). */
export function localityOf(models: ModelInfo[], id: string | null | undefined): Locality | undefined {
  if (!id) return undefined;
  return models.find((m) => m.id === id)?.locality ?? undefined;
}

/** The tasks the router knows, from the `hearth/<task>` ids of the models list. */
export function tasksOf(models: ModelInfo[]): string[] {
  return models.filter((m) => m.id.startsWith("hearth/")).map((m) => m.id.slice("hearth/".length));
}

/** The concrete `PROVIDER/MODEL` ids of the models list. */
export function concreteModels(models: ModelInfo[]): ModelInfo[] {
  return models.filter((m) => !m.id.startsWith("hearth/"));
}
