// The Routing view's logic without React: the decision line of an audit event split into
// its steps, each provider's recent error rate from the audit log, the tier rules read as
// an admin writes them (with `*` and `NAME/*`), and the line of a policy error.

import type { AuditEvent, ModelSpec, Policy, ProviderConfig, ProviderStatus, TierSpec } from "../api/insights";
import type { Locality } from "../api/client";

// ---------------------------------------------------------------------------------------
// The decision line (`policy_decision`)

export type DecisionStep =
  /** `route extract` */
  | { kind: "route"; text: string; task: string }
  /** `model mock-fast/x named by the request` */
  | { kind: "named"; text: string; address: string }
  /** `skip mock-fast/x (breaker open)`: never called. */
  | { kind: "skip"; text: string; address: string; provider: string; reason: string }
  /** `mock-fast/x failed (unavailable)`: called, and it failed. */
  | { kind: "failed"; text: string; address: string; provider: string; reason: string }
  /** `breaker opened for mock-fast` */
  | { kind: "breaker"; text: string; provider: string }
  | { kind: "other"; text: string };

export interface Decision {
  /** `allow`, `reject` or `degrade`. */
  head: string;
  steps: DecisionStep[];
}

/** The provider of a `PROVIDER/MODEL` address (a model id may hold more slashes). */
export function providerOf(address: string): string {
  const i = address.indexOf("/");
  return i > 0 ? address.slice(0, i) : address;
}

const SKIP = /^skip (\S+) \((.*)\)$/;
const FAILED = /^(\S+\/\S+) failed \((.*)\)$/;
const BREAKER = /^breaker opened for (\S+)$/;
const ROUTE = /^route (\S+)$/;
const NAMED = /^model (\S+) named by the request$/;

/** Splits `allow; route extract; skip a/b (breaker open)` into its head and steps. */
export function parseDecision(line: string | null | undefined): Decision {
  const parts = (line ?? "")
    .split(";")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const head = parts[0] ?? "";
  const steps: DecisionStep[] = parts.slice(1).map((text) => {
    let m = SKIP.exec(text);
    if (m) return { kind: "skip", text, address: m[1]!, provider: providerOf(m[1]!), reason: m[2]! };
    m = FAILED.exec(text);
    if (m) return { kind: "failed", text, address: m[1]!, provider: providerOf(m[1]!), reason: m[2]! };
    m = BREAKER.exec(text);
    if (m) return { kind: "breaker", text, provider: m[1]! };
    m = ROUTE.exec(text);
    if (m) return { kind: "route", text, task: m[1]! };
    m = NAMED.exec(text);
    if (m) return { kind: "named", text, address: m[1]! };
    return { kind: "other", text };
  });
  return { head, steps };
}

/** Whether an audit event is a model request (not a `budget_alert`). */
export function isRequestEvent(e: Pick<AuditEvent, "event_type">): boolean {
  return e.event_type.startsWith("llm_request");
}

// ---------------------------------------------------------------------------------------
// Error rates per provider

export interface ProviderErrors {
  provider: string;
  /** Calls made to the provider (cache hits and skipped candidates are not calls). */
  attempts: number;
  failures: number;
  /** Candidates passed over without a call (breaker open, tier, data policy, …). */
  skipped: number;
  /** failures / attempts, or null without attempts. */
  rate: number | null;
  /** Why calls failed, most frequent first: `unavailable`, `timeout`, an error code… */
  reasons: { reason: string; count: number }[];
}

export interface ErrorRates {
  /** The request events looked at (the "last N requests"). */
  requests: number;
  byProvider: Map<string, ProviderErrors>;
}

/**
 * Each provider's calls and failures over these audit events. An event names only the
 * provider that answered last; the providers tried before it and failed appear in its
 * decision line (`PROVIDER/MODEL failed (reason)`), so both are read: every `failed` step
 * is a failed call, and the answering provider's own call succeeded, or failed when the
 * request ended in an error without a `failed` step for it (a stream broken mid-answer).
 */
export function errorRates(events: readonly AuditEvent[], providers: readonly string[] = []): ErrorRates {
  const by = new Map<string, { attempts: number; failures: number; skipped: number; reasons: Map<string, number> }>();
  const get = (p: string) => {
    let r = by.get(p);
    if (!r) {
      r = { attempts: 0, failures: 0, skipped: 0, reasons: new Map() };
      by.set(p, r);
    }
    return r;
  };
  for (const p of providers) get(p);
  let requests = 0;
  for (const e of events) {
    if (!isRequestEvent(e)) continue;
    requests++;
    const d = parseDecision(e.policy_decision);
    const failedHere = new Set<string>();
    for (const s of d.steps) {
      if (s.kind === "failed") {
        const r = get(s.provider);
        r.attempts++;
        r.failures++;
        r.reasons.set(s.reason, (r.reasons.get(s.reason) ?? 0) + 1);
        failedHere.add(s.address);
      } else if (s.kind === "skip") {
        get(s.provider).skipped++;
      }
    }
    if (e.provider && !e.cache_hit && e.status !== "cancelled") {
      const r = get(e.provider);
      if (e.status === "error") {
        if (!e.model || !failedHere.has(e.model)) {
          r.attempts++;
          r.failures++;
          const reason = e.error_code ?? "error";
          r.reasons.set(reason, (r.reasons.get(reason) ?? 0) + 1);
        }
      } else if (e.status === "ok" || e.status === "degraded") {
        r.attempts++;
      }
    }
  }
  const byProvider = new Map<string, ProviderErrors>();
  for (const [provider, r] of by) {
    byProvider.set(provider, {
      provider,
      attempts: r.attempts,
      failures: r.failures,
      skipped: r.skipped,
      rate: r.attempts > 0 ? r.failures / r.attempts : null,
      reasons: [...r.reasons.entries()]
        .map(([reason, count]) => ({ reason, count }))
        .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)),
    });
  }
  return { requests, byProvider };
}

