// `GET /ready` (docs/API.md): 200 `{"status":"ready","checks":{...}}`, or 503
// `{"status":"not_ready","reasons":[...],"checks":{...}}` while, for instance, the local model
// is still loading. The top bar polls it at startup (state/readiness.ts).

import { ApiError, type HearthClient } from "./client";

export interface ReadyChecks {
  database?: boolean;
  providers?: Record<string, { usable?: boolean; breaker?: string; consecutive_failures?: number }>;
  [key: string]: unknown;
}

export type ReadyAnswer = { ready: true; checks: ReadyChecks } | { ready: false; reasons: string[]; checks: ReadyChecks };

interface ReadyBody {
  status?: unknown;
  reasons?: unknown;
  checks?: unknown;
}

/**
 * Whether the server is ready, and if not, why. A 503 that is not a `not_ready` answer, and
 * any other failure, throw an ApiError. A 401 here does not bring up the key screen.
 */
export async function getReady(client: HearthClient): Promise<ReadyAnswer> {
  const res = await client.request("GET", "/ready", undefined, { quiet401: true, okStatus: [503] });
  let body: ReadyBody = {};
  try {
    const parsed: unknown = JSON.parse(await res.text());
    if (parsed && typeof parsed === "object") body = parsed as ReadyBody;
  } catch {
    // Not JSON: decided below by the status.
  }
  return readyAnswerOf(res.status, body);
}

/** The answer of a `/ready` response's status and body; throws when it is neither shape. */
export function readyAnswerOf(status: number, body: ReadyBody): ReadyAnswer {
  const checks = body.checks && typeof body.checks === "object" ? (body.checks as ReadyChecks) : {};
  if (status >= 200 && status < 300) return { ready: true, checks };
  if (status === 503 && body.status === "not_ready") {
    const reasons = Array.isArray(body.reasons) ? body.reasons.map(String) : [];
    return { ready: false, reasons, checks };
  }
  throw new ApiError({ status, code: `http_${status}`, message: `GET /ready answered HTTP ${status}` });
}
