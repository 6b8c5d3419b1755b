// What the Routing and Costs views read from Hearth: the active policy and its validation,
// the providers' circuit breakers, the audit log, the costs breakdown and the budget alerts
// (docs/API.md; the workspaces with their budgets come from api/admin.ts). Each function
// takes the one HearthClient and builds on its `json`; the wire shapes are typed here, the
// logic over them lives in `state/routing.ts` and `state/costs.ts`.

import type { HearthClient, Locality } from "./client";
import type { Schemas } from "./wire";

// ---------------------------------------------------------------------------------------
// The policy (GET /admin/policy)

/** A provider's config as the policy shows it (keys never included). `kind` tags the rest. */
export interface ProviderConfig {
  kind: string;
  /** mock */
  latency_ms?: number;
  /** mock */
  locality?: Locality;
  /** hosted kinds */
  base_url?: string | null;
  api_key_env?: string | null;
  models?: string[];
  headers?: Record<string, string>;
  data_policy?: { locality?: Locality; region?: string | null; retention_days?: number | null; pii_allowed?: boolean };
  /** local */
  model?: string | null;
  path?: string | null;
  [key: string]: unknown;
}

export interface ModelPrices {
  input_usd_per_1m: number;
  output_usd_per_1m: number;
  cached_input_usd_per_1m: number | null;
}

export interface ModelSpec {
  alias: string;
  provider: string;
  model_id: string;
  /** `PROVIDER/MODEL_ID`, as requests and the audit log name it. */
  address: string;
  max_output_tokens: number;
  prices: ModelPrices;
}

export interface RouteSpec {
  task: string;
  primary: string;
  fallbacks: string[];
  max_output_tokens: number | null;
}

export type BudgetAction = "reject" | "template" | "downgrade";
export type RouteAction = "reject" | "degrade";

export interface TierSpec {
  name: string;
  /** Model aliases. */
  allowed_models: string[];
  /** `NAME` allows every model of provider NAME (`NAME/*` in the file); `*` every provider. */
  allowed_providers: string[];
  default_model: string;
  daily_budget_usd: number;
  max_output_tokens: number;
  rpm: number | null;
  on_budget_exhausted: BudgetAction | string;
  downgrade_model: string | null;
  on_route_not_allowed: RouteAction | string;
}

export interface Policy {
  providers: Record<string, ProviderConfig>;
  models: Record<string, ModelSpec>;
  routes: Record<string, RouteSpec>;
  tiers: Record<string, TierSpec>;
  /** The TOML the server read it from, as written; the editor starts from it when given. */
  source?: string;
}

export async function getPolicy(client: HearthClient): Promise<Policy> {
  const body = await client.json<{ policy?: Partial<Policy>; source?: string }>("GET", "/admin/policy");
  const p = body.policy ?? {};
  const policy: Policy = { providers: p.providers ?? {}, models: p.models ?? {}, routes: p.routes ?? {}, tiers: p.tiers ?? {} };
  if (typeof body.source === "string" && body.source.trim() !== "") policy.source = body.source;
  return policy;
}

/** What `POST /admin/policy/validate` answers for a valid policy. */
export type PolicySummary = Schemas["PolicySummary"];

/**
 * Checks a policy file as `hearth serve --config` would; nothing is applied. An invalid one
 * throws the server's ApiError (422 `invalid_policy`, its message naming the line).
 */
export async function validatePolicy(client: HearthClient, toml: string): Promise<PolicySummary> {
  const b = await client.json<Partial<PolicySummary>>("POST", "/admin/policy/validate", { toml });
  return {
    valid: true,
    providers: b.providers ?? [],
    models: b.models ?? [],
    routes: b.routes ?? [],
    tiers: b.tiers ?? [],
  };
}

/** What `PUT /admin/policy` answers once the policy is applied (and saved). */
export type PolicyApplied = Schemas["AppliedPolicy"];

