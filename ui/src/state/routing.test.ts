import { describe, expect, it } from "vitest";
import type { AuditEvent, Policy, TierSpec } from "../api/insights";
import {
  allowedEntries,
  budgetActionText,
  errorRates,
  lineRange,
  modelsOfTier,
  parseDecision,
  policyErrorLocation,
  providerLocality,
  providerOf,
  providerRows,
  routeActionText,
  tierAllows,
} from "./routing";

let nextId = 1;
function ev(p: Partial<AuditEvent>): AuditEvent {
  return {
    id: nextId++,
    timestamp: "2026-11-27T16:02:36.746Z",
    event_type: "llm_request_completed",
    trace_id: "t",
    tenant_id: "default",
    user_id_hash: "u",
    endpoint: "/v1/chat/completions",
    task: "extract",
    prompt_id: null,
    prompt_version: null,
    schema_version: null,
    tool_names: [],
    provider: "mock-fast",
    model: "mock-fast/fast-extract-v1",
    input_tokens: 5,
    output_tokens: 24,
    estimated_cost_usd: 0.0000058,
    latency_ms: 41,
    cache_hit: false,
    retry_count: 0,
    fallback_used: false,
    policy_decision: "allow; route extract",
    error_code: null,
    status: "ok",
    ...p,
  };
}

describe("parseDecision", () => {
  it("splits the head and names each step (as the server writes them)", () => {
    const d = parseDecision(
      "allow; route extract; breaker opened for mock-fast; mock-fast/fast-extract-v1 failed (unavailable); skip mock-strong/strong-reason-v1 (tier free); budget spent: downgrade a -> b",
    );
    expect(d.head).toBe("allow");
    expect(d.steps.map((s) => s.kind)).toEqual(["route", "breaker", "failed", "skip", "other"]);
    expect(d.steps[0]).toMatchObject({ task: "extract" });
    expect(d.steps[1]).toMatchObject({ provider: "mock-fast" });
    expect(d.steps[2]).toMatchObject({ address: "mock-fast/fast-extract-v1", provider: "mock-fast", reason: "unavailable" });
    expect(d.steps[3]).toMatchObject({ provider: "mock-strong", reason: "tier free" });
  });
  it("reads a model named by the request, a data-policy skip with a comma, and an empty line", () => {
    const d = parseDecision("allow; model mock-fast/x named by the request; skip openai/gpt-4o (pii: email, data policy pii_to_local_only)");
    expect(d.steps[0]).toMatchObject({ kind: "named", address: "mock-fast/x" });
    expect(d.steps[1]).toMatchObject({ kind: "skip", provider: "openai", reason: "pii: email, data policy pii_to_local_only" });
    expect(parseDecision("")).toEqual({ head: "", steps: [] });
    expect(parseDecision("allow")).toEqual({ head: "allow", steps: [] });
  });
  it("takes the provider before the first slash of a model id with slashes", () => {
    expect(providerOf("hf/meta-llama/Llama-3")).toBe("hf");
    expect(providerOf("plain")).toBe("plain");
  });
});

describe("errorRates", () => {
  it("counts a failed call named in the decision line against its provider, and the answering call as a success", () => {
    const r = errorRates(
      [
        ev({ provider: "mock-balanced", model: "mock-balanced/b", fallback_used: true, policy_decision: "allow; route extract; mock-fast/fast-extract-v1 failed (unavailable)" }),
        ev({ provider: "mock-balanced", model: "mock-balanced/b", fallback_used: true, policy_decision: "allow; route extract; mock-fast/fast-extract-v1 failed (timeout)" }),
        ev({}),
      ],
      ["mock-fast", "mock-balanced", "mock-strong"],
    );
    expect(r.requests).toBe(3);
    const fast = r.byProvider.get("mock-fast")!;
    expect(fast).toMatchObject({ attempts: 3, failures: 2, skipped: 0 });
    expect(fast.rate).toBeCloseTo(2 / 3);
    expect(fast.reasons).toEqual([
      { reason: "timeout", count: 1 },
      { reason: "unavailable", count: 1 },
    ]);
    expect(r.byProvider.get("mock-balanced")).toMatchObject({ attempts: 2, failures: 0, rate: 0 });
    expect(r.byProvider.get("mock-strong")).toMatchObject({ attempts: 0, rate: null });
  });
  it("counts skips (breaker open) apart from calls, and an all-failed request against each provider tried", () => {
    const r = errorRates([
      ev({ provider: "mock-balanced", model: "mock-balanced/b", policy_decision: "allow; route extract; skip mock-fast/fast-extract-v1 (breaker open)" }),
      ev({
        event_type: "llm_request_failed",
        status: "error",
        error_code: "providers_unavailable",
        provider: null,
        model: null,
        policy_decision: "allow; route extract; mock-fast/fast-extract-v1 failed (rate_limited); mock-balanced/b failed (unavailable)",
      }),
    ]);
    expect(r.byProvider.get("mock-fast")).toMatchObject({ attempts: 1, failures: 1, skipped: 1 });
    expect(r.byProvider.get("mock-balanced")).toMatchObject({ attempts: 2, failures: 1 });
  });
  it("counts an answer that broke mid-stream against its provider once, with its error code", () => {
    const r = errorRates([
      ev({ event_type: "llm_request_failed", status: "error", error_code: "provider_error", policy_decision: "allow; route extract" }),
      ev({
        event_type: "llm_request_failed",
        status: "error",
        error_code: "providers_unavailable",
        policy_decision: "allow; route extract; mock-fast/fast-extract-v1 failed (unavailable)",
      }),
    ]);
    const fast = r.byProvider.get("mock-fast")!;
    expect(fast).toMatchObject({ attempts: 2, failures: 2 });
    expect(fast.reasons.map((x) => x.reason).sort()).toEqual(["provider_error", "unavailable"]);
  });
  it("leaves out cache hits, cancelled requests, rejections and budget alerts", () => {
    const r = errorRates([
      ev({ cache_hit: true }),
      ev({ status: "cancelled", event_type: "llm_request_cancelled" }),
      ev({ status: "rejected", event_type: "llm_request_rejected", provider: null, model: null, error_code: "budget_exceeded", policy_decision: "reject; route chat" }),
      ev({ event_type: "budget_alert", policy_decision: "alert: spent 0.9 of 1 USD today, past the 80% alert share" }),
    ]);
    expect(r.requests).toBe(3);
    expect(r.byProvider.get("mock-fast")).toBeUndefined();
  });
});

