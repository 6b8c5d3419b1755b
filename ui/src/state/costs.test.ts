import { describe, expect, it } from "vitest";
import type { WorkspaceView } from "../api/admin";
import type { CostGroup, CostsAnswer } from "../api/insights";
import {
  alertsOf,
  budgetBars,
  cacheHitRate,
  cacheSavings,
  costsCsv,
  csvFileName,
  dailySeries,
  daysBetween,
  fillDays,
  formatShare,
  periodRange,
  shares,
  topBy,
  usd,
} from "./costs";

const g = (key: string, cost: number, requests = 1, inp = 10, out = 20, hits = 0): CostGroup => ({
  key,
  requests,
  input_tokens: inp,
  output_tokens: out,
  cost_usd: cost,
  cache_hits: hits,
});

describe("periods", () => {
  it("ends today (UTC) and counts today in the days", () => {
    // 23:30 UTC on 27 Nov: still the 27th in UTC, whatever the browser's zone.
    const now = Date.parse("2026-11-27T23:30:00Z");
    expect(periodRange(7, now)).toEqual({ from: "2026-11-21", to: "2026-11-27" });
    expect(periodRange(30, now)).toEqual({ from: "2026-10-29", to: "2026-11-27" });
    expect(periodRange(90, now).from).toBe("2026-08-30");
    expect(periodRange(1, now)).toEqual({ from: "2026-11-27", to: "2026-11-27" });
  });
  it("lists the days across a month end and a leap day", () => {
    expect(daysBetween("2028-02-27", "2028-03-01")).toEqual(["2028-02-27", "2028-02-28", "2028-02-29", "2028-03-01"]);
    expect(daysBetween("2026-11-02", "2026-11-01")).toEqual([]);
    expect(daysBetween("nope", "2026-11-01")).toEqual([]);
  });
  it("fills the days without requests with zeros and keeps the others", () => {
    const days = fillDays([g("2026-11-25", 0.5, 3)], "2026-11-24", "2026-11-26");
    expect(days.map((d) => [d.key, d.cost_usd, d.requests])).toEqual([
      ["2026-11-24", 0, 0],
      ["2026-11-25", 0.5, 3],
      ["2026-11-26", 0, 0],
    ]);
    const [x, cost, req] = dailySeries(days);
    expect(x).toEqual([Date.parse("2026-11-24T00:00:00Z") / 1000, Date.parse("2026-11-25T00:00:00Z") / 1000, Date.parse("2026-11-26T00:00:00Z") / 1000]);
    expect(cost).toEqual([0, 0.5, 0]);
    expect(req).toEqual([0, 3, 0]);
  });
});

describe("figures", () => {
  it("computes the cache hit rate and what the cache saved", () => {
    expect(cacheHitRate({ requests: 5, cache_hits: 1 })).toBe(0.2);
    expect(cacheHitRate({ requests: 0, cache_hits: 0 })).toBeNull();
    const s = cacheSavings({ total: g("", 0.75), cache_saved_usd: 0.25 });
    expect(s.without).toBe(1);
    expect(s.share).toBe(0.25);
    expect(cacheSavings({ total: g("", 0), cache_saved_usd: 0 }).share).toBeNull();
  });
  it("ranks by cost and by tokens", () => {
    const groups = [g("a", 0.1, 1, 1000, 1000), g("b", 0.5, 1, 10, 10), g("c", 0.5, 1, 5, 5)];
    expect(topBy(groups, "cost", 2).map((x) => x.key)).toEqual(["b", "c"]);
    expect(topBy(groups, "tokens", 5).map((x) => x.key)).toEqual(["a", "b", "c"]);
  });
  it("scales bars to the largest value", () => {
    expect(shares([1, 4, 2])).toEqual([0.25, 1, 0.5]);
    expect(shares([0, 0])).toEqual([0, 0]);
    expect(shares([])).toEqual([]);
  });
  it("writes shares as percentages", () => {
    expect(formatShare(0.2)).toBe("20%");
    expect(formatShare(0.053)).toBe("5.3%");
    expect(formatShare(0.05)).toBe("5%");
    expect(formatShare(0.0004)).toBe("<0.1%");
    expect(formatShare(0)).toBe("0%");
    expect(formatShare(1.234)).toBe("123%");
    expect(formatShare(null)).toBe("—");
  });
});