// ---------------------------------------------------------------------------------------
// Breakers and providers

export const BREAKER_LABEL: Record<string, string> = { closed: "Closed", half_open: "Half open", open: "Open" };

export function breakerLabel(state: string): string {
  return BREAKER_LABEL[state] ?? state;
}

/** Where a provider runs, from its config: mock says so, local is on device, hosted kinds may say on_device. */
export function providerLocality(c: ProviderConfig | undefined): Locality | undefined {
  if (!c) return undefined;
  if (c.kind === "local") return "on_device";
  if (c.kind === "mock") return c.locality ?? "hosted";
  return c.data_policy?.locality ?? "hosted";
}

/** The providers of the policy with their breakers (a provider missing from either still shows). */
export interface ProviderRow {
  name: string;
  config: ProviderConfig | undefined;
  status: ProviderStatus | undefined;
}

export function providerRows(policy: Policy | null, statuses: readonly ProviderStatus[]): ProviderRow[] {
  const names = new Set<string>([...Object.keys(policy?.providers ?? {}), ...statuses.map((s) => s.name)]);
  return [...names].sort().map((name) => {
    const status = statuses.find((s) => s.name === name);
    return { name, config: policy?.providers[name] ?? status?.config, status };
  });
}

// ---------------------------------------------------------------------------------------
// Tiers

/** The tier's allowed list as the file writes it: aliases, `NAME/*`, `*`. */
export function allowedEntries(t: Pick<TierSpec, "allowed_models" | "allowed_providers">): string[] {
  const wild = [...t.allowed_providers].sort().map((p) => (p === "*" ? "*" : `${p}/*`));
  const all = wild.includes("*") ? ["*", ...wild.filter((w) => w !== "*")] : wild;
  return [...all, ...[...t.allowed_models].sort()];
}

/** Whether the tier may call the model (as the server decides: alias, provider, or `*`). */
export function tierAllows(t: Pick<TierSpec, "allowed_models" | "allowed_providers">, m: Pick<ModelSpec, "alias" | "provider">): boolean {
  return t.allowed_models.includes(m.alias) || t.allowed_providers.includes(m.provider) || t.allowed_providers.includes("*");
}

/** The models of the policy a tier may call, by alias. */
export function modelsOfTier(policy: Policy, t: TierSpec): string[] {
  return Object.values(policy.models)
    .filter((m) => tierAllows(t, m))
    .map((m) => m.alias)
    .sort();
}

/** What a tier does when its day's budget is spent, in words. */
export function budgetActionText(t: Pick<TierSpec, "on_budget_exhausted" | "downgrade_model">): string {
  switch (t.on_budget_exhausted) {
    case "reject":
      return "reject (429)";
    case "template":
      return "answer from a template";
    case "downgrade":
      return t.downgrade_model ? `downgrade to ${t.downgrade_model}` : "downgrade";
    default:
      return String(t.on_budget_exhausted);
  }
}

/** What a tier does when a route has no model it may call, in words. */
export function routeActionText(t: Pick<TierSpec, "on_route_not_allowed" | "default_model">): string {
  switch (t.on_route_not_allowed) {
    case "reject":
      return "reject (403)";
    case "degrade":
      return `degrade to ${t.default_model}`;
    default:
      return String(t.on_route_not_allowed);
  }
}

// ---------------------------------------------------------------------------------------
// Data policies

export const DATA_POLICY_TEXT: Record<string, string> = {
  local_only: "Prompts go to on-device models only; hosted candidates are skipped, and a route without an on-device model is refused.",
  pii_to_local_only: "Prompts with personal data (the PII patterns) go to on-device models only; others may go to hosted models.",
  redact: "Personal data is redacted before a prompt goes to a hosted model.",
  any: "Any model of the route may answer, on device or hosted.",
};

export function dataPolicyText(p: string): string {
  return DATA_POLICY_TEXT[p] ?? "";
}

// ---------------------------------------------------------------------------------------
// The policy editor

/** The line (and column) a policy error names: `at line 62, column 1` or `line 58: …`. */
export function policyErrorLocation(message: string): { line: number; column: number | null } | null {
  const withCol = /\bline (\d+), column (\d+)/.exec(message);
  if (withCol) return { line: Number(withCol[1]), column: Number(withCol[2]) };
  const bare = /\bline (\d+)\b/.exec(message);
  return bare ? { line: Number(bare[1]), column: null } : null;
}

/** The character offsets of a 1-based line in a text (to select it), or null past the end. */
export function lineRange(text: string, line: number): { start: number; end: number } | null {
  if (line < 1) return null;
  let start = 0;
  for (let i = 1; i < line; i++) {
    const nl = text.indexOf("\n", start);
    if (nl < 0) return null;
    start = nl + 1;
  }
  const nl = text.indexOf("\n", start);
  return { start, end: nl < 0 ? text.length : nl };
}