const TIER: TierSpec = {
  name: "pro",
  allowed_models: ["fast_extractor", "fallback_balanced"],
  allowed_providers: [],
  default_model: "fallback_balanced",
  daily_budget_usd: 20,
  max_output_tokens: 1024,
  rpm: 600,
  on_budget_exhausted: "downgrade",
  downgrade_model: "fast_extractor",
  on_route_not_allowed: "degrade",
};

const POLICY: Policy = {
  providers: { "mock-fast": { kind: "mock", latency_ms: 40, locality: "hosted" }, local: { kind: "local", model: "smollm2" } },
  models: {
    fast_extractor: {
      alias: "fast_extractor",
      provider: "mock-fast",
      model_id: "fast-extract-v1",
      address: "mock-fast/fast-extract-v1",
      max_output_tokens: 512,
      prices: { input_usd_per_1m: 0.2, output_usd_per_1m: 0.2, cached_input_usd_per_1m: null },
    },
    tiny: {
      alias: "tiny",
      provider: "local",
      model_id: "smollm2",
      address: "local/smollm2",
      max_output_tokens: 256,
      prices: { input_usd_per_1m: 0, output_usd_per_1m: 0, cached_input_usd_per_1m: null },
    },
  },
  routes: {},
  tiers: { pro: TIER },
};

describe("tiers", () => {
  it("writes the allowed list as the file does: *, NAME/*, then aliases", () => {
    expect(allowedEntries(TIER)).toEqual(["fallback_balanced", "fast_extractor"]);
    expect(allowedEntries({ allowed_models: ["b"], allowed_providers: ["local", "*"] })).toEqual(["*", "local/*", "b"]);
  });
  it("allows a model by alias, by its provider's wildcard, or by *", () => {
    const tiny = POLICY.models.tiny!;
    expect(tierAllows(TIER, tiny)).toBe(false);
    expect(tierAllows({ allowed_models: [], allowed_providers: ["local"] }, tiny)).toBe(true);
    expect(tierAllows({ allowed_models: [], allowed_providers: ["*"] }, tiny)).toBe(true);
    expect(modelsOfTier(POLICY, { ...TIER, allowed_providers: ["local"] })).toEqual(["fast_extractor", "tiny"]);
  });
  it("says what happens when the budget is spent or a route is not allowed", () => {
    expect(budgetActionText(TIER)).toBe("downgrade to fast_extractor");
    expect(budgetActionText({ on_budget_exhausted: "reject", downgrade_model: null })).toBe("reject (429)");
    expect(routeActionText(TIER)).toBe("degrade to fallback_balanced");
    expect(routeActionText({ on_route_not_allowed: "reject", default_model: "x" })).toBe("reject (403)");
  });
});

describe("providers", () => {
  it("knows where each kind runs", () => {
    expect(providerLocality({ kind: "local" })).toBe("on_device");
    expect(providerLocality({ kind: "mock", locality: "on_device" })).toBe("on_device");
    expect(providerLocality({ kind: "openai_compatible", data_policy: { locality: "on_device" } })).toBe("on_device");
    expect(providerLocality({ kind: "anthropic" })).toBe("hosted");
    expect(providerLocality(undefined)).toBeUndefined();
  });
  it("lists the policy's providers with their breakers, sorted", () => {
    const rows = providerRows(POLICY, [{ name: "mock-fast", config: { kind: "mock" }, breaker: { state: "open", consecutive_failures: 5 }, usable: true }]);
    expect(rows.map((r) => [r.name, r.status?.breaker.state ?? null])).toEqual([
      ["local", null],
      ["mock-fast", "open"],
    ]);
  });
});

describe("policy errors", () => {
  it("finds the line of a TOML parse error and of a validation error", () => {
    expect(policyErrorLocation("policy: TOML parse error at line 62, column 1\n   |\n62 | bogus = 3")).toEqual({ line: 62, column: 1 });
    expect(policyErrorLocation("policy: line 58: unknown model `strong_reasonr`")).toEqual({ line: 58, column: null });
    expect(policyErrorLocation("policy: the policy needs at least one [routes.TASK]")).toBeNull();
  });
  it("finds a line's offsets to select it", () => {
    const t = "a = 1\nbb = 2\n\nc = 3";
    expect(lineRange(t, 1)).toEqual({ start: 0, end: 5 });
    expect(lineRange(t, 2)).toEqual({ start: 6, end: 12 });
    expect(lineRange(t, 3)).toEqual({ start: 13, end: 13 });
    expect(lineRange(t, 4)).toEqual({ start: 14, end: 19 });
    expect(lineRange(t, 5)).toBeNull();
    expect(lineRange(t, 0)).toBeNull();
  });
});
