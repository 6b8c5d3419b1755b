// The Costs view's logic without React: periods in UTC days (as the server counts them),
// the daily series with its empty days filled, cache figures, top lists, budget bars and
// the CSV of the breakdowns.

import type { WorkspaceView } from "../api/admin";
import type { BudgetAlert, CostBreakdown, CostGroup, CostsAnswer } from "../api/insights";
import { toCsv, type CsvColumn } from "./csv";

// ---------------------------------------------------------------------------------------
// Periods

export const PERIOD_DAYS = [7, 30, 90] as const;
export type PeriodDays = (typeof PERIOD_DAYS)[number];

const DAY_MS = 86_400_000;

/** `YYYY-MM-DD` of a unix millisecond, in UTC. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The unix millisecond a `YYYY-MM-DD` UTC day starts at (NaN when it is not a day). */
export function dayStartMs(day: string): number {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return Number.NaN;
  return Date.parse(`${day}T00:00:00Z`);
}

/** The last `days` UTC days up to and including today: `from` and `to` as the API takes them. */
export function periodRange(days: number, nowMs: number): { from: string; to: string } {
  const n = Math.max(1, Math.floor(days));
  const today = dayStartMs(utcDay(nowMs));
  return { from: utcDay(today - (n - 1) * DAY_MS), to: utcDay(today) };
}

/** Every UTC day from `from` to `to`, both included. */
export function daysBetween(from: string, to: string): string[] {
  const a = dayStartMs(from);
  const b = dayStartMs(to);
  if (!Number.isFinite(a) || !Number.isFinite(b) || a > b) return [];
  const out: string[] = [];
  for (let t = a; t <= b; t += DAY_MS) out.push(utcDay(t));
  return out;
}

function emptyGroup(key: string): CostGroup {
  return { key, requests: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0, cache_hits: 0 };
}

/** The period's days, oldest first, those without requests as zeros (the server leaves them out). */
export function fillDays(byDay: readonly CostGroup[], from: string, to: string): CostGroup[] {
  const have = new Map(byDay.map((g) => [g.key, g]));
  return daysBetween(from, to).map((d) => have.get(d) ?? emptyGroup(d));
}

/** The daily series as uPlot data: x in unix seconds (UTC midnights), cost, requests. */
export function dailySeries(days: readonly CostGroup[]): [number[], number[], number[]] {
  return [days.map((d) => dayStartMs(d.key) / 1000), days.map((d) => d.cost_usd), days.map((d) => d.requests)];
}

// ---------------------------------------------------------------------------------------
// Figures

export function tokensOf(g: Pick<CostGroup, "input_tokens" | "output_tokens">): number {
  return g.input_tokens + g.output_tokens;
}

/** Cache hits over completed requests, or null without requests. */
export function cacheHitRate(total: Pick<CostGroup, "requests" | "cache_hits">): number | null {
  return total.requests > 0 ? total.cache_hits / total.requests : null;
}

/** What the period would have cost without the cache, and the share the cache saved. */
export function cacheSavings(c: Pick<CostBreakdown, "total" | "cache_saved_usd">): { without: number; share: number | null } {
  const without = c.total.cost_usd + c.cache_saved_usd;
  return { without, share: without > 0 ? c.cache_saved_usd / without : null };
}

/** The top `n` groups by cost or by tokens, largest first (ties by key). */
export function topBy(groups: readonly CostGroup[], by: "cost" | "tokens", n: number): CostGroup[] {
  const v = (g: CostGroup) => (by === "cost" ? g.cost_usd : tokensOf(g));
  return [...groups].sort((a, b) => v(b) - v(a) || a.key.localeCompare(b.key)).slice(0, Math.max(0, n));
}

/** Each value as a share of the largest (for bar widths); all zeros when the largest is 0. */
export function shares(values: readonly number[]): number[] {
  const max = Math.max(0, ...values.filter((v) => Number.isFinite(v)));
  return values.map((v) => (max > 0 && Number.isFinite(v) ? Math.max(0, v) / max : 0));
}

/** A share as a percentage: "83%", "0.5%", "<0.1%", "—" for null. */
export function formatShare(share: number | null | undefined): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return "—";
  const pct = share * 100;
  if (pct === 0) return "0%";
  if (pct < 0.1) return "<0.1%";
  if (pct < 9.95) {
    const r = Math.round(pct * 10) / 10;
    return Number.isInteger(r) ? `${r}%` : `${r.toFixed(1)}%`;
  }
  return `${Math.round(pct)}%`;
}

