// One streamed answer as state: built event by event from the client's stream, then turned
// into metrics (latency, time to first token, tokens/s) and into the meta saved with it.
// Pure functions over an injected clock, so the Chat and Compare views share them and the
// tests drive them without a server.

import {
  ApiError,
  isAbortError,
  type ChatStreamEvent,
  candidatesOf,
  type CandidateOutcome,
  type ChatStreamRequest,
  type HearthClient,
  type Locality,
  type MessageMeta,
} from "../api/client";

export type AnswerStatus = "waiting" | "streaming" | "done" | "stopped" | "error";

export interface AnswerError {
  status: number;
  code: string;
  message: string;
  traceId?: string | undefined;
  retryAfterS?: number | undefined;
  midStream: boolean;
  /** When no candidate model answered: what became of each. */
  candidates?: CandidateOutcome[];
}

export interface AnswerState {
  status: AnswerStatus;
  /** What was asked for: a route `hearth/<task>` or a concrete model. */
  requestedModel: string;
  text: string;
  /** The concrete model that answered. */
  model: string | null;
  provider: string | null;
  cacheHit: boolean | null;
  traceId: string | null;
  fallbackUsed: boolean | null;
  retryCount: number | null;
  costUsd: number | null;
  /** The gateway's own latency figure. */
  serverLatencyMs: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  finishReason: string | null;
  /** The prompt and version the server used (from the finish chunk's `hearth`). */
  promptId: string | null;
  promptVersion: string | null;
  /** The thread message the server saved this answer as, when the request named a thread. */
  savedMessageId: number | null;
  /** Clock readings (ms): request sent, first text, stream ended. */
  startedAt: number;
  firstTokenAt: number | null;
  endedAt: number | null;
  error: AnswerError | null;
}

export function startAnswer(requestedModel: string, now: number): AnswerState {
  return {
    status: "waiting",
    requestedModel,
    text: "",
    model: null,
    provider: null,
    cacheHit: null,
    traceId: null,
    fallbackUsed: null,
    retryCount: null,
    costUsd: null,
    serverLatencyMs: null,
    inputTokens: null,
    outputTokens: null,
    finishReason: null,
    promptId: null,
    promptVersion: null,
    savedMessageId: null,
    startedAt: now,
    firstTokenAt: null,
    endedAt: null,
    error: null,
  };
}

/** The state after one stream event. */
export function applyEvent(s: AnswerState, ev: ChatStreamEvent, now: number): AnswerState {
  switch (ev.type) {
    case "open":
      return {
        ...s,
        provider: ev.provider ?? s.provider,
        cacheHit: ev.cache === null ? s.cacheHit : ev.cache === "hit",
        traceId: ev.traceId ?? s.traceId,
      };
    case "model":
      return { ...s, model: ev.model };
    case "delta":
      return {
        ...s,
        status: "streaming",
        text: s.text + ev.text,
        firstTokenAt: s.firstTokenAt ?? now,
      };
    case "finish": {
      const h = ev.hearth;
      return {
        ...s,
        finishReason: ev.finishReason,
        provider: h?.provider ?? s.provider,
        cacheHit: h?.cache_hit ?? s.cacheHit,
        traceId: h?.trace_id ?? s.traceId,
        fallbackUsed: h?.fallback_used ?? s.fallbackUsed,
        retryCount: h?.retry_count ?? s.retryCount,
        costUsd: h?.estimated_cost_usd ?? s.costUsd,
        serverLatencyMs: h?.latency_ms ?? s.serverLatencyMs,
        promptId: h?.prompt_id ?? s.promptId,
        promptVersion: h?.prompt_version ?? s.promptVersion,
        savedMessageId: h?.thread_message_id ?? s.savedMessageId,
      };
    }
    case "usage":
      return { ...s, inputTokens: ev.usage.prompt_tokens, outputTokens: ev.usage.completion_tokens };
  }
}

/** The stream ended normally. */
export function finishAnswer(s: AnswerState, now: number): AnswerState {
  return { ...s, status: "done", endedAt: now };
}

/** The user stopped the stream; what arrived is kept. */
export function stopAnswer(s: AnswerState, now: number): AnswerState {
  return { ...s, status: "stopped", endedAt: now };
}

/** What became of a candidate, in words: "failed (timeout)", "skipped (breaker open)". */
export function candidateText(c: CandidateOutcome): string {
  return `${c.outcome} (${c.reason.replaceAll("_", " ")})`;
}

/** A server's error as an answer keeps it (and the error notice shows it). */
export function answerErrorOf(e: ApiError): AnswerError {
  return {
    status: e.status,
    code: e.code,
    message: e.message,
    traceId: e.traceId,
    retryAfterS: e.retryAfterS,
    midStream: e.midStream,
    ...(e.candidates.length > 0 ? { candidates: e.candidates } : {}),
  };
}

/** The request or the stream failed. */
export function failAnswer(s: AnswerState, e: unknown, now: number): AnswerState {
  const error: AnswerError =
    e instanceof ApiError
      ? answerErrorOf(e)
      : {
          status: 0,
          code: "client_error",
          message: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
          midStream: false,
        };
  return { ...s, status: "error", endedAt: now, error, traceId: s.traceId ?? error.traceId ?? null };
}

export interface AnswerMetrics {
  /** From request to the end of the stream, as the user waited. */
  latencyMs: number | null;
  /** From request to the first text. */
  ttftMs: number | null;
  /** Output tokens over the time from the first text to the end. */
  tokensPerSecond: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  costUsd: number | null;
}