function ws(id: string, spent: number, budget: number | null, own: number | null = null, share = 0.8): WorkspaceView {
  return {
    effective_daily_budget_usd: budget,
    today: { day: "2026-11-27", spent_usd: spent, tokens: 132 },
    workspace: {
      id,
      tier: "pro",
      data_policy: "any",
      daily_budget_usd: own,
      daily_token_limit: null,
      rpm: null,
      user_rpm: null,
      max_concurrency: 64,
      pii_patterns: [],
      allowed_tools: ["*"],
      cache_enabled: true,
      budget_alert_share: share,
    },
  };
}

describe("budget bars", () => {
  it("marks each workspace ok, past its alert share or over budget, fullest first", () => {
    const bars = budgetBars([ws("a", 1, 20), ws("b", 0.0000968, 0.0001, 0.0001), ws("c", 25, 20), ws("d", 0, null), ws("e", 0.7, 1, null, 0.5)]);
    expect(bars.map((b) => [b.workspace, b.level])).toEqual([
      ["c", "over"],
      ["b", "alert"],
      ["e", "alert"],
      ["a", "ok"],
      ["d", "none"],
    ]);
    const b = bars.find((x) => x.workspace === "b")!;
    expect(b.used).toBeCloseTo(0.968);
    expect(b.ownBudget).toBe(true);
    expect(bars.find((x) => x.workspace === "e")!.alertShare).toBe(0.5);
  });
  it("orders alerts newest first and filters by workspace", () => {
    const alerts = [
      { workspace_id: "a", day: "d", share: 0.8, spent_usd: 1, budget_usd: 1, at_ms: 1 },
      { workspace_id: "b", day: "d", share: 0.8, spent_usd: 1, budget_usd: 1, at_ms: 3 },
      { workspace_id: "a", day: "d", share: 0.8, spent_usd: 1, budget_usd: 1, at_ms: 2 },
    ];
    expect(alertsOf(alerts).map((a) => a.at_ms)).toEqual([3, 2, 1]);
    expect(alertsOf(alerts, "a").map((a) => a.at_ms)).toEqual([2, 1]);
  });
});

describe("CSV", () => {
  const answer: CostsAnswer = {
    from: "2026-11-25",
    to: "2026-11-27",
    costs: {
      total: g("", 0.0000928, 5, 25, 120, 1),
      by_day: [g("2026-11-27", 0.0000928, 5, 25, 120, 1)],
      by_workspace: [g("default", 0.0000928, 5, 25, 120, 1)],
      by_model: [g("mock-balanced/fallback-balanced-v1", 0.000087, 3, 15, 72), g("mock-fast/fast-extract-v1", 0.0000058, 2, 10, 48, 1)],
      by_task: [g("chat", 0.000087, 3), g("extract, quoted", 0.0000058, 2)],
      cache_saved_usd: 0.0000058,
    },
  };
  it("writes every breakdown with a breakdown column, every day of the period, and the cache savings", () => {
    const lines = costsCsv(answer).split("\r\n");
    expect(lines[0]).toBe("breakdown,key,requests,input_tokens,output_tokens,cost_usd,cache_hits");
    expect(lines[1]).toBe("total,2026-11-25..2026-11-27,5,25,120,0.0000928,1");
    expect(lines.slice(2, 5)).toEqual(["day,2026-11-25,0,0,0,0,0", "day,2026-11-26,0,0,0,0,0", "day,2026-11-27,5,25,120,0.0000928,1"]);
    expect(lines).toContain("model,mock-balanced/fallback-balanced-v1,3,15,72,0.000087,0");
    expect(lines).toContain('task,"extract, quoted",2,10,20,0.0000058,0');
    expect(lines).toContain("cache_saved,,0,0,0,0.0000058,1");
    expect(lines.at(-1)).toBe("");
  });
  it("writes USD without exponents", () => {
    expect(usd(8.8e-7)).toBe("0.00000088");
    expect(usd(12)).toBe("12");
    expect(usd(0)).toBe("0");
    expect(usd(1.5)).toBe("1.5");
  });
  it("names the file after the period and workspace", () => {
    expect(csvFileName(answer)).toBe("hearth-costs-2026-11-25-2026-11-27.csv");
    expect(csvFileName(answer, "tenant pro")).toBe("hearth-costs-2026-11-25-2026-11-27-tenant_pro.csv");
  });
});