/**
 * Applies a policy file: new requests use its routes, tiers, models and prices at once, and
 * it is saved so it survives a restart. An invalid one throws the server's ApiError (422
 * `invalid_policy`, its message naming the line) and nothing is applied.
 */
export async function applyPolicy(client: HearthClient, toml: string): Promise<PolicyApplied> {
  const b = await client.json<Partial<PolicyApplied>>("PUT", "/admin/policy", { toml });
  return {
    applied: true,
    providers: b.providers ?? [],
    models: b.models ?? [],
    routes: b.routes ?? [],
    tiers: b.tiers ?? [],
    restart_needed: b.restart_needed ?? [],
    rebuilt: b.rebuilt ?? [],
    saved_to: b.saved_to ?? "",
  };
}

// ---------------------------------------------------------------------------------------
// Providers and their circuit breakers (GET /admin/providers)

export type ProviderStatus = Omit<Schemas["ProviderView"], "config"> & { config: ProviderConfig };

export async function getProviders(client: HearthClient): Promise<ProviderStatus[]> {
  const body = await client.json<{ providers: ProviderStatus[] }>("GET", "/admin/providers");
  return body.providers;
}

// ---------------------------------------------------------------------------------------
// The audit log (GET /audit, newest first)

/** One audit event as `/audit` returns it (there is no message text). */
export type AuditEvent = Schemas["AuditEvent"];

/** The most audit events one call returns. */
export const AUDIT_MAX_LIMIT = 500;

/**
 * The newest `limit` events. An admin's key reads every workspace unless `workspace` names
 * one (`tenant_id`; the server does not read `x-hearth-workspace` here); a user's key reads
 * its own workspace whatever is asked.
 */
export async function getAuditEvents(client: HearthClient, limit: number, workspace?: string | null): Promise<AuditEvent[]> {
  const params = new URLSearchParams({ limit: String(Math.max(1, Math.min(AUDIT_MAX_LIMIT, Math.round(limit)))) });
  if (workspace) params.set("tenant_id", workspace);
  const body = await client.json<{ events?: AuditEvent[] }>("GET", `/audit?${params.toString()}`);
  return body.events ?? [];
}

// ---------------------------------------------------------------------------------------
// Costs (GET /admin/costs)

/** One group's totals; `key` is a day, workspace, model or task ("" for the grand total). */
export type CostGroup = Schemas["Totals"];
export type CostBreakdown = Schemas["Breakdown"];
export type CostsAnswer = Schemas["CostsView"];

const EMPTY_GROUP: CostGroup = { key: "", requests: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0, cache_hits: 0 };

export async function getCosts(
  client: HearthClient,
  q: { from: string; to: string; workspace?: string | null },
): Promise<CostsAnswer> {
  const params = new URLSearchParams({ from: q.from, to: q.to });
  if (q.workspace) params.set("workspace", q.workspace);
  const b = await client.json<Partial<CostsAnswer>>("GET", `/admin/costs?${params.toString()}`);
  const c: Partial<CostBreakdown> = b.costs ?? {};
  return {
    from: b.from ?? q.from,
    to: b.to ?? q.to,
    costs: {
      total: c.total ?? EMPTY_GROUP,
      by_day: c.by_day ?? [],
      by_workspace: c.by_workspace ?? [],
      by_model: c.by_model ?? [],
      by_task: c.by_task ?? [],
      cache_saved_usd: c.cache_saved_usd ?? 0,
    },
  };
}

// ---------------------------------------------------------------------------------------
// Budget alerts (GET /admin/alerts); the workspaces with today's spend are api/admin.ts's
// `listWorkspaces`

export type BudgetAlert = Schemas["BudgetAlert"];

export async function getAlerts(client: HearthClient): Promise<BudgetAlert[]> {
  const body = await client.json<Schemas["AlertList"]>("GET", "/admin/alerts");
  return body.alerts;
}
