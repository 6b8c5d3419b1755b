import { describe, expect, it } from "vitest";
import type { WorkspaceSettings } from "../api/admin";
import { hasErrors, linesOf, listOf, parseNumber, workspaceForm, workspacePatch } from "./forms";

const WS: WorkspaceSettings = {
  id: "tenant_free",
  tier: "free",
  data_policy: "any",
  daily_budget_usd: null,
  daily_token_limit: null,
  rpm: 30,
  user_rpm: null,
  max_concurrency: 64,
  cache_enabled: true,
  budget_alert_share: 0.8,
  pii_patterns: [],
  allowed_tools: ["*"],
};

describe("parseNumber", () => {
  it("reads numbers as people type them", () => {
    expect(parseNumber("12.5")).toEqual({ kind: "ok", value: 12.5 });
    expect(parseNumber(" 0 ")).toEqual({ kind: "ok", value: 0 });
    expect(parseNumber(".5")).toEqual({ kind: "ok", value: 0.5 });
    expect(parseNumber("1e-3")).toEqual({ kind: "ok", value: 0.001 });
    expect(parseNumber("1_000")).toEqual({ kind: "ok", value: 1000 });
    expect(parseNumber("-2")).toEqual({ kind: "ok", value: -2 });
  });

  it("is empty for blank text", () => {
    expect(parseNumber("")).toEqual({ kind: "empty" });
    expect(parseNumber("   ")).toEqual({ kind: "empty" });
  });

  it("refuses what is not a number, and fractions where a whole number is needed", () => {
    expect(parseNumber("abc").kind).toBe("error");
    expect(parseNumber("12$").kind).toBe("error");
    expect(parseNumber("0x10").kind).toBe("error");
    expect(parseNumber("Infinity").kind).toBe("error");
    expect(parseNumber("1e400").kind).toBe("error");
    expect(parseNumber("2.5", { integer: true })).toEqual({ kind: "error", message: "a whole number" });
    expect(parseNumber("3", { integer: true })).toEqual({ kind: "ok", value: 3 });
  });
});

describe("lists", () => {
  it("linesOf drops empty lines and keeps commas inside a line (regexes)", () => {
    expect(linesOf("a{1,3}\n\n  b  \r\n")).toEqual(["a{1,3}", "b"]);
  });
  it("listOf splits on commas and lines, once each", () => {
    expect(listOf("a, b\nc,,a")).toEqual(["a", "b", "c"]);
  });
});

describe("workspacePatch", () => {
  it("is empty when nothing changed", () => {
    const { patch, errors } = workspacePatch(WS, workspaceForm(WS));
    expect(patch).toEqual({});
    expect(hasErrors(errors)).toBe(false);
  });

  it("sends only the changed fields, numbers as numbers", () => {
    const form = { ...workspaceForm(WS), daily_budget_usd: "2.5", rpm: "60", cache_enabled: false, data_policy: "redact" as const };
    expect(workspacePatch(WS, form).patch).toEqual({ daily_budget_usd: 2.5, rpm: 60, cache_enabled: false, data_policy: "redact" });
  });

  it("passes range problems to the server (its message is the rule)", () => {
    const form = { ...workspaceForm(WS), daily_budget_usd: "-1", budget_alert_share: "1.5", max_concurrency: "0" };
    const { patch, errors } = workspacePatch(WS, form);
    expect(hasErrors(errors)).toBe(false);
    expect(patch).toEqual({ daily_budget_usd: -1, budget_alert_share: 1.5, max_concurrency: 0 });
  });

  it("refuses text, fractions of counts and a missing required value", () => {
    const form = { ...workspaceForm(WS), daily_budget_usd: "lots", user_rpm: "1.5", max_concurrency: "" };
    const { errors } = workspacePatch(WS, form);
    expect(errors.daily_budget_usd).toMatch(/not a number/);
    expect(errors.user_rpm).toBe("a whole number");
    expect(errors.max_concurrency).toBe("required");
  });

  it("sends null for an emptied limit, so the tier's value applies again", () => {
    const { patch, errors } = workspacePatch(WS, { ...workspaceForm(WS), rpm: "" });
    expect(hasErrors(errors)).toBe(false);
    expect(patch).toEqual({ rpm: null });
  });

  it("replaces the PII patterns with the lines given, [] to clear", () => {
    const withPatterns = { ...WS, pii_patterns: ["\\bACME-\\d+\\b"] };
    expect(workspacePatch(withPatterns, { ...workspaceForm(withPatterns), pii_patterns: "" }).patch).toEqual({ pii_patterns: [] });
    expect(workspacePatch(WS, { ...workspaceForm(WS), pii_patterns: "x\ny{1,2}\n" }).patch).toEqual({ pii_patterns: ["x", "y{1,2}"] });
  });

  it("replaces the allowed tools with the names and prefixes given, [] to allow none, and refuses a bad name", () => {
    expect(workspaceForm(WS).allowed_tools).toBe("*");
    const form = (allowed_tools: string) => ({ ...workspaceForm(WS), allowed_tools });
    expect(workspacePatch(WS, form("get_weather\nsearch_*\n")).patch).toEqual({ allowed_tools: ["get_weather", "search_*"] });
    expect(workspacePatch(WS, form("")).patch).toEqual({ allowed_tools: [] });
    expect(workspacePatch(WS, form("*")).patch).toEqual({});
    const { patch, errors } = workspacePatch(WS, form("has space"));
    expect(patch).toEqual({});
    expect(errors.allowed_tools).toContain("has space");
  });
});