// ---------------------------------------------------------------------------------------
// Budgets today

export type BudgetLevel = "ok" | "alert" | "over" | "none";

export interface BudgetBar {
  workspace: string;
  tier: string;
  spentUsd: number;
  budgetUsd: number | null;
  /** spent / budget (may pass 1), or null without a budget. */
  used: number | null;
  /** The alert share, 0..1. */
  alertShare: number;
  level: BudgetLevel;
  tokens: number;
  tokenLimit: number | null;
  /** Whether this workspace's own budget overrides its tier's. */
  ownBudget: boolean;
}

export function budgetBars(ws: readonly WorkspaceView[]): BudgetBar[] {
  return ws
    .map((w) => {
      const budget = w.effective_daily_budget_usd;
      const spent = w.today?.spent_usd ?? 0;
      const alertShare = Number.isFinite(w.workspace.budget_alert_share) ? w.workspace.budget_alert_share : 0.8;
      const used = budget !== null && budget !== undefined && budget > 0 ? spent / budget : null;
      const level: BudgetLevel = used === null ? "none" : used >= 1 ? "over" : used >= alertShare ? "alert" : "ok";
      return {
        workspace: w.workspace.id,
        tier: w.workspace.tier,
        spentUsd: spent,
        budgetUsd: budget ?? null,
        used,
        alertShare,
        level,
        tokens: w.today?.tokens ?? 0,
        tokenLimit: w.workspace.daily_token_limit ?? null,
        ownBudget: w.workspace.daily_budget_usd !== null && w.workspace.daily_budget_usd !== undefined,
      };
    })
    .sort((a, b) => (b.used ?? -1) - (a.used ?? -1) || a.workspace.localeCompare(b.workspace));
}

/** Alerts newest first, optionally of one workspace. */
export function alertsOf(alerts: readonly BudgetAlert[], workspace?: string | null): BudgetAlert[] {
  return alerts.filter((a) => !workspace || a.workspace_id === workspace).sort((a, b) => b.at_ms - a.at_ms);
}

// ---------------------------------------------------------------------------------------
// CSV

interface CsvRow extends CostGroup {
  breakdown: string;
}

const COLUMNS: CsvColumn<CsvRow>[] = [
  { header: "breakdown", value: (r) => r.breakdown },
  { header: "key", value: (r) => r.key },
  { header: "requests", value: (r) => r.requests },
  { header: "input_tokens", value: (r) => r.input_tokens },
  { header: "output_tokens", value: (r) => r.output_tokens },
  { header: "cost_usd", value: (r) => usd(r.cost_usd) },
  { header: "cache_hits", value: (r) => r.cache_hits },
];

/** USD in plain decimals (no exponent: 8.8e-7 → "0.00000088"), at most 10 places. */
export function usd(v: number): string {
  if (!Number.isFinite(v)) return "";
  const s = v.toFixed(10).replace(/\.?0+$/, "");
  return s === "-0" ? "0" : s;
}

/**
 * The breakdowns as one CSV: a `breakdown` column (`total`, `day`, `workspace`, `model`,
 * `task`) and the group's figures; every day of the period has a row, and one
 * `cache_saved` row carries what the cache saved (in cost_usd).
 */
export function costsCsv(a: CostsAnswer): string {
  const c = a.costs;
  const rows: CsvRow[] = [
    { ...c.total, key: `${a.from}..${a.to}`, breakdown: "total" },
    ...fillDays(c.by_day, a.from, a.to).map((g) => ({ ...g, breakdown: "day" })),
    ...c.by_workspace.map((g) => ({ ...g, breakdown: "workspace" })),
    ...c.by_model.map((g) => ({ ...g, breakdown: "model" })),
    ...c.by_task.map((g) => ({ ...g, breakdown: "task" })),
    { ...emptyGroup(""), cost_usd: c.cache_saved_usd, cache_hits: c.total.cache_hits, breakdown: "cache_saved" },
  ];
  return toCsv(COLUMNS, rows);
}

/** The file name of an export: `hearth-costs-2026-11-01-2026-11-30[-workspace].csv`. */
export function csvFileName(a: Pick<CostsAnswer, "from" | "to">, workspace?: string | null): string {
  const ws = workspace ? `-${workspace.replace(/[^A-Za-z0-9_-]+/g, "_")}` : "";
  return `hearth-costs-${a.from}-${a.to}${ws}.csv`;
}
