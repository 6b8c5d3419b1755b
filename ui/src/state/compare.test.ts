import { describe, expect, it } from "vitest";
import type { ModelInfo } from "../api/client";
import { answerFromMeta, startAnswer, type AnswerState } from "./answer";
import { bestColumns, defaultSelection, isRunning, keepSelection, resultsOf, selectionProblem, toggleModel } from "./compare";

function done(model: string, latency: number, ttft: number, out: number, cost: number): AnswerState {
  return answerFromMeta("text", { latency_ms: latency, ttft_ms: ttft, output_tokens: out, input_tokens: 10, cost_usd: cost, model }, model);
}

describe("model selection", () => {
  it("toggles up to four and refuses a fifth", () => {
    let sel: string[] = [];
    for (const id of ["a", "b", "c", "d", "e"]) sel = toggleModel(sel, id);
    expect(sel).toEqual(["a", "b", "c", "d"]);
    sel = toggleModel(sel, "b");
    expect(sel).toEqual(["a", "c", "d"]);
  });
  it("needs two to four", () => {
    expect(selectionProblem(["a"])).toMatch(/at least 2/);
    expect(selectionProblem(["a", "b"])).toBeNull();
    expect(selectionProblem(["a", "b", "c", "d", "e"])).toMatch(/at most 4/);
  });
  it("starts with two concrete models", () => {
    const models: ModelInfo[] = [
      { id: "hearth/chat", owned_by: "hearth" },
      { id: "mock-fast/a", owned_by: "mock-fast", locality: "hosted" },
      { id: "mock-strong/b", owned_by: "mock-strong", locality: "hosted" },
      { id: "mock-balanced/c", owned_by: "mock-balanced", locality: "hosted" },
    ];
    expect(defaultSelection(models)).toEqual(["mock-fast/a", "mock-strong/b"]);
    expect(defaultSelection(models.slice(0, 2))).toEqual(["hearth/chat", "mock-fast/a"]);
  });
  it("keeps the picks still on offer, else falls back", () => {
    const models: ModelInfo[] = [
      { id: "mock-fast/a", owned_by: "mock-fast" },
      { id: "mock-strong/b", owned_by: "mock-strong" },
    ];
    expect(keepSelection(["gone/x", "mock-strong/b"], models, () => ["fallback"])).toEqual(["mock-strong/b"]);
    expect(keepSelection(["gone/x"], models, () => ["fallback"])).toEqual(["fallback"]);
  });
});

describe("best column per metric", () => {
  const a = done("a", 200, 50, 24, 0.00002); // 24 tok over 150 ms = 160 tok/s
  const b = done("b", 120, 20, 24, 0.00006); // 24 tok over 100 ms = 240 tok/s
  const c = done("c", 120, 40, 24, 0.00002); // 24 tok over 80 ms = 300 tok/s

  it("picks the lowest latency, TTFT and cost and the highest tokens/s, ties shared", () => {
    const cols = [a, b, c];
    expect([...bestColumns(cols, "latencyMs")]).toEqual([1, 2]);
    expect([...bestColumns(cols, "ttftMs")]).toEqual([1]);
    expect([...bestColumns(cols, "costUsd")]).toEqual([0, 2]);
    expect([...bestColumns(cols, "tokensPerSecond")]).toEqual([2]);
  });

  it("names no best when all are equal, when only one finished, or for unfinished columns", () => {
    expect(bestColumns([a, a], "latencyMs").size).toBe(0);
    expect(bestColumns([a, startAnswer("x", 0)], "latencyMs").size).toBe(0);
    const stopped: AnswerState = { ...b, status: "stopped" };
    expect(bestColumns([a, stopped], "latencyMs").size).toBe(0);
  });

  it("knows when any column still runs", () => {
    expect(isRunning([a, b])).toBe(false);
    expect(isRunning([a, startAnswer("x", 0)])).toBe(true);
  });
});

describe("saved results", () => {
  it("keeps the requested model, the text and the metrics with the locality", () => {
    const models: ModelInfo[] = [{ id: "mock-fast/a", owned_by: "mock-fast", locality: "hosted" }];
    const [r] = resultsOf([done("mock-fast/a", 200, 50, 24, 0.00002)], models);
    expect(r).toMatchObject({ requested_model: "mock-fast/a", content: "text", latency_ms: 200, ttft_ms: 50, output_tokens: 24, cost_usd: 0.00002, locality: "hosted" });
  });
});
