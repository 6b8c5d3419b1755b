// Forms of the Admin view without React: numbers typed as text, parsed and checked before
// anything is sent, and a workspace's edit turned into the PATCH of only what changed.
// Ranges (a budget below zero, a share above one) are the server's to judge: its 422
// message is shown as it is, so the rules live in one place.

import type { DataPolicy } from "../api/client";
import type { WorkspacePatch, WorkspaceSettings } from "../api/admin";

export const DATA_POLICIES: DataPolicy[] = ["local_only", "pii_to_local_only", "redact", "any"];

export type NumberField = { kind: "empty" } | { kind: "ok"; value: number } | { kind: "error"; message: string };

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** A number typed in a field: empty, a number (a whole one when `integer`), or why not. */
export function parseNumber(text: string, opts: { integer?: boolean } = {}): NumberField {
  const t = text.trim().replace(/_/g, "");
  if (t === "") return { kind: "empty" };
  if (!NUMBER.test(t)) return { kind: "error", message: `“${text.trim()}” is not a number` };
  const value = Number(t);
  if (!Number.isFinite(value)) return { kind: "error", message: `“${text.trim()}” is too large` };
  if (opts.integer && !Number.isInteger(value)) return { kind: "error", message: "a whole number" };
  return { kind: "ok", value };
}

/** The lines of a textarea as a list: trimmed, empty lines dropped. */
export function linesOf(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

/** A comma- or line-separated list: trimmed, empty items dropped, duplicates once. */
export function listOf(text: string): string[] {
  const out: string[] = [];
  for (const item of text.split(/[,\n]/)) {
    const t = item.trim();
    if (t && !out.includes(t)) out.push(t);
  }
  return out;
}

/** A workspace's settings as the edit form holds them (numbers as typed). */
export interface WorkspaceForm {
  tier: string;
  data_policy: DataPolicy;
  daily_budget_usd: string;
  daily_token_limit: string;
  rpm: string;
  user_rpm: string;
  max_concurrency: string;
  cache_enabled: boolean;
  budget_alert_share: string;
  /** One regex a line. */
  pii_patterns: string;
  /** The tools requests may offer: one name or prefix (`name*`) a line. */
  allowed_tools: string;
}

const text = (n: number | null): string => (n === null ? "" : String(n));

export function workspaceForm(ws: WorkspaceSettings): WorkspaceForm {
  return {
    tier: ws.tier,
    data_policy: ws.data_policy,
    daily_budget_usd: text(ws.daily_budget_usd),
    daily_token_limit: text(ws.daily_token_limit),
    rpm: text(ws.rpm),
    user_rpm: text(ws.user_rpm),
    max_concurrency: String(ws.max_concurrency),
    cache_enabled: ws.cache_enabled,
    budget_alert_share: String(ws.budget_alert_share),
    pii_patterns: ws.pii_patterns.join("\n"),
    allowed_tools: ws.allowed_tools.join("\n"),
  };
}

export type FormErrors<F> = Partial<Record<keyof F, string>>;

type NumberKey = "daily_budget_usd" | "daily_token_limit" | "rpm" | "user_rpm" | "max_concurrency" | "budget_alert_share";

/** Which numbers may be empty (the tier's value, or no limit) and which are whole. */
const NUMBER_FIELDS: Record<NumberKey, { optional: boolean; integer: boolean }> = {
  daily_budget_usd: { optional: true, integer: false },
  daily_token_limit: { optional: true, integer: true },
  rpm: { optional: true, integer: true },
  user_rpm: { optional: true, integer: true },
  max_concurrency: { optional: false, integer: true },
  budget_alert_share: { optional: false, integer: false },
};

/**
 * The PATCH for an edited workspace: only the fields that changed. Emptying a limit that
 * has a value sends null, which removes it (the tier's value, or no limit, applies again).
 */
export function workspacePatch(ws: WorkspaceSettings, form: WorkspaceForm): { patch: WorkspacePatch; errors: FormErrors<WorkspaceForm> } {
  const patch: WorkspacePatch = {};
  const errors: FormErrors<WorkspaceForm> = {};
  if (form.tier.trim() !== ws.tier) patch.tier = form.tier.trim();
  if (form.data_policy !== ws.data_policy) patch.data_policy = form.data_policy;
  if (form.cache_enabled !== ws.cache_enabled) patch.cache_enabled = form.cache_enabled;
  for (const key of Object.keys(NUMBER_FIELDS) as NumberKey[]) {
    const rule = NUMBER_FIELDS[key];
    const parsed = parseNumber(form[key], { integer: rule.integer });
    const current = ws[key];
    if (parsed.kind === "error") {
      errors[key] = parsed.message;
    } else if (parsed.kind === "empty") {
      if (!rule.optional) errors[key] = "required";
      // Only the optional limits get here, and those are nullable.
      else if (current !== null) (patch as Partial<Record<NumberKey, number | null>>)[key] = null;
    } else if (parsed.value !== current) {
      patch[key] = parsed.value;
    }
  }
  const patterns = linesOf(form.pii_patterns);
  if (patterns.join("\n") !== ws.pii_patterns.join("\n")) patch.pii_patterns = patterns;
  const tools = linesOf(form.allowed_tools);
  const bad = tools.find((t) => !/^[A-Za-z0-9_-]{0,64}\*?$/.test(t));
  if (bad !== undefined) errors.allowed_tools = `\`${bad}\` is not a tool name (A-Z, a-z, 0-9, _ and -) or a prefix ending in *`;
  else if (tools.join("\n") !== ws.allowed_tools.join("\n")) patch.allowed_tools = tools;
  return { patch, errors };
}

/** Whether an error map has any entry. */
export function hasErrors<F>(errors: FormErrors<F>): boolean {
  return Object.values(errors).some((v) => v !== undefined);
}
