// Whether the server is ready (GET /ready), as the top bar shows it. At startup the local
// model may still be loading (the desktop app and `hearth serve` warm providers in the
// background): while /ready answers not_ready the bar shows "Loading models…" with the
// reasons, polling until it is ready, then stops. A /ready that fails for another reason
// (no key for it, an older server, the network) hides the pill: it never blocks the UI.

import type { ApiError } from "../api/client";
import type { ReadyAnswer } from "../api/ready";

export const READY_POLL_MS = 2000;
/** Failures in a row (network, 5xx) after which the bar stops asking. */
export const READY_MAX_FAILURES = 3;

export type Readiness =
  /** Not known yet (the first answer, or after a transient failure): nothing shown. */
  | { phase: "checking"; failures: number }
  /** The server answered not_ready: the pill shows, polling goes on. */
  | { phase: "loading"; reasons: string[]; failures: number }
  /** Ready: nothing shown, polling stops. */
  | { phase: "ready" }
  /** /ready cannot tell (401, 403, 404, or it kept failing): nothing shown, polling stops. */
  | { phase: "unavailable"; error: ApiError };

export const INITIAL_READINESS: Readiness = { phase: "checking", failures: 0 };

export type ReadyOutcome = { ok: true; answer: ReadyAnswer } | { ok: false; error: ApiError };

/** The state after one poll of /ready. */
export function nextReadiness(prev: Readiness, outcome: ReadyOutcome): Readiness {
  if (prev.phase === "ready" || prev.phase === "unavailable") return prev;
  if (outcome.ok) {
    return outcome.answer.ready ? { phase: "ready" } : { phase: "loading", reasons: outcome.answer.reasons, failures: 0 };
  }
  const { error } = outcome;
  // A status that will not change by asking again (no key, no such endpoint, forbidden).
  const transient = error.status === 0 || error.status >= 500 || error.status === 408 || error.status === 429;
  const failures = prev.failures + 1;
  if (!transient || failures >= READY_MAX_FAILURES) return { phase: "unavailable", error };
  // A blip while loading keeps the pill as it was; before any answer, nothing shows.
  return prev.phase === "loading" ? { ...prev, failures } : { phase: "checking", failures };
}

/** Whether the bar keeps polling /ready. */
export function readinessPolls(r: Readiness): boolean {
  return r.phase === "checking" || r.phase === "loading";
}

/** The pill's label and tooltip, or null when no pill shows. */
export function readinessPill(r: Readiness): { label: string; title: string } | null {
  if (r.phase !== "loading") return null;
  const why = r.reasons.length > 0 ? r.reasons.map((x) => `• ${x}`).join("\n") : "The server says it is not ready yet.";
  return {
    label: "Loading models…",
    title: `Hearth is not ready yet; requests may wait or fail until it is.\n${why}\nChecked every ${READY_POLL_MS / 1000} s.`,
  };
}