/** Below this many ms between the first text and the end, a rate means nothing (a cache hit arrives at once). */
export const MIN_RATE_WINDOW_MS = 5;

export function tokensPerSecond(outputTokens: number | null, firstTokenAt: number | null, endedAt: number | null): number | null {
  if (outputTokens === null || firstTokenAt === null || endedAt === null) return null;
  const window = endedAt - firstTokenAt;
  if (outputTokens <= 0 || window < MIN_RATE_WINDOW_MS) return null;
  return (outputTokens * 1000) / window;
}

export function metricsOf(s: AnswerState): AnswerMetrics {
  return {
    latencyMs: s.endedAt === null ? null : s.endedAt - s.startedAt,
    ttftMs: s.firstTokenAt === null ? null : s.firstTokenAt - s.startedAt,
    tokensPerSecond: tokensPerSecond(s.outputTokens, s.firstTokenAt, s.endedAt),
    inputTokens: s.inputTokens,
    outputTokens: s.outputTokens,
    costUsd: s.costUsd,
  };
}

/** The meta saved with an assistant message or a comparison column. */
export function metaOf(s: AnswerState, locality: Locality | undefined, task?: string): MessageMeta {
  const m = metricsOf(s);
  const meta: MessageMeta = { requested_model: s.requestedModel };
  if (task) meta.task = task;
  if (s.model) meta.model = s.model;
  if (s.provider) meta.provider = s.provider;
  if (locality) meta.locality = locality;
  if (s.cacheHit !== null) meta.cache_hit = s.cacheHit;
  if (s.retryCount !== null) meta.retry_count = s.retryCount;
  if (s.fallbackUsed !== null) meta.fallback_used = s.fallbackUsed;
  if (s.inputTokens !== null) meta.input_tokens = s.inputTokens;
  if (s.outputTokens !== null) meta.output_tokens = s.outputTokens;
  if (s.costUsd !== null) meta.cost_usd = s.costUsd;
  if (m.latencyMs !== null) meta.latency_ms = Math.round(m.latencyMs);
  if (m.ttftMs !== null) meta.ttft_ms = Math.round(m.ttftMs);
  if (s.traceId) meta.trace_id = s.traceId;
  if (s.finishReason) meta.finish_reason = s.finishReason;
  if (s.promptId) meta.prompt_id = s.promptId;
  if (s.promptVersion) meta.prompt_version = s.promptVersion;
  if (s.status === "stopped") meta.stopped = true;
  if (s.error) {
    meta.error = { code: s.error.code, message: s.error.message, status: s.error.status };
    if (s.error.traceId) meta.error.trace_id = s.error.traceId;
    if (s.error.retryAfterS !== undefined) meta.error.retry_after_s = s.error.retryAfterS;
    if (s.error.midStream) meta.error.mid_stream = true;
    if (s.error.candidates?.length) meta.error.candidates = s.error.candidates;
  }
  return meta;
}

/** An answer rebuilt from saved meta (a thread's history, a saved comparison). */
export function answerFromMeta(content: string, meta: MessageMeta | null | undefined, requestedModel = ""): AnswerState {
  const m = meta ?? {};
  const s = startAnswer(m.requested_model ?? requestedModel, 0);
  const status: AnswerStatus = m.error ? "error" : m.stopped ? "stopped" : "done";
  const candidates = candidatesOf(m.error?.candidates);
  return {
    ...s,
    status,
    text: content,
    model: m.model ?? null,
    provider: m.provider ?? null,
    cacheHit: m.cache_hit ?? null,
    traceId: m.trace_id ?? null,
    fallbackUsed: m.fallback_used ?? null,
    retryCount: m.retry_count ?? null,
    costUsd: m.cost_usd ?? null,
    inputTokens: m.input_tokens ?? null,
    outputTokens: m.output_tokens ?? null,
    finishReason: m.finish_reason ?? null,
    promptId: m.prompt_id ?? null,
    promptVersion: m.prompt_version ?? null,
    endedAt: m.latency_ms ?? null,
    firstTokenAt: m.ttft_ms ?? null,
    error: m.error
      ? {
          status: m.error.status,
          code: m.error.code,
          message: m.error.message,
          traceId: m.error.trace_id,
          retryAfterS: m.error.retry_after_s,
          midStream: m.error.mid_stream === true,
          ...(candidates.length > 0 ? { candidates } : {}),
        }
      : null,
  };
}

/** A temperature field's text as a request's temperature (undefined when it is no number). */
export function temperatureOf(text: string): number | undefined {
  const t = Number(text);
  return Number.isFinite(t) ? t : undefined;
}

export type Clock = () => number;

/**
 * Runs one streamed answer: calls `onUpdate` with each new state and returns the last one.
 * An abort through `signal` ends it as stopped; an ApiError as error. Never throws.
 */
export async function runAnswer(
  client: Pick<HearthClient, "streamChat">,
  req: ChatStreamRequest,
  signal: AbortSignal,
  onUpdate: (s: AnswerState) => void,
  clock: Clock = () => performance.now(),
): Promise<AnswerState> {
  let s = startAnswer(req.model, clock());
  onUpdate(s);
  try {
    for await (const ev of client.streamChat(req, signal)) {
      s = applyEvent(s, ev, clock());
      onUpdate(s);
    }
    s = signal.aborted ? stopAnswer(s, clock()) : finishAnswer(s, clock());
  } catch (e) {
    s = signal.aborted || isAbortError(e) ? stopAnswer(s, clock()) : failAnswer(s, e, clock());
  }
  onUpdate(s);
  return s;
}
