// The audit log without React: the filters as a query string, pages appended by cursor,
// how a row reads, and the CSV of what is loaded. The log holds metadata only (who, which
// model, tokens, cost, outcome, the policy decision); no prompt or answer text is in it.

import type { AuditEvent } from "../api/admin";
import { toCsv, type CsvColumn } from "./csv";

export const AUDIT_STATUSES = ["ok", "degraded", "rejected", "error", "cancelled"] as const;
export const PAGE_SIZES = [10, 25, 50, 100, 200, 500] as const;

/** The filter form. Times as a `datetime-local` input holds them (local time, no zone). */
export interface AuditFilters {
  since: string;
  until: string;
  task: string;
  model: string;
  status: string;
  limit: number;
  /** Admins: the workspace to read ("" for every workspace). Users always read their own. */
  workspace: string;
}

export function defaultFilters(workspace = ""): AuditFilters {
  return { since: "", until: "", task: "", model: "", status: "", limit: 50, workspace };
}

/** A `datetime-local` value ("2026-11-27T16:05" or with seconds) as unix ms in local time. */
export function localInputToMs(value: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value.trim());
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  return Number.isNaN(d.getTime()) ? null : d.getTime();
}

/**
 * The query string of `GET /audit` for these filters and a cursor (the previous page's
 * `next_cursor`), or why the filters cannot be sent.
 */
export function auditQuery(f: AuditFilters, cursor: number | null = null): { query: string } | { error: string } {
  const q = new URLSearchParams();
  const since = f.since ? localInputToMs(f.since) : null;
  const until = f.until ? localInputToMs(f.until) : null;
  if (f.since && since === null) return { error: "“From” is not a date and time" };
  if (f.until && until === null) return { error: "“To” is not a date and time" };
  if (since !== null && until !== null && since >= until) return { error: "“From” must be before “To”" };
  if (since !== null) q.set("since", String(since));
  if (until !== null) q.set("until", String(until));
  if (f.task) q.set("task", f.task);
  if (f.model) q.set("model", f.model);
  if (f.status) q.set("status", f.status);
  if (f.workspace) q.set("tenant_id", f.workspace);
  q.set("limit", String(f.limit));
  if (cursor !== null) q.set("cursor", String(cursor));
  return { query: `?${q.toString()}` };
}

/** The loaded events with the next page appended (an event already there is not repeated). */
export function appendPage(loaded: AuditEvent[], page: AuditEvent[]): AuditEvent[] {
  const seen = new Set(loaded.map((e) => e.id));
  return [...loaded, ...page.filter((e) => !seen.has(e.id))];
}

/** An RFC 3339 timestamp as local "2026-11-27 16:05:09"; the text itself when unreadable. */
export function formatTimestamp(ts: string): string {
  const ms = Date.parse(ts);
  if (Number.isNaN(ms)) return ts;
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The user hash without its scheme, short enough for a column. */
export function shortHash(h: string): string {
  return h.replace(/^hmac-sha256:/, "").slice(0, 10);
}

/** `support_triage@v2`, or empty. */
export function promptLabel(e: Pick<AuditEvent, "prompt_id" | "prompt_version">): string {
  if (!e.prompt_id) return "";
  return e.prompt_version ? `${e.prompt_id}@${e.prompt_version}` : e.prompt_id;
}

/** Every field of every event, one column each, as the server named them. */
export const AUDIT_CSV_COLUMNS: CsvColumn<AuditEvent>[] = [
  { header: "id", value: (e) => e.id },
  { header: "timestamp", value: (e) => e.timestamp },
  { header: "tenant_id", value: (e) => e.tenant_id },
  { header: "user_id_hash", value: (e) => e.user_id_hash },
  { header: "event_type", value: (e) => e.event_type },
  { header: "endpoint", value: (e) => e.endpoint },
  { header: "task", value: (e) => e.task },
  { header: "prompt_id", value: (e) => e.prompt_id },
  { header: "prompt_version", value: (e) => e.prompt_version },
  { header: "schema_version", value: (e) => e.schema_version },
  { header: "provider", value: (e) => e.provider },
  { header: "model", value: (e) => e.model },
  { header: "input_tokens", value: (e) => e.input_tokens },
  { header: "output_tokens", value: (e) => e.output_tokens },
  { header: "estimated_cost_usd", value: (e) => e.estimated_cost_usd },
  { header: "latency_ms", value: (e) => e.latency_ms },
  { header: "cache_hit", value: (e) => e.cache_hit },
  { header: "retry_count", value: (e) => e.retry_count },
  { header: "fallback_used", value: (e) => e.fallback_used },
  { header: "tool_names", value: (e) => (e.tool_names ?? []).join(" ") },
  { header: "status", value: (e) => e.status },
  { header: "error_code", value: (e) => e.error_code },
  { header: "policy_decision", value: (e) => e.policy_decision },
  { header: "trace_id", value: (e) => e.trace_id },
];

export function auditCsv(events: AuditEvent[]): string {
  return toCsv(AUDIT_CSV_COLUMNS, events);
}

/** `hearth-audit-WORKSPACE-20261127-160509.csv` (local time). */
export function auditCsvName(workspace: string, now: Date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  const ws = (workspace || "all").replace(/[^A-Za-z0-9_.-]+/g, "_");
  return `hearth-audit-${ws}-${stamp}.csv`;
}
