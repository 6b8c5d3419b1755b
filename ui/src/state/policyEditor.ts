// The policy editor's state without React: what the last Validate or Apply said about which
// text, whether Apply may go ahead (it needs a successful Validate of the same text, and
// validates first otherwise), and how a restart the new settings need is said.

import type { ApiError } from "../api/client";
import type { PolicyApplied, PolicySummary } from "../api/insights";

export type EditorResult =
  | { kind: "valid"; text: string; summary: PolicySummary }
  /** Validate or Apply refused the text (422 `invalid_policy` with its line, or another error). */
  | { kind: "invalid"; text: string; error: ApiError; during: "validate" | "apply" }
  | { kind: "applied"; text: string; applied: PolicyApplied };

/**
 * What clicking Apply does with this text: `confirm` when it was validated as it is,
 * `validate` (then confirm) when it was not, nothing (`blocked`) when it is empty, known to be
 * invalid as it is, or already applied as it is.
 */
export function applyStep(text: string, result: EditorResult | null): "confirm" | "validate" | "blocked" {
  if (!text.trim()) return "blocked";
  if (!result || result.text !== text) return "validate";
  if (result.kind === "valid") return "confirm";
  // Applied as it is; or invalid as it is (a failure other than the policy's may be retried).
  if (result.kind === "applied") return "blocked";
  return result.error.status === 422 ? "blocked" : "validate";
}

/** Why Apply is disabled, or its usual tooltip. */
export function applyTitle(text: string, result: EditorResult | null): string {
  const step = applyStep(text, result);
  if (step === "blocked") {
    if (!text.trim()) return "Write or load a policy first";
    if (result?.kind === "applied") return "This text is the policy the server runs now";
    return "Fix the error first: this text does not validate";
  }
  return step === "confirm" ? "Apply this policy to every new request" : "Validate this text, then apply it to every new request";
}

/** Whether the result is about an older text than the editor's. */
export function isStale(text: string, result: EditorResult | null): boolean {
  return result !== null && result.text !== text;
}

/** The sentence for providers whose new settings take effect only after a restart, or null. */
export function restartNeededText(names: string[]): string | null {
  const xs = [...new Set(names.filter((n) => n.trim() !== ""))];
  if (xs.length === 0) return null;
  const list = listText(xs);
  const one = xs.length === 1;
  return `Restart Hearth for the changed settings of ${one ? "provider" : "providers"} ${list} to take effect (until then ${
    one ? "it runs with its" : "they run with their"
  } previous settings). Everything else applies now.`;
}

/** Sections of a policy file that GET /admin/policy does not show, so the editor cannot fill them in. */
export const UNSHOWN_SECTIONS = ["server", "resilience", "cache"] as const;

/**
 * Which of those sections the text lacks: applied, they go back to their defaults (`[server]`
 * at the next start). A section counts when it has a `[name]` (or `[name.sub]`) header or a `name.key = …` line.
 */
export function missingSections(text: string): string[] {
  return UNSHOWN_SECTIONS.filter((name) => {
    const header = new RegExp(`^\\s*\\[\\s*${name}\\s*[\\].]`, "m");
    const dotted = new RegExp(`^\\s*${name}\\s*\\.`, "m");
    return !header.test(text) && !dotted.test(text);
  });
}

/** `a`, `a and b`, `a, b and c`. */
export function listText(xs: string[]): string {
  return xs.length <= 1 ? (xs[0] ?? "") : `${xs.slice(0, -1).join(", ")} and ${xs[xs.length - 1]}`;
}
