// The on-device models in memory as the models tab shows them, from `GET /admin/models`
// (`loaded`, `memory_budget_mb`, `idle_unload_s`): whether each listed model is loaded,
// loading or not, what it holds, and how much of the budget they hold together. A model
// loads on its first request, so the tab polls this while it is open.

import type { ModelPool, PoolModel } from "../api/admin";
import { formatBytes } from "./models";

/** How often the open models tab reads the pool again. */
export const POOL_POLL_MS = 2500;

export type ModelRuntime =
  | { state: "not_loaded" }
  | { state: "loading"; bytes: number }
  | { state: "loaded"; bytes: number; inUse: number; idleS: number };

const sum = (ns: number[]): number => ns.reduce((a, b) => a + b, 0);

/**
 * The runtime state of the model requests name `model` (`local/<id>`). The pool keeps one
 * entry per way of running a model, so after a settings change it may hold two: loaded wins
 * over loading, and loaded ones count together.
 */
export function runtimeOf(loaded: PoolModel[], model: string): ModelRuntime {
  const mine = loaded.filter((m) => m.model === model);
  const ready = mine.filter((m) => m.state === "loaded");
  if (ready.length > 0) {
    return {
      state: "loaded",
      bytes: sum(ready.map((m) => m.memory.total_bytes)),
      inUse: sum(ready.map((m) => m.in_use)),
      idleS: Math.min(...ready.map((m) => m.idle_s)),
    };
  }
  if (mine.length > 0) return { state: "loading", bytes: sum(mine.map((m) => m.memory.total_bytes)) };
  return { state: "not_loaded" };
}

/** A whole number of seconds as people read it: "45 s", "4 min 48 s", "1 h 5 min". */
export function formatSeconds(s: number): string {
  const whole = Math.max(0, Math.round(s));
  if (whole < 60) return `${whole} s`;
  if (whole < 3600) {
    const sec = whole % 60;
    return sec === 0 ? `${whole / 60} min` : `${Math.floor(whole / 60)} min ${sec} s`;
  }
  const min = Math.round((whole % 3600) / 60);
  const h = Math.floor(whole / 3600) + (min === 60 ? 1 : 0);
  return min === 0 || min === 60 ? `${h} h` : `${h} h ${min} min`;
}

/** The state in a few words: "not loaded", "loading 183 MiB", "loaded, 183 MiB". */
export function runtimeText(r: ModelRuntime): string {
  switch (r.state) {
    case "not_loaded":
      return "not loaded";
    case "loading":
      return `loading ${formatBytes(r.bytes)}`;
    case "loaded":
      return `loaded, ${formatBytes(r.bytes)}`;
  }
}

/**
 * What a loaded model is doing: the requests on it, or how long it has been idle and when
 * the idle rule unloads it. Null for a model not loaded.
 */
export function runtimeDetail(r: ModelRuntime, idleUnloadS: number | null): string | null {
  if (r.state !== "loaded") return null;
  if (r.inUse > 0) return `${r.inUse} request${r.inUse === 1 ? "" : "s"} on it`;
  const idle = `idle ${formatSeconds(r.idleS)}`;
  if (idleUnloadS === null) return idle;
  return `${idle}, unloads in ${formatSeconds(idleUnloadS - r.idleS)}`;
}

export interface BudgetUse {
  /** The loaded models' estimates together. */
  heldBytes: number;
  /** The estimate of a model loading now (it has its room already). */
  loadingBytes: number;
  loadedCount: number;
  budgetBytes: number | null;
  /** (held + loading) / budget, 0..1 and more; null without a budget. */
  share: number | null;
}

export function budgetUse(pool: ModelPool): BudgetUse {
  const bytes = (state: PoolModel["state"]) => sum(pool.loaded.filter((m) => m.state === state).map((m) => m.memory.total_bytes));
  const heldBytes = bytes("loaded");
  const loadingBytes = bytes("loading");
  const budgetBytes = pool.memory_budget_mb === null ? null : pool.memory_budget_mb * 2 ** 20;
  return {
    heldBytes,
    loadingBytes,
    loadedCount: pool.loaded.filter((m) => m.state === "loaded").length,
    budgetBytes,
    share: budgetBytes ? (heldBytes + loadingBytes) / budgetBytes : null,
  };
}

/** "183 MiB of the 7.81 GiB budget held by 1 model, 90.0 MiB loading". */
export function budgetText(u: BudgetUse): string {
  const of = u.budgetBytes === null ? "" : ` of the ${formatBytes(u.budgetBytes)} budget`;
  const held =
    u.loadedCount === 0
      ? `Nothing loaded${of}`
      : `${formatBytes(u.heldBytes)}${of} held by ${u.loadedCount} model${u.loadedCount === 1 ? "" : "s"}`;
  return u.loadingBytes > 0 ? `${held}, ${formatBytes(u.loadingBytes)} loading` : held;
}

/** When an idle model goes. */
export function idleRuleText(idleUnloadS: number | null): string {
  return idleUnloadS === null
    ? "A model stays loaded until another one needs its room (least recently used first)."
    : `A model idle for ${formatSeconds(idleUnloadS)} is unloaded; one that needs room unloads the least recently used first.`;
}

/** The pool's entries no listed model names (another local provider's file, say). */
export function unlisted(loaded: PoolModel[], listed: string[]): PoolModel[] {
  const names = new Set(listed);
  return loaded.filter((m) => !names.has(m.model));
}
