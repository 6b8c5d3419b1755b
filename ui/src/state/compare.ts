// Compare: one prompt, 2 to 4 models, side by side. The logic without React: the model
// selection, which column is best at each metric, and what is saved.

import type { ComparisonResult, Locality, ModelInfo } from "../api/client";
import { localityOf } from "../api/client";
import { metaOf, metricsOf, type AnswerMetrics, type AnswerState } from "./answer";

export const MIN_MODELS = 2;
export const MAX_MODELS = 4;

/** Adds or removes a model; a fifth is refused (the selection stays as it was). */
export function toggleModel(selected: string[], id: string, max = MAX_MODELS): string[] {
  if (selected.includes(id)) return selected.filter((m) => m !== id);
  if (selected.length >= max) return selected;
  return [...selected, id];
}

/** Why the selection cannot run, or null when it can. */
export function selectionProblem(selected: string[]): string | null {
  if (selected.length < MIN_MODELS) return `Pick at least ${MIN_MODELS} models (${selected.length} picked).`;
  if (selected.length > MAX_MODELS) return `Pick at most ${MAX_MODELS} models.`;
  return null;
}

/** Two concrete models to start with, else whatever is there. */
export function defaultSelection(models: ModelInfo[]): string[] {
  const concrete = models.filter((m) => !m.id.startsWith("hearth/")).map((m) => m.id);
  const pool = concrete.length >= MIN_MODELS ? concrete : models.map((m) => m.id);
  return pool.slice(0, MIN_MODELS);
}

/** The picked models still on offer; when none is left, `fallback()`. */
export function keepSelection(selected: string[], models: ModelInfo[], fallback: () => string[]): string[] {
  const kept = selected.filter((id) => models.some((m) => m.id === id));
  return kept.length > 0 ? kept : fallback();
}

export type MetricKey = keyof Pick<AnswerMetrics, "latencyMs" | "ttftMs" | "tokensPerSecond" | "costUsd">;

/** Higher is better only for speed. */
export const HIGHER_IS_BETTER: Record<MetricKey, boolean> = {
  latencyMs: false,
  ttftMs: false,
  tokensPerSecond: true,
  costUsd: false,
};

/**
 * The columns that are best at a metric (ties share it). Only finished answers count, and
 * only when at least two of them have the value: one column alone is best at nothing.
 */
export function bestColumns(answers: AnswerState[], key: MetricKey): Set<number> {
  const values: [number, number][] = [];
  answers.forEach((a, i) => {
    if (a.status !== "done") return;
    const v = metricsOf(a)[key];
    if (v !== null && Number.isFinite(v)) values.push([i, v]);
  });
  if (values.length < 2) return new Set();
  const better = HIGHER_IS_BETTER[key];
  const best = values.reduce((b, [, v]) => (better ? Math.max(b, v) : Math.min(b, v)), better ? -Infinity : Infinity);
  if (values.every(([, v]) => v === best)) return new Set();
  return new Set(values.filter(([, v]) => v === best).map(([i]) => i));
}

/** The columns as saved with a comparison. */
export function resultsOf(answers: AnswerState[], models: ModelInfo[]): ComparisonResult[] {
  return answers.map((a) => {
    const locality: Locality | undefined = localityOf(models, a.model ?? a.requestedModel);
    return { ...metaOf(a, locality), requested_model: a.requestedModel, content: a.text };
  });
}

export function isRunning(answers: AnswerState[]): boolean {
  return answers.some((a) => a.status === "waiting" || a.status === "streaming");
}
